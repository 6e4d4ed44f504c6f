package handlers

// See policyattack_test.go for the harness.

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Two occurrences of the same bucket and setting: the first fixed (snapshot R1), the attacker
// relaxes it differently (R2), the second fixed (snapshot R2). An Undo of the first must not
// restore R1 over the second's fix: the second would say FIXED over a relaxed bucket.
func TestAttackUndoOfSupersededOccurrence(t *testing.T) {
	st, _ := newAttackStack(t)
	st.findings.BucketRoleName = ownRoleName
	fixedAuto(t, st, "super", "super-1")
	// R2: a different relaxation.
	if _, err := st.s3c.PutPublicAccessBlock(st.ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("super"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(false), IgnorePublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	st.process(st.policyEventWith(bpaFixture, "super", "super-1", update(2, time.Now().Add(time.Second), "")))
	st.drain()
	if r := st.record("super-1#2"); r.Status != ledger.Fixed {
		t.Fatalf("second occurrence: %s %q", r.Status, r.Error)
	}
	if resp := st.click("U0ALICE", slackmsg.ActionUndo, "super-1", st.record("super-1").Channel, st.record("super-1").MessageTS); resp.Status != 200 {
		t.Fatalf("%+v", resp)
	}
	st.drain()
	ledgerMatchesBucket(t, st, "super-1#2", "super")
	if r := st.record("super-1"); r.Status != ledger.Fixed || !strings.Contains(r.Error, "super-1#2") || !strings.Contains(st.message("super-1").blocksText(), "later fix") {
		t.Fatalf("the refused undo does not say why: %s %q", r.Status, r.Error)
	}
	// Undoing the later fix still restores its own snapshot (R2).
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "super-1#2")
	st.drain()
	if r := st.record("super-1#2"); r.Status != ledger.Undone || !strings.Contains(st.setting(bucketfix.BlockPublicAccess, "super"), `"IgnorePublicAcls":true`) {
		t.Fatalf("undo of the later fix: %s %q, bucket %s", r.Status, r.Error, st.setting(bucketfix.BlockPublicAccess, "super"))
	}
}
