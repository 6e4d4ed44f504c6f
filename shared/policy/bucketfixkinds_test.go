package policy

import (
	"slices"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/finding"
)

const (
	bpa = KindBlockPublicAccess
	enc = KindDefaultEncryption
	rep = KindExternalReplication
)

// kindsPolicies are the policies of the kinds tests: defaults, account overrides, exact types
// against patterns, each action.
var kindsPolicies = []struct {
	name, doc string
	want      map[string][]string // account → kinds; "444455556666" is never listed
}{
	{"no policy entries", "version: 1\ndefaults:\n  actions:\n    SensitiveData:*: AUTO\n",
		map[string][]string{"444455556666": nil}},
	{"Policy:* NOTIFY", "version: 1\ndefaults:\n  actions:\n    Policy:*: NOTIFY\n",
		map[string][]string{"444455556666": nil}},
	{"catch-all REVIEW", "version: 1\ndefaults:\n  actions:\n    \"*\": REVIEW\n",
		map[string][]string{"444455556666": {bpa, enc, rep}}},
	{"Policy:* AUTO (replication capped to REVIEW, still enabled)", "version: 1\ndefaults:\n  actions:\n    Policy:*: AUTO\n",
		map[string][]string{"444455556666": {bpa, enc, rep}}},
	{"only the types without a remediation", "version: 1\ndefaults:\n  actions:\n    Policy:*: NOTIFY\n    Policy:IAMUser/S3BucketSharedExternally: REVIEW\n    Policy:IAMUser/S3BucketSharedWithCloudFront: REVIEW\n",
		map[string][]string{"444455556666": nil}},
	{"one of the two block-public-access types", "version: 1\ndefaults:\n  actions:\n    Policy:*: NOTIFY\n    Policy:IAMUser/S3BucketPublic: REVIEW\n",
		map[string][]string{"444455556666": {bpa}}},
	{"defaults BPA and encryption, one account adds replication, one turns all off, one keeps BPA only",
		"version: 1\ndefaults:\n  actions:\n    Policy:*: NOTIFY\n    Policy:IAMUser/S3BlockPublicAccessDisabled: AUTO\n    Policy:IAMUser/S3BucketEncryptionDisabled: REVIEW\n" +
			"accounts:\n  \"111122223333\":\n    actions:\n      Policy:IAMUser/S3BucketReplicatedExternally: REVIEW\n" +
			"  \"222233334444\":\n    actions:\n      Policy:IAMUser/S3BlockPublicAccessDisabled: IGNORE\n      Policy:IAMUser/S3BucketEncryptionDisabled: NOTIFY\n" +
			"  \"333344445555\":\n    name: bpa-only\n    actions:\n      Policy:IAMUser/S3BucketEncryptionDisabled: NOTIFY\n",
		map[string][]string{"111122223333": {bpa, enc, rep}, "222233334444": nil, "333344445555": {bpa}, "444455556666": {bpa, enc}}},
	{"an account pattern loses to the defaults' exact type", "version: 1\ndefaults:\n  actions:\n    Policy:IAMUser/S3BucketEncryptionDisabled: AUTO\n" +
		"accounts:\n  \"111122223333\":\n    actions:\n      Policy:*: NOTIFY\n",
		map[string][]string{"111122223333": {enc}, "444455556666": {enc}}},
	{"an account's pattern enables what the defaults leave out", "version: 1\ndefaults:\n  actions:\n    SensitiveData:*: REVIEW\n" +
		"accounts:\n  \"111122223333\":\n    actions:\n      Policy:IAMUser/*: REVIEW\n",
		map[string][]string{"111122223333": {bpa, enc, rep}, "444455556666": nil}},
}

// BucketFixKindsFor names, sorted, the kinds an account's effective actions enable; an unlisted
// account gets the defaults'.
func TestBucketFixKindsFor(t *testing.T) {
	for _, c := range kindsPolicies {
		p, err := Parse([]byte(c.doc), "x.yaml")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		enabled := false
		for acct, want := range c.want {
			got := p.BucketFixKindsFor(acct)
			if !slices.Equal(got, want) {
				t.Errorf("%s: account %s: kinds %q, want %q", c.name, acct, got, want)
			}
			enabled = enabled || len(want) > 0
		}
		if p.EnablesBucketFixes() != enabled {
			t.Errorf("%s: EnablesBucketFixes() = %v, want %v (some account's kinds)", c.name, !enabled, enabled)
		}
	}
	for _, file := range []string{"dev.yaml", "example-org.yaml"} {
		p := mustLoad(t, file)
		for _, acct := range append(p.AccountIDs(), "000000000000") {
			if got := p.BucketFixKindsFor(acct); !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("%s %s: kinds %q not sorted and unique", file, acct, got)
			}
		}
	}
}

// An account's kinds are exactly the kinds of the remediable types Decide gives AUTO or REVIEW
// in that account: the role the infra deploys from BucketFixKindsFor can run every remediation
// Decide asks for, and nothing else.
func TestBucketFixKindsAgreeWithDecide(t *testing.T) {
	var docs []struct{ name, doc string }
	for _, c := range kindsPolicies {
		docs = append(docs, struct{ name, doc string }{c.name, c.doc})
	}
	for _, c := range docs {
		p, err := Parse([]byte(c.doc), "x.yaml")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		checkKindsAgainstDecide(t, c.name, p)
	}
	for _, file := range []string{"dev.yaml", "example-org.yaml"} {
		checkKindsAgainstDecide(t, file, mustLoad(t, file))
	}
}

func checkKindsAgainstDecide(t *testing.T, name string, p *Policy) {
	t.Helper()
	for _, acct := range append(p.AccountIDs(), "444455556666", "000000000000") {
		var decided []string
		for _, pt := range PolicyTypes {
			f := &finding.Finding{ID: "x", AccountID: acct, Region: "us-east-1", Type: pt.Type,
				Severity: finding.Severity{Score: 3}, Bucket: &finding.Bucket{Name: "data-bucket-x"}}
			d := p.Decide(f)
			if (d.Action == Auto || d.Action == Review) && pt.Kind != "" && !slices.Contains(decided, pt.Kind) {
				decided = append(decided, pt.Kind)
			}
		}
		slices.Sort(decided)
		if got := p.BucketFixKindsFor(acct); !slices.Equal(got, decided) {
			t.Errorf("%s: account %s: BucketFixKindsFor %q, but Decide remediates %q", name, acct, got, decided)
		}
	}
}

// Every remediable type has a kind and only those; the kinds are the three constants.
func TestPolicyTypesKinds(t *testing.T) {
	for _, pt := range PolicyTypes {
		switch {
		case pt.Remediable && !slices.Contains([]string{bpa, enc, rep}, pt.Kind):
			t.Errorf("%s is remediable but has kind %q", pt.Type, pt.Kind)
		case !pt.Remediable && pt.Kind != "":
			t.Errorf("%s has no remediation but kind %q", pt.Type, pt.Kind)
		}
	}
}
