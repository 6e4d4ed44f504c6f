package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenInputs covers every input shape explain accepts (single events and bare findings,
// arrays, GetFindings responses, JSON Lines with bad lines, non-JSON files, a missing file), so
// the streaming reader is held to the exact output of the whole-file reader it replaced.
func goldenInputs(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(fixtures + "/*")
	extra, _ := filepath.Glob("testdata/explain/*")
	policyFindings, _ := filepath.Glob(repo + "/shared/testdata/macie-policy/*.json")
	files = append(files, policyFindings...)
	extra = append(extra, "/nonexistent/findings.jsonl")
	return append(files, extra...)
}

func TestExplainGolden(t *testing.T) {
	inputs := goldenInputs(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			args := append([]string{"policy", "explain", "--policy", repo + "/policies/example-org.yaml", "--output", format}, inputs...)
			code, out, _ := run(t, "", args...)
			if code != ExitProblem {
				t.Fatalf("code %d, want %d (the inputs include bad items)", code, ExitProblem)
			}
			golden := filepath.Join("testdata", "explain."+format+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestExplainGolden -update)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s (go test -run TestExplainGolden -update rewrites it after a deliberate change)\n%s", golden, diffLines(string(want), out))
			}
		})
	}
}

// diffLines names the first line that differs.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, a, b)
		}
	}
	return ""
}
