package stack

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// memberStackName is the name StackSets gives an account's stack (as deployMember names it).
func (e *motoOrg) memberStackName(account string) string {
	return "StackSet-" + StackSetName(e.cfg.Slug) + "-" + account
}

// leave deletes an account's member stack, as StackSets does when the account leaves the OUs
// (autoDeployment.retainStacksOnAccountRemoval false), when its OU is removed from the config
// (StackSetInstance retainStack false) and on `pulumi destroy`.
func (e *motoOrg) leave(ms memberStack) {
	e.t.Helper()
	cfn := cloudformation.New(cloudformation.Options{Region: ms.region, Credentials: e.creds(ms.creds), BaseEndpoint: aws.String(e.endpoint)})
	if _, err := cfn.DeleteStack(e.ctx, &cloudformation.DeleteStackInput{StackName: aws.String(e.memberStackName(ms.account))}); err != nil {
		e.t.Fatal(err)
	}
}

// An account that leaves the OUs (or whose OU is dropped from the config, or `pulumi destroy`)
// loses its member stack; what was quarantined there stays: the bucket with the copy, the key
// that decrypts it (enabled, not scheduled for deletion), and its alias. The quarantine role is
// deleted with the stack: the tool can release those copies again only if the account comes
// back (TestOrgAccountReturningToTheOUsIsCoveredAgain); until then they expire by the bucket's
// lifecycle (README, organization section).
func TestAttackOrgAccountLeavingTheOUsKeepsQuarantinedData(t *testing.T) {
	e := startMoto(t)
	e.generate(orgSetting)
	const a = "210987654321"
	ms := e.deployMember(a, "us-east-1")
	o := e.putData(ms)
	e.remediate(ms, "f-leave", quarantine.Object{AccountID: a, Region: ms.region, Bucket: o.bucket, Key: o.key, VersionID: o.version, ETag: o.etag, Size: int64(len(o.body))}, o.body)

	e.leave(ms)

	api := e.s3(ms.creds, ms.region)
	v, err := api.ListObjectVersions(e.ctx, &s3.ListObjectVersionsInput{Bucket: &ms.bucket})
	if err != nil {
		t.Fatalf("the quarantine bucket %s after the account left: %v", ms.bucket, err)
	}
	if len(v.Versions) != 1 {
		t.Errorf("the quarantine bucket holds %d versions after the account left, want the one copy", len(v.Versions))
	}
	k := kms.New(kms.Options{Region: ms.region, Credentials: e.creds(ms.creds), BaseEndpoint: aws.String(e.endpoint)})
	key, err := k.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String(ms.keyArn)})
	if err != nil {
		t.Fatalf("the quarantine key after the account left: %v", err)
	}
	if key.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		t.Errorf("the quarantine key is %s after the account left: the copies would become unreadable", key.KeyMetadata.KeyState)
	}
	al, err := k.ListAliases(e.ctx, &kms.ListAliasesInput{KeyId: aws.String(ms.keyArn)})
	if err != nil || len(al.Aliases) != 1 {
		t.Errorf("the key's alias after the account left: %v %+v", err, al)
	}
	im := iam.New(iam.Options{Region: ms.region, Credentials: e.creds(ms.creds), BaseEndpoint: aws.String(e.endpoint)})
	_, err = im.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String(QuarantineRoleName(e.cfg.Slug))})
	var nf *iamtypes.NoSuchEntityException
	if !errors.As(err, &nf) {
		t.Errorf("the quarantine role after the account left: %v, want it deleted with the stack", err)
	}
}

// An account that leaves the OUs and comes back (moved out and in again, its OU dropped from
// the config and added back, or `pulumi destroy` then `pulumi up`) gets a new member stack from
// the same template while its first stack's bucket, key and alias are retained. The new stack
// has a new AWS::StackId, so a new generation: it creates its bucket and alias beside the
// retained ones and completes, and the account is covered again with no one cleaning up. A
// quarantine through the new role lands in the new bucket; a copy quarantined before the account
// left is released from the retained bucket through the new role (its policy reaches every
// generation's bucket and key).
//
// moto 5.2.1's CloudFormation evaluates the generation as CloudFormation does (a Fn::Sub
// variable map whose value is Fn::Select/Fn::Split of AWS::StackId, a random UUID per stack:
// moto/cloudformation/parsing.py clean_json, utils.generate_stack_id). It does not evaluate IAM,
// bucket or key policies (deployMember names what else it does not do): that the new role may read, delete and decrypt in the retained bucket, and nothing
// beyond the generations, is the IAM decision table's part ("StackSet quarantine role,
// retained generation", TestIAMDecisions).
func TestOrgAccountReturningToTheOUsIsCoveredAgain(t *testing.T) {
	e := startMoto(t)
	e.generate(orgSetting)
	const a = "210987654321"
	first := e.deployMember(a, "us-east-1")
	o := e.putData(first)
	before := quarantine.Object{AccountID: a, Region: first.region, Bucket: o.bucket, Key: o.key, VersionID: o.version, ETag: o.etag, Size: int64(len(o.body))}
	kept := e.remediate(first, "f-before-leaving", before, o.body)

	e.leave(first)
	// deployMember fails the test unless the stack is CREATE_COMPLETE with its own generation's
	// bucket and alias.
	again := e.deployMember(a, "us-east-1")
	if again.generation == first.generation || again.bucket == first.bucket || again.keyArn == first.keyArn {
		t.Fatalf("the returning account's stack: generation %s, bucket %s, key %s; the first: %s, %s, %s: want new ones", again.generation, again.bucket, again.keyArn, first.generation, first.bucket, first.keyArn)
	}
	// The first generation's bucket still holds its copy, and its key its alias.
	api := e.s3(again.creds, again.region)
	if _, err := api.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: &first.bucket, Key: &kept.CopyKey, VersionId: &kept.CopyVersionID}); err != nil {
		t.Fatalf("the copy in the retained bucket %s: %v", first.bucket, err)
	}
	k := kms.New(kms.Options{Region: again.region, Credentials: e.creds(again.creds), BaseEndpoint: aws.String(e.endpoint)})
	al, err := k.ListAliases(e.ctx, &kms.ListAliasesInput{KeyId: aws.String(first.keyArn)})
	if want := QuarantineKeyAlias(e.cfg.Slug) + "-" + first.generation; err != nil || len(al.Aliases) != 1 || aws.ToString(al.Aliases[0].AliasName) != want {
		t.Errorf("the retained key's aliases: %v %+v, want %s", err, al, want)
	}

	// A new finding: quarantined through the new role into the new bucket (remediate checks
	// the copy is in again.bucket).
	put, err := api.PutObject(e.ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: aws.String("exports/more-cards.csv"), Body: bytes.NewReader(o.body)})
	if err != nil {
		t.Fatal(err)
	}
	e.remediate(again, "f-after-returning", quarantine.Object{AccountID: a, Region: again.region, Bucket: o.bucket, Key: "exports/more-cards.csv",
		VersionID: aws.ToString(put.VersionId), ETag: aws.ToString(put.ETag), Size: int64(len(o.body))}, o.body)

	// Release of the copy the first generation kept, through the new role.
	eng, _ := e.engine()
	rel, err := eng.Release(e.ctx, quarantine.ReleaseRequest{FindingID: "f-before-leaving", Object: before, CopyBucket: kept.CopyBucket, CopyKey: kept.CopyKey,
		CopyVersionID: kept.CopyVersionID, TombstoneVersion: kept.TombstoneVersion, DroppedTags: kept.DroppedTags, SourceEncryption: kept.SourceEncryption, By: "U123"})
	if err != nil || rel.Outcome != quarantine.Released {
		t.Fatalf("release from the retained bucket %s through the returning account's new role: %v %+v", first.bucket, err, rel)
	}
	got, err := api.GetObject(e.ctx, &s3.GetObjectInput{Bucket: &o.bucket, Key: &o.key})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(body, o.body) {
		t.Errorf("the released object differs from the one quarantined before the account left")
	}
	if _, err := api.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: &first.bucket, Key: &kept.CopyKey, VersionId: &kept.CopyVersionID}); err == nil {
		t.Errorf("the released copy is still in the retained bucket %s", first.bucket)
	}
}
