package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/macie-chatops/macie-chatops/shared/naming"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/apigatewayv2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dynamodb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// MaciePattern is the exact event pattern of every rule: Amazon Macie findings only (not the
// retired Macie Classic "Macie Alert").
const MaciePattern = `{"source":["aws.macie"],"detail-type":["Macie Finding"]}`

// QuarantineRoleName is the role the remediator assumes in each member account. It carries the
// stack's name: two stacks in one account (dev and prod) each have their own.
func QuarantineRoleName(slug string) string { return naming.QuarantineRoleName(slug) }

// FunctionName is a function's name in AWS (at most 64 characters).
func FunctionName(slug, fn string) string { return AWSName(64, "macie-chatops", slug, fn) }

// Queue settings, from Lambda's guidance for SQS event sources: the visibility timeout at least
// six times the function's timeout, and enough receives that throttled batches (each throttle
// burns a receive) do not dead-letter a burst.
const (
	visibilityPerTimeout = 6
	maxReceiveCount      = 10
)

// Central is the security account's stack.
type Central struct {
	pulumi.ResourceState
	Bus            *cloudwatch.EventBus
	RemediatorRole *iam.Role
	Table          *dynamodb.Table
	API            *apigatewayv2.Api
	InteractURL    pulumi.StringOutput
}

type queuePair struct {
	main, dlq *sqs.Queue
}

func newQueue(ctx *pulumi.Context, name string, functionTimeout int, parent pulumi.Resource) (*queuePair, error) {
	dlq, err := sqs.NewQueue(ctx, name+"-dlq", &sqs.QueueArgs{
		MessageRetentionSeconds: pulumi.Int(14 * 24 * 3600),
		SqsManagedSseEnabled:    pulumi.Bool(true),
	}, pulumi.Parent(parent))
	if err != nil {
		return nil, err
	}
	q, err := sqs.NewQueue(ctx, name, &sqs.QueueArgs{
		VisibilityTimeoutSeconds: pulumi.Int(visibilityPerTimeout * functionTimeout),
		SqsManagedSseEnabled:     pulumi.Bool(true),
		RedrivePolicy: dlq.Arn.ApplyT(func(arn string) (string, error) {
			b, err := json.Marshal(map[string]any{"deadLetterTargetArn": arn, "maxReceiveCount": maxReceiveCount})
			return string(b), err
		}).(pulumi.StringOutput),
	}, pulumi.Parent(parent))
	if err != nil {
		return nil, err
	}
	return &queuePair{main: q, dlq: dlq}, nil
}

// NewCentral declares the central stack.
func NewCentral(ctx *pulumi.Context, cfg *Config, opts ...pulumi.ResourceOption) (*Central, error) {
	c := &Central{}
	if err := ctx.RegisterComponentResource("macie-chatops:central:Stack", "central", c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	prefix := "macie-chatops-" + cfg.Slug

	// Findings arrive on a bus of their own; only the organization (or the listed accounts) may
	// put events on it.
	bus, err := cloudwatch.NewEventBus(ctx, "findings-bus", &cloudwatch.EventBusArgs{Name: pulumi.String(prefix + "-findings")}, parent)
	if err != nil {
		return nil, err
	}
	c.Bus = bus
	_, err = cloudwatch.NewEventBusPolicy(ctx, "findings-bus-policy", &cloudwatch.EventBusPolicyArgs{
		EventBusName: bus.Name,
		Policy: JSON(func(v []string) Document {
			st := Statement{Sid: "MemberAccountsPutFindings", Effect: "Allow", Action: "events:PutEvents", Resource: v[0]}
			if cfg.OrganizationID != "" {
				st.Principal = "*"
				st.Condition = map[string]any{"StringEquals": map[string]string{"aws:PrincipalOrgID": cfg.OrganizationID}}
			} else {
				var accts []string
				for _, m := range cfg.Members {
					accts = append(accts, fmt.Sprintf("arn:aws:iam::%s:root", m.AccountID))
				}
				st.Principal = map[string]any{"AWS": accts}
			}
			return doc(st)
		}, bus.Arn),
	}, parent)
	if err != nil {
		return nil, err
	}

	findings, err := newQueue(ctx, "findings", findingHandlerTimeout, c)
	if err != nil {
		return nil, err
	}
	jobs, err := newQueue(ctx, "jobs", remediatorTimeout, c)
	if err != nil {
		return nil, err
	}
	// Where findings arrive depends on the Macie mode (see Topology): the security account's
	// default bus always (its own findings; in delegated-admin mode every finding of the
	// organization in this region), the central bus from forwarders.
	var ruleArns []pulumi.StringInput
	type ruleOn struct {
		name string
		bus  pulumi.StringPtrInput
	}
	rules := []ruleOn{{"findings-default-bus", nil}}
	if len(Forwarders(cfg)) > 0 {
		rules = append(rules, ruleOn{"findings-from-forwarders", bus.Name})
	}
	for _, r := range rules {
		rule, err := cloudwatch.NewEventRule(ctx, r.name, &cloudwatch.EventRuleArgs{
			EventBusName: r.bus, EventPattern: pulumi.String(MaciePattern),
			Description: pulumi.String("Amazon Macie findings to the macie-chatops findings queue"),
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := cloudwatch.NewEventTarget(ctx, r.name+"-to-queue", &cloudwatch.EventTargetArgs{
			Rule: rule.Name, EventBusName: r.bus, Arn: findings.main.Arn,
			DeadLetterConfig: &cloudwatch.EventTargetDeadLetterConfigArgs{Arn: findings.dlq.Arn},
		}, parent); err != nil {
			return nil, err
		}
		ruleArns = append(ruleArns, rule.Arn)
	}
	// Only these rules may send to the findings queue (and dead-letter into its DLQ).
	for _, qp := range []struct {
		name string
		q    *sqs.Queue
	}{{"findings-queue-policy", findings.main}, {"findings-dlq-policy", findings.dlq}} {
		name, q := qp.name, qp.q
		if _, err := sqs.NewQueuePolicy(ctx, name, &sqs.QueuePolicyArgs{
			QueueUrl: q.Url,
			Policy: JSON(func(v []string) Document {
				return doc(Statement{Sid: "EventBridgeRulesOnly", Effect: "Allow", Principal: map[string]string{"Service": "events.amazonaws.com"},
					Action: "sqs:SendMessage", Resource: v[0], Condition: map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": v[1:]}}})
			}, append([]pulumi.StringInput{q.Arn}, ruleArns...)...),
		}, parent); err != nil {
			return nil, err
		}
	}

	// The ledger.
	table, err := dynamodb.NewTable(ctx, "ledger", &dynamodb.TableArgs{
		BillingMode: pulumi.String("PAY_PER_REQUEST"),
		HashKey:     pulumi.String("findingId"),
		Attributes: dynamodb.TableAttributeArray{
			&dynamodb.TableAttributeArgs{Name: pulumi.String("findingId"), Type: pulumi.String("S")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String("accountId"), Type: pulumi.String("S")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String("updatedKey"), Type: pulumi.String("S")},
		},
		GlobalSecondaryIndexes: dynamodb.TableGlobalSecondaryIndexArray{&dynamodb.TableGlobalSecondaryIndexArgs{
			Name: pulumi.String("byAccount"), HashKey: pulumi.String("accountId"), RangeKey: pulumi.String("updatedKey"), ProjectionType: pulumi.String("ALL"),
		}},
		PointInTimeRecovery:       &dynamodb.TablePointInTimeRecoveryArgs{Enabled: pulumi.Bool(true)},
		ServerSideEncryption:      &dynamodb.TableServerSideEncryptionArgs{Enabled: pulumi.Bool(true)},
		Ttl:                       &dynamodb.TableTtlArgs{AttributeName: pulumi.String("expiresAt"), Enabled: pulumi.Bool(true)},
		DeletionProtectionEnabled: pulumi.Bool(true),
		// The record of who approved what outlives the stack: `pulumi destroy` leaves it.
	}, parent, pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, err
	}
	c.Table = table

	// Secrets from Pulumi secrets, one JSON document; the policy in an SSM parameter.
	secret, err := secretsmanager.NewSecret(ctx, "slack", &secretsmanager.SecretArgs{
		Description: pulumi.String("macie-chatops Slack signing secret and bot token / webhook URL"),
	}, parent)
	if err != nil {
		return nil, err
	}
	secretDoc := pulumi.All(cfg.SigningSecret, cfg.BotToken, cfg.WebhookURL).ApplyT(func(xs []interface{}) (string, error) {
		b, err := json.Marshal(map[string]string{"signingSecret": xs[0].(string), "botToken": xs[1].(string), "webhookUrl": xs[2].(string)})
		return string(b), err
	}).(pulumi.StringOutput)
	if _, err := secretsmanager.NewSecretVersion(ctx, "slack", &secretsmanager.SecretVersionArgs{
		SecretId: secret.ID(), SecretString: pulumi.ToSecret(secretDoc).(pulumi.StringOutput),
	}, parent); err != nil {
		return nil, err
	}
	policyText, err := os.ReadFile(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	tier := "Standard"
	if len(policyText) > 4096 {
		tier = "Advanced"
	}
	param, err := ssm.NewParameter(ctx, "policy", &ssm.ParameterArgs{
		Name: pulumi.String("/macie-chatops/" + ctx.Stack() + "/policy"), Type: pulumi.String("String"), Tier: pulumi.String(tier),
		Value: pulumi.String(string(policyText)), Description: pulumi.String("macie-chatops policy " + cfg.PolicyFile + " (" + cfg.Policy.Hash + ")"),
	}, parent)
	if err != nil {
		return nil, err
	}

	// Alarms go to one topic.
	// CloudWatch alarms cannot publish to a topic under the AWS-managed alias/aws/sns key: the
	// topic has a key of its own whose policy lets CloudWatch use it.
	alarmKey, err := kms.NewKey(ctx, "alarms-key", &kms.KeyArgs{
		Description: pulumi.String("macie-chatops " + cfg.Slug + " alarm topic"), EnableKeyRotation: pulumi.Bool(true), DeletionWindowInDays: pulumi.Int(30),
		Policy: pulumi.String(mustJSON(doc(
			accountAdministersKey(cfg.SecurityAccountID),
			// As AWS documents it for alarms to an encrypted topic: no condition, because the
			// request CloudWatch makes to KMS is not documented to carry aws:SourceAccount, and a
			// condition it lacks would silence every alarm again.
			Statement{Sid: "CloudWatchAlarmsPublish", Effect: "Allow", Principal: map[string]string{"Service": "cloudwatch.amazonaws.com"},
				Action: []string{"kms:Decrypt", "kms:GenerateDataKey*"}, Resource: "*"},
		))),
	}, parent)
	if err != nil {
		return nil, err
	}
	topic, err := sns.NewTopic(ctx, "alarms", &sns.TopicArgs{KmsMasterKeyId: alarmKey.Arn}, parent)
	if err != nil {
		return nil, err
	}
	if cfg.AlarmEmail != "" {
		if _, err := sns.NewTopicSubscription(ctx, "alarms-email", &sns.TopicSubscriptionArgs{
			Topic: topic.Arn, Protocol: pulumi.String("email"), Endpoint: pulumi.String(cfg.AlarmEmail)}, parent); err != nil {
			return nil, err
		}
	}

	common := pulumi.StringMap{
		"LEDGER_TABLE":          table.Name,
		"SLACK_MODE":            pulumi.String(cfg.SlackMode),
		"SLACK_SECRET_ARN":      secret.Arn,
		"SLACK_DEFAULT_CHANNEL": pulumi.String(cfg.SlackChannel),
		"POLICY_PARAMETER":      param.Name,
		"JOBS_QUEUE_URL":        jobs.main.Url,
		// The finding-handler accepts findings about other accounts only from this one.
		"MACIE_ADMIN_ACCOUNT": pulumi.String(cfg.SecurityAccountID),
	}
	baseStatements := func(v map[string]string) []Statement {
		return []Statement{
			{Sid: "Ledger", Effect: "Allow", Action: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable"},
				Resource: []string{v["table"], v["table"] + "/index/*"}},
			{Sid: "SlackSecret", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: v["secret"]},
			{Sid: "Policy", Effect: "Allow", Action: "ssm:GetParameter", Resource: v["param"]},
		}
	}
	type fn struct {
		name    string
		timeout int
		memory  int
		// queueConcurrency caps the SQS event source (0: not fed by a queue).
		queueConcurrency int
		env              pulumi.StringMap
		extra            func(v map[string]string) []Statement
	}
	assumeQuarantine := remediatorAssumeStatements(cfg)
	consume := []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}
	fns := []fn{
		{"finding-handler", findingHandlerTimeout, 256, cfg.FindingHandlerConcurrency, pulumi.StringMap{"FINDINGS_DLQ_URL": findings.dlq.Url,
			// A Macie update whose actor is this role is our own change, not the bucket relaxed again.
			"BUCKET_SETTINGS_ROLE_NAME": pulumi.String(bucketSettingsRoleEnv(cfg))}, func(v map[string]string) []Statement {
			return []Statement{
				{Sid: "ConsumeFindings", Effect: "Allow", Action: consume, Resource: v["findings"]},
				{Sid: "QueueJobsAndDeadLetters", Effect: "Allow", Action: "sqs:SendMessage", Resource: []string{v["jobs"], v["findingsDlq"]}},
			}
		}},
		{"remediation-handler", 10, 256, 0, pulumi.StringMap{}, func(v map[string]string) []Statement {
			return []Statement{{Sid: "QueueJobs", Effect: "Allow", Action: "sqs:SendMessage", Resource: v["jobs"]}}
		}},
		{"remediator", remediatorTimeout, 512, cfg.RemediatorConcurrency, withEnv(pulumi.StringMap{"QUARANTINE_ROLE_NAME": pulumi.String(QuarantineRoleName(cfg.Slug)), "QUARANTINE_EXTERNAL_ID": pulumi.String(cfg.ExternalID),
			"BUCKET_SETTINGS_ROLE_NAME": pulumi.String(bucketSettingsRoleEnv(cfg))}, orgRemediatorEnv(cfg)),
			func(v map[string]string) []Statement {
				st := []Statement{
					{Sid: "ConsumeJobs", Effect: "Allow", Action: consume, Resource: v["jobs"]},
					// A digest job fans out into one job per finding.
					{Sid: "QueueJobs", Effect: "Allow", Action: "sqs:SendMessage", Resource: v["jobs"]},
				}
				st = append(st, assumeQuarantine...)
				st = append(st, remediatorBucketSettingsStatements(cfg)...)
				// Organization mode: the generation of an account's member stack.
				st = append(st, remediatorStackSetStatements(cfg)...)
				return st
			}},
		// The sweeper (scheduled) re-drives stuck records through the jobs queue and re-renders
		// Slack messages from the ledger.
		{"sweeper", 300, 256, 0, pulumi.StringMap{}, func(v map[string]string) []Statement {
			return []Statement{{Sid: "QueueJobs", Effect: "Allow", Action: "sqs:SendMessage", Resource: v["jobs"]}}
		}},
	}
	lambdaTrust, _ := json.Marshal(doc(Statement{Effect: "Allow", Principal: map[string]string{"Service": "lambda.amazonaws.com"}, Action: "sts:AssumeRole"}))
	funcs := map[string]*lambda.Function{}
	for _, f := range fns {
		f := f
		logGroup, err := cloudwatch.NewLogGroup(ctx, f.name+"-logs", &cloudwatch.LogGroupArgs{
			Name: pulumi.String("/aws/lambda/" + FunctionName(cfg.Slug, f.name)), RetentionInDays: pulumi.Int(cfg.LogRetentionDays)}, parent)
		if err != nil {
			return nil, err
		}
		role, err := iam.NewRole(ctx, f.name+"-role", &iam.RoleArgs{AssumeRolePolicy: pulumi.String(string(lambdaTrust)),
			Description: pulumi.String("macie-chatops " + f.name)}, parent)
		if err != nil {
			return nil, err
		}
		if f.name == "remediator" {
			c.RemediatorRole = role
		}
		keys := []string{"table", "secret", "param", "findings", "jobs", "findingsDlq", "logs"}
		if _, err := iam.NewRolePolicy(ctx, f.name+"-policy", &iam.RolePolicyArgs{Role: role.ID(),
			Policy: JSON(func(vals []string) Document {
				v := map[string]string{}
				for i, k := range keys {
					v[k] = vals[i]
				}
				st := append(baseStatements(v), f.extra(v)...)
				st = append(st, Statement{Sid: "OwnLogs", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: v["logs"] + ":*"})
				return doc(st...)
			}, table.Arn, secret.Arn, param.Arn, findings.main.Arn, jobs.main.Arn, findings.dlq.Arn, logGroup.Arn),
		}, parent); err != nil {
			return nil, err
		}
		env := pulumi.StringMap{}
		for k, v := range common {
			env[k] = v
		}
		for k, v := range f.env {
			env[k] = v
		}
		args := &lambda.FunctionArgs{
			Name: pulumi.String(FunctionName(cfg.Slug, f.name)), Role: role.Arn, Runtime: pulumi.String("provided.al2023"), Handler: pulumi.String("bootstrap"),
			Architectures: pulumi.StringArray{pulumi.String("arm64")}, MemorySize: pulumi.Int(f.memory), Timeout: pulumi.Int(f.timeout),
			Code:          pulumi.NewFileArchive(filepath.Join(cfg.BuildDir, f.name+".zip")),
			Environment:   &lambda.FunctionEnvironmentArgs{Variables: env},
			LoggingConfig: &lambda.FunctionLoggingConfigArgs{LogFormat: pulumi.String("JSON"), LogGroup: logGroup.Name},
		}
		if f.queueConcurrency > 0 && cfg.ReserveConcurrency {
			args.ReservedConcurrentExecutions = pulumi.Int(f.queueConcurrency)
		}
		fnRes, err := lambda.NewFunction(ctx, f.name, args, parent, pulumi.DependsOn([]pulumi.Resource{logGroup}))
		if err != nil {
			return nil, err
		}
		funcs[f.name] = fnRes
		if _, err := cloudwatch.NewMetricAlarm(ctx, f.name+"-errors", &cloudwatch.MetricAlarmArgs{
			Namespace: pulumi.String("AWS/Lambda"), MetricName: pulumi.String("Errors"), Statistic: pulumi.String("Sum"),
			Dimensions: pulumi.StringMap{"FunctionName": fnRes.Name}, Period: pulumi.Int(300), EvaluationPeriods: pulumi.Int(1),
			Threshold: pulumi.Float64(0), ComparisonOperator: pulumi.String("GreaterThanThreshold"), TreatMissingData: pulumi.String("notBreaching"),
			AlarmActions: pulumi.Array{topic.Arn}, AlarmDescription: pulumi.String(f.name + " returned errors: check its logs"),
		}, parent); err != nil {
			return nil, err
		}
	}
	for _, src := range []struct {
		fn string
		q  *queuePair
		n  int
	}{{"finding-handler", findings, cfg.FindingHandlerConcurrency}, {"remediator", jobs, cfg.RemediatorConcurrency}} {
		if _, err := lambda.NewEventSourceMapping(ctx, src.fn+"-source", &lambda.EventSourceMappingArgs{
			EventSourceArn: src.q.main.Arn, FunctionName: funcs[src.fn].Arn, BatchSize: pulumi.Int(10),
			FunctionResponseTypes: pulumi.StringArray{pulumi.String("ReportBatchItemFailures")},
			// The cap that keeps a burst from throttling (and burning receives): at most this many
			// concurrent invocations from the queue.
			ScalingConfig: &lambda.EventSourceMappingScalingConfigArgs{MaximumConcurrency: pulumi.Int(src.n)},
		}, parent); err != nil {
			return nil, err
		}
	}
	if err := sweeperSchedule(ctx, cfg, funcs["sweeper"], parent); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		q    *sqs.Queue
	}{{"findings-dlq", findings.dlq}, {"jobs-dlq", jobs.dlq}} {
		name, q := d.name, d.q
		if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-depth", &cloudwatch.MetricAlarmArgs{
			Namespace: pulumi.String("AWS/SQS"), MetricName: pulumi.String("ApproximateNumberOfMessagesVisible"), Statistic: pulumi.String("Maximum"),
			Dimensions: pulumi.StringMap{"QueueName": q.Name}, Period: pulumi.Int(300), EvaluationPeriods: pulumi.Int(1),
			Threshold: pulumi.Float64(0), ComparisonOperator: pulumi.String("GreaterThanThreshold"), TreatMissingData: pulumi.String("notBreaching"),
			AlarmActions: pulumi.Array{topic.Arn}, AlarmDescription: pulumi.String(name + " has messages that could not be processed"),
		}, parent); err != nil {
			return nil, err
		}
	}
	// The remediator emits Failures (namespace MacieChatOps) with the dimension sets of
	// RemediatorFailureDimensions: a failed move under {Function}, a failed release under
	// {Function, Kind}. CloudWatch matches dimension sets exactly, so the alarm sums both.
	queries := cloudwatch.MetricAlarmMetricQueryArray{}
	var ids []string
	for i, dims := range RemediatorFailureDimensions {
		id := fmt.Sprintf("f%d", i)
		ids = append(ids, id)
		dm := pulumi.StringMap{}
		for _, k := range sortedKeys(dims) {
			dm[k] = pulumi.String(dims[k])
		}
		queries = append(queries, &cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String(id), Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
			Namespace: pulumi.String("MacieChatOps"), MetricName: pulumi.String("Failures"), Stat: pulumi.String("Sum"), Period: pulumi.Int(300), Dimensions: dm}})
	}
	queries = append(queries, &cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String("failures"), Expression: pulumi.String("SUM([" + strings.Join(ids, ",") + "])"),
		Label: pulumi.String("remediation failures"), ReturnData: pulumi.Bool(true)})
	if _, err := cloudwatch.NewMetricAlarm(ctx, "remediation-failures", &cloudwatch.MetricAlarmArgs{
		MetricQueries: queries, EvaluationPeriods: pulumi.Int(1),
		Threshold: pulumi.Float64(0), ComparisonOperator: pulumi.String("GreaterThanThreshold"), TreatMissingData: pulumi.String("notBreaching"),
		AlarmActions: pulumi.Array{topic.Arn}, AlarmDescription: pulumi.String("quarantines or releases failed: the Slack message has the error and a Retry button"),
	}, parent); err != nil {
		return nil, err
	}

	// The interactivity endpoint: POST /slack/actions only, throttled.
	api, err := apigatewayv2.NewApi(ctx, "slack-api", &apigatewayv2.ApiArgs{ProtocolType: pulumi.String("HTTP"), Name: pulumi.String(prefix + "-slack")}, parent)
	if err != nil {
		return nil, err
	}
	c.API = api
	integ, err := apigatewayv2.NewIntegration(ctx, "slack-actions", &apigatewayv2.IntegrationArgs{ApiId: api.ID(), IntegrationType: pulumi.String("AWS_PROXY"),
		IntegrationUri: funcs["remediation-handler"].InvokeArn, PayloadFormatVersion: pulumi.String("2.0"), TimeoutMilliseconds: pulumi.Int(5000)}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := apigatewayv2.NewRoute(ctx, "slack-actions", &apigatewayv2.RouteArgs{ApiId: api.ID(), RouteKey: pulumi.String("POST /slack/actions"),
		Target: pulumi.Sprintf("integrations/%s", integ.ID())}, parent); err != nil {
		return nil, err
	}
	if _, err := apigatewayv2.NewStage(ctx, "default", &apigatewayv2.StageArgs{ApiId: api.ID(), Name: pulumi.String("$default"), AutoDeploy: pulumi.Bool(true),
		DefaultRouteSettings: &apigatewayv2.StageDefaultRouteSettingsArgs{ThrottlingBurstLimit: pulumi.Int(20), ThrottlingRateLimit: pulumi.Float64(10)}}, parent); err != nil {
		return nil, err
	}
	if _, err := lambda.NewPermission(ctx, "slack-api-invoke", &lambda.PermissionArgs{Action: pulumi.String("lambda:InvokeFunction"),
		Function: funcs["remediation-handler"].Name, Principal: pulumi.String("apigateway.amazonaws.com"),
		SourceArn: pulumi.Sprintf("%s/*/POST/slack/actions", api.ExecutionArn)}, parent); err != nil {
		return nil, err
	}
	c.InteractURL = pulumi.Sprintf("%s/slack/actions", api.ApiEndpoint)
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"interactivityUrl": c.InteractURL, "ledgerTable": table.Name, "findingsBusArn": bus.Arn})
}

// Function timeouts, in seconds; the queue visibility timeouts derive from them.
const (
	findingHandlerTimeout = 60
	remediatorTimeout     = 900
)

// RemediatorFailureDimensions are the dimension sets under which the remediator emits its
// Failures metric (functions/internal/handlers/remediator.go, obs.Metrics: Function is always a
// dimension, Kind is added for releases).
var RemediatorFailureDimensions = []map[string]string{
	{"Function": "remediator"},
	{"Function": "remediator", "Kind": "release"},
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// accountAdministersKey is the key-policy statement that keeps a key manageable by the account's
// IAM (the deploy role included), so no key can lock its own administrators out. It administers
// and never uses the key: kms:CreateGrant (which AWS's default "kms:Create*" includes) would let
// any administrator of the account grant itself Decrypt on quarantined objects without a trace in
// the key policy.
func accountAdministersKey(account string) Statement {
	return Statement{Sid: "AccountAdministers", Effect: "Allow", Principal: map[string]string{"AWS": fmt.Sprintf("arn:aws:iam::%s:root", account)},
		Action:   []string{"kms:CreateAlias", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"},
		Resource: "*"}
}

// sweeperSchedule invokes the sweeper on the configured schedule with an empty event.
func sweeperSchedule(ctx *pulumi.Context, cfg *Config, sweeper *lambda.Function, parent pulumi.ResourceOption) error {
	rule, err := cloudwatch.NewEventRule(ctx, "sweeper-schedule", &cloudwatch.EventRuleArgs{
		ScheduleExpression: pulumi.String(cfg.SweeperSchedule),
		Description:        pulumi.String("macie-chatops sweeper: re-drive stuck findings, re-render stale Slack messages"),
	}, parent)
	if err != nil {
		return err
	}
	if _, err := cloudwatch.NewEventTarget(ctx, "sweeper-schedule-target", &cloudwatch.EventTargetArgs{
		Rule: rule.Name, Arn: sweeper.Arn, Input: pulumi.String("{}"),
	}, parent); err != nil {
		return err
	}
	_, err = lambda.NewPermission(ctx, "sweeper-schedule-invoke", &lambda.PermissionArgs{Action: pulumi.String("lambda:InvokeFunction"),
		Function: sweeper.Name, Principal: pulumi.String("events.amazonaws.com"), SourceArn: rule.Arn}, parent)
	return err
}

// remediatorAssumeStatements is where the remediator may assume the quarantine role. Explicit
// members are named by ARN. In organization mode the members are whatever accounts the OUs hold
// today (the StackSet deploys the role into accounts created later), so the role is matched by
// name in any account, and aws:ResourceOrgID keeps it inside the organization: for
// sts:AssumeRole the resource is the role, so the key is the organization of the account that
// owns the role, and it is absent for an account in no organization, which StringEquals
// refuses. A role of that name in an account outside the organization, trusting the remediator,
// is still refused; any other role name is refused in every account. Both may be set: explicit
// members can be outside the OUs.
func remediatorAssumeStatements(cfg *Config) []Statement {
	var st []Statement
	var arns []string
	for _, m := range cfg.Members {
		arns = append(arns, fmt.Sprintf("arn:aws:iam::%s:role/%s", m.AccountID, QuarantineRoleName(cfg.Slug)))
	}
	if len(arns) > 0 {
		st = append(st, Statement{Sid: "AssumeMemberQuarantineRoles", Effect: "Allow", Action: "sts:AssumeRole", Resource: arns})
	}
	if cfg.Organization != nil {
		st = append(st, Statement{Sid: "AssumeOrgQuarantineRoles", Effect: "Allow", Action: "sts:AssumeRole",
			Resource:  "arn:aws:iam::*:role/" + QuarantineRoleName(cfg.Slug),
			Condition: map[string]any{"StringEquals": map[string]string{"aws:ResourceOrgID": cfg.OrganizationID}}})
	}
	return st
}
