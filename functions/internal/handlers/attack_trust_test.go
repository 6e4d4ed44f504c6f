package handlers

// Attacks on the trust boundary of issue 14, through the public surface: signed requests in,
// status, ephemeral text and ledger state out; jobs and events in, ledger, S3 and queue out.
// Each one held when it was written; they stay as regression tests.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// attackPolicy has two approvers for the workshop account, and a second account whose only
// approver is U0MALLORY.
const attackPolicy = `version: 1
defaults:
  minSeverity: LOW
  actions:
    SensitiveData:S3Object/Credentials: AUTO
    SensitiveData:*: REVIEW
  approvers:
    users: [U0ALICE, U0BOB]
  slack:
    channel: C0SEC
    teamId: T0TEAM
  quarantine:
    bucket: quarantine-{account}
  digest:
    threshold: 3
    windowSeconds: 60
accounts:
  "555555555555":
    name: workshop
  "666666666666":
    name: other
    approvers:
      users: [U0MALLORY]
`

// attackDigestStack is digestStack with attackPolicy, on bbolt or on DynamoDB (dynalite).
func attackDigestStack(t *testing.T, dynamo bool) (*stack, *clock) {
	st, clk, _ := digestStack(t)
	pol, err := policy.Parse([]byte(attackPolicy), "attack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.findings.Policy, st.actions.Policy, st.remed.Policy = pol, pol, pol
	if dynamo {
		srv := testenv.Dynalite(t)
		d := ledger.NewDynamo(ledger.DynaliteClient(srv.Endpoint), "ledger", nil)
		if err := d.EnsureTable(st.ctx); err != nil {
			t.Fatal(err)
		}
		st.ledger, st.findings.Ledger, st.actions.Ledger, st.remed.Ledger, st.findings.Digest.Ledger = d, d, d, d, d
	}
	return st, clk
}

func bothLedgers(t *testing.T, f func(t *testing.T, st *stack, clk *clock)) {
	t.Run("bbolt", func(t *testing.T) { st, clk := attackDigestStack(t, false); f(t, st, clk) })
	t.Run("dynamodb", func(t *testing.T) { st, clk := attackDigestStack(t, true); f(t, st, clk) })
}

// openDigest runs a burst of 6 REVIEW findings and returns the digest message and its
// Remediate-all value.
func (st *stack) openDigest(clk *clock, prefix string) (*slackMsg, string) {
	st.burst(6, prefix, "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	d := st.slack.find("findings in bucket data-bucket")
	if d == nil {
		st.t.Fatal("no digest message")
	}
	v, ok := d.button(slackmsg.ActionRemediateAll)
	if !ok {
		st.t.Fatalf("digest has no Remediate all button: %q", d.Text)
	}
	return d, v
}

func (st *stack) ephemeralCount() int {
	st.slack.mu.Lock()
	defer st.slack.mu.Unlock()
	return len(st.slack.ephemerals)
}

// noDecision fails when the digest has a decision or any member left NOTIFIED.
func (st *stack) noDecision(id string, members int) {
	st.t.Helper()
	hdr, err := st.ledger.Get(st.ctx, id)
	if err != nil || hdr.Digest == nil || hdr.Digest.Decision != nil {
		st.t.Fatalf("digest %s: %v decision %+v", id, err, hdr.Digest)
	}
	if n := len(st.digestMembers(id)[ledger.Notified]); n != members || len(st.queue) != 0 {
		st.t.Fatalf("digest %s: %d members still NOTIFIED (want %d), %d jobs queued", id, n, members, len(st.queue))
	}
}

// TestAttackDigestForgedValues: a signed click whose digest value was tampered with (cut-off
// zero, negative, not a number, padded, larger than the digest, no cut-off, another account's
// id, unicode, a value as long as the body allows) decides nothing, on both ledgers.
func TestAttackDigestForgedValues(t *testing.T) {
	bothLedgers(t, func(t *testing.T, st *stack, clk *clock) {
		d, v := st.openDigest(clk, "forged")
		id, cutoff, _ := slackmsg.ParseDigestValue(v)
		members := len(st.digestMembers(id)[ledger.Notified])
		other := strings.Replace(id, "555555555555", "666666666666", 1)
		for _, val := range []string{
			id + "#0", id + "#-1", id + "#abc", id + "#+3", id + "#03", id + "#1e1", id + "# 3", id + "#3 ",
			fmt.Sprintf("%s#%d", id, members+1), fmt.Sprintf("%s#%d", id, 1<<62), id, id + "#", "#3",
			other + "#1", "digest-55555555555-data-bucket-1#1", "digest-555555555555-data-bucket-1#1",
			id + "\u202e#3", "digest-５５５５５５５５５５５５-data-bucket-1#1",
			id + "#" + strings.Repeat("9", 20000),
		} {
			before := st.ephemeralCount()
			r := st.actions.Handle(st.ctx, signed(clickPayload("U0ALICE", d.Channel, d.TS, map[string]any{"type": "button", "action_id": slackmsg.ActionDismissAll, "value": val})))
			short := val
			if len(short) > 80 {
				short = short[:80] + "…"
			}
			if r.Status != http.StatusOK || st.ephemeralCount() != before+1 || !strings.Contains(st.slack.lastEphemeral(), "Nothing was changed") {
				t.Fatalf("%q: %d %q", short, r.Status, st.slack.lastEphemeral())
			}
			st.noDecision(id, members)
		}
		// The untampered value still works afterwards: the refusals left the digest open.
		if cutoff != members {
			t.Fatalf("cut-off %d, members %d", cutoff, members)
		}
	})
}

// TestAttackDigestWrongApproverTeamChannel: an approver of another account, a click from another
// Slack workspace and a click from another channel decide nothing; nor does a non-approver.
func TestAttackDigestWrongApproverTeamChannel(t *testing.T) {
	bothLedgers(t, func(t *testing.T, st *stack, clk *clock) {
		d, v := st.openDigest(clk, "cross")
		id, _, _ := slackmsg.ParseDigestValue(v)
		members := len(st.digestMembers(id)[ledger.Notified])
		btn := map[string]any{"type": "button", "action_id": slackmsg.ActionDismissAll, "value": v}

		for _, user := range []string{"U0MALLORY", "U0EVE"} {
			if r := st.actions.Handle(st.ctx, signed(clickPayload(user, d.Channel, d.TS, btn))); r.Status != http.StatusOK ||
				!strings.Contains(st.slack.lastEphemeral(), "You are not an approver for account 555555555555") {
				t.Fatalf("%s: %d %q", user, r.Status, st.slack.lastEphemeral())
			}
			st.noDecision(id, members)
		}
		p := clickPayload("U0ALICE", d.Channel, d.TS, btn)
		p["team"] = map[string]any{"id": "T0OTHER"}
		if r := st.actions.Handle(st.ctx, signed(p)); r.Status != http.StatusForbidden {
			t.Fatalf("other team: %d", r.Status)
		}
		st.noDecision(id, members)
		if r := st.actions.Handle(st.ctx, signed(clickPayload("U0ALICE", "C0ELSEWHERE", d.TS, btn))); r.Status != http.StatusOK ||
			!strings.Contains(st.slack.lastEphemeral(), "another channel") {
			t.Fatalf("other channel: %d %q", r.Status, st.slack.lastEphemeral())
		}
		st.noDecision(id, members)
	})
}

// TestAttackDigestTwoApproversAtOnce: Alice (Remediate all) and Bob (Dismiss all) click the
// same digest at the same moment. Exactly one decision is recorded and applied, to every shown
// member; the other approver is told it was already decided by the winner; the members are
// never split between the two decisions.
func TestAttackDigestTwoApproversAtOnce(t *testing.T) {
	bothLedgers(t, func(t *testing.T, st *stack, clk *clock) {
		d, v := st.openDigest(clk, "race")
		id, cutoff, _ := slackmsg.ParseDigestValue(v)
		reqs := map[string]Request{
			"U0ALICE": signed(clickPayload("U0ALICE", d.Channel, d.TS, map[string]any{"type": "button", "action_id": slackmsg.ActionRemediateAll, "value": v})),
			"U0BOB":   signed(clickPayload("U0BOB", d.Channel, d.TS, map[string]any{"type": "button", "action_id": slackmsg.ActionDismissAll, "value": v})),
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		status := make(chan int, 2)
		for _, r := range reqs {
			wg.Add(1)
			go func(r Request) {
				defer wg.Done()
				<-start
				status <- st.actions.Handle(st.ctx, r).Status
			}(r)
		}
		close(start)
		wg.Wait()
		close(status)
		for s := range status {
			if s != http.StatusOK {
				t.Fatalf("status %d", s)
			}
		}
		hdr, err := st.ledger.Get(st.ctx, id)
		if err != nil || hdr.Digest == nil || hdr.Digest.Decision == nil {
			t.Fatalf("no decision: %v", err)
		}
		dec := hdr.Digest.Decision
		loser := map[string]string{"U0ALICE": "U0BOB", "U0BOB": "U0ALICE"}[dec.By]
		st.slack.mu.Lock()
		eph := append([]string(nil), st.slack.ephemerals...)
		st.slack.mu.Unlock()
		if len(eph) != 1 || !strings.HasPrefix(eph[0], loser+": ") || !strings.Contains(eph[0], "already decided by <@"+dec.By+">") {
			t.Fatalf("winner %s; ephemerals %q", dec.By, eph)
		}
		st.drain()
		st.drain()
		want := ledger.Quarantined
		if dec.Action == slackmsg.ActionDismissAll {
			want = ledger.Dismissed
		}
		byStatus := st.digestMembers(id)
		if len(byStatus[want]) != cutoff || len(byStatus) != 1 {
			t.Fatalf("decision %s by %s: members %v", dec.Action, dec.By, func() map[ledger.Status]int {
				m := map[ledger.Status]int{}
				for s, rs := range byStatus {
					m[s] = len(rs)
				}
				return m
			}())
		}
		for _, r := range byStatus[want] {
			if r.LastActor() != dec.By && !(want == ledger.Quarantined && r.LastActor() == ActorRemediator) {
				t.Fatalf("%s: last actor %s, decided by %s", r.Key, r.LastActor(), dec.By)
			}
			for _, e := range r.History {
				if e.Actor == loser {
					t.Fatalf("%s carries the loser's decision: %+v", r.Key, e)
				}
			}
		}
	})
}

// sqsJobs wraps job bodies in an SQS event.
func sqsJobs(t *testing.T, js ...any) events.SQSEvent {
	var ev events.SQSEvent
	for i, j := range js {
		b, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: string(b)})
	}
	return ev
}

// TestAttackForgedJobs: whoever can send to the jobs queue cannot make the remediator act on a
// decision the ledger does not have: a remediate job for a NOTIFIED finding, a release job for a
// QUARANTINED finding nobody asked to release, and a digest job for an undecided digest (naming
// an approver in By) all change nothing, and nothing is moved.
func TestAttackForgedJobs(t *testing.T) {
	bothLedgers(t, func(t *testing.T, st *stack, clk *clock) {
		// One NOTIFIED finding of its own, one QUARANTINED (approved and moved), one digest.
		ev := st.upload("event-eventbridge-csv.json", "jobs/notified.csv", []byte("x"), nil)
		st.findings.HandleSQS(st.ctx, sqsEvent(ev))
		clk.Add(2 * time.Minute)
		ev = st.upload("event-eventbridge-csv.json", "jobs/moved.csv", []byte("y"), nil)
		st.findings.HandleSQS(st.ctx, sqsEvent(ev))
		moved, _ := st.ledger.Get(st.ctx, "local-jobs-moved.csv")
		if r := st.click("U0ALICE", slackmsg.ActionRemediate, moved.FindingID, moved.Channel, moved.MessageTS); r.Status != http.StatusOK {
			t.Fatal(r.Status)
		}
		st.drain()
		moved, _ = st.ledger.Get(st.ctx, moved.FindingID)
		notified, _ := st.ledger.Get(st.ctx, "local-jobs-notified.csv")
		if moved.Status != ledger.Quarantined || notified.Status != ledger.Notified {
			t.Fatalf("setup: %s %s", moved.Status, notified.Status)
		}
		clk.Add(2 * time.Minute)
		_, v := st.openDigest(clk, "jobs-digest")
		id, _, _ := slackmsg.ParseDigestValue(v)
		members := len(st.digestMembers(id)[ledger.Notified])

		resp, err := st.remed.HandleSQS(st.ctx, sqsJobs(t,
			jobs.Job{Kind: jobs.Remediate, FindingID: notified.FindingID, By: "U0ALICE"},
			jobs.Job{Kind: jobs.Release, FindingID: moved.FindingID, By: "U0ALICE"},
			jobs.Job{Kind: jobs.Digest, DigestID: id, By: "U0ALICE"},
			map[string]any{"kind": "digest", "digestId": id, "by": "U0ALICE", "action": slackmsg.ActionDismissAll, "cutoff": 99},
		))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%v %+v\n%s", err, resp, st.logs)
		}
		if got, _ := st.ledger.Get(st.ctx, notified.FindingID); got.Status != ledger.Notified || got.Version != notified.Version {
			t.Fatalf("remediate job without approval: %s v%d", got.Status, got.Version)
		}
		if !st.exists("data-bucket", "jobs/notified.csv", "") {
			t.Fatal("the unapproved finding's object was moved")
		}
		if got, _ := st.ledger.Get(st.ctx, moved.FindingID); got.Status != ledger.Quarantined || got.Version != moved.Version {
			t.Fatalf("release job nobody asked for: %s v%d", got.Status, got.Version)
		}
		if moved.QuarantineKey == "" || !st.exists(moved.QuarantineBucket, moved.QuarantineKey, moved.QuarantineVersion) {
			t.Fatalf("the quarantined copy is gone: %+v", moved)
		}
		st.noDecision(id, members)
		if !strings.Contains(st.logs.String(), "digest job without a decision recorded by the remediation-handler") {
			t.Fatalf("no log line for the forged digest job")
		}
	})
}

// TestAttackEnvelopeEdges: the envelope check against account values an attacker who can write
// to the findings queue (or a misconfigured rule) might send, and a batch where one record is
// forged: the forged one goes to the DLQ, the others are handled, nothing is retried.
func TestAttackEnvelopeEdges(t *testing.T) {
	st := newStack(t)
	for i, tc := range []struct {
		name    string
		account any // nil: key removed
		ok      bool
	}{
		{"numeric, same account", json.Number("555555555555"), true},
		{"numeric, another account", json.Number("111122223333"), false},
		{"missing", nil, false},
		{"empty", "", false},
		{"padded", " 555555555555", false},
		{"prefix", "5555555555550", false},
		{"array", []string{"555555555555"}, false},
		{"object", map[string]any{"id": "555555555555"}, false},
		{"admin account numeric", json.Number("999988887777"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("env/%d.csv", i)
			ev := st.upload("event-eventbridge-csv.json", key, []byte("x"), nil)
			var m map[string]any
			json.Unmarshal(ev, &m)
			if tc.account == nil {
				delete(m, "account")
			} else {
				m["account"] = tc.account
			}
			body, _ := json.Marshal(m)
			dlq := len(st.dlq.reasons)
			resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(body))
			_, err := st.ledger.Get(st.ctx, "local-env-"+fmt.Sprint(i)+".csv")
			if len(resp.BatchItemFailures) != 0 || (err == nil) != tc.ok || (len(st.dlq.reasons) == dlq) != tc.ok {
				t.Fatalf("accepted=%v (want %v), dlq %d->%d, failures %v\n%s", err == nil, tc.ok, dlq, len(st.dlq.reasons), resp.BatchItemFailures, st.logs)
			}
		})
	}
	t.Run("one forged record in a batch", func(t *testing.T) {
		good1 := st.upload("event-eventbridge-csv.json", "batch/good1.csv", []byte("x"), nil)
		forged := envelopeFrom(t, st.upload("event-eventbridge-csv.json", "batch/forged.csv", []byte("x"), nil), "111122223333")
		good2 := st.upload("event-eventbridge-csv.json", "batch/good2.csv", []byte("x"), nil)
		dlq := len(st.dlq.reasons)
		resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(good1, forged, good2))
		if len(resp.BatchItemFailures) != 0 || len(st.dlq.reasons) != dlq+1 {
			t.Fatalf("%+v dlq %d->%d", resp, dlq, len(st.dlq.reasons))
		}
		for id, want := range map[string]bool{"local-batch-good1.csv": true, "local-batch-forged.csv": false, "local-batch-good2.csv": true} {
			if _, err := st.ledger.Get(st.ctx, id); (err == nil) != want {
				t.Fatalf("%s: in ledger %v, want %v", id, err == nil, want)
			}
		}
	})
}

// TestAttackParseActionShapes: two actions in one payload act on the first only; a value far
// longer than any id, or unicode, finds nothing and changes nothing.
func TestAttackParseActionShapes(t *testing.T) {
	st := newStack(t)
	ev := st.upload("event-eventbridge-csv.json", "shape/a.csv", []byte("x"), nil)
	st.findings.HandleSQS(st.ctx, sqsEvent(ev))
	rec, _ := st.ledger.Get(st.ctx, "local-shape-a.csv")
	for _, val := range []string{strings.Repeat("A", 30000), rec.FindingID + "\u0000", "ｌｏｃａｌ-shape-a.csv", rec.FindingID + " "} {
		r := st.actions.Handle(st.ctx, signed(clickPayload("U0ALICE", rec.Channel, rec.MessageTS, map[string]any{"type": "button", "action_id": slackmsg.ActionDismiss, "value": val})))
		if r.Status != http.StatusOK || !strings.Contains(st.slack.lastEphemeral(), "Nothing was changed") {
			t.Fatalf("%.40q: %d %q", val, r.Status, st.slack.lastEphemeral())
		}
		if got, _ := st.ledger.Get(st.ctx, rec.FindingID); got.Status != ledger.Notified {
			t.Fatalf("%.40q changed the finding: %s", val, got.Status)
		}
	}
	// Two actions: the first is a select (not ours), the second a real Dismiss button. Slack
	// never sends two; the handler must not go looking for one that acts.
	p := clickPayload("U0ALICE", rec.Channel, rec.MessageTS, map[string]any{"type": "static_select", "action_id": slackmsg.ActionDismiss})
	p["actions"] = append(p["actions"].([]any), map[string]any{"type": "button", "action_id": slackmsg.ActionDismiss, "value": rec.FindingID})
	if r := st.actions.Handle(st.ctx, signed(p)); r.Status != http.StatusOK || !strings.Contains(st.slack.lastEphemeral(), "only the message's buttons do") {
		t.Fatalf("two actions: %d %q", r.Status, st.slack.lastEphemeral())
	}
	if got, _ := st.ledger.Get(st.ctx, rec.FindingID); got.Status != ledger.Notified {
		t.Fatalf("two actions changed the finding: %s", got.Status)
	}
}

// TestAttackResponseURLShapes: response_urls that look like Slack's but are not are refused;
// only https://hooks.slack.com/… passes, and the local exception matches exactly.
func TestAttackResponseURLShapes(t *testing.T) {
	for _, bad := range []string{
		"https://hooks.slack.com.evil/x", "https://hooks.slack.com@evil/x", "https://hooks.slack.com:443@evil/x",
		"https://HOOKS.SLACK.COM/x", "https://hooks.slack.com:8443/x", "https://hooks.slack.com:/x", "https://[::1]/x",
		"https://hooks%2eslack.com/x", "https://hooks.slack.com%2F@evil/x", "https://hooks.slack.com\\@evil/x",
		"https:hooks.slack.com/x", "https:///hooks.slack.com/x", "//hooks.slack.com/x", "hooks.slack.com/x",
		"https://hooks.slack.com", "https://hooks.slack.com.", "https://hooks.slack.com./x",
		"https://hooks.slack.com\t/x", " https://hooks.slack.com/x", "https://evil/#https://hooks.slack.com/x",
		"http://127.0.0.1:8080/response/1", "http://127.0.0.1/response/1",
	} {
		if err := chatops.CheckResponseURL(bad, ""); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	for _, bad := range []string{
		"http://127.0.0.1:8081/response/1", "http://127.0.0.1:8080/responsex/1", "http://127.0.0.1:8080/response", "http://localhost:8080/response/1",
		"http://127.0.0.1:8080@evil/response/1", "https://127.0.0.1:8080/response/1", "http://[::ffff:127.0.0.1]:8080/response/1", "http://127.0.0.1.evil:8080/response/1",
	} {
		if err := chatops.CheckResponseURL(bad, "http://127.0.0.1:8080/response/"); err == nil {
			t.Errorf("local mode accepted %q", bad)
		}
	}
	// An upper-case scheme is the same URL (schemes are case-insensitive; url.Parse lowers it).
	for _, good := range []string{"https://hooks.slack.com/actions/T0/1/abc", "https://hooks.slack.com/", "HTTPS://hooks.slack.com/x"} {
		if err := chatops.CheckResponseURL(good, ""); err != nil {
			t.Errorf("refused %q: %v", good, err)
		}
	}
	if err := chatops.CheckResponseURL("http://127.0.0.1:8080/response/7", "http://127.0.0.1:8080/response/"); err != nil {
		t.Errorf("local: %v", err)
	}
}

// TestAttackRemediatorLogsNoResponseURL: the remediator answers on the response_url the ledger
// recorded at click time; when that post fails (bot mode, the URL unreachable), its log line
// names the host only, never the URL's secret path, and the finding is still quarantined.
func TestAttackRemediatorLogsNoResponseURL(t *testing.T) {
	st := newStack(t)
	const responseSecret = "T0RESP/7654321/remediatorRespSecret42"
	base := closedURL(t, "/response/")
	st.actions.LocalResponseURL = base
	ev := st.upload("event-eventbridge-csv.json", "remlog/a.csv", []byte("x"), nil)
	st.findings.HandleSQS(st.ctx, sqsEvent(ev))
	rec, _ := st.ledger.Get(st.ctx, "local-remlog-a.csv")
	p := clickPayload("U0ALICE", rec.Channel, rec.MessageTS, map[string]any{"type": "button", "action_id": slackmsg.ActionRemediate, "value": rec.FindingID})
	p["response_url"] = base + responseSecret
	if r := st.actions.Handle(st.ctx, signed(p)); r.Status != http.StatusOK {
		t.Fatalf("click: %d", r.Status)
	}
	// Webhook mode from here on: the outcome can only go to the recorded response_url.
	st.remed.Slack = &chatops.Webhook{URL: closedURL(t, "/services/T0/B0/hookSecret77"), Retry: chatops.Retry{MaxAttempts: 1}}
	if _, err := st.ledger.Annotate(st.ctx, rec.FindingID, func(r *ledger.Record) { r.Channel, r.MessageTS = "webhook", "" }); err != nil {
		t.Fatal(err)
	}
	st.drain()
	if got, _ := st.ledger.Get(st.ctx, rec.FindingID); got.Status != ledger.Quarantined || got.ResponseURL != base+responseSecret {
		t.Fatalf("status %s, response_url recorded %v\n%s", got.Status, got.ResponseURL == base+responseSecret, st.logs)
	}
	logs := st.logs.String()
	if !strings.Contains(logs, "could not show the outcome in Slack") || !strings.Contains(logs, "/[redacted]") {
		t.Fatalf("the remediator's failed update was not logged (redacted):\n%s", logs)
	}
	for _, s := range []string{responseSecret, "remediatorRespSecret42", "hookSecret77", secret, "xoxb-test"} {
		if strings.Contains(logs, s) {
			t.Fatalf("secret %q in the log:\n%s", s, logs)
		}
	}
}

// TestAttackFindingButtonsOnADigestRecord: a finding's own buttons (Remediate, Dismiss, Retry,
// Release) carrying a digest's id instead of a finding's never act on the digest's record: it
// stays open, undecided, and its members stay NOTIFIED.
func TestAttackFindingButtonsOnADigestRecord(t *testing.T) {
	bothLedgers(t, func(t *testing.T, st *stack, clk *clock) {
		d, v := st.openDigest(clk, "digest-as-finding")
		id, _, _ := slackmsg.ParseDigestValue(v)
		before, _ := st.ledger.Get(st.ctx, id)
		members := len(st.digestMembers(id)[ledger.Notified])
		for _, action := range []string{slackmsg.ActionRemediate, slackmsg.ActionDismiss, slackmsg.ActionRetry, slackmsg.ActionRelease} {
			for _, val := range []string{id, v} {
				r := st.actions.Handle(st.ctx, signed(clickPayload("U0ALICE", d.Channel, d.TS, map[string]any{"type": "button", "action_id": action, "value": val})))
				if r.Status != http.StatusOK {
					t.Fatalf("%s %s: %d", action, val, r.Status)
				}
				after, err := st.ledger.Get(st.ctx, id)
				if err != nil || after.Status != ledger.DigestStatus || after.Version != before.Version {
					t.Fatalf("%s on the digest's id changed its record: %s v%d -> v%d (%q)", action, after.Status, before.Version, after.Version, st.slack.lastEphemeral())
				}
				st.noDecision(id, members)
			}
		}
	})
}
