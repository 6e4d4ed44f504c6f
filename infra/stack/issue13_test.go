package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func TestAccountIDsMayBeNumbers(t *testing.T) {
	// What `pulumi config set --path 'macie-chatops:members[0].accountId' 111122223333` stores,
	// and a number that lost its leading zero.
	m, err := deployRaw(t, "dev", nil, `[{"accountId":111122223333,"deployRole":"R","regions":["us-east-1"]},{"accountId":11122223333,"deployRole":"R"},{"accountId":"999988887777"}]`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range m.of("aws:iam/role:Role") {
		if strings.HasSuffix(r.name, "-quarantine-role") {
			got = append(got, r.account)
		}
	}
	slices.Sort(got)
	if want := []string{"011122223333", "111122223333", "999988887777"}; !slices.Equal(got, want) {
		t.Errorf("quarantine roles in %v, want %v", got, want)
	}
	for _, bad := range []string{`[{"accountId":1.1e11,"deployRole":"R"}]`, `[{"accountId":-111122223333,"deployRole":"R"}]`, `[{"accountId":1111222233334,"deployRole":"R"}]`} {
		if _, err := deployRaw(t, "dev", nil, bad); err == nil || !strings.Contains(err.Error(), "not a 12-digit account id") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestConcurrencyIsConfigurableAndNotReservedByDefault(t *testing.T) {
	caps := func(m *mocks) map[string]float64 {
		out := map[string]float64{}
		for _, e := range m.of("aws:lambda/eventSourceMapping:EventSourceMapping") {
			out[e.name] = e.inputs["scalingConfig"].ObjectValue()["maximumConcurrency"].NumberValue()
		}
		return out
	}
	reserved := func(m *mocks) map[string]float64 {
		out := map[string]float64{}
		for _, f := range m.of("aws:lambda/function:Function") {
			if v := f.inputs["reservedConcurrentExecutions"]; v.IsNumber() {
				out[f.name] = v.NumberValue()
			}
		}
		return out
	}
	m := mustDeploy(t)
	if got := caps(m); got["finding-handler-source"] != 2 || got["remediator-source"] != 5 {
		t.Errorf("default caps %v", got)
	}
	// A new account's quota is 10 and Lambda keeps 10 unreserved: any reservation fails there.
	if got := reserved(m); len(got) != 0 {
		t.Errorf("reserved by default: %v", got)
	}
	m, err := deploy(t, map[string]string{"macie-chatops:findingHandlerConcurrency": "3", "macie-chatops:remediatorConcurrency": "20", "macie-chatops:reserveConcurrency": "true"}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	if got := caps(m); got["finding-handler-source"] != 3 || got["remediator-source"] != 20 {
		t.Errorf("caps %v", got)
	}
	if got := reserved(m); got["finding-handler"] != 3 || got["remediator"] != 20 || len(got) != 2 {
		t.Errorf("reserved %v", got)
	}
	for _, v := range []string{"1", "0", "1001", "many"} {
		_, err := deploy(t, map[string]string{"macie-chatops:findingHandlerConcurrency": v}, defaultMembers)
		if err == nil || !strings.Contains(err.Error(), "macie-chatops:findingHandlerConcurrency") {
			t.Errorf("findingHandlerConcurrency=%s: %v", v, err)
		}
	}
}

// names are the physical names that must not collide between two stacks in one account.
func names(m *mocks) map[string]string {
	out := map[string]string{}
	for _, r := range m.all {
		switch r.typ {
		case "aws:iam/role:Role", "aws:lambda/function:Function", "aws:s3/bucketV2:BucketV2", "aws:cloudwatch/logGroup:LogGroup", "aws:ssm/parameter:Parameter", "aws:cloudwatch/eventBus:EventBus":
			if n := str(r.inputs["name"]) + str(r.inputs["bucket"]); n != "" {
				out[r.account+" "+r.typ+" "+n] = r.name
			}
		}
	}
	return out
}

func TestTwoStacksInOneAccountDoNotCollide(t *testing.T) {
	members, _ := json.Marshal(defaultMembers)
	dev, err := deployRaw(t, "dev", nil, string(members))
	if err != nil {
		t.Fatal(err)
	}
	prod, err := deployRaw(t, "prod-payments-eu", nil, string(members))
	if err != nil {
		t.Fatal(err)
	}
	a, b := names(dev), names(prod)
	if len(a) < 10 {
		t.Fatalf("only %d names", len(a))
	}
	for n := range a {
		if _, ok := b[n]; ok {
			t.Errorf("both stacks create %s", n)
		}
	}
	limits := map[string]int{"aws:iam/role:Role": 64, "aws:lambda/function:Function": 64, "aws:s3/bucketV2:BucketV2": 63}
	for n := range b {
		f := strings.SplitN(n, " ", 3)
		if max := limits[f[1]]; max > 0 && len(f[2]) > max {
			t.Errorf("%s is %d characters, more than %d", f[2], len(f[2]), max)
		}
	}
	// Long stack names: role and function names stay within 64 and still differ.
	long1, long2 := "production-eu-central-payments-and-cards-2026", "production-eu-central-payments-and-cards-2027"
	for _, n := range [][2]string{{QuarantineRoleName(long1), QuarantineRoleName(long2)}, {FunctionName(long1, "remediation-handler"), FunctionName(long2, "remediation-handler")}} {
		if len(n[0]) > 64 || len(n[1]) > 64 || n[0] == n[1] || !strings.HasPrefix(n[0], "macie-chatops-production") {
			t.Errorf("long names %q %q", n[0], n[1])
		}
	}
	// The remediator assumes the role this stack created.
	for _, f := range prod.of("aws:lambda/function:Function") {
		if f.name != "remediator" {
			continue
		}
		role := str(f.inputs["environment"].ObjectValue()["variables"].ObjectValue()["QUARANTINE_ROLE_NAME"])
		found := false
		for _, r := range prod.of("aws:iam/role:Role") {
			found = found || str(r.inputs["name"]) == role
		}
		if !found || len(role) > 64 {
			t.Errorf("remediator assumes %q, which the stack does not create", role)
		}
	}
	// A bucket template without the stack's name fails preview, naming the fix.
	_, err = deploy(t, map[string]string{"macie-chatops:policyFile": "policies/example-org.yaml"}, defaultMembers)
	if err == nil || !strings.Contains(err.Error(), `does not name the stack "dev"`) || !strings.Contains(err.Error(), "macie-chatops-dev-quarantine-{account}-{region}") {
		t.Errorf("a shared bucket name passed: %v", err)
	}
}

func TestAlarmTopicKeyLetsCloudWatchPublish(t *testing.T) {
	m := mustDeploy(t)
	topics := m.of("aws:sns/topic:Topic")
	if len(topics) != 1 {
		t.Fatalf("%d topics", len(topics))
	}
	keyArn := str(topics[0].inputs["kmsMasterKeyId"])
	for _, k := range m.of("aws:kms/key:Key") {
		if str(k.outputs["arn"]) != keyArn {
			continue
		}
		var d struct{ Statement []Statement }
		json.Unmarshal([]byte(str(k.inputs["policy"])), &d)
		for _, st := range d.Statement {
			p, _ := st.Principal.(map[string]any)
			if st.Effect == "Allow" && p["Service"] == "cloudwatch.amazonaws.com" && slices.Contains(list(st.Action), "kms:Decrypt") && slices.Contains(list(st.Action), "kms:GenerateDataKey*") {
				return
			}
		}
		t.Fatalf("the alarm topic's key does not let CloudWatch use it: %s", str(k.inputs["policy"]))
	}
	t.Fatalf("the alarm topic is encrypted with %q, not a key of the stack's own (CloudWatch cannot use alias/aws/sns)", keyArn)
}

func TestQueuesFollowLambdaGuidance(t *testing.T) {
	m := mustDeploy(t)
	timeout := map[string]float64{}
	for _, f := range m.of("aws:lambda/function:Function") {
		timeout[f.name] = f.inputs["timeout"].NumberValue()
	}
	consumer := map[string]string{"findings": "finding-handler", "jobs": "remediator"}
	for _, q := range m.of("aws:sqs/queue:Queue") {
		fn, ok := consumer[q.name]
		if !ok {
			continue
		}
		if v := q.inputs["visibilityTimeoutSeconds"].NumberValue(); v < 6*timeout[fn] {
			t.Errorf("%s: visibility %vs < 6 × %s's timeout %vs", q.name, v, fn, timeout[fn])
		}
		var rp struct{ MaxReceiveCount int }
		json.Unmarshal([]byte(str(q.inputs["redrivePolicy"])), &rp)
		if rp.MaxReceiveCount < 10 {
			t.Errorf("%s: maxReceiveCount %d: throttled batches would dead-letter a burst", q.name, rp.MaxReceiveCount)
		}
	}
	for _, e := range m.of("aws:lambda/eventSourceMapping:EventSourceMapping") {
		if sc := e.inputs["scalingConfig"]; !sc.IsObject() || !sc.ObjectValue()["maximumConcurrency"].IsNumber() {
			t.Errorf("%s has no ScalingConfig.MaximumConcurrency", e.name)
		}
	}
}

func TestQuarantineRoleStaysInItsAccountAndOutOfLogBuckets(t *testing.T) {
	m := mustDeploy(t)
	for name, d := range policies(t, m) {
		if !strings.HasPrefix(name, "member-") || !strings.HasSuffix(name, "-quarantine-policy.policy") || strings.Contains(name, "-us-") || strings.Contains(name, "-eu-") {
			continue
		}
		acct := strings.Split(name, "-")[1]
		denyLogs, checked := false, 0
		for _, st := range d.Statement {
			for _, a := range list(st.Action) {
				if a == "s3:ListBucketMultipartUploads" || a == "s3:ListMultipartUploadParts" || a == "kms:Encrypt" {
					t.Errorf("%s grants %s, which no code path uses", name, a)
				}
			}
			if st.Effect == "Allow" && (st.Sid == "DataBuckets" || st.Sid == "DataObjects") {
				checked++
				eq, _ := st.Condition["StringEquals"].(map[string]any)
				if eq["s3:ResourceAccount"] != acct {
					t.Errorf("%s %s: no s3:ResourceAccount = %s condition: %v", name, st.Sid, acct, st.Condition)
				}
			}
			if st.Effect == "Deny" && slices.Contains(list(st.Resource), "arn:aws:s3:::*cloudtrail*/*") && slices.Contains(list(st.Resource), "arn:aws:s3:::cloudtrail-*/*") {
				denyLogs = true
			}
		}
		if checked != 2 {
			t.Errorf("%s: %d data statements checked, want 2", name, checked)
		}
		scoped := acct == "444455556666" // the member with dataBuckets
		if denyLogs == scoped {
			t.Errorf("%s: log buckets denied %v (member names its buckets: %v)", name, denyLogs, scoped)
		}
	}
	cfg := &Config{Members: defaultMembers, Policy: mustDeployConfig(t).Policy}
	w := Warnings(cfg)
	if len(w) != 2 || !strings.Contains(w[0], "member 111122223333 has no dataBuckets") || !strings.Contains(w[0], "members[].dataBuckets") {
		t.Errorf("warnings %q", w)
	}
}

// mustDeployConfig is the config the default deploy loads.
func mustDeployConfig(t *testing.T) *Config {
	t.Helper()
	var cfg *Config
	prev := runHook
	runHook = func(c *Config) { cfg = c }
	defer func() { runHook = prev }()
	mustDeploy(t)
	return cfg
}

func TestTopologyFollowsMacieMode(t *testing.T) {
	// where findings enter the central queue: rules (bus, account, region) and forwarders.
	topo := func(m *mocks) (rules, fwd []string) {
		for _, r := range m.of("aws:cloudwatch/eventRule:EventRule") {
			if str(r.inputs["eventPattern"]) == "" {
				continue
			}
			if strings.HasSuffix(r.name, "-forwarder") {
				fwd = append(fwd, r.account+"/"+r.region)
			} else {
				rules = append(rules, r.account+"/"+r.region+"/"+str(r.inputs["eventBusName"]))
			}
		}
		slices.Sort(rules)
		slices.Sort(fwd)
		return
	}
	m := mustDeploy(t) // delegated-admin (the default)
	rules, fwd := topo(m)
	if want := []string{"999988887777/us-east-1/", "999988887777/us-east-1/macie-chatops-dev-findings"}; !slices.Equal(rules, want) {
		t.Errorf("delegated-admin rules %v, want %v", rules, want)
	}
	if want := []string{"999988887777/eu-west-1"}; !slices.Equal(fwd, want) {
		t.Errorf("delegated-admin forwarders %v, want %v (members' policy findings also reach the administrator: forwarding them would deliver twice)", fwd, want)
	}
	one := []Member{{AccountID: "111122223333", DeployRole: "R"}, {AccountID: "999988887777"}}
	m, err := deploy(t, nil, one)
	if err != nil {
		t.Fatal(err)
	}
	if rules, fwd := topo(m); !slices.Equal(rules, []string{"999988887777/us-east-1/"}) || len(fwd) != 0 {
		t.Errorf("delegated-admin, one region: rules %v forwarders %v", rules, fwd)
	}
	m, err = deploy(t, map[string]string{"macie-chatops:macieMode": "standalone"}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	rules, fwd = topo(m)
	if want := []string{"999988887777/us-east-1/", "999988887777/us-east-1/macie-chatops-dev-findings"}; !slices.Equal(rules, want) {
		t.Errorf("standalone rules %v, want %v", rules, want)
	}
	// Every member region forwards, except the security account's own home region (the
	// default-bus rule reads it: a forwarder there too would deliver twice).
	if want := []string{"111122223333/eu-west-1", "111122223333/us-east-1", "444455556666/us-east-1"}; !slices.Equal(fwd, want) {
		t.Errorf("standalone forwarders %v, want %v", fwd, want)
	}
	if _, err := deploy(t, map[string]string{"macie-chatops:macieMode": "organization"}, defaultMembers); err == nil || !strings.Contains(err.Error(), "macieMode") {
		t.Errorf("bad mode: %v", err)
	}
}

func TestSlackModeNeedsItsSecret(t *testing.T) {
	cases := []struct {
		over map[string]string
		want string
	}{
		{map[string]string{"macie-chatops:slackBotToken": ""}, "pulumi config set --secret macie-chatops:slackBotToken xoxb-"},
		{map[string]string{"macie-chatops:slackMode": "webhook"}, "pulumi config set --secret macie-chatops:slackWebhookUrl https://hooks.slack.com/"},
	}
	for _, c := range cases {
		if _, err := deploy(t, c.over, defaultMembers); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v", c.over, err)
		}
	}
	m, err := deploy(t, map[string]string{"macie-chatops:slackMode": "webhook", "macie-chatops:slackBotToken": "", "macie-chatops:slackWebhookUrl": "https://hooks.slack.com/services/T/B/x"}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	if sv := m.of("aws:secretsmanager/secretVersion:SecretVersion"); !strings.Contains(str(sv[0].inputs["secretString"]), "hooks.slack.com") {
		t.Error("webhook URL not in the secret")
	}
}

func TestRemediationFailuresAlarmWatchesWhatTheRemediatorEmits(t *testing.T) {
	m := mustDeploy(t)
	for _, a := range m.of("aws:cloudwatch/metricAlarm:MetricAlarm") {
		if a.name != "remediation-failures" {
			continue
		}
		var sets []map[string]string
		for _, q := range a.inputs["metricQueries"].ArrayValue() {
			mt := q.ObjectValue()["metric"]
			if !mt.IsObject() {
				continue
			}
			o := mt.ObjectValue()
			if str(o["namespace"]) != "MacieChatOps" || str(o["metricName"]) != "Failures" {
				t.Errorf("alarm metric %v", o)
			}
			dims := map[string]string{}
			for k, v := range o["dimensions"].ObjectValue() {
				dims[string(k)] = str(v)
			}
			sets = append(sets, dims)
		}
		// The remediator's EMF lines (obs.Metrics.Count): {Function} for a failed move,
		// {Function, Kind=release} for a failed release. CloudWatch matches exact sets.
		want := []map[string]string{{"Function": "remediator"}, {"Function": "remediator", "Kind": "release"}}
		if len(sets) != len(want) {
			t.Fatalf("alarm watches %v, want %v", sets, want)
		}
		for i := range want {
			if !equalMaps(sets[i], want[i]) {
				t.Errorf("alarm watches %v, want %v", sets, want)
			}
		}
		return
	}
	t.Fatal("no remediation-failures alarm")
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSweeperIsDeployedOnASchedule(t *testing.T) {
	m, err := deploy(t, map[string]string{"macie-chatops:sweeperSchedule": "rate(10 minutes)"}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	var sweeper res
	for _, f := range m.of("aws:lambda/function:Function") {
		if f.name == "sweeper" {
			sweeper = f
		}
	}
	if sweeper.name == "" || !sweeper.inputs["code"].IsArchive() || !strings.HasSuffix(sweeper.inputs["code"].ArchiveValue().Path, filepath.Join("build", "sweeper.zip")) {
		t.Fatalf("no sweeper function built like the others: %v", sweeper.inputs["code"])
	}
	var rule, target, perm, alarm bool
	for _, r := range m.all {
		switch {
		case r.name == "sweeper-schedule":
			rule = str(r.inputs["scheduleExpression"]) == "rate(10 minutes)"
		case r.name == "sweeper-schedule-target":
			target = str(r.inputs["arn"]) == str(sweeper.outputs["arn"]) && str(r.inputs["input"]) == "{}"
		case r.name == "sweeper-schedule-invoke":
			perm = str(r.inputs["principal"]) == "events.amazonaws.com"
		case r.name == "sweeper-errors":
			alarm = true
		}
	}
	if !rule || !target || !perm || !alarm {
		t.Errorf("schedule %v, target %v, permission %v, errors alarm %v", rule, target, perm, alarm)
	}
	d := policies(t, m)["sweeper-policy.policy"]
	var acts []string
	for _, st := range d.Statement {
		acts = append(acts, list(st.Action)...)
	}
	for _, a := range []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "sqs:SendMessage", "secretsmanager:GetSecretValue"} {
		if !slices.Contains(acts, a) {
			t.Errorf("sweeper may not %s", a)
		}
	}
	if _, err := deploy(t, map[string]string{"macie-chatops:sweeperSchedule": "every 5 minutes"}, defaultMembers); err == nil || !strings.Contains(err.Error(), "sweeperSchedule") {
		t.Errorf("bad schedule: %v", err)
	}
}

func TestBootstrapGivesEachMemberADeployRoleTrustingTheDeployer(t *testing.T) {
	deployer := "arn:aws:iam::999988887777:role/platform-deployer"
	boot := func(v string) (*mocks, error) {
		return deployRaw(t, "bootstrap", map[string]string{"macie-chatops:deployRoles": v, "macie-chatops:policyFile": "", "macie-chatops:externalId": ""}, "[]")
	}
	m, err := boot(`{"deployerArn":"` + deployer + `","accounts":["444455556666",111122223333]}`)
	if err != nil {
		t.Fatal(err)
	}
	roles := m.of("aws:iam/role:Role")
	if len(roles) != 2 || len(m.of("aws:iam/rolePolicyAttachment:RolePolicyAttachment")) != 2 {
		t.Fatalf("%d roles", len(roles))
	}
	for _, r := range roles {
		if str(r.inputs["name"]) != DeployRoleName || !strings.HasSuffix(r.name, r.account) {
			t.Errorf("%s: %s in %s", r.name, str(r.inputs["name"]), r.account)
		}
		var d struct{ Statement []Statement }
		json.Unmarshal([]byte(str(r.inputs["assumeRolePolicy"])), &d)
		if p, _ := d.Statement[0].Principal.(map[string]any); len(d.Statement) != 1 || p["AWS"] != deployer {
			t.Errorf("%s trusts %v", r.name, d.Statement)
		}
	}
	for _, p := range m.of("pulumi:providers:aws") {
		if !strings.HasSuffix(str(p.inputs["assumeRole"].ObjectValue()["roleArn"]), ":"+p.account+":role/OrganizationAccountAccessRole") {
			t.Errorf("provider %s does not go through the organization's access role", p.name)
		}
	}
	for _, bad := range []string{`{"deployerArn":"arn:aws:sts::999988887777:assumed-role/x/y","accounts":["111122223333"]}`, `{"deployerArn":"` + deployer + `","accounts":[]}`} {
		if _, err := boot(bad); err == nil || !strings.Contains(err.Error(), "macie-chatops:deployRoles") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// ConfigKeys are read by LoadConfig; Pulumi.dev.yaml and the README's Deploy section name them all.
func TestEveryConfigKeyIsDocumented(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:required|secret|number|c\.(?:Get|GetBool|GetInt|Try|TrySecret|GetSecret|TryObject))\("([a-zA-Z]+)"`).FindAllStringSubmatch(string(src), -1) {
		keys[m[1]] = true
	}
	if len(keys) < 15 {
		t.Fatalf("found only %d keys: %v", len(keys), keys)
	}
	dev, err := os.ReadFile(filepath.Join("..", "..", "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	deploy := string(readme)
	if i := strings.Index(deploy, "\n## Deploy"); i >= 0 {
		deploy = deploy[i:]
		if j := strings.Index(deploy[1:], "\n## "); j >= 0 {
			deploy = deploy[:j+1]
		}
	}
	for k := range keys {
		if !strings.Contains(string(dev), "macie-chatops:"+k+":") {
			t.Errorf("Pulumi.dev.yaml does not show macie-chatops:%s", k)
		}
		if !strings.Contains(deploy, k) {
			t.Errorf("README Deploy does not document %s", k)
		}
	}
}

// The module builds on its own (GOWORK=off), as `cd infra && go build ./...` in CI does.
func TestModuleBuildsWithoutTheWorkspace(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-test", "./...")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOWORK=off go list -deps ./... in infra: %v\n%s", err, out)
	}
}

// `pulumi destroy` must succeed and must not take quarantined data or the ledger with it: the
// quarantine buckets (non-empty: a delete would fail), everything that protects them, their keys
// and the ledger (deletion protection: a delete would fail) are left; nothing else is.
func TestDestroyLeavesQuarantineAndLedgerAndNothingElse(t *testing.T) {
	m := mustDeploy(t)
	kept := map[string]int{}
	for _, r := range m.all {
		quarantine := strings.HasPrefix(r.name, "member-") && strings.Contains(r.name, "-quarantine") && !strings.HasSuffix(r.name, "-quarantine-role") && !strings.HasSuffix(r.name, "-quarantine-policy") ||
			r.typ == "aws:s3/bucketPolicy:BucketPolicy"
		want := quarantine || r.typ == "aws:dynamodb/table:Table"
		if r.retain != want {
			t.Errorf("%s (%s): retained on destroy %v, want %v", r.name, r.typ, r.retain, want)
		}
		if r.retain {
			kept[r.typ]++
		}
	}
	if kept["aws:s3/bucketV2:BucketV2"] != 4 || kept["aws:kms/key:Key"] != 4 || kept["aws:s3/bucketPolicy:BucketPolicy"] != 4 || kept["aws:dynamodb/table:Table"] != 1 {
		t.Errorf("kept %v", kept)
	}
}

var _ = resource.PropertyKey("")

// Stack names that Slug would fold ("dev.eu" → "dev-eu", "Dev" → "dev") would share role,
// function and bucket names with another stack in the same account: preview refuses them,
// naming the stack and the rename; a name that is its own slug passes.
func TestStackNameMustBeItsOwnSlug(t *testing.T) {
	members, _ := json.Marshal(defaultMembers)
	for _, c := range []struct{ bad, good string }{{"dev.eu", "dev-eu"}, {"Dev", "dev"}, {"dev_1", "dev-1"}, {"-dev", "dev"}} {
		_, err := deployRaw(t, c.bad, map[string]string{"macie-chatops:policyFile": "policies/dev.yaml"}, string(members))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("stack name %q cannot be used in AWS names", c.bad)) || !strings.Contains(err.Error(), "pulumi stack rename "+c.good) {
			t.Errorf("stack %q: %v", c.bad, err)
		}
	}
	dev, err := os.ReadFile("../../policies/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, good := range []string{"dev", "dev-eu", "prod-payments-eu", "dev-1"} {
		// dev's policy, with a bucket template that names this stack.
		pf := filepath.Join(t.TempDir(), good+".yaml")
		if err := os.WriteFile(pf, []byte(strings.ReplaceAll(string(dev), "macie-chatops-dev-quarantine-", "mc-"+good+"-q-")), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := deployRaw(t, good, map[string]string{"macie-chatops:policyFile": pf}, string(members)); err != nil {
			t.Errorf("stack %q refused: %v", good, err)
		}
	}
}
