package benchrun

import (
	"bytes"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// TestCostRun: a small counted burst on dynalite prices every service, with S3 and DynamoDB
// counted from real calls.
func TestCostRun(t *testing.T) {
	testenv.Tool(t, "node/node_modules/dynalite/package.json")
	var log bytes.Buffer
	lines, approval, err := costRun(200, func(string) {}, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	PrintCost(&out, "AWS cost per 10,000 findings", lines)
	PrintCost(&out, "AWS cost of one Slack approval", approval)
	t.Log(out.String())
	if lines[0].USD <= 0 || lines[1].USD <= 0 || approval[0].USD <= 0 || approval[1].USD <= 0 || approval[len(approval)-1].Service != "API Gateway (HTTP API)" {
		t.Fatalf("S3 and DynamoDB must cost something:\n%s", out.String())
	}
}
