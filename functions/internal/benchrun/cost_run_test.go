package benchrun

import (
	"bytes"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// TestCostRun: a small counted burst on dynalite prices every service, with S3 and DynamoDB
// counted from real calls.
func TestCostRun(t *testing.T) {
	testenv.Tool(t, "node/node_modules/dynalite/package.json")
	var log bytes.Buffer
	lines, err := costRun(200, func(string) {}, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	PrintCost(&out, "AWS cost per 10,000 findings", lines)
	t.Log(out.String())
	if lines[0].USD <= 0 || lines[1].USD <= 0 || !strings.Contains(out.String(), "total") {
		t.Fatalf("S3 and DynamoDB must cost something:\n%s", out.String())
	}
}
