package stack

import (
	"fmt"
	"strings"

	"github.com/macie-chatops/macie-chatops/shared/naming"
)

// The member side's documents and settings, written once. The explicit-member components
// (member.go) call them with a Site of literal values; the organization's CloudFormation
// template (membertemplate.go) calls them with TemplateSite, whose values are CloudFormation
// pseudo parameters that the template wraps in Fn::Sub. So both modes grant exactly what these
// functions say (TestOrganizationTemplateGrantsWhatExplicitModeGrants).

// Site is where a member document is evaluated: an account and region with its partition, and
// the identity that deploys it (named by the quarantine bucket policy so that refresh, update
// and destroy keep working).
type Site struct {
	Partition, Account, Region string
	Deployer                   string
	// Generation is empty for an explicit member, whose quarantine bucket and key alias are the
	// policy's names. In the organization's template it is ${Generation} (the stack instance's
	// own generation, naming.Generation), or AnyGeneration for the documents that must reach
	// the quarantine buckets and keys of every generation of the account.
	Generation string
}

// ExplicitSite is an explicit member's account and region.
func ExplicitSite(account, region, deployer string) Site {
	return Site{Partition: "aws", Account: account, Region: region, Deployer: deployer}
}

// TemplateSite is every account and region the StackSet deploys to. It names no deployer:
// CloudFormation deploys a service-managed StackSet's stacks with a stacksets-exec-<hash> role
// whose hash the template cannot know, and exempting the pattern stacksets-exec-* would exempt
// any role a member administrator names so (it could then delete every quarantined version).
// Nothing needs the exemption: CloudFormation changes the bucket's settings and policy, never
// its objects, and a member stack's deletion retains the bucket instead of emptying it.
var TemplateSite = Site{Partition: "${AWS::Partition}", Account: "${AWS::AccountId}", Region: "${AWS::Region}", Generation: "${" + VarGeneration + "}"}

// AnyGeneration is the Generation of a site whose documents name the quarantine bucket and key
// alias of every generation: "?" matches one character in IAM's resource ARNs and in StringLike,
// so the pattern is exactly a generation's length (naming.GenerationLen) and no wider.
var AnyGeneration = strings.Repeat("?", naming.GenerationLen)

// AllGenerations is a site's documents for every generation of its quarantine bucket and key
// (the organization's; an explicit member has one, the policy's names).
func (s Site) AllGenerations() Site {
	if s.Generation != "" {
		s.Generation = AnyGeneration
	}
	return s
}

// In is the same site in another region (for account-wide documents that list every region).
func (s Site) In(region string) Site { s.Region = region; return s }

// RoleArn is the ARN of a role of the site's account.
func (s Site) RoleArn(name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", s.Partition, s.Account, name)
}

// Root is the site's account as a principal.
func (s Site) Root() string { return fmt.Sprintf("arn:%s:iam::%s:root", s.Partition, s.Account) }

// BucketArn is an S3 bucket's ARN in the site's partition.
func (s Site) BucketArn(bucket string) string {
	return fmt.Sprintf("arn:%s:s3:::%s", s.Partition, bucket)
}

// QuarantineKeyAlias names every quarantine key of a stack, in every member region: the
// quarantine role's identity policy grants its keys by this alias, because a key's ARN is not
// known where the role is declared (in organization mode, another region's stack creates it).
func QuarantineKeyAlias(slug string) string {
	return "alias/" + AWSName(250, "macie-chatops", slug, "quarantine")
}

// QuarantineKeyAliasAt is the quarantine key alias of a site: QuarantineKeyAlias, with "-" and
// the site's generation in organization mode (a returning account's new stack must not meet the
// alias its earlier stack retained). KMS allows 256 characters; Slug keeps a stack name far
// below what would push QuarantineKeyAlias past 256-9 (TestOrganizationNamesFit...).
func QuarantineKeyAliasAt(cfg *Config, s Site) string {
	if s.Generation == "" {
		return QuarantineKeyAlias(cfg.Slug)
	}
	return QuarantineKeyAlias(cfg.Slug) + "-" + s.Generation
}

// QuarantineBucket is the quarantine bucket of a site: its name and the settings that protect it.
type QuarantineBucket struct {
	Name          string
	RetentionDays int
	// AbortMultipartDays cleans up a copy that died mid-upload.
	AbortMultipartDays int
}

// QuarantineBucketFor is the quarantine bucket the policy gives a site: the policy's name, with
// the site's generation in organization mode (naming.OrgQuarantineBucket).
func QuarantineBucketFor(cfg *Config, s Site) QuarantineBucket {
	q := cfg.Policy.QuarantineFor(s.Account, s.Region)
	name := q.Bucket
	if s.Generation != "" {
		name = naming.OrgQuarantineBucket(name, s.Generation)
	}
	return QuarantineBucket{Name: name, RetentionDays: q.RetentionDays, AbortMultipartDays: 7}
}

// QuarantineRoleDescription is the quarantine role's description.
func QuarantineRoleDescription(slug string) string {
	return "macie-chatops " + slug + ": moves objects found by Macie to the quarantine bucket"
}

// QuarantineTrust: only the central remediator may assume the quarantine role, with the
// ExternalId and from inside the organization.
func QuarantineTrust(cfg *Config, remediatorRole string) Document {
	eq := map[string]string{"sts:ExternalId": cfg.ExternalID}
	if cfg.OrganizationID != "" {
		eq["aws:PrincipalOrgID"] = cfg.OrganizationID
	}
	return doc(Statement{Sid: "CentralRemediatorOnly", Effect: "Allow", Principal: map[string]any{"AWS": remediatorRole}, Action: "sts:AssumeRole",
		Condition: map[string]any{"StringEquals": eq}})
}

// QuarantineKeyPolicy: the account administers the key; the quarantine role uses it; break-glass
// decrypts. The role is named by aws:PrincipalArn under the account principal, not as a
// principal: a key policy naming a role that does not exist yet is refused, and in
// organization mode the role is created by another region's stack, in no fixed order. With the
// account as principal, the role's own identity policy must allow the use too (it does, by the
// key's alias).
func QuarantineKeyPolicy(cfg *Config, s Site) Document {
	st := []Statement{
		accountAdministersKeyIn(s),
		{Sid: "QuarantineRoleUses", Effect: "Allow", Principal: map[string]string{"AWS": s.Root()}, Action: kmsActions, Resource: "*",
			Condition: map[string]any{"ArnEquals": map[string]string{"aws:PrincipalArn": s.RoleArn(QuarantineRoleName(cfg.Slug))}}},
	}
	if cfg.BreakGlassRoleArn != "" {
		st = append(st, Statement{Sid: "BreakGlassDecrypts", Effect: "Allow", Principal: map[string]string{"AWS": cfg.BreakGlassRoleArn}, Action: breakGlassKeyActions, Resource: "*"})
	}
	return doc(st...)
}

// QuarantineBucketPolicyAt is QuarantineBucketPolicy for a site's quarantine bucket.
func QuarantineBucketPolicyAt(cfg *Config, s Site) Document {
	arn := s.BucketArn(QuarantineBucketFor(cfg, s).Name)
	return WithBucketSettingsRolesDenied(QuarantineBucketPolicy(arn, s.RoleArn(QuarantineRoleName(cfg.Slug)), cfg.BreakGlassRoleArn, s.Deployer), arn)
}

// ForwarderTrust lets EventBridge assume the forwarder role.
func ForwarderTrust() Document {
	return doc(Statement{Effect: "Allow", Principal: map[string]string{"Service": "events.amazonaws.com"}, Action: "sts:AssumeRole"})
}

// ForwarderPolicy lets the forwarder put events on the central bus, and nothing else.
func ForwarderPolicy(centralBus string) Document {
	return doc(Statement{Sid: "PutToCentralBus", Effect: "Allow", Action: "events:PutEvents", Resource: centralBus})
}

// ForwarderDescription is the forwarder rule's description.
const ForwarderDescription = "Amazon Macie findings to the macie-chatops central bus"

func accountAdministersKeyIn(s Site) Statement {
	st := accountAdministersKey(s.Account)
	st.Principal = map[string]string{"AWS": s.Root()}
	return st
}
