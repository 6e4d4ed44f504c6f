package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Attack (fixed: the give-up marks MayHaveCopy; Dismiss is refused; Retry resumes and records the copy): the move copied and deleted the source, then the remediator died before recording it,
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
	retry, retryOK := m.button(slackmsg.ActionRetry)
	t.Logf("record %s, copy recorded %q, may have copy %v, error %q; Slack %q, Dismiss offered %v", r.Status, r.QuarantineKey, r.MayHaveCopy, r.Error, m.Text, dismiss)
	if r.Status != ledger.Failed || !r.MayHaveCopy {
		t.Fatalf("the give-up of an IN_PROGRESS record: %s, MayHaveCopy %v; want FAILED marked as may have a copy", r.Status, r.MayHaveCopy)
	}
	if dismiss || !retryOK {
		t.Errorf("the FAILED message offers Dismiss %v, Retry %v; want Retry only", dismiss, retryOK)
	}
	if txt := st.slackText(m); !strings.Contains(txt, "copy may exist") {
		t.Errorf("the FAILED message does not say a copy may exist: %q", txt)
	}
	// A Dismiss click (an old message, a replay) is refused.
	st.click("U0ALICE", slackmsg.ActionDismiss, id, m.Channel, m.TS)
	if r = st.rec(id); r.Status != ledger.Failed {
		t.Fatalf("after a Dismiss click: %s; the only copy s3://quarantine-555555555555/%s would be recorded nowhere", r.Status, copyKey)
	}
	// Retry re-sends the job; its resume finds the copy and records it.
	st.remed.Ledger = st.ledger
	st.click("U0ALICE", slackmsg.ActionRetry, retry, m.Channel, m.TS)
	if n := st.drain(); n != 1 {
		t.Fatalf("Retry sent %d jobs, want 1", n)
	}
	r = st.rec(id)
	t.Logf("after Retry: %s, copy %s/%s@%s, may have copy %v; Slack %q", r.Status, r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion, r.MayHaveCopy, m.Text)
	if r.Status != ledger.Quarantined || r.QuarantineKey != copyKey || r.QuarantineVersion == "" || r.MayHaveCopy {
		t.Errorf("after Retry: %s, copy %q@%q, MayHaveCopy %v; want QUARANTINED with the copy %s recorded", r.Status, r.QuarantineKey, r.QuarantineVersion, r.MayHaveCopy, copyKey)
	}
	if !st.exists(r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion) {
		t.Errorf("the recorded copy is not in quarantine")
	}
	if _, ok := m.button(slackmsg.ActionRelease); !ok {
		t.Errorf("the QUARANTINED message offers no Release: %q", m.Text)
	}
}
