package policy

import (
	"os"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/finding"
)

// BenchmarkParseAndDecide is the finding-handler's per-event CPU cost: parse a typical EventBridge
// event, validate it, decide. Target: under 50 µs.
func BenchmarkParseAndDecide(b *testing.B) {
	data, err := os.ReadFile("../testdata/macie/event-eventbridge-csv.json")
	if err != nil {
		b.Fatal(err)
	}
	p := mustLoad(b, "example-org.yaml")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := finding.Parse(data)
		if err != nil || f.Validate() != nil {
			b.Fatal(err)
		}
		if p.Decide(f).Action == "" {
			b.Fatal("no action")
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	data, _ := os.ReadFile("../testdata/macie/event-eventbridge-csv.json")
	f, err := finding.Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	p := mustLoad(b, "example-org.yaml")
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(f)
	}
}
