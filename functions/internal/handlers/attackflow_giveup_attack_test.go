//go:build attack

package handlers

import (
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Attack: the move copied and deleted the source, then the remediator died before recording it,
// and the re-driven jobs never got to run (the remediator is broken, throttled, or every job
// dies the same way). After MaxRedrives the sweeper hands the record to a person as FAILED "no
// progress" - without the copy's location, so its message offers Dismiss, and a Dismiss makes
// the finding final while the only copy of the data sits unrecorded in quarantine (and expires
// with the bucket's retention). README: "once a copy exists, every outcome records where it is".
func TestAttackSweeperGivesUpForgetsTheCopy(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/gaveup.csv")
	j := <-st.queue
	st.remed.Ledger = failTo{Store: st.ledger, to: ledger.Quarantined}
	if err := st.remed.Run(st.ctx, j); err == nil {
		t.Fatal("the injected crash did not stop the job")
	}
	r := st.rec(id)
	copyKey := quarantine.DestKey(quarantine.Object{AccountID: r.AccountID, Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionID})
	if r.Status != ledger.InProgress || st.exists("data-bucket", "pii/gaveup.csv", r.VersionID) || !st.exists("quarantine-555555555555", copyKey, "") {
		t.Fatalf("setup: %s, source still there or no copy", r.Status)
	}
	for i := 1; i <= MaxRedrives+1; i++ {
		st.sweepAt(time.Duration(i) * (StaleAfter + time.Minute))
		for len(st.queue) > 0 {
			<-st.queue // the re-driven job dies too
		}
	}
	r = st.rec(id)
	_, dismiss := m.button(slackmsg.ActionDismiss)
	t.Logf("record %s, copy recorded %q, error %q; Slack %q, Dismiss offered %v", r.Status, r.QuarantineKey, r.Error, m.Text, dismiss)
	if r.Status == ledger.Failed && !r.HasCopy() {
		st.click("U0ALICE", slackmsg.ActionDismiss, id, m.Channel, m.TS)
		r = st.rec(id)
		t.Errorf("after a Dismiss click: %s; the only copy s3://quarantine-555555555555/%s is recorded nowhere and the source version is gone", r.Status, copyKey)
	}
}
