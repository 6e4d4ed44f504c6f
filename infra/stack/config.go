// Package stack owns the Pulumi program: the stack configuration (validated before any resource
// is declared, so `pulumi preview` fails on a bad account id, policy, name or missing secret),
// the central security stack behind a provider pinned to the security account, and, per member
// account and region, the quarantine role and bucket and, where the Macie mode needs one, the
// finding forwarder (Forwarders); per member, when the policy remediates policy findings, the
// bucket-settings role (bucketsettings.go). It also owns the one-time bootstrap stack that gives each
// member a deploy role (bootstrap.go). Everything that differs between organizations comes from
// the stack's policy file, loaded with the same package the Lambdas use.
package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Member is one account the stack deploys a forwarder and quarantine into.
type Member struct {
	AccountID string `json:"accountId"`
	// DeployRole is the role Pulumi assumes there (e.g. OrganizationAccountAccessRole). Empty
	// for the security account itself, which deploys with the stack's own credentials.
	DeployRole string   `json:"deployRole"`
	Regions    []string `json:"regions"`
	// DataBuckets scopes the quarantine role to these buckets; empty means every bucket of the
	// member's own account except log and security buckets (a warning at preview).
	DataBuckets []string `json:"dataBuckets"`
	// KMSKeyArns are the data keys the role may decrypt with.
	KMSKeyArns []string `json:"kmsKeyArns"`
}

// UnmarshalJSON accepts the account id as a string or as a number: `pulumi config set --path
// 'members[0].accountId' 111122223333` stores a number, and a number has lost any leading zero,
// so it is padded back to 12 digits.
func (m *Member) UnmarshalJSON(b []byte) error {
	type plain Member
	var raw struct {
		plain
		AccountID json.RawMessage `json:"accountId"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = Member(raw.plain)
	id, err := accountIDFromJSON(raw.AccountID)
	if err != nil {
		return err
	}
	m.AccountID = id
	return nil
}

var digits = regexp.MustCompile(`^[0-9]{1,12}$`)

func accountIDFromJSON(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	if !digits.Match(raw) {
		return "", fmt.Errorf("accountId %s is not a 12-digit account id (quote it: '\"111122223333\"')", raw)
	}
	return fmt.Sprintf("%012s", raw), nil
}

// Config is the validated stack configuration.
type Config struct {
	Region            string
	SecurityAccountID string
	OrganizationID    string
	PolicyFile        string
	Policy            *policy.Policy
	Members           []Member
	SlackMode         string
	SlackChannel      string
	ExternalID        string
	BreakGlassRoleArn string
	AlarmEmail        string
	BuildDir          string
	LogRetentionDays  int
	// MacieMode decides where findings are published, and so the event topology:
	// "delegated-admin" (the security account is Macie's delegated administrator: every finding
	// reaches its default bus, so members get no forwarder) or "standalone" (each member runs
	// Macie itself: each member region forwards to the central bus).
	MacieMode string
	// FindingHandlerConcurrency and RemediatorConcurrency cap each function's SQS event source
	// (ScalingConfig.MaximumConcurrency, 2..1000). The finding-handler's cap is what keeps Slack
	// posting under Slack's per-channel rate. ReserveConcurrency also reserves that many
	// executions, which an account still at the new-account quota of 10 rejects.
	FindingHandlerConcurrency int
	RemediatorConcurrency     int
	ReserveConcurrency        bool
	// SweeperSchedule is the sweeper's EventBridge schedule expression.
	SweeperSchedule string
	// SecurityDeployRole, when set, is a role the central provider assumes in the security
	// account; otherwise the central stack uses the credentials `pulumi up` runs with.
	SecurityDeployRole string
	// Slug is the stack name as it may appear in AWS names (lower case, a-z 0-9 -).
	Slug string

	SigningSecret pulumi.StringOutput
	BotToken      pulumi.StringOutput
	WebhookURL    pulumi.StringOutput
}

// Namespace of the stack's config keys (pulumi config set macie-chatops:KEY).
const Namespace = "macie-chatops"

// LoadConfig reads and validates the stack configuration. Every problem is reported at once,
// and policy problems come from the policy package with file:line.
func LoadConfig(ctx *pulumi.Context) (*Config, error) {
	c := config.New(ctx, Namespace)
	aws := config.New(ctx, "aws")
	var probs []string
	required := func(key string) string {
		v, err := c.Try(key)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s:%s is not set: pulumi config set %s:%s VALUE", Namespace, key, Namespace, key))
		}
		return v
	}
	secret := func(key, example string) pulumi.StringOutput {
		v, err := c.TrySecret(key)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s:%s is not set: pulumi config set --secret %s:%s %s", Namespace, key, Namespace, key, example))
			return pulumi.String("").ToStringOutput()
		}
		return v
	}
	number := func(key string, def, min, max int) int {
		v, err := c.TryInt(key)
		if err != nil {
			if _, missing := c.Try(key); missing != nil {
				return def
			}
			probs = append(probs, fmt.Sprintf("%s:%s is not a whole number", Namespace, key))
			return def
		}
		if v < min || v > max {
			probs = append(probs, fmt.Sprintf("%s:%s is %d: choose %d..%d", Namespace, key, v, min, max))
		}
		return v
	}
	signing := secret("slackSigningSecret", "VALUE")
	cfg := &Config{
		Region:             aws.Get("region"),
		SecurityAccountID:  required("securityAccountId"),
		OrganizationID:     c.Get("organizationId"),
		PolicyFile:         c.Get("policyFile"),
		SlackMode:          c.Get("slackMode"),
		SlackChannel:       c.Get("slackChannel"),
		ExternalID:         required("externalId"),
		BreakGlassRoleArn:  c.Get("breakGlassRoleArn"),
		AlarmEmail:         c.Get("alarmEmail"),
		BuildDir:           c.Get("buildDir"),
		LogRetentionDays:   c.GetInt("logRetentionDays"),
		SigningSecret:      signing,
		MacieMode:          c.Get("macieMode"),
		SecurityDeployRole: c.Get("securityDeployRole"),
		SweeperSchedule:    c.Get("sweeperSchedule"),
		Slug:               Slug(ctx.Stack()),

		FindingHandlerConcurrency: number("findingHandlerConcurrency", 2, 2, 1000),
		RemediatorConcurrency:     number("remediatorConcurrency", 5, 2, 1000),
		ReserveConcurrency:        c.GetBool("reserveConcurrency"),
	}
	// Each mode needs its own secret; without it every function would fail at cold start.
	switch cfg.SlackMode {
	case "", "bot":
		cfg.BotToken = secret("slackBotToken", "xoxb-...")
		cfg.WebhookURL = pulumi.String("").ToStringOutput()
	case "webhook":
		cfg.WebhookURL = secret("slackWebhookUrl", "https://hooks.slack.com/services/...")
		cfg.BotToken = pulumi.String("").ToStringOutput()
	}
	if err := c.TryObject("members", &cfg.Members); err != nil && !strings.Contains(err.Error(), "missing") {
		return nil, fmt.Errorf("%s:members: %w (a list of {accountId, deployRole, regions, dataBuckets, kmsKeyArns})", Namespace, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.PolicyFile == "" {
		cfg.PolicyFile = filepath.Join("policies", ctx.Stack()+".yaml")
	}
	if cfg.SlackMode == "" {
		cfg.SlackMode = "bot"
	}
	if cfg.BuildDir == "" {
		cfg.BuildDir = "build"
	}
	// Pulumi runs the program from infra/; paths in the config are relative to the project.
	if root := projectRoot(); root != "" {
		for _, p := range []*string{&cfg.PolicyFile, &cfg.BuildDir} {
			if !filepath.IsAbs(*p) {
				*p = filepath.Join(root, *p)
			}
		}
	}
	if cfg.LogRetentionDays == 0 {
		cfg.LogRetentionDays = 90
	}
	if cfg.MacieMode == "" {
		cfg.MacieMode = MacieDelegatedAdmin
	}
	if cfg.MacieMode != MacieDelegatedAdmin && cfg.MacieMode != MacieStandalone {
		probs = append(probs, fmt.Sprintf("%s:macieMode %q: choose %s (the security account is Macie's delegated administrator) or %s (each member runs Macie itself)", Namespace, cfg.MacieMode, MacieDelegatedAdmin, MacieStandalone))
	}
	if cfg.SweeperSchedule == "" {
		cfg.SweeperSchedule = "rate(5 minutes)"
	}
	if !strings.HasPrefix(cfg.SweeperSchedule, "rate(") && !strings.HasPrefix(cfg.SweeperSchedule, "cron(") {
		probs = append(probs, fmt.Sprintf("%s:sweeperSchedule %q is not a schedule expression (e.g. rate(5 minutes) or cron(0/5 * * * ? *))", Namespace, cfg.SweeperSchedule))
	}
	// AWS names carry the stack's name as is: a name Slug would fold ("Dev", "dev.eu", "dev_1")
	// would share its role, function and bucket names with another stack ("dev", "dev-eu",
	// "dev-1") in the same account, so it is refused rather than folded.
	if cfg.Slug != ctx.Stack() {
		probs = append(probs, fmt.Sprintf("stack name %q cannot be used in AWS names: use only lower-case a-z, 0-9 and '-' (not at either end), else another stack (%q) would get the same role, function and bucket names; rename the stack: pulumi stack rename %s", ctx.Stack(), cfg.Slug, cfg.Slug))
	}
	if !finding.IsAccountID(cfg.SecurityAccountID) {
		probs = append(probs, fmt.Sprintf("%s:securityAccountId %q is not a 12-digit account id", Namespace, cfg.SecurityAccountID))
	}
	if cfg.OrganizationID != "" && !strings.HasPrefix(cfg.OrganizationID, "o-") {
		probs = append(probs, fmt.Sprintf("%s:organizationId %q is not an organization id (o-…)", Namespace, cfg.OrganizationID))
	}
	if cfg.SlackMode != "bot" && cfg.SlackMode != "webhook" {
		probs = append(probs, fmt.Sprintf("%s:slackMode %q: choose bot or webhook", Namespace, cfg.SlackMode))
	}
	if len(cfg.ExternalID) < 8 {
		probs = append(probs, fmt.Sprintf("%s:externalId must be at least 8 characters (a random string shared with the member roles)", Namespace))
	}
	seen := map[string]bool{}
	for i, m := range cfg.Members {
		if !finding.IsAccountID(m.AccountID) {
			probs = append(probs, fmt.Sprintf("%s:members[%d].accountId %q is not a 12-digit account id", Namespace, i, m.AccountID))
		}
		if seen[m.AccountID] {
			probs = append(probs, fmt.Sprintf("%s:members[%d]: account %s is listed twice", Namespace, i, m.AccountID))
		}
		seen[m.AccountID] = true
		if m.DeployRole == "" && m.AccountID != cfg.SecurityAccountID {
			probs = append(probs, fmt.Sprintf("%s:members[%d].deployRole is required for account %s (e.g. OrganizationAccountAccessRole)", Namespace, i, m.AccountID))
		}
		if len(m.Regions) == 0 {
			cfg.Members[i].Regions = []string{cfg.Region}
		}
	}
	if _, err := os.Stat(cfg.PolicyFile); err != nil {
		probs = append(probs, fmt.Sprintf("%s:policyFile %s: %v (create it from policies/example-org.yaml)", Namespace, cfg.PolicyFile, err))
	} else if pol, err := policy.LoadFile(cfg.PolicyFile); err != nil {
		probs = append(probs, err.Error())
	} else {
		cfg.Policy = pol
	}
	if cfg.Policy != nil {
		probs = append(probs, bucketNameProblems(cfg)...)
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("stack configuration is invalid:\n  %s", strings.Join(probs, "\n  "))
	}
	// Resources are declared member by member, region by region: sorted, so every preview
	// registers them in the same order.
	sort.SliceStable(cfg.Members, func(i, j int) bool { return cfg.Members[i].AccountID < cfg.Members[j].AccountID })
	for i := range cfg.Members {
		cfg.Members[i].Regions = sortedUnique(cfg.Members[i].Regions)
	}
	return cfg, nil
}

// CentralDeployRoleArn is the role the central provider assumes, or "".
func (c *Config) CentralDeployRoleArn() string {
	if c.SecurityDeployRole == "" {
		return ""
	}
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", c.SecurityAccountID, c.SecurityDeployRole)
}

// Macie modes (macie-chatops:macieMode).
const (
	MacieDelegatedAdmin = "delegated-admin"
	MacieStandalone     = "standalone"
)

// bucketNameProblems checks the quarantine bucket names the policy gives this stack: two stacks
// in one account (dev and prod, or any stack in the security account) must not share a bucket,
// so each name must carry the stack's name, and fit S3's 63 characters.
func bucketNameProblems(cfg *Config) []string {
	var probs []string
	seen := map[string]bool{}
	for _, m := range cfg.Members {
		regions := m.Regions
		for _, r := range regions {
			b := cfg.Policy.QuarantineFor(m.AccountID, r).Bucket
			if seen[b] {
				continue
			}
			seen[b] = true
			if len(b) > 63 {
				probs = append(probs, fmt.Sprintf("%s: quarantine bucket %q for account %s in %s is %d characters; S3 allows 63: shorten quarantine.bucket", cfg.PolicyFile, b, m.AccountID, r, len(b)))
			}
			// The stack's name as a whole word of the bucket name: a substring would let stack
			// "pro" take stack "prod"'s buckets.
			if !strings.Contains("-"+strings.ReplaceAll(b, ".", "-")+"-", "-"+cfg.Slug+"-") {
				probs = append(probs, fmt.Sprintf("%s: quarantine bucket %q for account %s in %s does not name the stack %q, so a second stack in that account would collide with it: set quarantine.bucket to e.g. \"macie-chatops-%s-quarantine-{account}-{region}\"", cfg.PolicyFile, b, m.AccountID, r, cfg.Slug, cfg.Slug))
			}
		}
	}
	return probs
}

func sortedUnique(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	n := 0
	for i, x := range out {
		if i == 0 || x != out[n-1] {
			out[n] = x
			n++
		}
	}
	return out[:n]
}

var notSlug = regexp.MustCompile(`[^a-z0-9-]+`)

// Slug is a stack name as it may appear in bucket, role and function names. LoadConfig refuses a
// stack whose name is not already its own slug, since folding makes two stacks' names collide.
func Slug(stack string) string {
	s := strings.Trim(notSlug.ReplaceAllString(strings.ToLower(stack), "-"), "-")
	if s == "" {
		s = "stack"
	}
	return s
}

// AWSName joins parts with "-" and keeps the result within max characters (IAM role names 64,
// Lambda function names 64): a name too long keeps its end (what the resource is) and replaces
// the middle with a short hash, so two long stack names still get different names.
func AWSName(max int, parts ...string) string {
	n := strings.Join(parts, "-")
	if len(n) <= max {
		return n
	}
	f := fnv.New32a()
	f.Write([]byte(n))
	h := fmt.Sprintf("%08x", f.Sum32())
	tail := parts[len(parts)-1]
	keep := max - len(tail) - len(h) - 2
	if keep < 1 {
		return n[:max-len(h)-1] + "-" + h
	}
	return strings.TrimRight(n[:keep], "-") + "-" + h + "-" + tail
}

// projectRoot is the directory holding Pulumi.yaml, at or above the working directory.
func projectRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "Pulumi.yaml")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}
