package handlers

import (
	"context"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Two deliveries of the same fix job run at once (SQS delivers at least once). Delivery A is
// slow: it has passed every ledger check and is about to write when delivery B fixes the bucket
// and records FIXED, and an approver's Undo restores the snapshot (UNDONE). A's write then lands
// on the undone bucket (which is in the snapshot state again, so Apply's re-read lets it write):
// the bucket is fixed again while the ledger and the message say the fix was undone.
func TestAttackLateDuplicateApplyAfterUndo(t *testing.T) {
	st, hook := newAttackStack(t)
	j, before := startAuto(t, st, "late", "late-1")
	paused, release := make(chan struct{}), make(chan struct{})
	hook.apply = func(inner BucketFixer, ctx context.Context, p bucketfix.Plan) (bucketfix.Plan, error) {
		close(paused)
		<-release
		return inner.Apply(ctx, p)
	}
	done := make(chan error, 1)
	go func() { done <- st.remed.Run(st.ctx, j) }() // delivery A
	<-paused
	b := j
	b.Attempt = "second-delivery"
	if err := st.remed.Run(st.ctx, b); err != nil { // delivery B: resumes IN_PROGRESS, fixes
		t.Fatal(err)
	}
	if r := st.record("late-1"); r.Status != ledger.Fixed {
		t.Fatalf("B: %s", r.Status)
	}
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "late-1")
	st.drain()
	if r := st.record("late-1"); r.Status != ledger.Undone || st.setting(bucketfix.BlockPublicAccess, "late") != before {
		t.Fatalf("undo: %s", r.Status)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := st.record("late-1"); r.Status == ledger.Undone && st.setting(bucketfix.BlockPublicAccess, "late") != before {
		t.Fatalf("the ledger says UNDONE but the late delivery re-applied the fix: bucket %s, snapshot %s", st.setting(bucketfix.BlockPublicAccess, "late"), before)
	}
}
