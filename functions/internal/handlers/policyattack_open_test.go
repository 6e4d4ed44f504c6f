//go:build attack

package handlers

// See policyattack_test.go for the harness.

import (
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// OPEN (design): the bucket changed after the plan was stored: BLOCKED. The message now says Retry
// re-applies the same approved plan (it used to say "Retry to check again"). A Retry that re-inspects
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
