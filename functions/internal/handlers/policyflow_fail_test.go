package handlers

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

const bpaFixture = "constructed-policy-S3BlockPublicAccessDisabled.json"

// startAuto creates a relaxed bucket and runs an AUTO block-public-access finding up to its
// queued job, which it returns (not yet run).
func startAuto(t *testing.T, st *stack, bucket, id string) (jobs.Job, string) {
	st.mustBucket(bucket, false)
	bpaRelaxed(st, bucket)
	before := st.setting(bucketfix.BlockPublicAccess, bucket)
	st.process(st.policyEvent(bpaFixture, bucket, id))
	select {
	case j := <-st.queue:
		if j.Kind != jobs.Remediate || j.FindingID != id {
			t.Fatalf("job %+v", j)
		}
		return j, before
	default:
		t.Fatalf("no job queued\n%s", st.logs)
	}
	return jobs.Job{}, ""
}

// runDying runs a job in its own goroutine, which the fixer hook may end mid-job (a process
// that died); it returns when the goroutine is gone.
func (st *stack) runDying(j jobs.Job) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.remed.Run(st.ctx, j)
	}()
	<-done
}

func fixedCount(r ledger.Record) int {
	n := 0
	for _, e := range r.History {
		if e.To == ledger.Fixed {
			n++
		}
	}
	return n
}

// undoAndCheck presses Undo and checks the bucket is back to before, exactly.
func undoAndCheck(t *testing.T, st *stack, id, bucket, before string) {
	t.Helper()
	st.clickOK("U0ALICE", slackmsg.ActionUndo, id)
	st.drain()
	if r := st.record(id); r.Status != ledger.Undone {
		t.Fatalf("undo: %s %q\n%s", r.Status, r.Error, st.logs)
	}
	if got := st.setting(bucketfix.BlockPublicAccess, bucket); got != before {
		t.Fatalf("undo restored %s, want the snapshot %s", got, before)
	}
}

func TestBucketFixJobRunsTwice(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	j, before := startAuto(t, st, "twice", "twice-1")
	for i := 0; i < 2; i++ {
		if err := st.remed.Run(st.ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	r := st.record("twice-1")
	if r.Status != ledger.Fixed || fixedCount(r) != 1 || !r.BucketFix.Changed {
		t.Fatalf("%s fixed %d times: %+v", r.Status, fixedCount(r), r.History)
	}
	assertFixed(t, bucketfix.BlockPublicAccess, st.setting(bucketfix.BlockPublicAccess, "twice"))
	undoAndCheck(t, st, "twice-1", "twice", before)
}

func TestBucketFixJobTwiceAtOnce(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	j, before := startAuto(t, st, "atonce", "atonce-1")
	other := j
	other.Attempt = "another-delivery" // e.g. a sweeper re-drive racing the original
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, job := range []jobs.Job{j, j, other} {
		wg.Add(1)
		go func(job jobs.Job) {
			defer wg.Done()
			<-start
			if err := st.remed.Run(st.ctx, job); err != nil {
				t.Error(err)
			}
		}(job)
	}
	close(start)
	wg.Wait()
	r := st.record("atonce-1")
	if r.Status != ledger.Fixed || fixedCount(r) != 1 || !r.BucketFix.Changed {
		t.Fatalf("%s fixed %d times: %+v", r.Status, fixedCount(r), r.History)
	}
	assertFixed(t, bucketfix.BlockPublicAccess, st.setting(bucketfix.BlockPublicAccess, "atonce"))
	undoAndCheck(t, st, "atonce-1", "atonce", before)
}

// The answer of Apply is lost after S3 took the write: the job records a failure, Retry finds the
// bucket fixed, and Undo still restores the state from before (the stored snapshot).
func TestBucketFixAnswerLostAfterApply(t *testing.T) {
	st, hook := newPolicyStack(t, policyFlowPolicy)
	j, before := startAuto(t, st, "lost", "lost-1")
	hook.loseAnswer = true
	if err := st.remed.Run(st.ctx, j); err != nil {
		t.Fatal(err)
	}
	r := st.record("lost-1")
	if r.Status != ledger.Failed || !strings.Contains(r.Error, "answer was lost") {
		t.Fatalf("%s %q", r.Status, r.Error)
	}
	if m := st.message("lost-1"); !strings.Contains(m.Text, "Fix failed") {
		t.Fatalf("message %q", m.Text)
	}
	st.clickOK("U0ALICE", slackmsg.ActionRetry, "lost-1")
	st.drain()
	r = st.record("lost-1")
	if r.Status != ledger.Fixed || !r.BucketFix.Changed || r.BucketFix.BeforeText == r.BucketFix.AfterText {
		t.Fatalf("after retry: %s %+v", r.Status, r.BucketFix)
	}
	undoAndCheck(t, st, "lost-1", "lost", before)
}

// The process dies after the snapshot is stored and before Apply: the redelivered job applies the
// stored plan.
func TestBucketFixCrashAfterSnapshot(t *testing.T) {
	st, hook := newPolicyStack(t, policyFlowPolicy)
	j, before := startAuto(t, st, "crash-snap", "crash-snap-1")
	hook.crash = "before-apply"
	st.runDying(j)
	r := st.record("crash-snap-1")
	if r.Status != ledger.InProgress || r.BucketFix.Plan == "" {
		t.Fatalf("after the crash: %s plan %q", r.Status, r.BucketFix.Plan)
	}
	if st.setting(bucketfix.BlockPublicAccess, "crash-snap") != before {
		t.Fatal("the bucket changed before Apply")
	}
	plan := r.BucketFix.Plan
	if err := st.remed.Run(st.ctx, j); err != nil { // SQS redelivers the job
		t.Fatal(err)
	}
	r = st.record("crash-snap-1")
	if r.Status != ledger.Fixed || r.BucketFix.Plan != plan {
		t.Fatalf("%s, plan rewritten: %v", r.Status, r.BucketFix.Plan != plan)
	}
	undoAndCheck(t, st, "crash-snap-1", "crash-snap", before)
}

// The process dies after Apply changed the bucket and before anything was recorded: the
// redelivered job must not snapshot the fixed state as "before"; Undo restores the original.
func TestBucketFixCrashAfterApply(t *testing.T) {
	st, hook := newPolicyStack(t, policyFlowPolicy)
	j, before := startAuto(t, st, "crash-apply", "crash-apply-1")
	hook.crash = "after-apply"
	st.runDying(j)
	if r := st.record("crash-apply-1"); r.Status != ledger.InProgress {
		t.Fatalf("after the crash: %s", r.Status)
	}
	assertFixed(t, bucketfix.BlockPublicAccess, st.setting(bucketfix.BlockPublicAccess, "crash-apply"))
	if err := st.remed.Run(st.ctx, j); err != nil {
		t.Fatal(err)
	}
	r := st.record("crash-apply-1")
	if r.Status != ledger.Fixed || !r.BucketFix.Changed {
		t.Fatalf("%s %+v", r.Status, r.BucketFix)
	}
	if _, ok := st.message("crash-apply-1").button(slackmsg.ActionUndo); !ok {
		t.Fatal("no Undo after a resumed fix")
	}
	undoAndCheck(t, st, "crash-apply-1", "crash-apply", before)
}

// The bucket changed between the finding's plan and the click: nothing is written, and the
// message says so; an Undo over a setting someone changed after the fix is refused the same way.
func TestBucketFixRefusedWhenTheBucketChanged(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	st.mustBucket("moved", false)
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "moved", "moved-1")) // REVIEW
	st.drain()
	// Someone sets a different, partial block after the plan was stored.
	bpaRelaxed(st, "moved")
	changed := st.setting(bucketfix.BlockPublicAccess, "moved")
	st.clickOK("U0ALICE", slackmsg.ActionFix, "moved-1")
	st.drain()
	r := st.record("moved-1")
	if r.Status != ledger.Blocked || !strings.Contains(r.Error, OutcomeChanged) {
		t.Fatalf("%s %q", r.Status, r.Error)
	}
	if st.setting(bucketfix.BlockPublicAccess, "moved") != changed {
		t.Fatal("a changed bucket was written")
	}
	if m := st.message("moved-1"); !strings.Contains(m.blocksText(), OutcomeChanged) {
		t.Fatalf("message: %s", m.blocksText())
	}

	// Undo refused over a changed setting: fixed, then someone turns one setting off again.
	j, _ := startAuto(t, st, "moved-after", "moved-after-1")
	st.remed.Run(st.ctx, j)
	if _, err := st.s3c.PutPublicAccessBlock(st.ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("moved-after"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
			IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	now := st.setting(bucketfix.BlockPublicAccess, "moved-after")
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "moved-after-1")
	st.drain()
	r = st.record("moved-after-1")
	if r.Status != ledger.Fixed || !strings.Contains(r.Error, "changed since the fix") || st.setting(bucketfix.BlockPublicAccess, "moved-after") != now {
		t.Fatalf("undo over a changed bucket: %s %q", r.Status, r.Error)
	}
}

// A bucket already fixed when the remediator looks: "already fixed, nothing changed", no Undo.
func TestBucketFixAlreadyFixed(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	st.mustBucket("done", false)
	if _, err := st.s3c.PutPublicAccessBlock(st.ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("done"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
			IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	st.process(st.policyEvent(bpaFixture, "done", "done-1"))
	st.drain()
	r := st.record("done-1")
	if r.Status != ledger.Fixed || r.BucketFix.Changed || r.BucketFix.Outcome != OutcomeAlreadyFixed {
		t.Fatalf("%s %+v", r.Status, r.BucketFix)
	}
	m := st.message("done-1")
	if _, ok := m.button(slackmsg.ActionUndo); ok || !strings.Contains(strings.ToLower(m.blocksText()), OutcomeAlreadyFixed) {
		t.Fatalf("message: %s", m.blocksText())
	}
}

// A stack without the bucket-settings role answers a bucket remediation clearly, changing nothing.
func TestBucketFixNotEnabled(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	st.remed.Buckets = nil
	j, before := startAuto(t, st, "off", "off-1")
	if err := st.remed.Run(st.ctx, j); err != nil {
		t.Fatal(err)
	}
	r := st.record("off-1")
	if r.Status != ledger.Failed || !strings.Contains(r.Error, "not enabled in this stack's policy") {
		t.Fatalf("%s %q", r.Status, r.Error)
	}
	if st.setting(bucketfix.BlockPublicAccess, "off") != before {
		t.Fatal("bucket changed")
	}
	if m := st.message("off-1"); !strings.Contains(m.blocksText(), "not enabled in this stack") {
		t.Fatalf("message: %s", m.blocksText())
	}
}

// The same bucket fixed Count times within Window: the next finding goes to REVIEW even though
// the policy says AUTO, and its message says why and who keeps changing the setting.
func TestBucketFixFlappingGoesToReview(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy) // flapping: count 2 within an hour
	st.mustBucket("flap", false)
	for i, id := range []string{"flap-1", "flap-2", "flap-3"} {
		bpaRelaxed(st, "flap")
		st.process(st.policyEvent(bpaFixture, "flap", id))
		st.drain()
		r := st.record(id)
		if i < 2 {
			if r.Action != "AUTO" || r.Status != ledger.Fixed {
				t.Fatalf("%s: %s %s %q", id, r.Action, r.Status, r.Reason)
			}
			continue
		}
		if r.Action != "REVIEW" || r.Status != ledger.Notified || !strings.Contains(r.Reason, "flapping") {
			t.Fatalf("third fix: %s %s %q", r.Action, r.Status, r.Reason)
		}
		text := st.message(id).blocksText()
		if !strings.Contains(text, "fixed 2 times") || !strings.Contains(text, "arn:aws:iam::123456789012:user/jdoe") {
			t.Fatalf("flapping message: %s", text)
		}
		if _, ok := st.message(id).button(slackmsg.ActionFix); !ok {
			t.Fatal("flapping REVIEW without Fix")
		}
	}
}

// Open sensitive-data findings in the same bucket are linked from the policy finding's message.
func TestPolicyMessageLinksDataFindings(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	st.mustBucket("linked", false)
	for _, id := range []string{"d1", "d2", "d3"} {
		if _, _, err := st.ledger.Create(st.ctx, ledger.Record{FindingID: id, AccountID: motoAccount, Bucket: "linked", Key: id, FindingType: "SensitiveData:S3Object/Personal"}); err != nil {
			t.Fatal(err)
		}
	}
	st.ledger.Transition(st.ctx, "d3", ledger.Change{From: ledger.Received, To: ledger.Dismissed, Actor: "U0ALICE"}) // closed: not counted
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "linked", "linked-1"))
	st.drain()
	if text := st.message("linked-1").blocksText(); !strings.Contains(text, "2 open sensitive-data findings in this bucket") {
		t.Fatalf("no link: %s", text)
	}
}

// The sweeper re-drives a stuck UNDOING record (its job was lost), and a lost inspect job.
func TestSweeperRedrivesBucketFixes(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	j, before := startAuto(t, st, "sweep", "sweep-1")
	st.remed.Run(st.ctx, j)
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "sweep-1")
	<-st.queue // the undo job is lost
	st.sweeper.Now = func() time.Time { return time.Now().Add(StaleAfter + time.Minute) }
	rep, err := st.sweeper.Run(st.ctx)
	if err != nil || rep.Redriven != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	st.drain()
	if r := st.record("sweep-1"); r.Status != ledger.Undone || st.setting(bucketfix.BlockPublicAccess, "sweep") != before {
		t.Fatalf("%s", r.Status)
	}

	// A REVIEW finding whose inspect job was lost gets it again.
	st.mustBucket("sweep-review", false)
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "sweep-review", "sweep-2"))
	<-st.queue // lost
	rep, err = st.sweeper.Run(st.ctx)
	if err != nil || rep.Redriven != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	st.drain()
	if r := st.record("sweep-2"); r.BucketFix.Plan == "" {
		t.Fatal("no plan after the re-driven inspect")
	}
	if _, ok := st.message("sweep-2").button(slackmsg.ActionFix); !ok {
		t.Fatal("no Fix button after the re-driven inspect")
	}
}

// update is a Macie update of a policy finding: same id, later updatedAt, a higher count, seen now.
func update(count int, at time.Time, actorARN string) func(map[string]any) {
	return func(d map[string]any) {
		d["count"] = count
		d["updatedAt"] = at.UTC().Format(time.RFC3339)
		pd := d["policyDetails"].(map[string]any)
		pd["action"].(map[string]any)["apiCallDetails"].(map[string]any)["lastSeen"] = at.UTC().Format(time.RFC3339Nano)
		if actorARN != "" {
			pd["actor"] = map[string]any{"userIdentity": map[string]any{"type": "AssumedRole", "assumedRole": map[string]any{"arn": actorARN, "accountId": motoAccount}}}
		}
	}
}

// Macie updates one policy finding per bucket and type (count+1) when the setting is relaxed
// again: after a fix that is a new occurrence with its own snapshot, fixed again under AUTO, and
// counted for flapping; our own role's change is not an occurrence; a duplicate adds nothing.
func TestPolicyFindingRelaxedAgainAfterFix(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy) // flapping after 2 fixes within an hour
	st.mustBucket("again", false)
	bpaRelaxed(st, "again")
	st.process(st.policyEvent(bpaFixture, "again", "again-1"))
	st.drain()
	if r := st.record("again-1"); r.Status != ledger.Fixed {
		t.Fatalf("first: %s", r.Status)
	}
	now := time.Now()

	// Our own role's call (an Undo elsewhere, say) reported by Macie: shown, not re-fixed.
	own := st.policyEventWith(bpaFixture, "again", "again-1", update(2, now.Add(time.Second), "arn:aws:sts::123456789012:assumed-role/macie-chatops-dev-bucket-settings/macie-chatops-again-1"))
	st.process(own)
	if _, err := st.ledger.Get(st.ctx, "again-1#2"); err == nil {
		t.Fatal("our own role's change became an occurrence")
	}

	bpaRelaxed(st, "again")
	before := st.setting(bucketfix.BlockPublicAccess, "again")
	st.process(st.policyEventWith(bpaFixture, "again", "again-1", update(3, now.Add(2*time.Second), "")))
	st.drain()
	r := st.record("again-1#3")
	if r.Status != ledger.Fixed || r.Action != "AUTO" || !r.BucketFix.Changed {
		t.Fatalf("second occurrence: %s %s %q", r.Status, r.Action, r.Reason)
	}
	if st.record("again-1").Status != ledger.Fixed {
		t.Fatal("the first occurrence changed")
	}

	bpaRelaxed(st, "again")
	ev := st.policyEventWith(bpaFixture, "again", "again-1", update(4, now.Add(3*time.Second), ""))
	st.process(ev)
	st.drain()
	msgs := st.slack.count()
	st.process(ev) // EventBridge delivers it again
	st.drain()
	r = st.record("again-1#4")
	if r.Action != "REVIEW" || r.Status != ledger.Notified || !strings.Contains(r.Reason, "flapping") {
		t.Fatalf("third occurrence: %s %s %q", r.Action, r.Status, r.Reason)
	}
	if st.slack.count() != msgs {
		t.Fatal("a duplicate delivery posted again")
	}
	// The third occurrence's own snapshot is the relaxed setting, and Fix then Undo restore it.
	st.clickOK("U0ALICE", slackmsg.ActionFix, "again-1#4")
	st.drain()
	undoAndCheck(t, st, "again-1#4", "again", before)
}

// Undo uses the approvers of the finding's account, re-checked when the job runs: an approver
// removed from the policy after the click changes nothing.
func TestBucketUndoApprovalRecheckedAtJobTime(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	j, _ := startAuto(t, st, "recheck", "recheck-1")
	st.remed.Run(st.ctx, j)
	fixed := st.setting(bucketfix.BlockPublicAccess, "recheck")
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "recheck-1")
	pol, err := policy.Parse([]byte(strings.Replace(policyFlowPolicy, "users: [U0ALICE]", "users: [U0BOB]", 1)), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.remed.Policy = pol // the policy changed between the click and the job
	st.drain()
	r := st.record("recheck-1")
	if r.Status != ledger.Fixed || !strings.Contains(r.Error, "may not approve") || st.setting(bucketfix.BlockPublicAccess, "recheck") != fixed {
		t.Fatalf("%s %q", r.Status, r.Error)
	}
	if _, ok := st.message("recheck-1").button(slackmsg.ActionUndo); !ok {
		t.Fatal("Undo not offered again")
	}
}

// A REVIEW inspection that could not read the bucket says why, offers no Fix, and the sweeper
// tries it again after StaleAfter.
func TestBucketInspectFailureIsShownAndRetried(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "not-yet", "late-1")) // the bucket does not exist yet
	st.drain()
	r := st.record("late-1")
	if r.BucketFix.Plan != "" || !strings.Contains(r.BucketFix.Outcome, "could not read") {
		t.Fatalf("%+v", r.BucketFix)
	}
	m := st.message("late-1")
	if _, ok := m.button(slackmsg.ActionFix); ok || !strings.Contains(m.blocksText(), "could not read") {
		t.Fatalf("message: %s", m.blocksText())
	}
	st.mustBucket("not-yet", false)
	st.sweeper.Now = func() time.Time { return time.Now().Add(StaleAfter + time.Minute) }
	if rep, err := st.sweeper.Run(st.ctx); err != nil || rep.Redriven != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	st.drain()
	if r := st.record("late-1"); r.BucketFix.Plan == "" {
		t.Fatalf("not inspected again: %+v", r.BucketFix)
	}
	if _, ok := st.message("late-1").button(slackmsg.ActionFix); !ok {
		t.Fatal("no Fix after the retried inspection")
	}
}
