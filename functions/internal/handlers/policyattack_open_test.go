//go:build attack

package handlers

// See policyattack_test.go for the harness.

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

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

// A person dismissed a REVIEW finding (or undid a fix); later the bucket was made private
// again, and then someone relaxes it again. Macie reports that as an update of the same finding
// (count+1, a new lastSeen, another actor). It is only an edit of the old, closed message: no
// new message, no fix, no REVIEW. An attacker who waits for one Dismiss is never acted on again.
func TestAttackRelaxedAgainAfterDismissIsSilent(t *testing.T) {
	st, _ := newAttackStack(t)
	st.mustBucket("dismissed", false)
	bpaRelaxed(st, "dismissed")
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "dismissed", "dismissed-1")) // REVIEW
	st.drain()
	st.clickOK("U0ALICE", slackmsg.ActionDismiss, "dismissed-1")
	st.drain()
	msgs := st.slack.count()
	// Fixed by hand, then relaxed again by an attacker.
	if _, err := st.s3c.PutPublicAccessBlock(st.ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("dismissed"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	bpaRelaxed(st, "dismissed")
	st.process(st.policyEventWith("constructed-policy-S3BucketPublic.json", "dismissed", "dismissed-1",
		update(2, time.Now().Add(time.Minute), "arn:aws:sts::"+motoAccount+":assumed-role/attacker/s")))
	st.drain()
	if st.slack.count() == msgs {
		if _, err := st.ledger.Get(st.ctx, "dismissed-1#2"); err != nil {
			t.Fatalf("the bucket was relaxed again after the Dismiss: no new message, no occurrence (bucket %s)", st.setting(bucketfix.BlockPublicAccess, "dismissed"))
		}
	}
}
