package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/macie-chatops/macie-chatops/functions/internal/orgbucket"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// A policy finding about the account's quarantine bucket (someone turned its Block Public
// Access off): the bucket-settings role must not be pointed at it (in AWS the quarantine
// bucket's policy denies it, and the person would read "access denied; is the role
// deployed?"); the record says the quarantine bucket is the stack's, to restore with pulumi up.
func TestAttackPolicyFindingOnTheQuarantineBucket(t *testing.T) {
	st, _ := newAttackStack(t)
	q := "quarantine-" + motoAccount
	st.mustBucket(q, true)
	bpaRelaxed(st, q)
	before := st.setting(bucketfix.BlockPublicAccess, q)
	st.process(st.policyEvent(bpaFixture, q, "qbucket-1")) // AUTO
	st.drain()
	r := st.record("qbucket-1")
	if st.setting(bucketfix.BlockPublicAccess, q) != before {
		t.Fatalf("the remediator changed the quarantine bucket's settings (%s %q)", r.Status, r.Error)
	}
	if !strings.Contains(r.Error+r.BucketFix.Outcome, "quarantine bucket") {
		t.Fatalf("the record does not say it is the quarantine bucket: %s %q", r.Status, r.Error)
	}
}

// lookupForbidden is a CloudFormation that fails every call: the bucket-fix guard must not need one.
type lookupForbidden struct{ calls int }

func (l *lookupForbidden) DescribeStackInstance(context.Context, *cloudformation.DescribeStackInstanceInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackInstanceOutput, error) {
	l.calls++
	return nil, errors.New("the bucket-fix guard looked the generation up")
}

// Organization mode: a policy finding about any generation's quarantine bucket of the account
// (the current one, or one retained from an earlier stack instance) is refused from its name
// alone, with no lookup; a bucket that only looks similar is fixed as usual.
func TestAttackPolicyFindingOnAnOrgQuarantineBucket(t *testing.T) {
	for _, tc := range []struct {
		bucket  string
		refused bool
	}{
		{"quarantine-" + motoAccount + "-0a1b2c3d", true}, // current
		{"quarantine-" + motoAccount + "-9f8e7d6c", true}, // retained
		{"quarantine-" + motoAccount + "-archive", false},
	} {
		t.Run(tc.bucket, func(t *testing.T) {
			st, _ := newAttackStack(t)
			cf := &lookupForbidden{}
			st.remed.OrgBuckets = &orgbucket.Resolver{API: cf, StackSet: orgStackSet}
			st.mustBucket(tc.bucket, true)
			bpaRelaxed(st, tc.bucket)
			before := st.setting(bucketfix.BlockPublicAccess, tc.bucket)
			st.process(st.policyEvent(bpaFixture, tc.bucket, "orgq-1")) // AUTO
			st.drain()
			r := st.record("orgq-1")
			changed := st.setting(bucketfix.BlockPublicAccess, tc.bucket) != before
			if tc.refused && (changed || !strings.Contains(r.Error+r.BucketFix.Outcome, "quarantine bucket of account "+motoAccount)) {
				t.Fatalf("not refused: changed=%v %s %q", changed, r.Status, r.Error)
			}
			if !tc.refused && (!changed || r.Status != ledger.Fixed) {
				t.Fatalf("a look-alike bucket was not fixed: %s %q", r.Status, r.Error)
			}
			if cf.calls != 0 {
				t.Fatalf("%d DescribeStackInstance calls", cf.calls)
			}
		})
	}
}
