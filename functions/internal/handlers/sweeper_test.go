package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// reviewApproved posts a REVIEW finding and clicks Remediate; the job is left in the queue.
func (st *stack) reviewApproved(key string) (string, *slackMsg) {
	ev := st.upload("event-eventbridge-csv.json", key, []byte("name,ssn\n"+key), nil)
	if err := st.findings.Process(st.ctx, ev); err != nil {
		st.t.Fatal(err)
	}
	m := st.slack.find("data-bucket/" + key)
	id, _ := m.button(slackmsg.ActionRemediate)
	st.click("U0ALICE", slackmsg.ActionRemediate, id, m.Channel, m.TS)
	return id, m
}

// Item 6: a job that died (it reached the DLQ, or the remediator was killed mid-move) leaves the
// record IN_PROGRESS. Nothing happens while it may still be running; once stale, its message
// offers Retry and the sweeper sends the job again; the move finishes.
func TestSweeperRedrivesAJobThatDied(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/died.csv")
	<-st.queue // the job dies
	if _, err := st.ledger.Transition(st.ctx, id, ledger.Change{From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator}); err != nil {
		t.Fatal(err)
	}
	if rep := st.sweepAt(time.Minute); rep.Redriven != 0 || len(st.queue) != 0 {
		t.Fatalf("a fresh IN_PROGRESS was re-driven: %+v", rep)
	}
	rep := st.sweepAt(StaleAfter + time.Minute)
	if rep.Redriven != 1 || len(st.queue) != 1 {
		t.Fatalf("stale IN_PROGRESS: %+v, %d jobs", rep, len(st.queue))
	}
	if _, ok := m.button(slackmsg.ActionRetry); !ok || !strings.Contains(m.Text, "stalled") {
		t.Fatalf("a stalled record's message offers no Retry: %q", m.Text)
	}
	if r := st.rec(id); r.ShownStatus != ledger.InProgress+":STALLED" || r.Redrives != 1 {
		t.Fatalf("record %s shown %q redrives %d", r.Status, r.ShownStatus, r.Redrives)
	}
	// A second sweeper run (or a second sweeper at once) does not send it again.
	if rep := st.sweepAt(StaleAfter + 2*time.Minute); rep.Redriven != 0 || len(st.queue) != 1 {
		t.Fatalf("re-driven twice: %+v", rep)
	}
	st.drain()
	if r := st.rec(id); r.Status != ledger.Quarantined || !strings.HasPrefix(m.Text, "Quarantined") || st.exists("data-bucket", "pii/died.csv", r.VersionID) {
		t.Fatalf("after the re-drive: %s, %q", r.Status, m.Text)
	}
	if !strings.Contains(st.logs.String(), `"msg":"sweep done"`) || !strings.Contains(st.logs.String(), `"SweeperFixed":1`) {
		t.Fatal("the sweeper reported nothing (log line and EMF metric)")
	}
}

// Item 6: Retry on a stalled message sends the job again at once, without a transition.
func TestRetryOnAStalledRecord(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/stalled.csv")
	<-st.queue // QUEUED, and its job is lost
	st.actions.Now = func() time.Time { return time.Now().Add(time.Minute) }
	st.click("U0ALICE", slackmsg.ActionRetry, id, m.Channel, m.TS)
	if len(st.queue) != 0 || !strings.Contains(st.slack.lastEphemeral(), "QUEUED") {
		t.Fatalf("Retry on a fresh QUEUED record was accepted: %q", st.slack.lastEphemeral())
	}
	st.actions.Now = func() time.Time { return time.Now().Add(StaleAfter + time.Minute) }
	st.click("U0ALICE", slackmsg.ActionRetry, id, m.Channel, m.TS)
	if len(st.queue) != 1 {
		t.Fatalf("Retry on a stale record sent %d jobs", len(st.queue))
	}
	st.drain()
	if r := st.rec(id); r.Status != ledger.Quarantined {
		t.Fatalf("%s", r.Status)
	}
}

// Item 7: the QUARANTINED write landed but the message was not updated (chat.update failed, or
// the process died right after the write). The record says what the message shows; the sweeper
// re-renders it, with the Release button.
func TestSweeperFixesAStaleMessage(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/stale-msg.csv")
	st.slack.setFault("500")
	st.drain()
	r := st.rec(id)
	if r.Status != ledger.Quarantined || r.ShownStatus != ledger.Queued || strings.HasPrefix(m.Text, "Quarantined") {
		t.Fatalf("setup: %s shown %q, message %q", r.Status, r.ShownStatus, m.Text)
	}
	if rep := st.sweepAt(0); rep.Errors != 1 || rep.Rerendered != 0 {
		t.Fatalf("with Slack still down: %+v", rep)
	}
	st.slack.setFault("")
	rep := st.sweepAt(0)
	if rep.Rerendered != 1 || !strings.HasPrefix(m.Text, "Quarantined") {
		t.Fatalf("%+v, %q", rep, m.Text)
	}
	if _, ok := m.button(slackmsg.ActionRelease); !ok {
		t.Fatal("no Release button after the sweep")
	}
	if r := st.rec(id); r.ShownStatus != ledger.Quarantined {
		t.Fatalf("shown %q", r.ShownStatus)
	}
}

// Item 6: a record that re-drives do not move is handed to a person: FAILED, with why and Retry.
func TestSweeperGivesUpAfterMaxRedrives(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/hopeless.csv")
	for i := 0; i < MaxRedrives; i++ {
		<-st.queue // every job dies
		st.sweepAt(time.Duration(i+1) * (StaleAfter + time.Minute))
	}
	<-st.queue
	rep := st.sweepAt(time.Duration(MaxRedrives+1) * (StaleAfter + time.Minute))
	r := st.rec(id)
	if rep.GaveUp != 1 || r.Status != ledger.Failed || !strings.Contains(r.Error, "re-drives") {
		t.Fatalf("%+v: %s %q", rep, r.Status, r.Error)
	}
	if _, ok := m.button(slackmsg.ActionRetry); !ok || !strings.HasPrefix(m.Text, "Remediation failed") {
		t.Fatalf("message %q", m.Text)
	}
	if !strings.Contains(st.logs.String(), `"SweeperStuck":1`) {
		t.Fatal("no SweeperStuck metric")
	}
}

// Item 6: `ledger redrive` (the operator's way) on a stuck RELEASING record sends the release job.
func TestRedriveOneFinding(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/redrive.csv")
	st.drain()
	st.click("U0ALICE", slackmsg.ActionRelease, id, m.Channel, m.TS)
	<-st.queue // the release job dies
	out, err := st.sweeper.Redrive(st.ctx, id, "operator")
	if err != nil || !strings.Contains(out, "release job sent again") || len(st.queue) != 1 {
		t.Fatalf("%q %v", out, err)
	}
	st.drain()
	if r := st.rec(id); r.Status != ledger.Released || !st.exists("data-bucket", "pii/redrive.csv", "") {
		t.Fatalf("%s", r.Status)
	}
	if _, err := st.sweeper.Redrive(st.ctx, id, "operator"); err == nil || !strings.Contains(err.Error(), "nothing to re-drive") {
		t.Fatalf("redrive of a RELEASED record: %v", err)
	}
}

// TestSweeperResendsALostDigestDecision: an approver's digest click is recorded in the ledger,
// but its job is lost. The sweeper sends the job again once the decision is older than Grace
// (not before), the members are decided as recorded, and a later run sends nothing more.
func TestSweeperResendsALostDigestDecision(t *testing.T) {
	st, clk, _ := digestStack(t)
	st.burst(5, "lost", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	d := st.slack.find("findings in bucket data-bucket")
	seen, _ := d.button(slackmsg.ActionRemediateAll)
	id, cutoff, ok := slackmsg.ParseDigestValue(seen)
	if !ok || cutoff < 1 {
		t.Fatalf("digest rendering: %q", seen)
	}
	if r := st.actions.Handle(st.ctx, signed(clickPayload("U0ALICE", d.Channel, d.TS, map[string]any{"type": "button", "action_id": slackmsg.ActionRemediateAll, "value": seen}))); r.Status != 200 {
		t.Fatalf("click: %d", r.Status)
	}
	<-st.queue // the digest job is lost
	if rep := st.sweepAt(Grace - time.Minute); rep.Redriven != 0 || len(st.queue) != 0 {
		t.Fatalf("a fresh decision was re-sent: %+v", rep)
	}
	if rep := st.sweepAt(Grace + time.Minute); rep.Redriven != 1 || len(st.queue) != 1 {
		t.Fatalf("the lost digest job was not re-sent: %+v, %d jobs", rep, len(st.queue))
	}
	st.drain()
	if got := len(st.digestMembers(id)[ledger.Quarantined]); got != cutoff {
		t.Fatalf("%d of the %d shown members quarantined after the re-sent job", got, cutoff)
	}
	if rep := st.sweepAt(Grace + 2*time.Minute); rep.Redriven != 0 || len(st.queue) != 0 {
		t.Fatalf("an applied decision was sent again: %+v", rep)
	}
}
