package stack

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// MemberAccount is what one member account gets: per region a forwarder and a quarantine
// bucket; once per account the quarantine role.
type MemberAccount struct {
	pulumi.ResourceState
	Role    *iam.Role
	Buckets map[string]*s3.BucketV2 // by region
}

// s3 actions the move and release need, and nothing else.
var (
	dataBucketActions       = []string{"s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"}
	dataObjectActions       = []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging", "s3:GetObjectRetention", "s3:GetObjectLegalHold", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion"}
	quarantineBucketActions = []string{"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads", "s3:GetBucketVersioning"}
	quarantineObjectActions = []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
	kmsActions              = []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey"}
)

// NewMemberAccount declares one member account's resources, each through that account's
// provider (AssumeRole of its deploy role), one provider per region.
func NewMemberAccount(ctx *pulumi.Context, cfg *Config, m Member, remediatorRole pulumi.StringInput, centralBus pulumi.StringInput, opts ...pulumi.ResourceOption) (*MemberAccount, error) {
	ma := &MemberAccount{Buckets: map[string]*s3.BucketV2{}}
	name := "member-" + m.AccountID
	if err := ctx.RegisterComponentResource("macie-chatops:member:Account", name, ma, opts...); err != nil {
		return nil, err
	}
	providers := map[string]*aws.Provider{}
	for _, region := range m.Regions {
		args := &aws.ProviderArgs{Region: pulumi.String(region), AllowedAccountIds: pulumi.StringArray{pulumi.String(m.AccountID)}}
		if m.DeployRole != "" {
			args.AssumeRole = &aws.ProviderAssumeRoleArgs{
				RoleArn:     pulumi.String(fmt.Sprintf("arn:aws:iam::%s:role/%s", m.AccountID, m.DeployRole)),
				SessionName: pulumi.String("macie-chatops-pulumi"),
			}
		}
		p, err := aws.NewProvider(ctx, fmt.Sprintf("%s-%s", name, region), args, pulumi.Parent(ma))
		if err != nil {
			return nil, err
		}
		providers[region] = p
	}
	first := providers[m.Regions[0]]
	in := func(p *aws.Provider) []pulumi.ResourceOption {
		return []pulumi.ResourceOption{pulumi.Parent(ma), pulumi.Provider(p)}
	}

	// The quarantine role: only the central remediator may assume it, with the ExternalId and
	// from inside the organization.
	trust := JSON(func(v []string) Document {
		cond := map[string]any{"StringEquals": map[string]string{"sts:ExternalId": cfg.ExternalID}}
		if cfg.OrganizationID != "" {
			cond["StringEquals"].(map[string]string)["aws:PrincipalOrgID"] = cfg.OrganizationID
		}
		return doc(Statement{Sid: "CentralRemediatorOnly", Effect: "Allow", Principal: map[string]any{"AWS": v[0]}, Action: "sts:AssumeRole", Condition: cond})
	}, remediatorRole)
	role, err := iam.NewRole(ctx, name+"-quarantine-role", &iam.RoleArgs{
		Name: pulumi.String(QuarantineRoleName), AssumeRolePolicy: trust, MaxSessionDuration: pulumi.Int(3600),
		Description: pulumi.String("macie-chatops: moves objects found by Macie to the quarantine bucket"),
	}, in(first)...)
	if err != nil {
		return nil, err
	}
	ma.Role = role

	var bucketArns []pulumi.StringInput
	var keyArns []pulumi.StringInput
	for _, region := range m.Regions {
		p := providers[region]
		q := cfg.Policy.QuarantineFor(m.AccountID, region)
		rn := fmt.Sprintf("%s-%s", name, region)

		// Forwarder: the default bus's Macie findings go to the central bus.
		fwdRole, err := iam.NewRole(ctx, rn+"-forwarder-role", &iam.RoleArgs{
			AssumeRolePolicy: pulumi.String(mustJSON(doc(Statement{Effect: "Allow", Principal: map[string]string{"Service": "events.amazonaws.com"}, Action: "sts:AssumeRole"}))),
		}, in(p)...)
		if err != nil {
			return nil, err
		}
		if _, err := iam.NewRolePolicy(ctx, rn+"-forwarder-policy", &iam.RolePolicyArgs{Role: fwdRole.ID(),
			Policy: JSON(func(v []string) Document {
				return doc(Statement{Sid: "PutToCentralBus", Effect: "Allow", Action: "events:PutEvents", Resource: v[0]})
			}, centralBus)}, in(p)...); err != nil {
			return nil, err
		}
		rule, err := cloudwatch.NewEventRule(ctx, rn+"-forwarder", &cloudwatch.EventRuleArgs{EventPattern: pulumi.String(MaciePattern),
			Description: pulumi.String("Amazon Macie findings to the macie-chatops central bus")}, in(p)...)
		if err != nil {
			return nil, err
		}
		if _, err := cloudwatch.NewEventTarget(ctx, rn+"-forwarder-target", &cloudwatch.EventTargetArgs{Rule: rule.Name, Arn: centralBus, RoleArn: fwdRole.Arn}, in(p)...); err != nil {
			return nil, err
		}

		// Quarantine bucket with a key of its own.
		key, err := kms.NewKey(ctx, rn+"-quarantine-key", &kms.KeyArgs{
			Description: pulumi.String("macie-chatops quarantine bucket " + q.Bucket), EnableKeyRotation: pulumi.Bool(true), DeletionWindowInDays: pulumi.Int(30),
			Policy: JSON(func(v []string) Document {
				return doc(
					Statement{Sid: "AccountAdministers", Effect: "Allow", Principal: map[string]string{"AWS": fmt.Sprintf("arn:aws:iam::%s:root", m.AccountID)},
						Action:   []string{"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"},
						Resource: "*"},
					Statement{Sid: "QuarantineRoleUses", Effect: "Allow", Principal: map[string]string{"AWS": v[0]}, Action: kmsActions, Resource: "*"},
				)
			}, role.Arn),
		}, in(p)...)
		if err != nil {
			return nil, err
		}
		keyArns = append(keyArns, key.Arn)
		bucket, err := s3.NewBucketV2(ctx, rn+"-quarantine", &s3.BucketV2Args{Bucket: pulumi.String(q.Bucket), ObjectLockEnabled: pulumi.Bool(false)}, in(p)...)
		if err != nil {
			return nil, err
		}
		ma.Buckets[region] = bucket
		bucketArns = append(bucketArns, bucket.Arn)
		if _, err := s3.NewBucketPublicAccessBlock(ctx, rn+"-quarantine-pab", &s3.BucketPublicAccessBlockArgs{Bucket: bucket.ID(),
			BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true), IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true)}, in(p)...); err != nil {
			return nil, err
		}
		if _, err := s3.NewBucketOwnershipControls(ctx, rn+"-quarantine-ownership", &s3.BucketOwnershipControlsArgs{Bucket: bucket.ID(),
			Rule: &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")}}, in(p)...); err != nil {
			return nil, err
		}
		if _, err := s3.NewBucketVersioningV2(ctx, rn+"-quarantine-versioning", &s3.BucketVersioningV2Args{Bucket: bucket.ID(),
			VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")}}, in(p)...); err != nil {
			return nil, err
		}
		if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, rn+"-quarantine-sse", &s3.BucketServerSideEncryptionConfigurationV2Args{Bucket: bucket.ID(),
			Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("aws:kms"), KmsMasterKeyId: key.Arn},
				BucketKeyEnabled: pulumi.Bool(true)}}}, in(p)...); err != nil {
			return nil, err
		}
		if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, rn+"-quarantine-lifecycle", &s3.BucketLifecycleConfigurationV2Args{Bucket: bucket.ID(),
			Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id: pulumi.String("retention"), Status: pulumi.String("Enabled"),
				Filter:                         &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
				Expiration:                     &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(q.RetentionDays)},
				NoncurrentVersionExpiration:    &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(q.RetentionDays)},
				AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{DaysAfterInitiation: pulumi.Int(7)},
			}}}, in(p)...); err != nil {
			return nil, err
		}
		allowed := []pulumi.StringInput{role.Arn}
		if cfg.BreakGlassRoleArn != "" {
			allowed = append(allowed, pulumi.String(cfg.BreakGlassRoleArn))
		}
		if _, err := s3.NewBucketPolicy(ctx, rn+"-quarantine-policy", &s3.BucketPolicyArgs{Bucket: bucket.ID(),
			Policy: JSON(func(v []string) Document {
				arn := v[0]
				return doc(
					Statement{Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: []string{arn, arn + "/*"},
						Condition: map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}}},
					Statement{Sid: "DenyEveryoneButQuarantineAndBreakGlass", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: []string{arn, arn + "/*"},
						Condition: map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": v[1:]}}},
				)
			}, append([]pulumi.StringInput{bucket.Arn}, allowed...)...)}, in(p)...); err != nil {
			return nil, err
		}
	}

	// What the role may do: the move's actions on the data buckets (all of them unless the
	// member config names them) and on its quarantine buckets; the keys to read and write.
	dataBuckets := []string{"arn:aws:s3:::*"}
	if len(m.DataBuckets) > 0 {
		dataBuckets = nil
		for _, b := range m.DataBuckets {
			dataBuckets = append(dataBuckets, "arn:aws:s3:::"+b)
		}
	}
	n := len(bucketArns)
	inputs := append(append([]pulumi.StringInput{}, bucketArns...), keyArns...)
	if _, err := iam.NewRolePolicy(ctx, name+"-quarantine-policy", &iam.RolePolicyArgs{Role: role.ID(),
		Policy: JSON(func(v []string) Document {
			qb, keys := v[:n], v[n:]
			var qObjects, dObjects []string
			for _, b := range qb {
				qObjects = append(qObjects, b+"/*")
			}
			for _, b := range dataBuckets {
				dObjects = append(dObjects, b+"/*")
			}
			keys = append(keys, m.KMSKeyArns...)
			return doc(
				Statement{Sid: "DataBuckets", Effect: "Allow", Action: dataBucketActions, Resource: dataBuckets},
				Statement{Sid: "DataObjects", Effect: "Allow", Action: dataObjectActions, Resource: dObjects},
				Statement{Sid: "QuarantineBuckets", Effect: "Allow", Action: quarantineBucketActions, Resource: qb},
				Statement{Sid: "QuarantineObjects", Effect: "Allow", Action: quarantineObjectActions, Resource: qObjects},
				Statement{Sid: "Keys", Effect: "Allow", Action: kmsActions, Resource: keys},
			)
		}, inputs...)}, in(first)...); err != nil {
		return nil, err
	}
	return ma, ctx.RegisterResourceOutputs(ma, pulumi.Map{"quarantineRoleArn": role.Arn})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Run is the whole program.
func Run(ctx *pulumi.Context) error {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return err
	}
	central, err := NewCentral(ctx, cfg)
	if err != nil {
		return err
	}
	roles := pulumi.StringMap{}
	for _, m := range cfg.Members {
		ma, err := NewMemberAccount(ctx, cfg, m, central.RemediatorRole.Arn, central.Bus.Arn)
		if err != nil {
			return err
		}
		roles[m.AccountID] = ma.Role.Arn
	}
	ctx.Export("slackInteractivityUrl", central.InteractURL)
	ctx.Export("slackAppSetup", pulumi.Sprintf("In your Slack app (functions/slack-app-manifest.yaml): Interactivity & Shortcuts → Request URL → %s", central.InteractURL))
	ctx.Export("ledgerTable", central.Table.Name)
	ctx.Export("findingsBusArn", central.Bus.Arn)
	ctx.Export("quarantineRoles", roles)
	ctx.Export("policyHash", pulumi.String(cfg.Policy.Hash))
	return nil
}
