package stack

import (
	"fmt"
	"slices"
	"strings"

	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The bucket-settings role (issue 15): what the remediator assumes in a member account to fix a
// bucket's settings after a Macie policy finding (block public access, default encryption,
// external replication) and to undo that fix. It is a role of its own, not more permissions on
// the quarantine role, so the quarantine role (which may read and delete objects) never may
// change a bucket's settings. It is deployed per member and holds per member only what that
// account's effective policy enables (policy.BucketFixKindsFor): an account whose policy
// remediates no policy finding gets no role, and one that only blocks public access gets no
// replication permission (with it, a compromised remediator could point a bucket's replication
// outside the organization through an existing role that trusts S3).

// BucketSettingsRoleName is the bucket-settings role in each member account. It carries the
// stack's name, like QuarantineRoleName: two stacks in one account each have their own.
func BucketSettingsRoleName(slug string) string {
	return AWSName(64, "macie-chatops", slug, "bucket-settings")
}

// What each remediation kind of shared/bucketfix calls, as IAM names it. Each Delete API is
// authorised by its Put action (S3 API reference: DeletePublicAccessBlock needs
// s3:PutBucketPublicAccessBlock, DeleteBucketEncryption s3:PutEncryptionConfiguration,
// DeleteBucketReplication s3:PutReplicationConfiguration), so undo to "no configuration" needs
// nothing more. PutBucketEncryption with SSE-KMS needs no KMS permission: S3 does not check the
// key when the default is set (it is used when objects are written). External replication also
// needs iam:PassRole (PassReplicationRoleToS3).
var bucketSettingsKinds = []struct {
	kind    string
	actions []string
}{
	{policy.KindBlockPublicAccess, []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"}},
	{policy.KindDefaultEncryption, []string{"s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration"}},
	{policy.KindExternalReplication, []string{"s3:GetReplicationConfiguration", "s3:PutReplicationConfiguration"}},
}

// bucketSettingsActions are the actions of every kind: what a quarantine bucket denies every
// stack's bucket-settings role.
var bucketSettingsActions = bucketSettingsActionsOf(policy.KindBlockPublicAccess, policy.KindDefaultEncryption, policy.KindExternalReplication)

// bucketSettingsActionsOf are the actions of the given kinds, in the order of
// bucketSettingsKinds.
func bucketSettingsActionsOf(kinds ...string) []string {
	var out []string
	for _, k := range bucketSettingsKinds {
		if slices.Contains(kinds, k.kind) {
			out = append(out, k.actions...)
		}
	}
	return out
}

// bucketFixKinds are the kinds member m's bucket-settings role is deployed for: those the
// stack's policy enables for m's account (its override over the defaults; an account the policy
// does not list gets the defaults'). None: no role in m.
func bucketFixKinds(cfg *Config, m Member) []string {
	if cfg.Policy == nil {
		return nil
	}
	return cfg.Policy.BucketFixKindsFor(m.AccountID)
}

// BucketSettingsTrust is the role's trust policy: the same shape as the quarantine role's, the
// central remediator role only, with the stack's ExternalId and, when the organization is
// known, from inside it.
func BucketSettingsTrust(remediatorRole, externalID, organizationID string) Document {
	eq := map[string]string{"sts:ExternalId": externalID}
	if organizationID != "" {
		eq["aws:PrincipalOrgID"] = organizationID
	}
	return doc(Statement{Sid: "CentralRemediatorOnly", Effect: "Allow", Principal: map[string]any{"AWS": remediatorRole}, Action: "sts:AssumeRole",
		Condition: map[string]any{"StringEquals": eq}})
}

// BucketSettingsRolePolicy is the role's identity policy in member m, for the remediation kinds
// the policy enables there (bucketFixKinds, not empty): those kinds' actions on the buckets of
// m's own account (its dataBuckets when it names them, else every bucket but the log and
// security ones, as for the quarantine role), never on the stack's quarantine buckets
// (quarantineBuckets: their names), and, for external replication only, iam:PassRole for the
// replication role a replication configuration names (PutBucketReplication checks it on every
// put, also when a fix only disables rules or an undo restores the configuration as it was):
// roles of m's own account, passed to S3 only.
func BucketSettingsRolePolicy(cfg *Config, m Member, kinds, quarantineBuckets []string) Document {
	actions := bucketSettingsActionsOf(kinds...)
	buckets := []string{"arn:aws:s3:::*"}
	if len(m.DataBuckets) > 0 {
		buckets = nil
		for _, b := range m.DataBuckets {
			buckets = append(buckets, "arn:aws:s3:::"+b)
		}
	}
	var quarantine []string
	for _, b := range quarantineBuckets {
		quarantine = append(quarantine, "arn:aws:s3:::"+b)
	}
	st := []Statement{{Sid: "BucketSettings", Effect: "Allow", Action: actions, Resource: buckets,
		Condition: map[string]any{"StringEquals": map[string]string{"s3:ResourceAccount": m.AccountID}}}}
	if slices.Contains(kinds, policy.KindExternalReplication) {
		st = append(st, Statement{Sid: "PassReplicationRoleToS3", Effect: "Allow", Action: "iam:PassRole", Resource: fmt.Sprintf("arn:aws:iam::%s:role/*", m.AccountID),
			Condition: map[string]any{"StringEquals": map[string]string{"iam:PassedToService": "s3.amazonaws.com"}}})
	}
	// The quarantine bucket's settings are the stack's (Pulumi's), never a remediation's: a
	// replication rule on it would copy quarantined objects out.
	st = append(st, Statement{Sid: "NeverQuarantineBuckets", Effect: "Deny", Action: actions, Resource: quarantine})
	if len(m.DataBuckets) == 0 {
		var prot []string
		for _, p := range protectedPatterns(cfg) {
			prot = append(prot, "arn:aws:s3:::"+p)
		}
		st = append(st, Statement{Sid: "NeverLogOrSecurityBuckets", Effect: "Deny", Action: actions, Resource: prot})
	}
	return doc(st...)
}

// AnyBucketSettingsRole matches the bucket-settings role of every stack in every account
// (BucketSettingsRoleName keeps its prefix and its "-bucket-settings" end, also when it hashes a
// long stack name).
const AnyBucketSettingsRole = "arn:aws:iam::*:role/macie-chatops-*-bucket-settings"

// WithBucketSettingsRolesDenied adds to a quarantine bucket's policy a deny of every
// bucket-settings action to every stack's bucket-settings role. A role's own policy denies it
// its own stack's quarantine buckets by name, but not another stack's in the same account (dev
// and prod), whose names it cannot know: without this, dev's role could change the default
// encryption of prod's quarantine bucket or give it a replication rule.
func WithBucketSettingsRolesDenied(d Document, bucketArn string) Document {
	d.Statement = append(d.Statement, Statement{Sid: "DenyBucketSettingsRoles", Effect: "Deny", Principal: "*", Action: bucketSettingsActions, Resource: bucketArn,
		Condition: map[string]any{"ArnLike": map[string]any{"aws:PrincipalArn": AnyBucketSettingsRole}}})
	return d
}

// bucketSettingsRoleArns are the ARNs of the deployed bucket-settings roles, in member order:
// the members whose account the policy enables a kind for. The remediator may assume these and
// no other, so a role of that name someone else creates in another member account is not its.
func bucketSettingsRoleArns(cfg *Config) []string {
	var out []string
	for _, m := range cfg.Members {
		if len(bucketFixKinds(cfg, m)) > 0 {
			out = append(out, fmt.Sprintf("arn:aws:iam::%s:role/%s", m.AccountID, BucketSettingsRoleName(cfg.Slug)))
		}
	}
	return out
}

// bucketSettingsRoleEnv is BUCKET_SETTINGS_ROLE_NAME for the remediator: the role's name when
// some member has it, or "" when none does (the remediator then answers a bucket remediation
// with "not enabled in this stack's policy"). A member without the role gets no bucket
// remediation from Decide (the kinds are what Decide remediates there, a shared/policy test
// checks it).
func bucketSettingsRoleEnv(cfg *Config) string {
	if len(bucketSettingsRoleArns(cfg)) == 0 {
		return ""
	}
	return BucketSettingsRoleName(cfg.Slug)
}

// newBucketSettingsRole declares member m's bucket-settings role through provider p (the
// member's first region: IAM is global), with the permissions of the kinds the policy enables
// in m's account, or nothing when it enables none there.
func newBucketSettingsRole(ctx *pulumi.Context, cfg *Config, m Member, remediatorRole pulumi.StringInput, quarantineBuckets []string, p *aws.Provider, parent pulumi.Resource) (*iam.Role, error) {
	kinds := bucketFixKinds(cfg, m)
	if len(kinds) == 0 {
		return nil, nil
	}
	name := "member-" + m.AccountID
	opts := []pulumi.ResourceOption{pulumi.Parent(parent), pulumi.Provider(p)}
	role, err := iam.NewRole(ctx, name+"-bucket-settings-role", &iam.RoleArgs{
		Name: pulumi.String(BucketSettingsRoleName(cfg.Slug)), MaxSessionDuration: pulumi.Int(3600),
		AssumeRolePolicy: JSON(func(v []string) Document { return BucketSettingsTrust(v[0], cfg.ExternalID, cfg.OrganizationID) }, remediatorRole),
		Description:      pulumi.String("macie-chatops " + cfg.Slug + ": fixes and restores bucket settings named by Macie policy findings"),
	}, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-bucket-settings-policy", &iam.RolePolicyArgs{Role: role.ID(),
		Policy: pulumi.String(mustJSON(BucketSettingsRolePolicy(cfg, m, kinds, quarantineBuckets)))}, opts...); err != nil {
		return nil, err
	}
	return role, nil
}

// BucketSettingsWarnings are what preview says about the bucket-settings role's reach, for each
// member that has it: a member without dataBuckets lets it change its kinds' settings of every
// bucket of the account but the protected ones; a member with dataBuckets keeps policy findings
// about its other buckets from being remediated (the remediation fails with access denied).
func BucketSettingsWarnings(cfg *Config) []string {
	var out []string
	for _, m := range cfg.Members {
		kinds := bucketFixKinds(cfg, m)
		if len(kinds) == 0 {
			continue
		}
		if len(m.DataBuckets) == 0 {
			out = append(out, fmt.Sprintf("member %s has no dataBuckets: its bucket-settings role may change %s of every bucket of account %s except the quarantine buckets and log and security buckets (%s); set macie-chatops:members[].dataBuckets to narrow it", m.AccountID, settingsWords(kinds), m.AccountID, strings.Join(protectedPatterns(cfg), ", ")))
		} else {
			out = append(out, fmt.Sprintf("member %s names dataBuckets: policy findings about its other buckets cannot be remediated (its bucket-settings role may change only %s); add those buckets to macie-chatops:members[].dataBuckets, or set the policy's Policy:* actions to NOTIFY for account %s", m.AccountID, strings.Join(m.DataBuckets, ", "), m.AccountID))
		}
	}
	return out
}

// settingsWords names the settings of the kinds: "block public access, default encryption and
// replication".
func settingsWords(kinds []string) string {
	words := map[string]string{policy.KindBlockPublicAccess: "block public access", policy.KindDefaultEncryption: "default encryption", policy.KindExternalReplication: "replication"}
	var w []string
	for _, k := range bucketSettingsKinds {
		if slices.Contains(kinds, k.kind) {
			w = append(w, words[k.kind])
		}
	}
	if len(w) < 2 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}
