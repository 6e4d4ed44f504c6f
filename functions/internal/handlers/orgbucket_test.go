package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/macie-chatops/macie-chatops/functions/internal/orgbucket"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// The organization-mode tests run the remediator with the real orgbucket.Resolver over a
// stand-in for CloudFormation (DescribeStackInstance); the move is real, on versitygw. The
// StackSet side against a real server (moto) is TestOrgQuarantineOnMoto.

const (
	orgStackSet = "macie-chatops-dev-member"
	genA        = "0a1b2c3d"
	genB        = "9f8e7d6c"
)

func stackID(gen string) string {
	return "arn:aws:cloudformation:us-east-1:555555555555:stack/StackSet-" + orgStackSet + "-" + gen + "/" + gen + "-0000-4000-8000-000000000001"
}

// fakeStackSet answers DescribeStackInstance for 555555555555 in us-east-1: the instance's
// StackId (none: StackInstanceNotFoundException), or err. It counts the calls.
type fakeStackSet struct {
	mu      sync.Mutex
	stackID *string
	err     error
	calls   int
}

func (f *fakeStackSet) set(id *string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stackID, f.err = id, err
}

func (f *fakeStackSet) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeStackSet) DescribeStackInstance(_ context.Context, in *cloudformation.DescribeStackInstanceInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStackInstanceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if aws.ToString(in.StackSetName) != orgStackSet || aws.ToString(in.StackInstanceAccount) != "555555555555" || aws.ToString(in.StackInstanceRegion) != "us-east-1" {
		return nil, errors.New("unexpected DescribeStackInstance request")
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.stackID == nil {
		return nil, &cftypes.StackInstanceNotFoundException{Message: aws.String("Stack Instance not found")}
	}
	return &cloudformation.DescribeStackInstanceOutput{StackInstance: &cftypes.StackInstance{StackId: f.stackID, Status: cftypes.StackInstanceStatusCurrent}}, nil
}

// orgStack is newStack in organization mode: 555555555555 is an organization account whose
// current instance has generation gen ("" = no instance yet).
func orgStack(t *testing.T, gen string) (*stack, *fakeStackSet, *orgbucket.Resolver) {
	st := newStack(t)
	cf := &fakeStackSet{}
	if gen != "" {
		cf.stackID = aws.String(stackID(gen))
	}
	res := &orgbucket.Resolver{API: cf, StackSet: orgStackSet}
	st.remed.OrgBuckets = res
	return st, cf, res
}

// genBucket creates the quarantine bucket of generation gen, versioned, as its stack would.
func (st *stack) genBucket(gen string) string {
	b := "quarantine-555555555555-" + gen
	if _, err := st.s3c.CreateBucket(st.ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		st.t.Fatal(err)
	}
	if _, err := st.s3c.PutBucketVersioning(st.ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		st.t.Fatal(err)
	}
	return b
}

// autoFinding sends an AUTO finding about key through the finding-handler (its job is queued).
func (st *stack) autoFinding(key string) string {
	st.t.Helper()
	if err := st.findings.Process(st.ctx, st.autoEvent(key)); err != nil {
		st.t.Fatal(err)
	}
	return "local-" + strings.NewReplacer("/", "-", " ", "-").Replace(key)
}

func (st *stack) copies(bucket string) int {
	st.t.Helper()
	vs, err := st.s3c.ListObjectVersions(st.ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		st.t.Fatal(err)
	}
	return len(vs.Versions)
}

// The destination is the account's current generation's bucket, pinned in the record when the
// move starts; a burst of findings costs one lookup.
func TestOrgQuarantineGoesToTheGenerationBucket(t *testing.T) {
	st, cf, _ := orgStack(t, genA)
	b := st.genBucket(genA)
	var ids []string
	for _, k := range []string{"keys/org-1.txt", "keys/org-2.txt", "keys/org-3.txt"} {
		ids = append(ids, st.autoFinding(k))
	}
	st.drain()
	for _, id := range ids {
		if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != b || !st.exists(b, r.QuarantineKey, r.QuarantineVersion) {
			t.Fatalf("%s: %s in %q (%s)", id, r.Status, r.QuarantineBucket, r.Error)
		}
	}
	if st.copies("quarantine-555555555555") != 0 {
		t.Fatal("a copy went to the policy's unsuffixed bucket")
	}
	if cf.n() != 1 {
		t.Fatalf("3 findings cost %d DescribeStackInstance calls, want 1", cf.n())
	}
}

// Without organization mode (OrgBuckets nil: local mode, the demo, explicit members) the
// destination is the policy's name, and nothing is pinned before the move.
func TestExplicitModeKeepsThePolicyBucket(t *testing.T) {
	st := newStack(t)
	id := st.autoFinding("keys/explicit.txt")
	st.drain()
	if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != "quarantine-555555555555" {
		t.Fatalf("%s in %q", r.Status, r.QuarantineBucket)
	}
}

// The lookup's answer is lost or throttled: the job is retried as it is (a batch item failure,
// SQS redelivers), the record stays QUEUED with nothing touched, and the redelivery quarantines.
func TestOrgLookupFailureIsRetried(t *testing.T) {
	for name, fault := range map[string]error{
		"throttled": &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"},
		"lost":      errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"),
	} {
		t.Run(name, func(t *testing.T) {
			st, cf, _ := orgStack(t, genA)
			b := st.genBucket(genA)
			id := st.autoFinding("keys/" + name + ".txt")
			cf.set(aws.String(stackID(genA)), fault)
			j := <-st.queue
			body, _ := json.Marshal(j)
			resp, err := st.remed.HandleSQS(st.ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body)}}})
			if err != nil || len(resp.BatchItemFailures) != 1 {
				t.Fatalf("want the job reported for retry: %+v %v", resp, err)
			}
			r := st.rec(id)
			if r.Status != ledger.Queued || !st.exists("data-bucket", r.Key, r.VersionID) || st.copies(b) != 0 {
				t.Fatalf("after a failed lookup: %s (%s)", r.Status, r.Error)
			}
			cf.set(aws.String(stackID(genA)), nil)
			if resp, _ := st.remed.HandleSQS(st.ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body)}}}); len(resp.BatchItemFailures) != 0 {
				t.Fatalf("redelivery: %+v", resp)
			}
			if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != b {
				t.Fatalf("after the redelivery: %s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
			}
		})
	}
}

// No instance for the account (outside the OUs, or the finding came before its stack): FAILED
// at once with a reason naming the account, the StackSet and doctor, in the ledger and in
// Slack, nothing touched; the sweeper re-drives it StaleAfter later, and once the instance is
// there the quarantine completes with no person.
func TestOrgNoInstanceFailsAndTheSweeperRedrives(t *testing.T) {
	st, cf, _ := orgStack(t, "")
	id := st.autoFinding("keys/early.txt")
	st.drain()
	r := st.rec(id)
	if r.Status != ledger.Failed || !st.exists("data-bucket", r.Key, r.VersionID) || r.QuarantineBucket != "" {
		t.Fatalf("%s, pinned %q", r.Status, r.QuarantineBucket)
	}
	msg := st.slack.find("data-bucket/keys/early.txt")
	if msg == nil {
		t.Fatal("no Slack message")
	}
	blocks, _ := json.Marshal(msg.Blocks)
	for _, want := range []string{"555555555555", orgStackSet, "macie-chatops doctor"} {
		if !strings.Contains(r.Error, want) || !strings.Contains(string(blocks), want) {
			t.Errorf("the reason does not name %q:\nledger: %s\nslack: %s", want, r.Error, blocks)
		}
	}
	if _, ok := msg.button("retry"); !ok {
		t.Error("the message offers no Retry")
	}
	if rep := st.sweepAt(StaleAfter - time.Minute); rep.Redriven != 0 || len(st.queue) != 0 {
		t.Fatalf("re-driven before StaleAfter: %+v", rep)
	}
	cf.set(aws.String(stackID(genA)), nil) // its stack arrives
	b := st.genBucket(genA)
	if rep := st.sweepAt(StaleAfter + time.Minute); rep.Redriven != 1 {
		t.Fatalf("sweeper: %+v", rep)
	}
	st.drain()
	if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != b {
		t.Fatalf("after the re-drive: %s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
	}
}

// An account that stays outside the OUs is re-driven MaxRedrives times, then left FAILED with
// its reason and Retry for a person: bounded work, and the sweeper stops.
func TestOrgNoInstanceRedrivesAreBounded(t *testing.T) {
	st, cf, _ := orgStack(t, "")
	id := st.autoFinding("keys/outside.txt")
	st.drain()
	redrives := 0
	for i := 0; i < MaxRedrives+2; i++ {
		rep := st.sweepAt(StaleAfter + time.Minute)
		redrives += rep.Redriven
		st.drain()
	}
	r := st.rec(id)
	if redrives != MaxRedrives || r.Status != ledger.Failed || !strings.Contains(r.Error, "macie-chatops doctor") {
		t.Fatalf("%d re-drives, %s (%s)", redrives, r.Status, r.Error)
	}
	if cf.n() != MaxRedrives+1 {
		t.Fatalf("%d lookups, want %d", cf.n(), MaxRedrives+1)
	}
}

// The instance exists but its stack failed to create (no StackId): FAILED naming its status.
func TestOrgInstanceWithoutStackFails(t *testing.T) {
	st, cf, _ := orgStack(t, "")
	cf.set(aws.String(""), nil)
	id := st.autoFinding("keys/failedstack.txt")
	st.drain()
	r := st.rec(id)
	if r.Status != ledger.Failed || !strings.Contains(r.Error, "CURRENT") || !strings.Contains(r.Error, `stack id ""`) {
		t.Fatalf("%s: %s", r.Status, r.Error)
	}
}

// A container that knew generation A after the account came back with generation B (its stack
// replaced; A's bucket gone): the move meets NoSuchBucket, forgets, looks up once more, and lands
// in B's bucket; the record's pin follows.
func TestOrgNoSuchBucketLooksUpAgain(t *testing.T) {
	st, cf, res := orgStack(t, genA)
	if _, err := res.Bucket(st.ctx, "555555555555", "us-east-1", "quarantine-555555555555"); err != nil { // a warm container
		t.Fatal(err)
	}
	cf.set(aws.String(stackID(genB)), nil)
	b := st.genBucket(genB)
	id := st.autoFinding("keys/returned.txt")
	st.drain()
	if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != b || !st.exists(b, r.QuarantineKey, r.QuarantineVersion) {
		t.Fatalf("%s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
	}
	if cf.n() != 2 {
		t.Fatalf("%d lookups, want 2", cf.n())
	}
}

// A move that copied to generation A's bucket and died before recording it resumes into A's
// bucket even though the account's instance is now B (the pin, not a lookup): it finds its
// copy and records it; a lookup would have sent it to B, found no copy and no source, and lost
// track of the data in A.
func TestOrgResumeKeepsThePinnedBucket(t *testing.T) {
	st, cf, res := orgStack(t, genA)
	a := st.genBucket(genA)
	id := st.autoFinding("keys/crash.txt")
	remed := *st.remed
	remed.Ledger = failTo{Store: st.ledger, to: ledger.Quarantined}
	j := <-st.queue
	if err := remed.Run(st.ctx, j); err == nil {
		t.Fatal("the injected crash did not stop the job")
	}
	if r := st.rec(id); r.Status != ledger.InProgress || r.QuarantineBucket != a || st.exists("data-bucket", r.Key, r.VersionID) {
		t.Fatalf("the crash left %s pinned to %q", r.Status, r.QuarantineBucket)
	}
	cf.set(aws.String(stackID(genB)), nil)
	st.genBucket(genB)
	res.Forget("555555555555", "us-east-1") // a new container
	calls := cf.n()
	if err := st.remed.Run(st.ctx, j); err != nil { // SQS redelivers
		t.Fatal(err)
	}
	r := st.rec(id)
	if r.Status != ledger.Quarantined || r.QuarantineBucket != a || !st.exists(a, r.QuarantineKey, r.QuarantineVersion) {
		t.Fatalf("resume: %s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
	}
	if cf.n() != calls || st.copies("quarantine-555555555555-"+genB) != 0 {
		t.Fatalf("the resume looked the bucket up (%d calls) or copied to B", cf.n()-calls)
	}
}

// A REVIEW finding approved by a person, FAILED for lack of a member stack and re-driven by the
// sweeper, stays that person's decision: the copy's decided-by tag and the message name the
// approver, not the sweeper, and the approval is re-checked against the current policy (an
// approver removed since is refused, nothing moved).
func TestOrgRedriveKeepsTheApprover(t *testing.T) {
	for _, removed := range []bool{false, true} {
		t.Run(map[bool]string{false: "approver stands", true: "approver removed"}[removed], func(t *testing.T) {
			st, cf, _ := orgStack(t, "")
			id, m := st.postReview("approved/ssn.csv")
			if r := st.clickVia(slackmsg.ActionRemediate, id, m, ""); r.Status != http.StatusOK {
				t.Fatalf("click: %d", r.Status)
			}
			st.drain()
			if r := st.rec(id); r.Status != ledger.Failed {
				t.Fatalf("without an instance: %s", r.Status)
			}
			cf.set(aws.String(stackID(genA)), nil)
			b := st.genBucket(genA)
			if removed {
				pol, err := policy.Parse([]byte(strings.Replace(testPolicy, "users: [U0ALICE]", "users: [U0BOB]", 1)), "test.yaml")
				if err != nil {
					t.Fatal(err)
				}
				st.remed.Policy = pol
			}
			if rep := st.sweepAt(StaleAfter + time.Minute); rep.Redriven != 1 {
				t.Fatalf("sweeper: %+v", rep)
			}
			st.drain()
			r := st.rec(id)
			if removed {
				if r.Status != ledger.Failed || !strings.Contains(r.Error, "U0ALICE") || !st.exists("data-bucket", r.Key, r.VersionID) || st.copies(b) != 0 {
					t.Fatalf("an approval withdrawn since was carried out by the re-drive: %s (%s)", r.Status, r.Error)
				}
				return
			}
			if r.Status != ledger.Quarantined || r.QuarantineBucket != b {
				t.Fatalf("%s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
			}
			tags, err := st.s3c.GetObjectTagging(st.ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(b), Key: aws.String(r.QuarantineKey), VersionId: aws.String(r.QuarantineVersion)})
			if err != nil {
				t.Fatal(err)
			}
			decided := ""
			for _, tg := range tags.TagSet {
				if aws.ToString(tg.Key) == quarantine.TagDecidedBy {
					decided = aws.ToString(tg.Value)
				}
			}
			if decided != "U0ALICE" || slackmsg.ApprovedBy(r) != "U0ALICE" {
				t.Fatalf("decided-by tag %q, ApprovedBy %q: want the approver", decided, slackmsg.ApprovedBy(r))
			}
			if msg := st.slack.find("data-bucket/approved/ssn.csv"); msg == nil || !strings.Contains(msg.Text+fmt.Sprint(msg.Blocks), "U0ALICE") {
				t.Fatal("the message does not name the approver")
			}
		})
	}
}

// deniedBucket is the engine, except that a move into bucket is refused as the new stack's
// quarantine role would refuse a retained bucket of an earlier generation (AccessDenied).
type deniedBucket struct {
	Mover
	bucket string
}

func (d deniedBucket) Move(ctx context.Context, req quarantine.Request) (*quarantine.Result, error) {
	if req.Settings.Bucket == d.bucket {
		return nil, quarantine.Refused(fmt.Errorf("read the versioning of quarantine bucket s3://%s: %w", d.bucket, &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}))
	}
	return d.Mover.Move(ctx, req)
}

// A warm container still knows generation A after the account came back as B, and A's bucket
// was retained (it exists) but the new role may not write it: a first attempt's AccessDenied
// looks up once more and moves to B. A resume (an earlier attempt may have copied into A)
// never leaves A on AccessDenied: it fails with A still pinned, for a person.
func TestOrgAccessDeniedOnARetainedBucket(t *testing.T) {
	for _, resume := range []bool{false, true} {
		t.Run(map[bool]string{false: "first attempt", true: "resume"}[resume], func(t *testing.T) {
			st, cf, res := orgStack(t, genA)
			a := st.genBucket(genA)
			if _, err := res.Bucket(st.ctx, "555555555555", "us-east-1", "quarantine-555555555555"); err != nil {
				t.Fatal(err)
			}
			cf.set(aws.String(stackID(genB)), nil)
			b := st.genBucket(genB)
			st.remed.Engine = deniedBucket{Mover: st.remed.Engine, bucket: a}
			id := st.autoFinding("keys/retained.txt")
			j := <-st.queue
			if resume {
				// The job started (A pinned) and its process died before the move finished.
				if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator, Reason: "job started",
					Mutate: func(r *ledger.Record) { r.QuarantineBucket = a }}); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.remed.Run(st.ctx, j); err != nil {
				t.Fatal(err)
			}
			r := st.rec(id)
			if !resume && (r.Status != ledger.Quarantined || r.QuarantineBucket != b) {
				t.Fatalf("first attempt: %s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
			}
			if resume && (r.Status != ledger.Failed || r.QuarantineBucket != a || !strings.Contains(r.Error, "AccessDenied") || st.copies(b) != 0) {
				t.Fatalf("resume: %s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
			}
		})
	}
}
