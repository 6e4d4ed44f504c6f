package synth

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/finding"
)

func TestWriteGivesDistinctValidFindings(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, 40); err != nil {
		t.Fatal(err)
	}
	items := finding.ReadAll(b.Bytes())
	if len(items) != 40 {
		t.Fatalf("%d items, want 40", len(items))
	}
	seen := map[string]bool{}
	for i, it := range items {
		if it.Err == nil {
			it.Err = it.Finding.Validate()
		}
		if it.Err != nil {
			t.Fatalf("finding %d: %v", i, it.Err)
		}
		f := it.Finding
		if f.ID != fmt.Sprintf("%032x", i) || f.AccountID != Accounts[i%len(Accounts)] || seen[f.ObjectKey()] {
			t.Fatalf("finding %d: id %s account %s key %s", i, f.ID, f.AccountID, f.ObjectKey())
		}
		seen[f.ObjectKey()] = true
	}
	if n := len(b.Bytes()) / 40; n < 3500 || n > 5000 {
		t.Fatalf("%d bytes per finding: no longer like a real one (about 4 KB)", n)
	}
}
