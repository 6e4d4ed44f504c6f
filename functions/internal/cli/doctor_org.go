package cli

// Doctor's organization view (issue 18): in organization mode the member side is one
// service-managed StackSet targeted at OUs, so what can be wrong is the organization's side of
// it: trusted access, the delegated administrator, and accounts of the OUs without a healthy
// instance (auto-deployment failed, or the account joined before the instances existed).

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/macie-chatops/macie-chatops/shared/naming"
	"go.yaml.in/yaml/v3"
)

// stackSetsPrincipal is the service principal of StackSets' trusted access and delegated
// administration.
const stackSetsPrincipal = "member.org.stacksets.cloudformation.amazonaws.com"

// CallAs values (cloudformation CallAs).
const (
	callAsSelf          = "SELF"
	callAsDelegatedAdmn = "DELEGATED_ADMIN"
)

// orgsAPI is what doctor asks Organizations.
type orgsAPI interface {
	DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	ListAWSServiceAccessForOrganization(context.Context, *organizations.ListAWSServiceAccessForOrganizationInput, ...func(*organizations.Options)) (*organizations.ListAWSServiceAccessForOrganizationOutput, error)
	ListDelegatedAdministrators(context.Context, *organizations.ListDelegatedAdministratorsInput, ...func(*organizations.Options)) (*organizations.ListDelegatedAdministratorsOutput, error)
	ListChildren(context.Context, *organizations.ListChildrenInput, ...func(*organizations.Options)) (*organizations.ListChildrenOutput, error)
	ListAccountsForParent(context.Context, *organizations.ListAccountsForParentInput, ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
}

// cfnAPI is what doctor asks CloudFormation.
type cfnAPI interface {
	ListStackInstances(context.Context, *cloudformation.ListStackInstancesInput, ...func(*cloudformation.Options)) (*cloudformation.ListStackInstancesOutput, error)
}

// orgSettings is macie-chatops:organization, as infra/stack reads it.
type orgSettings struct {
	OUs        []string `yaml:"organizationalUnits"`
	Regions    []string `yaml:"regions"`
	AutoDeploy *bool    `yaml:"autoDeploy"`
	CallAs     string   `yaml:"callAs"`
}

var ouIDRE = regexp.MustCompile(`^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$`)

// parseOrgSettings decodes and checks macie-chatops:organization; every problem names the key
// and how to set it.
func parseOrgSettings(file string, n yaml.Node, orgID string) (*orgSettings, error) {
	key := stackNS + ":organization"
	var o orgSettings
	if err := n.Decode(&o); err != nil {
		return nil, fmt.Errorf("%s: %s: %v (an object {organizationalUnits: [ou-...], regions: [...], autoDeploy: true, callAs: DELEGATED_ADMIN})", file, key, err)
	}
	var probs []string
	if len(o.OUs) == 0 {
		probs = append(probs, fmt.Sprintf("%s.organizationalUnits is empty: pulumi config set --path '%s.organizationalUnits[0]' ou-xxxx-xxxxxxxx", key, key))
	}
	for i, ou := range o.OUs {
		if !ouIDRE.MatchString(ou) {
			probs = append(probs, fmt.Sprintf("%s.organizationalUnits[%d] %q is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx): aws organizations list-organizational-units-for-parent --parent-id r-xxxx lists them", key, i, ou))
		}
	}
	if len(o.Regions) == 0 {
		probs = append(probs, fmt.Sprintf("%s.regions is empty: pulumi config set --path '%s.regions[0]' us-east-1", key, key))
	}
	switch o.CallAs {
	case "", callAsSelf, callAsDelegatedAdmn:
	default:
		probs = append(probs, fmt.Sprintf("%s.callAs %q: choose %s (the stack runs in a delegated administrator account) or %s (it runs in the management account)", key, o.CallAs, callAsDelegatedAdmn, callAsSelf))
	}
	if orgID == "" {
		probs = append(probs, fmt.Sprintf("%s is set but %s:organizationId is not: pulumi config set %s:organizationId o-... (aws organizations describe-organization)", key, stackNS, stackNS))
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("%s:\n      %s", file, strings.Join(probs, "\n      "))
	}
	return &o, nil
}

// stackSetName is the members StackSet's name; infra/stack.StackSetName is the same function.
func stackSetName(stack string) string { return naming.StackSetName(stack) }

// quarantineRoleName is the member accounts' quarantine role; infra/stack.QuarantineRoleName is
// the same function.
func quarantineRoleName(stack string) string { return naming.QuarantineRoleName(stack) }

// orgAccount is an account found under a configured OU.
type orgAccount struct {
	id, name, ou string
	state        string
}

// checkOrganization is the organization view: trusted access, the delegated administrator
// (or, with callAs SELF, that the stack runs in the management account), the StackSet's
// instances per OU and region, and every ACTIVE account of the OUs without a CURRENT instance
// in each region. management is the organization's management account ("" when unknown).
func (d *doctor) checkOrganization(ctx context.Context, deps doctorDeps, central aws.Config, cfg *stackConfig, management string) {
	o, sec := cfg.org, cfg.securityAccount
	orgs := deps.orgsFor(central)
	// The default is infra/stack's: the stack runs in the security account, registered as
	// StackSets' delegated administrator.
	callAs := o.CallAs
	if callAs == "" {
		callAs = callAsDelegatedAdmn
	}
	name := stackSetName(cfg.stack)
	d.note("organization mode: StackSet %s, OUs %s, regions %s, callAs %s", name, strings.Join(o.OUs, " "), strings.Join(o.Regions, " "), callAs)

	// Trusted access: without it the StackSet cannot deploy into the OUs at all.
	enabled, err := trustedAccess(ctx, orgs)
	switch {
	case err != nil:
		d.fail(fmt.Sprintf("allow organizations:ListAWSServiceAccessForOrganization to these credentials; only the management account or a delegated administrator may call it (register %s below)", sec),
			"StackSets trusted access: ListAWSServiceAccessForOrganization failed: %v", short(err))
	case !enabled:
		d.fail("from the management account: aws cloudformation activate-organizations-access",
			"StackSets trusted access: not enabled in the organization (%s is not among its service principals); the StackSet cannot deploy into the OUs", stackSetsPrincipal)
	default:
		d.ok("StackSets trusted access: enabled (%s)", stackSetsPrincipal)
	}

	// Who may administer the StackSet from the security account.
	register := fmt.Sprintf("from the management account: aws organizations register-delegated-administrator --service-principal %s --account-id %s", stackSetsPrincipal, sec)
	switch callAs {
	case callAsSelf:
		if management != sec {
			d.fail(fmt.Sprintf("pulumi config set --path '%s:organization.callAs' %s, and %s", stackNS, callAsDelegatedAdmn, register),
				"StackSets callAs %s: the security account %s is not the management account %s, so it cannot create service-managed StackSets as itself", callAsSelf, sec, orDash(management))
		} else {
			d.ok("StackSets callAs %s: the security account %s is the management account", callAsSelf, sec)
		}
	case callAsDelegatedAdmn:
		if management != "" && management == sec {
			d.fail(fmt.Sprintf("pulumi config set --path '%s:organization.callAs' %s", stackNS, callAsSelf),
				"StackSets callAs %s: the security account %s is the management account, which cannot be its own delegated administrator", callAsDelegatedAdmn, sec)
			break
		}
		admins, err := delegatedAdmins(ctx, orgs)
		_, registered := admins[sec]
		switch {
		case err != nil:
			d.fail(fmt.Sprintf("allow organizations:ListDelegatedAdministrators to these credentials, or check by hand: aws organizations list-delegated-administrators --service-principal %s", stackSetsPrincipal),
				"StackSets delegated administrator: ListDelegatedAdministrators failed: %v", short(err))
		case !registered:
			d.fail(register, "StackSets delegated administrator: the security account %s is not registered (callAs %s needs it)", sec, callAsDelegatedAdmn)
		case admins[sec] != string(orgtypes.AccountStateActive):
			d.fail(fmt.Sprintf("check account %s in the Organizations console: a delegated administrator must be ACTIVE", sec),
				"StackSets delegated administrator: the security account %s is registered but %s", sec, admins[sec])
		default:
			d.ok("StackSets delegated administrator: the security account %s", sec)
		}
	}

	// The accounts the OUs hold today, and the instances the StackSet has.
	accounts, badOU := d.walkOUs(ctx, orgs, o.OUs)
	// An explicit member inside the OUs gets the quarantine role twice, from its member stack
	// and from the StackSet; IAM role names are unique per account, so one of them fails.
	explicit := map[string]int{}
	for i, m := range cfg.members {
		explicit[string(m.AccountID)] = i
	}
	for _, a := range accounts {
		if i, ok := explicit[a.id]; ok {
			d.fail(fmt.Sprintf("remove members[%d] (pulumi config rm --path '%s:members[%d]'), or move account %s out of %s", i, stackNS, i, a.id, a.ou),
				"account %s (%s) is an explicit member and in %s: its member stack and the StackSet would both create the quarantine role %s", a.id, a.name, a.ou, quarantineRoleName(cfg.stack))
		}
	}
	instances, err := listInstances(ctx, deps.cfnFor(central), name, callAs)
	if err != nil {
		var nf *cfntypes.StackSetNotFoundException
		if errors.As(err, &nf) {
			d.fail(fmt.Sprintf("pulumi up -s %s (organization mode creates the StackSet), or if it exists under another administrator: pulumi config set --path '%s:organization.callAs' %s|%s", cfg.stack, stackNS, callAsSelf, callAsDelegatedAdmn),
				"StackSet %s: not found (callAs %s)", name, callAs)
		} else {
			d.fail("allow cloudformation:ListStackInstances to these credentials (and a delegated administrator registration for callAs DELEGATED_ADMIN)",
				"StackSet %s: ListStackInstances failed: %v", name, short(err))
		}
		return
	}
	type key struct{ account, region string }
	byKey := map[key]cfntypes.StackInstanceSummary{}
	for _, in := range instances {
		byKey[key{aws.ToString(in.Account), aws.ToString(in.Region)}] = in
	}
	for _, ou := range o.OUs {
		if badOU[ou] {
			continue // failed above, with its fix
		}
		var inOU []orgAccount
		for _, a := range accounts {
			if a.ou != ou {
				continue
			}
			switch {
			case a.id == management:
				d.note("%s: account %s (%s) is the management account: StackSets never deploy to it; list it under %s:members if it holds data", ou, a.id, a.name, stackNS)
			case a.state != string(orgtypes.AccountStateActive):
				d.note("%s: account %s (%s) is %s: not checked", ou, a.id, a.name, a.state)
			default:
				inOU = append(inOU, a)
			}
		}
		var buckets []string
		for _, r := range o.Regions {
			healthy := 0
			for _, a := range inOU {
				in, ok := byKey[key{a.id, r}]
				target := fmt.Sprintf("--stack-set-name %s --deployment-targets OrganizationalUnitIds=%s --regions %s --call-as %s", name, ou, r, callAs)
				switch {
				case !ok:
					d.fail(fmt.Sprintf("aws cloudformation create-stack-instances %s (deploys to the OU's accounts that lack one; with autoDeploy on, new accounts get one by themselves: check pulumi config get %s:organization)", target, stackNS),
						"StackSet %s in %s: account %s (%s) has no stack instance; its findings cannot be remediated there", ou, r, a.id, a.name)
				case in.Status != cfntypes.StackInstanceStatusCurrent:
					d.fail(instanceFix(in.Status, target, a.id),
						"StackSet %s in %s: account %s (%s) instance is %s%s", ou, r, a.id, a.name, in.Status, reason(in))
				default:
					healthy++
					buckets = append(buckets, d.quarantineBucket(cfg, ou, r, a, in))
				}
			}
			if healthy == len(inOU) {
				d.ok("StackSet %s in %s: %d of %d active accounts CURRENT", ou, r, healthy, len(inOU))
			} else {
				d.note("StackSet %s in %s: %d of %d active accounts CURRENT", ou, r, healthy, len(inOU))
			}
			for _, b := range buckets {
				if b != "" {
					d.note("%s", b)
				}
			}
			buckets = buckets[:0]
		}
	}
}

// quarantineBucket is the line naming a CURRENT instance's quarantine bucket: the policy's name
// for the account and region plus the instance's generation, which is where the remediator
// copies (it reads the same StackId with DescribeStackInstance). Free: the StackId is in the
// instance list doctor already read. A StackId that names no generation fails, as every
// quarantine in that account and region would.
func (d *doctor) quarantineBucket(cfg *stackConfig, ou, region string, a orgAccount, in cfntypes.StackInstanceSummary) string {
	if cfg.pol == nil {
		return "" // the policy failed above; without it there is no name to show
	}
	id := aws.ToString(in.StackId)
	gen, err := naming.Generation(id)
	if err != nil {
		d.fail(fmt.Sprintf("read the instance's stack in the StackSet's operations; if its stack is gone: aws cloudformation update-stack-instances --stack-set-name %s --deployment-targets Accounts=%s,AccountFilterType=INTERSECTION,OrganizationalUnitIds=%s --regions %s", stackSetName(cfg.stack), a.id, ou, region),
			"StackSet %s in %s: account %s (%s) instance is CURRENT but its stack id %q names no stack, so the remediator cannot name its quarantine bucket; its quarantines FAIL", ou, region, a.id, a.name, id)
		return ""
	}
	return fmt.Sprintf("StackSet %s in %s: account %s (%s) quarantine bucket %s (generation %s)", ou, region, a.id, a.name,
		naming.OrgQuarantineBucket(cfg.pol.QuarantineFor(a.id, region).Bucket, gen), gen)
}

// instanceFix is what brings an instance in this status back to CURRENT.
func instanceFix(s cfntypes.StackInstanceStatus, target, account string) string {
	one := strings.Replace(target, "--deployment-targets OrganizationalUnitIds=", "--deployment-targets Accounts="+account+",AccountFilterType=INTERSECTION,OrganizationalUnitIds=", 1)
	if s == cfntypes.StackInstanceStatusInoperable {
		return fmt.Sprintf("a failed delete left the stack behind: aws cloudformation delete-stack-instances %s --retain-stacks, delete that stack in account %s, then aws cloudformation create-stack-instances %s", one, account, one)
	}
	return fmt.Sprintf("read the status reason in the StackSet's operations, fix it, then: aws cloudformation update-stack-instances %s", one)
}

func reason(in cfntypes.StackInstanceSummary) string {
	if r := aws.ToString(in.StatusReason); r != "" {
		return ": " + r
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func trustedAccess(ctx context.Context, orgs orgsAPI) (bool, error) {
	p := organizations.NewListAWSServiceAccessForOrganizationPaginator(orgs, &organizations.ListAWSServiceAccessForOrganizationInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, err
		}
		for _, s := range page.EnabledServicePrincipals {
			if aws.ToString(s.ServicePrincipal) == stackSetsPrincipal {
				return true, nil
			}
		}
	}
	return false, nil
}

// delegatedAdmins maps StackSets' delegated administrators to their account state.
func delegatedAdmins(ctx context.Context, orgs orgsAPI) (map[string]string, error) {
	out := map[string]string{}
	p := organizations.NewListDelegatedAdministratorsPaginator(orgs, &organizations.ListDelegatedAdministratorsInput{ServicePrincipal: aws.String(stackSetsPrincipal)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range page.DelegatedAdministrators {
			out[aws.ToString(a.Id)] = accountState(a.State, string(a.Status))
		}
	}
	return out, nil
}

// accountState is an account's State, or its retired Status when an older API answers.
func accountState(state orgtypes.AccountState, status string) string {
	if state != "" {
		return string(state)
	}
	return status
}

func listInstances(ctx context.Context, cfn cfnAPI, name, callAs string) ([]cfntypes.StackInstanceSummary, error) {
	var out []cfntypes.StackInstanceSummary
	p := cloudformation.NewListStackInstancesPaginator(cfn, &cloudformation.ListStackInstancesInput{StackSetName: aws.String(name), CallAs: cfntypes.CallAs(callAs)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Summaries...)
	}
	return out, nil
}

// walkOUs lists every account under the configured OUs, recursively (StackSets deploy to the
// accounts of an OU's child OUs too), each under the first configured OU that holds it, sorted
// by OU (config order) then account id. An OU that cannot be walked fails with its fix and is
// in failed.
func (d *doctor) walkOUs(ctx context.Context, orgs orgsAPI, ous []string) (accounts []orgAccount, failed map[string]bool) {
	seen, failed := map[string]bool{}, map[string]bool{}
	for _, ou := range ous {
		var found []orgAccount
		queue := []string{ou}
		visited := map[string]bool{}
		var walkErr error
		for len(queue) > 0 && walkErr == nil {
			parent := queue[0]
			queue = queue[1:]
			if visited[parent] {
				continue
			}
			visited[parent] = true
			ap := organizations.NewListAccountsForParentPaginator(orgs, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
			for ap.HasMorePages() && walkErr == nil {
				page, err := ap.NextPage(ctx)
				if err != nil {
					walkErr = err
					break
				}
				for _, a := range page.Accounts {
					found = append(found, orgAccount{id: aws.ToString(a.Id), name: aws.ToString(a.Name), ou: ou, state: accountState(a.State, string(a.Status))})
				}
			}
			cp := organizations.NewListChildrenPaginator(orgs, &organizations.ListChildrenInput{ParentId: aws.String(parent), ChildType: orgtypes.ChildTypeOrganizationalUnit})
			for cp.HasMorePages() && walkErr == nil {
				page, err := cp.NextPage(ctx)
				if err != nil {
					walkErr = err
					break
				}
				for _, c := range page.Children {
					queue = append(queue, aws.ToString(c.Id))
				}
			}
		}
		if walkErr != nil {
			failed[ou] = true
			var nf *orgtypes.ParentNotFoundException
			if errors.As(walkErr, &nf) {
				d.fail(fmt.Sprintf("fix %s:organization.organizationalUnits: aws organizations list-organizational-units-for-parent --parent-id r-xxxx lists the OUs", stackNS),
					"OU %s: not found in the organization", ou)
			} else {
				d.fail("allow organizations:ListChildren and organizations:ListAccountsForParent to these credentials (the management account or a delegated administrator may call them)",
					"OU %s: listing its accounts failed: %v", ou, short(walkErr))
			}
			continue
		}
		sort.Slice(found, func(i, j int) bool { return found[i].id < found[j].id })
		for _, a := range found {
			if seen[a.id] {
				continue // also under an earlier configured OU
			}
			seen[a.id] = true
			accounts = append(accounts, a)
		}
		d.ok("OU %s: %d accounts (%d OUs below it walked)", ou, len(found), len(visited)-1)
	}
	return accounts, failed
}
