// Package handlers owns what the three functions do: the finding-handler (findings in, policy
// decision, ledger, Slack or queue out), the remediation-handler (Slack clicks in: verify,
// authorize, transition, acknowledge), and the remediator (jobs in: quarantine engine, ledger,
// Slack update). Policy findings (a bucket's settings) take the same path with their own job
// kinds and records (bucketfix.go): the remediator snapshots the setting in the ledger before
// changing it, and Undo restores that snapshot. Each is a plain struct of its dependencies with methods of (ctx, event), so the
// same code runs under Lambda, in local mode and in tests.
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
)

// DeadLetters receives messages that can never be processed, with the reason.
type DeadLetters interface {
	Send(ctx context.Context, body, reason string) error
}

// Findings is the finding-handler.
type Findings struct {
	Policy  *policy.Policy
	Ledger  ledger.Store
	Jobs    jobs.Queue
	DLQ     DeadLetters
	Slack   chatops.Sender
	Log     *slog.Logger
	Metrics *obs.Metrics
	// Digest, when set, collapses bursts into digest messages (see digest.go).
	Digest *Digester
	// DigestInBackground: a Digester.Run loop updates digests, so batches do not wait for it.
	DigestInBackground bool
	// AdminAccount is the Macie administrator (security) account: the only account whose events
	// may be about another account's objects. Every other event must come from the account it
	// names (see accept).
	AdminAccount string
	// Now is the clock of the flapping window (nil = wall clock).
	Now func() time.Time
	// BucketRoleName is this stack's bucket-settings role (BUCKET_SETTINGS_ROLE_NAME): a Macie
	// update whose actor is a session of exactly this role in the finding's account is our own
	// change, not the bucket relaxed again. Empty: no actor is ours.
	BucketRoleName string
}

// FullBatch is the findings queue's batch size (the event source mapping's).
const FullBatch = 10

// errPermanent marks a message that no retry can fix.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// HandleSQS processes a batch from the findings queue and reports only the messages that should
// be retried. A malformed message goes to the DLQ at once, with its reason, and never blocks
// the batch.
func (h *Findings) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		err := h.Process(ctx, []byte(m.Body))
		var perm errPermanent
		switch {
		case err == nil:
		case errors.As(err, &perm):
			h.Log.Warn("malformed message sent to the dead-letter queue", "messageId", m.MessageId, "reason", err.Error())
			h.Metrics.Count(ctx, obs.Malformed, 1)
			if h.DLQ == nil {
				// Without a DLQ the queue's redrive policy moves it after maxReceiveCount.
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			} else if derr := h.DLQ.Send(ctx, m.Body, err.Error()); derr != nil {
				h.Log.Error("could not send to the dead-letter queue; the message will be retried", "messageId", m.MessageId, "error", derr.Error())
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		default:
			h.Log.Error("finding not processed; it will be retried", "messageId", m.MessageId, "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	if h.Digest != nil && !h.DigestInBackground {
		// A full batch means more are coming: update what is due and go on. A short batch means
		// the queue is draining: wait (at most one update interval) so the digest shows all.
		settle := h.Digest.Flush
		if len(ev.Records) < FullBatch {
			settle = func(ctx context.Context, _ bool) error { return h.Digest.Settle(ctx) }
		}
		if err := settle(ctx, false); err != nil {
			h.Log.Warn("digest update deferred", "error", err.Error())
		}
	}
	return resp, nil
}

// HandleEvent processes one EventBridge event delivered directly (a rule targeting the function).
func (h *Findings) HandleEvent(ctx context.Context, raw json.RawMessage) error {
	err := h.Process(ctx, raw)
	var perm errPermanent
	if errors.As(err, &perm) {
		h.Log.Warn("malformed event ignored", "reason", err.Error())
		h.Metrics.Count(ctx, obs.Malformed, 1)
		if h.DLQ != nil {
			return h.DLQ.Send(ctx, string(raw), err.Error())
		}
		return nil
	}
	return err
}

// Process handles one event or finding body. It is idempotent: a duplicate delivery finds the
// ledger record and does nothing new, unless the first delivery stopped half-way.
func (h *Findings) Process(ctx context.Context, body []byte) error {
	f, err := finding.Parse(body)
	if err != nil {
		return errPermanent{err}
	}
	if err := f.Validate(); err != nil {
		return errPermanent{err}
	}
	if err := h.accept(ctx, f); err != nil {
		return errPermanent{err}
	}
	d := h.Policy.Decide(f)
	fresh := NewRecord(f, d)
	if fresh.PolicyFacts != nil {
		if fresh.BucketFix == nil && d.Action == policy.Auto {
			// Nothing to apply (no remediation for this type): never queue a job that would
			// act on an object. The validator refuses this; a future type must not crash.
			d.Action, d.Reason = policy.Notify, "no bucket remediation for "+f.Type+": notify only ("+d.Reason+")"
			fresh.Action, fresh.Reason = string(d.Action), d.Reason
		}
		if d.Action != policy.Ignore { // an ignored finding shows nothing: no ledger query for it
			if err := h.enrichPolicy(ctx, f, &fresh, &d); err != nil {
				return err
			}
		}
	}
	log := h.Log.With("findingId", f.ID, "account", f.AccountID, "action", string(d.Action))

	rec, created, err := h.Ledger.Create(ctx, fresh)
	if err != nil {
		return fmt.Errorf("ledger create %s: %w", f.ID, err)
	}
	if !created && f.UpdatedAt.After(rec.FindingUpdatedAt) {
		if occ, byPerson, ok := reoccurred(f, rec, h.BucketRoleName); ok {
			// The bucket was relaxed again after its fix: a new remediation cycle, with its own
			// snapshot and undo, in its own record (and one more fix towards flapping).
			fresh.FindingID = occ
			if byPerson && d.Action == policy.Auto {
				d.Action = policy.Review
				d.Reason = fmt.Sprintf("relaxed again after a person chose %s for the previous occurrence: review (%s)", rec.Status, d.Reason)
				fresh.Action, fresh.Reason = string(d.Action), d.Reason
			}
			log = log.With("occurrence", occ)
			if rec, created, err = h.Ledger.Create(ctx, fresh); err != nil {
				return fmt.Errorf("ledger create %s: %w", occ, err)
			}
			if !created && !unfinished(rec) {
				h.Metrics.Count(ctx, obs.Duplicates, 1)
				return nil
			}
			log.Info("bucket setting relaxed again after its occurrence closed: new occurrence", "previous", string(rec.Status))
			return h.carryOut(ctx, log, rec, d)
		}
		return h.updated(ctx, log, f, d, rec)
	}
	if !created && !unfinished(rec) {
		log.Info("duplicate finding: already handled", "status", string(rec.Status))
		h.Metrics.Count(ctx, obs.Duplicates, 1)
		return nil
	}
	if created {
		h.Metrics.Count(ctx, obs.FindingsByAction, 1, "Action", string(d.Action))
	}

	return h.carryOut(ctx, log, rec, d)
}

// carryOut does what the record's decision asks, from wherever an earlier run stopped.
func (h *Findings) carryOut(ctx context.Context, log *slog.Logger, rec ledger.Record, d policy.Decision) error {
	switch policy.Action(rec.Action) {
	case policy.Ignore:
		if _, err := h.decided(ctx, rec, ledger.Ignored, d.Reason, nil); err != nil {
			return err
		}
		log.Info("ignored", "reason", d.Reason)
		return nil
	case policy.Auto:
		return h.auto(ctx, log, rec, d)
	default: // REVIEW, NOTIFY
		return h.notify(ctx, log, rec, d)
	}
}

// ErrForeignFinding is an event about an account sent by another account.
var ErrForeignFinding = errors.New("finding rejected at the trust boundary")

// accept is defence in depth behind the EventBridge rules and the queue policy: the remediator
// will assume the quarantine role in detail.accountId, so an event is accepted only from that
// account itself or from the Macie administrator account. A bare finding (no envelope) says
// nothing about who sent it and is refused. Nothing is written for a refused finding.
func (h *Findings) accept(ctx context.Context, f *finding.Finding) error {
	var reason, why string
	switch {
	case f.EventAccount == "":
		reason, why = "no-envelope", "it has no EventBridge envelope, so its sender is unknown (send the whole event, not the bare finding)"
	case f.EventAccount == f.AccountID:
		return nil
	case h.AdminAccount != "" && f.EventAccount == h.AdminAccount:
		return nil
	default:
		reason = "account-mismatch"
		why = fmt.Sprintf("the event came from account %s, which is neither the finding's account %s nor the Macie administrator account %q",
			f.EventAccount, f.AccountID, h.AdminAccount)
	}
	h.Log.Warn("finding rejected: sender may not report on this account", "findingId", f.ID, "eventAccount", f.EventAccount,
		"account", f.AccountID, "adminAccount", h.AdminAccount, "reason", reason)
	h.Metrics.Count(ctx, obs.Rejected, 1, "Reason", reason)
	return fmt.Errorf("%w: finding %s about account %s: %s", ErrForeignFinding, f.ID, f.AccountID, why)
}

// Resume finishes a finding whose first delivery stopped half-way (the sweeper's entry): the
// decision stored in the record is carried out; the finding itself is not needed.
func (h *Findings) Resume(ctx context.Context, rec ledger.Record) error {
	sl := h.Policy.SlackFor(rec.AccountID)
	d := policy.Decision{Action: policy.Action(rec.Action), Reason: rec.Reason, Channel: sl.Channel, TeamID: sl.TeamID, PolicyHash: rec.PolicyHash,
		Account: policy.Account{ID: rec.AccountID, Name: rec.AccountName}}
	return h.carryOut(ctx, h.Log.With("findingId", rec.FindingID, "account", rec.AccountID, "action", rec.Action), rec, d)
}

// updated handles a Macie finding update (same id, later updatedAt: a higher count or severity).
// The record takes the finding's new data; a finding no person or policy has acted on yet
// (RECEIVED, NOTIFIED, IGNORED) is decided again, so a severity raised from LOW to HIGH may now be AUTO;
// the message is updated either way.
func (h *Findings) updated(ctx context.Context, log *slog.Logger, f *finding.Finding, d policy.Decision, rec ledger.Record) error {
	fresh := NewRecord(f, d)
	// RECEIVED too: its first delivery died (or runs now) before deciding, and the sweeper's
	// resume carries out the stored decision, which must be the one for the new data.
	redecide := (rec.Status == ledger.Received || rec.Status == ledger.Notified || rec.Status == ledger.Ignored) && d.Action != policy.Action(rec.Action)
	before := rec.Severity
	rec, err := h.Ledger.Modify(ctx, rec.FindingID, func(r *ledger.Record) error {
		if !f.UpdatedAt.After(r.FindingUpdatedAt) {
			return errStaleUpdate
		}
		r.Severity, r.Title, r.Detections, r.ETag, r.Size = fresh.Severity, fresh.Title, fresh.Detections, fresh.ETag, fresh.Size
		r.FindingUpdatedAt, r.FindingCount = fresh.FindingUpdatedAt, fresh.FindingCount
		if fresh.PolicyFacts != nil {
			// The latest sighting (last seen, actor); the linked data findings are kept.
			pf := *fresh.PolicyFacts
			if r.PolicyFacts != nil {
				pf.OpenDataFindings = r.PolicyFacts.OpenDataFindings
			}
			r.PolicyFacts = &pf
		}
		if redecide {
			r.Action, r.Reason, r.PolicyHash = fresh.Action, fresh.Reason, fresh.PolicyHash
		}
		r.ShownStatus, r.ShownSeq = "", r.ShownSeq+1 // the message shows the old data
		return nil
	})
	if errors.Is(err, errStaleUpdate) {
		h.Metrics.Count(ctx, obs.Duplicates, 1)
		return nil // a concurrent delivery of the same update got there first
	}
	if err != nil {
		return fmt.Errorf("refresh finding %s: %w", f.ID, err)
	}
	log.Info("finding updated by Macie", "severity", before+"→"+rec.Severity, "count", rec.FindingCount, "redecided", redecide)
	reason := "finding updated (severity " + before + " → " + rec.Severity + "): " + d.Reason
	if redecide && rec.Status == ledger.Received {
		return h.carryOut(ctx, log, rec, d) // what the first delivery would have done, with the new decision
	}
	if redecide {
		to := ledger.Notified
		if d.Action == policy.Auto {
			to = ledger.Queued
		}
		if d.Action != policy.Ignore {
			next, err := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: rec.Status, To: to, Actor: ledger.ActorPolicy, Reason: reason})
			if err != nil && !errors.Is(err, ledger.ErrConflict) {
				return err
			}
			if err == nil {
				rec = next
			}
		}
		if rec.Status == ledger.Queued {
			return h.auto(ctx, log, rec, d)
		}
	}
	if rec.Status == ledger.Received || rec.Status == ledger.Ignored {
		return nil
	}
	if _, err := (display{ledger: h.Ledger, slack: h.Slack, policy: h.Policy, log: h.Log, now: time.Now}).sync(ctx, rec, ""); err != nil {
		log.Warn("updated finding not shown in Slack; the sweeper will", "error", err.Error())
	}
	return nil
}

var errStaleUpdate = errors.New("not newer than the record")

// decided records the policy's decision on a RECEIVED record; a record already past RECEIVED
// (a resumed delivery, or a lost race with a duplicate) is returned as it is.
func (h *Findings) decided(ctx context.Context, rec ledger.Record, to ledger.Status, reason string, mutate func(*ledger.Record)) (ledger.Record, error) {
	if rec.Status != ledger.Received {
		return rec, nil
	}
	next, err := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: ledger.Received, To: to, Actor: ledger.ActorPolicy, Reason: reason, Mutate: mutate})
	switch {
	case err == nil:
		return next, nil
	case errors.Is(err, ledger.ErrConflict):
		return rec, nil
	}
	return rec, err
}

// unfinished: the record exists but an earlier delivery stopped before its message went out.
func unfinished(r ledger.Record) bool {
	switch r.Status {
	case ledger.Received:
		return true
	case ledger.Queued:
		if policy.Action(r.Action) == policy.Auto && r.JobSentAt.IsZero() && r.LastActor() == ledger.ActorPolicy {
			return true // the job was never handed to the queue
		}
		fallthrough
	case ledger.Notified:
		if needsInspect(r) {
			return true // the inspect job was never handed to the queue
		}
		return r.MessageTS == "" && r.NotifyStatus != NotifyPosted && r.NotifyStatus != NotifyDigest
	}
	return false
}

// Notification states kept on the record, so the ledger shows whether each finding reached Slack.
const (
	NotifyPosted  = "POSTED"
	NotifyDigest  = "IN_DIGEST"
	NotifyPending = "PENDING"
)

func (h *Findings) auto(ctx context.Context, log *slog.Logger, rec ledger.Record, d policy.Decision) error {
	rec, err := h.decided(ctx, rec, ledger.Queued, d.Reason, func(r *ledger.Record) { r.NotifyStatus = NotifyPending })
	if err != nil {
		return err
	}
	// The job first: the quarantine never waits on Slack. "Job sent" is recorded only after the
	// queue took it, so a failed send is retried by the redelivery, never mistaken for a duplicate.
	if rec.Status == ledger.Queued && rec.JobSentAt.IsZero() {
		if err := h.Jobs.Send(ctx, jobs.Job{Kind: jobs.Remediate, FindingID: rec.FindingID, By: ledger.ActorPolicy}); err != nil {
			return fmt.Errorf("queue the remediation of finding %s: %w", rec.FindingID, err)
		}
		if rec, err = h.Ledger.Annotate(ctx, rec.FindingID, markJobSent(time.Now())); err != nil {
			return err // redelivered: a second job for the finding is harmless (the move is idempotent)
		}
		log.Info("auto-remediation queued")
	}
	// Then the notification, on its own: a Slack outage leaves it PENDING for the sweeper.
	if err := h.post(ctx, rec, d); err != nil {
		log.Warn("Slack notification deferred to the sweeper; the remediation is queued", "error", err.Error())
		h.Metrics.Count(ctx, obs.NotifyDeferred, 1)
	}
	return nil
}

// markJobSent records that the queue accepted the job for the record's current state.
func markJobSent(at time.Time) func(*ledger.Record) {
	return func(r *ledger.Record) { r.JobSentAt = at.UTC() }
}

func (h *Findings) notify(ctx context.Context, log *slog.Logger, rec ledger.Record, d policy.Decision) error {
	rec, err := h.decided(ctx, rec, ledger.Notified, d.Reason, func(r *ledger.Record) { r.NotifyStatus = NotifyPending })
	if err != nil {
		return err
	}
	// A REVIEW bucket fix: the remediator reads the bucket and stores the snapshot first (the
	// message then shows before → after with Fix); a failed send is retried by the redelivery.
	if rec, err = h.requestInspect(ctx, rec); err != nil {
		return err
	}
	if err := h.post(ctx, rec, d); err != nil {
		// Not redelivered (a Slack outage would walk every finding into the DLQ): the record is
		// NOTIFIED with its notification PENDING, and the sweeper posts it on its next run.
		log.Warn("Slack notification deferred to the sweeper", "error", err.Error())
		h.Metrics.Count(ctx, obs.NotifyDeferred, 1)
		return nil
	}
	log.Info("posted to Slack", "status", string(rec.Status))
	return nil
}

// post sends the record's message once (or adds it to a digest) and stores where it went.
func (h *Findings) post(ctx context.Context, rec ledger.Record, d policy.Decision) error {
	if h.Digest != nil && rec.PolicyFacts == nil { // a policy finding is about a bucket: its own message, never a digest line

		absorbed, err := h.Digest.Add(ctx, rec, d)
		if err != nil {
			return err
		}
		if absorbed {
			return nil
		}
	}
	_, err := display{ledger: h.Ledger, slack: h.Slack, policy: h.Policy, log: h.Log, now: time.Now}.sync(ctx, rec, "")
	return err
}

// NewRecord is the first ledger record of a finding and its decision.
func NewRecord(f *finding.Finding, d policy.Decision) ledger.Record {
	r := ledger.Record{
		FindingUpdatedAt: f.UpdatedAt, FindingCount: f.Count,
		FindingID: f.ID, AccountID: f.AccountID, Region: f.Region, Partition: f.Partition,
		Bucket: f.BucketName(), Key: f.ObjectKey(), VersionID: f.VersionID(),
		FindingType: f.Type, Severity: finding.LevelName(f.Severity.Level()), Title: f.Title, DetectedAt: f.CreatedAt,
		AccountName: d.Account.Name, Action: string(d.Action), Reason: d.Reason, PolicyHash: d.PolicyHash,
		ShowKeys: d.ShowKeys,
	}
	if f.IsPolicy() {
		r.PolicyFacts = policyFacts(f)
		if kind, ok := bucketfix.KindFor(f.Type); ok {
			r.BucketFix = &ledger.BucketFix{Kind: string(kind)}
		}
	}
	if f.Object != nil {
		r.ETag, r.Size = strings.Trim(f.Object.ETag, `"`), f.Object.Size
	}
	if c := f.Classification; c != nil {
		for _, sd := range c.SensitiveData {
			for _, det := range sd.Detections {
				r.Detections = append(r.Detections, ledger.Detection{Category: sd.Category, Type: det.Type, Count: det.Count})
			}
		}
		for _, det := range c.CustomDataIdentifiers.Detections {
			name := det.Name
			if name == "" {
				name = det.Arn
			}
			r.Detections = append(r.Detections, ledger.Detection{Category: "CUSTOM_IDENTIFIER", Type: name, Count: det.Count})
		}
	}
	return r
}

// HandleAny accepts either an SQS batch (the normal path, with partial batch failures) or a
// single EventBridge event (a rule targeting the function directly).
func (h *Findings) HandleAny(ctx context.Context, raw json.RawMessage) (any, error) {
	var ev events.SQSEvent
	err := json.Unmarshal(raw, &ev) // one decode: an EventBridge event has no "Records"
	if ev.Records != nil {
		if err != nil {
			return nil, fmt.Errorf("SQS event: %w", err)
		}
		return h.HandleSQS(ctx, ev)
	}
	return nil, h.HandleEvent(ctx, raw)
}
