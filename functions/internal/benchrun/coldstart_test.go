package benchrun

import (
	"bytes"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// TestColdStart: the cold start row's measurement works end to end (a signed click answered
// 200 by a freshly started remediation-handler that read its secret from moto, and the finding
// moved to QUEUED); its duration is the bench's business, not the test's.
func TestColdStart(t *testing.T) {
	testenv.Tool(t, "bin/aws-lambda-rie")
	var log bytes.Buffer
	d, err := coldStarts(testenv.Context(t), testenv.RepoRoot(t), 2, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(d) != 2 || d[0] <= 0 || d[1] <= 0 {
		t.Fatalf("samples %v", d)
	}
	t.Log(log.String())
}

func TestMedian(t *testing.T) {
	if m := median([]time.Duration{5, 1, 3, 2, 4}); m != 3 {
		t.Fatalf("median = %d", m)
	}
	if median(nil) != 0 {
		t.Fatal("median of nothing")
	}
}
