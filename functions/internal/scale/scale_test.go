package scale

import (
	"bytes"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// TestSmallBurst runs the harness on a small burst so `make test` proves it works; the 10,000
// run is in `make bench`.
func TestSmallBurst(t *testing.T) {
	var log bytes.Buffer
	rep, err := Run(testenv.Context(t), 400, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if miss := rep.Goals(); len(miss) > 0 {
		t.Fatalf("goals missed: %v\n%+v", miss, rep)
	}
	if rep.Auto != 114 || rep.Duplicates != 20 || rep.Messages < 6 {
		t.Fatalf("%+v", rep)
	}
	t.Logf("%+v", rep)
}
