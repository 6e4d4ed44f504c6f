// Package stack owns the Pulumi program: the stack configuration (validated before any resource
// is declared, so `pulumi preview` fails on a bad account id or policy), the central security
// stack and, per member account and region, the finding forwarder, the quarantine role and the
// quarantine bucket. Everything that differs between organizations comes from the stack's policy
// file, loaded with the same package the Lambdas use.
package stack

import (
	"fmt"
	"os"
	"path/filepath"
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
	// DataBuckets scopes the quarantine role to these buckets; empty means every bucket.
	DataBuckets []string `json:"dataBuckets"`
	// KMSKeyArns are the data keys the role may decrypt with.
	KMSKeyArns []string `json:"kmsKeyArns"`
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
	signing, err := c.TrySecret("slackSigningSecret")
	if err != nil {
		probs = append(probs, fmt.Sprintf("%s:slackSigningSecret is not set: pulumi config set --secret %s:slackSigningSecret VALUE", Namespace, Namespace))
	}
	cfg := &Config{
		Region:            aws.Get("region"),
		SecurityAccountID: required("securityAccountId"),
		OrganizationID:    c.Get("organizationId"),
		PolicyFile:        c.Get("policyFile"),
		SlackMode:         c.Get("slackMode"),
		SlackChannel:      c.Get("slackChannel"),
		ExternalID:        required("externalId"),
		BreakGlassRoleArn: c.Get("breakGlassRoleArn"),
		AlarmEmail:        c.Get("alarmEmail"),
		BuildDir:          c.Get("buildDir"),
		LogRetentionDays:  c.GetInt("logRetentionDays"),
		SigningSecret:     signing,
		BotToken:          c.GetSecret("slackBotToken"),
		WebhookURL:        c.GetSecret("slackWebhookUrl"),
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
	if len(probs) > 0 {
		return nil, fmt.Errorf("stack configuration is invalid:\n  %s", strings.Join(probs, "\n  "))
	}
	return cfg, nil
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
