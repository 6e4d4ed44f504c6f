package benchrun

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/awscount"
	"github.com/macie-chatops/macie-chatops/functions/internal/scale"
	"github.com/macie-chatops/macie-chatops/shared/localsrv"
)

// The deployed shape the cost rows assume, from infra/stack (central.go, config.go): arm64,
// these memory sizes, SQS event source batches of 10, and the remediator's default reserved
// concurrency (each container reads the Slack secret once and assumes the quarantine role
// once per account).
const (
	findingHandlerMB      = 256
	remediatorMB          = 512
	remediationHandlerMB  = 256
	sqsBatch              = 10
	remediatorConcurrency = 5
	accountsInBurst       = 2
)

// Usage is what a run used, by billing unit.
type Usage struct {
	S3Tier1, S3Tier2, S3Free      int
	RCU, WCU                      float64
	DynamoRequests, DynamoNoUnits int
	SQSRequests                   int
	LambdaInvocations             int
	LambdaGBSec                   float64
	SecretsCalls, KMSCalls        int
	STSCalls                      int
	APIGatewayRequests            int
}

// s3Class is an S3 operation's request class: 1 (PUT, COPY, POST, LIST), 2 (GET and every
// other request), 0 (free: DELETE).
func s3Class(op string) int {
	switch {
	case strings.HasPrefix(op, "Delete"):
		return 0
	case strings.HasPrefix(op, "Put"), strings.HasPrefix(op, "Copy"), strings.HasPrefix(op, "List"), strings.HasPrefix(op, "Post"),
		op == "UploadPart", op == "UploadPartCopy", op == "CreateMultipartUpload", op == "CompleteMultipartUpload", op == "CreateBucket":
		return 1
	}
	return 2
}

// burstUsage turns a counted burst into billing units. S3 and DynamoDB come from the counting
// middleware on the clients the handlers used. SQS and Lambda are counted at local mode's
// stand-ins for them (the batches handed to the finding-handler, the jobs the remediator ran and
// the time each took, stamped by the harness), mapped to what AWS bills for each: one
// EventBridge→SQS send per finding event, one SendMessage per job, one ReceiveMessage and one
// DeleteMessageBatch per batch of 10, one invocation per batch. Secrets Manager and STS are per
// container, not per finding (from the infra defaults above). KMS: the quarantine buckets use an
// S3 Bucket Key, so S3 calls KMS about once per bucket key period, not per object: 0 here.
func burstUsage(calls []awscount.Call, rcu, wcu float64, noUnits int, w scale.Work, events int) Usage {
	u := Usage{RCU: rcu, WCU: wcu, DynamoNoUnits: noUnits}
	for _, c := range calls {
		switch c.Service {
		case "S3":
			switch s3Class(c.Operation) {
			case 0:
				u.S3Free += c.N
			case 1:
				u.S3Tier1 += c.N
			default:
				u.S3Tier2 += c.N
			}
		case "DynamoDB":
			u.DynamoRequests += c.N
		}
	}
	jobBatches := int(math.Ceil(float64(w.Jobs) / sqsBatch))
	u.SQSRequests = events + 2*w.Batches + w.Jobs + 2*jobBatches
	u.LambdaInvocations = w.Batches + jobBatches
	u.LambdaGBSec = findingHandlerMB/1024.0*w.FindingTime.Seconds() + remediatorMB/1024.0*w.JobTime.Seconds()
	u.SecretsCalls = 1 + remediatorConcurrency
	u.STSCalls = accountsInBurst * remediatorConcurrency
	return u
}

// CostLine is one service's share.
type CostLine struct {
	Service, Counted string
	USD              float64
}

// costLines prices u, with per-finding units scaled by scale (10,000 / findings measured); the
// per-container calls (Secrets Manager, STS) are not scaled.
func costLines(u Usage, scale float64) []CostLine {
	p := Prices
	f := func(n int) float64 { return float64(n) * scale }
	lines := []CostLine{
		{"S3", fmt.Sprintf("%.0f PUT/COPY/POST/LIST, %.0f GET/HEAD/other, %.0f DELETE (free)", f(u.S3Tier1), f(u.S3Tier2), f(u.S3Free)),
			p.S3Tier1.Cost(f(u.S3Tier1)) + p.S3Tier2.Cost(f(u.S3Tier2))},
		{"DynamoDB", fmt.Sprintf("%.0f requests: %.0f RRU, %.0f WRU (+%.0f calls with no units reported)", f(u.DynamoRequests), u.RCU*scale, u.WCU*scale, f(u.DynamoNoUnits)),
			p.DynamoRead.Cost(u.RCU*scale) + p.DynamoWrite.Cost(u.WCU*scale)},
		{"SQS", fmt.Sprintf("%.0f requests", f(u.SQSRequests)), p.SQS.Cost(f(u.SQSRequests))},
		{"Lambda (arm64)", fmt.Sprintf("%.0f invocations, %.1f GB-s", f(u.LambdaInvocations), u.LambdaGBSec*scale),
			p.LambdaRequests.Cost(f(u.LambdaInvocations)) + p.LambdaArmGBSec.Cost(u.LambdaGBSec*scale)},
		{"Secrets Manager", fmt.Sprintf("%d GetSecretValue (one per cold container)", u.SecretsCalls), p.SecretsManagerAPI.Cost(float64(u.SecretsCalls))},
		{"KMS", fmt.Sprintf("%d requests (S3 Bucket Key on the quarantine buckets)", u.KMSCalls), p.KMSRequests.Cost(float64(u.KMSCalls))},
		{"STS", fmt.Sprintf("%d AssumeRole (one per account per container)", u.STSCalls), p.STS.Cost(float64(u.STSCalls))},
	}
	if u.APIGatewayRequests > 0 {
		lines = append(lines, CostLine{"API Gateway (HTTP API)", fmt.Sprintf("%.0f requests", f(u.APIGatewayRequests)), p.APIGatewayHTTP.Cost(f(u.APIGatewayRequests))})
	}
	return lines
}

// approvalUsage: k approvals, each a click (an API Gateway request and a remediation-handler
// invocation as long as the click's HTTP round trip, an upper bound) and a job on its own (one
// SendMessage, ReceiveMessage and DeleteMessage, one remediator invocation). Containers are warm.
func approvalUsage(calls []awscount.Call, rcu, wcu float64, noUnits int, w scale.Work) Usage {
	u := burstUsage(calls, rcu, wcu, noUnits, scale.Work{}, 0)
	u.SecretsCalls, u.STSCalls = 0, 0
	u.APIGatewayRequests = w.Batches
	u.SQSRequests = 3 * w.Jobs
	u.LambdaInvocations = w.Batches + w.Jobs
	u.LambdaGBSec = remediationHandlerMB/1024.0*w.FindingTime.Seconds() + remediatorMB/1024.0*w.JobTime.Seconds()
	return u
}

func total(lines []CostLine) float64 {
	t := 0.0
	for _, l := range lines {
		t += l.USD
	}
	return t
}

func usd(v float64) string {
	switch {
	case v != 0 && v < 0.0001:
		return fmt.Sprintf("$%.8f", v)
	case v != 0 && v < 0.01:
		return fmt.Sprintf("$%.5f", v)
	}
	return fmt.Sprintf("$%.4f", v)
}

// PrintCost writes the cost table.
func PrintCost(out io.Writer, title string, lines []CostLine) {
	fmt.Fprintf(out, "\n%s (us-east-1 list prices, see functions/internal/benchrun/prices.go)\n\n", title)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCOUNTED\tUSD")
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Service, l.Counted, usd(l.USD))
	}
	fmt.Fprintf(tw, "total\t\t%s\n", usd(total(lines)))
	tw.Flush()
}

// approvalsMeasured is how many Slack approvals the per-approval cost is the mean of.
const approvalsMeasured = 10

// costRun runs a burst of n findings with the ledger on dynalite and the counting middleware,
// and prices it per 10,000 findings; then prices one Slack approval (the mean of
// approvalsMeasured, counted the same way).
func costRun(n int, step func(string), errOut io.Writer) (burst, approval []CostLine, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	step(fmt.Sprintf("cost: burst of %d findings with the ledger on DynamoDB (dynalite) and every SDK call counted", n))
	dyn, err := localsrv.Dynalite()
	if err != nil {
		return nil, nil, err
	}
	defer dyn.Stop()
	var c awscount.Counter
	rep, err := scale.RunWith(ctx, n, scale.Options{Count: &c, DynamoEndpoint: dyn.Endpoint}, errOut)
	if err != nil {
		return nil, nil, err
	}
	if miss := rep.Goals(); len(rep.DoubleKeys) > 0 || rep.NotQuarantined > 0 || rep.Accounted != rep.Unique {
		return nil, nil, fmt.Errorf("cost run on DynamoDB did not complete cleanly: %v", miss)
	}
	rcu, wcu, none := c.Capacity()
	u := burstUsage(c.Calls(), rcu, wcu, none, rep.Work, n)
	if rcu == 0 && wcu == 0 {
		return nil, nil, fmt.Errorf("the DynamoDB server reported no consumed capacity (%d calls): the cost rows need ReturnConsumedCapacity", u.DynamoRequests)
	}
	burst = costLines(u, 10000/float64(n))

	step(fmt.Sprintf("cost: %d Slack approvals, counted the same way", approvalsMeasured))
	var ac awscount.Counter
	w, err := scale.Approvals(ctx, approvalsMeasured, &ac, dyn.Endpoint, ac.Reset)
	if err != nil {
		return nil, nil, err
	}
	rcu, wcu, none = ac.Capacity()
	return burst, costLines(approvalUsage(ac.Calls(), rcu, wcu, none, w), 1/float64(approvalsMeasured)), nil
}
