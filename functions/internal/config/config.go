// Package config owns a function's cold start in AWS: its settings from environment variables
// (failing fast, naming the variable), its secrets from Secrets Manager (read once, never logged,
// never in the environment), its policy from SSM or a bundled file (validated, or the function
// fails to start with the validation message), and the wiring of the handlers' dependencies.
package config

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/macie-chatops/macie-chatops/functions/internal/handlers"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/functions/internal/orgbucket"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// Environment variable names. None holds a secret.
const (
	EnvTable          = "LEDGER_TABLE"
	EnvJobsQueue      = "JOBS_QUEUE_URL"
	EnvDLQ            = "FINDINGS_DLQ_URL"
	EnvSlackMode      = "SLACK_MODE" // "bot" or "webhook"
	EnvSlackSecretARN = "SLACK_SECRET_ARN"
	EnvSlackAPIURL    = "SLACK_API_URL" // override (local stand-in); default Slack
	EnvSlackChannel   = "SLACK_DEFAULT_CHANNEL"
	EnvPolicyParam    = "POLICY_PARAMETER"
	EnvPolicyFile     = "POLICY_FILE"
	EnvRoleName       = "QUARANTINE_ROLE_NAME"
	// EnvBucketRoleName is the bucket-settings member role (policy findings); empty when the
	// stack's policy enables no bucket remediation and the role is not deployed.
	EnvBucketRoleName = "BUCKET_SETTINGS_ROLE_NAME"
	EnvExternalID     = "QUARANTINE_EXTERNAL_ID"
	EnvPartition      = "AWS_PARTITION"
	EnvCheckOwner     = "CHECK_BUCKET_OWNER" // "false" only for S3-compatible test servers
	// EnvMacieAdmin is the Macie administrator (security) account: the one account whose events
	// may be about other accounts' objects (the finding-handler needs it).
	EnvMacieAdmin = "MACIE_ADMIN_ACCOUNT"
	// Organization mode (the remediator needs them): the member StackSet's name and how to call
	// it (SELF or DELEGATED_ADMIN), and the explicit members' account ids (comma-separated),
	// whose quarantine buckets keep the policy's name. Any other account's quarantine bucket is
	// the policy's name plus the generation of its StackSet instance (naming.Generation).
	EnvOrgStackSet     = "ORG_STACKSET_NAME"
	EnvOrgCallAs       = "ORG_STACKSET_CALL_AS"
	EnvExplicitMembers = "EXPLICIT_MEMBER_ACCOUNTS"
)

// Settings are a function's non-secret settings.
type Settings struct {
	Table, JobsQueue, DLQ                  string
	SlackMode, SlackSecretARN, SlackAPIURL string
	SlackChannel                           string
	PolicyParam, PolicyFile                string
	RoleName, ExternalID, Partition        string
	BucketRoleName                         string
	CheckOwner                             bool
	MacieAdmin                             string
	// Organization mode (remediator): the member StackSet, how to call it, and the explicit
	// members. OrgStackSet "" = no organization mode.
	OrgStackSet     string
	OrgCallAs       string
	ExplicitMembers []string
}

// Load reads the settings; each name in need must be set.
func Load(getenv func(string) string, need ...string) (Settings, error) {
	s := Settings{
		Table: getenv(EnvTable), JobsQueue: getenv(EnvJobsQueue), DLQ: getenv(EnvDLQ),
		SlackMode: getenv(EnvSlackMode), SlackSecretARN: getenv(EnvSlackSecretARN), SlackAPIURL: getenv(EnvSlackAPIURL),
		SlackChannel: getenv(EnvSlackChannel), PolicyParam: getenv(EnvPolicyParam), PolicyFile: getenv(EnvPolicyFile),
		RoleName: getenv(EnvRoleName), BucketRoleName: getenv(EnvBucketRoleName), ExternalID: getenv(EnvExternalID), Partition: getenv(EnvPartition),
		CheckOwner: getenv(EnvCheckOwner) != "false", MacieAdmin: getenv(EnvMacieAdmin),
		OrgStackSet: getenv(EnvOrgStackSet), OrgCallAs: getenv(EnvOrgCallAs),
	}
	var missing []string
	for _, n := range need {
		if getenv(n) == "" {
			missing = append(missing, n)
		}
	}
	if s.PolicyParam == "" && s.PolicyFile == "" {
		missing = append(missing, EnvPolicyParam+" (or "+EnvPolicyFile+")")
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("missing settings: set the environment variable(s) %s (the Pulumi program sets them; see README 'Deploy')", strings.Join(missing, ", "))
	}
	if s.MacieAdmin != "" && !finding.IsAccountID(s.MacieAdmin) {
		return s, fmt.Errorf("%s=%q: want the 12-digit id of the Macie administrator (security) account", EnvMacieAdmin, s.MacieAdmin)
	}
	if err := s.loadOrg(getenv(EnvExplicitMembers)); err != nil {
		return s, err
	}
	if s.SlackMode == "" {
		s.SlackMode = "bot"
	}
	if s.SlackMode != "bot" && s.SlackMode != "webhook" {
		return s, fmt.Errorf("%s=%q: choose bot or webhook", EnvSlackMode, s.SlackMode)
	}
	return s, nil
}

// loadOrg checks the organization-mode settings: a StackSet needs how to call it, and a call
// without a StackSet is a half-set configuration; each explicit member is an account id.
func (s *Settings) loadOrg(explicit string) error {
	switch {
	case s.OrgStackSet == "" && s.OrgCallAs != "":
		return fmt.Errorf("%s=%q is set but %s is not: set both (organization mode) or neither (explicit members only)", EnvOrgCallAs, s.OrgCallAs, EnvOrgStackSet)
	case s.OrgStackSet != "" && s.OrgCallAs != string(cftypes.CallAsSelf) && s.OrgCallAs != string(cftypes.CallAsDelegatedAdmin):
		return fmt.Errorf("%s=%q: want SELF (the StackSet is in this account, the management account) or DELEGATED_ADMIN (this account is the StackSets delegated administrator)", EnvOrgCallAs, s.OrgCallAs)
	}
	for _, a := range strings.Split(explicit, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !finding.IsAccountID(a) {
			return fmt.Errorf("%s: %q is not a 12-digit account id; want the explicit members' ids, comma-separated", EnvExplicitMembers, a)
		}
		s.ExplicitMembers = append(s.ExplicitMembers, a)
	}
	return nil
}

// OrgBuckets is the remediator's resolver of organization accounts' quarantine buckets, or nil
// without organization mode (local mode, the demo, explicit members only). Its CloudFormation
// client is in the function's own region, the central one, where the StackSet is.
func (s Settings) OrgBuckets(api orgbucket.API) *orgbucket.Resolver {
	if s.OrgStackSet == "" {
		return nil
	}
	explicit := map[string]bool{}
	for _, a := range s.ExplicitMembers {
		explicit[a] = true
	}
	return &orgbucket.Resolver{API: api, StackSet: s.OrgStackSet, CallAs: cftypes.CallAs(s.OrgCallAs), Explicit: explicit}
}

// Secrets is the JSON document in the Slack secret.
type Secrets struct {
	SigningSecret string `json:"signingSecret"`
	BotToken      string `json:"botToken,omitempty"`
	WebhookURL    string `json:"webhookUrl,omitempty"`
}

// String never prints the values.
func (s Secrets) String() string { return "Secrets{redacted}" }

// SecretsAPI is the part of Secrets Manager used.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadSecrets reads the Slack secret once (callers keep it for the life of the process).
func LoadSecrets(ctx context.Context, api SecretsAPI, arn, mode string) (Secrets, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return Secrets{}, fmt.Errorf("read Slack secret %s: %w", arn, err)
	}
	var s Secrets
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &s); err != nil {
		return Secrets{}, fmt.Errorf("Slack secret %s is not the expected JSON ({\"signingSecret\":…,\"botToken\":…}); re-set it with pulumi config set --secret", arn)
	}
	if s.SigningSecret == "" {
		return Secrets{}, fmt.Errorf("Slack secret %s has no signingSecret", arn)
	}
	if mode == "bot" && s.BotToken == "" {
		return Secrets{}, fmt.Errorf("Slack secret %s has no botToken, which bot mode needs", arn)
	}
	if mode == "webhook" && s.WebhookURL == "" {
		return Secrets{}, fmt.Errorf("Slack secret %s has no webhookUrl, which webhook mode needs", arn)
	}
	return s, nil
}

// SSMAPI is the part of SSM used.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// LoadPolicy reads and validates the policy: from the SSM parameter, or the bundled file.
func LoadPolicy(ctx context.Context, api SSMAPI, param, file string) (*policy.Policy, error) {
	if file != "" {
		return policy.LoadFile(file)
	}
	out, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: &param, WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read policy parameter %s: %w", param, err)
	}
	return policy.Parse([]byte(aws.ToString(out.Parameter.Value)), "ssm:"+param)
}

// Env is what a cold start built.
type Env struct {
	Settings Settings
	AWS      aws.Config
	Policy   *policy.Policy
	Secrets  Secrets
	Ledger   ledger.Store
	Slack    chatops.Sender
	Bot      *chatops.Bot // nil in webhook mode
	Metrics  *obs.Metrics
}

// coldStart loads configuration, secrets and policy, and builds the shared dependencies.
func coldStart(ctx context.Context, function string, need ...string) (*Env, error) {
	s, err := Load(os.Getenv, append([]string{EnvTable, EnvSlackSecretARN}, need...)...)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	pol, err := LoadPolicy(ctx, ssm.NewFromConfig(cfg), s.PolicyParam, s.PolicyFile)
	if err != nil {
		return nil, err
	}
	sec, err := LoadSecrets(ctx, secretsmanager.NewFromConfig(cfg), s.SlackSecretARN, s.SlackMode)
	if err != nil {
		return nil, err
	}
	metrics := &obs.Metrics{W: os.Stdout, Function: function}
	e := &Env{Settings: s, AWS: cfg, Policy: pol, Secrets: sec, Metrics: metrics,
		Ledger: ledger.NewDynamo(dynamodb.NewFromConfig(cfg), s.Table, nil)}
	retry := chatops.Retry{OnRetry: func(op, reason string, _ time.Duration) { metrics.Count(ctx, obs.SlackRetries, 1, "Reason", reason) }}
	hc := &http.Client{Timeout: 10 * time.Second}
	// One pace per channel across every container of every function: the slot is in the ledger table.
	pacer := chatops.NewPacer(chatops.DefaultInterval)
	pacer.Slots = ledger.PaceSlots{Store: e.Ledger}
	if s.SlackMode == "webhook" {
		e.Slack = &chatops.Webhook{URL: sec.WebhookURL, HTTP: hc, Pacer: pacer, Retry: retry}
	} else {
		bot := chatops.NewBot(sec.BotToken, s.SlackAPIURL, s.SlackChannel, hc)
		bot.Pacer = pacer
		bot.Retry = retry
		e.Bot, e.Slack = bot, bot
	}
	return e, nil
}

// FindingHandler wires the finding-handler.
func FindingHandler(ctx context.Context) (*handlers.Findings, error) {
	e, err := coldStart(ctx, "finding-handler", EnvJobsQueue, EnvMacieAdmin)
	if err != nil {
		return nil, err
	}
	q := sqs.NewFromConfig(e.AWS)
	h := &handlers.Findings{Policy: e.Policy, Ledger: e.Ledger, Jobs: &jobs.SQS{API: q, URL: e.Settings.JobsQueue},
		Slack: e.Slack, Log: obs.NewLogger(os.Stdout, "finding-handler"), Metrics: e.Metrics,
		Digest: &handlers.Digester{Slack: e.Slack, Ledger: e.Ledger}, AdminAccount: e.Settings.MacieAdmin,
		BucketRoleName: e.Settings.BucketRoleName}
	if e.Settings.DLQ != "" {
		h.DLQ = &jobs.DeadLetter{API: q, URL: e.Settings.DLQ}
	}
	return h, nil
}

// RemediationHandler wires the interactivity endpoint.
func RemediationHandler(ctx context.Context) (*handlers.Actions, error) {
	e, err := coldStart(ctx, "remediation-handler", EnvJobsQueue)
	if err != nil {
		return nil, err
	}
	authz := &chatops.Authorizer{}
	if e.Bot != nil {
		authz.Groups = e.Bot.Client
	}
	return &handlers.Actions{Policy: e.Policy, Ledger: e.Ledger, Jobs: &jobs.SQS{API: sqs.NewFromConfig(e.AWS), URL: e.Settings.JobsQueue},
		Slack: e.Slack, Verifier: chatops.Verifier{Secret: e.Secrets.SigningSecret}, Authz: authz,
		Log: obs.NewLogger(os.Stdout, "remediation-handler"), Metrics: e.Metrics}, nil
}

// Remediator wires the remediator: the quarantine engine acts through the role it assumes in
// each finding's account.
func Remediator(ctx context.Context) (*handlers.Remediator, error) {
	e, err := coldStart(ctx, "remediator", EnvRoleName, EnvExternalID, EnvJobsQueue)
	if err != nil {
		return nil, err
	}
	newS3 := func(c aws.Credentials, region string) quarantine.S3API {
		return s3.NewFromConfig(e.AWS, func(o *s3.Options) {
			o.Region = region
			o.Credentials = aws.NewCredentialsCache(staticCreds(c))
			// An S3-compatible endpoint (tests) wants path-style addressing.
			o.UsePathStyle = os.Getenv("AWS_ENDPOINT_URL_S3") != ""
		})
	}
	clients := &quarantine.RoleClients{STS: sts.NewFromConfig(e.AWS), RoleName: e.Settings.RoleName, ExternalID: e.Settings.ExternalID,
		Partition: e.Settings.Partition, NewS3: newS3}
	// Bucket settings go through their own, narrower role (same ExternalId and trust), deployed
	// only when the policy enables a bucket remediation; without it Buckets stays nil and a
	// bucket remediation answers "not enabled in this stack's policy".
	var buckets handlers.BucketFixers
	if e.Settings.BucketRoleName != "" {
		buckets = handlers.RoleFixers{Clients: &quarantine.RoleClients{STS: sts.NewFromConfig(e.AWS), RoleName: e.Settings.BucketRoleName,
			ExternalID: e.Settings.ExternalID, Partition: e.Settings.Partition, NewS3: newS3}}
	}
	eng := quarantine.New(clients, quarantine.Options{CheckBucketOwner: e.Settings.CheckOwner})
	var orgBuckets handlers.QuarantineBuckets
	if r := e.Settings.OrgBuckets(cloudformation.NewFromConfig(e.AWS)); r != nil {
		orgBuckets = r // a nil *Resolver must not become a non-nil interface
	}
	authz := &chatops.Authorizer{} // re-checks a digest decision's approver against the policy
	if e.Bot != nil {
		authz.Groups = e.Bot.Client
	}
	return &handlers.Remediator{Policy: e.Policy, Ledger: e.Ledger, Engine: eng, Slack: e.Slack, Authz: authz, Buckets: buckets, OrgBuckets: orgBuckets,
		Jobs: &jobs.SQS{API: sqs.NewFromConfig(e.AWS), URL: e.Settings.JobsQueue},
		Log:  obs.NewLogger(os.Stdout, "remediator"), Metrics: e.Metrics}, nil
}

// Sweeper wires the scheduled sweeper: it reads the ledger, sends jobs and updates Slack.
func Sweeper(ctx context.Context) (*handlers.Sweeper, error) {
	e, err := coldStart(ctx, "sweeper", EnvJobsQueue)
	if err != nil {
		return nil, err
	}
	return &handlers.Sweeper{Policy: e.Policy, Ledger: e.Ledger, Slack: e.Slack,
		Jobs: &jobs.SQS{API: sqs.NewFromConfig(e.AWS), URL: e.Settings.JobsQueue},
		Log:  obs.NewLogger(os.Stdout, "sweeper"), Metrics: e.Metrics}, nil
}

type staticCreds aws.Credentials

func (c staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(c), nil
}

// Must finishes a cold start: a function that cannot be configured logs why, naming the
// setting, and exits, so Lambda reports an init error instead of answering wrongly.
func Must[T any](function string, build func(context.Context) (T, error)) T {
	h, err := build(context.Background())
	if err != nil {
		slog.Error(function+" cannot start", "error", err.Error())
		os.Exit(1)
	}
	return h
}
