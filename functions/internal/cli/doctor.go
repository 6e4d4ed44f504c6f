package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/macie2"
	macietypes "github.com/aws/aws-sdk-go-v2/service/macie2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/slack-go/slack"
	"go.yaml.in/yaml/v3"
)

// stackNS is the namespace of the stack's config keys (infra/stack.Namespace; functions/ does
// not import infra/, so the few keys doctor needs are read from Pulumi.<stack>.yaml here).
const stackNS = "macie-chatops"

// lambdaQuotaFloor is what Lambda keeps unreserved in every account: a reservation that would
// leave less than this is rejected.
const lambdaQuotaFloor = 10

// stsAPI and lambdaAPI are the calls doctor makes that a test may need to replace: moto does not
// evaluate trust policies (any AssumeRole succeeds) and does not implement GetAccountSettings.
type stsAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

type lambdaAPI interface {
	GetAccountSettings(context.Context, *lambda.GetAccountSettingsInput, ...func(*lambda.Options)) (*lambda.GetAccountSettingsOutput, error)
}

// doctorDeps is the outside world of doctor; tests point it at moto and slacktest.
type doctorDeps struct {
	getenv  func(string) string
	loadAWS func(ctx context.Context, region string) (aws.Config, error)
	sts     func(aws.Config) stsAPI
	lambda  func(aws.Config) lambdaAPI
	// orgs and cfn default to the real clients when nil.
	orgs func(aws.Config) orgsAPI
	cfn  func(aws.Config) cfnAPI
}

func (d doctorDeps) orgsFor(c aws.Config) orgsAPI {
	if d.orgs == nil {
		return organizations.NewFromConfig(c)
	}
	return d.orgs(c)
}

func (d doctorDeps) cfnFor(c aws.Config) cfnAPI {
	if d.cfn == nil {
		return cloudformation.NewFromConfig(c)
	}
	return d.cfn(c)
}

func realDoctorDeps() doctorDeps {
	return doctorDeps{
		getenv: os.Getenv,
		loadAWS: func(ctx context.Context, region string) (aws.Config, error) {
			return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
		},
		sts:    func(c aws.Config) stsAPI { return sts.NewFromConfig(c) },
		lambda: func(c aws.Config) lambdaAPI { return lambda.NewFromConfig(c) },
	}
}

func doctorCmd(env Env, args []string) int { return runDoctor(env, args, realDoctorDeps()) }

// stackMember is one entry of macie-chatops:members, as much of it as doctor needs.
type stackMember struct {
	AccountID  accountID `yaml:"accountId"`
	DeployRole string    `yaml:"deployRole"`
	Regions    []string  `yaml:"regions"`
}

// accountID accepts a quoted id or a number (`pulumi config set --path` without --type string
// stores one), padded back to 12 digits as the stack does.
type accountID string

func (a *accountID) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: accountId is not a 12-digit account id", n.Line)
	}
	if n.Tag == "!!int" && regexp.MustCompile(`^[0-9]{1,12}$`).MatchString(n.Value) {
		*a = accountID(fmt.Sprintf("%012s", n.Value))
		return nil
	}
	*a = accountID(n.Value)
	return nil
}

// stackConfig is the part of Pulumi.<stack>.yaml doctor checks against.
type stackConfig struct {
	file, stack                 string
	region, securityAccount     string
	securityDeployRole, orgID   string
	macieMode, policyFile       string
	slackMode, slackChannel     string
	members                     []stackMember
	org                         *orgSettings   // macie-chatops:organization, nil in explicit-members mode
	pol                         *policy.Policy // the validated policy (nil when it does not validate)
	reserve                     bool
	handlerConc, remediatorConc int
}

func loadStackConfig(file, stack string) (*stackConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read the stack config %s: %v (pass --config Pulumi.<stack>.yaml, or run from the repository root)", file, err)
	}
	var doc struct {
		Config map[string]yaml.Node `yaml:"config"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	str := func(key string) string {
		n, ok := doc.Config[key]
		if !ok || n.Kind != yaml.ScalarNode {
			return ""
		}
		return n.Value
	}
	num := func(key string, def int) (int, error) {
		v := str(stackNS + ":" + key)
		if v == "" {
			return def, nil
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			return def, fmt.Errorf("%s: %s:%s %q is not a whole number", file, stackNS, key, v)
		}
		return i, nil
	}
	c := &stackConfig{
		file:               file,
		stack:              stack,
		region:             str("aws:region"),
		securityAccount:    str(stackNS + ":securityAccountId"),
		securityDeployRole: str(stackNS + ":securityDeployRole"),
		orgID:              str(stackNS + ":organizationId"),
		macieMode:          str(stackNS + ":macieMode"),
		policyFile:         str(stackNS + ":policyFile"),
		slackMode:          str(stackNS + ":slackMode"),
		slackChannel:       str(stackNS + ":slackChannel"),
		reserve:            str(stackNS+":reserveConcurrency") == "true",
	}
	if c.handlerConc, err = num("findingHandlerConcurrency", 2); err != nil {
		return nil, err
	}
	if c.remediatorConc, err = num("remediatorConcurrency", 5); err != nil {
		return nil, err
	}
	if n, ok := doc.Config[stackNS+":members"]; ok {
		if err := n.Decode(&c.members); err != nil {
			return nil, fmt.Errorf("%s: %s:members: %v (a list of {accountId, deployRole, regions})", file, stackNS, err)
		}
	}
	if n, ok := doc.Config[stackNS+":organization"]; ok {
		if c.org, err = parseOrgSettings(file, n, c.orgID); err != nil {
			return nil, err
		}
	}
	if c.region == "" {
		c.region = "us-east-1"
	}
	if c.macieMode == "" {
		c.macieMode = "delegated-admin"
	}
	if c.slackMode == "" {
		c.slackMode = "bot"
	}
	if c.policyFile == "" {
		c.policyFile = filepath.Join("policies", stack+".yaml")
	}
	for i := range c.members {
		if len(c.members[i].Regions) == 0 {
			c.members[i].Regions = []string{c.region}
		}
	}
	return c, nil
}

// doctor prints one line per check and counts the failures.
type doctor struct {
	out    io.Writer
	failed int
}

func (d *doctor) ok(format string, a ...any) {
	fmt.Fprintf(d.out, "✓ %s\n", fmt.Sprintf(format, a...))
}

func (d *doctor) fail(fix, format string, a ...any) {
	d.failed++
	fmt.Fprintf(d.out, "✗ %s\n    fix: %s\n", fmt.Sprintf(format, a...), fix)
}

func (d *doctor) note(format string, a ...any) {
	fmt.Fprintf(d.out, "- %s\n", fmt.Sprintf(format, a...))
}

func runDoctor(env Env, args []string, deps doctorDeps) int {
	fs := newFlags(env, "doctor", "")
	stack := fs.String("stack", "dev", "the Pulumi stack to check")
	cfgFile := fs.String("config", "", "the stack's config file (default Pulumi.<stack>.yaml)")
	policyFile := fs.String("policy", "", "the policy file (default: the stack's macie-chatops:policyFile)")
	endpoint := fs.String("endpoint", "", "AWS endpoint override for every AWS call (e.g. a local moto)")
	slackAPI := fs.String("slack-api", slack.APIURL, "Slack Web API base URL")
	if fs.Parse(args) != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return ExitUsage
	}
	if *cfgFile == "" {
		*cfgFile = "Pulumi." + *stack + ".yaml"
	}
	d := &doctor{out: env.Stdout}
	cfg, err := loadStackConfig(*cfgFile, *stack)
	if err != nil {
		d.fail("fix the stack config (see Pulumi.dev.yaml for every key)", "%v", err)
		return ExitProblem
	}
	if *policyFile != "" {
		cfg.policyFile = *policyFile
	}
	d.ok("stack config %s (security account %s, %s, %d members)", cfg.file, cfg.securityAccount, cfg.macieMode, len(cfg.members))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	pol := d.checkPolicy(cfg)
	cfg.pol = pol
	base, err := deps.loadAWS(ctx, cfg.region)
	if err != nil {
		d.fail("configure AWS credentials (aws configure sso, or AWS_PROFILE=...)", "AWS configuration: %v", err)
	} else {
		if *endpoint != "" {
			base.BaseEndpoint = aws.String(*endpoint)
		}
		d.checkAWS(ctx, deps, base, cfg)
	}
	d.checkSlack(ctx, deps, cfg, pol, *slackAPI, *stack)
	if d.failed > 0 {
		fmt.Fprintf(env.Stdout, "\n%d check(s) failed\n", d.failed)
		return ExitProblem
	}
	fmt.Fprintln(env.Stdout, "\nall checks passed")
	return ExitOK
}

func (d *doctor) checkPolicy(cfg *stackConfig) *policy.Policy {
	p, err := policy.LoadFile(cfg.policyFile)
	if err != nil {
		var lines []string
		for _, pr := range policy.Problems(err, cfg.policyFile) {
			lines = append(lines, pr.String())
		}
		d.fail(fmt.Sprintf("macie-chatops policy validate %s, and fix each problem (or pulumi config set %s:policyFile FILE)", cfg.policyFile, stackNS),
			"policy %s does not validate:\n      %s", cfg.policyFile, strings.Join(lines, "\n      "))
		return nil
	}
	d.ok("policy %s validates (%d warnings, hash %s)", cfg.policyFile, len(p.Warnings), p.Hash)
	return p
}

// withCreds is cfg with the credentials of an assumed role.
func withCreds(cfg aws.Config, c *sts.AssumeRoleOutput) aws.Config {
	out := cfg.Copy()
	out.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
		aws.ToString(c.Credentials.AccessKeyId), aws.ToString(c.Credentials.SecretAccessKey), aws.ToString(c.Credentials.SessionToken)))
	return out
}

func (d *doctor) assume(ctx context.Context, deps doctorDeps, base aws.Config, roleArn string) (aws.Config, error) {
	out, err := deps.sts(base).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleArn), RoleSessionName: aws.String("macie-chatops-doctor")})
	if err != nil {
		return aws.Config{}, err
	}
	return withCreds(base, out), nil
}

func (d *doctor) checkAWS(ctx context.Context, deps doctorDeps, base aws.Config, cfg *stackConfig) {
	sec := cfg.securityAccount
	id, err := deps.sts(base).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		d.fail("configure AWS credentials of the security account (aws sso login, AWS_PROFILE=...)", "credentials: sts GetCallerIdentity failed: %v", err)
		return
	}
	acct := aws.ToString(id.Account)
	if acct != sec {
		d.fail(fmt.Sprintf("run with credentials of the security account %s (AWS_PROFILE=...), or if %s is the security account: pulumi config set %s:securityAccountId %s", sec, acct, stackNS, acct),
			"credentials: %s is in account %s, not the security account %s: the central stack's provider is pinned there and `pulumi up` would fail", aws.ToString(id.Arn), acct, sec)
		return
	}
	d.ok("credentials: %s, in the security account %s", aws.ToString(id.Arn), sec)
	central := base
	if cfg.securityDeployRole != "" {
		arn := fmt.Sprintf("arn:aws:iam::%s:role/%s", sec, cfg.securityDeployRole)
		c, err := d.assume(ctx, deps, base, arn)
		if err != nil {
			d.fail(fmt.Sprintf("let %s assume %s (its trust policy), or unset %s:securityDeployRole", aws.ToString(id.Arn), arn, stackNS), "security deploy role %s cannot be assumed: %v", arn, err)
		} else {
			d.ok("security deploy role %s can be assumed", arn)
			central = c
		}
	}

	management := ""
	if cfg.orgID != "" {
		org, err := deps.orgsFor(central).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		if err == nil {
			management = aws.ToString(org.Organization.MasterAccountId)
		}
		switch {
		case err != nil:
			d.fail(fmt.Sprintf("check that account %s is in the organization %s (and may call organizations:DescribeOrganization)", sec, cfg.orgID), "organization: DescribeOrganization failed: %v", err)
		case aws.ToString(org.Organization.Id) != cfg.orgID:
			d.fail(fmt.Sprintf("pulumi config set %s:organizationId %s", stackNS, aws.ToString(org.Organization.Id)), "organization: account %s is in %s, not %s as %s:organizationId says", sec, aws.ToString(org.Organization.Id), cfg.orgID, stackNS)
		default:
			d.ok("organization %s (management account %s)", cfg.orgID, aws.ToString(org.Organization.MasterAccountId))
		}
	}

	if cfg.org != nil {
		d.checkOrganization(ctx, deps, central, cfg, management)
	}

	// Credentials per account: the security account's own, each member's through its deploy role.
	creds := map[string]aws.Config{sec: central}
	for i, m := range cfg.members {
		a := string(m.AccountID)
		if a == sec {
			continue
		}
		if m.DeployRole == "" {
			d.fail(fmt.Sprintf("pulumi config set --path '%s:members[%d].deployRole' macie-chatops-deploy (the bootstrap stack creates it)", stackNS, i), "member %s has no deployRole", a)
			continue
		}
		arn := fmt.Sprintf("arn:aws:iam::%s:role/%s", a, m.DeployRole)
		c, err := d.assume(ctx, deps, central, arn)
		if err != nil {
			d.fail(fmt.Sprintf("run the bootstrap stack from the management account (README Deploy, step 2) with deployRoles.deployerArn set to your role, or set members[%d].deployRole", i),
				"member %s: deploy role %s cannot be assumed: %v", a, arn, short(err))
			continue
		}
		d.ok("member %s: deploy role %s can be assumed", a, arn)
		creds[a] = c
	}

	d.checkMacie(ctx, cfg, creds)
	d.checkLambda(ctx, deps, central, cfg)
}

// checkMacie checks, per account and region, that Macie runs, and in delegated-admin mode that
// the security account administers each member (its findings then reach the central account).
func (d *doctor) checkMacie(ctx context.Context, cfg *stackConfig, creds map[string]aws.Config) {
	sec := cfg.securityAccount
	regions := map[string][]string{}
	all := map[string]bool{}
	for _, m := range cfg.members {
		regions[string(m.AccountID)] = append(regions[string(m.AccountID)], m.Regions...)
		for _, r := range m.Regions {
			all[r] = true
		}
	}
	if cfg.macieMode == "delegated-admin" {
		// The administrator runs Macie wherever a member does: its findings are published there.
		all[cfg.region] = true
		regions[sec] = nil
		for r := range all {
			regions[sec] = append(regions[sec], r)
		}
	}
	accts := make([]string, 0, len(regions))
	for a := range regions {
		accts = append(accts, a)
	}
	sort.Strings(accts)
	for _, a := range accts {
		c, ok := creds[a]
		if !ok {
			continue // its deploy role failed above
		}
		rs := append([]string(nil), regions[a]...)
		sort.Strings(rs)
		for _, r := range uniq(rs) {
			rc := c.Copy()
			rc.Region = r
			mc := macie2.NewFromConfig(rc)
			s, err := mc.GetMacieSession(ctx, &macie2.GetMacieSessionInput{})
			switch {
			case err != nil:
				d.fail(fmt.Sprintf("in account %s: aws macie2 enable-macie --region %s", a, r), "Macie in %s %s: not enabled (%v)", a, r, short(err))
				continue
			case s.Status != macietypes.MacieStatusEnabled:
				d.fail(fmt.Sprintf("in account %s: aws macie2 update-macie-session --status ENABLED --region %s", a, r), "Macie in %s %s: %s", a, r, s.Status)
				continue
			}
			d.ok("Macie in %s %s: ENABLED", a, r)
			if cfg.macieMode != "delegated-admin" {
				continue
			}
			if a == sec {
				d.checkOrgAdmin(ctx, mc, sec, r)
				continue
			}
			adm, err := mc.GetAdministratorAccount(ctx, &macie2.GetAdministratorAccountInput{})
			switch {
			case err != nil:
				d.fail(fmt.Sprintf("in the security account: aws macie2 create-member --account accountId=%s,email=... --region %s (or set %s:macieMode standalone)", a, r, stackNS), "Macie in %s %s: GetAdministratorAccount failed: %v", a, r, short(err))
			case adm.Administrator == nil || aws.ToString(adm.Administrator.AccountId) != sec:
				got := "none"
				if adm.Administrator != nil {
					got = aws.ToString(adm.Administrator.AccountId)
				}
				d.fail(fmt.Sprintf("make %s Macie's delegated administrator and add %s as a member in %s (aws macie2 enable-organization-admin-account from the management account, then create-member), or pulumi config set %s:macieMode standalone", sec, a, r, stackNS),
					"Macie in %s %s: administrator is %s, not the security account %s; in delegated-admin mode its findings would never reach the central bus", a, r, got, sec)
			case adm.Administrator.RelationshipStatus != macietypes.RelationshipStatusEnabled:
				d.fail(fmt.Sprintf("in account %s: accept or re-enable the Macie membership of %s in %s", a, sec, r), "Macie in %s %s: membership of administrator %s is %s", a, r, sec, adm.Administrator.RelationshipStatus)
			default:
				d.ok("Macie in %s %s: administered by the security account %s", a, r, sec)
			}
		}
	}
}

// checkOrgAdmin lists Macie's delegated administrators. Only the organization's management
// account may call it, so from the security account a denial is not a failure: the members'
// GetAdministratorAccount checks say the same thing from the other side.
func (d *doctor) checkOrgAdmin(ctx context.Context, mc *macie2.Client, sec, region string) {
	out, err := mc.ListOrganizationAdminAccounts(ctx, &macie2.ListOrganizationAdminAccountsInput{})
	if err != nil {
		d.note("Macie delegated administrator in %s: not visible to these credentials (only the management account may list it; the member checks cover it)", region)
		return
	}
	for _, a := range out.AdminAccounts {
		if aws.ToString(a.AccountId) == sec && a.Status == macietypes.AdminStatusEnabled {
			d.ok("Macie delegated administrator in %s: the security account %s", region, sec)
			return
		}
	}
	d.fail(fmt.Sprintf("from the management account: aws macie2 enable-organization-admin-account --admin-account-id %s --region %s (or pulumi config set %s:macieMode standalone)", sec, region, stackNS),
		"Macie delegated administrator in %s: the security account %s is not it", region, sec)
}

// checkLambda compares the stack's concurrency against the account's Lambda quota: the queue
// caps need that many executions, and reserving them must leave Lambda's floor unreserved.
func (d *doctor) checkLambda(ctx context.Context, deps doctorDeps, central aws.Config, cfg *stackConfig) {
	s, err := deps.lambda(central).GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		d.fail("allow lambda:GetAccountSettings to these credentials", "Lambda quota in %s %s: GetAccountSettings failed: %v", cfg.securityAccount, cfg.region, short(err))
		return
	}
	if s.AccountLimit == nil {
		d.fail("retry; Lambda returned no account limit", "Lambda quota in %s %s: no account limit in the answer", cfg.securityAccount, cfg.region)
		return
	}
	limit := int(s.AccountLimit.ConcurrentExecutions)
	unreserved := int(aws.ToInt32(s.AccountLimit.UnreservedConcurrentExecutions))
	want := cfg.handlerConc + cfg.remediatorConc
	quotaFix := fmt.Sprintf("request a higher Lambda concurrency quota (Service Quotas, code L-B99A9384, in %s), or lower %s:findingHandlerConcurrency / remediatorConcurrency", cfg.region, stackNS)
	switch {
	case cfg.reserve && unreserved-want < lambdaQuotaFloor:
		d.fail(fmt.Sprintf("pulumi config set %s:reserveConcurrency false, or %s", stackNS, quotaFix),
			"Lambda quota in %s %s: reserving %d (finding-handler %d + remediator %d) leaves %d of %d unreserved; Lambda requires %d, so `pulumi up` would be rejected",
			cfg.securityAccount, cfg.region, want, cfg.handlerConc, cfg.remediatorConc, unreserved-want, unreserved, lambdaQuotaFloor)
	case want > limit:
		d.fail(quotaFix, "Lambda quota in %s %s: the queue caps need %d concurrent executions; the account allows %d", cfg.securityAccount, cfg.region, want, limit)
	default:
		verb := "caps its queues at"
		if cfg.reserve {
			verb = "reserves"
		}
		d.ok("Lambda quota in %s %s: %d concurrent (%d unreserved); the stack %s %d", cfg.securityAccount, cfg.region, limit, unreserved, verb, want)
	}
}

var signingSecretRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (d *doctor) checkSlack(ctx context.Context, deps doctorDeps, cfg *stackConfig, pol *policy.Policy, apiURL, stack string) {
	get := func(key string) string {
		return fmt.Sprintf("export %s=\"$(pulumi config get -s %s %s:%s)\"", envName(key), stack, stackNS, key)
	}
	secret := deps.getenv("SLACK_SIGNING_SECRET")
	switch {
	case secret == "":
		d.fail(get("slackSigningSecret")+" (doctor cannot decrypt the stack's secrets), or set it: pulumi config set --secret "+stackNS+":slackSigningSecret VALUE",
			"Slack signing secret: SLACK_SIGNING_SECRET is not set")
	case !signingSecretRE.MatchString(secret):
		d.fail("copy the Signing Secret from the Slack app's Basic Information page: pulumi config set --secret "+stackNS+":slackSigningSecret VALUE",
			"Slack signing secret: %d characters, not the 32 lower-case hex characters Slack issues (the bot token or the app id?)", len(secret))
	default:
		d.ok("Slack signing secret: 32 hex characters")
	}
	if cfg.slackMode == "webhook" {
		u := deps.getenv("SLACK_WEBHOOK_URL")
		if !strings.HasPrefix(u, "https://hooks.slack.com/") {
			d.fail(get("slackWebhookUrl")+", or pulumi config set --secret "+stackNS+":slackWebhookUrl https://hooks.slack.com/services/...",
				"Slack webhook URL: SLACK_WEBHOOK_URL is not an https://hooks.slack.com/ URL")
		} else {
			d.ok("Slack webhook URL: https://hooks.slack.com/…")
		}
		return
	}
	token := deps.getenv("SLACK_BOT_TOKEN")
	if token == "" {
		d.fail(get("slackBotToken")+", or set it: pulumi config set --secret "+stackNS+":slackBotToken xoxb-...", "Slack bot token: SLACK_BOT_TOKEN is not set")
		return
	}
	api := slack.New(token, slack.OptionAPIURL(apiURL))
	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		d.fail("reinstall the Slack app and copy its Bot User OAuth Token (xoxb-...): pulumi config set --secret "+stackNS+":slackBotToken xoxb-...",
			"Slack bot token: auth.test failed: %v", err)
		return
	}
	d.ok("Slack bot token: %s in %s", auth.User, auth.Team)

	channels := policyChannels(cfg, pol)
	if len(channels) == 0 {
		d.fail(fmt.Sprintf("pulumi config set %s:slackChannel '#channel', or slack.channel in the policy", stackNS), "Slack channels: none configured")
		return
	}
	found, err := listChannels(ctx, api)
	if err != nil {
		d.fail("add the bot scopes channels:read and groups:read to the Slack app (functions/slack-app-manifest.yaml) and reinstall it",
			"Slack channels: conversations.list failed: %v", err)
		return
	}
	for _, ch := range channels {
		name := strings.TrimPrefix(ch, "#")
		c, ok := found[name]
		switch {
		case !ok:
			d.fail(fmt.Sprintf("create %s, or for a private channel: /invite @%s in it", ch, auth.User), "Slack channel %s: not found (or private without the bot)", ch)
		case !c.IsMember:
			d.fail(fmt.Sprintf("in %s: /invite @%s", ch, auth.User), "Slack channel %s (%s): the bot is not a member", ch, c.ID)
		default:
			d.ok("Slack channel %s (%s): the bot is a member", ch, c.ID)
		}
	}
}

// policyChannels are every channel the stack posts to: the stack's own and the policy's.
func policyChannels(cfg *stackConfig, pol *policy.Policy) []string {
	set := map[string]bool{}
	add := func(s *policy.Slack) {
		if s != nil && s.Channel != "" {
			set[s.Channel] = true
		}
	}
	if cfg.slackChannel != "" {
		set[cfg.slackChannel] = true
	}
	if pol != nil {
		add(pol.Defaults.Slack)
		for _, o := range pol.Accounts {
			add(o.Slack)
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// listChannels maps channel names (and ids) to the channels the bot can see.
func listChannels(ctx context.Context, api *slack.Client) (map[string]slack.Channel, error) {
	out := map[string]slack.Channel{}
	p := &slack.GetConversationsParameters{Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: 200}
	for {
		chs, next, err := api.GetConversationsContext(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, c := range chs {
			out[c.Name] = c
			out[c.ID] = c
		}
		if next == "" {
			return out, nil
		}
		p.Cursor = next
	}
}

func envName(key string) string {
	switch key {
	case "slackBotToken":
		return "SLACK_BOT_TOKEN"
	case "slackWebhookUrl":
		return "SLACK_WEBHOOK_URL"
	}
	return "SLACK_SIGNING_SECRET"
}

func uniq(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// short is an AWS error without the SDK's request-id noise.
func short(err error) string {
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}
