package quarantine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

type fakeSTS struct {
	mu    sync.Mutex
	now   func() time.Time
	calls []sts.AssumeRoleInput
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, *in)
	return &sts.AssumeRoleOutput{Credentials: &types.Credentials{
		AccessKeyId: aws.String("AK" + *in.RoleArn), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"),
		Expiration: aws.Time(f.now().Add(time.Hour)),
	}}, nil
}

func TestRoleCredentialsAreCachedPerAccountUntilNearExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	fs := &fakeSTS{now: clock}
	var built []aws.Credentials
	rc := &RoleClients{STS: fs, RoleName: "macie-chatops-quarantine", ExternalID: "ext-123", Now: clock,
		NewS3: func(c aws.Credentials, region string) S3API { built = append(built, c); return nil }}
	ctx := context.Background()

	rc.S3For(ctx, "111122223333", "us-east-1", SessionName("finding-1"))
	rc.S3For(ctx, "111122223333", "us-east-1", SessionName("finding-2"))
	rc.S3For(ctx, "111122223333", "eu-west-1", SessionName("finding-3"))
	rc.S3For(ctx, "444455556666", "us-east-1", SessionName("finding-4"))
	if len(fs.calls) != 2 {
		t.Fatalf("want one AssumeRole per account, got %d", len(fs.calls))
	}
	c := fs.calls[0]
	if *c.RoleArn != "arn:aws:iam::111122223333:role/macie-chatops-quarantine" || *c.ExternalId != "ext-123" ||
		*c.RoleSessionName != "macie-chatops-finding-1" {
		t.Fatalf("assume input %+v", c)
	}
	if *fs.calls[1].RoleArn != "arn:aws:iam::444455556666:role/macie-chatops-quarantine" {
		t.Fatalf("second account %s", *fs.calls[1].RoleArn)
	}
	// 54 minutes later the credentials are still good for 6 minutes: cached.
	now = now.Add(54 * time.Minute)
	rc.S3For(ctx, "111122223333", "us-east-1", SessionName("finding-5"))
	if len(fs.calls) != 2 {
		t.Fatal("refreshed too early")
	}
	// 56 minutes: within the 5-minute margin, so refreshed, and a new client is built.
	now = now.Add(2 * time.Minute)
	rc.S3For(ctx, "111122223333", "us-east-1", SessionName("finding-6"))
	if len(fs.calls) != 3 || *fs.calls[2].RoleSessionName != "macie-chatops-finding-6" {
		t.Fatalf("not refreshed near expiry: %d calls", len(fs.calls))
	}
	if len(built) != 4 {
		t.Fatalf("clients built %d, want 4 (two accounts, two regions, one refresh)", len(built))
	}
}

func TestSessionNameIsValid(t *testing.T) {
	n := SessionName("a/b c:d" + string(make([]byte, 100)))
	if len(n) > 64 {
		t.Fatal(n)
	}
	for _, r := range n {
		if !(r == '-' || r == '_' || r == '=' || r == ',' || r == '.' || r == '@' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			t.Fatalf("invalid rune %q in %q", r, n)
		}
	}
}

func TestCopySourceEncoding(t *testing.T) {
	cases := map[string]string{
		"a b/c+d":       "bkt/a%20b/c%2Bd",
		"x//y":          "bkt/x//y",
		"p%q?r#s":       "bkt/p%25q%3Fr%23s",
		"ü/日":           "bkt/%C3%BC/%E6%97%A5",
		"plain-key.txt": "bkt/plain-key.txt",
	}
	for key, want := range cases {
		if got := CopySource("bkt", key, ""); got != want {
			t.Errorf("%q: %s, want %s", key, got, want)
		}
	}
	if got := CopySource("bkt", "k", "v+1/2"); got != "bkt/k?versionId=v%2B1%2F2" {
		t.Error(got)
	}
}
