package handlers

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/macie-chatops/macie-chatops/functions/internal/orgbucket"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// A warm container still knows generation A (retained, and writable by the role: it grants
// every generation) after the account came back as B. The first attempt copies into A, then
// the source's delete is refused (AccessDenied: a bucket policy, an object lock the role may
// not read). That AccessDenied must not move the pin to B: A holds this attempt's copy, and a
// move of the pin leaves that copy unnamed in the ledger (and makes a second copy in B).
func TestAttackOrgAccessDeniedAfterTheCopyKeepsThePin(t *testing.T) {
	faults, fp := newS3Faults(t)
	st := newStackWith(t, testPolicy, fp)
	cf := &fakeStackSet{stackID: aws.String(stackID(genA))}
	res := &orgbucket.Resolver{API: cf, StackSet: orgStackSet}
	st.remed.OrgBuckets = res
	a := st.genBucket(genA)
	if _, err := res.Bucket(st.ctx, "555555555555", "us-east-1", "quarantine-555555555555"); err != nil {
		t.Fatal(err)
	}
	cf.set(aws.String(stackID(genB)), nil)
	b := st.genBucket(genB)
	id := st.autoFinding("attack/delete-denied.txt")
	faults.set("DeleteObject", "403")
	j := <-st.queue
	st.remed.Run(st.ctx, j)
	r := st.rec(id)
	if !st.exists("data-bucket", r.Key, r.VersionID) {
		t.Fatal("setup: the source was deleted")
	}
	if st.copies(a) != 1 {
		t.Fatalf("setup: %d copies in A", st.copies(a))
	}
	if r.QuarantineBucket != a || st.copies(b) != 0 {
		t.Fatalf("the copy in %s is not where the ledger points: %s pinned %q (%s); %d copies in %s", a, r.Status, r.QuarantineBucket, r.Error, st.copies(b), b)
	}
	// Once the delete is allowed, Retry finishes in A and records that copy.
	faults.set("", "")
	if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: r.Status, To: ledger.Queued, Actor: "U0ALICE", Reason: "retried in Slack"}); err != nil {
		t.Fatal(err)
	}
	retry := j
	retry.Attempt = ledger.NewToken() // Retry sends a new job
	if err := st.remed.Run(st.ctx, retry); err != nil {
		t.Fatal(err)
	}
	if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != a || st.copies(a) != 1 || st.copies(b) != 0 {
		t.Fatalf("after Retry: %s in %q (%s); %d in A, %d in B", r.Status, r.QuarantineBucket, r.Error, st.copies(a), st.copies(b))
	}
}

// The same job delivered twice at once to two containers that disagree on the generation (one
// warm with A, retained and writable; one cold that looks up B): the IN_PROGRESS write pins one
// bucket, the other delivery resumes into that same bucket: no copy lands in the generation the
// ledger does not name.
func TestAttackOrgTwoDeliveriesTwoGenerations(t *testing.T) {
	st, cf, warm := orgStack(t, genA)
	a := st.genBucket(genA)
	if _, err := warm.Bucket(st.ctx, "555555555555", "us-east-1", "quarantine-555555555555"); err != nil {
		t.Fatal(err)
	}
	cf.set(aws.String(stackID(genB)), nil)
	b := st.genBucket(genB)
	cold := *st.remed
	cold.OrgBuckets = &orgbucket.Resolver{API: cf, StackSet: orgStackSet}
	id := st.autoFinding("attack/two-deliveries.txt")
	j := <-st.queue
	errs := make(chan error, 2)
	for _, h := range []*Remediator{st.remed, &cold} {
		go func(h *Remediator) { errs <- h.Run(st.ctx, j) }(h)
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Logf("one delivery: %v (retried by SQS)", err)
		}
	}
	r := st.rec(id)
	if r.Status != ledger.Quarantined {
		if err := st.remed.Run(st.ctx, j); err != nil { // SQS redelivers the one that failed
			t.Fatal(err)
		}
		r = st.rec(id)
	}
	if r.Status != ledger.Quarantined || (r.QuarantineBucket != a && r.QuarantineBucket != b) || !st.exists(r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion) {
		t.Fatalf("%s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
	}
	other := a
	if r.QuarantineBucket == a {
		other = b
	}
	// Every copy is in the pinned bucket. (Two copies there, two versions of one key, is not of
	// this change: two deliveries at once do it in explicit mode too, the engine keeping a copy
	// it cannot prove is not another mover's.)
	if st.copies(other) != 0 || st.copies(r.QuarantineBucket) == 0 {
		t.Fatalf("copies split across generations: %d in the pinned %s, %d in %s", st.copies(r.QuarantineBucket), r.QuarantineBucket, st.copies(other), other)
	}
}
