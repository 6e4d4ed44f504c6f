package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	ouA = "ou-abcd-11111111"
	ouB = "ou-abcd-22222222"
)

// orgSetting is the organization setting of the tests: two OUs, two regions, given unsorted.
const orgSetting = `{"organizationalUnits": ["` + ouB + `", "` + ouA + `"], "regions": ["eu-west-1", "us-east-1"]}`

// deployOrg runs the program in organization mode beside the given explicit members.
func deployOrg(t *testing.T, org string, over map[string]string, members []Member) (*mocks, *Config, error) {
	t.Helper()
	all := map[string]string{"macie-chatops:organization": org}
	for k, v := range over {
		all[k] = v
	}
	var cfg *Config
	prev := runHook
	runHook = func(c *Config) { cfg = c }
	defer func() { runHook = prev }()
	m, err := deploy(t, all, members)
	return m, cfg, err
}

func TestOrganizationConfig(t *testing.T) {
	_, cfg, err := deployOrg(t, orgSetting, nil, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Organization
	if o == nil {
		t.Fatal("organization not loaded")
	}
	if strings.Join(o.OrganizationalUnits, ",") != ouA+","+ouB || strings.Join(o.Regions, ",") != "eu-west-1,us-east-1" {
		t.Errorf("OUs %v regions %v: want both sorted", o.OrganizationalUnits, o.Regions)
	}
	if !o.AutoDeployEnabled() || o.CallAs != CallAsDelegatedAdmin {
		t.Errorf("defaults: autoDeploy %v callAs %q, want true and DELEGATED_ADMIN", o.AutoDeployEnabled(), o.CallAs)
	}
	if len(cfg.Members) != len(defaultMembers) {
		t.Errorf("explicit members beside the organization: %d, want %d", len(cfg.Members), len(defaultMembers))
	}
	if o.HomeRegion("us-east-1") != "us-east-1" {
		t.Errorf("home region: %s, want the stack's region", o.HomeRegion("us-east-1"))
	}
	// A root id is a valid target too; SELF from the management account; autoDeploy off. The
	// payments account (its policy override changes its quarantine) stays an explicit member.
	_, cfg, err = deployOrg(t, `{"organizationalUnits": ["r-ab12"], "regions": ["us-east-1"], "autoDeploy": false, "callAs": "SELF"}`, nil, defaultMembers[:1])
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Organization.AutoDeployEnabled() || cfg.Organization.CallAs != CallAsSelf || len(cfg.Members) != 1 {
		t.Errorf("root, SELF, autoDeploy false: %+v members %d", cfg.Organization, len(cfg.Members))
	}
}

func TestOrganizationConfigErrors(t *testing.T) {
	cases := []struct {
		name    string
		org     string
		over    map[string]string
		members []Member
		want    []string
	}{
		{"bad OU", `{"organizationalUnits": ["ou-1", "OU-ABCD-11111111"], "regions": ["us-east-1"]}`, nil, defaultMembers,
			[]string{`organization.organizationalUnits[0] "ou-1" is not an OU id`, `organizationalUnits[1] "OU-ABCD-11111111"`, "list-organizational-units-for-parent"}},
		{"no OU", `{"regions": ["us-east-1"]}`, nil, defaultMembers, []string{"organization.organizationalUnits is empty", "pulumi config set --path 'macie-chatops:organization.organizationalUnits[0]'"}},
		{"OU twice", `{"organizationalUnits": ["` + ouA + `", "` + ouA + `"], "regions": ["us-east-1"]}`, nil, defaultMembers, []string{"organizationalUnits[1]: " + ouA + " is listed twice"}},
		{"no region", `{"organizationalUnits": ["` + ouA + `"]}`, nil, defaultMembers, []string{"organization.regions is empty", "regions[0]' us-east-1"}},
		{"bad region", `{"organizationalUnits": ["` + ouA + `"], "regions": ["us-east"]}`, nil, defaultMembers, []string{`organization.regions[0] "us-east" is not an AWS region name`}},
		{"bad callAs", `{"organizationalUnits": ["` + ouA + `"], "regions": ["us-east-1"], "callAs": "ADMIN"}`, nil, defaultMembers, []string{`organization.callAs "ADMIN": choose DELEGATED_ADMIN`, "SELF"}},
		{"not an object", `["` + ouA + `"]`, nil, defaultMembers, []string{"macie-chatops:organization:", "an object {organizationalUnits"}},
		{"no organization id", orgSetting, map[string]string{"macie-chatops:organizationId": ""}, defaultMembers, []string{"macie-chatops:organization is set but macie-chatops:organizationId is not", "pulumi config set macie-chatops:organizationId"}},
		// The example policy's payments account overrides its quarantine retention: without
		// the account as an explicit member, organization mode cannot apply it.
		{"override of a non-member", orgSetting, nil, nil, []string{"accounts.111122223333.quarantine sets bucket, retentionDays or kmsKeyId", "use an explicit member for this account"}},
		{"quarantine key in the defaults", orgSetting, map[string]string{"macie-chatops:policyFile": policyReplacing(t, devPolicyFile(t), "    bucket: macie-chatops-dev-quarantine-{account}-{region}", "    bucket: macie-chatops-dev-quarantine-{account}-{region}\n    kmsKeyId: alias/quarantine-copies")}, defaultMembers,
			[]string{`defaults.quarantine.kmsKeyId is "alias/quarantine-copies"`, "remove defaults.quarantine.kmsKeyId"}},
	}
	for _, c := range cases {
		_, _, err := deployOrg(t, c.org, c.over, c.members)
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

// stackSetOf returns the mocks' StackSet and its instances in declaration order.
func stackSetOf(t *testing.T, m *mocks) (res, []res) {
	t.Helper()
	sets := m.of("aws:cloudformation/stackSet:StackSet")
	if len(sets) != 1 {
		t.Fatalf("%d StackSets, want 1", len(sets))
	}
	return sets[0], m.of("aws:cloudformation/stackSetInstance:StackSetInstance")
}

func TestOrganizationModeDeploysOneServiceManagedStackSetPerOUAndRegion(t *testing.T) {
	m, _, err := deployOrg(t, orgSetting, nil, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	ss, insts := stackSetOf(t, m)
	in := ss.inputs
	if got := str(in["name"]); got != AWSName(128, "macie-chatops", "dev", "members") || got != "macie-chatops-dev-members" {
		t.Errorf("StackSet name %q", got)
	}
	if str(in["permissionModel"]) != "SERVICE_MANAGED" || str(in["callAs"]) != "DELEGATED_ADMIN" {
		t.Errorf("permissionModel %q callAs %q", str(in["permissionModel"]), str(in["callAs"]))
	}
	ad := in["autoDeployment"].ObjectValue()
	if !ad["enabled"].BoolValue() || ad["retainStacksOnAccountRemoval"].BoolValue() {
		t.Errorf("autoDeployment %v: want enabled, stacks not retained", ad)
	}
	if caps := in["capabilities"].ArrayValue(); len(caps) != 1 || str(caps[0]) != "CAPABILITY_NAMED_IAM" {
		t.Errorf("capabilities %v", caps)
	}
	op := in["operationPreferences"].ObjectValue()
	if op["maxConcurrentPercentage"].NumberValue() != 25 || op["failureTolerancePercentage"].NumberValue() != 10 || str(op["regionConcurrencyType"]) != "PARALLEL" {
		t.Errorf("operationPreferences %v", op)
	}
	// The StackSet lands in the security account, through the central provider.
	if ss.account != "999988887777" || ss.region != "us-east-1" {
		t.Errorf("StackSet in %s %s, want the security account's us-east-1", ss.account, ss.region)
	}
	params := in["parameters"].ObjectValue()
	if str(params[ParamRemediatorRoleArn]) != remediatorArnOf(t, m) {
		t.Errorf("parameters %v", params)
	}
	if _, ok := params[ParamCentralBusArn]; ok {
		t.Errorf("delegated-admin: the template has no forwarder, yet CentralBusArn is passed: %v", params)
	}
	var got []string
	for _, i := range insts {
		ous := i.inputs["deploymentTargets"].ObjectValue()["organizationalUnitIds"].ArrayValue()
		if len(ous) != 1 {
			t.Fatalf("%s targets %v", i.name, ous)
		}
		got = append(got, str(ous[0])+" "+str(i.inputs["region"]))
		if str(i.inputs["stackSetName"]) != "macie-chatops-dev-members" || str(i.inputs["callAs"]) != "DELEGATED_ADMIN" || i.inputs["retainStack"].BoolValue() {
			t.Errorf("%s: stackSetName %q callAs %q retainStack %v", i.name, str(i.inputs["stackSetName"]), str(i.inputs["callAs"]), i.inputs["retainStack"])
		}
		if str(i.inputs["operationPreferences"].ObjectValue()["concurrencyMode"]) != "SOFT_FAILURE_TOLERANCE" || i.account != "999988887777" {
			t.Errorf("%s: %v in %s", i.name, i.inputs["operationPreferences"], i.account)
		}
	}
	want := []string{ouA + " eu-west-1", ouA + " us-east-1", ouB + " eu-west-1", ouB + " us-east-1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("instances (declaration order) %v, want %v", got, want)
	}
	// Explicit members beside it keep their own components.
	if n := len(m.of("aws:iam/role:Role")); n < 3 {
		t.Errorf("explicit members' roles: %d", n)
	}
	// Delegated-admin: the security account forwards from every organization region but its own.
	m, _, err = deployOrg(t, `{"organizationalUnits": ["`+ouA+`"], "regions": ["us-east-1", "ap-southeast-2"]}`, nil, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	fwd := 0
	for _, r := range m.of("aws:cloudwatch/eventRule:EventRule") {
		if r.name == "security-999988887777-ap-southeast-2-forwarder" && r.account == "999988887777" && r.region == "ap-southeast-2" {
			fwd++
		}
	}
	if fwd != 1 {
		t.Errorf("security account forwarders from ap-southeast-2 (an organization region only): %d, want 1", fwd)
	}
	// SELF and autoDeploy off reach the StackSet and its instances.
	m, _, err = deployOrg(t, `{"organizationalUnits": ["r-ab12"], "regions": ["us-east-1"], "autoDeploy": false, "callAs": "SELF"}`, map[string]string{"macie-chatops:macieMode": MacieStandalone}, defaultMembers[:1])
	if err != nil {
		t.Fatal(err)
	}
	ss, insts = stackSetOf(t, m)
	if ss.inputs["autoDeployment"].ObjectValue()["enabled"].BoolValue() || str(ss.inputs["callAs"]) != "SELF" || len(insts) != 1 || str(insts[0].inputs["callAs"]) != "SELF" {
		t.Errorf("SELF/autoDeploy false: %v, %d instances", ss.inputs, len(insts))
	}
	// Standalone: the template forwards, so the central bus is passed.
	if str(ss.inputs["parameters"].ObjectValue()[ParamCentralBusArn]) != "arn:aws:events:us-east-1:999988887777:event-bus/macie-chatops-dev-findings" {
		t.Errorf("standalone: CentralBusArn %v", ss.inputs["parameters"])
	}
}

func TestNoStackSetWithoutOrganization(t *testing.T) {
	m := mustDeploy(t)
	if n := len(m.of("aws:cloudformation/stackSet:StackSet")) + len(m.of("aws:cloudformation/stackSetInstance:StackSetInstance")); n != 0 {
		t.Errorf("%d StackSet resources without macie-chatops:organization", n)
	}
}

// remediatorArnOf is the central remediator role's ARN as the mocks declared it.
func remediatorArnOf(t *testing.T, m *mocks) string {
	t.Helper()
	for _, r := range m.of("aws:iam/role:Role") {
		if r.name == "remediator-role" {
			return str(r.outputs["arn"])
		}
	}
	t.Fatal("no remediator-role")
	return ""
}

// TestOrganizationHomeRegionNeverMoves: the home region's instance creates the account-wide
// quarantine role. If it were the first listed region, adding a region that sorts first would
// delete every account's role in one region before creating it in another (attack: an account
// where the new region fails keeps no role while its old instances report CURRENT). It is the
// stack's own region, which organization.regions must list.
func TestOrganizationHomeRegionNeverMoves(t *testing.T) {
	_, _, err := deployOrg(t, `{"organizationalUnits": ["`+ouA+`"], "regions": ["eu-west-1", "us-east-1"]}`, map[string]string{"aws:region": "us-west-2"}, defaultMembers)
	if err == nil || !strings.Contains(err.Error(), "does not list the stack's own region us-west-2") || !strings.Contains(err.Error(), "regions[2]' us-west-2") {
		t.Fatalf("want a refusal naming the stack's region and the fix, got %v", err)
	}
	home := func(org string) string {
		_, cfg, err := deployOrg(t, org, map[string]string{"aws:region": "us-west-2"}, defaultMembers)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Organization.HomeRegion(cfg.Region)
	}
	before := home(`{"organizationalUnits": ["` + ouA + `"], "regions": ["us-west-2", "us-east-1"]}`)
	after := home(`{"organizationalUnits": ["` + ouA + `"], "regions": ["us-west-2", "us-east-1", "ap-south-1"]}`)
	if before != "us-west-2" || after != before {
		t.Errorf("home region %s, then %s after adding ap-south-1: want us-west-2 both times", before, after)
	}
}

// The StackSet's bucket-settings role has the defaults' bucket-fix kinds in every account, so a
// policy override that changes an account's kinds (more or fewer) is refused in organization
// mode unless the account is an explicit member, which gets a role of its own kinds; an
// override that leaves the kinds as they are is accepted.
func TestOrganizationRefusesBucketFixKindsOverrideOfANonMember(t *testing.T) {
	dev, _ := filepath.Abs(filepath.Join("..", "..", "policies", "dev.yaml"))
	const acct = "210987654321"
	withAccount := func(actions ...string) string {
		raw, err := os.ReadFile(dev)
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		if !strings.HasSuffix(s, "\n") || !strings.Contains(s, "\naccounts:\n") || strings.Contains(s, acct) {
			t.Fatal("dev.yaml does not end in its accounts section (or already lists " + acct + "): change the test with the file")
		}
		s += "  \"" + acct + "\":\n    name: later\n    actions:\n"
		for _, a := range actions {
			s += "      " + a + "\n"
		}
		p := filepath.Join(t.TempDir(), "dev.yaml")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	refused := []struct {
		name, policy string
		want         []string
	}{
		{"more kinds", withAccount("Policy:IAMUser/S3BucketEncryptionDisabled: AUTO"),
			[]string{"accounts." + acct + ".actions enables the bucket-fix kinds [block-public-access default-encryption] where the defaults enable [block-public-access]"}},
		{"no kind", withAccount("Policy:IAMUser/S3BlockPublicAccessDisabled: NOTIFY"),
			[]string{"accounts." + acct + ".actions enables the bucket-fix kinds none where the defaults enable [block-public-access]"}},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := deployOrg(t, orgSetting, map[string]string{"macie-chatops:policyFile": c.policy}, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range append(c.want, "use an explicit member for this account (add it to macie-chatops:members", "or give its Policy:* types the defaults' actions") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	t.Run("explicit member", func(t *testing.T) {
		// The same override for an explicit member: its own role, without a kind; the template's
		// role keeps the defaults' kind.
		m, cfg, err := deployOrg(t, orgSetting, map[string]string{"macie-chatops:policyFile": withAccount("Policy:IAMUser/S3BlockPublicAccessDisabled: NOTIFY")},
			[]Member{{AccountID: acct, DeployRole: "OrganizationAccountAccessRole"}})
		if err != nil {
			t.Fatal(err)
		}
		if r := extract(t, m).roleArn["member-"+acct+"-bucket-settings-role"]; r != "" {
			t.Errorf("explicit member %s, whose policy enables no kind, has bucket-settings role %s", acct, r)
		}
		tmpl, err := MemberTemplate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tmpl.Resources[LogicalBucketSettingsRole]; !ok {
			t.Error("the template has no bucket-settings role for the defaults' block public access")
		}
	})
	t.Run("same kinds", func(t *testing.T) {
		// REVIEW instead of the defaults' IGNORE for S3BucketPublic: block public access again,
		// so the account's kinds are the defaults'.
		if _, _, err := deployOrg(t, orgSetting, map[string]string{"macie-chatops:policyFile": withAccount("Policy:IAMUser/S3BucketPublic: REVIEW")}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// Preview says how far the StackSet's bucket-settings role reaches, naming its kinds, only when
// the template has it.
func TestOrganizationBucketSettingsWarning(t *testing.T) {
	dev, _ := filepath.Abs(filepath.Join("..", "..", "policies", "dev.yaml"))
	for _, c := range []struct {
		name, policy string
		want         string
	}{
		{"example-org", "", "organization mode: the bucket-settings role in each account of " + ouA + ", " + ouB + " may change block public access, default encryption and replication of every bucket of its own account except"},
		{"dev", dev, "organization mode: the bucket-settings role in each account of " + ouA + ", " + ouB + " may change block public access of every bucket of its own account except"},
		{"no bucket fix", policyReplacing(t, dev, "Policy:IAMUser/S3BlockPublicAccessDisabled: REVIEW", "Policy:IAMUser/S3BlockPublicAccessDisabled: NOTIFY"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			over := map[string]string{}
			if c.policy != "" {
				over["macie-chatops:policyFile"] = c.policy
			}
			// The explicit members: example-org.yaml overrides their quarantine settings.
			_, cfg, err := deployOrg(t, orgSetting, over, defaultMembers)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range BucketSettingsWarnings(cfg) {
				if strings.HasPrefix(w, "organization mode:") {
					got = append(got, w)
				}
			}
			if c.want == "" {
				if len(got) != 0 {
					t.Errorf("warnings %q without the role", got)
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], c.want) || !strings.Contains(got[0], "*cloudtrail*") || !strings.Contains(got[0], "per-account dataBuckets need an explicit member") {
				t.Errorf("warnings %q, want one starting %q, naming the protected buckets", got, c.want)
			}
		})
	}
}

// devPolicyFile is policies/dev.yaml's absolute path.
func devPolicyFile(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "policies", "dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
