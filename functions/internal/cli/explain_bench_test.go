package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/functions/internal/synth"
)

// BenchmarkExplain is `policy explain` over 5,000 generated findings, text to io.Discard.
func BenchmarkExplain(b *testing.B) {
	var in strings.Builder
	synth.Write(&in, 5000)
	for b.Loop() {
		code := Run(Env{Stdin: strings.NewReader(in.String()), Stdout: io.Discard, Stderr: io.Discard},
			[]string{"policy", "explain", "--policy", examplePolicy, "-"})
		if code != ExitOK {
			b.Fatal(code)
		}
	}
	b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "findings/s")
}
