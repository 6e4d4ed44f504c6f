package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

var afterHint = regexp.MustCompile(`more records: add --after (\S+)`)

func TestLedgerListPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	st, err := ledger.OpenBolt(path, func() time.Time { n++; return at.Add(time.Duration(n/2) * time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		st.Create(context.Background(), ledger.Record{FindingID: fmt.Sprintf("p%02d", i), AccountID: "111122223333", Bucket: "b", Key: "k"})
	}
	st.Close()

	code, all, _ := run(t, "", "ledger", "list", "--ledger", path, "--limit", "0")
	if code != ExitOK || !strings.Contains(all, "25 records") || afterHint.MatchString(all) {
		t.Fatalf("--limit 0: %d\n%s", code, all)
	}
	want := regexp.MustCompile(`p\d\d`).FindAllString(all, -1)
	var got []string
	args := []string{"ledger", "list", "--ledger", path, "--limit", "10"}
	for page := 0; ; page++ {
		code, out, errOut := run(t, "", args...)
		if code != ExitOK || page > 3 {
			t.Fatalf("page %d: %d %s %s", page, code, out, errOut)
		}
		got = append(got, regexp.MustCompile(`p\d\d`).FindAllString(out, -1)...)
		m := afterHint.FindStringSubmatch(out)
		if m == nil {
			if !strings.Contains(out, "5 records") {
				t.Fatalf("last page: %s", out)
			}
			break
		}
		if !strings.Contains(out, "10 records") {
			t.Fatalf("page %d: %s", page, out)
		}
		args = []string{"ledger", "list", "--ledger", path, "--limit", "10", "--after", m[1]}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || len(want) != 25 {
		t.Fatalf("pages give %v\nwant %v", got, want)
	}

	code, out, errOut := run(t, "", "ledger", "list", "--ledger", path, "--limit", "20", "--output", "json")
	var recs []ledger.Record
	if err := json.Unmarshal([]byte(out), &recs); code != ExitOK || err != nil || len(recs) != 20 || !afterHint.MatchString(errOut) {
		t.Fatalf("json page: %d %v %d records, stderr %q", code, err, len(recs), errOut)
	}
	if code, out, _ := run(t, "", "ledger", "list", "--ledger", path, "--account", "999999999999", "--output", "json"); code != ExitOK || strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty json: %d %q", code, out)
	}
	if code, _, errOut := run(t, "", "ledger", "list", "--ledger", path, "--after", "nonsense"); code != ExitUsage || !strings.Contains(errOut, "--after") {
		t.Fatalf("bad cursor: %d %s", code, errOut)
	}
}
