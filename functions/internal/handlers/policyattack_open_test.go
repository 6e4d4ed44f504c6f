//go:build attack

package handlers

// See policyattack_test.go for the harness.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// A Block Public Access read that fails for a moment (throttling, a reset connection) while a
// REVIEW finding is inspected must not take the Fix away for good: the message offers only
// Dismiss, and the sweeper never asks again.
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

// The bucket changed after the plan was stored: BLOCKED says "Retry to check again". A Retry
// must look at the bucket again (and offer the new before → after for approval), not apply the
// old plan again and answer BLOCKED for ever.
func TestAttackBlockedRetryChecksAgain(t *testing.T) {
	st, _ := newAttackStack(t)
	st.mustBucket("stale", false)
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "stale", "stale-1")) // REVIEW, plan: none → all on
	st.drain()
	bpaRelaxed(st, "stale") // someone else changes it
	st.clickOK("U0ALICE", slackmsg.ActionFix, "stale-1")
	st.drain()
	if r := st.record("stale-1"); r.Status != ledger.Blocked {
		t.Fatalf("%s", r.Status)
	}
	st.clickOK("U0ALICE", slackmsg.ActionRetry, "stale-1")
	st.drain()
	r := st.record("stale-1")
	if r.Status == ledger.Blocked {
		t.Fatalf("Retry applied the stale plan again and is BLOCKED again (%q): it can never succeed while the bucket stays %s",
			r.Error, st.setting(bucketfix.BlockPublicAccess, "stale"))
	}
}
