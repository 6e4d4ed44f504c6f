package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// holdAnnotate is the real ledger; the first annotation made by the named run waits at the gate.
type holdAnnotate struct {
	ledger.Store
	run  string
	gate *gate
}

func (l holdAnnotate) Annotate(ctx context.Context, id string, m func(*ledger.Record)) (ledger.Record, error) {
	if runOf(ctx) == l.run {
		l.gate.hold()
	}
	return l.Store.Annotate(ctx, id, m)
}

// Attack (fixed: a writer that finds another rendering recorded since its read clears the shown
// state, so the sweeper re-renders): two writers of one Slack message, the sweeper and the remediator, each update Slack
// and then record what the message shows (ShownStatus). Nothing orders the pair: the sweeper
// re-drives a stale IN_PROGRESS and re-renders it as "stalled"; the re-driven job finishes at
// once and shows QUARANTINED. When Slack applies the sweeper's (older) update last but the
// remediator records its ShownStatus last, the ledger says the message shows QUARANTINED while
// Slack shows "stalled" with Retry and no Release, and the sweeper sees no drift, ever.
func TestAttackShownStatusRace(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/shown.csv")
	<-st.queue // the job dies
	if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator}); err != nil {
		t.Fatal(err)
	}
	stalled, recorded := newGate(), newGate()
	st.slack.mu.Lock()
	st.slack.onUpdate = func(text string) {
		if strings.Contains(text, "stalled") {
			stalled.hold()
		}
	}
	st.slack.mu.Unlock()
	st.remed.Ledger = holdAnnotate{Store: st.ledger, run: "R", gate: recorded}

	at := time.Now().Add(StaleAfter + time.Minute)
	st.sweeper.Now = func() time.Time { return at }
	swept := make(chan SweepReport, 1)
	go func() { rep, _ := st.sweeper.Run(withRun(st.ctx, "S")); swept <- rep }()
	<-stalled.reached // the sweeper sent the job again; its "stalled" update is on its way
	j := <-st.queue
	remediated := make(chan error, 1)
	go func() { remediated <- st.remed.Run(withRun(st.ctx, "R"), j) }()
	<-recorded.reached     // Slack shows QUARANTINED; the remediator is about to record it
	close(stalled.release) // the sweeper's older update lands, and is recorded
	rep := <-swept
	close(recorded.release)
	if err := <-remediated; err != nil {
		t.Fatal(err)
	}
	t.Logf("first sweep: %+v", rep)
	st.sweepAt(StaleAfter + 2*time.Minute)
	st.sweepAt(StaleAfter + 10*time.Minute)
	r := st.rec(id)
	_, release := m.button(slackmsg.ActionRelease)
	t.Logf("ledger %s (shown %s); Slack %q, Release offered %v", r.Status, r.ShownStatus, m.Text, release)
	if r.Status != ledger.Quarantined || !strings.HasPrefix(m.Text, "Quarantined") || !release {
		t.Errorf("the ledger says %s and that the message shows %s; Slack shows %q (Release offered: %v), and the sweeper sees no drift",
			r.Status, r.ShownStatus, m.Text, release)
	}
}
