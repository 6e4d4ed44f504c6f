package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/naming"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// motoSecurity is moto's default account, which the moto tests use as the security account
// (the central stack, the StackSets administrator and, for Organizations, the management
// account).
const motoSecurity = "123456789012"

// motoOrg is a moto server seen from the security account.
type motoOrg struct {
	t        *testing.T
	ctx      context.Context
	endpoint string
	root     aws.Credentials
	sts      *sts.Client
	// The member template and the parameters the StackSet passes.
	body   string
	params map[string]string
	tmpl   map[string]any
	cfg    *Config
	srv    *testenv.Server
}

// startMoto starts moto, seen from the security account.
func startMoto(t *testing.T) *motoOrg {
	t.Helper()
	srv := testenv.Moto(t)
	e := &motoOrg{t: t, ctx: testenv.Context(t), endpoint: srv.Endpoint, srv: srv,
		root: aws.Credentials{AccessKeyID: "AKIAMOTOSECURITY", SecretAccessKey: "secret"}, params: map[string]string{}}
	e.sts = sts.New(sts.Options{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: e.root}, BaseEndpoint: aws.String(e.endpoint)})
	return e
}

// generate runs the program for a standalone-mode organization stack (so the template carries
// the forwarder too) whose security account is moto's, and keeps its member template and the
// parameters its StackSet passes.
func (e *motoOrg) generate(org string) {
	t := e.t
	t.Helper()
	m, cfg, err := deployOrg(t, org, map[string]string{"macie-chatops:macieMode": MacieStandalone, "macie-chatops:securityAccountId": motoSecurity}, defaultMembers[:1])
	if err != nil {
		t.Fatal(err)
	}
	ss, _ := stackSetOf(t, m)
	e.cfg, e.body = cfg, str(ss.inputs["templateBody"])
	for k, v := range ss.inputs["parameters"].ObjectValue() {
		e.params[string(k)] = str(v)
	}
	if err := json.Unmarshal([]byte(e.body), &e.tmpl); err != nil {
		t.Fatal(err)
	}
}

func (e *motoOrg) creds(c aws.Credentials) aws.CredentialsProvider {
	return credentials.StaticCredentialsProvider{Value: c}
}

// as is a session in another account: StackSets deploys a member's stack with the
// stacksets-exec role there (moto does not check that the role exists or trusts us).
func (e *motoOrg) as(account, role string) aws.Credentials {
	e.t.Helper()
	out, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + account + ":role/" + role), RoleSessionName: aws.String("test")})
	if err != nil {
		e.t.Fatal(err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}
}

func (e *motoOrg) s3(c aws.Credentials, region string) *s3.Client {
	return quarantine.NewS3Client(e.endpoint, c, region)
}

// resource is a template resource's properties, resolved for one stack instance (its account,
// region and stack id).
func (e *motoOrg) resource(logical string, ms memberStack) map[string]any {
	e.t.Helper()
	r, ok := e.tmpl["Resources"].(map[string]any)[logical].(map[string]any)
	if !ok {
		e.t.Fatalf("the template has no %s", logical)
	}
	vars := map[string]string{"AWS::Partition": "aws", "AWS::AccountId": ms.account, "AWS::Region": ms.region, "AWS::StackId": ms.stackID}
	for k, v := range e.params {
		vars[k] = v
	}
	return resolved(e.t, r["Properties"], vars).(map[string]any)
}

// memberStack is what CloudFormation created for one account and region.
type memberStack struct {
	account, region string
	creds           aws.Credentials // the deployer's (stacksets-exec) session in the account
	physical        map[string]string
	bucket, keyArn  string
	// stackID is the stack's AWS::StackId; generation is its generation, which names the
	// quarantine bucket and key alias (naming.Generation).
	stackID, generation string
}

// deployMember creates the member template as a stack in one account and region, with the
// StackSet's parameters, as a StackSet instance would, and checks it completed. Then it applies
// what moto's CloudFormation does not implement (named in the log), from the template's own
// properties, so the rest of the test runs on the resources the template describes:
//   - AWS::S3::BucketPolicy is not a resource type moto's CloudFormation knows (it skips it with
//     a warning): applied with PutBucketPolicy.
//   - AWS::S3::Bucket: moto applies only BucketName, BucketEncryption and Tags; the template's
//     VersioningConfiguration, PublicAccessBlockConfiguration, LifecycleConfiguration and
//     OwnershipControls are applied with their S3 calls (the engine refuses an unversioned
//     quarantine bucket, so without this no move would run).
func (e *motoOrg) deployMember(account, region string) memberStack {
	e.t.Helper()
	ms := memberStack{account: account, region: region, creds: e.as(account, "stacksets-exec-0123456789abcdef"), physical: map[string]string{}}
	cfn := cloudformation.New(cloudformation.Options{Region: region, Credentials: e.creds(ms.creds), BaseEndpoint: aws.String(e.endpoint)})
	var params []cfntypes.Parameter
	for _, k := range keys(e.params) {
		params = append(params, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(e.params[k])})
	}
	name := "StackSet-" + StackSetName(e.cfg.Slug) + "-" + account
	if _, err := cfn.CreateStack(e.ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(e.body), Parameters: params,
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam}}); err != nil {
		e.t.Fatalf("create the member template's stack in %s %s: %v", account, region, err)
	}
	st, err := cfn.DescribeStacks(e.ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil || len(st.Stacks) != 1 {
		e.t.Fatalf("describe %s: %v", name, err)
	}
	if s := st.Stacks[0].StackStatus; s != cfntypes.StackStatusCreateComplete {
		e.t.Fatalf("stack %s in %s %s: %s (%s)", name, account, region, s, aws.ToString(st.Stacks[0].StackStatusReason))
	}
	ms.stackID = aws.ToString(st.Stacks[0].StackId)
	if ms.generation, err = naming.Generation(ms.stackID); err != nil {
		e.t.Fatal(err)
	}
	res, err := cfn.ListStackResources(e.ctx, &cloudformation.ListStackResourcesInput{StackName: aws.String(name)})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res.StackResourceSummaries {
		ms.physical[aws.ToString(r.LogicalResourceId)] = aws.ToString(r.PhysicalResourceId)
	}
	ms.bucket = ms.physical[LogicalBucket]
	if want := naming.OrgQuarantineBucket(e.cfg.Policy.QuarantineFor(account, region).Bucket, ms.generation); ms.bucket != want {
		e.t.Fatalf("%s %s: quarantine bucket %q, want the policy's with the stack's generation, %q (resources %v)", account, region, ms.bucket, want, ms.physical)
	}

	api := e.s3(ms.creds, region)
	props := e.resource(LogicalBucket, ms)
	e.t.Logf("moto's CloudFormation does not implement AWS::S3::BucketPolicy nor the bucket's VersioningConfiguration, PublicAccessBlockConfiguration, LifecycleConfiguration, OwnershipControls: applied from the template with S3 calls")
	pol, _ := json.Marshal(e.resource(LogicalBucketPolicy, ms)["PolicyDocument"])
	must(e.t, "versioning", func() error {
		_, err := api.PutBucketVersioning(e.ctx, &s3.PutBucketVersioningInput{Bucket: &ms.bucket, VersioningConfiguration: &s3types.VersioningConfiguration{
			Status: s3types.BucketVersioningStatus(props["VersioningConfiguration"].(map[string]any)["Status"].(string))}})
		return err
	})
	pab := props["PublicAccessBlockConfiguration"].(map[string]any)
	must(e.t, "public access block", func() error {
		_, err := api.PutPublicAccessBlock(e.ctx, &s3.PutPublicAccessBlockInput{Bucket: &ms.bucket, PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(pab["BlockPublicAcls"].(bool)), BlockPublicPolicy: aws.Bool(pab["BlockPublicPolicy"].(bool)),
			IgnorePublicAcls: aws.Bool(pab["IgnorePublicAcls"].(bool)), RestrictPublicBuckets: aws.Bool(pab["RestrictPublicBuckets"].(bool))}})
		return err
	})
	rule := props["LifecycleConfiguration"].(map[string]any)["Rules"].([]any)[0].(map[string]any)
	days := func(v any) *int32 { return aws.Int32(int32(v.(float64))) }
	must(e.t, "lifecycle", func() error {
		_, err := api.PutBucketLifecycleConfiguration(e.ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &ms.bucket, LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{
			Rules: []s3types.LifecycleRule{{ID: aws.String(rule["Id"].(string)), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
				Expiration:                     &s3types.LifecycleExpiration{Days: days(rule["ExpirationInDays"])},
				NoncurrentVersionExpiration:    &s3types.NoncurrentVersionExpiration{NoncurrentDays: days(rule["NoncurrentVersionExpiration"].(map[string]any)["NoncurrentDays"])},
				AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: days(rule["AbortIncompleteMultipartUpload"].(map[string]any)["DaysAfterInitiation"])}}}}})
		return err
	})
	must(e.t, "ownership controls", func() error {
		_, err := api.PutBucketOwnershipControls(e.ctx, &s3.PutBucketOwnershipControlsInput{Bucket: &ms.bucket, OwnershipControls: &s3types.OwnershipControls{
			Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}}}})
		return err
	})
	must(e.t, "bucket policy", func() error {
		_, err := api.PutBucketPolicy(e.ctx, &s3.PutBucketPolicyInput{Bucket: &ms.bucket, Policy: aws.String(string(pol))})
		return err
	})

	// What CloudFormation created, as AWS reports it.
	k := kms.New(kms.Options{Region: region, Credentials: e.creds(ms.creds), BaseEndpoint: aws.String(e.endpoint)})
	// moto 5.2.1's CloudFormation keeps a KeyPolicy given as a JSON object (as CloudFormation
	// documents it, and as the template gives it) unserialized, and its DescribeKey then fails
	// with a TypeError (HTTP 500): the template's key policy is put back as a string.
	e.t.Logf("moto's CloudFormation stores an object KeyPolicy unserialized (DescribeKey then answers 500): put back from the template with PutKeyPolicy")
	kpol, _ := json.Marshal(e.resource(LogicalQuarantineKey, ms)["KeyPolicy"])
	must(e.t, "key policy", func() error {
		_, err := k.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(ms.physical[LogicalQuarantineKey]), PolicyName: aws.String("default"), Policy: aws.String(string(kpol))})
		return err
	})
	key, err := k.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String(ms.physical[LogicalQuarantineKey])})
	if err != nil {
		e.t.Fatalf("quarantine key %q: %v\nmoto: %s", ms.physical[LogicalQuarantineKey], err, tail(e.srv.Log(), 3000))
	}
	ms.keyArn = aws.ToString(key.KeyMetadata.Arn)
	if !strings.Contains(ms.keyArn, ":"+region+":"+account+":key/") {
		e.t.Errorf("key %s is not in %s %s", ms.keyArn, account, region)
	}
	kp, err := k.GetKeyPolicy(e.ctx, &kms.GetKeyPolicyInput{KeyId: key.KeyMetadata.KeyId, PolicyName: aws.String("default")})
	if err != nil {
		e.t.Fatal(err)
	}
	e.sameGrants("key policy", account, region, aws.ToString(kp.Policy), e.resource(LogicalQuarantineKey, ms)["KeyPolicy"])
	aliases, err := k.ListAliases(e.ctx, &kms.ListAliasesInput{KeyId: key.KeyMetadata.KeyId})
	if err != nil {
		e.t.Fatal(err)
	}
	if want := QuarantineKeyAlias(e.cfg.Slug) + "-" + ms.generation; len(aliases.Aliases) != 1 || aws.ToString(aliases.Aliases[0].AliasName) != want {
		e.t.Errorf("%s %s: the key's aliases %+v, want %s (the role's policy grants the key by it)", account, region, aliases.Aliases, want)
	}
	enc, err := api.GetBucketEncryption(e.ctx, &s3.GetBucketEncryptionInput{Bucket: &ms.bucket})
	if err != nil {
		e.t.Fatal(err)
	}
	if r := enc.ServerSideEncryptionConfiguration.Rules; len(r) != 1 || r[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAwsKms ||
		aws.ToString(r[0].ApplyServerSideEncryptionByDefault.KMSMasterKeyID) != ms.keyArn {
		e.t.Errorf("%s: bucket encryption %+v, want aws:kms with %s", ms.bucket, r, ms.keyArn)
	}
	bp, err := api.GetBucketPolicy(e.ctx, &s3.GetBucketPolicyInput{Bucket: &ms.bucket})
	if err != nil {
		e.t.Fatal(err)
	}
	e.sameGrants("bucket policy", account, region, aws.ToString(bp.Policy), e.resource(LogicalBucketPolicy, ms)["PolicyDocument"])
	// moto 5.2.1 applies a bucket policy's Deny statements to object requests without knowing
	// the caller (its policy evaluation has no aws:PrincipalArn), so "deny object writes to all
	// but the quarantine role" denies the quarantine role too (403 on CopyObject). The policy
	// was compared above; the decision table evaluates it with the caller (TestIAMDecisions).
	e.t.Logf("moto evaluates bucket-policy Deny statements without the caller's aws:PrincipalArn (the quarantine role would get 403): bucket policy removed after the comparison")
	must(e.t, "delete bucket policy", func() error {
		_, err := api.DeleteBucketPolicy(e.ctx, &s3.DeleteBucketPolicyInput{Bucket: &ms.bucket})
		return err
	})

	// The quarantine and bucket-settings roles: created once per account, by the home region's
	// stack only, with the template's trust and inline policy.
	im := iam.New(iam.Options{Region: region, Credentials: e.creds(ms.creds), BaseEndpoint: aws.String(e.endpoint)})
	home := region == e.cfg.Organization.HomeRegion(e.cfg.Region)
	for _, r := range []struct{ logical, name, policy string }{
		{LogicalQuarantineRole, QuarantineRoleName(e.cfg.Slug), "quarantine"},
		{LogicalBucketSettingsRole, BucketSettingsRoleName(e.cfg.Slug), "bucket-settings"},
	} {
		if _, created := ms.physical[r.logical]; created != home {
			e.t.Errorf("%s %s: %s created by this region's stack: %v, want %v (home region %s)", account, region, r.logical, created, home, e.cfg.Organization.HomeRegion(e.cfg.Region))
		}
		if !home {
			continue
		}
		role, err := im.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String(r.name)})
		if err != nil {
			e.t.Fatalf("%s in %s: %v", r.logical, account, err)
		}
		props := e.resource(r.logical, ms)
		e.sameGrants(r.logical+" trust", account, region, unescape(e.t, aws.ToString(role.Role.AssumeRolePolicyDocument)), props["AssumeRolePolicyDocument"])
		rp, err := im.GetRolePolicy(e.ctx, &iam.GetRolePolicyInput{RoleName: aws.String(r.name), PolicyName: aws.String(r.policy)})
		if err != nil {
			e.t.Fatal(err)
		}
		reported := unescape(e.t, aws.ToString(rp.PolicyDocument))
		if strings.HasPrefix(reported, "{'") {
			// moto 5.2.1's CloudFormation stores a role's inline policy (Policies) as Python's
			// repr of the document; our documents hold no quotes, so quotes convert it back.
			e.t.Logf("moto's CloudFormation reports the role's inline policy as a Python repr: read back with ' as \"")
			reported = strings.ReplaceAll(reported, "'", `"`)
		}
		e.sameGrants(r.logical+" policy", account, region, reported, props["Policies"].([]any)[0].(map[string]any)["PolicyDocument"])
	}

	// The forwarder (standalone): the rule on the default bus, to the central bus, through its role.
	eb := eventbridge.New(eventbridge.Options{Region: region, Credentials: e.creds(ms.creds), BaseEndpoint: aws.String(e.endpoint)})
	rules, err := eb.ListRules(e.ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(rules.Rules) != 1 {
		e.t.Fatalf("%s %s: %d rules, want the forwarder", account, region, len(rules.Rules))
	}
	var got, want any
	json.Unmarshal([]byte(aws.ToString(rules.Rules[0].EventPattern)), &got)
	json.Unmarshal([]byte(MaciePattern), &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Errorf("forwarder pattern %v, want %v", got, want)
	}
	targets, err := eb.ListTargetsByRule(e.ctx, &eventbridge.ListTargetsByRuleInput{Rule: rules.Rules[0].Name})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != e.params[ParamCentralBusArn] || !strings.Contains(aws.ToString(targets.Targets[0].RoleArn), ":"+account+":role/") {
		e.t.Errorf("forwarder targets %+v, want the central bus %s through the account's forwarder role", targets.Targets, e.params[ParamCentralBusArn])
	}
	return ms
}

func must(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func unescape(t *testing.T, s string) string {
	t.Helper()
	if strings.HasPrefix(s, "%7B") {
		u, err := url.QueryUnescape(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	return s
}

// sameGrants compares a document AWS reports with the template's, resolved.
func (e *motoOrg) sameGrants(what, account, region, reported string, tmpl any) {
	e.t.Helper()
	var doc any
	if err := json.Unmarshal([]byte(reported), &doc); err != nil {
		e.t.Fatalf("%s: %v: %s", what, err, reported)
	}
	if a, b := diffLines(grants(e.t, doc, nil), grants(e.t, tmpl, nil)); len(a)+len(b) > 0 {
		e.t.Errorf("%s in %s %s: AWS reports other grants than the template's:\n  only reported: %v\n  only in the template: %v", what, account, region, a, b)
	}
}

// recordingSTS is testenv.RecordingSTS: it keeps the AssumeRole requests the remediator makes.
type recordingSTS = testenv.RecordingSTS

// dataObject is an object with sensitive data in a member's data bucket.
type dataObject struct {
	bucket, key, version, etag string
	body                       []byte
}

// putData creates a versioned data bucket in the member account and puts one object in it.
func (e *motoOrg) putData(ms memberStack) dataObject {
	e.t.Helper()
	member := e.s3(ms.creds, ms.region)
	o := dataObject{bucket: fmt.Sprintf("customer-data-%s-%s", ms.account, ms.region), key: "exports/cards.csv", body: []byte("name,card\nalice,4111111111111111\n")}
	if _, err := member.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: &o.bucket, CreateBucketConfiguration: bucketConfig(ms.region)}); err != nil {
		e.t.Fatal(err)
	}
	must(e.t, "data versioning", func() error {
		_, err := member.PutBucketVersioning(e.ctx, &s3.PutBucketVersioningInput{Bucket: &o.bucket, VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
		return err
	})
	put, err := member.PutObject(e.ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: &o.key, Body: bytes.NewReader(o.body)})
	if err != nil {
		e.t.Fatal(err)
	}
	o.version, o.etag = aws.ToString(put.VersionId), aws.ToString(put.ETag)
	return o
}

// remediate moves obj through the role and bucket CloudFormation created: the remediator's
// session (the role the template's trust names) assumes the quarantine role by name in the
// object's account, with the ExternalId, and the engine copies, verifies and deletes.
func (e *motoOrg) remediate(ms memberStack, findingID string, obj quarantine.Object, body []byte) *quarantine.Result {
	e.t.Helper()
	member := e.s3(ms.creds, ms.region)
	eng, rec := e.engine()
	res, err := eng.Move(e.ctx, quarantine.Request{FindingID: findingID, DecidedBy: "policy", FirstAttempt: true, Object: obj,
		// The bucket of the stack's generation, as the remediator learns it from the StackSet's
		// instance (DescribeStackInstance: functions, org-runtime).
		Settings: quarantine.Settings{Bucket: ms.bucket, DeleteMode: "version"}})
	if err != nil {
		e.t.Fatalf("quarantine through the StackSet's role and bucket in %s %s: %v", ms.account, ms.region, err)
	}
	if res.Outcome != quarantine.Moved || res.CopyBucket != ms.bucket {
		e.t.Fatalf("outcome %s into %s, want Moved into %s", res.Outcome, res.CopyBucket, ms.bucket)
	}
	cp, err := member.GetObject(e.ctx, &s3.GetObjectInput{Bucket: &ms.bucket, Key: &res.CopyKey, VersionId: &res.CopyVersionID})
	if err != nil {
		e.t.Fatal(err)
	}
	got, _ := io.ReadAll(cp.Body)
	cp.Body.Close()
	if !bytes.Equal(got, body) {
		e.t.Errorf("the quarantined copy differs from the object")
	}
	if cp.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms || aws.ToString(cp.SSEKMSKeyId) != ms.keyArn {
		e.t.Errorf("the copy is encrypted %q with %q, want aws:kms with the stack's key %s", cp.ServerSideEncryption, aws.ToString(cp.SSEKMSKeyId), ms.keyArn)
	}
	if _, err := member.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: &obj.Bucket, Key: &obj.Key, VersionId: &obj.VersionID}); err == nil {
		e.t.Errorf("the source version is still in %s", obj.Bucket)
	}
	if len(rec.Calls()) != 1 || aws.ToString(rec.Calls()[0].RoleArn) != "arn:aws:iam::"+ms.account+":role/"+QuarantineRoleName(e.cfg.Slug) || aws.ToString(rec.Calls()[0].ExternalId) != e.cfg.ExternalID {
		e.t.Errorf("AssumeRole calls %+v: want one, of the quarantine role in %s, with the ExternalId", rec.Calls(), ms.account)
	}
	return res
}

// engine is the remediator's quarantine engine: its session (the role the template's trust
// names) assumes the quarantine role by name in the object's account, with the ExternalId; rec
// keeps the AssumeRole requests.
func (e *motoOrg) engine() (*quarantine.Engine, *recordingSTS) {
	remediator := e.params[ParamRemediatorRoleArn]
	rs := e.as(motoSecurity, remediator[strings.LastIndex(remediator, "/")+1:])
	rec := &recordingSTS{Client: sts.New(sts.Options{Region: "us-east-1", Credentials: e.creds(rs), BaseEndpoint: aws.String(e.endpoint)})}
	rc := &quarantine.RoleClients{STS: rec, RoleName: QuarantineRoleName(e.cfg.Slug), ExternalID: e.cfg.ExternalID,
		NewS3: func(c aws.Credentials, region string) quarantine.S3API { return e.s3(c, region) }}
	return quarantine.New(rc, quarantine.Options{CheckBucketOwner: true}), rec
}

// fixBucket turns block public access on for a data bucket through the bucket-settings role
// CloudFormation created, as the remediator does (its session assumes the role by name in the
// bucket's account, with the ExternalId), checks S3 shows all four settings on, and undoes it to
// the exact prior state (no configuration).
func (e *motoOrg) fixBucket(ms memberStack, bucket string) {
	e.t.Helper()
	remediator := e.params[ParamRemediatorRoleArn]
	rs := e.as(motoSecurity, remediator[strings.LastIndex(remediator, "/")+1:])
	st := sts.New(sts.Options{Region: "us-east-1", Credentials: e.creds(rs), BaseEndpoint: aws.String(e.endpoint)})
	out, err := st.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + ms.account + ":role/" + BucketSettingsRoleName(e.cfg.Slug)),
		RoleSessionName: aws.String("bucket-fix"), ExternalId: aws.String(e.cfg.ExternalID)})
	if err != nil {
		e.t.Fatalf("assume the StackSet's bucket-settings role in %s: %v", ms.account, err)
	}
	if arn := aws.ToString(out.AssumedRoleUser.Arn); !strings.Contains(arn, ":"+ms.account+":assumed-role/"+BucketSettingsRoleName(e.cfg.Slug)+"/") {
		e.t.Fatalf("assumed %s, want the bucket-settings role of %s", arn, ms.account)
	}
	c := out.Credentials
	fx := &bucketfix.Fixer{S3: e.s3(aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}, ms.region)}
	plan, err := fx.Inspect(e.ctx, bucketfix.BlockPublicAccess, bucket, bucketfix.Spec{})
	if err != nil || plan.AlreadyFixed || plan.Before.Present {
		e.t.Fatalf("inspect %s: %+v, %v (want no public access block yet)", bucket, plan, err)
	}
	if plan, err = fx.Apply(e.ctx, plan); err != nil {
		e.t.Fatalf("block public access on %s through the StackSet's role: %v", bucket, err)
	}
	member := e.s3(ms.creds, ms.region)
	pab, err := member.GetPublicAccessBlock(e.ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket})
	if err != nil {
		e.t.Fatal(err)
	}
	if p := pab.PublicAccessBlockConfiguration; p == nil || !aws.ToBool(p.BlockPublicAcls) || !aws.ToBool(p.IgnorePublicAcls) || !aws.ToBool(p.BlockPublicPolicy) || !aws.ToBool(p.RestrictPublicBuckets) {
		e.t.Fatalf("%s after the fix: %+v, want all four on", bucket, p)
	}
	if err := fx.Undo(e.ctx, plan); err != nil {
		e.t.Fatalf("undo on %s: %v", bucket, err)
	}
	if _, err := member.GetPublicAccessBlock(e.ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket}); err == nil || !strings.Contains(err.Error(), "NoSuchPublicAccessBlockConfiguration") {
		e.t.Fatalf("%s after undo: %v, want no public access block, as before", bucket, err)
	}
}

func bucketConfig(region string) *s3types.CreateBucketConfiguration {
	if region == "us-east-1" {
		return nil
	}
	return &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
}

// The generated member template, created as a stack in moto's CloudFormation for one account in
// both regions (the StackSet's instances there), creates the quarantine and bucket-settings roles
// (home region only), the quarantine bucket, its key and alias, and the forwarder, with the
// template's policies; and a real quarantine runs through that role and bucket, and a real
// block-public-access fix and its undo through the bucket-settings role, in each region. moto does not evaluate IAM, bucket or
// key policies (it accepts any request): that the documents allow what the move needs and deny
// the rest is the IAM decision table's part (TestIAMDecisions, StackSet rows).
func TestOrganizationTemplateDeploysAndQuarantinesOnMoto(t *testing.T) {
	e := startMoto(t)
	e.generate(orgSetting)
	if _, ok := e.tmpl["Resources"].(map[string]any)[LogicalBucketSettingsRole]; !ok {
		t.Fatal("the template has no bucket-settings role: the test's policy (example-org.yaml) enables every bucket-fix kind")
	}
	const a = "210987654321"
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		ms := e.deployMember(a, region)
		o := e.putData(ms)
		e.remediate(ms, "f-org-"+region, quarantine.Object{AccountID: a, Region: region, Bucket: o.bucket, Key: o.key, VersionID: o.version, ETag: o.etag, Size: int64(len(o.body))}, o.body)
		e.fixBucket(ms, o.bucket)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
