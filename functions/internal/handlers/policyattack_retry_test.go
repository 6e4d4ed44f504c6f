package handlers

// See policyattack_test.go for the harness.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Undo wrote the snapshot back, but its answer was lost (or the read-back did not show it yet:
// ErrUnverified). The record must not go back to FIXED (its message "Fixed", with Undo) while S3
// shows the relaxed setting; the job is retried and the redelivery records UNDONE.
func TestAttackUndoAnswerLostAfterWrite(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"lost", errors.New("read tcp 127.0.0.1: connection reset by peer (the answer was lost)")},
		{"unverified", fmt.Errorf("%w: undo wrote block-public-access but S3 still shows the fix", bucketfix.ErrUnverified)},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, hook := newAttackStack(t)
			bucket, id := "undo-"+c.name, "undo-"+c.name+"-1"
			before := fixedAuto(t, st, bucket, id)
			st.clickOK("U0ALICE", slackmsg.ActionUndo, id)
			j := <-st.queue
			hook.undo = func(inner BucketFixer, ctx context.Context, p bucketfix.Plan) error {
				if err := inner.Undo(ctx, p); err != nil {
					return err
				}
				return c.err
			}
			runErr := st.remed.Run(st.ctx, j)
			if st.setting(bucketfix.BlockPublicAccess, bucket) != before {
				t.Fatal("the undo did not write (test setup)")
			}
			ledgerMatchesBucket(t, st, id, bucket)
			if runErr == nil {
				if r := st.record(id); r.Status != ledger.Undone {
					t.Fatalf("undo job finished with %s %q", r.Status, r.Error)
				}
				return
			}
			// Retried: the redelivery finds the snapshot restored and records it.
			if err := st.remed.Run(st.ctx, j); err != nil {
				t.Fatal(err)
			}
			if r := st.record(id); r.Status != ledger.Undone || st.message(id).blocksText() == "" || !strings.Contains(st.message(id).blocksText(), "Fix undone") {
				t.Fatalf("after the redelivery: %s %q", r.Status, r.Error)
			}
		})
	}
}

// Apply wrote the fix but the read-back did not show it yet (bucketfix.ErrUnverified: the
// documented answer is "run it again"). That is a retry, not a "Fix failed" shown to a person.
func TestAttackApplyUnverifiedIsRetried(t *testing.T) {
	st, hook := newAttackStack(t)
	j, _ := startAuto(t, st, "unverified", "unverified-1")
	hook.apply = func(inner BucketFixer, ctx context.Context, p bucketfix.Plan) (bucketfix.Plan, error) {
		res, err := inner.Apply(ctx, p)
		if err != nil {
			return res, err
		}
		return res, fmt.Errorf("%w: apply wrote block-public-access on bucket unverified but S3 now shows the old setting", bucketfix.ErrUnverified)
	}
	runErr := st.remed.Run(st.ctx, j)
	r := st.record("unverified-1")
	if r.Status == ledger.Failed {
		t.Fatalf("ErrUnverified shown to a person as a final failure: %s %q", r.Status, r.Error)
	}
	if runErr == nil {
		t.Fatalf("the job was not retried: %s", r.Status)
	}
	if err := st.remed.Run(st.ctx, j); err != nil { // the redelivery
		t.Fatal(err)
	}
	r = st.record("unverified-1")
	if r.Status != ledger.Fixed || !r.BucketFix.Changed || !isFixedBPA(st, "unverified") {
		t.Fatalf("after the redelivery: %s %+v", r.Status, r.BucketFix)
	}
}
