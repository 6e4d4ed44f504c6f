package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// Attack: chat.update fails on every call (Slack 5xx for hours). Each sweeper run tries each
// drifted message once (bounded retries inside), counts it as an error, logs it and emits
// SweeperStuck; it neither loops within a run nor touches the ledger's outcome. Once Slack is
// back, the next run brings the message in step.
func TestSlackUpdateFailingForeverIsLoudAndBounded(t *testing.T) {
	st := newStack(t)
	id, m := st.reviewApproved("pii/slackdown.csv")
	st.slack.setFault("500")
	st.drain()
	if r := st.rec(id); r.Status != ledger.Quarantined || r.ShownStatus == ledger.Quarantined {
		t.Fatalf("setup: %s shown %s", r.Status, r.ShownStatus)
	}
	for i := 1; i <= 3; i++ {
		st.logs.Reset()
		rep := st.sweepAt(time.Duration(i) * SweepEvery)
		if rep.Errors != 1 || rep.Rerendered != 0 {
			t.Fatalf("run %d: %+v", i, rep)
		}
		logs := st.logs.String()
		if !strings.Contains(logs, `"SweeperStuck":1`) || !strings.Contains(logs, "sweeper could not fix a record") || !strings.Contains(logs, id) {
			t.Fatalf("run %d is not loud:\n%s", i, logs)
		}
		if n := strings.Count(logs, "update the Slack message"); n > 2 {
			t.Fatalf("run %d tried the update %d times", i, n)
		}
	}
	if r := st.rec(id); r.Status != ledger.Quarantined || !r.HasCopy() {
		t.Fatalf("the outcome changed: %s", r.Status)
	}
	st.slack.setFault("")
	if rep := st.sweepAt(4 * SweepEvery); rep.Rerendered != 1 || rep.Errors != 0 || !strings.HasPrefix(m.Text, "Quarantined") {
		t.Fatalf("Slack back: %+v, %q", rep, m.Text)
	}
	if rep := st.sweepAt(5 * SweepEvery); rep.Rerendered != 0 {
		t.Fatalf("in step, yet re-rendered: %+v", rep)
	}
}

// Attack: `ledger redrive` on a final record (QUARANTINED) is refused with the
// status named, sends no job and writes nothing.
func TestRedriveRefusesAFinalRecord(t *testing.T) {
	st := newStack(t)
	id, _ := st.reviewApproved("pii/final.csv")
	st.drain()
	before := st.rec(id)
	out, err := st.sweeper.Redrive(st.ctx, id, "operator")
	if err == nil || !strings.Contains(err.Error(), "QUARANTINED") || !strings.Contains(err.Error(), "nothing to re-drive") || out != "" {
		t.Fatalf("redrive of a QUARANTINED record: %q, %v", out, err)
	}
	if after := st.rec(id); len(st.queue) != 0 || after.Version != before.Version {
		t.Fatalf("%d jobs, version %d → %d", len(st.queue), before.Version, after.Version)
	}
}
