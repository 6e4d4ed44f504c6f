package finding

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: whatever bytes arrive, parsing and validation return (never panic), and a finding
// that validates has the fields every later step relies on.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*"))
	policy, _ := filepath.Glob(filepath.Join(policyFixtures, "*.json"))
	for _, p := range append(files, policy...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, it := range ReadAll(data) {
			if it.Err != nil {
				continue
			}
			if it.Finding == nil {
				t.Fatal("item without finding or error")
			}
			if it.Finding.Validate() == nil {
				if !IsAccountID(it.Finding.AccountID) || it.Finding.ID == "" || it.Finding.Severity.Level() == 0 {
					t.Fatalf("validated finding lacks core fields: %+v", it.Finding)
				}
				if it.Finding.IsSensitiveData() && (it.Finding.BucketName() == "" || it.Finding.ObjectKey() == "") {
					t.Fatalf("validated sensitive-data finding without object: %+v", it.Finding)
				}
			}
		}
	})
}
