package handlers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// A fix whose read-back never shows it (bucketfix.ErrUnverified on every run) is retried, not
// for ever: the sweeper re-drives the stale IN_PROGRESS record MaxRedrives times, then gives up
// with a FAILED record and a message a person can act on. The same for an Undo that never
// finishes: back to FIXED, saying the snapshot may already be restored.
func TestAttackUnverifiedRetriesAreBounded(t *testing.T) {
	st, hook := newAttackStack(t)
	unverified := func(inner BucketFixer, ctx context.Context, p bucketfix.Plan) (bucketfix.Plan, error) {
		inner.Apply(ctx, p)
		return p, fmt.Errorf("%w: S3 still shows the old setting", bucketfix.ErrUnverified)
	}
	j, _ := startAuto(t, st, "never", "never-1")
	hook.apply = unverified
	if err := st.remed.Run(st.ctx, j); err == nil {
		t.Fatal("an unverified fix was not retried")
	}
	clock := time.Now()
	st.sweeper.Now = func() time.Time { return clock }
	for i := 0; i <= MaxRedrives+1 && st.record("never-1").Status == ledger.InProgress; i++ {
		clock = clock.Add(StaleAfter + time.Minute)
		if _, err := st.sweeper.Run(st.ctx); err != nil {
			t.Fatal(err)
		}
		for _, job := range drainQueue(st) {
			hook.mu.Lock()
			hook.apply = unverified
			hook.mu.Unlock()
			st.remed.Run(st.ctx, job)
		}
	}
	r := st.record("never-1")
	if r.Status != ledger.Failed || !strings.Contains(r.Error, "re-drives") {
		t.Fatalf("after %d re-drives: %s %q", MaxRedrives, r.Status, r.Error)
	}
	if _, ok := st.message("never-1").button(slackmsg.ActionRetry); !ok {
		t.Fatalf("no Retry: %s", st.message("never-1").blocksText())
	}

	// The same for an Undo that never finishes.
	fixedAuto(t, st, "never-undo", "never-undo-1")
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "never-undo-1")
	failing := func(BucketFixer, context.Context, bucketfix.Plan) error {
		return fmt.Errorf("%w: S3 still shows the fix", bucketfix.ErrUnverified)
	}
	for i := 0; i <= MaxRedrives+1 && st.record("never-undo-1").Status == ledger.Undoing; i++ {
		for _, job := range drainQueue(st) {
			hook.mu.Lock()
			hook.undo = failing
			hook.mu.Unlock()
			if err := st.remed.Run(st.ctx, job); err == nil {
				t.Fatal("an unfinished undo was not retried")
			}
		}
		clock = clock.Add(StaleAfter + time.Minute)
		if _, err := st.sweeper.Run(st.ctx); err != nil {
			t.Fatal(err)
		}
	}
	r = st.record("never-undo-1")
	if r.Status != ledger.Fixed || !strings.Contains(r.Error, "may already be restored") {
		t.Fatalf("undo after %d re-drives: %s %q", MaxRedrives, r.Status, r.Error)
	}
}
