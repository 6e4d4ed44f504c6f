package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Attacks on the "generations" change of organization mode: who can make the sweeper's
// re-drive of a FAILED record run a quarantine, and whether its bound holds.

// Only a FAILED whose last transition is the remediator's "no member stack" is queued again by
// the sweeper. Any other FAILED (the move failed, the approval was withdrawn, the sweeper gave
// up), a record a person dismissed, and one never approved stay as they are: nothing but a
// person's click may queue them.
func TestAttackOrgSweeperRedrivesOnlyNoStackFailures(t *testing.T) {
	type step struct {
		from, to      ledger.Status
		actor, reason string
	}
	for _, tc := range []struct {
		name   string
		review bool // a REVIEW finding (NOTIFIED, waiting for a person), not an AUTO one (QUEUED)
		steps  []step
		redone bool
	}{
		{name: "no member stack (control)", steps: []step{{ledger.Queued, ledger.Failed, ActorRemediator, reasonNoMemberStack}}, redone: true},
		{name: "quarantine failed", steps: []step{{ledger.Queued, ledger.InProgress, ActorRemediator, "job started"}, {ledger.InProgress, ledger.Failed, ActorRemediator, "quarantine failed"}}},
		{name: "approval withdrawn", steps: []step{{ledger.Queued, ledger.Failed, ActorRemediator, "approval withdrawn"}}},
		{name: "sweeper gave up", steps: []step{{ledger.Queued, ledger.Failed, ActorSweeper, "stuck"}}},
		{name: "no member stack, then the move failed", steps: []step{
			{ledger.Queued, ledger.Failed, ActorRemediator, reasonNoMemberStack}, {ledger.Failed, ledger.Queued, "U0ALICE", "retried in Slack"},
			{ledger.Queued, ledger.InProgress, ActorRemediator, "job started"}, {ledger.InProgress, ledger.Failed, ActorRemediator, "quarantine failed"}}},
		{name: "no member stack, then dismissed", steps: []step{
			{ledger.Queued, ledger.Failed, ActorRemediator, reasonNoMemberStack}, {ledger.Failed, ledger.Dismissed, "U0ALICE", "dismissed in Slack"}}},
		{name: "review never approved", review: true},
		{name: "review dismissed", review: true, steps: []step{{ledger.Notified, ledger.Dismissed, "U0ALICE", "dismissed in Slack"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, _ := orgStack(t, genA)
			b := st.genBucket(genA)
			var id string
			if tc.review {
				id, _ = st.postReview("attack/" + strings.ReplaceAll(tc.name, " ", "-") + ".csv")
			} else {
				id = st.autoFinding("attack/" + strings.ReplaceAll(tc.name, " ", "-") + ".txt")
				<-st.queue // the AUTO job is lost: only the steps below happen to the record
			}
			for _, s := range tc.steps {
				if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: s.from, To: s.to, Actor: s.actor, Reason: s.reason}); err != nil {
					t.Fatalf("setup %s→%s: %v", s.from, s.to, err)
				}
			}
			before := st.rec(id)
			for i := 1; i <= MaxRedrives+1; i++ {
				st.sweepAt(time.Duration(i) * (StaleAfter + time.Minute))
				st.drain()
			}
			r := st.rec(id)
			if tc.redone {
				if r.Status != ledger.Quarantined || r.QuarantineBucket != b {
					t.Fatalf("control: the no-member-stack FAILED was not finished by the re-drive: %s (%s)", r.Status, r.Error)
				}
				return
			}
			if r.Status != before.Status || len(r.History) != len(before.History) || !st.exists("data-bucket", r.Key, r.VersionID) || st.copies(b) != 0 {
				t.Fatalf("the sweeper acted on a record no one asked it to: %s → %s, %d → %d entries (last: %+v)",
					before.Status, r.Status, len(before.History), len(r.History), r.History[len(r.History)-1])
			}
		})
	}
}

func noStackRedrives(r ledger.Record) int {
	n := 0
	for _, e := range r.History {
		if e.To == ledger.Queued && e.Actor == ActorSweeper {
			n++
		}
	}
	return n
}

// The sweeper's re-drive crashes between the ledger write (QUEUED) and the queue send: the record
// is left QUEUED with no job. The stale-job re-drive sends it later, it runs once the stack is
// there, and the approver it names is still the person who clicked, not the sweeper.
func TestAttackOrgNoStackRedriveLostSend(t *testing.T) {
	st, cf, _ := orgStack(t, "")
	id, m := st.postReview("attack/lost-send.csv")
	if r := st.clickVia(slackmsg.ActionRemediate, id, m, ""); r.Status != 200 {
		t.Fatalf("click: %d", r.Status)
	}
	st.drain()
	if r := st.rec(id); r.Status != ledger.Failed {
		t.Fatalf("setup: %s", r.Status)
	}
	q := &flakyQueue{fail: 1, next: st.queue}
	st.sweeper.Jobs = q
	rep := st.sweepAt(StaleAfter + time.Minute)
	if r := st.rec(id); r.Status != ledger.Queued || len(st.queue) != 0 || rep.Errors != 1 {
		t.Fatalf("the crashed re-drive left %s, %d jobs, %+v", r.Status, len(st.queue), rep)
	}
	cf.set(aws.String(stackID(genA)), nil)
	b := st.genBucket(genA)
	for i := 2; i <= 3 && st.rec(id).Status == ledger.Queued; i++ {
		st.sweepAt(time.Duration(i) * (StaleAfter + time.Minute))
		st.drain()
	}
	r := st.rec(id)
	if r.Status != ledger.Quarantined || r.QuarantineBucket != b || slackmsg.ApprovedBy(r) != "U0ALICE" {
		t.Fatalf("after the lost send: %s in %q approved by %q (%s)", r.Status, r.QuarantineBucket, slackmsg.ApprovedBy(r), r.Error)
	}
	if n := noStackRedrives(r); n != 1 {
		t.Fatalf("%d no-member-stack re-drives, want 1", n)
	}
}

// An AUTO quarantine FAILED because the account had no member stack. Before the sweeper's
// re-drive, the policy is changed: that finding type is REVIEW now (a person must decide). The
// re-drive carried out the old AUTO decision ("policy" passed the approval re-check, which only
// re-checks people), under a policy that no longer makes it. It stops now (Sweeper.stillDecided):
// the record stays FAILED with Retry, for a person.
func TestAttackOrgRedriveStopsWhenThePolicyChanged(t *testing.T) {
	st, cf, _ := orgStack(t, "")
	id := st.autoFinding("attack/auto-then-review.txt")
	st.drain()
	if r := st.rec(id); r.Status != ledger.Failed || slackmsg.ApprovedBy(r) != ledger.ActorPolicy {
		t.Fatalf("setup: %s by %q", r.Status, slackmsg.ApprovedBy(r))
	}
	pol, err := policy.Parse([]byte(strings.Replace(testPolicy, "SensitiveData:S3Object/Credentials: AUTO", "SensitiveData:S3Object/Credentials: REVIEW", 1)), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.remed.Policy, st.sweeper.Policy = pol, pol
	cf.set(aws.String(stackID(genA)), nil)
	b := st.genBucket(genA)
	st.sweepAt(StaleAfter + time.Minute)
	st.drain()
	if r := st.rec(id); r.Status == ledger.Quarantined || st.copies(b) != 0 {
		t.Fatalf("an AUTO decision the current policy no longer makes was carried out by the sweeper's re-drive: %s in %q", r.Status, r.QuarantineBucket)
	}
}
