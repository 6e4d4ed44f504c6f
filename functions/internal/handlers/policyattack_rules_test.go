package handlers

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Replication rule IDs and destination bucket ARNs are whatever the bucket's owner wrote: a
// hostile rule ID reaches the before → after text, the notes and the Fix confirmation only
// escaped, and the fix still disables exactly the external rule and Undo restores it.
func TestAttackHostileReplicationRuleText(t *testing.T) {
	st, _ := newAttackStack(t)
	bucket := "hostile-rules"
	st.mustBucket(bucket, true)
	st.mustBucket(bucket+"-dest", true)
	role := "arn:aws:iam::" + motoAccount + ":role/replication"
	hostile := "<!channel> <https://evil.example|approve me> `x`"
	if _, err := st.s3c.PutBucketReplication(st.ctx, &s3.PutBucketReplicationInput{Bucket: aws.String(bucket), ReplicationConfiguration: &types.ReplicationConfiguration{
		Role: &role,
		Rules: []types.ReplicationRule{
			{ID: aws.String(hostile), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled, Filter: &types.ReplicationRuleFilter{Prefix: aws.String("b/")},
				DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
				Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::elsewhere"), Account: aws.String("210987654321")}},
		}}}); err != nil {
		t.Fatal(err)
	}
	before := st.setting(bucketfix.ExternalReplication, bucket)
	st.process(st.policyEvent("constructed-policy-S3BucketReplicatedExternally.json", bucket, "rules-1")) // REVIEW
	st.drain()
	m := st.message("rules-1")
	text := m.blocksText() + "\n" + m.Text
	if !strings.Contains(text, "&lt;!channel&gt;") {
		t.Fatalf("the rule is not shown:\n%s", text)
	}
	for _, bad := range []string{"<!channel>", "<https://evil", "`x`"} {
		if strings.Contains(text, bad) {
			t.Fatalf("hostile rule text %q reached the message unescaped:\n%s", bad, text)
		}
	}
	st.clickOK("U0ALICE", slackmsg.ActionFix, "rules-1")
	st.drain()
	if r := st.record("rules-1"); r.Status != ledger.Fixed || !strings.Contains(st.setting(bucketfix.ExternalReplication, bucket), `"Status":"Disabled"`) {
		t.Fatalf("fix: %s %q, %s", r.Status, r.Error, st.setting(bucketfix.ExternalReplication, bucket))
	}
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "rules-1")
	st.drain()
	if got := st.setting(bucketfix.ExternalReplication, bucket); got != before {
		t.Fatalf("undo restored %s, want %s", got, before)
	}
}
