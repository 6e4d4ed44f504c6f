package handlers

import (
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// TestUndoClickWhenTheQueueFails: the Undo click moved the record to UNDOING but its job could
// not be queued. UNDOING has no FAILED edge, so the handler puts it back to FIXED with the reason:
// the fix stays in place, nothing was restored, the message offers Undo again, and the next
// click (queue back) undoes it. No person has to find a record stuck in UNDOING.
func TestUndoClickWhenTheQueueFails(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	j, before := startAuto(t, st, "qdown", "qdown-1")
	if err := st.remed.Run(st.ctx, j); err != nil {
		t.Fatal(err)
	}
	fixed := st.setting(bucketfix.BlockPublicAccess, "qdown")
	q := &flakyQueue{fail: 1, next: st.queue}
	st.actions.Jobs = q
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "qdown-1")
	r := st.record("qdown-1")
	if r.Status != ledger.Fixed || !strings.Contains(r.Error, "could not queue the undo job") {
		t.Fatalf("after a lost undo job: %s %q\n%s", r.Status, r.Error, st.logs)
	}
	if got := st.setting(bucketfix.BlockPublicAccess, "qdown"); got != fixed {
		t.Fatalf("the bucket changed without a job: %s, want %s", got, fixed)
	}
	if _, ok := st.message("qdown-1").button(slackmsg.ActionUndo); !ok {
		t.Fatal("Undo not offered again")
	}
	undoAndCheck(t, st, "qdown-1", "qdown", before)
}
