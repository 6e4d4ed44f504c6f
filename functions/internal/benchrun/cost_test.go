package benchrun

import (
	"math"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/awscount"
	"github.com/macie-chatops/macie-chatops/functions/internal/scale"
)

func TestS3Class(t *testing.T) {
	for op, want := range map[string]int{"CopyObject": 1, "PutObjectTagging": 1, "ListObjectVersions": 1, "UploadPartCopy": 1, "CreateMultipartUpload": 1,
		"CompleteMultipartUpload": 1, "HeadObject": 2, "GetObjectTagging": 2, "GetObject": 2, "DeleteObject": 0, "DeleteObjects": 0} {
		if got := s3Class(op); got != want {
			t.Errorf("s3Class(%s) = %d, want %d", op, got, want)
		}
	}
}

// TestCostArithmetic: counted calls and work → billing units → dollars, by hand.
func TestCostArithmetic(t *testing.T) {
	calls := []awscount.Call{
		{Key: awscount.Key{Service: "S3", Operation: "CopyObject"}, N: 300},
		{Key: awscount.Key{Service: "S3", Operation: "HeadObject"}, N: 600},
		{Key: awscount.Key{Service: "S3", Operation: "DeleteObject"}, N: 300},
		{Key: awscount.Key{Service: "DynamoDB", Operation: "PutItem"}, N: 4000},
		{Key: awscount.Key{Service: "DynamoDB", Operation: "GetItem"}, N: 2000},
	}
	w := scale.Work{Batches: 100, FindingTime: 40 * time.Second, Jobs: 301, JobTime: 60 * time.Second}
	u := burstUsage(calls, 2000, 8000, 5, w, 1000)
	want := Usage{S3Tier1: 300, S3Tier2: 600, S3Free: 300, RCU: 2000, WCU: 8000, DynamoRequests: 6000, DynamoNoUnits: 5,
		// 1000 sends by EventBridge + 2×100 finding batches + 301 job sends + 2×31 job batches
		SQSRequests:       1000 + 200 + 301 + 62,
		LambdaInvocations: 100 + 31,
		LambdaGBSec:       0.25*40 + 0.5*60,
		SecretsCalls:      6, STSCalls: 10}
	if u != want {
		t.Fatalf("usage\n got %+v\nwant %+v", u, want)
	}
	lines := costLines(u, 10)
	wantUSD := map[string]float64{
		"S3":              3000*0.005/1000 + 6000*0.0004/1000,
		"DynamoDB":        20000*0.125/1e6 + 80000*0.625/1e6,
		"SQS":             15630 * 0.40 / 1e6,
		"Lambda (arm64)":  1310*0.20/1e6 + 400*0.0000133334,
		"Secrets Manager": 6 * 0.05 / 10000,
		"KMS":             0,
		"STS":             0,
	}
	sum := 0.0
	for _, l := range lines {
		w, ok := wantUSD[l.Service]
		if !ok || math.Abs(l.USD-w) > 1e-12 {
			t.Errorf("%s: %v, want %v (%s)", l.Service, l.USD, w, l.Counted)
		}
		sum += w
	}
	if len(lines) != len(wantUSD) || math.Abs(total(lines)-sum) > 1e-12 {
		t.Fatalf("total %v, want %v over %d lines", total(lines), sum, len(wantUSD))
	}
}

func TestUSD(t *testing.T) {
	for v, want := range map[float64]string{0: "$0.0000", 0.0934: "$0.0934", 0.00618: "$0.00618", 0.0000031: "$0.00000310"} {
		if got := usd(v); got != want {
			t.Errorf("usd(%v) = %s, want %s", v, got, want)
		}
	}
}
