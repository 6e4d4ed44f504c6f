package stack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// MemberAccount is what one member account gets: per region a quarantine bucket (and, when the
// topology needs one, a forwarder); once per account the quarantine role and, when the stack's
// policy remediates policy findings, the bucket-settings role (bucketsettings.go).
type MemberAccount struct {
	pulumi.ResourceState
	Role    *iam.Role
	Buckets map[string]*s3.BucketV2 // by region
	// BucketSettingsRole is nil when the stack's policy enables no bucket-fix kind in this account.
	BucketSettingsRole *iam.Role
}

// s3 actions the move and release need, and nothing else.
var (
	dataBucketActions       = []string{"s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"}
	dataObjectActions       = []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging", "s3:GetObjectRetention", "s3:GetObjectLegalHold", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion"}
	quarantineBucketActions = []string{"s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"}
	quarantineObjectActions = []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"}
	kmsActions              = []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"}

	// What break-glass may do with quarantined objects: list, read, decrypt. Nothing else.
	breakGlassBucketActions = []string{"s3:ListBucket", "s3:ListBucketVersions"}
	breakGlassObjectActions = []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"}
	breakGlassKeyActions    = []string{"kms:Decrypt", "kms:DescribeKey"}

	// What the quarantine bucket policy denies to everyone but the named roles. Bucket
	// administration (encryption, versioning, lifecycle, public access block, the policy itself)
	// is never denied, so the deploy role can always refresh, update and destroy.
	objectReadActions  = []string{"s3:GetObject*", "s3:ListBucket", "s3:ListBucketVersions"}
	objectWriteActions = []string{"s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject", "s3:ReplicateObject", "s3:ReplicateDelete", "s3:AbortMultipartUpload"}

	// Buckets the quarantine role never touches when the member names no dataBuckets: logs and
	// the security tooling's own buckets (Macie never needs to remediate them; moving a log
	// object would destroy evidence). The policy's excluded buckets are added.
	protectedBuckets = []string{"*cloudtrail*", "*access-log*", "aws-controltower-*", "aws-config-*", "config-bucket-*", "aws-logs-*", "*-macie-*-results*"}
)

// iamPattern is a bucket pattern IAM can express (its wildcards are * and ?).
var iamPattern = regexp.MustCompile(`^[a-z0-9.*?-]+$`)

// DeployRoleArn is the role Pulumi assumes in a member, or "" when the member is deployed with
// the stack's own credentials (the security account).
func DeployRoleArn(m Member) string {
	if m.DeployRole == "" {
		return ""
	}
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", m.AccountID, m.DeployRole)
}

// DeployPrincipal is the identity that deploys a member, as its bucket policies name it: the
// deploy role, or, for a member deployed with the stack's own credentials (the security
// account), the role behind those credentials, asked of AWS through the member's provider. A
// policy that named no deployer would deny it s3:ListBucket, which HeadBucket needs, so every
// refresh, up and destroy of the quarantine bucket would fail with 403. An assumed-role session
// (SSO, a CI role) resolves to its role's ARN, which is what aws:PrincipalArn carries; IAM user
// credentials resolve to the user.
func DeployPrincipal(ctx *pulumi.Context, m Member, p *aws.Provider) pulumi.StringOutput {
	if arn := DeployRoleArn(m); arn != "" {
		return pulumi.String(arn).ToStringOutput()
	}
	caller := aws.GetCallerIdentityOutput(ctx, aws.GetCallerIdentityOutputArgs{}, pulumi.Provider(p))
	return iam.GetSessionContextOutput(ctx, iam.GetSessionContextOutputArgs{Arn: caller.Arn()}, pulumi.Provider(p)).IssuerArn()
}

// ProviderArgs is the provider of an account and region: assuming the deploy role when the
// member has one, and pinned to the account, so a wrong credential fails instead of deploying
// into the wrong account.
func ProviderArgs(account, deployRoleArn, region string) *aws.ProviderArgs {
	args := &aws.ProviderArgs{Region: pulumi.String(region), AllowedAccountIds: pulumi.StringArray{pulumi.String(account)}}
	if deployRoleArn != "" {
		args.AssumeRole = &aws.ProviderAssumeRoleArgs{RoleArn: pulumi.String(deployRoleArn), SessionName: pulumi.String("macie-chatops-pulumi")}
	}
	return args
}

// NewMemberAccount declares one member account's resources, each through that account's
// provider (AssumeRole of its deploy role), one provider per region.
func NewMemberAccount(ctx *pulumi.Context, cfg *Config, m Member, remediatorRole pulumi.StringInput, centralBus pulumi.StringInput, opts ...pulumi.ResourceOption) (*MemberAccount, error) {
	ma := &MemberAccount{Buckets: map[string]*s3.BucketV2{}}
	name := "member-" + m.AccountID
	if err := ctx.RegisterComponentResource("macie-chatops:member:Account", name, ma, opts...); err != nil {
		return nil, err
	}
	providers := map[string]*aws.Provider{}
	// Regions are declared in sorted order, so the declaration order (what `pulumi preview`
	// lists, the order of ARNs in the role policy) does not change when the config is reordered.
	regions := slices.Sorted(slices.Values(m.Regions))
	for _, region := range regions {
		p, err := aws.NewProvider(ctx, fmt.Sprintf("%s-%s", name, region), ProviderArgs(m.AccountID, DeployRoleArn(m), region), pulumi.Parent(ma))
		if err != nil {
			return nil, err
		}
		providers[region] = p
	}
	first := providers[m.Regions[0]]
	deployer := DeployPrincipal(ctx, m, first)
	in := func(p *aws.Provider) []pulumi.ResourceOption {
		return []pulumi.ResourceOption{pulumi.Parent(ma), pulumi.Provider(p)}
	}
	// The quarantine bucket holds the only copy of quarantined objects: `pulumi destroy` leaves
	// it, its key and every setting that protects it (README "Removing it").
	kept := func(p *aws.Provider) []pulumi.ResourceOption { return append(in(p), pulumi.RetainOnDelete(true)) }

	// The quarantine role: only the central remediator may assume it, with the ExternalId and
	// from inside the organization.
	role, err := iam.NewRole(ctx, name+"-quarantine-role", &iam.RoleArgs{
		Name:               pulumi.String(QuarantineRoleName(cfg.Slug)),
		AssumeRolePolicy:   JSON(func(v []string) Document { return QuarantineTrust(cfg, v[0]) }, remediatorRole),
		MaxSessionDuration: pulumi.Int(3600),
		Description:        pulumi.String(QuarantineRoleDescription(cfg.Slug)),
	}, in(first)...)
	if err != nil {
		return nil, err
	}
	ma.Role = role

	for _, region := range regions {
		p := providers[region]
		site := ExplicitSite(m.AccountID, region, "")
		q := QuarantineBucketFor(cfg, site)
		rn := fmt.Sprintf("%s-%s", name, region)

		if needsForwarder(cfg, m.AccountID, region) {
			if err := newForwarder(ctx, rn, centralBus, in(p)...); err != nil {
				return nil, err
			}
		}

		// Quarantine bucket with a key of its own. The key policy names the role by ARN in a
		// condition, so it does not wait for the role.
		key, err := kms.NewKey(ctx, rn+"-quarantine-key", &kms.KeyArgs{
			Description: pulumi.String("macie-chatops quarantine bucket " + q.Name), EnableKeyRotation: pulumi.Bool(true), DeletionWindowInDays: pulumi.Int(30),
			Policy: pulumi.String(mustJSON(QuarantineKeyPolicy(cfg, site))),
		}, kept(p)...)
		if err != nil {
			return nil, err
		}
		// The role's identity policy grants the quarantine keys by this alias.
		if _, err := kms.NewAlias(ctx, rn+"-quarantine-key-alias", &kms.AliasArgs{Name: pulumi.String(QuarantineKeyAlias(cfg.Slug)), TargetKeyId: key.KeyId}, kept(p)...); err != nil {
			return nil, err
		}
		bucket, err := s3.NewBucketV2(ctx, rn+"-quarantine", &s3.BucketV2Args{Bucket: pulumi.String(q.Name), ObjectLockEnabled: pulumi.Bool(false)}, kept(p)...)
		if err != nil {
			return nil, err
		}
		ma.Buckets[region] = bucket
		// Every setting of the bucket is applied before its policy (below depends on them all).
		var settings []pulumi.Resource
		pab, err := s3.NewBucketPublicAccessBlock(ctx, rn+"-quarantine-pab", &s3.BucketPublicAccessBlockArgs{Bucket: bucket.ID(),
			BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true), IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true)}, kept(p)...)
		if err != nil {
			return nil, err
		}
		settings = append(settings, pab)
		own, err := s3.NewBucketOwnershipControls(ctx, rn+"-quarantine-ownership", &s3.BucketOwnershipControlsArgs{Bucket: bucket.ID(),
			Rule: &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")}}, kept(p)...)
		if err != nil {
			return nil, err
		}
		settings = append(settings, own)
		ver, err := s3.NewBucketVersioningV2(ctx, rn+"-quarantine-versioning", &s3.BucketVersioningV2Args{Bucket: bucket.ID(),
			VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")}}, kept(p)...)
		if err != nil {
			return nil, err
		}
		settings = append(settings, ver)
		sse, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, rn+"-quarantine-sse", &s3.BucketServerSideEncryptionConfigurationV2Args{Bucket: bucket.ID(),
			Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("aws:kms"), KmsMasterKeyId: key.Arn},
				BucketKeyEnabled: pulumi.Bool(true)}}}, kept(p)...)
		if err != nil {
			return nil, err
		}
		settings = append(settings, sse)
		lc, err := s3.NewBucketLifecycleConfigurationV2(ctx, rn+"-quarantine-lifecycle", &s3.BucketLifecycleConfigurationV2Args{Bucket: bucket.ID(),
			Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id: pulumi.String("retention"), Status: pulumi.String("Enabled"),
				Filter:                         &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
				Expiration:                     &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(q.RetentionDays)},
				NoncurrentVersionExpiration:    &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(q.RetentionDays)},
				AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{DaysAfterInitiation: pulumi.Int(q.AbortMultipartDays)},
			}}}, kept(p)...)
		if err != nil {
			return nil, err
		}
		settings = append(settings, lc)
		if _, err := s3.NewBucketPolicy(ctx, rn+"-quarantine-policy", &s3.BucketPolicyArgs{Bucket: bucket.ID(),
			Policy: JSON(func(v []string) Document {
				return QuarantineBucketPolicyAt(cfg, ExplicitSite(m.AccountID, region, v[1]))
			}, role.Arn, deployer)}, append(kept(p), pulumi.DependsOn(settings))...); err != nil {
			return nil, err
		}
	}

	var quarantineNames []string
	for _, region := range regions {
		quarantineNames = append(quarantineNames, cfg.Policy.QuarantineFor(m.AccountID, region).Bucket)
	}
	if ma.BucketSettingsRole, err = newBucketSettingsRole(ctx, cfg, m, remediatorRole, quarantineNames, first, ma); err != nil {
		return nil, err
	}

	// What the role may do: the move's actions on the data buckets of its own account (the
	// named ones, or all but the protected ones), on its quarantine buckets and keys.
	if _, err := iam.NewRolePolicy(ctx, name+"-quarantine-policy", &iam.RolePolicyArgs{Role: role.ID(),
		Policy: pulumi.String(mustJSON(QuarantineRolePolicy(cfg, ExplicitSite(m.AccountID, regions[0], ""), regions, m.DataBuckets, m.KMSKeyArns)))}, in(first)...); err != nil {
		return nil, err
	}
	return ma, ctx.RegisterResourceOutputs(ma, pulumi.Map{"quarantineRoleArn": role.Arn})
}

// QuarantineBucketPolicy: TLS only; object reads only by the quarantine role, break-glass and the
// deployer; object writes only by the quarantine role and the deployer; break-glass may list and
// read. Bucket administration is left to IAM. deployRole is DeployPrincipal: the deploy role, or
// the identity that deploys the security account.
func QuarantineBucketPolicy(bucketArn, quarantineRole, breakGlass, deployRole string) Document {
	objects := bucketArn + "/*"
	readers := []string{quarantineRole}
	writers := []string{quarantineRole}
	if breakGlass != "" {
		readers = append(readers, breakGlass)
	}
	if deployRole != "" {
		readers = append(readers, deployRole)
		writers = append(writers, deployRole)
	}
	st := []Statement{
		{Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: []string{bucketArn, objects},
			Condition: map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}}},
		{Sid: "DenyObjectReadsToOthers", Effect: "Deny", Principal: "*", Action: objectReadActions, Resource: []string{bucketArn, objects},
			Condition: map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": readers}}},
		{Sid: "DenyObjectWritesToOthers", Effect: "Deny", Principal: "*", Action: objectWriteActions, Resource: objects,
			Condition: map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": writers}}},
	}
	if breakGlass != "" {
		st = append(st,
			Statement{Sid: "BreakGlassLists", Effect: "Allow", Principal: map[string]string{"AWS": breakGlass}, Action: breakGlassBucketActions, Resource: bucketArn},
			Statement{Sid: "BreakGlassReads", Effect: "Allow", Principal: map[string]string{"AWS": breakGlass}, Action: breakGlassObjectActions, Resource: objects},
		)
	}
	return doc(st...)
}

// Warnings are what preview says about a valid but risky configuration.
func Warnings(cfg *Config) []string {
	var out []string
	for _, m := range cfg.Members {
		if len(m.DataBuckets) == 0 {
			out = append(out, fmt.Sprintf("member %s has no dataBuckets: its quarantine role may move objects in every bucket of account %s except log and security buckets (%s); set macie-chatops:members[].dataBuckets to narrow it", m.AccountID, m.AccountID, strings.Join(protectedPatterns(cfg), ", ")))
		}
	}
	if cfg.Organization != nil {
		out = append(out, fmt.Sprintf("organization mode: the quarantine role in each account of %s may move objects in every bucket of its own account except log and security buckets (%s); per-account dataBuckets need an explicit member", strings.Join(cfg.Organization.OrganizationalUnits, ", "), strings.Join(protectedPatterns(cfg), ", ")))
	}
	return out
}

func protectedPatterns(cfg *Config) []string {
	out := append([]string{}, protectedBuckets...)
	if ex := cfg.Policy.Defaults.Exclusions; ex != nil {
		for _, b := range ex.Buckets {
			if iamPattern.MatchString(b) {
				out = append(out, b)
			}
		}
	}
	return out
}

// QuarantineRolePolicy is the quarantine role's identity policy: the move's actions on the data
// buckets of its own account (dataBuckets, or all but the protected ones), on its quarantine
// buckets in regions, on the quarantine keys (by alias: QuarantineKeyPolicy) and dataKeys.
func QuarantineRolePolicy(cfg *Config, s Site, regions, dataBuckets, dataKeys []string) Document {
	ownAccount := map[string]any{"StringEquals": map[string]string{"s3:ResourceAccount": s.Account}}
	var data []string
	if len(dataBuckets) > 0 {
		for _, b := range dataBuckets {
			data = append(data, s.BucketArn(b))
		}
	} else {
		data = []string{s.BucketArn("*")}
	}
	var qBuckets, qObjects, qKeys, dObjects []string
	for _, r := range regions {
		// Every generation's bucket (organization mode): a copy quarantined into the bucket an
		// earlier stack of the account retained must still be releasable. A member
		// administrator can create a bucket of that pattern in the account, and the role could
		// then write there; but the remediator writes only to the bucket of the generation the
		// StackSet's instance reports (DescribeStackInstance, which no member can change) and
		// releases only from the bucket its ledger recorded, so such a bucket receives nothing
		// (IAM decision rows: "StackSet quarantine role ... retained generation").
		b := s.BucketArn(QuarantineBucketFor(cfg, s.In(r).AllGenerations()).Name)
		qBuckets = append(qBuckets, b)
		qObjects = append(qObjects, b+"/*")
		qKeys = append(qKeys, fmt.Sprintf("arn:%s:kms:%s:%s:key/*", s.Partition, r, s.Account))
	}
	for _, b := range data {
		dObjects = append(dObjects, b+"/*")
	}
	st := []Statement{
		{Sid: "DataBuckets", Effect: "Allow", Action: dataBucketActions, Resource: data, Condition: ownAccount},
		{Sid: "DataObjects", Effect: "Allow", Action: dataObjectActions, Resource: dObjects, Condition: ownAccount},
	}
	if len(dataBuckets) == 0 {
		var prot []string
		for _, p := range protectedPatterns(cfg) {
			prot = append(prot, s.BucketArn(p), s.BucketArn(p)+"/*")
		}
		st = append(st, Statement{Sid: "NeverLogOrSecurityBuckets", Effect: "Deny", Action: append(append([]string{}, dataBucketActions...), dataObjectActions...), Resource: prot})
	}
	st = append(st,
		// Own account only: bucket names are global, and in organization mode the names are a
		// pattern (<base>-????????) anyone can create a bucket of, in any account, with a policy
		// that lets this role in. Every quarantine bucket of a site is in its own account.
		Statement{Sid: "QuarantineBuckets", Effect: "Allow", Action: quarantineBucketActions, Resource: qBuckets, Condition: ownAccount},
		Statement{Sid: "QuarantineObjects", Effect: "Allow", Action: quarantineObjectActions, Resource: qObjects, Condition: ownAccount},
		Statement{Sid: "Keys", Effect: "Allow", Action: kmsActions, Resource: qKeys, Condition: quarantineKeysByAlias(cfg, s)},
	)
	if len(dataKeys) > 0 {
		st = append(st, Statement{Sid: "DataKeys", Effect: "Allow", Action: kmsActions, Resource: append([]string{}, dataKeys...)})
	}
	return doc(st...)
}

// quarantineKeysByAlias is the condition that grants the quarantine keys by their alias: the
// one alias of an explicit member, or the alias of every generation in organization mode (so a
// retained generation's key still decrypts its bucket's copies on Release), and the alias
// without a generation: a stack from before generations named its key so, and the update that
// added the generation replaced the alias and bucket and retained the old ones
// (UpdateReplacePolicy Retain), with the copies quarantined before it. (That old bucket needs
// no grant of its own: organization mode grants every bucket of the account but the protected
// ones, DataBuckets; its key does, and without it their Release fails to decrypt.)
func quarantineKeysByAlias(cfg *Config, s Site) map[string]any {
	if s.Generation == "" {
		return map[string]any{"ForAnyValue:StringEquals": map[string]any{"kms:ResourceAliases": []string{QuarantineKeyAlias(cfg.Slug)}}}
	}
	return map[string]any{"ForAnyValue:StringLike": map[string]any{"kms:ResourceAliases": []string{QuarantineKeyAliasAt(cfg, s.AllGenerations()), QuarantineKeyAlias(cfg.Slug)}}}
}

// newForwarder sends the default bus's Macie findings in one account and region to the
// central bus.
func newForwarder(ctx *pulumi.Context, rn string, centralBus pulumi.StringInput, opts ...pulumi.ResourceOption) error {
	fwdRole, err := iam.NewRole(ctx, rn+"-forwarder-role", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(mustJSON(ForwarderTrust())),
	}, opts...)
	if err != nil {
		return err
	}
	if _, err := iam.NewRolePolicy(ctx, rn+"-forwarder-policy", &iam.RolePolicyArgs{Role: fwdRole.ID(),
		Policy: JSON(func(v []string) Document { return ForwarderPolicy(v[0]) }, centralBus)}, opts...); err != nil {
		return err
	}
	rule, err := cloudwatch.NewEventRule(ctx, rn+"-forwarder", &cloudwatch.EventRuleArgs{EventPattern: pulumi.String(MaciePattern),
		Description: pulumi.String(ForwarderDescription)}, opts...)
	if err != nil {
		return err
	}
	_, err = cloudwatch.NewEventTarget(ctx, rn+"-forwarder-target", &cloudwatch.EventTargetArgs{Rule: rule.Name, Arn: centralBus, RoleArn: fwdRole.Arn}, opts...)
	return err
}

// Forwarder is one account and region whose default bus forwards Macie findings to the central
// bus.
type Forwarder struct{ Account, Region string }

// Forwarders is the topology (README "Deploy", Topology). A finding must reach the central queue
// exactly once:
//   - delegated-admin: Macie publishes every finding of the organization (sensitive-data
//     findings of the administrator's jobs, and policy findings) to the administrator's
//     default bus, in the region Macie runs in. Members' own buses also carry policy
//     findings, so forwarding from members would duplicate them: only the security account
//     forwards, from its other regions; its home region is read by the central rule itself.
//   - standalone: each member's findings exist only in that member: every member region
//     forwards, except the security account's home region (the central rule reads it).
func Forwarders(cfg *Config) []Forwarder {
	var out []Forwarder
	switch cfg.MacieMode {
	case MacieStandalone:
		for _, m := range cfg.Members {
			for _, r := range m.Regions {
				if !(m.AccountID == cfg.SecurityAccountID && r == cfg.Region) {
					out = append(out, Forwarder{m.AccountID, r})
				}
			}
		}
	default:
		var regions []string
		for _, m := range cfg.Members {
			regions = append(regions, m.Regions...)
		}
		if cfg.Organization != nil {
			regions = append(regions, cfg.Organization.Regions...)
		}
		for _, r := range sortedUnique(regions) {
			if r != cfg.Region {
				out = append(out, Forwarder{cfg.SecurityAccountID, r})
			}
		}
	}
	return out
}

func needsForwarder(cfg *Config, account, region string) bool {
	for _, f := range Forwarders(cfg) {
		if f.Account == account && f.Region == region {
			return true
		}
	}
	return false
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Run is the whole program: with macie-chatops:deployRoles set, the bootstrap stack that gives
// each member a deploy role (run once, from the management account); otherwise the central
// stack and every member.
func Run(ctx *pulumi.Context) error {
	if boot, err := LoadBootstrapConfig(ctx); err != nil || boot != nil {
		if err != nil {
			return err
		}
		return NewDeployRoles(ctx, boot)
	}
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return err
	}
	// Members in account order, whatever order the config lists them in (see regions above).
	slices.SortFunc(cfg.Members, func(a, b Member) int { return strings.Compare(a.AccountID, b.AccountID) })
	runHook(cfg)
	for _, w := range append(Warnings(cfg), BucketSettingsWarnings(cfg)...) {
		if err := ctx.Log.Warn(w, nil); err != nil {
			return err
		}
	}
	// The central stack goes through an explicit provider pinned to the security account:
	// credentials of any other account fail at preview instead of deploying there.
	central, err := aws.NewProvider(ctx, "central", ProviderArgs(cfg.SecurityAccountID, cfg.CentralDeployRoleArn(), cfg.Region))
	if err != nil {
		return err
	}
	c, err := NewCentral(ctx, cfg, pulumi.Providers(central))
	if err != nil {
		return err
	}
	roles := pulumi.StringMap{}
	bucketSettingsRoles := pulumi.StringMap{}
	for _, m := range cfg.Members {
		ma, err := NewMemberAccount(ctx, cfg, m, c.RemediatorRole.Arn, c.Bus.Arn)
		if err != nil {
			return err
		}
		roles[m.AccountID] = ma.Role.Arn
		if ma.BucketSettingsRole != nil {
			bucketSettingsRoles[m.AccountID] = ma.BucketSettingsRole.Arn
		}
	}
	// Organization mode: every account of the OUs through one StackSet, declared in the
	// security account (as StackSets delegated administrator, or SELF).
	if cfg.Organization != nil {
		om, err := NewOrganizationMembers(ctx, cfg, c.RemediatorRole.Arn, c.Bus.Arn, pulumi.Providers(central))
		if err != nil {
			return err
		}
		ctx.Export("organizationStackSet", om.StackSet.Name)
	}
	// Forwarders of the security account in regions where it is not (or not as a member) a
	// member region: delegated-admin mode in a region other than the central one.
	if err := newSecurityForwarders(ctx, cfg, c.Bus.Arn); err != nil {
		return err
	}
	ctx.Export("slackInteractivityUrl", c.InteractURL)
	ctx.Export("slackAppSetup", pulumi.Sprintf("In your Slack app (functions/slack-app-manifest.yaml): Interactivity & Shortcuts → Request URL → %s", c.InteractURL))
	ctx.Export("ledgerTable", c.Table.Name)
	ctx.Export("findingsBusArn", c.Bus.Arn)
	ctx.Export("quarantineRoles", roles)
	if len(bucketSettingsRoles) > 0 {
		ctx.Export("bucketSettingsRoles", bucketSettingsRoles)
	}
	ctx.Export("policyHash", pulumi.String(cfg.Policy.Hash))
	return nil
}

// runHook lets tests see the loaded config.
var runHook = func(*Config) {}

// newSecurityForwarders declares the forwarders the topology puts in the security account in
// regions it is not a member in (a member's own regions get theirs in NewMemberAccount).
func newSecurityForwarders(ctx *pulumi.Context, cfg *Config, centralBus pulumi.StringInput) error {
	memberRegion := map[string]bool{}
	for _, m := range cfg.Members {
		for _, r := range m.Regions {
			memberRegion[m.AccountID+"/"+r] = true
		}
	}
	for _, f := range Forwarders(cfg) {
		if memberRegion[f.Account+"/"+f.Region] {
			continue
		}
		name := fmt.Sprintf("security-%s-%s", f.Account, f.Region)
		p, err := aws.NewProvider(ctx, name, ProviderArgs(f.Account, cfg.CentralDeployRoleArn(), f.Region))
		if err != nil {
			return err
		}
		if err := newForwarder(ctx, name, centralBus, pulumi.Provider(p)); err != nil {
			return err
		}
	}
	return nil
}
