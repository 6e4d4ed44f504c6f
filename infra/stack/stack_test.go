package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// res is one declared resource as the mock saw it.
type res struct {
	typ, name, provider string
	// account and region the resource lands in (from its provider's allowedAccountIds).
	account, region string
	inputs          resource.PropertyMap
	outputs         resource.PropertyMap
	deps            []string // URNs it depends on
	retain          bool     // RetainOnDelete: `pulumi destroy` leaves it
}

type providerInfo struct{ account, region, assumeRole string }

// ssoDeployer is the role behind the credentials the mocks deploy with when a provider assumes
// no role: an IAM Identity Center administrator, whose role has a path (aws:PrincipalArn and
// iam:GetSessionContext's IssuerArn carry it).
const ssoDeployer = "aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef"

// deployerOf is the role ARN the mocks deploy account acct with when its provider assumes no role.
func deployerOf(acct string) string { return "arn:aws:iam::" + acct + ":role/" + ssoDeployer }

// mocks answers like AWS would: each resource gets ARNs in the account and region of the
// provider it is declared through, bucket and key ARNs from their names.
type mocks struct {
	mu        sync.Mutex
	all       []res                   // in the order the SDK's registration goroutines reach the mock: not fixed
	providers map[string]providerInfo // by provider id
	// declared is the order the program declared resources in (type + " " + name), recorded
	// synchronously by a stack transformation; of() returns resources in this order.
	declared []string
}

// declare is a stack transformation that records the program's declaration order. The SDK runs
// transformations inside the New... call, before it hands the registration to a goroutine.
func (m *mocks) declare(a *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
	m.mu.Lock()
	m.declared = append(m.declared, a.Type+" "+a.Name)
	m.mu.Unlock()
	return nil
}

func physicalName(a pulumi.MockResourceArgs) string {
	for _, k := range []string{"name", "bucket"} {
		if v := a.Inputs[resource.PropertyKey(k)]; v.IsString() && v.StringValue() != "" {
			return v.StringValue()
		}
	}
	return a.Name
}

func (m *mocks) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.providers == nil {
		m.providers = map[string]providerInfo{}
	}
	id := a.Name + "-id"
	out := a.Inputs.Copy()
	if a.TypeToken == "pulumi:providers:aws" {
		pi := providerInfo{account: "UNPINNED", region: str(a.Inputs["region"])}
		if ids := a.Inputs["allowedAccountIds"]; ids.IsArray() && len(ids.ArrayValue()) == 1 {
			pi.account = str(ids.ArrayValue()[0])
		}
		if ar := a.Inputs["assumeRole"]; ar.IsObject() {
			pi.assumeRole = str(ar.ObjectValue()["roleArn"])
		}
		m.providers[id] = pi
		m.all = append(m.all, res{typ: a.TypeToken, name: a.Name, account: pi.account, region: pi.region, inputs: a.Inputs, outputs: out})
		return id, out, nil
	}
	pi := providerInfo{account: "DEFAULT-PROVIDER", region: "DEFAULT-REGION"}
	if i := strings.LastIndex(a.Provider, "::"); i >= 0 {
		if p, ok := m.providers[a.Provider[i+2:]]; ok {
			pi = p
		}
	}
	acct, region, name := pi.account, pi.region, physicalName(a)
	svc := strings.SplitN(strings.TrimPrefix(a.TypeToken, "aws:"), "/", 2)[0]
	arn := fmt.Sprintf("arn:aws:%s:%s:%s:%s", svc, region, acct, name)
	url := ""
	switch a.TypeToken {
	case "aws:iam/role:Role":
		arn = fmt.Sprintf("arn:aws:iam::%s:role/%s", acct, name)
	case "aws:s3/bucketV2:BucketV2":
		arn = "arn:aws:s3:::" + name
		id = name
	case "aws:kms/key:Key":
		arn = fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, acct, a.Name)
	case "aws:sqs/queue:Queue":
		arn = fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, acct, name)
		url = fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", region, acct, name)
	case "aws:cloudwatch/eventBus:EventBus":
		arn = fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", region, acct, name)
	case "aws:cloudwatch/eventRule:EventRule":
		bus := str(a.Inputs["eventBusName"])
		if bus != "" {
			name = bus + "/" + name
		}
		arn = fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", region, acct, name)
	case "aws:lambda/function:Function":
		arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, acct, name)
	case "aws:dynamodb/table:Table":
		arn = fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", region, acct, name)
	case "aws:secretsmanager/secret:Secret":
		arn = fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", region, acct, name)
	case "aws:ssm/parameter:Parameter":
		arn = fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", region, acct, name)
	case "aws:cloudwatch/logGroup:LogGroup":
		arn = fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", region, acct, name)
	case "aws:sns/topic:Topic":
		arn = fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, acct, name)
	}
	for k, v := range map[string]string{"arn": arn, "url": url, "invokeArn": arn + "/invocations",
		"apiEndpoint": "https://" + a.Name + ".execute-api." + region + ".amazonaws.com", "executionArn": fmt.Sprintf("arn:aws:execute-api:%s:%s:%s", region, acct, a.Name), "name": name} {
		if _, ok := out[resource.PropertyKey(k)]; !ok && v != "" {
			out[resource.PropertyKey(k)] = resource.NewStringProperty(v)
		}
	}
	var deps []string
	retain := false
	if a.RegisterRPC != nil {
		deps = a.RegisterRPC.GetDependencies()
		retain = a.RegisterRPC.GetRetainOnDelete()
	}
	m.all = append(m.all, res{typ: a.TypeToken, name: a.Name, provider: a.Provider, account: acct, region: region, inputs: a.Inputs, outputs: out, deps: deps, retain: retain})
	return id, out, nil
}

// Call answers the data sources the program reads as STS and IAM would for the provider's
// credentials: the assumed role's session when the provider assumes one, else an SSO
// administrator's session in the provider's account.
func (m *mocks) Call(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	pi, ok := providerInfo{account: "DEFAULT-PROVIDER"}, false
	if i := strings.LastIndex(a.Provider, "::"); i >= 0 {
		pi, ok = m.providers[a.Provider[i+2:]]
	}
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s called without an explicit provider (%q)", a.Token, a.Provider)
	}
	switch a.Token {
	case "aws:index/getCallerIdentity:getCallerIdentity":
		role, session := ssoDeployer, "alice@example.com"
		if pi.assumeRole != "" {
			role, session = pi.assumeRole[strings.LastIndex(pi.assumeRole, "/")+1:], "macie-chatops-pulumi"
		} else {
			role = role[strings.LastIndex(role, "/")+1:]
		}
		return resource.NewPropertyMapFromMap(map[string]any{"accountId": pi.account, "id": pi.account, "userId": "AROAEXAMPLEID:" + session,
			"arn": "arn:aws:sts::" + pi.account + ":assumed-role/" + role + "/" + session}), nil
	case "aws:iam/getSessionContext:getSessionContext":
		arn := str(a.Args["arn"])
		parts := strings.Split(arn, ":")
		if len(parts) != 6 || parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
			return resource.NewPropertyMapFromMap(map[string]any{"arn": arn, "id": arn, "issuerArn": arn}), nil
		}
		rs := strings.Split(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
		issuer := "arn:aws:iam::" + parts[4] + ":role/" + rs[0]
		if pi.assumeRole != "" {
			issuer = pi.assumeRole
		} else if strings.HasSuffix(ssoDeployer, "/"+rs[0]) {
			issuer = deployerOf(parts[4])
		}
		return resource.NewPropertyMapFromMap(map[string]any{"arn": arn, "id": arn, "issuerArn": issuer, "issuerName": rs[0], "sessionName": rs[1]}), nil
	}
	return a.Args, nil
}

// of returns the resources of one type in the order the program declared them.
func (m *mocks) of(typ string) []res {
	var out []res
	for _, r := range m.all {
		if r.typ == typ {
			out = append(out, r)
		}
	}
	pos := func(r res) int { return slices.Index(m.declared, r.typ+" "+r.name) }
	slices.SortFunc(out, func(a, b res) int { return pos(a) - pos(b) })
	return out
}

const (
	signingSecret = "SIGNING-SECRET-VALUE-1"
	botToken      = "xoxb-BOT-TOKEN-VALUE-2"
	externalID    = "ext-id-9f8e7d6c"
	breakGlassArn = "arn:aws:iam::999988887777:role/break-glass"
)

var defaultMembers = []Member{
	{AccountID: "111122223333", DeployRole: "OrganizationAccountAccessRole", Regions: []string{"us-east-1", "eu-west-1"}},
	{AccountID: "444455556666", DeployRole: "OrganizationAccountAccessRole", DataBuckets: []string{"lake-raw", "lake-curated"}, KMSKeyArns: []string{"arn:aws:kms:us-east-1:444455556666:key/data"}},
	{AccountID: "999988887777"}, // the security account is a member too
}

// deploy runs the program with mocks and the given config overrides, as stack "dev".
func deploy(t *testing.T, over map[string]string, members []Member) (*mocks, error) {
	t.Helper()
	mb, _ := json.Marshal(members)
	return deployRaw(t, "dev", over, string(mb))
}

// exampleOrgFor is policies/example-org.yaml with quarantine buckets named for the stack, as
// the README tells whoever copies it to do.
func exampleOrgFor(t *testing.T, stack string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "policies", "example-org.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "example-org.yaml")
	s := strings.ReplaceAll(string(raw), "bucket: macie-quarantine-", "bucket: macie-chatops-"+stack+"-q-")
	if s == string(raw) {
		t.Fatal("example-org.yaml has no quarantine bucket template to rename")
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// deployRaw runs the program as the given stack, with members as raw JSON (what Pulumi passes
// for `pulumi config set --path`).
func deployRaw(t *testing.T, stack string, over map[string]string, members string) (*mocks, error) {
	t.Helper()
	cfg := map[string]string{
		"aws:region":                       "us-east-1",
		"macie-chatops:securityAccountId":  "999988887777",
		"macie-chatops:organizationId":     "o-a1b2c3d4e5",
		"macie-chatops:policyFile":         exampleOrgFor(t, stack),
		"macie-chatops:slackMode":          "bot",
		"macie-chatops:slackChannel":       "#security-findings",
		"macie-chatops:externalId":         externalID,
		"macie-chatops:slackSigningSecret": signingSecret,
		"macie-chatops:slackBotToken":      botToken,
		"macie-chatops:breakGlassRoleArn":  breakGlassArn,
		"macie-chatops:members":            members,
	}
	for k, v := range over {
		if v == "" {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	raw, _ := json.Marshal(cfg)
	t.Setenv("PULUMI_CONFIG", string(raw))
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", `["macie-chatops:slackSigningSecret","macie-chatops:slackBotToken","macie-chatops:slackWebhookUrl"]`)
	m := &mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		if err := ctx.RegisterStackTransformation(m.declare); err != nil {
			return err
		}
		return Run(ctx)
	}, pulumi.WithMocks("macie-chatops", stack, m))
	return m, err
}

func mustDeploy(t *testing.T) *mocks {
	t.Helper()
	m, err := deploy(t, nil, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func str(v resource.PropertyValue) string {
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func TestResourcesLandInTheRightAccountThroughTheRightProvider(t *testing.T) {
	m := mustDeploy(t)
	for _, mem := range defaultMembers {
		regions := mem.Regions
		if len(regions) == 0 {
			regions = []string{"us-east-1"}
		}
		for _, region := range regions {
			prefix := fmt.Sprintf("member-%s-%s-", mem.AccountID, region)
			n := 0
			for _, r := range m.all {
				if !strings.HasPrefix(r.name, prefix) || r.typ == "pulumi:providers:aws" {
					continue
				}
				n++
				if !strings.Contains(r.provider, "::member-"+mem.AccountID+"-"+region+"::") {
					t.Errorf("%s (%s) is deployed through %q, not account %s's %s provider", r.name, r.typ, r.provider, mem.AccountID, region)
				}
			}
			if n != 8 {
				t.Errorf("account %s %s: %d resources, want 8 (key, bucket and its 6 settings; no forwarder in delegated-admin mode)", mem.AccountID, region, n)
			}
			for _, r := range m.all {
				if strings.HasPrefix(r.name, prefix) && r.account != mem.AccountID {
					t.Errorf("%s lands in account %s, want %s", r.name, r.account, mem.AccountID)
				}
			}
		}
	}
	// One provider per account and region, assuming the deploy role (but not for the security
	// account itself), pinned to the account.
	for _, p := range m.of("pulumi:providers:aws") {
		ar := p.inputs["assumeRole"]
		self := strings.Contains(p.name, "999988887777") || p.name == "central"
		if self != ar.IsNull() && !(self && !p.inputs.HasValue("assumeRole")) {
			t.Errorf("provider %s: assumeRole %v", p.name, ar)
		}
		if !self && !strings.Contains(str(p.inputs["assumeRole"].ObjectValue()["roleArn"]), "role/OrganizationAccountAccessRole") {
			t.Errorf("provider %s does not assume the deploy role", p.name)
		}
	}
	// 4 member providers, the central one, and the security account's forwarder in eu-west-1
	// (delegated-admin: that region's findings reach the administrator's bus there).
	if n := len(m.of("pulumi:providers:aws")); n != 6 {
		t.Errorf("%d providers, want 6", n)
	}
	// Every resource goes through an explicit provider pinned to one account; the central
	// stack's through the one pinned to the security account.
	for _, r := range m.all {
		if r.typ == "pulumi:providers:aws" || strings.HasPrefix(r.typ, "macie-chatops:") {
			if r.typ == "pulumi:providers:aws" && r.account == "UNPINNED" {
				t.Errorf("provider %s is not pinned with allowedAccountIds", r.name)
			}
			continue
		}
		if r.account == "DEFAULT-PROVIDER" {
			t.Errorf("%s (%s) uses the default provider: it would land in whatever account the credentials are for", r.name, r.typ)
		}
		if !strings.HasPrefix(r.name, "member-") && !strings.HasPrefix(r.name, "security-") && !strings.Contains(r.provider, "::central::") {
			t.Errorf("central resource %s goes through %q, not the central provider", r.name, r.provider)
		}
	}
}

func TestNoPublicAccess(t *testing.T) {
	m := mustDeploy(t)
	buckets, pabs := m.of("aws:s3/bucketV2:BucketV2"), m.of("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
	if len(buckets) == 0 || len(pabs) != len(buckets) {
		t.Fatalf("%d buckets, %d public access blocks", len(buckets), len(pabs))
	}
	for _, p := range pabs {
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if v := p.inputs[resource.PropertyKey(k)]; !v.IsBool() || !v.BoolValue() {
				t.Errorf("%s: %s is not true", p.name, k)
			}
		}
	}
	for _, o := range m.of("aws:s3/bucketOwnershipControls:BucketOwnershipControls") {
		if got := str(o.inputs["rule"].ObjectValue()["objectOwnership"]); got != "BucketOwnerEnforced" {
			t.Errorf("%s: %s", o.name, got)
		}
	}
}

// policies returns every policy document declared, by resource name.
func policies(t *testing.T, m *mocks) map[string]Document {
	out := map[string]Document{}
	for _, r := range m.all {
		for _, k := range []string{"policy", "assumeRolePolicy"} {
			s := str(r.inputs[resource.PropertyKey(k)])
			if s == "" {
				continue
			}
			var d struct {
				Statement []struct {
					Sid       string
					Effect    string
					Principal any
					Action    any
					Resource  any
					Condition map[string]map[string]any
				}
			}
			if err := json.Unmarshal([]byte(s), &d); err != nil {
				t.Fatalf("%s.%s is not JSON: %v", r.name, k, err)
			}
			var doc Document
			for _, st := range d.Statement {
				cond := map[string]any{}
				for op, kv := range st.Condition {
					cond[op] = kv
				}
				doc.Statement = append(doc.Statement, Statement{Sid: st.Sid, Effect: st.Effect, Principal: st.Principal, Action: st.Action, Resource: st.Resource, Condition: cond})
			}
			out[r.name+"."+k] = doc
		}
	}
	return out
}

func list(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

func TestNoWildcardPermissions(t *testing.T) {
	m := mustDeploy(t)
	docs := policies(t, m)
	if len(docs) < 15 {
		t.Fatalf("only %d policy documents found", len(docs))
	}
	for name, d := range docs {
		for _, st := range d.Statement {
			if st.Effect != "Allow" {
				continue
			}
			for _, a := range list(st.Action) {
				if a == "*" {
					t.Errorf("%s allows \"Action\": \"*\"", name)
				}
				if a == "s3:*" {
					for _, r := range list(st.Resource) {
						if r == "*" || r == "arn:aws:s3:::*" || r == "arn:aws:s3:::*/*" {
							t.Errorf("%s allows s3:* on %s", name, r)
						}
					}
				}
			}
		}
	}
}

func TestQuarantineRoleTrust(t *testing.T) {
	m := mustDeploy(t)
	roles := 0
	for _, r := range m.of("aws:iam/role:Role") {
		if str(r.inputs["name"]) != QuarantineRoleName("dev") {
			continue
		}
		roles++
		var d struct{ Statement []Statement }
		json.Unmarshal([]byte(str(r.inputs["assumeRolePolicy"])), &d)
		if len(d.Statement) != 1 {
			t.Fatalf("%s: %d trust statements", r.name, len(d.Statement))
		}
		st := d.Statement[0]
		eq, _ := st.Condition["StringEquals"].(map[string]any)
		if eq["sts:ExternalId"] != externalID || eq["aws:PrincipalOrgID"] != "o-a1b2c3d4e5" {
			t.Errorf("%s: trust conditions %v", r.name, st.Condition)
		}
		p, _ := st.Principal.(map[string]any)
		if p["AWS"] != "arn:aws:iam::999988887777:role/remediator-role" {
			t.Errorf("%s: trusted principal %v, want only the central remediator role", r.name, st.Principal)
		}
	}
	if roles != len(defaultMembers) {
		t.Fatalf("%d quarantine roles", roles)
	}
	// The remediator may assume exactly the member quarantine roles.
	for name, d := range policies(t, m) {
		if !strings.HasPrefix(name, "remediator-policy") {
			continue
		}
		for _, st := range d.Statement {
			if list(st.Action)[0] == "sts:AssumeRole" && len(list(st.Resource)) != len(defaultMembers) {
				t.Errorf("remediator may assume %v", st.Resource)
			}
		}
	}
}

// actionMatches is IAM's action matching: case-insensitive, * and ? wildcards.
func actionMatches(pattern, action string) bool {
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	return ok
}

// bucketAdministration is what Pulumi calls to create, refresh, update and destroy a bucket and
// its settings. No statement of the bucket policy may deny them (except over plain HTTP).
var bucketAdministration = []string{"s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
	"s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration", "s3:PutBucketVersioning", "s3:GetBucketVersioning",
	"s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration", "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock",
	"s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls", "s3:PutBucketTagging", "s3:GetBucketTagging"}

func TestQuarantineBucketPolicyNeverLocksOutTheDeployRoleAndComesLast(t *testing.T) {
	m := mustDeploy(t)
	bps := m.of("aws:s3/bucketPolicy:BucketPolicy")
	if len(bps) != 4 {
		t.Fatalf("%d bucket policies", len(bps))
	}
	for _, bp := range bps {
		var d struct{ Statement []Statement }
		if err := json.Unmarshal([]byte(str(bp.inputs["policy"])), &d); err != nil {
			t.Fatal(err)
		}
		// The security account has no deploy role: it is deployed by the stack's own
		// credentials, which its policy must name too (else HeadBucket, so refresh, gets 403).
		deploy := deployerOf(bp.account)
		if bp.account != "999988887777" {
			deploy = "arn:aws:iam::" + bp.account + ":role/OrganizationAccountAccessRole"
		}
		tls := false
		for _, st := range d.Statement {
			if st.Effect != "Deny" {
				continue
			}
			if b, ok := st.Condition["Bool"].(map[string]any); ok && b["aws:SecureTransport"] == "false" {
				tls = true
				continue
			}
			// A deny of named principals only (the bucket-settings roles) must not name the deployer.
			if like, ok := st.Condition["ArnLike"].(map[string]any); ok && len(st.Condition) == 1 {
				for _, pat := range list(like["aws:PrincipalArn"]) {
					if actionMatches(pat, deploy) || strings.Contains(pat, "OrganizationAccountAccessRole") {
						t.Errorf("%s: %s denies the deploy role %s", bp.name, st.Sid, deploy)
					}
				}
				continue
			}
			for _, pat := range list(st.Action) {
				for _, admin := range bucketAdministration {
					if actionMatches(pat, admin) && admin != "s3:ListBucket" {
						t.Errorf("%s: %s denies %s (matched by %s): the deploy role would be locked out", bp.name, st.Sid, admin, pat)
					}
				}
			}
			allowed := list(st.Condition["ArnNotEquals"].(map[string]any)["aws:PrincipalArn"])
			if !slices.Contains(allowed, deploy) {
				t.Errorf("%s: %s denies the deploy role %s", bp.name, st.Sid, deploy)
			}
		}
		if !tls {
			t.Errorf("%s: no deny of plain HTTP", bp.name)
		}
		// The policy is applied after every other setting of its bucket.
		prefix := strings.TrimSuffix(bp.name, "-policy")
		for _, setting := range []string{"-pab", "-ownership", "-versioning", "-sse", "-lifecycle"} {
			found := false
			for _, dep := range bp.deps {
				found = found || strings.HasSuffix(dep, "::"+prefix+setting)
			}
			if !found {
				t.Errorf("%s does not depend on %s%s (deps %v)", bp.name, prefix, setting, bp.deps)
			}
		}
	}
}

func TestLambdaEnvironmentHoldsNoSecrets(t *testing.T) {
	m := mustDeploy(t)
	fns := m.of("aws:lambda/function:Function")
	if len(fns) != 4 {
		t.Fatalf("%d functions", len(fns))
	}
	for _, f := range fns {
		if str(f.inputs["runtime"]) != "provided.al2023" || str(f.inputs["architectures"].ArrayValue()[0]) != "arm64" {
			t.Errorf("%s: runtime/arch", f.name)
		}
		vars := f.inputs["environment"].ObjectValue()["variables"].ObjectValue()
		for k, v := range vars {
			val := str(v)
			if v.IsSecret() || strings.Contains(val, signingSecret) || strings.Contains(val, botToken) {
				t.Errorf("%s: env %s holds a secret", f.name, k)
			}
		}
	}
	// The secret values do reach Secrets Manager, as a secret.
	sv := m.of("aws:secretsmanager/secretVersion:SecretVersion")
	if len(sv) != 1 || !sv[0].inputs["secretString"].IsSecret() || !strings.Contains(str(sv[0].inputs["secretString"]), signingSecret) {
		t.Fatalf("secret version: %v", sv)
	}
}

func TestEventPatternsAreExact(t *testing.T) {
	m := mustDeploy(t)
	rules := m.of("aws:cloudwatch/eventRule:EventRule")
	if len(rules) != 2+1+1 { // central bus + default bus, the eu-west-1 forwarder, the sweeper schedule
		t.Fatalf("%d rules", len(rules))
	}
	var want any
	json.Unmarshal([]byte(MaciePattern), &want)
	for _, r := range rules {
		if r.name == "sweeper-schedule" {
			continue
		}
		var got any
		json.Unmarshal([]byte(str(r.inputs["eventPattern"])), &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: pattern %s", r.name, str(r.inputs["eventPattern"]))
		}
	}
}

func TestEveryQueueHasADeadLetterQueue(t *testing.T) {
	m := mustDeploy(t)
	dlqs := map[string]bool{}
	for _, q := range m.of("aws:sqs/queue:Queue") {
		if strings.HasSuffix(q.name, "-dlq") {
			dlqs[str(q.outputs["arn"])] = true
		}
	}
	n := 0
	for _, q := range m.of("aws:sqs/queue:Queue") {
		if strings.HasSuffix(q.name, "-dlq") {
			continue
		}
		n++
		var rp struct {
			DeadLetterTargetArn string
			MaxReceiveCount     int
		}
		json.Unmarshal([]byte(str(q.inputs["redrivePolicy"])), &rp)
		if !dlqs[rp.DeadLetterTargetArn] || rp.MaxReceiveCount == 0 {
			t.Errorf("queue %s has no dead-letter queue (%q)", q.name, str(q.inputs["redrivePolicy"]))
		}
	}
	if n != 2 {
		t.Fatalf("%d queues", n)
	}
}

func TestPolicyFileDrivesMembers(t *testing.T) {
	retention := func(m *mocks) map[string]float64 {
		out := map[string]float64{}
		for _, l := range m.of("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2") {
			rule := l.inputs["rules"].ArrayValue()[0].ObjectValue()
			out[l.name] = rule["expiration"].ObjectValue()["days"].NumberValue()
		}
		return out
	}
	bucketNames := func(m *mocks) []string {
		var out []string
		for _, b := range m.of("aws:s3/bucketV2:BucketV2") {
			out = append(out, str(b.inputs["bucket"]))
		}
		sort.Strings(out)
		return out
	}
	org, err := deploy(t, nil, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := deploy(t, map[string]string{"macie-chatops:policyFile": "policies/dev.yaml"}, defaultMembers[:1])
	if err != nil {
		t.Fatal(err)
	}
	ro, rd := retention(org), retention(dev)
	// example-org: 365 days by default, 2555 for the payments account (111122223333).
	if ro["member-111122223333-us-east-1-quarantine-lifecycle"] != 2555 || ro["member-444455556666-us-east-1-quarantine-lifecycle"] != 365 {
		t.Errorf("example-org retention %v", ro)
	}
	if rd["member-111122223333-us-east-1-quarantine-lifecycle"] != 90 || len(rd) != 2 {
		t.Errorf("dev retention %v", rd)
	}
	// Regions are declared in sorted order, whatever order the config lists them in.
	if got, want := bucketNames(dev), []string{"macie-chatops-dev-quarantine-111122223333-eu-west-1", "macie-chatops-dev-quarantine-111122223333-us-east-1"}; !slices.Equal(got, want) {
		t.Errorf("dev bucket names %v, want %v", got, want)
	}
	// The SSM parameter carries the policy the functions will load.
	p := dev.of("aws:ssm/parameter:Parameter")
	raw, _ := os.ReadFile(filepath.Join("..", "..", "policies", "dev.yaml"))
	if len(p) != 1 || str(p[0].inputs["value"]) != string(raw) {
		t.Fatal("policy parameter does not hold policies/dev.yaml")
	}
}

// The program declares its resources in one order, whatever order the config lists members and
// regions in and whatever order Go walks a map in, so `pulumi preview` lists them the same way
// every time.
func TestDeclarationOrderIsFixed(t *testing.T) {
	shuffled := slices.Clone(defaultMembers)
	slices.Reverse(shuffled)
	shuffled[2].Regions = []string{"eu-west-1", "us-east-1"} // 111122223333, reversed too
	a, err := deploy(t, nil, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	b, err := deploy(t, nil, shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.declared) != len(a.all) {
		t.Fatalf("%d resources declared, %d registered: the transformation missed some", len(a.declared), len(a.all))
	}
	if !slices.Equal(a.declared, b.declared) {
		for i := range min(len(a.declared), len(b.declared)) {
			if a.declared[i] != b.declared[i] {
				t.Fatalf("declaration %d differs: %q, then %q with members and regions reordered", i, a.declared[i], b.declared[i])
			}
		}
		t.Fatalf("%d resources declared, then %d", len(a.declared), len(b.declared))
	}
	// Resources declared in a loop come in the loop's fixed order (never a map walk).
	for _, m := range []*mocks{a, b} {
		for _, pair := range [][2]string{
			{"aws:sqs/queuePolicy:QueuePolicy findings-queue-policy", "aws:sqs/queuePolicy:QueuePolicy findings-dlq-policy"},
			{"aws:lambda/eventSourceMapping:EventSourceMapping finding-handler-source", "aws:lambda/eventSourceMapping:EventSourceMapping remediator-source"},
			{"aws:cloudwatch/metricAlarm:MetricAlarm findings-dlq-depth", "aws:cloudwatch/metricAlarm:MetricAlarm jobs-dlq-depth"},
		} {
			if i, j := slices.Index(m.declared, pair[0]), slices.Index(m.declared, pair[1]); i < 0 || j < i {
				t.Errorf("%q declared at %d, %q at %d: want both, in this order", pair[0], i, pair[1], j)
			}
		}
	}
	// Members in account order, then regions in name order, within each member.
	var members []string
	for _, d := range a.declared {
		if strings.HasPrefix(d, "pulumi:providers:aws member-") {
			members = append(members, strings.TrimPrefix(d, "pulumi:providers:aws "))
		}
	}
	want := []string{"member-111122223333-eu-west-1", "member-111122223333-us-east-1", "member-444455556666-us-east-1", "member-999988887777-us-east-1"}
	if !slices.Equal(members, want) {
		t.Errorf("member providers declared as %v, want %v", members, want)
	}
}

func TestConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ndefaults:\n  actions:\n    SensitiveData:*: QUARANTINE\n"), 0o644)
	cases := []struct {
		name    string
		over    map[string]string
		members []Member
		want    []string
	}{
		{"security account", map[string]string{"macie-chatops:securityAccountId": "12345"}, defaultMembers, []string{`securityAccountId "12345" is not a 12-digit account id`}},
		{"member account", nil, []Member{{AccountID: "1111-2222-3333", DeployRole: "R"}}, []string{`members[0].accountId "1111-2222-3333"`}},
		{"missing policy", map[string]string{"macie-chatops:policyFile": "policies/nope.yaml"}, defaultMembers, []string{"policyFile", "nope.yaml", "example-org.yaml"}},
		{"invalid policy", map[string]string{"macie-chatops:policyFile": bad}, defaultMembers, []string{"bad.yaml:4", `"QUARANTINE" is not an action; choose one of AUTO, REVIEW, NOTIFY, IGNORE`}},
		{"missing secret", map[string]string{"macie-chatops:slackSigningSecret": ""}, defaultMembers, []string{"pulumi config set --secret macie-chatops:slackSigningSecret"}},
		{"missing deploy role", nil, []Member{{AccountID: "111122223333"}}, []string{"members[0].deployRole is required"}},
	}
	for _, c := range cases {
		_, err := deploy(t, c.over, c.members)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", c.name, w, err)
			}
		}
	}
}
