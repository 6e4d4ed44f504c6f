package quarantine

import (
	"strings"
	"testing"
)

// TestSummaryNamesWhatTheMoveLeft: a MOVED result whose run kept another attempt's copy (or could
// not delete something) says so in its summary, which the remediator records as the ledger
// transition's reason: otherwise the kept copy would be named nowhere.
func TestSummaryNamesWhatTheMoveLeft(t *testing.T) {
	r := &Result{Outcome: Moved, CopyBucket: "q", CopyKey: "k", CopyVersionID: "v2", SkippedBecause: "kept the unverifiable copy of an earlier attempt (version v1)"}
	if got := r.Summary(); !strings.Contains(got, "version v2") || !strings.Contains(got, "version v1") {
		t.Fatalf("summary %q does not name both copies", got)
	}
	r.SkippedBecause = ""
	if got := r.Summary(); got != "quarantined at s3://q/k (version v2)" {
		t.Fatalf("summary %q", got)
	}
}
