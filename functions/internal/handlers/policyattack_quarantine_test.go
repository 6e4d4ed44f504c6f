package handlers

import (
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
)

// A policy finding about the account's quarantine bucket (someone turned its Block Public
// Access off): the bucket-settings role must not be pointed at it (in AWS the quarantine
// bucket's policy denies it, and the person would read "access denied; is the role
// deployed?"); the record says the quarantine bucket is the stack's, to restore with pulumi up.
func TestAttackPolicyFindingOnTheQuarantineBucket(t *testing.T) {
	st, _ := newAttackStack(t)
	q := "quarantine-" + motoAccount
	st.mustBucket(q, true)
	bpaRelaxed(st, q)
	before := st.setting(bucketfix.BlockPublicAccess, q)
	st.process(st.policyEvent(bpaFixture, q, "qbucket-1")) // AUTO
	st.drain()
	r := st.record("qbucket-1")
	if st.setting(bucketfix.BlockPublicAccess, q) != before {
		t.Fatalf("the remediator changed the quarantine bucket's settings (%s %q)", r.Status, r.Error)
	}
	if !strings.Contains(r.Error+r.BucketFix.Outcome, "quarantine bucket") {
		t.Fatalf("the record does not say it is the quarantine bucket: %s %q", r.Status, r.Error)
	}
}
