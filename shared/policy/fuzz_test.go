package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/finding"
)

// FuzzLoad: any bytes give a policy or an error with at least one problem, never a panic; a
// policy that loads can decide any finding.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(policiesDir, "*.yaml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\ndefaults:\n  actions: {\"*\": AUTO}\naccounts:\n  \"123456789012\": {name: x}\n"))
	probe := &finding.Finding{ID: "x", AccountID: "123456789012", Region: "us-east-1", Type: "SensitiveData:S3Object/Personal",
		Severity: finding.Severity{Score: 2}, Bucket: &finding.Bucket{Name: "b"}, Object: &finding.Object{Key: "k"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if len(Problems(err, "fuzz.yaml")) == 0 {
				t.Fatal("error without problems")
			}
			return
		}
		d := p.Decide(probe)
		if d.Reason == "" {
			t.Fatal("decision without reason")
		}
	})
}
