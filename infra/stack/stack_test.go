package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// res is one declared resource as the mock saw it.
type res struct {
	typ, name, provider string
	inputs              resource.PropertyMap
}

type mocks struct {
	mu  sync.Mutex
	all []res // in the order the SDK's registration goroutines reach the mock: not fixed
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

func (m *mocks) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	out := a.Inputs.Copy()
	arn := fmt.Sprintf("arn:aws:mock:::%s/%s", a.TypeToken, a.Name)
	if a.TypeToken == "aws:iam/role:Role" {
		arn = "arn:aws:iam::000000000000:role/" + a.Name
	}
	for k, v := range map[string]string{"arn": arn, "url": "https://sqs.mock/" + a.Name, "invokeArn": arn + "/invocations",
		"apiEndpoint": "https://api.mock", "executionArn": arn, "name": a.Name} {
		if _, ok := out[resource.PropertyKey(k)]; !ok {
			out[resource.PropertyKey(k)] = resource.NewStringProperty(v)
		}
	}
	m.mu.Lock()
	m.all = append(m.all, res{typ: a.TypeToken, name: a.Name, provider: a.Provider, inputs: a.Inputs})
	m.mu.Unlock()
	return a.Name + "-id", out, nil
}

func (m *mocks) Call(a pulumi.MockCallArgs) (resource.PropertyMap, error) { return a.Args, nil }

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
)

var defaultMembers = []Member{
	{AccountID: "111122223333", DeployRole: "OrganizationAccountAccessRole", Regions: []string{"us-east-1", "eu-west-1"}},
	{AccountID: "444455556666", DeployRole: "OrganizationAccountAccessRole", DataBuckets: []string{"lake-raw", "lake-curated"}, KMSKeyArns: []string{"arn:aws:kms:us-east-1:444455556666:key/data"}},
	{AccountID: "999988887777"}, // the security account is a member too
}

// deploy runs the program with mocks and the given config overrides.
func deploy(t *testing.T, over map[string]string, members []Member) (*mocks, error) {
	t.Helper()
	mb, _ := json.Marshal(members)
	cfg := map[string]string{
		"aws:region":                       "us-east-1",
		"macie-chatops:securityAccountId":  "999988887777",
		"macie-chatops:organizationId":     "o-a1b2c3d4e5",
		"macie-chatops:policyFile":         "policies/example-org.yaml",
		"macie-chatops:slackMode":          "bot",
		"macie-chatops:slackChannel":       "#security-findings",
		"macie-chatops:externalId":         externalID,
		"macie-chatops:slackSigningSecret": signingSecret,
		"macie-chatops:slackBotToken":      botToken,
		"macie-chatops:breakGlassRoleArn":  "arn:aws:iam::999988887777:role/break-glass",
		"macie-chatops:members":            string(mb),
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
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", `["macie-chatops:slackSigningSecret","macie-chatops:slackBotToken"]`)
	m := &mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		if err := ctx.RegisterStackTransformation(m.declare); err != nil {
			return err
		}
		return Run(ctx)
	}, pulumi.WithMocks("macie-chatops", "dev", m))
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
			if n != 12 {
				t.Errorf("account %s %s: %d resources, want 12 (forwarder role+policy+rule+target, key, bucket and its 6 settings)", mem.AccountID, region, n)
			}
		}
	}
	// One provider per account and region, assuming the deploy role (but not for the security
	// account itself), pinned to the account.
	for _, p := range m.of("pulumi:providers:aws") {
		ar := p.inputs["assumeRole"]
		self := strings.Contains(p.name, "999988887777")
		if self != ar.IsNull() && !(self && !p.inputs.HasValue("assumeRole")) {
			t.Errorf("provider %s: assumeRole %v", p.name, ar)
		}
		if !self && !strings.Contains(str(p.inputs["assumeRole"].ObjectValue()["roleArn"]), "role/OrganizationAccountAccessRole") {
			t.Errorf("provider %s does not assume the deploy role", p.name)
		}
	}
	if n := len(m.of("pulumi:providers:aws")); n != 4 {
		t.Errorf("%d member providers, want 4", n)
	}
	// Central resources use the default provider.
	for _, r := range m.of("aws:lambda/function:Function") {
		if r.provider != "" && strings.Contains(r.provider, "member-") {
			t.Errorf("lambda %s deployed through a member provider", r.name)
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
				doc.Statement = append(doc.Statement, Statement{Effect: st.Effect, Principal: st.Principal, Action: st.Action, Resource: st.Resource, Condition: cond})
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
		if str(r.inputs["name"]) != QuarantineRoleName {
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
		if p["AWS"] != "arn:aws:iam::000000000000:role/remediator-role" {
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

func TestBucketPolicyDeniesInsecureTransportAndOthers(t *testing.T) {
	m := mustDeploy(t)
	bps := m.of("aws:s3/bucketPolicy:BucketPolicy")
	if len(bps) != 4 {
		t.Fatalf("%d bucket policies", len(bps))
	}
	for name, d := range policies(t, m) {
		if !strings.Contains(name, "quarantine-policy.policy") || strings.HasPrefix(name, "member-") && !strings.Contains(name, "-us-") && !strings.Contains(name, "-eu-") {
			continue
		}
		tls, others := false, false
		for _, st := range d.Statement {
			if st.Effect != "Deny" || st.Principal != "*" {
				continue
			}
			if b, ok := st.Condition["Bool"].(map[string]any); ok && b["aws:SecureTransport"] == "false" {
				tls = true
			}
			if n, ok := st.Condition["ArnNotEquals"].(map[string]any); ok {
				allowed := list(n["aws:PrincipalArn"])
				others = len(allowed) == 2 && strings.HasSuffix(allowed[1], "role/break-glass")
			}
		}
		if !tls || !others {
			t.Errorf("%s: deny non-TLS %v, deny all but quarantine + break-glass %v", name, tls, others)
		}
	}
}

func TestLambdaEnvironmentHoldsNoSecrets(t *testing.T) {
	m := mustDeploy(t)
	fns := m.of("aws:lambda/function:Function")
	if len(fns) != 3 {
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
	if len(rules) != 2+4 { // central bus + default bus, and one forwarder per member region
		t.Fatalf("%d rules", len(rules))
	}
	var want any
	json.Unmarshal([]byte(MaciePattern), &want)
	for _, r := range rules {
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
			dlqs["arn:aws:mock:::aws:sqs/queue:Queue/"+q.name] = true
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
	if got, want := bucketNames(dev), []string{"macie-quarantine-111122223333-eu-west-1", "macie-quarantine-111122223333-us-east-1"}; !slices.Equal(got, want) {
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
	// Resources declared from a map come in key order (a map walk would give either order).
	for _, m := range []*mocks{a, b} {
		for _, pair := range [][2]string{
			{"aws:sqs/queuePolicy:QueuePolicy findings-dlq-policy", "aws:sqs/queuePolicy:QueuePolicy findings-queue-policy"},
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
