package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/synth"
	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/policy"
)

const examplePolicy = repo + "/policies/example-org.yaml"

// generated is n synthetic findings as JSON Lines (n=3000 is 12 MB: over finding.WholeLimit, so
// the input is streamed).
func generated(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	if err := synth.Write(&b, n); err != nil {
		t.Fatal(err)
	}
	if b.Len() <= finding.WholeLimit {
		t.Fatalf("%d findings are %d bytes: not enough to be streamed", n, b.Len())
	}
	return b.String()
}

func TestExplainKeepsInputOrderOnAllWorkers(t *testing.T) {
	const n = 3000
	in := generated(t, n)
	pol, err := policy.LoadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	var want []explained
	explainInputs(Env{Stdin: strings.NewReader(in)}, []string{"-"}, pol, 1, func(r *explained) { want = append(want, *r) })
	if len(want) != n {
		t.Fatalf("%d rows, want %d", len(want), n)
	}
	for i, r := range want {
		if r.Error != "" || r.Line != i+1 || r.FindingID != fmt.Sprintf("%032x", i) {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	for _, workers := range []int{2, 5} {
		i := 0
		explainInputs(Env{Stdin: strings.NewReader(in)}, []string{"-"}, pol, workers, func(r *explained) {
			if i >= n || *r != want[i] {
				t.Fatalf("workers=%d row %d: %+v, want %+v", workers, i, *r, want[min(i, n-1)])
			}
			i++
		})
		if i != n {
			t.Fatalf("workers=%d: %d rows", workers, i)
		}
	}
}

func TestExplainStreamedOutputs(t *testing.T) {
	const n = 3000
	in := generated(t, n)
	code, out, errOut := run(t, in, "policy", "explain", "--policy", examplePolicy, "--output", "json", "-")
	if code != ExitOK || errOut != "" {
		t.Fatalf("json: code %d, stderr %q (no progress when stderr is not a terminal)", code, errOut)
	}
	var doc struct {
		Policy   string
		Findings []explained
		Summary  []summaryRow
		Failed   bool
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json output is not one document: %v", err)
	}
	total := 0
	for _, s := range doc.Summary {
		total += s.Count
	}
	if len(doc.Findings) != n || total != n || doc.Failed || doc.Policy != examplePolicy {
		t.Fatalf("json: %d findings, summary total %d, failed %v", len(doc.Findings), total, doc.Failed)
	}

	code, out, errOut = run(t, in, "policy", "explain", "--policy", examplePolicy, "-")
	if code != ExitOK || errOut != "" {
		t.Fatalf("text: code %d, stderr %q", code, errOut)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "INPUT") || !strings.Contains(out, fmt.Sprintf("\n%d findings decided, 0 could not", n)) {
		t.Fatalf("text: %q ... %q", lines[0], lines[len(lines)-2])
	}
	// Rows past the first block are aligned too: every row's FINDING column starts where the
	// header's does or further right, and never moves left.
	col := strings.Index(lines[0], "FINDING")
	for i, l := range lines[1 : n+1] {
		c := strings.Index(l, "0000")
		if c < col {
			t.Fatalf("row %d: finding at column %d, before %d: %q", i+1, c, col, l)
		}
		col = c
	}
}

// The text table is byte for byte tabwriter's up to one block, whatever the cells.
func TestTextSinkMatchesTabwriter(t *testing.T) {
	rows := []explained{
		{Source: "a.jsonl", Line: 1, FindingID: "f1", Account: "111122223333", Type: "T", Severity: "HIGH", Action: policy.Auto, Reason: "r"},
		{Source: "a-much-longer-name.jsonl", Line: 22, FindingID: "é✓", Error: "bad\n  thing"},
		{Source: "b", Account: "x", Action: policy.Review, Reason: "résumé"},
	}
	var got, want bytes.Buffer
	s := newTextSink(&got)
	for i := range rows {
		s.row(&rows[i])
	}
	s.flush()
	tw := tabwriter.NewWriter(&want, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INPUT\tFINDING\tACCOUNT\tTYPE\tSEVERITY\tACTION\tREASON")
	fmt.Fprintln(tw, "a.jsonl:1\tf1\t111122223333\tT\tHIGH\tAUTO\tr")
	fmt.Fprintln(tw, "a-much-longer-name.jsonl:22\té✓\t-\t-\t-\tERROR\tbad thing")
	fmt.Fprintln(tw, "b\t\tx\t\t\tREVIEW\trésumé")
	tw.Flush()
	if got.String() != want.String() {
		t.Fatalf("got\n%s\nwant\n%s", got.String(), want.String())
	}
	// A tab or newline in attacker-controlled text stays inside its cell.
	got.Reset()
	s = newTextSink(&got)
	s.row(&explained{Source: "x", FindingID: "a\tb\nc", Error: "e"})
	s.flush()
	if strings.Count(got.String(), "\n") != 2 || !strings.Contains(got.String(), "a b c") {
		t.Fatalf("cell escaped its column: %q", got.String())
	}
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var b bytes.Buffer
	p := newProgress(&b, true, clock)
	for range 1000 {
		p.add(1)
	}
	if b.Len() != 0 {
		t.Fatalf("progress before %v passed: %q", progressEvery, b.String())
	}
	now = now.Add(2 * time.Second)
	for range 1000 {
		p.add(1)
	}
	if !strings.Contains(b.String(), "\r1024 findings  512/s  2s elapsed") {
		t.Fatalf("progress line: %q", b.String())
	}
	p.done()
	if !strings.HasSuffix(b.String(), "\r2000 findings  1000/s  2s elapsed \n") {
		t.Fatalf("final line: %q", b.String())
	}

	b.Reset()
	p = newProgress(&b, false, clock)
	now = now.Add(time.Hour)
	p.add(100000)
	p.done()
	if b.Len() != 0 {
		t.Fatalf("progress when off: %q", b.String())
	}
	if isTerminal(&b) {
		t.Fatal("a buffer is not a terminal")
	}
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		defer null.Close()
		if isTerminal(null) {
			t.Fatal("/dev/null is not a terminal")
		}
	}
}

// TestExplainPolicyFindings: with example-org.yaml, each policy-finding type is explained with
// the remediation it would run (and when), or why there is none.
func TestExplainPolicyFindings(t *testing.T) {
	files, _ := filepath.Glob(repo + "/shared/testdata/macie-policy/*.json")
	files = append(files, fixtures+"/event-eventbridge-policy-encryption-disabled-COMPLETED.json")
	future := filepath.Join(t.TempDir(), "future.json")
	raw, _ := os.ReadFile(files[0])
	os.WriteFile(future, []byte(strings.Replace(string(raw), `"type": "Policy:IAMUser/S3BlockPublicAccessDisabled"`, `"type": "Policy:IAMUser/S3BucketSomethingNew"`, 1)), 0o644)
	files = append(files, future)
	args := append([]string{"policy", "explain", "--policy", repo + "/policies/example-org.yaml", "--output", "json"}, files...)
	code, out, errOut := run(t, "", args...)
	if code != ExitOK {
		t.Fatalf("code %d: %s\n%s", code, errOut, out)
	}
	var res struct{ Findings []explained }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		action      policy.Action
		remediation string
	}{
		"S3BlockPublicAccessDisabled":  {policy.Auto, "runs at once: turn on all four bucket-level Block Public Access settings; undo restores the snapshot taken before; after 3 fixes of this bucket within 24h the next goes to REVIEW"},
		"S3BucketPublic":               {policy.Auto, "runs at once: turn on all four bucket-level Block Public Access settings (blocks public ACLs"},
		"S3BucketEncryptionDisabled":   {policy.Auto, "runs at once: set default encryption to SSE-S3 (AES256), bucket key on"},
		"S3BucketReplicatedExternally": {policy.Review, "on approval: disable only the replication rules whose destination is outside the organization"},
		"S3BucketSharedExternally":     {policy.Review, "none: the message shows who the bucket is shared with"},
		"S3BucketSharedWithCloudFront": {policy.Notify, "none: the message shows who the bucket is shared with"},
		"S3BucketSomethingNew":         {policy.Notify, "none: this version has no remediation for Policy:IAMUser/S3BucketSomethingNew"},
	}
	if len(res.Findings) != len(want) {
		t.Fatalf("%d rows", len(res.Findings))
	}
	for _, r := range res.Findings {
		typ := strings.TrimPrefix(r.Type, "Policy:IAMUser/")
		w, ok := want[typ]
		if !ok || r.Action != w.action || !strings.HasPrefix(r.Remediation, w.remediation) {
			t.Errorf("%s: %s %q\nwant %s %q", typ, r.Action, r.Remediation, w.action, w.remediation)
		}
	}
	// The payments account encrypts with its own key; NOTIFY says what a fix would do.
	enc, _ := os.ReadFile(fixtures + "/event-eventbridge-policy-encryption-disabled-COMPLETED.json")
	payments := strings.ReplaceAll(string(enc), "123456789012", "111122223333")
	code, out, _ = run(t, payments, "policy", "explain", "--policy", repo+"/policies/example-org.yaml", "-")
	if code != ExitOK || !strings.Contains(out, "remediation: runs at once: set default encryption to SSE-KMS (aws:kms) with key alias/payments-s3, bucket key on") {
		t.Fatalf("payments: %d\n%s", code, out)
	}
	notify := filepath.Join(t.TempDir(), "notify.yaml")
	os.WriteFile(notify, []byte("version: 1\ndefaults:\n  actions:\n    Policy:*: NOTIFY\n"), 0o644)
	code, out, _ = run(t, payments, "policy", "explain", "--policy", notify, "-")
	if code != ExitOK || !strings.Contains(out, "remediation: none: NOTIFY posts the finding without buttons (REVIEW or AUTO would set default encryption to SSE-S3 (AES256), bucket key on)") {
		t.Fatalf("notify: %d\n%s", code, out)
	}
	// Data findings carry no remediation text: their action says it all.
	code, out, _ = run(t, "", "policy", "explain", "--policy", repo+"/policies/example-org.yaml", "--output", "json", fixtures+"/event-eventbridge-csv.json")
	if code != ExitOK || strings.Contains(out, `"remediation"`) {
		t.Fatalf("data finding: %d\n%s", code, out)
	}
}
