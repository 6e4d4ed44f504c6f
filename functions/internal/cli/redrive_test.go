package cli

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// Issue 12 item 6: `ledger redrive FINDING_ID` on AWS services (moto's DynamoDB and SQS) sends a
// stuck finding's job again and says so; a finding with nothing to re-drive is an error naming
// its status.
func TestLedgerRedriveOnMoto(t *testing.T) {
	srv := testenv.Moto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testenv.MotoCredentials.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.MotoCredentials.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_SQS", srv.Endpoint)
	ctx := testenv.Context(t)
	d, err := ledger.OpenDynamo(ctx, "ledger", srv.Endpoint, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	q := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(testenv.MotoCredentials.AccessKey, testenv.MotoCredentials.SecretKey, "")})
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	d.Create(ctx, ledger.Record{FindingID: "stuck", AccountID: "111122223333", Bucket: "b", Key: "k", Action: "REVIEW"})
	for _, c := range []ledger.Change{{From: ledger.Received, To: ledger.Notified}, {From: ledger.Notified, To: ledger.Queued, Actor: "U1"},
		{From: ledger.Queued, To: ledger.InProgress, Actor: "remediator"}} {
		if _, err := d.Transition(ctx, "stuck", c); err != nil {
			t.Fatal(err)
		}
	}
	d.Create(ctx, ledger.Record{FindingID: "done", AccountID: "111122223333", Bucket: "b", Key: "k2", Action: "REVIEW"})
	d.Transition(ctx, "done", ledger.Change{From: ledger.Received, To: ledger.Dismissed, Actor: "U1"})

	code, stdout, stderr := run(t, "", "ledger", "redrive", "--table", "ledger", "--endpoint", srv.Endpoint, "--queue-url", *out.QueueUrl, "stuck", "done")
	if code != ExitProblem || !strings.Contains(stdout, "stuck: remediate job sent again for a IN_PROGRESS record") ||
		!strings.Contains(stderr, "done: finding done is DISMISSED: nothing to re-drive") {
		t.Fatalf("%d\n%s\n%s", code, stdout, stderr)
	}
	msgs, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil || len(msgs.Messages) != 1 || !strings.Contains(*msgs.Messages[0].Body, `"findingId":"stuck"`) {
		t.Fatalf("queue: %v %+v", err, msgs)
	}
	if r, _ := d.Get(ctx, "stuck"); r.Redrives != 1 || r.JobSentAt.IsZero() {
		t.Fatalf("record %+v", r)
	}
	if code, _, stderr := run(t, "", "ledger", "redrive", "stuck"); code != ExitUsage || !strings.Contains(stderr, "--queue-url") {
		t.Fatalf("no queue: %d %s", code, stderr)
	}
}
