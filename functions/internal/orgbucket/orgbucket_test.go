package orgbucket

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
)

// fakeCF answers DescribeStackInstance from ids (account/region → StackId), or with err.
type fakeCF struct {
	ids   map[string]string
	err   error
	calls int
	last  *cloudformation.DescribeStackInstanceInput
}

func (f *fakeCF) DescribeStackInstance(_ context.Context, in *cloudformation.DescribeStackInstanceInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStackInstanceOutput, error) {
	f.calls++
	f.last = in
	if f.err != nil {
		return nil, f.err
	}
	id, ok := f.ids[*in.StackInstanceAccount+"/"+*in.StackInstanceRegion]
	if !ok {
		return nil, &cftypes.StackInstanceNotFoundException{Message: aws.String("Stack instance not found")}
	}
	return &cloudformation.DescribeStackInstanceOutput{StackInstance: &cftypes.StackInstance{StackId: aws.String(id),
		Status: cftypes.StackInstanceStatusOutdated, StatusReason: aws.String("Account 111122223333 should have 'AWSCloudFormationStackSetExecutionRole' role")}}, nil
}

const (
	acct = "111122223333"
	id1  = "arn:aws:cloudformation:us-east-1:111122223333:stack/StackSet-member-1/0a1b2c3d-0000-4000-8000-000000000001"
	id2  = "arn:aws:cloudformation:us-east-1:111122223333:stack/StackSet-member-2/9f8e7d6c-0000-4000-8000-000000000002"
)

func TestBucketIsBasePlusGenerationLookedUpOncePerTTL(t *testing.T) {
	ctx := context.Background()
	cf := &fakeCF{ids: map[string]string{acct + "/us-east-1": id1}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &Resolver{API: cf, StackSet: "macie-chatops-dev-member", CallAs: cftypes.CallAsDelegatedAdmin, Now: func() time.Time { return now }}
	for i := 0; i < 1000; i++ {
		b, err := r.Bucket(ctx, acct, "us-east-1", "quarantine-"+acct)
		if err != nil {
			t.Fatal(err)
		}
		if b != "quarantine-"+acct+"-0a1b2c3d" {
			t.Fatalf("bucket %q", b)
		}
	}
	if cf.calls != 1 {
		t.Fatalf("1000 findings cost %d DescribeStackInstance calls, want 1", cf.calls)
	}
	if cf.last.CallAs != cftypes.CallAsDelegatedAdmin || *cf.last.StackSetName != "macie-chatops-dev-member" {
		t.Fatalf("request %+v", cf.last)
	}
	// The instance is replaced: a container that forgets (NoSuchBucket) or outlives the TTL sees it.
	cf.ids[acct+"/us-east-1"] = id2
	r.Forget(acct, "us-east-1")
	if b, _ := r.Bucket(ctx, acct, "us-east-1", "q"); b != "q-9f8e7d6c" || cf.calls != 2 {
		t.Fatalf("after Forget: %q, %d calls", b, cf.calls)
	}
	cf.ids[acct+"/us-east-1"] = id1
	now = now.Add(DefaultTTL - time.Second)
	if b, _ := r.Bucket(ctx, acct, "us-east-1", "q"); b != "q-9f8e7d6c" || cf.calls != 2 {
		t.Fatalf("within the TTL: %q, %d calls", b, cf.calls)
	}
	now = now.Add(time.Second)
	if b, _ := r.Bucket(ctx, acct, "us-east-1", "q"); b != "q-0a1b2c3d" || cf.calls != 3 {
		t.Fatalf("past the TTL: %q, %d calls", b, cf.calls)
	}
	// Another region is another instance.
	if _, err := r.Bucket(ctx, acct, "eu-west-1", "q"); !errors.Is(err, ErrNoInstance) {
		t.Fatalf("eu-west-1: %v", err)
	}
}

func TestExplicitMemberKeepsThePolicyNameWithoutALookup(t *testing.T) {
	cf := &fakeCF{}
	r := &Resolver{API: cf, StackSet: "s", Explicit: map[string]bool{acct: true}}
	b, err := r.Bucket(context.Background(), acct, "us-east-1", "quarantine-x")
	if err != nil || b != "quarantine-x" || cf.calls != 0 || r.IsOrgAccount(acct) || !r.IsOrgAccount("444455556666") {
		t.Fatalf("%q %v calls=%d", b, err, cf.calls)
	}
}

func TestLookupFailures(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	for _, tc := range []struct {
		name     string
		cf       *fakeCF
		sentinel error
		want     []string
	}{
		{"no instance", &fakeCF{}, ErrNoInstance, []string{acct, "us-east-1", "macie-chatops-dev-member", "macie-chatops doctor", "outside the StackSet's OUs"}},
		{"empty stack id", &fakeCF{ids: map[string]string{acct + "/us-east-1": ""}}, ErrBadInstance, []string{acct, `stack id ""`, "OUTDATED", "AWSCloudFormationStackSetExecutionRole", "macie-chatops doctor"}},
		{"malformed stack id", &fakeCF{ids: map[string]string{acct + "/us-east-1": "arn:aws:cloudformation:us-east-1:111122223333:stack/x/not-a-uuid"}}, ErrBadInstance, []string{"not-a-uuid", "OUTDATED"}},
		{"throttled", &fakeCF{err: throttled}, nil, []string{"Rate exceeded", acct, "DescribeStackInstance", "SELF"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Resolver{API: tc.cf, StackSet: "macie-chatops-dev-member"}
			_, err := r.Bucket(context.Background(), acct, "us-east-1", "q")
			if err == nil {
				t.Fatal("no error")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Fatalf("%v: want %v", err, tc.sentinel)
			}
			if tc.sentinel == nil && (errors.Is(err, ErrNoInstance) || errors.Is(err, ErrBadInstance) || !errors.Is(err, throttled)) {
				t.Fatalf("a throttled lookup must stay a transient error wrapping the cause: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q: %v", w, err)
				}
			}
			// A failure is not cached: the next finding asks again.
			r.Bucket(context.Background(), acct, "us-east-1", "q")
			if tc.cf.calls != 2 {
				t.Fatalf("%d calls after two lookups that failed", tc.cf.calls)
			}
		})
	}
}
