//go:build attack

package handlers

import (
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Attack: the release restored the object to its bucket (and removed the quarantine copy), then
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
	if r.Status == ledger.Quarantined && inPlace {
		t.Errorf("the ledger and Slack say QUARANTINED while s3://data-bucket/pii/released.csv is readable again")
	}
}
