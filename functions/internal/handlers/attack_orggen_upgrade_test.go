package handlers

import (
	"testing"

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
