package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Sweeper is the fourth function, run on a schedule: the exit that needs no person for every
// state a crash, a lost answer, a dead job or a Slack outage can leave behind.
//
//   - a finding whose first delivery stopped half-way (RECEIVED, or an AUTO finding whose job was
//     never handed to the queue) is carried out from its stored decision;
//   - a QUEUED, IN_PROGRESS or RELEASING record that has not moved for StaleAfter has its job
//     sent again (the move is idempotent; a job that reached the DLQ is re-driven the same way);
//     after MaxRedrives without progress the record goes to FAILED (RELEASING back to
//     QUARANTINED) with the reason, so its message offers Retry to a person;
//   - a quarantine that FAILED because its account had no working member stack, or because
//     CloudFormation refused the lookup of its quarantine bucket (organization mode), is queued
//     again StaleAfter later, at most MaxRedrives times in all (noStackDue), by the
//     remediator's own record of that failure only;
//   - every Slack message whose shown state differs from the ledger is posted or re-rendered.
//
// Each run reports what it did in one log line and EMF metrics.
type Sweeper struct {
	Policy  *policy.Policy
	Ledger  ledger.Store
	Jobs    jobs.Queue
	Slack   chatops.Sender
	Log     *slog.Logger
	Metrics *obs.Metrics
	// Now is the sweeper's clock (nil = wall clock): tests move it instead of waiting.
	Now func() time.Time
	// Window bounds the drift check to records changed this recently (default 14 days); working
	// states are always checked, however old.
	Window time.Duration
}

// Sweeper timing.
const (
	// Grace is how long a half-done first delivery is left to its own retry before the sweeper
	// takes over (an SQS redelivery comes within the visibility timeout).
	Grace = 5 * time.Minute
	// MaxRedrives is how many times a stale job is sent again before a person is asked.
	MaxRedrives = 3
	// SweepEvery is the schedule the Pulumi program and local mode run the sweeper on.
	SweepEvery = 5 * time.Minute
)

// ActorSweeper is the audit actor of the sweeper's transitions.
const ActorSweeper = ledger.ActorSweeper

// SweepReport says what one run did.
type SweepReport struct {
	Checked    int `json:"checked"`
	Resumed    int `json:"resumed"`    // half-done first deliveries carried out
	Redriven   int `json:"redriven"`   // stale jobs sent again
	GaveUp     int `json:"gaveUp"`     // stale past MaxRedrives: moved to FAILED for a person
	Rerendered int `json:"rerendered"` // Slack messages posted or brought back in step
	Errors     int `json:"errors"`     // records the run could not fix (retried next run)
}

func (s *Sweeper) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Handle is the Lambda entry (an EventBridge schedule sends an empty event).
func (s *Sweeper) Handle(ctx context.Context) (SweepReport, error) { return s.Run(ctx) }

// Run sweeps once. It returns an error only when the ledger cannot be listed.
func (s *Sweeper) Run(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	now := s.now()
	window := s.Window
	if window <= 0 {
		window = 14 * 24 * time.Hour
	}
	seen := map[string]bool{}
	var recs []ledger.Record
	add := func(f ledger.Filter) error {
		rs, err := s.Ledger.List(ctx, f)
		if err != nil {
			return fmt.Errorf("sweeper: list the ledger: %w", err)
		}
		for _, r := range rs {
			if !seen[r.FindingID] {
				seen[r.FindingID] = true
				recs = append(recs, r)
			}
		}
		return nil
	}
	for _, st := range []ledger.Status{ledger.Received, ledger.Queued, ledger.InProgress, ledger.Releasing, ledger.Undoing} {
		if err := add(ledger.Filter{Status: st}); err != nil {
			return rep, err
		}
	}
	if err := add(ledger.Filter{Since: now.Add(-window)}); err != nil {
		return rep, err
	}
	for _, r := range recs {
		if r.Status == ledger.DigestStatus {
			// A digest's own record: its members are swept one by one. A decision recorded at
			// click time whose job was lost is sent again (the job applies only the recorded
			// decision, and a second run of it changes nothing).
			if d := r.Digest; d != nil && d.Decision != nil && !d.Decision.Applied && now.Sub(d.Decision.At) >= Grace {
				if err := s.Jobs.Send(ctx, jobs.Job{Kind: jobs.Digest, DigestID: r.FindingID}); err != nil {
					rep.Errors++
					s.Log.Warn("sweeper could not re-send a digest decision; next run retries", "digestId", r.FindingID, "error", err.Error())
				} else {
					rep.Redriven++
					s.Log.Info("unapplied digest decision sent again", "digestId", r.FindingID, "by", d.Decision.By)
				}
			}
			continue
		}
		rep.Checked++
		if err := s.sweepOne(ctx, r, now, &rep); err != nil {
			rep.Errors++
			s.Log.Warn("sweeper could not fix a record; next run retries", "findingId", r.FindingID, "status", string(r.Status), "error", err.Error())
		}
	}
	s.Log.Info("sweep done", "checked", rep.Checked, "resumed", rep.Resumed, "redriven", rep.Redriven, "gaveUp", rep.GaveUp,
		"rerendered", rep.Rerendered, "errors", rep.Errors)
	for kind, n := range map[string]int{"resume": rep.Resumed, "redrive": rep.Redriven, "rerender": rep.Rerendered} {
		if n > 0 {
			s.Metrics.Count(ctx, obs.SweeperFixed, float64(n), "Kind", kind)
		}
	}
	if n := rep.GaveUp + rep.Errors; n > 0 {
		s.Metrics.Count(ctx, obs.SweeperStuck, float64(n))
	}
	return rep, nil
}

func (s *Sweeper) findings() *Findings {
	return &Findings{Policy: s.Policy, Ledger: s.Ledger, Jobs: s.Jobs, Slack: s.Slack, Log: s.Log, Metrics: s.Metrics}
}

func (s *Sweeper) sweepOne(ctx context.Context, r ledger.Record, now time.Time, rep *SweepReport) error {
	age := now.Sub(LastActivity(r))
	switch {
	case r.Status == ledger.Received && age >= Grace,
		r.Status == ledger.Queued && r.JobSentAt.IsZero() && r.LastActor() == ledger.ActorPolicy && age >= Grace:
		if err := s.findings().Resume(ctx, r); err != nil {
			return err
		}
		rep.Resumed++
	case dueForRedrive(r, now):
		if err := s.redrive(ctx, r, now, rep); err != nil {
			return err
		}
	case noStackDue(r, now) && s.stillDecided(r):
		if err := s.redriveNoStack(ctx, r, now, rep); err != nil {
			return err
		}
	case inspectDue(r, now):
		// A REVIEW bucket fix whose inspect job was lost: send it again (storing the plan is a
		// conditional write, so a duplicate changes nothing).
		if err := s.Jobs.Send(ctx, jobs.Job{Kind: jobs.Inspect, FindingID: r.FindingID, By: ActorSweeper}); err != nil {
			return fmt.Errorf("re-send the inspect job: %w", err)
		}
		s.Ledger.Annotate(ctx, r.FindingID, markInspectSent(now))
		rep.Redriven++
	}
	cur, err := s.Ledger.Get(ctx, r.FindingID)
	if err != nil {
		return err
	}
	if cur.Status == ledger.Received || cur.Status == ledger.Ignored || inSync(cur, now) || coveredByDigest(cur) {
		return nil
	}
	if _, err := (display{ledger: s.Ledger, slack: s.Slack, policy: s.Policy, log: s.Log, now: func() time.Time { return now }}).sync(ctx, cur, ""); err != nil {
		return err
	}
	rep.Rerendered++
	return nil
}

var errNotStale = errors.New("moved on since it was listed")

// stillDecided: the decision a no-member-stack re-drive would carry out still holds. A person's
// approval is re-checked by the remediator (the approver must still be one); the policy's AUTO
// decision only while the policy is the one that made it: after any change the re-drive stops,
// and the record stays FAILED with Retry, so a person decides under the policy now in force
// (which may have made that finding type REVIEW, or raised its minimum severity).
func (s *Sweeper) stillDecided(r ledger.Record) bool {
	if slackmsg.ApprovedBy(r) != ledger.ActorPolicy {
		return true
	}
	return s.Policy != nil && r.PolicyHash != "" && r.PolicyHash == s.Policy.Hash
}

// inspectDue: a REVIEW bucket fix with no stored plan whose inspect job was never sent (for
// Grace), or was sent StaleAfter ago and stored no plan (lost, or the bucket could not be read:
// a throttled or denied read is tried again every StaleAfter, its reason shown meanwhile).
func inspectDue(r ledger.Record, now time.Time) bool {
	if !r.IsBucketFix() || r.Status != ledger.Notified || policy.Action(r.Action) != policy.Review || r.BucketFix.Plan != "" {
		return false
	}
	if r.BucketFix.InspectSentAt.IsZero() {
		return now.Sub(LastActivity(r)) >= Grace
	}
	return now.Sub(r.BucketFix.InspectSentAt) >= StaleAfter
}

// dueForRedrive: stale, and no job was handed over for StaleAfter either.
func dueForRedrive(r ledger.Record, now time.Time) bool {
	return Stale(r, now) && now.Sub(LastActivity(r)) >= StaleAfter
}

// noStackDue: a quarantine that FAILED because its account had no working member stack
// (organization mode: an account outside the StackSet's OUs, or whose stack is still being
// deployed), or because CloudFormation refused the lookup (a permission still propagating, a
// setting a person fixes), StaleAfter ago, re-driven fewer than MaxRedrives times for those
// reasons. A new account's instance is deployed within minutes, so the re-drive covers it
// without a person; an account that stays uncovered stays FAILED with the reason and Retry.
// Only the remediator's own FAILED entries count: no other failure, and nothing a person or
// the sweeper recorded, is ever queued again by this rule.
func noStackDue(r ledger.Record, now time.Time) bool {
	n := len(r.History)
	lookupFailed := func(e ledger.Entry) bool {
		return e.To == ledger.Failed && e.Actor == ActorRemediator && (e.Reason == reasonNoMemberStack || e.Reason == reasonLookupDenied)
	}
	if r.Status != ledger.Failed || n == 0 || !lookupFailed(r.History[n-1]) || now.Sub(LastTransition(r)) < StaleAfter {
		return false
	}
	failed := 0
	for _, e := range r.History {
		if lookupFailed(e) {
			failed++
		}
	}
	return failed <= MaxRedrives
}

// redriveNoStack queues a noStackDue record again and sends its job; a job that cannot be sent
// leaves it QUEUED, which the stale-job re-drive covers. Each failure is re-driven at most
// once, whatever the sweepers running at once: a lease in the ledger comes before the
// transition, taken only if the record is still the one listed (no transition since), still
// due, and its failure not leased yet; the lease is the failure's own time in JobSentAt (the
// ledger's clock on both sides, no comparison across clocks). The transition alone would not
// do: its condition is only "still FAILED", which the next failure (after another sweeper's
// re-drive) also meets, so a sweeper acting on what it listed earlier re-drove once more than
// MaxRedrives, and without waiting StaleAfter. A lease whose sweeper died before the
// transition is taken again once the failure is 2×StaleAfter old: delayed, never stranded.
func (s *Sweeper) redriveNoStack(ctx context.Context, r ledger.Record, now time.Time, rep *SweepReport) error {
	_, err := s.Ledger.Modify(ctx, r.FindingID, func(x *ledger.Record) error {
		failedAt := LastTransition(*x)
		leased := x.JobSentAt.Equal(failedAt) && now.Sub(failedAt) < 2*StaleAfter
		if len(x.History) != len(r.History) || !noStackDue(*x, now) || leased {
			return errNotStale
		}
		x.JobSentAt = failedAt
		return nil
	})
	if errors.Is(err, errNotStale) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.Ledger.Transition(ctx, r.FindingID, ledger.Change{From: ledger.Failed, To: ledger.Queued, Actor: ActorSweeper,
		Reason: "re-driven: the account had no member stack"})
	if errors.Is(err, ledger.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.Jobs.Send(ctx, jobs.Job{Kind: jobs.Remediate, FindingID: r.FindingID, By: ActorSweeper}); err != nil {
		return fmt.Errorf("queued again, but the job could not be sent (the next run re-sends it): %w", err)
	}
	s.Ledger.Annotate(ctx, r.FindingID, markJobSent(now))
	s.Log.Info("re-driven: its account had no member stack", "findingId", r.FindingID)
	rep.Redriven++
	return nil
}

// redrive sends a stale record's job again, once per run even with two sweepers at once: the
// hand-off is leased in the ledger (JobSentAt moves only if the record is still stale).
func (s *Sweeper) redrive(ctx context.Context, r ledger.Record, now time.Time, rep *SweepReport) error {
	if r.Redrives >= MaxRedrives {
		return s.giveUp(ctx, r, rep)
	}
	leased, err := s.Ledger.Modify(ctx, r.FindingID, func(x *ledger.Record) error {
		if x.Status != r.Status || !dueForRedrive(*x, now) {
			return errNotStale
		}
		x.JobSentAt, x.Redrives = now.UTC(), x.Redrives+1
		return nil
	})
	if errors.Is(err, errNotStale) {
		return nil
	}
	if err != nil {
		return err
	}
	kind := jobs.Remediate
	switch leased.Status {
	case ledger.Releasing:
		kind = jobs.Release
	case ledger.Undoing:
		kind = jobs.Undo
	}
	if err := s.Jobs.Send(ctx, jobs.Job{Kind: kind, FindingID: r.FindingID, By: ActorSweeper}); err != nil {
		// Not sent: give the lease back, so the next run tries again at once.
		s.Ledger.Annotate(ctx, r.FindingID, func(x *ledger.Record) { x.JobSentAt, x.Redrives = r.JobSentAt, r.Redrives })
		return fmt.Errorf("re-drive %s job: %w", kind, err)
	}
	s.Log.Info("stale job sent again", "findingId", r.FindingID, "status", string(r.Status), "redrive", leased.Redrives)
	rep.Redriven++
	return nil
}

// giveUp hands a record that re-drives did not move to a person: FAILED with the reason (its
// message offers Retry), or, for a release, QUARANTINED with a note (the object stays in
// quarantine; Release can be pressed again).
func (s *Sweeper) giveUp(ctx context.Context, r ledger.Record, rep *SweepReport) error {
	msg := fmt.Sprintf("no progress after %d re-drives by the sweeper (last activity %s); see the remediator's logs for finding %s, then press Retry",
		r.Redrives, LastActivity(r).UTC().Format(time.RFC3339), r.FindingID)
	to := ledger.Failed
	mayHaveCopy := r.Status == ledger.InProgress && !r.IsBucketFix()
	if mayHaveCopy {
		// The move may have copied (and even deleted the source) before its run died; the
		// sweeper has no S3 access to look. Mark it, so Dismiss is refused and Retry resumes
		// the move, which finds the copy and records it.
		msg = fmt.Sprintf("no progress after %d re-drives by the sweeper (last activity %s); the move may have started, so a quarantine copy may exist and the source may be gone. Press Retry to finish the quarantine or find the copy (see the remediator's logs for finding %s)",
			r.Redrives, LastActivity(r).UTC().Format(time.RFC3339), r.FindingID)
	}
	if r.Status == ledger.Undoing {
		// The undo may have restored the snapshot before its run died: pressing Undo again
		// finds it restored (a no-op) and records it.
		to = ledger.Fixed
		msg = fmt.Sprintf("undo: no progress after %d re-drives by the sweeper (last activity %s). The snapshot may already be restored; press Undo again to finish it and record the outcome (see the remediator's logs for finding %s)",
			r.Redrives, LastActivity(r).UTC().Format(time.RFC3339), r.FindingID)
	}
	if r.Status == ledger.Releasing {
		// The sweeper cannot see S3: the release may have finished (object restored, copy
		// removed) before its run died. Say so, and offer Release again: a re-run finds what
		// the first one did and records RELEASED.
		to = ledger.Quarantined
		msg = fmt.Sprintf("release: no progress after %d re-drives by the sweeper (last activity %s). The release may have finished: the object may be back in its bucket and the quarantine copy removed. Press Release again to finish it and record the outcome (see the remediator's logs for finding %s)",
			r.Redrives, LastActivity(r).UTC().Format(time.RFC3339), r.FindingID)
	}
	_, err := s.Ledger.Transition(ctx, r.FindingID, ledger.Change{From: r.Status, To: to, Actor: ActorSweeper, Reason: "stuck",
		Mutate: func(x *ledger.Record) {
			x.Error = msg
			if mayHaveCopy {
				x.MayHaveCopy = true
			}
		}})
	if errors.Is(err, ledger.ErrConflict) {
		return nil // it moved after all
	}
	if err != nil {
		return err
	}
	s.Log.Warn("stuck record handed to a person", "findingId", r.FindingID, "status", string(r.Status), "to", string(to))
	rep.GaveUp++
	return nil
}

// Redrive re-drives one finding now, whatever its age: the operator's `macie-chatops ledger
// redrive FINDING_ID`. It says what it did, or why there is nothing to do.
func (s *Sweeper) Redrive(ctx context.Context, id, by string) (string, error) {
	r, err := s.Ledger.Get(ctx, id)
	if err != nil {
		return "", err
	}
	switch r.Status {
	case ledger.Received:
		if err := s.findings().Resume(ctx, r); err != nil {
			return "", err
		}
		cur, _ := s.Ledger.Get(ctx, id)
		return fmt.Sprintf("carried out the policy's decision (%s): now %s", r.Action, cur.Status), nil
	case ledger.Queued, ledger.InProgress, ledger.Releasing, ledger.Undoing:
		kind := jobs.Remediate
		switch r.Status {
		case ledger.Releasing:
			kind = jobs.Release
		case ledger.Undoing:
			kind = jobs.Undo
		}
		if err := s.Jobs.Send(ctx, jobs.Job{Kind: kind, FindingID: id, By: by}); err != nil {
			return "", fmt.Errorf("send the %s job: %w", kind, err)
		}
		now := s.now()
		s.Ledger.Annotate(ctx, id, func(x *ledger.Record) { x.JobSentAt, x.Redrives = now.UTC(), x.Redrives+1 })
		return fmt.Sprintf("%s job sent again for a %s record (the move is idempotent)", kind, r.Status), nil
	case ledger.Failed, ledger.Blocked:
		if _, err := s.Ledger.Transition(ctx, id, ledger.Change{From: r.Status, To: ledger.Queued, Actor: by, Reason: "re-driven by an operator"}); err != nil {
			return "", err
		}
		if err := s.Jobs.Send(ctx, jobs.Job{Kind: jobs.Remediate, FindingID: id, By: by}); err != nil {
			return "", fmt.Errorf("queued, but the job could not be sent (the sweeper re-sends it): %w", err)
		}
		s.Ledger.Annotate(ctx, id, markJobSent(s.now()))
		return fmt.Sprintf("was %s: queued again for quarantine", r.Status), nil
	}
	return "", fmt.Errorf("finding %s is %s: nothing to re-drive (only RECEIVED, QUEUED, IN_PROGRESS, RELEASING, FAILED and BLOCKED are)", id, r.Status)
}
