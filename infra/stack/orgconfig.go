package stack

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/macie-chatops/macie-chatops/shared/naming"
)

// Organization is the `macie-chatops:organization` setting: every account of these OUs (or
// roots) gets the member side through one service-managed StackSet, in these regions, including
// accounts created later (autoDeploy).
type Organization struct {
	OrganizationalUnits []string `json:"organizationalUnits"`
	Regions             []string `json:"regions"`
	// AutoDeploy (default true) makes StackSets deploy to an account that joins a target OU,
	// and remove the instance from an account that leaves it.
	AutoDeploy *bool `json:"autoDeploy"`
	// CallAs is DELEGATED_ADMIN (default: the stack runs in the security account, registered
	// as the StackSets delegated administrator) or SELF (the stack runs in the management
	// account).
	CallAs string `json:"callAs"`
}

// AutoDeployEnabled is AutoDeploy with its default.
func (o *Organization) AutoDeployEnabled() bool { return o.AutoDeploy == nil || *o.AutoDeploy }

// HomeRegion is where each account's stack instance creates the account-wide resources (the
// quarantine role; IAM names are global, so only one region's instance may create it): the
// stack's own region, which the configuration must list among the organization's regions.
func (o *Organization) HomeRegion(stackRegion string) string { return stackRegion }

var (
	ouID     = regexp.MustCompile(`^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
	rootID   = regexp.MustCompile(`^r-[a-z0-9]{4,32}$`)
	regionID = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$`)
)

// Call-as values of the StackSet API.
const (
	CallAsDelegatedAdmin = "DELEGATED_ADMIN"
	CallAsSelf           = "SELF"
)

// organizationProblems validates the organization setting and fills its defaults; it sorts OUs
// and regions, so the StackSet's instances are declared in the same order on every preview.
func organizationProblems(cfg *Config) []string {
	o := cfg.Organization
	if o == nil {
		return nil
	}
	key := Namespace + ":organization"
	var probs []string
	if cfg.OrganizationID == "" {
		probs = append(probs, fmt.Sprintf("%s is set but %s:organizationId is not: the quarantine roles trust the remediator only from inside the organization: pulumi config set %s:organizationId o-…", key, Namespace, Namespace))
	}
	if len(o.OrganizationalUnits) == 0 {
		probs = append(probs, fmt.Sprintf("%s.organizationalUnits is empty: list the OUs (ou-xxxx-xxxxxxxx) or the root (r-xxxx) whose accounts get the member side: pulumi config set --path '%s.organizationalUnits[0]' ou-…", key, key))
	}
	seen := map[string]bool{}
	for i, ou := range o.OrganizationalUnits {
		if !ouID.MatchString(ou) && !rootID.MatchString(ou) {
			probs = append(probs, fmt.Sprintf("%s.organizationalUnits[%d] %q is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx): copy it from `aws organizations list-organizational-units-for-parent` or `aws organizations list-roots`", key, i, ou))
		}
		if seen[ou] {
			probs = append(probs, fmt.Sprintf("%s.organizationalUnits[%d]: %s is listed twice: remove one", key, i, ou))
		}
		seen[ou] = true
	}
	if len(o.Regions) == 0 {
		probs = append(probs, fmt.Sprintf("%s.regions is empty: list the regions Macie runs in, e.g. pulumi config set --path '%s.regions[0]' %s", key, key, cfg.Region))
	}
	seen = map[string]bool{}
	for i, r := range o.Regions {
		if !regionID.MatchString(r) {
			probs = append(probs, fmt.Sprintf("%s.regions[%d] %q is not an AWS region name (e.g. us-east-1)", key, i, r))
		}
		if seen[r] {
			probs = append(probs, fmt.Sprintf("%s.regions[%d]: %s is listed twice: remove one", key, i, r))
		}
		seen[r] = true
	}
	// The home region must not depend on which other regions are listed: if it were the first of
	// them, adding a region that sorts first would delete every account's quarantine role in one
	// region before creating it in another, and an account where the new region fails would be
	// left without one while its old instances still look healthy.
	if len(o.Regions) > 0 && cfg.Region != "" && !seen[cfg.Region] {
		probs = append(probs, fmt.Sprintf("%s.regions does not list the stack's own region %s, where each account's quarantine role is created: add it, e.g. pulumi config set --path '%s.regions[%d]' %s", key, cfg.Region, key, len(o.Regions), cfg.Region))
	}
	switch o.CallAs {
	case "":
		o.CallAs = CallAsDelegatedAdmin
	case CallAsDelegatedAdmin, CallAsSelf:
	default:
		probs = append(probs, fmt.Sprintf("%s.callAs %q: choose %s (the stack runs in the security account, registered as StackSets delegated administrator) or %s (the stack runs in the management account)", key, o.CallAs, CallAsDelegatedAdmin, CallAsSelf))
	}
	sort.Strings(o.OrganizationalUnits)
	o.Regions = sortedUnique(o.Regions)
	return probs
}

// organizationPolicyProblems refuses, in organization mode, what one template for every account
// cannot express. The StackSet deploys the same member resources to every account of the OUs;
// the accounts are not known at preview, so a policy override that changes member resources
// (quarantine bucket name, retention, key, or the bucket-fix kinds its actions enable, which
// decide the bucket-settings role's permissions) for an account that is not an explicit member
// would silently not apply. Decided: refused, naming the account and the fix (make it an explicit
// member, outside the OUs), rather than per-account ParameterOverrides, which would need a
// per-account StackSetInstance and break when the account moves between OUs. Settings the
// remediator reads at run time (deleteMode, tombstone) are not member resources and stay
// allowed.
func organizationPolicyProblems(cfg *Config) []string {
	if cfg.Organization == nil {
		return nil
	}
	explicit := map[string]bool{}
	for _, m := range cfg.Members {
		explicit[m.AccountID] = true
	}
	var probs []string
	ids := make([]string, 0, len(cfg.Policy.Accounts))
	for id := range cfg.Policy.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	orgKinds := orgBucketFixKinds(cfg)
	for _, id := range ids {
		if explicit[id] {
			continue
		}
		// The StackSet's bucket-settings role holds the defaults' kinds in every account: an
		// override that enables another kind would fail with access denied, one that enables
		// fewer would leave the account a role with permissions its policy never uses.
		if kinds := cfg.Policy.BucketFixKindsFor(id); !slices.Equal(kinds, orgKinds) {
			probs = append(probs, fmt.Sprintf("%s: accounts.%s.actions enables the bucket-fix kinds %s where the defaults enable %s; organization mode deploys one bucket-settings role, with the defaults' kinds, to every account of the OUs, so it cannot give this account others: use an explicit member for this account (add it to %s:members, and keep it outside %s:organization's OUs), or give its Policy:* types the defaults' actions (AUTO or REVIEW where the defaults remediate, NOTIFY or IGNORE where they do not)", cfg.PolicyFile, id, kindList(kinds), kindList(orgKinds), Namespace, Namespace))
		}
		q := cfg.Policy.Accounts[id].Quarantine
		if q == nil {
			continue
		}
		if q.Bucket != "" || q.RetentionDays != nil || q.KMSKeyID != "" {
			probs = append(probs, fmt.Sprintf("%s: accounts.%s.quarantine sets bucket, retentionDays or kmsKeyId, which change that account's member resources; organization mode deploys one template to every account of the OUs, so it cannot apply them: use an explicit member for this account (add it to %s:members, and keep it outside %s:organization's OUs), or move the setting to defaults.quarantine", cfg.PolicyFile, id, Namespace, Namespace))
		}
	}
	// The template's bucket names: every org region with the longest account id must fit S3's
	// limit and name the stack (bucketNameProblems does the same for explicit members).
	for _, r := range cfg.Organization.Regions {
		b := cfg.Policy.QuarantineFor("000000000000", r).Bucket
		// An organization account's bucket carries "-" and its stack's generation
		// (naming.OrgQuarantineBucket), which must fit too.
		if len(b) > naming.MaxOrgQuarantineBase {
			probs = append(probs, fmt.Sprintf("%s: quarantine bucket %q (organization, region %s) is %d characters; in organization mode it gets \"-\" and its stack's %d-character generation, and S3 allows 63, so at most %d: shorten defaults.quarantine.bucket", cfg.PolicyFile, b, r, len(b), naming.GenerationLen, naming.MaxOrgQuarantineBase))
		}
		if cfg.Policy.QuarantineFor("000000000000", r).Bucket == cfg.Policy.QuarantineFor("111111111111", r).Bucket {
			probs = append(probs, fmt.Sprintf("%s: quarantine bucket %q does not contain {account}: every account of the organization would need the same bucket name: add {account} to defaults.quarantine.bucket", cfg.PolicyFile, b))
			break
		}
		if !strings.Contains("-"+strings.ReplaceAll(b, ".", "-")+"-", "-"+cfg.Slug+"-") {
			probs = append(probs, fmt.Sprintf("%s: quarantine bucket %q (organization, region %s) does not name the stack %q: set defaults.quarantine.bucket to e.g. \"macie-chatops-%s-quarantine-{account}-{region}\"", cfg.PolicyFile, b, r, cfg.Slug, cfg.Slug))
			break
		}
	}
	if rs := cfg.Organization.Regions; len(rs) > 1 && cfg.Policy.QuarantineFor("000000000000", rs[0]).Bucket == cfg.Policy.QuarantineFor("000000000000", rs[1]).Bucket {
		probs = append(probs, fmt.Sprintf("%s: quarantine bucket %q does not contain {region}, and %s:organization.regions lists %d regions, whose buckets would share one name: add {region} to defaults.quarantine.bucket", cfg.PolicyFile, cfg.Policy.QuarantineFor("000000000000", rs[0]).Bucket, Namespace, len(rs)))
	}
	// The template's quarantine role may use its own quarantine keys only (by alias): a key the
	// defaults name for the copies would be refused at the first quarantine in every account.
	if q := cfg.Policy.Defaults.Quarantine; q != nil && q.KMSKeyID != "" {
		probs = append(probs, fmt.Sprintf("%s: defaults.quarantine.kmsKeyId is %q, but organization mode's quarantine role may use only the quarantine key its StackSet creates in each account (which already encrypts every copy, as the bucket's default): remove defaults.quarantine.kmsKeyId, or quarantine with that key only in explicit members (members[].kmsKeyArns grants it)", cfg.PolicyFile, q.KMSKeyID))
	}
	return probs
}

// kindList names bucket-fix kinds for a message: "[block-public-access default-encryption]", or
// "none".
func kindList(kinds []string) string {
	if len(kinds) == 0 {
		return "none"
	}
	return "[" + strings.Join(kinds, " ") + "]"
}
