package handlers

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// digestMembers lists a digest's members by status.
func (st *stack) digestMembers(id string) map[ledger.Status][]ledger.Record {
	recs, err := st.ledger.List(st.ctx, ledger.Filter{DigestID: id})
	if err != nil {
		st.t.Fatal(err)
	}
	out := map[ledger.Status][]ledger.Record{}
	for _, r := range recs {
		out[r.Status] = append(out[r.Status], r)
	}
	return out
}

// TestDigestClickCoversExactlyWhatWasShown: the approver's message showed 5 findings; 4 more
// joined the burst before the click landed. The click decides those 5 and no others, names
// the approver on each, closes the digest (later findings open a new one), and a replay of the
// very same signed request, or a click on a newer rendering, is answered "already decided" and
// changes nothing. The 4 later findings get their own messages, and the digest says so.
func TestDigestClickCoversExactlyWhatWasShown(t *testing.T) {
	t.Run("bbolt", func(t *testing.T) { st, clk, _ := digestStack(t); digestBinding(t, st, clk) })
	t.Run("dynamodb", func(t *testing.T) {
		st, clk, _ := digestStack(t)
		srv := testenv.Dynalite(t)
		d := ledger.NewDynamo(ledger.DynaliteClient(srv.Endpoint), "ledger", nil)
		if err := d.EnsureTable(st.ctx); err != nil {
			t.Fatal(err)
		}
		st.ledger, st.findings.Ledger, st.actions.Ledger, st.remed.Ledger, st.findings.Digest.Ledger = d, d, d, d, d
		digestBinding(t, st, clk)
	})
}

func digestBinding(t *testing.T, st *stack, clk *clock) {
	st.burst(8, "shown", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	d := st.slack.find("findings in bucket data-bucket")
	seen, _ := d.button(slackmsg.ActionRemediateAll)
	id, cutoff, ok := slackmsg.ParseDigestValue(seen)
	if !ok || cutoff != 5 || !strings.HasPrefix(d.Text, "5 findings") {
		t.Fatalf("rendering: value %q, text %q", seen, d.Text)
	}
	// Between render and click: 4 more findings join the same digest (its message moves on).
	st.burst(4, "unseen", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	newer, _ := d.button(slackmsg.ActionRemediateAll)
	if _, c, _ := slackmsg.ParseDigestValue(newer); c != 9 || len(st.digestMembers(id)[ledger.Notified]) != 9 {
		t.Fatalf("the burst did not grow the digest: %q", newer)
	}

	req := signed(clickPayload("U0ALICE", d.Channel, d.TS, map[string]any{"type": "button", "action_id": slackmsg.ActionRemediateAll, "value": seen}))
	if r := st.actions.Handle(st.ctx, req); r.Status != http.StatusOK {
		t.Fatalf("click: %d", r.Status)
	}
	// The decision is in the ledger at click time, with the cut-off the approver saw.
	hdr, err := st.ledger.Get(st.ctx, id)
	if err != nil || hdr.Digest == nil || hdr.Digest.Decision == nil {
		t.Fatalf("no decision recorded: %v %+v", err, hdr)
	}
	if dec := hdr.Digest.Decision; dec.By != "U0ALICE" || dec.Cutoff != 5 || dec.Action != slackmsg.ActionRemediateAll {
		t.Fatalf("decision %+v", dec)
	}
	st.drain()

	decided := func() (approved, waiting []string) {
		for _, r := range append(st.digestMembers(id)[ledger.Quarantined], st.digestMembers(id)[ledger.Notified]...) {
			if r.Status == ledger.Quarantined {
				if r.DigestSeq > 5 || !strings.Contains(r.Key, "shown/") {
					t.Errorf("%s (seq %d) was decided but never shown", r.Key, r.DigestSeq)
				}
				byAlice := false
				for _, e := range r.History {
					byAlice = byAlice || e.To == ledger.Queued && e.Actor == "U0ALICE"
				}
				if !byAlice {
					t.Errorf("%s: no audit entry naming the approver", r.Key)
				}
				approved = append(approved, r.Key)
			} else {
				waiting = append(waiting, r.Key)
			}
		}
		return approved, waiting
	}
	approved, waiting := decided()
	if len(approved) != 5 || len(waiting) != 4 {
		t.Fatalf("approved %v, waiting %v", approved, waiting)
	}
	// The ones that arrived later got their own message, with their own buttons.
	for _, r := range st.digestMembers(id)[ledger.Notified] {
		if r.MessageTS == "" || r.NotifyStatus != NotifyPosted {
			t.Fatalf("%s was not posted on its own", r.Key)
		}
	}
	text := st.slackText(d)
	for _, want := range []string{"Remediate all, by <@U0ALICE>", "5 findings queued for quarantine", "of the 5 this message showed", "4 arrived after and get their own messages"} {
		if !strings.Contains(text, want) {
			t.Fatalf("digest message lacks %q: %s", want, text)
		}
	}

	// A replay of the same signed request, and a click on the newer rendering: refused.
	for _, r := range []Request{req, signed(clickPayload("U0ALICE", d.Channel, d.TS, map[string]any{"type": "button", "action_id": slackmsg.ActionDismissAll, "value": newer}))} {
		if resp := st.actions.Handle(st.ctx, r); resp.Status != http.StatusOK || !strings.Contains(st.slack.lastEphemeral(), "already decided by <@U0ALICE>") {
			t.Fatalf("second click: %d %q", resp.Status, st.slack.lastEphemeral())
		}
		st.drain()
		if a, w := decided(); len(a) != 5 || len(w) != 4 {
			t.Fatalf("a second click changed the decision: approved %v, waiting %v", a, w)
		}
	}
	if hdr, _ := st.ledger.Get(st.ctx, id); hdr.Digest.Decision.Cutoff != 5 || hdr.Digest.Decision.By != "U0ALICE" || !hdr.Digest.Decision.Applied {
		t.Fatalf("decision after replays: %+v", hdr.Digest.Decision)
	}

	// The digest is closed: the burst's next findings open a new digest, with a new message.
	st.burst(2, "after", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	after, err := st.ledger.Get(st.ctx, "local-after-000.csv")
	if err != nil || after.DigestID == "" || after.DigestID == id || after.DigestSeq != 1 {
		t.Fatalf("a finding after the decision: digest %q seq %d (%v)", after.DigestID, after.DigestSeq, err)
	}
}

// TestDigestJobActsOnlyOnTheLedgersDecision: a digest job sent straight to the queue, naming
// any approver, action, channel or response_url, does nothing unless the remediation-handler
// recorded a decision; a recorded decision whose approver the policy no longer lists is refused.
func TestDigestJobActsOnlyOnTheLedgersDecision(t *testing.T) {
	st, clk, _ := digestStack(t)
	st.burst(6, "forged", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	d := st.slack.find("findings in bucket data-bucket")
	v, _ := d.button(slackmsg.ActionDismissAll)
	id := digestID(t, v)
	forged := jobs.Job{Kind: jobs.Digest, DigestID: id, Action: slackmsg.ActionDismissAll, By: "U0ALICE", Channel: "C0EVIL", TS: "1.2", ResponseURL: "https://attacker.example/x"}
	if err := forged.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := st.remed.Run(st.ctx, forged); err != nil {
		t.Fatal(err)
	}
	if m := st.digestMembers(id); len(m[ledger.Notified]) != 3 || len(m) != 1 {
		t.Fatalf("a job without a recorded decision changed findings: %v", m)
	}
	if !strings.Contains(st.logs.String(), "digest job without a decision recorded by the remediation-handler") {
		t.Fatalf("not logged:\n%s", st.logs)
	}

	// Alice decides; before the job runs, the policy stops listing her as an approver.
	st.click("U0ALICE", slackmsg.ActionDismissAll, v, d.Channel, d.TS)
	pol, err := policy.Parse([]byte(strings.Replace(testPolicy, "users: [U0ALICE]", "users: [U0BOB]", 1)+"    digest:\n      threshold: 3\n      windowSeconds: 60\n"), "changed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.remed.Policy = pol
	st.drain()
	if m := st.digestMembers(id); len(m[ledger.Notified]) != 3 || len(m) != 1 {
		t.Fatalf("a decision by a no-longer approver was applied: %v", m)
	}
	if !strings.Contains(st.slackText(d), "Not applied") {
		t.Fatalf("digest message: %s", st.slackText(d))
	}
	st.slack.mu.Lock()
	defer st.slack.mu.Unlock()
	for _, m := range st.slack.msgs {
		if m.Channel == "C0EVIL" {
			t.Fatal("posted where the job said")
		}
	}
}

// TestDigestSurvivesAColdStart: the finding-handler's process is replaced mid-burst (a cold
// start: a new Digester with empty memory). The burst's next findings join the same digest from
// its ledger record (no split into single messages, no second digest), get the next positions,
// and the digest message catches up with every member.
func TestDigestSurvivesAColdStart(t *testing.T) {
	st, clk, _ := digestStack(t)
	st.burst(6, "before", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	d := st.slack.find("findings in bucket data-bucket")
	v, _ := d.button(slackmsg.ActionRemediateAll)
	id := digestID(t, v)
	st.slack.mu.Lock()
	posted := len(st.slack.msgs)
	st.slack.mu.Unlock()

	old := st.findings.Digest
	st.findings.Digest = &Digester{Slack: old.Slack, Ledger: st.ledger, Now: clk.Now, Sleep: old.Sleep}
	st.burst(3, "after", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)

	st.slack.mu.Lock()
	now := len(st.slack.msgs)
	st.slack.mu.Unlock()
	if now != posted {
		t.Fatalf("the cold start split the burst: %d messages, was %d", now, posted)
	}
	for i, key := range []string{"after/000.csv", "after/001.csv", "after/002.csv"} {
		r, err := st.ledger.Get(st.ctx, "local-"+strings.ReplaceAll(key, "/", "-"))
		if err != nil || r.DigestID != id || r.DigestSeq != 4+i {
			t.Fatalf("%s: digest %q seq %d (%v)", key, r.DigestID, r.DigestSeq, err)
		}
	}
	st.findings.Digest.Flush(st.ctx, true)
	if !strings.HasPrefix(d.Text, "6 findings") {
		t.Fatalf("digest after the cold start: %q", d.Text)
	}
	if v, _ := d.button(slackmsg.ActionRemediateAll); !strings.HasSuffix(v, "#6") {
		t.Fatalf("button value %q", v)
	}
}
