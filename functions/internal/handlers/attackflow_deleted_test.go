package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// Attack: someone deletes the finding's Slack message (or the channel is archived). chat.update
// answers message_not_found on every call, a permanent error. The sweeper counts it and emits
// SweeperStuck every run, forever; nothing posted the finding's state again, so Slack never
// showed the outcome the ledger has (here QUARANTINED, with its Release button). Now
// message_not_found forgets the message, and the next run posts the state afresh.
func TestDeletedMessageIsPostedAgain(t *testing.T) {
	st := newStack(t)
	id, _ := st.reviewApproved("pii/deleted.csv")
	st.slack.setFault("500") // the remediator's update does not land…
	st.drain()
	st.slack.setFault("")
	st.slack.mu.Lock()
	st.slack.msgs = nil // …and the message is gone
	st.slack.mu.Unlock()
	var errs int
	for i := 1; i <= 3; i++ {
		rep := st.sweepAt(time.Duration(i) * SweepEvery)
		errs += rep.Errors
	}
	r := st.rec(id)
	ms := st.slack.all("data-bucket/pii/deleted.csv")
	t.Logf("record %s shown %q; %d sweeper errors in 3 runs; %d messages now", r.Status, r.ShownStatus, errs, len(ms))
	if r.Status != ledger.Quarantined || len(ms) != 1 || !strings.HasPrefix(ms[0].Text, "Quarantined") {
		t.Errorf("the finding's state is shown nowhere in Slack; the sweeper fails on it every %s", SweepEvery)
	}
	if errs != 1 {
		t.Errorf("%d sweeper errors; want 1 (the run that found the message gone)", errs)
	}
}
