package handlers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// ActionsPath is the only path the interactivity endpoint serves.
const ActionsPath = "/slack/actions"

// Actions is the remediation-handler: Slack's interactivity endpoint.
type Actions struct {
	Policy   *policy.Policy
	Ledger   ledger.Store
	Jobs     jobs.Queue
	Slack    chatops.Sender
	Verifier chatops.Verifier
	Authz    *chatops.Authorizer
	Log      *slog.Logger
	Metrics  *obs.Metrics
	// AckTimeout bounds the "in progress" update, so Slack gets its answer within 3 s.
	AckTimeout time.Duration
	// LocalResponseURL is set in local mode only: the stand-in's base URL, the one place besides
	// https://hooks.slack.com/ a click's response_url may point.
	LocalResponseURL string
	// Now is the clock that decides whether a record is stale enough for Retry (nil = wall clock).
	Now func() time.Time
}

// Request is the transport-neutral request (API Gateway v2 in AWS, net/http locally).
type Request struct {
	Method    string
	Path      string
	Headers   http.Header
	Body      []byte
	RequestID string
}

// Response is what goes back to Slack.
type Response struct {
	Status int
	Body   string
}

// HandleAPIGateway adapts an HTTP API (payload v2) event.
func (h *Actions) HandleAPIGateway(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			// A body that cannot be decoded cannot be verified: 401, like every verification failure.
			h.Log.Warn("rejected unsigned or invalid Slack request", "requestId", ev.RequestContext.RequestID, "reason", "body is not valid base64")
			h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "signature")
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusUnauthorized}, nil
		}
		body = b
	}
	r := h.Handle(ctx, Request{
		Method: ev.RequestContext.HTTP.Method, Path: ev.RawPath, Headers: chatops.HeadersFrom(ev.Headers),
		Body: body, RequestID: ev.RequestContext.RequestID,
	})
	return events.APIGatewayV2HTTPResponse{StatusCode: r.Status, Body: r.Body, Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}}, nil
}

// ServeHTTP serves the same handler over net/http (local mode).
func (h *Actions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readCapped(r, chatops.MaxBody)
	if err != nil {
		h.Log.Warn("rejected request", "reason", err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	resp := h.Handle(r.Context(), Request{Method: r.Method, Path: r.URL.Path, Headers: r.Header, Body: body})
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(resp.Status)
	fmt.Fprint(w, resp.Body)
}

func readCapped(r *http.Request, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w (over %d bytes)", chatops.ErrTooLarge, max)
	}
	return b, nil
}

// Handle verifies before anything else, then authorizes, transitions and acknowledges.
func (h *Actions) Handle(ctx context.Context, req Request) Response {
	log := h.Log.With("requestId", req.RequestID)
	if req.Path != ActionsPath {
		return Response{Status: http.StatusNotFound, Body: "not found"}
	}
	if req.Method != http.MethodPost {
		return Response{Status: http.StatusMethodNotAllowed, Body: "method not allowed"}
	}
	if err := h.Verifier.Verify(req.Headers, req.Body); err != nil {
		// No detail to the caller; the reason goes to the log.
		log.Warn("rejected unsigned or invalid Slack request", "reason", err.Error())
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "signature")
		return Response{Status: http.StatusUnauthorized}
	}
	a, err := chatops.ParseActionWith(req.Body, chatops.ParseOptions{LocalResponseURL: h.LocalResponseURL})
	var notOurs *chatops.ActionError
	if errors.As(err, &notOurs) {
		// Signed by Slack but not a button of ours: tell the user, touch nothing.
		log.Warn("signed click on something that is not one of our buttons", "reason", err.Error(), "user", a.UserID, "actionId", a.ActionID)
		if eerr := h.Slack.Ephemeral(ctx, chatops.Ref{Channel: a.ChannelID, TS: a.MessageTS, ResponseURL: a.ResponseURL}, a.UserID, notOurs.Reason); eerr != nil {
			log.Warn("ephemeral reply failed", "error", eerr.Error())
		}
		return Response{Status: http.StatusOK}
	}
	if err != nil {
		log.Warn("signed request is not a usable block_actions click", "reason", err.Error())
		return Response{Status: http.StatusBadRequest, Body: "unsupported interaction"}
	}
	log = log.With("user", a.UserID, "actionId", a.ActionID, "findingId", a.Value)
	ref := chatops.Ref{Channel: a.ChannelID, TS: a.MessageTS, ResponseURL: a.ResponseURL}
	ephemeral := func(text string) Response {
		if err := h.Slack.Ephemeral(ctx, ref, a.UserID, text); err != nil {
			log.Warn("ephemeral reply failed", "error", err.Error())
		}
		return Response{Status: http.StatusOK}
	}

	switch a.ActionID {
	case slackmsg.ActionRemediateAll, slackmsg.ActionReviewEach, slackmsg.ActionDismissAll:
		return h.digestAction(ctx, log, a, ref, ephemeral)
	}
	rec, err := h.Ledger.Get(ctx, a.Value)
	if errors.Is(err, ledger.ErrNotFound) {
		log.Warn("click for an unknown finding")
		return ephemeral("This finding is not in the ledger (expired or from another installation). Nothing was changed.")
	}
	if err != nil {
		log.Error("ledger read failed", "error", err.Error())
		return ephemeral("The ledger could not be read, nothing was changed; try again in a minute.")
	}
	log = log.With("account", rec.AccountID, "status", string(rec.Status))

	sl := h.Policy.SlackFor(rec.AccountID)
	if sl.TeamID != "" && a.TeamID != sl.TeamID {
		log.Warn("click from another Slack workspace rejected", "team", a.TeamID)
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "team")
		return Response{Status: http.StatusForbidden}
	}
	if rec.Channel != "" && rec.Channel != "webhook" && a.ChannelID != "" && a.ChannelID != rec.Channel {
		log.Warn("click from a channel other than the finding's message rejected", "channel", a.ChannelID, "want", rec.Channel)
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "channel")
		return ephemeral("This button belongs to a message in another channel. Nothing was changed.")
	}
	ok, aerr := h.Authz.IsApprover(ctx, a.UserID, h.Policy.ApproversFor(rec.AccountID))
	if !ok {
		if aerr != nil {
			log.Warn("approver group lookup failed; treating as not an approver", "error", aerr.Error())
		}
		log.Warn("click by a non-approver refused")
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "approver")
		return ephemeral(slackmsg.NotApprover(rec.AccountID, rec.AccountName))
	}

	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	change, job, ack, err := plan(a, rec, now())
	if err != nil {
		log.Warn("action not possible in this state", "reason", err.Error())
		return ephemeral(err.Error())
	}
	if a.ResponseURL != "" {
		// Where the remediator answers is recorded here, not carried by the job.
		inner := change.Mutate
		change.Mutate = func(r *ledger.Record) {
			if inner != nil {
				inner(r)
			}
			r.ResponseURL = a.ResponseURL
		}
	}
	next, err := rec, error(nil)
	if change.To != "" { // a Retry of a stale job re-sends it without a transition
		next, err = h.Ledger.Transition(ctx, rec.FindingID, change)
	}
	var ce *ledger.ConflictError
	if errors.As(err, &ce) {
		log.Info("lost the race: already handled", "current", string(ce.Current), "by", ce.By)
		return ephemeral(slackmsg.AlreadyHandled(string(ce.Current), ce.By))
	}
	if err != nil {
		log.Error("ledger transition failed", "error", err.Error())
		return ephemeral("The ledger could not be updated, nothing was changed; try again in a minute.")
	}
	log.Info("action accepted", "to", string(next.Status))

	if job != nil {
		if err := h.Jobs.Send(ctx, *job); err != nil {
			// Never leave a record QUEUED with no job: show the failure with a Retry button.
			log.Error("could not queue the job", "error", err.Error())
			if failed, ferr := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: next.Status, To: ledger.Failed, Actor: "remediation-handler",
				Reason: "queue unavailable", Mutate: func(r *ledger.Record) { r.Error = "could not queue the remediation job: " + err.Error() }}); ferr == nil {
				next = failed
				ack = slackmsg.Failed(failed, failed.Error)
				if slackmsg.IsPolicyRecord(failed) {
					ack = slackmsg.PolicyForState(failed)
				}
			} else if next.Status == ledger.Undoing {
				// UNDOING has no FAILED edge: the fix stays in place, Undo can be pressed again.
				if back, berr := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: ledger.Undoing, To: ledger.Fixed, Actor: "remediation-handler",
					Reason: "queue unavailable", Mutate: func(r *ledger.Record) { r.Error = "could not queue the undo job: " + err.Error() }}); berr == nil {
					ack = slackmsg.PolicyForState(back)
				}
			} else if next.Status == ledger.Releasing {
				// RELEASING has no FAILED edge: put it back to QUARANTINED so Release can be pressed again.
				if back, berr := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: ledger.Releasing, To: ledger.Quarantined, Actor: "remediation-handler",
					Reason: "queue unavailable", Mutate: func(r *ledger.Record) { r.Error = "could not queue the release job: " + err.Error() }}); berr == nil {
					ack = slackmsg.Quarantined(back, slackmsg.ApprovedBy(back))
				}
			}
		} else if sent, serr := h.Ledger.Annotate(ctx, rec.FindingID, markJobSent(now())); serr == nil {
			next = sent
		} // else: the record shows no job sent; the sweeper re-sends it (the move is idempotent)
	}
	uctx, cancel := context.WithTimeout(ctx, h.ackTimeout())
	defer cancel()
	if err := h.Slack.Update(uctx, chatops.Ref{Channel: next.Channel, TS: next.MessageTS, ResponseURL: a.ResponseURL}, ack); err != nil {
		log.Warn("could not update the message to in-progress", "error", err.Error())
	} else if change.To != "" {
		// What the message shows now; if the job moves on first, the sweeper sees the drift.
		h.Ledger.Annotate(uctx, rec.FindingID, func(r *ledger.Record) { recordShown(r, next, next.Status, next.Error) })
	}
	return Response{Status: http.StatusOK}
}

func (h *Actions) ackTimeout() time.Duration {
	if h.AckTimeout > 0 {
		return h.AckTimeout
	}
	return 2 * time.Second
}

// StaleAfter is how long a record may stay QUEUED, IN_PROGRESS or RELEASING before Retry is
// offered and the sweeper re-drives it: longer than a remediator run can last (Lambda's 15 min).
const StaleAfter = 20 * time.Minute

// Stale reports whether a record in a working state has not changed state for StaleAfter: its
// message offers Retry, and a Retry click sends the job again.
func Stale(r ledger.Record, now time.Time) bool {
	switch r.Status {
	case ledger.Queued, ledger.InProgress, ledger.Releasing, ledger.Undoing:
		return now.Sub(LastTransition(r)) >= StaleAfter
	}
	return false
}

// LastTransition is when the record last changed state (annotations, such as a re-rendered
// message, are not progress).
func LastTransition(r ledger.Record) time.Time {
	if n := len(r.History); n > 0 {
		return r.History[n-1].At
	}
	return r.UpdatedAt
}

// LastActivity is the last transition or job hand-off: a re-driven job gets StaleAfter to move.
func LastActivity(r ledger.Record) time.Time {
	t := LastTransition(r)
	if r.JobSentAt.After(t) {
		t = r.JobSentAt
	}
	return t
}

// plan maps a click to its transition, job and acknowledgement message. A change with no To is
// no transition (Retry of a stale job: the job is sent again as it is).
func plan(a chatops.Action, rec ledger.Record, now time.Time) (ledger.Change, *jobs.Job, slackmsg.Message, error) {
	c := ledger.Change{From: rec.Status, Actor: a.UserID}
	if a.ActionID == slackmsg.ActionRetry && Stale(rec, now) {
		kind, what := jobs.Remediate, "Quarantine"
		switch {
		case rec.Status == ledger.Releasing:
			kind, what = jobs.Release, "Release"
		case rec.Status == ledger.Undoing:
			kind, what = jobs.Undo, "Undo"
		case rec.IsBucketFix():
			what = "Fix"
		}
		ack := slackmsg.InProgress(rec, a.UserID, what)
		if rec.IsBucketFix() {
			ack = slackmsg.PolicyInProgress(rec, a.UserID, what)
		}
		return ledger.Change{}, &jobs.Job{Kind: kind, FindingID: rec.FindingID, By: a.UserID}, ack, nil
	}
	if slackmsg.IsPolicyRecord(rec) {
		return planPolicy(a, rec, c)
	}
	switch a.ActionID {
	case slackmsg.ActionRemediate, slackmsg.ActionRetry:
		c.To, c.Reason = ledger.Queued, "approved in Slack"
		if a.ActionID == slackmsg.ActionRetry {
			c.Reason = "retry requested in Slack"
		}
		if !ledger.CanTransition(rec.Status, ledger.Queued) {
			return c, nil, slackmsg.Message{}, errors.New(slackmsg.AlreadyHandled(string(rec.Status), rec.LastActor()))
		}
		next := rec
		next.Status = ledger.Queued
		return c, &jobs.Job{Kind: jobs.Remediate, FindingID: rec.FindingID, By: a.UserID}, slackmsg.InProgress(next, a.UserID, "Quarantine"), nil
	case slackmsg.ActionDismiss:
		c.To, c.Reason = ledger.Dismissed, "dismissed in Slack"
		if !ledger.CanTransition(rec.Status, ledger.Dismissed) {
			return c, nil, slackmsg.Message{}, errors.New(slackmsg.AlreadyHandled(string(rec.Status), rec.LastActor()))
		}
		if rec.HasCopy() {
			return c, nil, slackmsg.Message{}, fmt.Errorf("Not dismissed: a quarantine copy of this object exists at %s, and dismissing would leave it to expire. Press Retry to finish the quarantine (then Release restores the object), or run `macie-chatops ledger show %s`.",
				rec.CopyLocation(), rec.FindingID)
		}
		if rec.MayHaveCopy {
			return c, nil, slackmsg.Message{}, fmt.Errorf("Not dismissed: a move of this object was started and its outcome is unknown, so a quarantine copy may exist (and the source may be gone); dismissing could leave it to expire. Press Retry to finish the quarantine or find the copy, or run `macie-chatops ledger show %s`.",
				rec.FindingID)
		}
		next := rec
		next.Status = ledger.Dismissed
		return c, nil, slackmsg.Dismissed(next, a.UserID), nil
	case slackmsg.ActionRelease:
		c.To, c.Reason = ledger.Releasing, "release requested in Slack"
		if rec.Status != ledger.Quarantined {
			return c, nil, slackmsg.Message{}, errors.New(slackmsg.AlreadyHandled(string(rec.Status), rec.LastActor()))
		}
		next := rec
		next.Status = ledger.Releasing
		return c, &jobs.Job{Kind: jobs.Release, FindingID: rec.FindingID, By: a.UserID}, slackmsg.InProgress(next, a.UserID, "Release"), nil
	}
	return c, nil, slackmsg.Message{}, fmt.Errorf("Unknown action %q. Nothing was changed.", a.ActionID)
}

// planPolicy maps a click on a policy finding's message: Fix (or Retry) applies the plan the
// message showed (stored in the ledger before it was shown), Undo restores the snapshot,
// Dismiss and Acknowledge close it. The approval covers exactly the stored plan.
func planPolicy(a chatops.Action, rec ledger.Record, c ledger.Change) (ledger.Change, *jobs.Job, slackmsg.Message, error) {
	refuse := func() (ledger.Change, *jobs.Job, slackmsg.Message, error) {
		return c, nil, slackmsg.Message{}, errors.New(slackmsg.AlreadyHandled(string(rec.Status), rec.LastActor()))
	}
	next := rec
	switch a.ActionID {
	case slackmsg.ActionFix, slackmsg.ActionRetry:
		if !rec.IsBucketFix() {
			return c, nil, slackmsg.Message{}, errors.New("This finding type has no bucket remediation: it can only be acknowledged or dismissed. Nothing was changed.")
		}
		if !ledger.CanTransition(rec.Status, ledger.Queued) {
			return refuse()
		}
		if rec.Status == ledger.Notified && (rec.BucketFix.Plan == "" || rec.BucketFix.AlreadyFixed) {
			return c, nil, slackmsg.Message{}, errors.New("There is no change to approve yet: the bucket's current setting has not been stored (or it is already fixed). Nothing was changed; wait for the message to show before → after.")
		}
		c.To, c.Reason = ledger.Queued, "fix approved in Slack: "+rec.BucketFix.BeforeText+" → "+rec.BucketFix.AfterText
		if a.ActionID == slackmsg.ActionRetry {
			c.Reason = "retry requested in Slack"
		}
		next.Status = ledger.Queued
		next.History = append(append([]ledger.Entry{}, rec.History...), ledger.Entry{To: ledger.Queued, Actor: a.UserID})
		return c, &jobs.Job{Kind: jobs.Remediate, FindingID: rec.FindingID, By: a.UserID}, slackmsg.PolicyInProgress(next, a.UserID, "Fix"), nil
	case slackmsg.ActionUndo:
		if rec.Status != ledger.Fixed || !rec.IsBucketFix() {
			return refuse()
		}
		if !rec.BucketFix.Changed {
			return c, nil, slackmsg.Message{}, errors.New("Nothing to undo: the bucket was already fixed and this app changed nothing. Nothing was changed.")
		}
		restored := rec.BucketFix.BeforeText
		c.To, c.Reason = ledger.Undoing, "undo requested in Slack: restore "+restored
		at := time.Now().UTC()
		c.Mutate = func(r *ledger.Record) {
			if r.BucketFix != nil {
				bf := *r.BucketFix
				bf.Undo = &ledger.UndoAudit{By: a.UserID, At: at, Restored: restored}
				r.BucketFix = &bf
			}
		}
		next.Status = ledger.Undoing
		return c, &jobs.Job{Kind: jobs.Undo, FindingID: rec.FindingID, By: a.UserID}, slackmsg.PolicyInProgress(next, a.UserID, "Undo"), nil
	case slackmsg.ActionDismiss, slackmsg.ActionAcknowledge:
		c.To, c.Reason = ledger.Dismissed, "dismissed in Slack"
		if a.ActionID == slackmsg.ActionAcknowledge {
			c.Reason = "acknowledged in Slack"
		}
		if !ledger.CanTransition(rec.Status, ledger.Dismissed) {
			return refuse()
		}
		next.Status = ledger.Dismissed
		next.History = append(append([]ledger.Entry{}, rec.History...), ledger.Entry{To: ledger.Dismissed, Actor: a.UserID, Reason: c.Reason})
		return c, nil, slackmsg.PolicyForState(next), nil
	}
	return c, nil, slackmsg.Message{}, fmt.Errorf("The %q button does not apply to a policy finding. Nothing was changed.", a.ActionID)
}

// DigestAccount reads the account out of a digest id ("digest-<account>-<bucket>-<ms>"), so a
// click can be authorized before the ledger is read.
func DigestAccount(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, "digest-")
	if !ok || len(rest) < 13 || rest[12] != '-' || !finding.IsAccountID(rest[:12]) {
		return "", false
	}
	return rest[:12], true
}

// digestAction authorizes a click on a digest and records the decision in the digest's ledger
// record, covering exactly the members the clicked message showed (its cut-off). That closes
// the digest: a second click or a replay finds the decision and changes nothing. Applying it to
// thousands of findings cannot fit in Slack's 3 seconds, so one digest job is queued; the
// remediator applies only the decision it finds in the ledger.
func (h *Actions) digestAction(ctx context.Context, log *slog.Logger, a chatops.Action, ref chatops.Ref, ephemeral func(string) Response) Response {
	id, cutoff, ok := slackmsg.ParseDigestValue(a.Value)
	account, aok := DigestAccount(id)
	if !ok || !aok {
		log.Warn("click on a malformed digest value")
		return ephemeral("This digest button is not one of ours (or is from an older version of this app). Nothing was changed.")
	}
	if sl := h.Policy.SlackFor(account); sl.TeamID != "" && a.TeamID != sl.TeamID {
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "team")
		return Response{Status: http.StatusForbidden}
	}
	ok, aerr := h.Authz.IsApprover(ctx, a.UserID, h.Policy.ApproversFor(account))
	if !ok {
		if aerr != nil {
			log.Warn("approver group lookup failed; treating as not an approver", "error", aerr.Error())
		}
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "approver")
		return ephemeral(slackmsg.NotApprover(account, h.Policy.AccountName(account)))
	}
	hdr, err := h.Ledger.Get(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) || err == nil && (hdr.Digest == nil || hdr.AccountID != account || cutoff > hdr.Digest.Members) {
		log.Warn("click on a digest the ledger does not know", "digestId", id, "cutoff", cutoff)
		return ephemeral("This digest is not in the ledger (expired, from another installation, or not one of ours). Nothing was changed.")
	}
	if err != nil {
		log.Error("ledger read failed", "error", err.Error())
		return ephemeral("The ledger could not be read, nothing was changed; try again in a minute.")
	}
	if hdr.Channel != "" && hdr.Channel != "webhook" && a.ChannelID != "" && a.ChannelID != hdr.Channel {
		log.Warn("click from a channel other than the digest's message rejected", "channel", a.ChannelID, "want", hdr.Channel)
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "channel")
		return ephemeral("This button belongs to a message in another channel. Nothing was changed.")
	}
	nonce := newNonce()
	next, err := h.Ledger.Annotate(ctx, id, func(r *ledger.Record) {
		if r.Digest == nil || r.Digest.Decision != nil {
			return // decided already: the first decision stands
		}
		ds := *r.Digest
		ds.Decision = &ledger.DigestDecision{Action: a.ActionID, By: a.UserID, Cutoff: cutoff, At: time.Now().UTC(), Nonce: nonce, ResponseURL: a.ResponseURL}
		r.Digest = &ds
	})
	if err != nil || next.Digest == nil || next.Digest.Decision == nil {
		log.Error("could not record the digest decision", "error", fmt.Sprint(err))
		return ephemeral("The ledger could not be updated, nothing was changed; try again in a minute.")
	}
	dec := next.Digest.Decision
	job := jobs.Job{Kind: jobs.Digest, DigestID: id}
	if dec.Nonce != nonce {
		log.Info("digest already decided: click refused", "digestId", id, "by", dec.By, "decision", dec.Action)
		if !dec.Applied {
			// The decision may never have reached the queue: queueing it again is harmless (the
			// remediator applies the recorded decision once), and lets a person re-drive it.
			if err := h.Jobs.Send(ctx, job); err != nil {
				log.Warn("could not re-queue the digest job", "error", err.Error())
			}
		}
		return ephemeral(slackmsg.AlreadyDecided(dec.Action, dec.By, dec.Cutoff))
	}
	log.Info("digest decision recorded", "digestId", id, "cutoff", cutoff)
	if err := h.Jobs.Send(ctx, job); err != nil {
		log.Error("could not queue the digest job", "error", err.Error())
		return ephemeral(fmt.Sprintf("Your decision (%s, for the %d findings shown) is recorded, but the job queue is unavailable: press the button again in a minute to apply it.",
			slackmsg.DigestActionName(a.ActionID), cutoff))
	}
	uctx, cancel := context.WithTimeout(ctx, h.ackTimeout())
	defer cancel()
	outcome := fmt.Sprintf("⏳ %s: applying it to the %d findings this message showed — decided by %s, in progress. Later findings get a new message.",
		slackmsg.DigestActionName(a.ActionID), cutoff, slackmsg.Who(a.UserID))
	note := slackmsg.DigestView{ID: id, AccountID: account, ByType: map[string]int{}, BySeverity: map[string]int{}, Outcome: outcome}
	if recs, err := h.Ledger.List(uctx, ledger.Filter{DigestID: id, AccountID: account}); err == nil && len(recs) > 0 {
		note = DigestViewFrom(id, shownMembers(recs, cutoff), outcome)
	}
	if err := h.Slack.Update(uctx, ref, slackmsg.Digest(note)); err != nil {
		log.Warn("could not update the digest message", "error", err.Error())
	}
	return Response{Status: http.StatusOK}
}

// shownMembers are the digest members a rendering with this cut-off displayed.
func shownMembers(recs []ledger.Record, cutoff int) []ledger.Record {
	var out []ledger.Record
	for _, r := range recs {
		if r.DigestSeq > 0 && r.DigestSeq <= cutoff {
			out = append(out, r)
		}
	}
	return out
}

// newNonce tells one click's decision from any other's.
func newNonce() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
