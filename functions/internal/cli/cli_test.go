package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	repo     = "../../.."
	fixtures = repo + "/shared/testdata/macie"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestValidate(t *testing.T) {
	code, out, _ := run(t, "", "policy", "validate", repo+"/policies/dev.yaml", repo+"/policies/example-org.yaml")
	if code != ExitOK || strings.Count(out, ": ok (") != 2 {
		t.Fatalf("code %d\n%s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ndefaults:\n  minSeverity: HUGE\n  actions: {\"SensitiveData:*\": NUKE}\n"), 0o644)
	code, out, _ = run(t, "", "policy", "validate", repo+"/policies/dev.yaml", bad, "/nonexistent.yaml")
	if code != ExitProblem || !strings.Contains(out, "bad.yaml:3") || !strings.Contains(out, "bad.yaml:4") ||
		!strings.Contains(out, "nonexistent.yaml") || !strings.Contains(out, "dev.yaml: ok") {
		t.Fatalf("code %d\n%s", code, out)
	}
	// A warning alone does not fail the run.
	warn := filepath.Join(t.TempDir(), "warn.yaml")
	os.WriteFile(warn, []byte("version: 1\ndefaults:\n  actions: {\"SensitiveData:S3Object/New\": AUTO}\n"), 0o644)
	if code, out, _ := run(t, "", "policy", "validate", warn); code != ExitOK || !strings.Contains(out, "warning") {
		t.Fatalf("warning run: %d %s", code, out)
	}
}

func TestExplainFixturesWithDevPolicy(t *testing.T) {
	files, _ := filepath.Glob(fixtures + "/*.json")
	args := append([]string{"policy", "explain", "--policy", repo + "/policies/dev.yaml", "--output", "json"}, files...)
	code, out, errOut := run(t, "", args...)
	if code != ExitOK {
		t.Fatalf("code %d: %s\n%s", code, errOut, out)
	}
	var res struct {
		Findings []explained
		Summary  []summaryRow
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range res.Summary {
		got[string(s.Action)+" "+s.Type] += s.Count
	}
	want := map[string]int{
		"REVIEW SensitiveData:S3Object/Multiple":           7,
		"REVIEW SensitiveData:S3Object/CustomIdentifier":   2,
		"IGNORE Policy:IAMUser/S3BucketEncryptionDisabled": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("summary %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d, want %d", k, got[k], v)
		}
	}
}

func TestExplainReportsBadItemsAndGoesOn(t *testing.T) {
	csv, _ := os.ReadFile(fixtures + "/finding-getfindings-csv.json")
	jsonl := strings.Join(strings.Fields(string(csv)), " ") + "\n{not json\n" +
		`{"id":"x","accountId":"42","type":"SensitiveData:S3Object/Personal","severity":{"score":2}}` + "\n"
	code, out, _ := run(t, jsonl, "policy", "explain", "--policy", repo+"/policies/dev.yaml", "-", "/nonexistent.json")
	if code != ExitProblem {
		t.Fatalf("code %d", code)
	}
	for _, want := range []string{"-:1", "REVIEW", "-:2", "invalid JSON", "-:3", "accountId", "/nonexistent.json", "no such file",
		"1 findings decided, 3 could not be read or validated"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUsage(t *testing.T) {
	if code, _, errOut := run(t, "", "frobnicate"); code != ExitUsage || !strings.Contains(errOut, "policy explain") {
		t.Fatalf("%d %s", code, errOut)
	}
	if code, _, _ := run(t, "", "policy", "explain", "x.json"); code != ExitUsage {
		t.Fatal("explain without --policy accepted")
	}
}
