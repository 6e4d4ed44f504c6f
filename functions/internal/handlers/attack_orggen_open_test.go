//go:build attack

package handlers

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// Open defects found by attacking the "generations" change; each test fails today. Run with
// `go test -tags attack -run TestAttackOrgOpen ./internal/handlers/`.

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
