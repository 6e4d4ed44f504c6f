package awscount

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// fakeHTTP answers each request with the next canned response, and remembers the bodies.
type fakeHTTP struct {
	mu     sync.Mutex
	status []int
	bodies []string
	seen   []string
}

func (f *fakeHTTP) Do(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		f.seen = append(f.seen, string(b))
	}
	st, body := 200, "{}"
	if len(f.status) > 0 {
		st, body = f.status[0], f.bodies[0]
		f.status, f.bodies = f.status[1:], f.bodies[1:]
	}
	return &http.Response{StatusCode: st, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

func cfg(h *fakeHTTP, c *Counter) aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), HTTPClient: h,
		BaseEndpoint: aws.String("http://127.0.0.1:1"), APIOptions: []func(*middleware.Stack) error{c.APIOption},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = noBackoff{}; o.MaxAttempts = 3 })
		}}
}

func TestCountsRequestsAndCapacity(t *testing.T) {
	var c Counter
	h := &fakeHTTP{
		status: []int{200, 500, 200, 200},
		bodies: []string{
			`{"Item":{"pk":{"S":"a"}},"ConsumedCapacity":{"TableName":"t","CapacityUnits":1}}`,
			`{"__type":"InternalServerError","message":"try again"}`,
			`{"ConsumedCapacity":{"TableName":"t","CapacityUnits":2}}`,
			`{}`, // a server that reports no capacity
		},
	}
	ddb := dynamodb.NewFromConfig(cfg(h, &c))
	ctx := context.Background()
	if _, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}}}); err != nil {
		t.Fatal(err)
	}
	put := &dynamodb.PutItemInput{TableName: aws.String("t"), Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}}}
	if _, err := ddb.PutItem(ctx, put); err != nil { // 500 then 200: two requests sent
		t.Fatal(err)
	}
	if put.ReturnConsumedCapacity != "" {
		t.Fatal("the caller's input was changed")
	}
	if _, err := ddb.PutItem(ctx, put); err != nil {
		t.Fatal(err)
	}
	for _, b := range h.seen {
		if !strings.Contains(b, `"ReturnConsumedCapacity":"TOTAL"`) {
			t.Fatalf("a request did not ask for the consumed capacity: %s", b)
		}
	}
	if got := c.Count("DynamoDB", "GetItem"); got != 1 {
		t.Errorf("GetItem = %d, want 1", got)
	}
	if got := c.Count("DynamoDB", "PutItem"); got != 3 {
		t.Errorf("PutItem = %d, want 3 (one retried)", got)
	}
	rcu, wcu, unrep := c.Capacity()
	if rcu != 1 || wcu != 2 || unrep != 1 {
		t.Errorf("capacity rcu %v wcu %v unreported %d, want 1 2 1", rcu, wcu, unrep)
	}

	// S3 through the same counter, keyed by its own service id.
	s3c := s3.NewFromConfig(cfg(&fakeHTTP{}, &c), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	calls := c.Calls()
	want := []Call{{Key{"DynamoDB", "GetItem"}, 1}, {Key{"DynamoDB", "PutItem"}, 3}, {Key{"S3", "DeleteObject"}, 1}}
	if len(calls) != len(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", calls, want)
		}
	}
}
