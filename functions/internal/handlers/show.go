package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
	"github.com/slack-go/slack"
)

// PostClaimTTL is how long a claim on a finding's first Slack post holds. A claimer that died
// before posting is replaced after it (by a redelivery or the sweeper).
const PostClaimTTL = 2 * time.Minute

// display keeps a finding's Slack message in step with its ledger record. It is the one place
// that posts a finding's own message or re-renders it, for the finding-handler, the remediator
// and the sweeper alike: the first post is claimed in the ledger (so a finding processed twice at
// once gets one message), and every post or update that Slack accepted is recorded as the state
// the message shows (ShownStatus), so any drift is visible in the ledger and the sweeper fixes it.
type display struct {
	ledger ledger.Store
	slack  chatops.Sender
	policy *policy.Policy
	log    *slog.Logger
	now    func() time.Time
}

var (
	errAlreadyPosted = errors.New("already posted")
	errPostClaimed   = errors.New("another process is posting this finding's message")
)

// render is the message for the record's current state.
func render(r ledger.Record, now time.Time) slackmsg.Message {
	if Stale(r, now) {
		what := "Quarantine"
		switch {
		case r.Status == ledger.Releasing:
			what = "Release"
		case r.Status == ledger.Undoing:
			what = "Undo"
		case r.IsBucketFix():
			what = "Fix"
		}
		return slackmsg.Stalled(r, what, now.Sub(LastTransition(r)))
	}
	if slackmsg.IsPolicyRecord(r) {
		return slackmsg.PolicyForState(r)
	}
	if r.Status == ledger.Quarantined && r.Error != "" {
		return slackmsg.QuarantinedWithNote(r, slackmsg.ApprovedBy(r), r.Error)
	}
	return slackmsg.ForState(r)
}

// hasMessage: the finding's own message exists (in webhook mode there is no handle on it).
func hasMessage(r ledger.Record) bool { return r.MessageTS != "" || r.Channel == "webhook" }

// shownKey is what ShownStatus records for a rendering: the status, marked when shown as stalled
// (a stalled job's message offers Retry, so it differs from the in-progress one).
func shownKey(r ledger.Record, now time.Time) ledger.Status {
	if Stale(r, now) {
		return r.Status + ":STALLED"
	}
	return r.Status
}

// inSync: the message shows the record's state.
func inSync(r ledger.Record, now time.Time) bool {
	return hasMessage(r) && r.ShownStatus == shownKey(r, now) && r.ShownError == r.Error
}

// coveredByDigest: a digest member without its own message is shown by its digest, except a
// problem, which gets its own message with a Retry button.
func coveredByDigest(r ledger.Record) bool {
	if r.DigestID == "" || hasMessage(r) {
		return false
	}
	switch r.Status {
	case ledger.Failed, ledger.Blocked:
		return false
	case ledger.Quarantined:
		return r.Error == ""
	}
	return true
}

// sync makes the finding's message show rec's state: posts it once, or updates it. responseURL is
// a click's handle on the message (webhook mode). It returns the record as last written.
func (d display) sync(ctx context.Context, rec ledger.Record, responseURL string) (ledger.Record, error) {
	if coveredByDigest(rec) {
		return rec, nil
	}
	if !hasMessage(rec) && responseURL == "" {
		posted, err := d.postOnce(ctx, rec)
		if err != nil || !hasMessage(posted) || inSync(posted, d.now()) {
			return posted, err // !hasMessage: another process holds the claim and posts
		}
		rec = posted // the record moved while we posted: update to the latest state
	}
	now := d.now()
	if inSync(rec, now) {
		return rec, nil
	}
	m := render(rec, now)
	ref := chatops.Ref{Channel: rec.Channel, TS: rec.MessageTS, ResponseURL: responseURL}
	if ref.Channel == "webhook" {
		ref.Channel = ""
	}
	if err := d.slack.Update(ctx, ref, m); err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "message_not_found" && rec.MessageTS != "" && responseURL == "" {
			// Someone deleted the message: no update can ever land. Forget it, so the next sync
			// (the sweeper's next run) posts the finding's state as a new message.
			d.ledger.Annotate(ctx, rec.FindingID, func(r *ledger.Record) {
				if r.MessageTS == rec.MessageTS {
					r.MessageTS, r.NotifyStatus = "", NotifyPending
				}
			})
		}
		return rec, fmt.Errorf("update the Slack message of finding %s to %s: %w", rec.FindingID, rec.Status, err)
	}
	return d.shown(ctx, rec, chatops.Ref{Channel: rec.Channel, TS: rec.MessageTS}, now)
}

// shown records that the message now shows rec's state (as rendered at now).
func (d display) shown(ctx context.Context, rec ledger.Record, ref chatops.Ref, now time.Time) (ledger.Record, error) {
	key := shownKey(rec, now)
	// Slack has the message now: recording where it is matters more than any other write (a
	// message whose ts is lost can never be updated), so it is tried again on an error.
	var out ledger.Record
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if out, err = d.annotateShown(ctx, rec, ref, key); err == nil || ctx.Err() != nil {
			break
		}
	}
	return out, err
}

func (d display) annotateShown(ctx context.Context, rec ledger.Record, ref chatops.Ref, key ledger.Status) (ledger.Record, error) {
	return d.ledger.Annotate(ctx, rec.FindingID, func(r *ledger.Record) {
		if r.MessageTS == "" && ref.TS != "" || r.Channel == "" && ref.Channel != "" {
			r.Channel, r.MessageTS = ref.Channel, ref.TS
		}
		r.NotifyStatus = NotifyPosted
		recordShown(r, rec, key, rec.Error)
		r.PostClaim, r.PostClaimAt = "", time.Time{}
	})
}

// postOnce claims the first post in the ledger, posts the claimed record's state, and records
// where the message is. Without the claim it returns the record as it is.
func (d display) postOnce(ctx context.Context, rec ledger.Record) (ledger.Record, error) {
	token := ledger.NewToken()
	now := d.now()
	claimed, err := d.ledger.Modify(ctx, rec.FindingID, func(r *ledger.Record) error {
		if hasMessage(*r) {
			return errAlreadyPosted
		}
		if r.PostClaim != "" && now.Sub(r.PostClaimAt) < PostClaimTTL {
			return errPostClaimed
		}
		r.PostClaim, r.PostClaimAt = token, now
		return nil
	})
	if errors.Is(err, errAlreadyPosted) || errors.Is(err, errPostClaimed) {
		d.log.Info("Slack message posted or being posted by another process", "findingId", rec.FindingID, "reason", err.Error())
		return d.ledger.Get(ctx, rec.FindingID)
	}
	if err != nil {
		return rec, fmt.Errorf("claim the Slack post of finding %s: %w", rec.FindingID, err)
	}
	ref, err := d.slack.Post(ctx, d.policy.SlackFor(claimed.AccountID).Channel, render(claimed, now))
	if err != nil {
		// Give the claim back so the next attempt (a redelivery, the sweeper) need not wait for it.
		d.ledger.Modify(ctx, rec.FindingID, func(r *ledger.Record) error {
			if r.PostClaim != token {
				return errPostClaimed
			}
			r.PostClaim, r.PostClaimAt = "", time.Time{}
			return nil
		})
		return claimed, fmt.Errorf("post finding %s to Slack: %w", rec.FindingID, err)
	}
	return d.shown(ctx, claimed, ref, now)
}

// recordShown records what a message shows after a Slack update made from read. Two writers of
// one message (the sweeper and the remediator, a click and a job) are not ordered: Slack may
// apply the older update last while its writer records first. So when another rendering was
// recorded since read (and it differs from ours), which one Slack kept is unknown: the shown
// state is cleared, and the sweeper's next run re-renders the message from the ledger.
func recordShown(r *ledger.Record, read ledger.Record, key ledger.Status, errText string) {
	moved := r.ShownSeq != read.ShownSeq || r.ShownStatus != read.ShownStatus || r.ShownError != read.ShownError
	r.ShownSeq++
	if moved && (r.ShownStatus != key || r.ShownError != errText) {
		r.ShownStatus, r.ShownError = "", ""
		return
	}
	r.ShownStatus, r.ShownError = key, errText
}
