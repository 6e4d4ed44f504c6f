package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/orgbucket"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// statusStackSet answers an instance with a StackId and a status other than CURRENT.
type statusStackSet struct {
	id     string
	status cftypes.StackInstanceStatus
	detail cftypes.StackInstanceDetailedStatus
}

func (s *statusStackSet) DescribeStackInstance(context.Context, *cloudformation.DescribeStackInstanceInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackInstanceOutput, error) {
	return &cloudformation.DescribeStackInstanceOutput{StackInstance: &cftypes.StackInstance{StackId: aws.String(s.id), Status: s.status,
		StackInstanceStatus: &cftypes.StackInstanceComprehensiveStatus{DetailedStatus: s.detail}}}, nil
}

// Instances that are not CURRENT. OUTDATED after a failed update: the stack (and its bucket)
// exist, and the quarantine lands there. OUTDATED after a failed create: the StackId names a
// stack that rolled back, whose bucket never existed: the move fails with the source in place,
// the bucket named and doctor pointed to (not only S3's NoSuchBucket), and once the StackSet operation is retried (a new stack, a new
// generation) a person's Retry lands in the new bucket.
func TestAttackOrgInstanceNotCurrent(t *testing.T) {
	t.Run("outdated, stack there", func(t *testing.T) {
		st := newStack(t)
		st.remed.OrgBuckets = &orgbucket.Resolver{API: &statusStackSet{id: stackID(genA), status: cftypes.StackInstanceStatusOutdated, detail: cftypes.StackInstanceDetailedStatusFailed}, StackSet: orgStackSet}
		a := st.genBucket(genA)
		id := st.autoFinding("attack/outdated.txt")
		st.drain()
		if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != a {
			t.Fatalf("%s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
		}
	})
	t.Run("outdated, create failed", func(t *testing.T) {
		st := newStack(t)
		cf := &statusStackSet{id: stackID(genA), status: cftypes.StackInstanceStatusOutdated, detail: cftypes.StackInstanceDetailedStatusFailed}
		st.remed.OrgBuckets = &orgbucket.Resolver{API: cf, StackSet: orgStackSet}
		id := st.autoFinding("attack/create-failed.txt")
		st.drain()
		r := st.rec(id)
		if r.Status != ledger.Failed || !st.exists("data-bucket", r.Key, r.VersionID) || !strings.Contains(r.Error, "quarantine-555555555555-"+genA) || !strings.Contains(r.Error, "macie-chatops doctor") {
			t.Fatalf("%s (%s)", r.Status, r.Error)
		}
		cf.id, cf.status, cf.detail = stackID(genB), cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded
		b := st.genBucket(genB)
		if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: ledger.Failed, To: ledger.Queued, Actor: "U0ALICE", Reason: "retried in Slack"}); err != nil {
			t.Fatal(err)
		}
		if err := st.remed.Run(st.ctx, jobs.Job{Kind: jobs.Remediate, FindingID: id, By: "U0ALICE", Attempt: ledger.NewToken()}); err != nil {
			t.Fatal(err)
		}
		if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != b {
			t.Fatalf("after Retry: %s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
		}
	})
}
