package handlers

import (
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// A REVIEW finding's inspect job is delivered again (twice at once, and once more later) after
// the bucket changed: the snapshot the approver was shown is never overwritten, so Fix applies,
// and Undo restores, exactly what the message showed.
func TestAttackInspectRedeliveredAfterTheBucketChanged(t *testing.T) {
	st, _ := newAttackStack(t)
	st.mustBucket("reinspect", false)
	bpaRelaxed(st, "reinspect")
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "reinspect", "reinspect-1")) // REVIEW
	j := <-st.queue
	if j.Kind != jobs.Inspect {
		t.Fatalf("job %+v", j)
	}
	if err := st.remed.Run(st.ctx, j); err != nil {
		t.Fatal(err)
	}
	shown := st.record("reinspect-1").BucketFix
	// The bucket changes; the inspect job is delivered twice at once, then once more.
	if _, err := st.s3c.DeletePublicAccessBlock(st.ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("reinspect")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); st.remed.Run(st.ctx, j) }()
	}
	wg.Wait()
	st.remed.Run(st.ctx, j)
	if got := st.record("reinspect-1").BucketFix; got.Plan != shown.Plan || got.BeforeText != shown.BeforeText {
		t.Fatalf("the shown snapshot was overwritten: %q → %q", shown.BeforeText, got.BeforeText)
	}
	// Fix is refused (the bucket is not what the message showed), and writes nothing.
	st.clickOK("U0ALICE", slackmsg.ActionFix, "reinspect-1")
	st.drain()
	if r := st.record("reinspect-1"); r.Status != ledger.Blocked || st.setting(bucketfix.BlockPublicAccess, "reinspect") != "absent" {
		t.Fatalf("%s, bucket %s", r.Status, st.setting(bucketfix.BlockPublicAccess, "reinspect"))
	}
}

// Two Undo jobs for the same fix at once (a double delivery, or a Retry racing the first): the
// snapshot is restored once, UNDONE is recorded once, and the bucket is exactly the snapshot.
func TestAttackUndoJobTwiceAtOnce(t *testing.T) {
	st, _ := newAttackStack(t)
	before := fixedAuto(t, st, "undo-twice", "undo-twice-1")
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "undo-twice-1")
	j := <-st.queue
	other := j
	other.Attempt = "another-delivery"
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
	r := st.record("undo-twice-1")
	n := 0
	for _, e := range r.History {
		if e.To == ledger.Undone {
			n++
		}
	}
	if r.Status != ledger.Undone || n != 1 || st.setting(bucketfix.BlockPublicAccess, "undo-twice") != before {
		t.Fatalf("%s, undone %d times, bucket %s (want %s)", r.Status, n, st.setting(bucketfix.BlockPublicAccess, "undo-twice"), before)
	}
}
