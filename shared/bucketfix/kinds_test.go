package bucketfix

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestEncryptionKeepsTheSSECBlock: the fix is about default encryption; a block on SSE-C
// uploads the bucket has (which moto does not model) stays in the configuration Apply writes.
func TestEncryptionKeepsTheSSECBlock(t *testing.T) {
	cur := sse(types.ServerSideEncryptionAes256, "", false)
	cur.Rules[0].BlockedEncryptionTypes = &types.BlockedEncryptionTypes{EncryptionType: []types.EncryptionType{types.EncryptionTypeSseC}}
	before, err := snap(DefaultEncryption, "b", cur)
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := encOps.target(context.Background(), before, Spec{Encryption: Encryption{Algorithm: "aws:kms", KMSKeyID: kmsKey, BucketKey: true}})
	if err != nil {
		t.Fatal(err)
	}
	var c types.ServerSideEncryptionConfiguration
	if err := json.Unmarshal(after, &c); err != nil {
		t.Fatal(err)
	}
	r := c.Rules[0]
	if r.BlockedEncryptionTypes == nil || len(r.BlockedEncryptionTypes.EncryptionType) != 1 || r.BlockedEncryptionTypes.EncryptionType[0] != types.EncryptionTypeSseC {
		t.Fatalf("after %s: the SSE-C block is gone", after)
	}
	if r.ApplyServerSideEncryptionByDefault.SSEAlgorithm != types.ServerSideEncryptionAwsKms || !aws.ToBool(r.BucketKeyEnabled) {
		t.Fatalf("after %s: want aws:kms with bucket key", after)
	}
}

// TestSameTreatsUnsetAsFalse: S3 may leave a flag out or send false; both are the same state,
// so a plan made from one is not refused when S3 answers with the other.
func TestSameTreatsUnsetAsFalse(t *testing.T) {
	a, _ := snap(BlockPublicAccess, "b", &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true)})
	b, _ := snap(BlockPublicAccess, "b", bpa(true, false, false, false))
	c, _ := snap(BlockPublicAccess, "b", bpa(true, true, false, false))
	none := Snapshot{Kind: BlockPublicAccess, Bucket: "b"}
	allOff, _ := snap(BlockPublicAccess, "b", bpa(false, false, false, false))
	for _, tc := range []struct {
		x, y Snapshot
		want bool
	}{{a, b, true}, {a, c, false}, {none, none, true}, {none, allOff, false}} {
		if got, err := same(bpaOps, tc.x, tc.y); err != nil || got != tc.want {
			t.Errorf("same(%s, %s) = %v, %v; want %v", tc.x.Raw, tc.y.Raw, got, err, tc.want)
		}
	}
}

// TestFixerWithoutClient: a Fixer built without a client answers with an error, not a panic.
func TestFixerWithoutClient(t *testing.T) {
	var nilFixer *Fixer
	for _, f := range []*Fixer{nilFixer, {}} {
		if _, err := f.Inspect(context.Background(), BlockPublicAccess, "b", Spec{}); err == nil {
			t.Error("Inspect without a client: no error")
		}
		if _, err := f.Apply(context.Background(), Plan{}); err == nil {
			t.Error("Apply without a client: no error")
		}
		if err := f.Undo(context.Background(), Plan{}); err == nil {
			t.Error("Undo without a client: no error")
		}
	}
}
