package handlers

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// Attack (fixed: the run whose nonce is not in the record resumes): SQS delivers the same job message twice at once (same attempt token). Both read
// QUEUED; the second one's QUEUED → IN_PROGRESS finds the token already in the record and takes
// it as its own landed write, so both run the move as a first attempt: two copies in
// quarantine, one recorded. Release later restores from the recorded one and removes it; the
// other copy of the sensitive object stays in quarantine, recorded nowhere.
func TestAttackSameJobTwiceAtOnceCopiesTwice(t *testing.T) {
	st := newStack(t)
	id, _ := st.reviewApproved("pii/dup.csv")
	j := <-st.queue
	j.Attempt = "T"
	delA, stepB := newGate(), newGate()
	st.remed.Engine = quarantine.New(holdClients{Clients: &quarantine.StaticClients{Endpoint: st.s3.Endpoint,
		Accounts: map[string]aws.Credentials{"555555555555": {AccessKeyID: st.s3.AccessKey, SecretAccessKey: st.s3.SecretKey}}},
		run: "A", gate: delA, del: true}, quarantine.Options{})
	st.remed.Ledger = holdLedger{Store: st.ledger, run: "B", to: ledger.InProgress, gate: stepB}

	doneB := make(chan error, 1)
	go func() { doneB <- st.remed.Run(withRun(st.ctx, "B"), j) }()
	<-stepB.reached // B read QUEUED
	doneA := make(chan error, 1)
	go func() { doneA <- st.remed.Run(withRun(st.ctx, "A"), j) }()
	<-delA.reached // A copied and verified; about to delete
	close(stepB.release)
	errB := <-doneB
	close(delA.release)
	errA := <-doneA
	t.Logf("B: %v; A: %v", errB, errA)
	r := st.rec(id)
	vs, err := st.s3c.ListObjectVersions(st.ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("quarantine-555555555555")})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range vs.Versions {
		ids = append(ids, aws.ToString(v.VersionId))
	}
	t.Logf("record %s, copy %s; quarantine versions %v", r.Status, r.QuarantineVersion, ids)
	if len(ids) != 1 {
		t.Errorf("one job delivered twice made %d copies in quarantine; the record knows %s only", len(ids), r.QuarantineVersion)
	}
}
