package handlers

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Attack (fixed: the give-up warns that the release may have finished and offers Release, which finishes it): the release restored the object to its bucket (and removed the quarantine copy), then
// the remediator died before recording RELEASED, and the re-driven jobs never ran. After
// MaxRedrives the sweeper puts the record back to QUARANTINED ("release no progress"): the
// ledger and Slack say the data is in quarantine while it is readable in its bucket again.
func TestAttackReleaseGiveUpSaysQuarantined(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/released.csv")
	st.drain()
	v, ok := m.button(slackmsg.ActionRelease)
	if !ok {
		t.Fatalf("no Release: %q", m.Text)
	}
	st.click("U0ALICE", slackmsg.ActionRelease, v, m.Channel, m.TS)
	j := <-st.queue
	st.remed.Ledger = failTo{Store: st.ledger, to: ledger.Released}
	if err := st.remed.Run(st.ctx, j); err == nil {
		t.Fatal("the injected crash did not stop the release job")
	}
	st.remed.Ledger = st.ledger
	r := st.rec(id)
	copyThere := st.exists(r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion)
	t.Logf("after the crash: %s; source key readable: %v; copy still there: %v", r.Status, st.exists("data-bucket", "pii/released.csv", ""), copyThere)
	for i := 1; i <= MaxRedrives+1; i++ {
		st.sweepAt(time.Duration(i) * (StaleAfter + time.Minute))
		for len(st.queue) > 0 {
			<-st.queue
		}
	}
	r = st.rec(id)
	inPlace := st.exists("data-bucket", "pii/released.csv", "")
	t.Logf("record %s (%s); Slack %q; object readable in its bucket: %v", r.Status, r.Error, m.Text, inPlace)
	if !inPlace {
		t.Fatalf("setup: the crashed release did not restore the object")
	}
	// The give-up may leave QUARANTINED (it cannot see S3), but never silently: the note says the
	// release may have finished, and Release is offered again.
	if r.Status == ledger.Quarantined && !strings.Contains(r.Error, "release may have finished") {
		t.Errorf("the ledger says QUARANTINED while s3://data-bucket/pii/released.csv is readable again, with no warning: %q", r.Error)
	}
	if txt := st.slackText(m); !strings.Contains(txt, "release may have finished") {
		t.Errorf("the Slack message does not warn that the release may have finished: %q", txt)
	}
	v, ok = m.button(slackmsg.ActionRelease)
	if !ok {
		t.Fatalf("the message offers no Release again: %q", st.slackText(m))
	}
	st.click("U0ALICE", slackmsg.ActionRelease, v, m.Channel, m.TS)
	if n := st.drain(); n != 1 {
		t.Fatalf("Release sent %d jobs, want 1", n)
	}
	r = st.rec(id)
	t.Logf("after Release again: %s (%q); Slack %q", r.Status, r.Error, m.Text)
	if r.Status != ledger.Released || r.Error != "" {
		t.Errorf("Release again: %s (%q); want RELEASED", r.Status, r.Error)
	}
	out, err := st.s3c.GetObject(st.ctx, &s3.GetObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("pii/released.csv")})
	if err != nil {
		t.Fatalf("the object is not in its bucket after the release: %v", err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "name,ssn\npii/released.csv" {
		t.Errorf("the released object holds %q, not the original bytes", b)
	}
}
