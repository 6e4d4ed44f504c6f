package handlers

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// A person dismissed a REVIEW finding (or undid a fix); later the bucket was made private
// again, and then someone relaxes it again. Macie reports that as an update of the same finding
// (count+1, a new lastSeen, another actor). It is only an edit of the old, closed message: no
// new message, no fix, no REVIEW: an attacker who waited for one Dismiss was never acted on again.
// Now it is a new occurrence, which waits for a person (a person closed the previous one).
func TestAttackRelaxedAgainAfterDismissIsANewOccurrence(t *testing.T) {
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
	occ, err := st.ledger.Get(st.ctx, "dismissed-1#2")
	if err != nil || occ.Action != "REVIEW" {
		t.Fatalf("the new occurrence: %v %+v; want a REVIEW record", err, occ.Action)
	}
}
