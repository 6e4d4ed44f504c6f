package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/finding"
)

const policiesDir = "../../policies"

func mustLoad(t testing.TB, name string) *Policy {
	t.Helper()
	p, err := LoadFile(filepath.Join(policiesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShippedPoliciesLoadWithoutWarnings(t *testing.T) {
	for _, name := range []string{"dev.yaml", "example-org.yaml"} {
		p := mustLoad(t, name)
		if len(p.Warnings) > 0 {
			t.Errorf("%s: unexpected warnings %v", name, p.Warnings)
		}
		if p.Hash == "" {
			t.Errorf("%s: no hash", name)
		}
	}
}

func TestLoadErrorsNameLineAndChoices(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string // substrings, each must appear
	}{
		{"unknown key", "version: 1\ndefaults:\n  minSeverty: LOW\n", []string{"x.yaml:3", `unknown key "minSeverty"`, "minSeverity"}},
		{"bad action", "version: 1\ndefaults:\n  actions:\n    SensitiveData:*: QUARANTINE\n", []string{"x.yaml:4", `"QUARANTINE" is not an action`, "AUTO, REVIEW, NOTIFY, IGNORE"}},
		{"bad severity", "version: 1\ndefaults:\n  minSeverity: CRITICAL\n", []string{"x.yaml:3", "LOW, MEDIUM, HIGH"}},
		{"duplicate account", "version: 1\ndefaults: {}\naccounts:\n  \"111122223333\": {}\n  \"111122223333\": {}\n", []string{"x.yaml:5", "already defined"}},
		{"malformed account", "version: 1\ndefaults: {}\naccounts:\n  \"11112222333\":\n    name: short\n", []string{"x.yaml:4", "not 12 digits"}},
		{"bad delete mode", "version: 1\ndefaults:\n  quarantine:\n    deleteMode: purge\n", []string{"x.yaml:4", "version, all-versions"}},
		{"bad version", "version: 2\ndefaults: {}\n", []string{"x.yaml:1", "only supported version is 1"}},
		{"bad showKeys", "version: 1\ndefaults:\n  slack:\n    showKeys: partial\n", []string{"x.yaml:4", "showKeys", "full (the default), masked or none"}},
		{"wrong type", "version: 1\ndefaults:\n  quarantine:\n    retentionDays: ninety\n", []string{"x.yaml:4", "wrong type"}},
		{"bad template", "version: 1\ndefaults:\n  quarantine:\n    bucket: q-{acct}\n", []string{"x.yaml:4", "unknown placeholder {acct}"}},
		{"bad approver", "version: 1\ndefaults:\n  approvers:\n    users: [alice]\n", []string{"x.yaml:4", "not a Slack user id"}},
		{"mid-star", "version: 1\ndefaults:\n  actions:\n    Sensitive*Data: AUTO\n", []string{"x.yaml:4", "trailing *"}},
		{"not yaml", "version: 1\ndefaults: [\n", []string{"x.yaml:"}},
		{"empty", "", []string{"empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "x.yaml")
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

func TestEveryProblemIsReported(t *testing.T) {
	doc := "version: 1\ndefaults:\n  minSeverity: NOPE\n  actions:\n    SensitiveData:*: MAYBE\naccounts:\n  \"12\": {}\n"
	_, err := Parse([]byte(doc), "x.yaml")
	if got := len(Problems(err, "x.yaml")); got != 3 {
		t.Fatalf("want 3 problems, got %d: %v", got, err)
	}
}

func TestUnknownTypeIsAWarning(t *testing.T) {
	p, err := Parse([]byte("version: 1\ndefaults:\n  actions:\n    SensitiveData:S3Object/Biometric: AUTO\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Line != 4 || !p.Warnings[0].Warning {
		t.Fatalf("warnings %+v", p.Warnings)
	}
}

func loadFinding(t testing.TB, name string) *finding.Finding {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../testdata/macie", name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := finding.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDevPolicyGivesTheSeedDecisions(t *testing.T) {
	p := mustLoad(t, "dev.yaml")
	want := map[string]Action{
		"event-eventbridge-csv.json":                                  Review,
		"event-eventbridge-cdi.json":                                  Review,
		"event-forwarded-central-bus-path-with-spaces.json":           Review,
		"event-eventbridge-policy-encryption-disabled-COMPLETED.json": Ignore,
		"finding-getfindings-avro.json":                               Review,
		"finding-getfindings-cdi.json":                                Review,
		"finding-getfindings-csv.json":                                Review,
		"finding-getfindings-json.json":                               Review,
		"finding-getfindings-parquet.json":                            Review,
		"finding-getfindings-path-with-spaces.json":                   Review,
	}
	for name, action := range want {
		d := p.Decide(loadFinding(t, name))
		if d.Action != action {
			t.Errorf("%s: %s (%s), want %s", name, d.Action, d.Reason, action)
		}
		if d.Reason == "" || d.PolicyHash != p.Hash {
			t.Errorf("%s: reason/hash missing: %+v", name, d)
		}
	}
	f := loadFinding(t, "event-eventbridge-csv.json")
	for typ, action := range map[string]Action{
		"SensitiveData:S3Object/Credentials": Auto, "SensitiveData:S3Object/Financial": Auto,
		"SensitiveData:S3Object/Personal": Review,
	} {
		f.Type = typ
		if d := p.Decide(f); d.Action != action {
			t.Errorf("%s: got %s", typ, d.Action)
		}
	}
}

func TestDecideOverridesAndReasons(t *testing.T) {
	p := mustLoad(t, "example-org.yaml")
	base := loadFinding(t, "event-eventbridge-csv.json")
	mk := func(acct, typ string, sev int, mut func(*finding.Finding)) *finding.Finding {
		f := *base
		b, o := *base.Bucket, *base.Object
		f.Bucket, f.Object = &b, &o
		f.AccountID, f.Type, f.Severity = acct, typ, finding.Severity{Score: sev}
		if mut != nil {
			mut(&f)
		}
		return &f
	}
	cases := []struct {
		name   string
		f      *finding.Finding
		action Action
		reason string
	}{
		{"payments personal", mk("111122223333", "SensitiveData:S3Object/Personal", 3, nil), Auto,
			"account 111122223333 (payments) overrides SensitiveData:S3Object/Personal: AUTO"},
		{"default pattern", mk("999999999999", "SensitiveData:S3Object/Personal", 3, nil), Review,
			"defaults sets SensitiveData:*: REVIEW (matches SensitiveData:S3Object/Personal)"},
		{"exact beats pattern", mk("444455556666", "SensitiveData:S3Object/Credentials", 3, nil), Auto, "defaults sets SensitiveData:S3Object/Credentials"},
		{"account pattern", mk("444455556666", "SensitiveData:S3Object/Personal", 3, nil), Notify, "account 444455556666 (data-lake) overrides SensitiveData:*"},
		{"below min", mk("999999999999", "SensitiveData:S3Object/Personal", 1, nil), Ignore, "below the minimum MEDIUM (defaults minSeverity)"},
		{"override min", mk("111122223333", "SensitiveData:S3Object/Multiple", 1, nil), Review, ""},
		{"sample", mk("999999999999", "SensitiveData:S3Object/Personal", 3, func(f *finding.Finding) { f.Sample = true }), Ignore, "sample"},
		{"archived", mk("999999999999", "SensitiveData:S3Object/Personal", 3, func(f *finding.Finding) { f.Archived = true }), Ignore, "archived"},
		{"bucket glob", mk("999999999999", "SensitiveData:S3Object/Personal", 3, func(f *finding.Finding) { f.Bucket.Name = "web-access-logs" }), Ignore, `"*-access-logs"`},
		{"key prefix", mk("444455556666", "SensitiveData:S3Object/Personal", 3, func(f *finding.Finding) { f.Object.Key = "tmp/x.csv" }), Ignore, "account 444455556666 (data-lake) exclusions.keyPrefixes"},
		{"bucket tag", mk("999999999999", "SensitiveData:S3Object/Personal", 3, func(f *finding.Finding) {
			f.Bucket.Tags = []finding.Tag{{Key: "macie-chatops", Value: "ignore"}}
		}), Ignore, "bucket tag macie-chatops=ignore"},
		{"policy type", mk("999999999999", "Policy:IAMUser/S3BucketPublic", 3, nil), Auto, "defaults sets Policy:IAMUser/S3BucketPublic: AUTO"},
		// Sensitive data in the stack's quarantine bucket (any generation in organization mode)
		// is a quarantined copy; a look-alike name is not; a policy finding there goes on.
		{"quarantine bucket", mk("999999999999", "SensitiveData:S3Object/Credentials", 3, inBucket("macie-quarantine-999999999999-us-east-1")), Ignore,
			"bucket macie-quarantine-999999999999-us-east-1 is this stack's quarantine bucket"},
		{"quarantine bucket generation", mk("999999999999", "SensitiveData:S3Object/Credentials", 3, inBucket("macie-quarantine-999999999999-us-east-1-9f8e7d6c")), Ignore,
			"is this stack's quarantine bucket"},
		{"quarantine look-alike", mk("999999999999", "SensitiveData:S3Object/Credentials", 3, inBucket("macie-quarantine-999999999999-us-east-1-exports")), Auto, "defaults sets SensitiveData:S3Object/Credentials"},
		{"another account's quarantine bucket", mk("999999999999", "SensitiveData:S3Object/Credentials", 3, inBucket("macie-quarantine-111122223333-us-east-1")), Auto, "defaults sets"},
		{"policy finding on the quarantine bucket", mk("999999999999", "Policy:IAMUser/S3BucketPublic", 3, inBucket("macie-quarantine-999999999999-us-east-1")), Auto, "defaults sets Policy:IAMUser/S3BucketPublic: AUTO"},
		{"future policy type", mk("999999999999", "Policy:IAMUser/S3BucketFuture", 3, nil), Notify, "defaults sets Policy:*: NOTIFY (matches Policy:IAMUser/S3BucketFuture)"},
	}
	for _, c := range cases {
		d := p.Decide(c.f)
		if d.Action != c.action || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: got %s %q, want %s containing %q", c.name, d.Action, d.Reason, c.action, c.reason)
		}
	}
	d := p.Decide(mk("111122223333", "SensitiveData:S3Object/Personal", 3, nil))
	if d.Channel != "#payments-security" || d.Quarantine.RetentionDays != 2555 || d.Quarantine.DeleteMode != "all-versions" ||
		!d.Quarantine.Tombstone || d.Quarantine.Bucket != "macie-quarantine-111122223333-us-east-1" ||
		!reflect.DeepEqual(d.Approvers.Users, []string{"U0PAYMENTSLEAD"}) || d.Account.Name != "payments" {
		t.Errorf("payments settings: %+v", d)
	}
	d = p.Decide(mk("444455556666", "SensitiveData:S3Object/Personal", 3, nil))
	if d.Channel != "#security-findings" || d.Quarantine.RetentionDays != 365 || len(d.Approvers.Groups) != 1 {
		t.Errorf("data-lake inherits defaults: %+v", d)
	}
}

// TestSchemaAgreesWithGoTypes walks the Go types and the JSON Schema together: every yaml key
// must be a schema property and vice versa, and every enum must list the Go constants.
func TestSchemaAgreesWithGoTypes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(policiesDir, "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	defs := schema["$defs"].(map[string]any)
	resolve := func(node map[string]any) map[string]any {
		for {
			ref, ok := node["$ref"].(string)
			if !ok {
				return node
			}
			node = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
	}
	var walk func(path string, typ reflect.Type, node map[string]any)
	walk = func(path string, typ reflect.Type, node map[string]any) {
		node = resolve(node)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		props, _ := node["properties"].(map[string]any)
		if node["additionalProperties"] != false {
			t.Errorf("%s: schema must set additionalProperties: false (the loader is strict)", path)
		}
		goKeys := map[string]reflect.Type{}
		var collect func(reflect.Type)
		collect = func(tt reflect.Type) {
			for i := 0; i < tt.NumField(); i++ {
				f := tt.Field(i)
				tag := f.Tag.Get("yaml")
				if tag == ",inline" {
					collect(f.Type)
					continue
				}
				goKeys[strings.Split(tag, ",")[0]] = f.Type
			}
		}
		collect(typ)
		for k := range goKeys {
			if _, ok := props[k]; !ok {
				t.Errorf("%s.%s is in the Go types but not in schema.json", path, k)
			}
		}
		for k := range props {
			if _, ok := goKeys[k]; !ok {
				t.Errorf("%s.%s is in schema.json but not in the Go types", path, k)
			}
		}
		for k, ft := range goKeys {
			if child, ok := props[k].(map[string]any); ok {
				if ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct {
					walk(path+"."+k+".*", ft.Elem(), resolve(child)["additionalProperties"].(map[string]any))
					continue
				}
				walk(path+"."+k, ft, child)
			}
		}
	}
	walk("", reflect.TypeOf(File{}), schema)

	enum := func(def string) []string {
		var out []string
		for _, v := range defs[def].(map[string]any)["enum"].([]any) {
			out = append(out, v.(string))
		}
		sort.Strings(out)
		return out
	}
	var acts []string
	for _, a := range Actions {
		acts = append(acts, string(a))
	}
	sort.Strings(acts)
	sev := append([]string{}, Severities...)
	sort.Strings(sev)
	if !reflect.DeepEqual(enum("action"), acts) || !reflect.DeepEqual(enum("minSeverity"), sev) {
		t.Errorf("enums differ: %v %v", enum("action"), enum("minSeverity"))
	}
	dm := defs["quarantine"].(map[string]any)["properties"].(map[string]any)["deleteMode"].(map[string]any)["enum"].([]any)
	if len(dm) != len(DeleteModes) {
		t.Errorf("deleteMode enum %v vs %v", dm, DeleteModes)
	}
}

// inBucket puts a finding's object in bucket.
func inBucket(bucket string) func(*finding.Finding) {
	return func(f *finding.Finding) { f.Bucket.Name = bucket }
}
