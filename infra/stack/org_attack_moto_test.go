package stack

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
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
// deleted with the stack: the tool can no longer release those copies, which README's
// organization section does not say (reported, not fixed here).
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

// createMemberStack creates an account's member stack and reports how CloudFormation answered.
func (e *motoOrg) createMemberStack(ms memberStack) (cfntypes.StackStatus, string, error) {
	cfn := cloudformation.New(cloudformation.Options{Region: ms.region, Credentials: e.creds(ms.creds), BaseEndpoint: aws.String(e.endpoint)})
	var params []cfntypes.Parameter
	for _, k := range keys(e.params) {
		params = append(params, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(e.params[k])})
	}
	name := e.memberStackName(ms.account)
	if _, err := cfn.CreateStack(e.ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(e.body), Parameters: params,
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam}}); err != nil {
		return "", "", err
	}
	st, err := cfn.DescribeStacks(e.ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil || len(st.Stacks) != 1 {
		return "", "", err
	}
	return st.Stacks[0].StackStatus, aws.ToString(st.Stacks[0].StackStatusReason), nil
}
