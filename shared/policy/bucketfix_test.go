package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/finding"
)

// policyFixture loads a policy-finding fixture: the real one in testdata/macie or a constructed
// one in testdata/macie-policy.
func policyFixture(t testing.TB, typ string) *finding.Finding {
	t.Helper()
	name := filepath.Join("../testdata/macie-policy", "constructed-policy-"+typ+".json")
	if typ == "S3BucketEncryptionDisabled" {
		name = "../testdata/macie/event-eventbridge-policy-encryption-disabled-COMPLETED.json"
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := finding.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPolicyFixturesDecideAsConfigured: each policy-finding fixture gets the action the shipped
// policies configure, with a reason naming the entry.
func TestPolicyFixturesDecideAsConfigured(t *testing.T) {
	want := map[string]map[string]Action{
		"example-org.yaml": {
			"S3BlockPublicAccessDisabled":  Auto,
			"S3BucketPublic":               Auto,
			"S3BucketEncryptionDisabled":   Auto, // Low, but minSeverity MEDIUM does not apply to policy findings
			"S3BucketReplicatedExternally": Review,
			"S3BucketSharedExternally":     Review,
			"S3BucketSharedWithCloudFront": Notify,
		},
		"dev.yaml": {
			"S3BlockPublicAccessDisabled":  Review,
			"S3BucketPublic":               Ignore,
			"S3BucketEncryptionDisabled":   Ignore,
			"S3BucketReplicatedExternally": Ignore,
			"S3BucketSharedExternally":     Ignore,
			"S3BucketSharedWithCloudFront": Ignore,
		},
	}
	for file, types := range want {
		p := mustLoad(t, file)
		if len(types) != len(PolicyTypes) {
			t.Fatalf("table covers %d types, PolicyTypes has %d", len(types), len(PolicyTypes))
		}
		for typ, action := range types {
			t.Run(file+"/"+typ, func(t *testing.T) {
				d := p.Decide(policyFixture(t, typ))
				if d.Action != action {
					t.Fatalf("got %s (%s), want %s", d.Action, d.Reason, action)
				}
				wantReason := "Policy:IAMUser/" + typ + ": " + string(action)
				if action == Ignore {
					wantReason = "no action configured"
				}
				if !strings.Contains(d.Reason, wantReason) {
					t.Fatalf("reason %q lacks %q", d.Reason, wantReason)
				}
			})
		}
	}
}

func TestPolicyActionsValidated(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string // empty: accepted
	}{
		{"replication AUTO", "version: 1\ndefaults:\n  actions:\n    Policy:IAMUser/S3BucketReplicatedExternally: AUTO\n",
			[]string{"x.yaml:4", "S3BucketReplicatedExternally may not be AUTO", "use REVIEW"}},
		{"shared AUTO in an account", "version: 1\ndefaults: {}\naccounts:\n  \"111122223333\":\n    actions:\n      Policy:IAMUser/S3BucketSharedExternally: AUTO\n",
			[]string{"x.yaml:6", "S3BucketSharedExternally may not be AUTO", "no remediation", "NOTIFY or REVIEW"}},
		{"cloudfront AUTO", "version: 1\ndefaults:\n  actions:\n    Policy:IAMUser/S3BucketSharedWithCloudFront: AUTO\n",
			[]string{"x.yaml:4", "S3BucketSharedWithCloudFront may not be AUTO"}},
		{"allowed", "version: 1\ndefaults:\n  actions:\n    Policy:IAMUser/S3BucketReplicatedExternally: REVIEW\n    Policy:IAMUser/S3BucketSharedExternally: REVIEW\n" +
			"    Policy:IAMUser/S3BucketSharedWithCloudFront: NOTIFY\n    Policy:IAMUser/S3BucketPublic: AUTO\n    Policy:IAMUser/S3BlockPublicAccessDisabled: AUTO\n" +
			"    Policy:IAMUser/S3BucketEncryptionDisabled: AUTO\n", nil},
		{"bad algorithm", "version: 1\ndefaults:\n  bucketFixes:\n    encryption:\n      algorithm: aws:kms:dsse\n",
			[]string{"x.yaml:5", `"aws:kms:dsse" is not an algorithm`, "AES256", "aws:kms"}},
		{"kms without key", "version: 1\ndefaults:\n  bucketFixes:\n    encryption:\n      algorithm: aws:kms\n",
			[]string{"x.yaml:5", "aws:kms needs kmsKeyId"}},
		{"account kms without key anywhere", "version: 1\ndefaults: {}\naccounts:\n  \"111122223333\":\n    bucketFixes:\n      encryption:\n        algorithm: aws:kms\n",
			[]string{"x.yaml:7", "accounts.111122223333.bucketFixes.encryption", "aws:kms needs kmsKeyId"}},
		{"account kms with the defaults' key", "version: 1\ndefaults:\n  bucketFixes:\n    encryption:\n      kmsKeyId: alias/s3\n      algorithm: aws:kms\n" +
			"accounts:\n  \"111122223333\":\n    bucketFixes:\n      encryption:\n        bucketKey: false\n", nil},
		{"key with AES256", "version: 1\ndefaults:\n  bucketFixes:\n    encryption:\n      algorithm: AES256\n      kmsKeyId: alias/s3\n",
			[]string{"x.yaml:6", "only used with algorithm aws:kms"}},
		{"key without algorithm", "version: 1\ndefaults:\n  bucketFixes:\n    encryption:\n      kmsKeyId: alias/s3\n",
			[]string{"x.yaml:5", "only used with algorithm aws:kms"}},
		{"bare key id", "version: 1\ndefaults:\n  bucketFixes:\n    encryption:\n      algorithm: aws:kms\n      kmsKeyId: 1234abcd-12ab-34cd-56ef-1234567890ab\n",
			[]string{"x.yaml:6", "not a KMS key ARN, alias ARN or alias/name"}},
		{"key ARN", "version: 1\ndefaults:\n  bucketFixes:\n    encryption:\n      algorithm: aws:kms\n      kmsKeyId: arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\n", nil},
		{"bucketKey not bool", "version: 1\ndefaults:\n  bucketFixes:\n    encryption:\n      bucketKey: maybe\n", []string{"x.yaml:5", "wrong type"}},
		{"flapping zero", "version: 1\ndefaults:\n  bucketFixes:\n    flapping:\n      count: 0\n      windowSeconds: -5\n",
			[]string{"x.yaml:5", "count must be at least 1", "x.yaml:6", "window must be at least 1 second"}},
		{"unknown key", "version: 1\ndefaults:\n  bucketFixes:\n    flaping: {}\n", []string{"x.yaml:4", `unknown key "flaping"`, "encryption, flapping"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "x.yaml")
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestPolicyWildcardKeepsWorking: "Policy:*: AUTO" is accepted with a warning naming the types it
// cannot make AUTO, and Decide gives those REVIEW, saying why.
func TestPolicyWildcardKeepsWorking(t *testing.T) {
	p, err := Parse([]byte("version: 1\ndefaults:\n  actions:\n    Policy:*: AUTO\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Line != 4 ||
		!strings.Contains(p.Warnings[0].Message, "S3BucketReplicatedExternally, S3BucketSharedExternally, S3BucketSharedWithCloudFront") {
		t.Fatalf("warnings %+v", p.Warnings)
	}
	want := map[string]Action{
		"S3BlockPublicAccessDisabled": Auto, "S3BucketPublic": Auto, "S3BucketEncryptionDisabled": Auto,
		"S3BucketReplicatedExternally": Review, "S3BucketSharedExternally": Review, "S3BucketSharedWithCloudFront": Review,
	}
	for typ, action := range want {
		d := p.Decide(policyFixture(t, typ))
		if d.Action != action || !strings.Contains(d.Reason, "defaults sets Policy:*: AUTO (matches Policy:IAMUser/"+typ+")") {
			t.Errorf("%s: %s %q", typ, d.Action, d.Reason)
		}
		if action == Review && !strings.Contains(d.Reason, "REVIEW instead: "+typ+" may not be AUTO") {
			t.Errorf("%s: reason does not say why: %q", typ, d.Reason)
		}
	}
	// NOTIFY and REVIEW patterns reach every type unchanged, without a warning.
	p, err = Parse([]byte("version: 1\ndefaults:\n  actions:\n    Policy:*: REVIEW\n"), "x.yaml")
	if err != nil || len(p.Warnings) != 0 {
		t.Fatalf("%v %v", err, p.Warnings)
	}
	d := p.Decide(policyFixture(t, "S3BucketSharedExternally"))
	if d.Action != Review || !strings.Contains(d.Reason, "no bucket change") {
		t.Fatalf("%s %q", d.Action, d.Reason)
	}
}

// TestUnknownPolicyTypeIsNotify: a Policy:* type this version does not know is NOTIFY with a
// reason, whatever the file says (short of IGNORE), and never an error.
func TestUnknownPolicyTypeIsNotify(t *testing.T) {
	future := policyFixture(t, "S3BucketPublic")
	future.Type = "Policy:IAMUser/S3BucketSomethingNew"
	cases := []struct {
		name, actions string
		action        Action
		reason        []string
	}{
		{"no entry", "    SensitiveData:*: REVIEW\n", Notify, []string{"does not know", "no entry in x.yaml matches it"}},
		{"pattern AUTO", "    Policy:*: AUTO\n", Notify, []string{"defaults sets Policy:*: AUTO (matches Policy:IAMUser/S3BucketSomethingNew); NOTIFY instead", "does not know"}},
		{"catch-all REVIEW", "    \"*\": REVIEW\n", Notify, []string{"NOTIFY instead"}},
		{"exact REVIEW", "    Policy:IAMUser/S3BucketSomethingNew: REVIEW\n", Notify, []string{"NOTIFY instead", "no remediation"}},
		{"pattern NOTIFY", "    Policy:*: NOTIFY\n", Notify, []string{"defaults sets Policy:*: NOTIFY"}},
		{"IGNORE on purpose", "    Policy:IAMUser/*: IGNORE\n", Ignore, []string{"defaults sets Policy:IAMUser/*: IGNORE"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse([]byte("version: 1\ndefaults:\n  actions:\n"+c.actions), "x.yaml")
			if err != nil {
				t.Fatal(err)
			}
			d := p.Decide(future)
			if d.Action != c.action {
				t.Fatalf("got %s %q", d.Action, d.Reason)
			}
			for _, r := range c.reason {
				if !strings.Contains(d.Reason, r) {
					t.Errorf("reason %q lacks %q", d.Reason, r)
				}
			}
		})
	}
	// Sample, archived and excluded still come first.
	p, _ := Parse([]byte("version: 1\ndefaults:\n  exclusions:\n    buckets: [amzn-s3-demo-*]\n"), "x.yaml")
	if d := p.Decide(future); d.Action != Ignore || !strings.Contains(d.Reason, "exclusions.buckets") {
		t.Fatalf("excluded future type: %s %q", d.Action, d.Reason)
	}
}

// TestPolicyFindingExclusionsByBucket: bucket globs and bucket tags exclude policy findings (they
// have no key, so key prefixes never match them).
func TestPolicyFindingExclusionsByBucket(t *testing.T) {
	p := mustLoad(t, "example-org.yaml")
	f := policyFixture(t, "S3BucketPublic")
	if d := p.Decide(f); d.Action != Auto {
		t.Fatalf("not excluded: %s %q", d.Action, d.Reason)
	}
	f.Bucket.Name = "web-access-logs"
	if d := p.Decide(f); d.Action != Ignore || !strings.Contains(d.Reason, `bucket web-access-logs is excluded by "*-access-logs"`) {
		t.Fatalf("glob: %s %q", d.Action, d.Reason)
	}
	f = policyFixture(t, "S3BucketPublic")
	f.Bucket.Tags = append(f.Bucket.Tags, finding.Tag{Key: "macie-chatops", Value: "ignore"})
	if d := p.Decide(f); d.Action != Ignore || !strings.Contains(d.Reason, "bucket tag macie-chatops=ignore") {
		t.Fatalf("tag: %s %q", d.Action, d.Reason)
	}
	// data-lake excludes key prefixes: a policy finding (no key) is not excluded by them.
	f = policyFixture(t, "S3BucketPublic")
	f.AccountID = "444455556666"
	if d := p.Decide(f); d.Action != Auto {
		t.Fatalf("key prefix excluded a policy finding: %s %q", d.Action, d.Reason)
	}
}

func TestBucketFixFor(t *testing.T) {
	p := mustLoad(t, "example-org.yaml")
	if got := p.BucketFixFor("999999999999"); got != (BucketFix{
		Encryption: BucketEncryption{Algorithm: AlgorithmAES256, BucketKey: true},
		Flapping:   FlappingSettings{Count: 3, Window: 24 * time.Hour},
	}) {
		t.Errorf("defaults: %+v", got)
	}
	if got := p.BucketFixFor("111122223333"); got.Encryption != (BucketEncryption{Algorithm: AlgorithmKMS, KMSKeyID: "alias/payments-s3", BucketKey: true}) ||
		got.Flapping.Count != 3 {
		t.Errorf("payments: %+v", got)
	}
	doc := `version: 1
defaults:
  bucketFixes:
    encryption: {algorithm: aws:kms, kmsKeyId: alias/org-s3}
    flapping: {count: 5}
accounts:
  "111122223333":
    bucketFixes:
      encryption: {algorithm: AES256}
      flapping: {windowSeconds: 600}
  "444455556666":
    bucketFixes:
      encryption: {bucketKey: false}
`
	p, err := Parse([]byte(doc), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]BucketFix{
		"999999999999": {BucketEncryption{AlgorithmKMS, "alias/org-s3", true}, FlappingSettings{5, 24 * time.Hour}},
		"111122223333": {BucketEncryption{AlgorithmAES256, "", true}, FlappingSettings{5, 10 * time.Minute}},
		"444455556666": {BucketEncryption{AlgorithmKMS, "alias/org-s3", false}, FlappingSettings{5, 24 * time.Hour}},
	}
	for acct, want := range cases {
		if got := p.BucketFixFor(acct); got != want {
			t.Errorf("%s: got %+v, want %+v", acct, got, want)
		}
	}
	// Nothing set at all: the documented defaults.
	p, _ = Parse([]byte("version: 1\ndefaults: {}\n"), "x.yaml")
	if got := p.BucketFixFor("999999999999"); got.Encryption.Algorithm != AlgorithmAES256 || !got.Encryption.BucketKey ||
		got.Flapping.Count != DefaultFlappingCount || got.Flapping.Window != DefaultFlappingWindow {
		t.Errorf("empty: %+v", got)
	}
}

func TestEnablesBucketFixes(t *testing.T) {
	cases := []struct {
		name, doc string
		want      bool
	}{
		{"no policy entries", "version: 1\ndefaults:\n  actions:\n    SensitiveData:*: AUTO\n", false},
		{"policy NOTIFY", "version: 1\ndefaults:\n  actions:\n    Policy:*: NOTIFY\n", false},
		{"catch-all IGNORE", "version: 1\ndefaults:\n  actions:\n    \"*\": IGNORE\n", false},
		{"only no-remediation types REVIEW", "version: 1\ndefaults:\n  actions:\n    Policy:IAMUser/S3BucketSharedExternally: REVIEW\n    Policy:IAMUser/S3BucketSharedWithCloudFront: REVIEW\n", false},
		{"REVIEW one remediable type", "version: 1\ndefaults:\n  actions:\n    Policy:IAMUser/S3BucketReplicatedExternally: REVIEW\n", true},
		{"pattern AUTO", "version: 1\ndefaults:\n  actions:\n    Policy:*: AUTO\n", true},
		{"catch-all REVIEW", "version: 1\ndefaults:\n  actions:\n    \"*\": REVIEW\n", true},
		{"one account only", "version: 1\ndefaults:\n  actions:\n    Policy:*: NOTIFY\naccounts:\n  \"111122223333\":\n    actions:\n      Policy:IAMUser/S3BucketPublic: AUTO\n", true},
		{"account turns it off again", "version: 1\ndefaults: {}\naccounts:\n  \"111122223333\":\n    actions:\n      Policy:IAMUser/S3BucketPublic: IGNORE\n", false},
	}
	for _, c := range cases {
		p, err := Parse([]byte(c.doc), "x.yaml")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := p.EnablesBucketFixes(); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
	for file, want := range map[string]bool{"dev.yaml": true, "example-org.yaml": true} {
		if got := mustLoad(t, file).EnablesBucketFixes(); got != want {
			t.Errorf("%s: got %v", file, got)
		}
	}
}

// TestPolicyTypesAreKnownTypes: the remediation table and KnownTypes name the same Policy:* types.
func TestPolicyTypesAreKnownTypes(t *testing.T) {
	var known []string
	for _, k := range KnownTypes {
		if strings.HasPrefix(k, "Policy:") {
			known = append(known, k)
		}
	}
	if len(known) != len(PolicyTypes) {
		t.Fatalf("KnownTypes has %d policy types, PolicyTypes %d", len(known), len(PolicyTypes))
	}
	for _, k := range known {
		if _, ok := PolicyTypeFor(k); !ok {
			t.Errorf("%s has no row in PolicyTypes", k)
		}
	}
}
