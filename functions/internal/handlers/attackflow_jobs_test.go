package handlers

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Attack: two jobs for one finding at once. They happen: SQS standard queues deliver a message
// twice, the sweeper re-drives a job still waiting in a backlog, an operator runs `ledger redrive`
// (any age) or clicks Retry on a stale record whose first job is merely slow. Job B looks for an
// earlier copy (none yet), job A then copies and deletes the source, job B finds the source gone
// and records BLOCKED "object gone" before A records QUARANTINED; A's write then conflicts.
// Before the fix, B's record stood (BLOCKED, no copy location, Dismiss offered) while the only
// copy sat in quarantine. Now "object gone" is resumed once, and the resume finds A's copy.
func TestTwoJobsAtOnceRecordTheCopy(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/twice.csv")
	jobA := <-st.queue
	jobA.Attempt = "A"
	jobB := jobs.Job{Kind: jobs.Remediate, FindingID: id, By: ActorSweeper, Attempt: "B"}

	headB, writeA := newGate(), newGate()
	eng := quarantine.New(holdClients{Clients: &quarantine.StaticClients{Endpoint: st.s3.Endpoint,
		Accounts: map[string]aws.Credentials{"555555555555": {AccessKeyID: st.s3.AccessKey, SecretAccessKey: st.s3.SecretKey}}},
		run: "B", gate: headB}, quarantine.Options{})
	st.remed.Engine = eng
	st.remed.Ledger = holdLedger{Store: st.ledger, run: "A", to: ledger.Quarantined, gate: writeA}

	// Job A has started: the record is IN_PROGRESS (A's own transition).
	if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator, Token: jobToken(jobA, ledger.InProgress)}); err != nil {
		t.Fatal(err)
	}
	doneB := make(chan error, 1)
	go func() { doneB <- st.remed.Run(withRun(st.ctx, "B"), jobB) }() // B resumes: no copy yet…
	<-headB.reached                                                   // …and is about to look at the source
	doneA := make(chan error, 1)
	go func() { doneA <- st.remed.Run(withRun(st.ctx, "A"), jobA) }() // A copies and deletes
	<-writeA.reached                                                  // A is about to record QUARANTINED
	close(headB.release)                                              // B: the source is gone
	errB := <-doneB
	close(writeA.release)
	errA := <-doneA
	t.Logf("job B: %v; job A: %v", errB, errA)
	if errA != nil { // SQS redelivers A
		if err := st.remed.Run(st.ctx, jobA); err != nil {
			t.Fatalf("redelivered A: %v", err)
		}
	}
	st.sweepAt(0)
	r := st.rec(id)
	copyKey := quarantine.DestKey(quarantine.Object{AccountID: r.AccountID, Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionID})
	t.Logf("record %s (%s) copy recorded %q; source version exists: %v; quarantine copy exists: %v",
		r.Status, r.Error, r.QuarantineKey, st.exists("data-bucket", "pii/twice.csv", r.VersionID), st.exists("quarantine-555555555555", copyKey, ""))
	_, dismiss := m.button(slackmsg.ActionDismiss)
	if r.Status != ledger.Quarantined && !r.HasCopy() {
		t.Errorf("the object is in quarantine at s3://quarantine-555555555555/%s but the record is %s without its location (Slack offers Dismiss: %v): %q",
			copyKey, r.Status, dismiss, m.Text)
	}
	if r.Status != ledger.Quarantined || !strings.HasPrefix(m.Text, "Quarantined") || dismiss {
		t.Errorf("record %s, Slack shows %q (Dismiss offered: %v)", r.Status, m.Text, dismiss)
	}
	if _, ok := m.button(slackmsg.ActionRelease); !ok {
		t.Error("the quarantined message offers no Release")
	}
}

// The other side of that fix: an object deleted by its owner (no copy of this finding anywhere)
// is still BLOCKED "object gone" after the one resume, with nothing recorded as a copy.
func TestObjectGoneWithoutACopyIsStillBlocked(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/gone.csv")
	r := st.rec(id)
	if _, err := st.s3c.DeleteObject(st.ctx, &s3.DeleteObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("pii/gone.csv"), VersionId: aws.String(r.VersionID)}); err != nil {
		t.Fatal(err)
	}
	st.drain()
	r = st.rec(id)
	if r.Status != ledger.Blocked || r.HasCopy() || !strings.Contains(r.Error, "no longer exists") || !strings.HasPrefix(m.Text, "Not quarantined") {
		t.Fatalf("record %s copy %q error %q; Slack %q", r.Status, r.QuarantineKey, r.Error, m.Text)
	}
}
