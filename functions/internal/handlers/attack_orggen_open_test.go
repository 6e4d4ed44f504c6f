//go:build attack

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

// Open defects found by attacking the "generations" change; each test fails today. Run with
// `go test -tags attack -run TestAttackOrgOpen ./internal/handlers/`.

// An AUTO quarantine FAILED because the account had no member stack. Before the sweeper's
// re-drive, the policy is changed: that finding type is REVIEW now (a person must decide). The
// re-drive still carries out the old AUTO decision ("policy" passes the approval re-check, which
// only re-checks people): up to an hour after the decision, under a policy that no longer
// makes it. Before generations a FAILED record needed a person's Retry to run again.
func TestAttackOrgOpenRedriveAfterThePolicyStoppedAuto(t *testing.T) {
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

// A job pinned a retained bucket of an earlier generation (a warm container's stale cache) and
// its process died right after the IN_PROGRESS write. The redelivery is a resume, and a resume
// never leaves its pinned bucket on AccessDenied (a copy may be there): FAILED, pinned. But
// every Retry is a resume too, so it meets the same refusal, for ever: no click can finish the
// quarantine, and the message says only AccessDenied. Nothing was ever written to that bucket
// (every call on it was refused at the first, the versioning read), which the ledger could
// know if the refusal were recorded.
func TestAttackOrgOpenRefusedRetainedPinIsAFixedPoint(t *testing.T) {
	st, cf, res := orgStack(t, genA)
	a := st.genBucket(genA)
	if _, err := res.Bucket(st.ctx, "555555555555", "us-east-1", "quarantine-555555555555"); err != nil {
		t.Fatal(err)
	}
	cf.set(aws.String(stackID(genB)), nil)
	b := st.genBucket(genB)
	st.remed.Engine = deniedBucket{Mover: st.remed.Engine, bucket: a}
	id := st.autoFinding("attack/fixed-point.txt")
	j := <-st.queue
	if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator, Reason: "job started",
		Token: jobToken(j, ledger.InProgress), Mutate: func(r *ledger.Record) { r.QuarantineBucket = a }}); err != nil {
		t.Fatal(err)
	}
	st.remed.Run(st.ctx, j) // the redelivery
	for i := 0; i < 2; i++ {
		r := st.rec(id)
		if r.Status != ledger.Failed {
			break
		}
		if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: ledger.Failed, To: ledger.Queued, Actor: "U0ALICE", Reason: "retried in Slack"}); err != nil {
			t.Fatal(err)
		}
		retry := j
		retry.Attempt = ledger.NewToken()
		st.remed.Run(st.ctx, retry)
	}
	if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != b {
		t.Fatalf("after two Retries: %s pinned %q (%s)", r.Status, r.QuarantineBucket, r.Error)
	}
}
