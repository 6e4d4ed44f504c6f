package handlers

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// The upgrade to generations, at the remediator: a move started by the remediator from before
// generations (organization mode named the policy's bucket, without a generation, and pinned
// nothing) copied into that bucket, deleted the source, and its process died before the ledger
// write. The upgrade deploys the new remediator; SQS redelivers the job. The resume must look
// for its copy where that move made it, and record it: the ledger must know where the data is.
func TestAttackOrgResumeOfAMoveStartedBeforeGenerations(t *testing.T) {
	st, _, res := orgStack(t, genA)
	a := st.genBucket(genA)
	const pre = "quarantine-555555555555" // the policy's name: the pre-generation bucket, retained
	id := st.autoFinding("attack/upgrade.txt")
	j := <-st.queue
	old := *st.remed
	old.OrgBuckets = nil // the remediator from before generations
	old.Ledger = failTo{Store: st.ledger, to: ledger.Quarantined}
	if err := old.Run(st.ctx, j); err == nil {
		t.Fatal("the injected crash did not stop the job")
	}
	r := st.rec(id)
	copyKey := quarantine.DestKey(quarantine.Object{AccountID: r.AccountID, Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionID})
	if r.Status != ledger.InProgress || r.QuarantineBucket != "" || st.exists("data-bucket", r.Key, r.VersionID) || !st.exists(pre, copyKey, "") {
		t.Fatalf("setup: %s pinned %q", r.Status, r.QuarantineBucket)
	}
	res.Forget("555555555555", "us-east-1")
	if err := st.remed.Run(st.ctx, j); err != nil { // the new remediator, redelivered
		t.Fatal(err)
	}
	r = st.rec(id)
	if r.Status != ledger.Quarantined || r.QuarantineBucket != pre || !st.exists(pre, r.QuarantineKey, r.QuarantineVersion) {
		t.Fatalf("the copy in %s is not what the ledger names: %s in %q (%s); %d copies in %s", pre, r.Status, r.QuarantineBucket, r.Error, st.copies(a), a)
	}
}

// The same upgrade, where the move started before generations died before copying and the
// policy's bucket without a generation is gone (deleted by hand after the update, or never
// retained): the resume meets NoSuchBucket there, looks up once more and lands in the current
// generation, pinning it.
func TestAttackOrgResumeBeforeGenerationsWithoutItsBucket(t *testing.T) {
	st, _, _ := orgStack(t, genA)
	a := st.genBucket(genA)
	const pre = "quarantine-555555555555"
	if _, err := st.s3c.DeleteBucket(st.ctx, &s3.DeleteBucketInput{Bucket: aws.String(pre)}); err != nil {
		t.Fatal(err)
	}
	id := st.autoFinding("attack/upgrade-nobucket.txt")
	j := <-st.queue
	// The remediator from before generations wrote IN_PROGRESS (no pin) and died.
	if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator, Reason: "job started",
		Token: jobToken(j, ledger.InProgress)}); err != nil {
		t.Fatal(err)
	}
	if err := st.remed.Run(st.ctx, j); err != nil {
		t.Fatalf("the redelivery: %v", err)
	}
	if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != a {
		t.Fatalf("%s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
	}
}
