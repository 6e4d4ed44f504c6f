package stack

import (
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
	if o.HomeRegion("us-east-1") != "us-east-1" || o.HomeRegion("ap-south-1") != "eu-west-1" {
		t.Errorf("home region: %s / %s", o.HomeRegion("us-east-1"), o.HomeRegion("ap-south-1"))
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
