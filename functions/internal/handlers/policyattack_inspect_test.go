package handlers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// A Block Public Access read that fails for a moment (throttling, a reset connection) while a
// REVIEW finding is inspected must not take the Fix away for good: the sweeper asks again, and the message then offers Fix.
func TestAttackInspectTransientFailureIsRetried(t *testing.T) {
	st, hook := newAttackStack(t)
	st.mustBucket("flaky", false)
	bpaRelaxed(st, "flaky")
	hook.inspect = func(BucketFixer, context.Context, bucketfix.Kind, string, bucketfix.Spec) (bucketfix.Plan, error) {
		return bucketfix.Plan{}, errors.New("bucketfix: GetPublicAccessBlock on bucket flaky: SlowDown: Please reduce your request rate (a repeat is safe)")
	}
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "flaky", "flaky-1")) // REVIEW
	for _, j := range drainQueue(st) {
		if err := st.remed.Run(st.ctx, j); err != nil {
			st.queue <- j // redelivered
		}
	}
	st.sweeper.Now = func() time.Time { return time.Now().Add(StaleAfter + time.Hour) }
	if _, err := st.sweeper.Run(st.ctx); err != nil {
		t.Fatal(err)
	}
	st.drain()
	if _, ok := st.message("flaky-1").button(slackmsg.ActionFix); !ok {
		r := st.record("flaky-1")
		t.Fatalf("no Fix after a transient read failure: %s outcome %q\n%s", r.Status, r.BucketFix.Outcome, st.message("flaky-1").blocksText())
	}
}
