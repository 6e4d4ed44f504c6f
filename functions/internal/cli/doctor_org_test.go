package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const docManagementRole = "arn:aws:iam::000011112222:role/OrganizationAdmin"

// The organization view runs against moto's Organizations and CloudFormation StackSets. What
// moto 5.2.1 lacks is faked here, precisely, and only that:
//   - Organizations list calls (ListChildren, ListAccountsForParent, ListAWSServiceAccess...,
//     ListDelegatedAdministrators) are answered only in the management account's backend, and a
//     service-managed StackSet lives there; AWS answers a delegated administrator too (with
//     CallAs DELEGATED_ADMIN for CloudFormation). asManagement sends the security account's
//     organizations and cloudformation calls with the management account's credentials, and
//     records the CallAs doctor sent.
//   - FakeDelegatedAdministrator.SUPPORTED_SERVICES lacks member.org.stacksets.cloudformation.
//     amazonaws.com (RegisterDelegatedAdministrator and the filtered list refuse it):
//     ListDelegatedAdministrators for that principal answers from the test's registrations.
//   - StackInstance.to_dict reports every instance CURRENT: a test may set one instance's status.
//   - moto has no auto-deployment: an account moved into an OU after the instances were created
//     gets none, which is what AWS shows when auto-deployment failed for it (or is off).

// asManagement is Organizations as the management account, with StackSets' delegated
// administrators from the test.
type asManagement struct {
	*organizations.Client
	admins []string
}

func (a asManagement) ListDelegatedAdministrators(ctx context.Context, in *organizations.ListDelegatedAdministratorsInput, o ...func(*organizations.Options)) (*organizations.ListDelegatedAdministratorsOutput, error) {
	if aws.ToString(in.ServicePrincipal) != stackSetsPrincipal {
		return a.Client.ListDelegatedAdministrators(ctx, in, o...)
	}
	out := &organizations.ListDelegatedAdministratorsOutput{}
	for _, id := range a.admins {
		out.DelegatedAdministrators = append(out.DelegatedAdministrators, orgtypes.DelegatedAdministrator{Id: aws.String(id), State: orgtypes.AccountStateActive})
	}
	return out, nil
}

// cfnAsManagement is CloudFormation as the management account: it records CallAs and may
// override one instance's status.
type cfnAsManagement struct {
	*cloudformation.Client
	mu       *sync.Mutex
	callAs   *[]cfntypes.CallAs
	override map[string]cfntypes.StackInstanceStatus // account/region → status
	noStack  map[string]bool                         // account/region → answer an empty StackId
}

func (c cfnAsManagement) ListStackInstances(ctx context.Context, in *cloudformation.ListStackInstancesInput, o ...func(*cloudformation.Options)) (*cloudformation.ListStackInstancesOutput, error) {
	c.mu.Lock()
	*c.callAs = append(*c.callAs, in.CallAs)
	c.mu.Unlock()
	out, err := c.Client.ListStackInstances(ctx, in, o...)
	if err != nil {
		return nil, err
	}
	for i, s := range out.Summaries {
		if st, ok := c.override[aws.ToString(s.Account)+"/"+aws.ToString(s.Region)]; ok {
			out.Summaries[i].Status = st
			out.Summaries[i].StatusReason = aws.String("Account 123 should have 'AWSCloudFormationStackSetExecutionRole' role")
		}
		if c.noStack[aws.ToString(s.Account)+"/"+aws.ToString(s.Region)] {
			out.Summaries[i].StackId = aws.String("")
		}
	}
	return out, nil
}

// orgWorld is an organization in moto: OUs workloads (with prod below it), sandbox and
// security; accounts in each; StackSets trusted access; the members StackSet with instances in
// workloads and sandbox, two regions.
type orgWorld struct {
	t                               *testing.T
	ctx                             context.Context
	endpoint                        string
	mgmt                            aws.Config
	orgID, root                     string
	workloads, prod, sandbox, secOU string
	sec, w1, w2, p1, s1, closed     string
}

func (w *orgWorld) cfg(role string) aws.Config {
	root := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIADOCTORTEST", "secret", ""), BaseEndpoint: aws.String(w.endpoint)}
	out, err := sts.NewFromConfig(root).AssumeRole(w.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("test")})
	if err != nil {
		w.t.Fatal(err)
	}
	return withCreds(root, out)
}

func (w *orgWorld) ou(name, parent string) string {
	out, err := organizations.NewFromConfig(w.mgmt).CreateOrganizationalUnit(w.ctx, &organizations.CreateOrganizationalUnitInput{Name: aws.String(name), ParentId: aws.String(parent)})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.OrganizationalUnit.Id)
}

// account creates an account and moves it into ou.
func (w *orgWorld) account(name, ou string) string {
	oc := organizations.NewFromConfig(w.mgmt)
	out, err := oc.CreateAccount(w.ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
	if err != nil {
		w.t.Fatal(err)
	}
	id := aws.ToString(out.CreateAccountStatus.AccountId)
	if _, err := oc.MoveAccount(w.ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: aws.String(w.root), DestinationParentId: aws.String(ou)}); err != nil {
		w.t.Fatal(err)
	}
	return id
}

func newOrgWorld(t *testing.T, endpoint string, trusted, stackSet bool) *orgWorld {
	w := &orgWorld{t: t, ctx: context.Background(), endpoint: endpoint}
	(&docWorld{t: t, endpoint: endpoint}).reset()
	w.mgmt = w.cfg(docManagementRole)
	oc := organizations.NewFromConfig(w.mgmt)
	org, err := oc.CreateOrganization(w.ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatal(err)
	}
	w.orgID = aws.ToString(org.Organization.Id)
	roots, err := oc.ListRoots(w.ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	w.root = aws.ToString(roots.Roots[0].Id)
	w.workloads, w.sandbox, w.secOU = w.ou("workloads", w.root), w.ou("sandbox", w.root), w.ou("security", w.root)
	w.prod = w.ou("prod", w.workloads)
	w.sec = w.account("security", w.secOU)
	w.w1, w.w2, w.p1 = w.account("w1", w.workloads), w.account("w2", w.workloads), w.account("p1", w.prod)
	w.s1, w.closed = w.account("s1", w.sandbox), w.account("closed", w.sandbox)
	if trusted {
		if _, err := oc.EnableAWSServiceAccess(w.ctx, &organizations.EnableAWSServiceAccessInput{ServicePrincipal: aws.String(stackSetsPrincipal)}); err != nil {
			t.Fatal(err)
		}
	}
	if stackSet {
		cf := cloudformation.NewFromConfig(w.mgmt)
		if _, err := cf.CreateStackSet(w.ctx, &cloudformation.CreateStackSetInput{StackSetName: aws.String(stackSetName("test")), PermissionModel: cfntypes.PermissionModelsServiceManaged,
			TemplateBody:   aws.String(`{"Resources":{"Placeholder":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}`),
			AutoDeployment: &cfntypes.AutoDeployment{Enabled: aws.Bool(true), RetainStacksOnAccountRemoval: aws.Bool(false)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := cf.CreateStackInstances(w.ctx, &cloudformation.CreateStackInstancesInput{StackSetName: aws.String(stackSetName("test")),
			DeploymentTargets: &cfntypes.DeploymentTargets{OrganizationalUnitIds: []string{w.workloads, w.sandbox}}, Regions: []string{"us-east-1", "eu-west-1"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Closed after its instances were made: a closed account is not checked.
	if _, err := oc.CloseAccount(w.ctx, &organizations.CloseAccountInput{AccountId: aws.String(w.closed)}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *orgWorld) writeConfig(dir string, ous []string, callAs, member string) string {
	file := filepath.Join(dir, "Pulumi.test.yaml")
	extra := ""
	if callAs != "" {
		extra = "\n    callAs: " + callAs
	}
	if member != "" {
		extra += "\n  macie-chatops:members:\n    - accountId: \"" + member + "\"\n      deployRole: macie-chatops-deploy"
	}
	body := fmt.Sprintf(`config:
  aws:region: us-east-1
  macie-chatops:securityAccountId: "%s"
  macie-chatops:organizationId: %s
  macie-chatops:macieMode: standalone
  macie-chatops:policyFile: %s
  macie-chatops:slackChannel: "#macie-findings"
  macie-chatops:organization:
    organizationalUnits: [%s]
    regions: [us-east-1, eu-west-1]
    autoDeploy: true%s
`, w.sec, w.orgID, filepath.Join(dir, "policy.yaml"), strings.Join(ous, ", "), extra)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(docPolicy), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return file
}

// TestDoctorOrganization: with macie-chatops:organization set, doctor checks StackSets trusted
// access, the security account's delegated administration, the StackSet's instances per OU
// (its child OUs walked) and region, and flags every ACTIVE account of the OUs without a
// CURRENT instance, each failure with the command that fixes it.
func TestDoctorOrganization(t *testing.T) {
	endpoint := startMoto(t)
	var member, noScope atomic.Bool
	member.Store(true)
	slackURL := fakeSlack(t, &member, &noScope)

	type tc struct {
		untrusted  bool   // trusted access never enabled
		noStackSet bool   // the StackSet was never created
		notAdmin   bool   // the security account is not StackSets' delegated administrator
		callAs     string // organization.callAs
		later      bool   // an account joins sandbox after the instances were made
		outdated   bool   // w1's eu-west-1 instance is OUTDATED
		missingOU  bool   // the config names an OU the organization lacks
		secIsMgmt  bool   // the stack runs in the management account
		explicitW2 bool   // w2 (in workloads) is also an explicit member
		noStackID  bool   // w1's us-east-1 instance is CURRENT with an empty StackId
		wantCallAs cfntypes.CallAs
		wantFailed int
		want       func(w *orgWorld, later string) []string
	}
	name := stackSetName("test")
	cases := map[string]tc{
		"healthy organization": {wantCallAs: "DELEGATED_ADMIN", want: func(w *orgWorld, _ string) []string {
			return []string{
				"- organization mode: StackSet macie-chatops-test-members, OUs " + w.workloads + " " + w.sandbox + ", regions us-east-1 eu-west-1, callAs DELEGATED_ADMIN",
				"✓ StackSets trusted access: enabled (member.org.stacksets.cloudformation.amazonaws.com)",
				"✓ StackSets delegated administrator: the security account " + w.sec,
				"✓ OU " + w.workloads + ": 3 accounts (1 OUs below it walked)",
				"✓ OU " + w.sandbox + ": 2 accounts (0 OUs below it walked)",
				"- " + w.sandbox + ": account " + w.closed + " (closed) is SUSPENDED: not checked",
				"✓ StackSet " + w.workloads + " in us-east-1: 3 of 3 active accounts CURRENT",
				"✓ StackSet " + w.workloads + " in eu-west-1: 3 of 3 active accounts CURRENT",
				"✓ StackSet " + w.sandbox + " in us-east-1: 1 of 1 active accounts CURRENT",
				"✓ StackSet " + w.sandbox + " in eu-west-1: 1 of 1 active accounts CURRENT",
				// Each CURRENT instance's quarantine bucket: the policy's name plus its generation.
				"- StackSet " + w.workloads + " in us-east-1: account " + w.w1 + " (w1) quarantine bucket macie-chatops-test-" + w.w1 + "-us-east-1-",
				"- StackSet " + w.workloads + " in eu-west-1: account " + w.p1 + " (p1) quarantine bucket macie-chatops-test-" + w.p1 + "-eu-west-1-",
				"- StackSet " + w.sandbox + " in eu-west-1: account " + w.s1 + " (s1) quarantine bucket macie-chatops-test-" + w.s1 + "-eu-west-1-",
				"all checks passed",
			}
		}},
		"instance without a stack id": {noStackID: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{
				"✗ StackSet " + w.workloads + " in us-east-1: account " + w.w1 + ` (w1) instance is CURRENT but its stack id "" names no stack, so the remediator cannot name its quarantine bucket`,
				"fix: read the instance's stack in the StackSet's operations",
				"- StackSet " + w.workloads + " in us-east-1: account " + w.w2 + " (w2) quarantine bucket macie-chatops-test-" + w.w2 + "-us-east-1-",
			}
		}},
		"account created later has no instance": {later: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 2, want: func(w *orgWorld, later string) []string {
			return []string{
				"✗ StackSet " + w.sandbox + " in us-east-1: account " + later + " (later) has no stack instance",
				"✗ StackSet " + w.sandbox + " in eu-west-1: account " + later + " (later) has no stack instance",
				"fix: aws cloudformation create-stack-instances --stack-set-name " + name + " --deployment-targets OrganizationalUnitIds=" + w.sandbox + " --regions eu-west-1 --call-as DELEGATED_ADMIN",
				"- StackSet " + w.sandbox + " in us-east-1: 1 of 2 active accounts CURRENT",
				"✓ StackSet " + w.workloads + " in us-east-1: 3 of 3 active accounts CURRENT",
			}
		}},
		"outdated instance": {outdated: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{
				"✗ StackSet " + w.workloads + " in eu-west-1: account " + w.w1 + " (w1) instance is OUTDATED: Account 123 should have",
				"fix: read the status reason in the StackSet's operations, fix it, then: aws cloudformation update-stack-instances --stack-set-name " + name +
					" --deployment-targets Accounts=" + w.w1 + ",AccountFilterType=INTERSECTION,OrganizationalUnitIds=" + w.workloads + " --regions eu-west-1 --call-as DELEGATED_ADMIN",
				"✓ StackSet " + w.workloads + " in us-east-1: 3 of 3 active accounts CURRENT",
			}
		}},
		"trusted access not enabled": {untrusted: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{"✗ StackSets trusted access: not enabled in the organization", "fix: from the management account: aws cloudformation activate-organizations-access"}
		}},
		"security account not delegated administrator": {notAdmin: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{"✗ StackSets delegated administrator: the security account " + w.sec + " is not registered",
				"fix: from the management account: aws organizations register-delegated-administrator --service-principal member.org.stacksets.cloudformation.amazonaws.com --account-id " + w.sec}
		}},
		"StackSet not deployed": {noStackSet: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{"✗ StackSet " + name + ": not found (callAs DELEGATED_ADMIN)", "fix: pulumi up -s test"}
		}},
		"callAs SELF from a member account": {callAs: "SELF", wantCallAs: "SELF", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{"✗ StackSets callAs SELF: the security account " + w.sec + " is not the management account 000011112222",
				"fix: pulumi config set --path 'macie-chatops:organization.callAs' DELEGATED_ADMIN"}
		}},
		"management account with callAs SELF": {secIsMgmt: true, callAs: "SELF", wantCallAs: "SELF", want: func(w *orgWorld, _ string) []string {
			return []string{"✓ StackSets callAs SELF: the security account 000011112222 is the management account",
				"✓ StackSet " + w.workloads + " in eu-west-1: 3 of 3 active accounts CURRENT", "all checks passed"}
		}},
		"management account with the default callAs": {secIsMgmt: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{"✗ StackSets callAs DELEGATED_ADMIN: the security account 000011112222 is the management account, which cannot be its own delegated administrator",
				"fix: pulumi config set --path 'macie-chatops:organization.callAs' SELF"}
		}},
		"explicit member inside an OU": {explicitW2: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{"✗ account " + w.w2 + " (w2) is an explicit member and in " + w.workloads + ": its member stack and the StackSet would both create the quarantine role macie-chatops-test-quarantine",
				"fix: remove members[0] (pulumi config rm --path 'macie-chatops:members[0]'), or move account " + w.w2 + " out of " + w.workloads}
		}},
		"OU not in the organization": {missingOU: true, wantCallAs: "DELEGATED_ADMIN", wantFailed: 1, want: func(w *orgWorld, _ string) []string {
			return []string{"✗ OU ou-zzzz-zzzzzzzz: not found in the organization", "fix: fix macie-chatops:organization.organizationalUnits",
				"✓ StackSet " + w.workloads + " in us-east-1: 3 of 3 active accounts CURRENT"}
		}},
	}
	for cname, c := range cases {
		t.Run(cname, func(t *testing.T) {
			w := newOrgWorld(t, endpoint, !c.untrusted, !c.noStackSet)
			later := ""
			if c.later {
				later = w.account("later", w.sandbox)
			}
			ous := []string{w.workloads, w.sandbox}
			if c.missingOU {
				ous = append(ous, "ou-zzzz-zzzzzzzz")
			}
			secCreds := w.cfg("arn:aws:iam::" + w.sec + ":role/security-engineer")
			if c.secIsMgmt {
				w.sec, secCreds = "000011112222", w.mgmt
			}
			dir := t.TempDir()
			members := ""
			if c.explicitW2 {
				members = w.w2
			}
			cfgFile := w.writeConfig(dir, ous, c.callAs, members)
			admins := []string{w.sec}
			if c.notAdmin {
				admins = nil
			}
			override := map[string]cfntypes.StackInstanceStatus{}
			if c.outdated {
				override[w.w1+"/eu-west-1"] = cfntypes.StackInstanceStatusOutdated
			}
			noStack := map[string]bool{w.w1 + "/us-east-1": c.noStackID}
			var mu sync.Mutex
			var callAs []cfntypes.CallAs
			env := map[string]string{"SLACK_BOT_TOKEN": docToken, "SLACK_SIGNING_SECRET": docSecret}
			deps := doctorDeps{
				getenv: func(k string) string { return env[k] },
				loadAWS: func(context.Context, string) (aws.Config, error) {
					c := secCreds.Copy()
					c.BaseEndpoint = nil
					return c, nil
				},
				sts:    func(cfg aws.Config) stsAPI { return sts.NewFromConfig(cfg) },
				lambda: func(aws.Config) lambdaAPI { return fakeLambda{limit: 1000, unreserved: 1000} },
				orgs:   func(aws.Config) orgsAPI { return asManagement{organizations.NewFromConfig(w.mgmt), admins} },
				cfn: func(aws.Config) cfnAPI {
					return cfnAsManagement{Client: cloudformation.NewFromConfig(w.mgmt), mu: &mu, callAs: &callAs, override: override, noStack: noStack}
				},
			}
			var out, errb bytes.Buffer
			code := runDoctor(Env{Stdout: &out, Stderr: &errb}, []string{"--stack", "test", "--config", cfgFile, "--endpoint", endpoint, "--slack-api", slackURL}, deps)
			got := out.String()
			if n, want := len(bucketLine.FindAllString(got, -1)), strings.Count(got, "quarantine bucket macie-chatops-test-"); n != want || (n == 0 && c.wantFailed == 0) {
				t.Errorf("%d well-formed quarantine bucket lines of %d", n, want)
			}
			for _, m := range bucketLine.FindAllStringSubmatch(got, -1) {
				if m[2] != m[3] {
					t.Errorf("the bucket's generation %s is not the one shown, %s", m[2], m[3])
				}
			}
			for _, s := range c.want(w, later) {
				if !strings.Contains(got, s) {
					t.Errorf("output lacks %q", s)
				}
			}
			if n := strings.Count(got, "✗"); n != c.wantFailed {
				t.Errorf("%d ✗ lines, want %d", n, c.wantFailed)
			}
			if n := strings.Count(got, "✗"); n != strings.Count(got, "    fix: ") {
				t.Errorf("%d ✗ lines but %d fixes: every ✗ needs its fix", n, strings.Count(got, "    fix: "))
			}
			if want := map[bool]int{true: ExitProblem, false: ExitOK}[c.wantFailed > 0]; code != want {
				t.Errorf("exit %d, want %d", code, want)
			}
			mu.Lock()
			if len(callAs) != 1 || callAs[0] != c.wantCallAs {
				t.Errorf("ListStackInstances CallAs %v, want [%s]", callAs, c.wantCallAs)
			}
			mu.Unlock()
			if t.Failed() || testing.Verbose() {
				t.Logf("output:\n%s\nstderr:\n%s", got, errb.String())
			}
		})
	}
}

// bucketLine is a quarantine bucket line: the name ends with the generation it shows.
var bucketLine = regexp.MustCompile(`(?m)^- StackSet \S+ in \S+: account (\d{12}) \(\w+\) quarantine bucket macie-chatops-test-\d{12}-[a-z0-9-]+-([0-9a-f]{8}) \(generation ([0-9a-f]{8})\)$`)

// TestDoctorOrganizationConfig: a bad macie-chatops:organization is refused before any AWS
// call, each problem with the key and the way to set it.
func TestDoctorOrganizationConfig(t *testing.T) {
	for name, c := range map[string]struct{ org, orgID, want string }{
		"not an OU id":  {"organizationalUnits: [workloads]\n    regions: [us-east-1]", "o-abc1234567", `organizationalUnits[0] "workloads" is not an OU id`},
		"no OUs":        {"regions: [us-east-1]", "o-abc1234567", "organizationalUnits is empty: pulumi config set --path 'macie-chatops:organization.organizationalUnits[0]'"},
		"no regions":    {"organizationalUnits: [ou-abcd-11111111]", "o-abc1234567", "regions is empty: pulumi config set --path 'macie-chatops:organization.regions[0]' us-east-1"},
		"bad callAs":    {"organizationalUnits: [ou-abcd-11111111]\n    regions: [us-east-1]\n    callAs: ADMIN", "o-abc1234567", `callAs "ADMIN": choose DELEGATED_ADMIN`},
		"no org id":     {"organizationalUnits: [ou-abcd-11111111]\n    regions: [us-east-1]", "", "macie-chatops:organizationId is not: pulumi config set macie-chatops:organizationId o-"},
		"not an object": {"", "o-abc1234567", "macie-chatops:organization"},
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "Pulumi.x.yaml")
			body := "config:\n  macie-chatops:organizationId: \"" + c.orgID + "\"\n  macie-chatops:organization:\n    " + c.org + "\n"
			if c.org == "" {
				body = "config:\n  macie-chatops:organizationId: " + c.orgID + "\n  macie-chatops:organization: [ou-abcd-11111111]\n"
			}
			os.WriteFile(f, []byte(body), 0o644)
			_, err := loadStackConfig(f, "x")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), f) {
				t.Fatalf("want an error naming %s and %q, got %v", f, c.want, err)
			}
		})
	}
	f := filepath.Join(t.TempDir(), "Pulumi.x.yaml")
	os.WriteFile(f, []byte("config:\n  macie-chatops:organizationId: o-abc1234567\n  macie-chatops:organization:\n    organizationalUnits: [ou-abcd-11111111, r-ab12]\n    regions: [us-east-1]\n"), 0o644)
	c, err := loadStackConfig(f, "x")
	if err != nil || c.org == nil || len(c.org.OUs) != 2 || c.org.CallAs != "" {
		t.Fatalf("valid organization: %v %+v", err, c)
	}
}

// TestDoctorStackSetName pins the StackSet name doctor looks up to infra/stack.StackSetName
// (functions/ cannot import infra/; both call shared/naming): the long name is the one
// infra/stack computes for the same stack name, pinned there by TestInfraNamesAreDoctors.
func TestDoctorStackSetName(t *testing.T) {
	if got := stackSetName("prod"); got != "macie-chatops-prod-members" {
		t.Fatalf("short name: %s", got)
	}
	long := strings.Repeat("a", 140)
	want := "macie-chatops-" + strings.Repeat("a", 97) + "-8d97a0fe-members" // infra/stack.StackSetName(long)
	if got := stackSetName(long); got != want || len(got) != 128 {
		t.Fatalf("long name %q (%d), want infra's %q", got, len(got), want)
	}
}
