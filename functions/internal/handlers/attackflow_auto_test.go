package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// failAnnotates is the real ledger whose next n annotations fail without writing.
type failAnnotates struct {
	ledger.Store
	n *int
}

func (l failAnnotates) Annotate(ctx context.Context, id string, m func(*ledger.Record)) (ledger.Record, error) {
	if *l.n > 0 {
		*l.n--
		return ledger.Record{}, errors.New("DynamoDB UpdateItem: InternalServerError (injected)")
	}
	return l.Store.Annotate(ctx, id, m)
}

// Attack: an AUTO finding's job is queued, then the write recording "job sent" fails, so the
// redelivered event sends a second job. Two jobs, one move: one copy in quarantine, the source
// version gone, QUARANTINED, one Slack message that says so, and the sweeper has nothing to do.
func TestAutoJobSentWriteLostStillOneMove(t *testing.T) {
	st := newStack(t)
	ev := st.autoEvent("keys/twojobs.txt")
	n := 1
	st.findings.Ledger = failAnnotates{Store: st.ledger, n: &n}
	if err := st.findings.Process(st.ctx, ev); err == nil {
		t.Fatal("the injected failure did not stop the delivery")
	}
	st.findings.Ledger = st.ledger
	if err := st.findings.Process(st.ctx, ev); err != nil { // SQS redelivers the event
		t.Fatal(err)
	}
	if len(st.queue) != 2 {
		t.Fatalf("%d jobs (the attack needs the duplicate)", len(st.queue))
	}
	st.drain()
	id := "local-keys-twojobs.txt"
	r := st.rec(id)
	vs, err := st.s3c.ListObjectVersions(st.ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("quarantine-555555555555")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != ledger.Quarantined || len(vs.Versions) != 1 || st.exists("data-bucket", "keys/twojobs.txt", r.VersionID) {
		t.Fatalf("record %s, %d versions in quarantine", r.Status, len(vs.Versions))
	}
	ms := st.slack.all("data-bucket/keys/twojobs.txt")
	if len(ms) != 1 || !strings.HasPrefix(ms[0].Text, "Quarantined") {
		t.Fatalf("%d messages", len(ms))
	}
	if rep := st.sweepAt(StaleAfter * 2); rep.Resumed+rep.Redriven+rep.Rerendered+rep.Errors != 0 {
		t.Fatalf("sweeper: %+v", rep)
	}
}
