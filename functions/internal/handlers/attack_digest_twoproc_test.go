package handlers

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// TestAttackDigestTwoFindingHandlers: the finding-handler runs at least two containers at once
// (findingHandlerConcurrency >= 2). Both join the same open digest through its ledger record,
// but each renders the digest from its own memory, with a cut-off that is the highest position
// it has seen. Container A's rendering then carries a cut-off that covers a member only
// container B added, which A's message never showed: an approver who clicks A's rendering
// decided a finding they never saw (issue 14 item 1: "act only on those [shown]"). Now a view's
// cut-off is the longest run of positions it shows; members beyond it get their own messages.
func TestAttackDigestTwoFindingHandlers(t *testing.T) {
	bothLedgers(t, twoFindingHandlers)
}

func twoFindingHandlers(t *testing.T, st *stack, clk *clock) {
	a := st.findings
	b := &Findings{Policy: a.Policy, Ledger: a.Ledger, Jobs: a.Jobs, DLQ: a.DLQ, Slack: a.Slack, Log: a.Log, Metrics: a.Metrics, AdminAccount: a.AdminAccount,
		Digest: &Digester{Slack: a.Digest.Slack, Ledger: a.Digest.Ledger, Now: clk.Now, Sleep: a.Digest.Sleep}}

	// Container A sees the burst start: the 4th finding opens the digest (seq 1..3).
	st.burst(6, "a1", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	d := st.slack.find("findings in bucket data-bucket")
	// Container B gets one finding of the same burst: it rejoins the open digest (seq 4).
	st.findings = b
	st.burst(1, "b", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	// Container A gets the next one (seq 5) and renders last.
	st.findings = a
	st.burst(1, "a2", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	a.Digest.Flush(st.ctx, true)

	v, _ := d.button(slackmsg.ActionRemediateAll)
	id, cutoff, _ := slackmsg.ParseDigestValue(v)
	shownText := st.slackText(d)
	t.Logf("rendering: %q, button %q", d.Text, v)

	if r := st.actions.Handle(st.ctx, signed(clickPayload("U0ALICE", d.Channel, d.TS, map[string]any{"type": "button", "action_id": slackmsg.ActionRemediateAll, "value": v}))); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
	st.drain()
	st.drain()
	members := st.digestMembers(id)
	for _, r := range members[ledger.Quarantined] {
		if !strings.Contains(shownText, r.Key) || r.DigestSeq > cutoff {
			t.Errorf("%s (seq %d, cut-off %d) was decided but the clicked message never showed it", r.Key, r.DigestSeq, cutoff)
		}
	}
	if len(members[ledger.Quarantined]) != cutoff || cutoff == 0 {
		t.Errorf("cut-off %d, quarantined %d", cutoff, len(members[ledger.Quarantined]))
	}
	// What the decision did not cover is not lost: each gets its own message, still undecided.
	for _, r := range members[ledger.Notified] {
		if r.MessageTS == "" || r.NotifyStatus != NotifyPosted {
			t.Errorf("%s (seq %d) was left without a message", r.Key, r.DigestSeq)
		}
	}
	if len(members[ledger.Quarantined])+len(members[ledger.Notified]) != 5 {
		t.Errorf("members %v", members)
	}
}
