package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Attacks on the click's "in progress" answer going to the click's response_url (ackRef).

// responseURLs stands in for Slack's response_urls of the fake Slack's messages: a POST to
// /response/<channel>/<ts> with replace_original replaces that message, as Slack does. Like
// Slack, a URL takes 5 uses; then it answers 404 "used_url". fault makes every use fail:
// "expired_url" (404), "410", or "hang" (no answer until the caller gives up; nothing applied).
type responseURLs struct {
	srv        *httptest.Server
	slack      *fakeSlack
	mu         sync.Mutex
	fault      string
	uses       map[string]int
	posts      int      // applied replace_originals
	ephemerals []string // ephemeral answers' texts
}

func newResponseURLs(t *testing.T, st *stack) *responseURLs {
	r := &responseURLs{slack: st.slack, uses: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	st.actions.LocalResponseURL = r.srv.URL + "/response/"
	return r
}

func (r *responseURLs) url(m *slackMsg) string {
	return r.srv.URL + "/response/" + m.Channel + "/" + m.TS
}

func (r *responseURLs) setFault(f string) { r.mu.Lock(); r.fault = f; r.mu.Unlock() }

func (r *responseURLs) applied() int { r.mu.Lock(); defer r.mu.Unlock(); return r.posts }

func (r *responseURLs) serve(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	fault := r.fault
	r.uses[req.URL.Path]++
	used := r.uses[req.URL.Path]
	r.mu.Unlock()
	switch {
	case fault == "hang":
		<-req.Context().Done() // the caller gave up; Slack never applied it
		return
	case fault == "410":
		http.Error(w, "gone", http.StatusGone)
		return
	case fault != "":
		http.Error(w, fault, http.StatusNotFound)
		return
	case used > 5:
		http.Error(w, "used_url", http.StatusNotFound)
		return
	}
	var m struct {
		Text            string           `json:"text"`
		Blocks          []map[string]any `json:"blocks"`
		ReplaceOriginal bool             `json:"replace_original"`
		ResponseType    string           `json:"response_type"`
	}
	json.Unmarshal(b, &m)
	if m.ResponseType == "ephemeral" && !m.ReplaceOriginal {
		r.mu.Lock()
		r.ephemerals = append(r.ephemerals, m.Text)
		r.mu.Unlock()
		w.Write([]byte("ok"))
		return
	}
	// /response/<channel>/<ts>[/<click>]: each click has its own URL for the same message.
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/response/"), "/")
	if !m.ReplaceOriginal || len(parts) < 2 {
		http.Error(w, "not a replace_original", http.StatusBadRequest)
		return
	}
	r.slack.mu.Lock()
	defer r.slack.mu.Unlock()
	for _, msg := range r.slack.msgs {
		if msg.Channel == parts[0] && msg.TS == parts[1] {
			msg.Text, msg.Blocks = m.Text, m.Blocks
			msg.Updates++
			r.mu.Lock()
			r.posts++
			r.mu.Unlock()
			w.Write([]byte("ok"))
			return
		}
	}
	http.Error(w, "expired_url", http.StatusNotFound)
}

// runNow is a queue whose job runs to the end inside Send: the remediator finishes before the
// remediation-handler's ack is sent (a warm remediator and a slow click handler).
type runNow struct{ st *stack }

func (q runNow) Send(ctx context.Context, j jobs.Job) error { return q.st.remed.Run(ctx, j) }

// postReview posts a REVIEW finding and returns its id and message.
func (st *stack) postReview(key string) (string, *slackMsg) {
	st.t.Helper()
	ev := st.upload("event-eventbridge-csv.json", key, []byte("name,ssn\n"+key), nil)
	if err := st.findings.Process(st.ctx, ev); err != nil {
		st.t.Fatal(err)
	}
	m := st.slack.find("data-bucket/" + key)
	if m == nil {
		st.t.Fatalf("no message for %s", key)
	}
	id, _ := m.button(slackmsg.ActionRemediate)
	return id, m
}

// clickVia is a signed Remediate-style click on value from message m, answered on responseURL.
func (st *stack) clickVia(action, value string, m *slackMsg, responseURL string) Response {
	p := clickPayload("U0ALICE", m.Channel, m.TS, map[string]any{"type": "button", "action_id": action, "value": value})
	if responseURL != "" {
		p["response_url"] = responseURL
	}
	return st.actions.Handle(st.ctx, signed(p))
}

// quarantinedShown fails unless the record is QUARANTINED, the message says so with Release, and
// the ledger knows the message shows it (the sweeper would see any drift).
func (st *stack) quarantinedShown(id string, m *slackMsg) {
	st.t.Helper()
	r := st.rec(id)
	_, release := m.button(slackmsg.ActionRelease)
	if r.Status != ledger.Quarantined || !strings.HasPrefix(m.Text, "Quarantined") || !release || !inSync(r, time.Now()) {
		st.t.Fatalf("ledger %s shown %q; Slack %q (Release offered %v)\n%s", r.Status, r.ShownStatus, m.Text, release, st.logs)
	}
}

// Ordering, the usual one: the ack lands first, then the remediator's chat.update. Shown is
// QUEUED after the click and QUARANTINED after the job.
func TestAttackAckBeforeTheJob(t *testing.T) {
	st := newStack(t)
	rs := newResponseURLs(t, st)
	id, m := st.postReview("ack/first.csv")
	if r := st.clickVia(slackmsg.ActionRemediate, id, m, rs.url(m)); r.Status != http.StatusOK {
		t.Fatalf("click: %d\n%s", r.Status, st.logs)
	}
	if r := st.rec(id); rs.applied() != 1 || r.Status != ledger.Queued || r.ShownStatus != ledger.Queued || !strings.Contains(st.slackText(m), "U0ALICE") {
		t.Fatalf("after the click: %d answers on the response_url, ledger %s shown %q, Slack %q", rs.applied(), r.Status, r.ShownStatus, m.Text)
	}
	if _, ok := m.button(slackmsg.ActionRemediate); ok {
		t.Fatalf("the in-progress message still offers Remediate: %q", m.Text)
	}
	st.drain()
	st.quarantinedShown(id, m)
}

// Attack (fixed): the job is queued before the ack. When the remediator finishes (Slack shows
// QUARANTINED, recorded) before the handler records that the job was sent, the handler's ack
// ("in progress") lands last, and it recorded the record it re-read (QUARANTINED) as shown: the
// message said "in progress" for good and the sweeper saw no drift. Now the ack records the
// state it rendered; a rendering recorded since clears the shown state, and the sweeper fixes it.
// The same with no response_url (chat.update), which had the same defect before ackRef.
func TestAttackAckAfterTheJobFinished(t *testing.T) {
	ledgers(t, func(t *testing.T, st *stack) { ackAfterTheJobFinished(t, st, true) })
	t.Run("chat.update", func(t *testing.T) { ackAfterTheJobFinished(t, newStack(t), false) })
}

func ackAfterTheJobFinished(t *testing.T, st *stack, viaURL bool) {
	st.sweeper.Ledger = st.ledger
	{
		name := map[bool]string{true: "response_url", false: "chat.update"}[viaURL]
		{
			rs := newResponseURLs(t, st)
			id, m := st.postReview("ack/late-" + name + ".csv")
			st.actions.Jobs = runNow{st}
			url := ""
			if viaURL {
				url = rs.url(m)
			}
			if r := st.clickVia(slackmsg.ActionRemediate, id, m, url); r.Status != http.StatusOK {
				t.Fatalf("click: %d\n%s", r.Status, st.logs)
			}
			r := st.rec(id)
			t.Logf("after the click: ledger %s shown %q; Slack %q", r.Status, r.ShownStatus, m.Text)
			if r.Status != ledger.Quarantined || inSync(r, time.Now()) {
				t.Fatalf("the message shows the late ack (%q) and the ledger says it shows %q: the sweeper sees no drift", m.Text, r.ShownStatus)
			}
			if rep := st.sweepAt(time.Minute); rep.Rerendered != 1 {
				t.Fatalf("sweep: %+v", rep)
			}
			st.quarantinedShown(id, m)
		}
	}
}

// response_url failures: expired (404 expired_url, 410), its 5 uses gone (404 used_url), or no
// answer within the ack timeout. The click is still answered 200 within the timeout, the job is
// queued, the ledger does not claim the message shows QUEUED, so the sweeper re-renders it; the
// job's outcome (chat.update) is shown.
func TestAttackAckResponseURLFails(t *testing.T) {
	for _, fault := range []string{"expired_url", "410", "used_url", "hang"} {
		t.Run(fault, func(t *testing.T) {
			st := newStack(t)
			rs := newResponseURLs(t, st)
			st.actions.AckTimeout = 300 * time.Millisecond // a bound only: "hang" waits for it
			id, m := st.postReview("ack/fail-" + fault + ".csv")
			url := rs.url(m)
			if fault == "used_url" {
				for i := 0; i < 5; i++ { // five earlier answers on this URL used it up
					rs.mu.Lock()
					rs.uses[strings.TrimPrefix(url, rs.srv.URL)]++
					rs.mu.Unlock()
				}
			} else {
				rs.setFault(fault)
			}
			before := m.Text
			if r := st.clickVia(slackmsg.ActionRemediate, id, m, url); r.Status != http.StatusOK {
				t.Fatalf("click: %d\n%s", r.Status, st.logs)
			}
			r := st.rec(id)
			if r.Status != ledger.Queued || len(st.queue) != 1 || r.ShownStatus == ledger.Queued || m.Text != before {
				t.Fatalf("after a failed ack: ledger %s shown %q, %d jobs, Slack %q", r.Status, r.ShownStatus, len(st.queue), m.Text)
			}
			if !strings.Contains(st.logs.String(), "could not update the message to in-progress") {
				t.Fatalf("the failed ack was not logged:\n%s", st.logs)
			}
			// The sweeper re-renders the message (chat.update: the response_url is not used).
			if rep := st.sweepAt(time.Minute); rep.Rerendered != 1 || st.rec(id).ShownStatus != ledger.Queued {
				t.Fatalf("sweep: %+v, shown %q, Slack %q", rep, st.rec(id).ShownStatus, m.Text)
			}
			if _, ok := m.button(slackmsg.ActionRemediate); ok {
				t.Fatalf("the re-rendered message still offers Remediate: %q", m.Text)
			}
			st.drain()
			st.quarantinedShown(id, m)
		})
	}
}

// Attack (fixed): a click carrying finding A's value from message B (B's response_url, B's ts):
// CheckResponseURL pins the host only, so the "in progress" for A replaced message B, and B lost
// its buttons while nothing happened to B. The response_url is used only when the click came
// from the record's own message; otherwise the ack is a chat.update of the ledger's message.
func TestAttackAckResponseURLOfAnotherMessage(t *testing.T) {
	st := newStack(t)
	rs := newResponseURLs(t, st)
	idA, mA := st.postReview("ack/a.csv")
	idB, mB := st.postReview("ack/b.csv")
	textB := mB.Text
	if r := st.clickVia(slackmsg.ActionRemediate, idA, mB, rs.url(mB)); r.Status != http.StatusOK {
		t.Fatalf("click: %d\n%s", r.Status, st.logs)
	}
	if _, ok := mB.button(slackmsg.ActionRemediate); !ok || mB.Text != textB {
		t.Fatalf("message B was replaced by A's answer: %q", mB.Text)
	}
	if rB := st.rec(idB); rB.Status != ledger.Notified {
		t.Fatalf("finding B moved: %s", rB.Status)
	}
	if r := st.rec(idA); r.Status != ledger.Queued || r.ShownStatus != ledger.Queued || !strings.Contains(st.slackText(mA), "U0ALICE") {
		t.Fatalf("finding A: ledger %s shown %q, Slack %q", r.Status, r.ShownStatus, mA.Text)
	}
	st.drain()
	st.quarantinedShown(idA, mA)
}

// A click without response_url: the ack is a chat.update of the ledger's message, as before.
func TestAttackAckWithoutResponseURL(t *testing.T) {
	st := newStack(t)
	rs := newResponseURLs(t, st)
	id, m := st.postReview("ack/nourl.csv")
	if r := st.clickVia(slackmsg.ActionRemediate, id, m, ""); r.Status != http.StatusOK {
		t.Fatalf("click: %d", r.Status)
	}
	if r := st.rec(id); rs.applied() != 0 || m.Updates != 1 || r.ShownStatus != ledger.Queued {
		t.Fatalf("%d response_url answers, %d chat.updates, shown %q", rs.applied(), m.Updates, r.ShownStatus)
	}
}

// Webhook mode is unchanged: the response_url is the only handle, and the ack goes there.
func TestAttackAckWebhookMode(t *testing.T) {
	st := newStack(t)
	rs := newResponseURLs(t, st)
	id, m := st.postReview("ack/webhook.csv")
	if _, err := st.ledger.Annotate(st.ctx, id, func(r *ledger.Record) { r.Channel, r.MessageTS = "webhook", "" }); err != nil {
		t.Fatal(err)
	}
	st.actions.Slack = &chatops.Webhook{URL: closedURL(t, "/services/T0/B0/x"), Retry: chatops.Retry{MaxAttempts: 1}}
	if r := st.clickVia(slackmsg.ActionRemediate, id, m, rs.url(m)); r.Status != http.StatusOK {
		t.Fatalf("click: %d\n%s", r.Status, st.logs)
	}
	if r := st.rec(id); rs.applied() != 1 || r.ShownStatus != ledger.Queued || !strings.Contains(st.slackText(m), "U0ALICE") {
		t.Fatalf("%d response_url answers, shown %q, Slack %q\n%s", rs.applied(), r.ShownStatus, m.Text, st.logs)
	}
}

// The digest ack goes to the click's response_url too (the digest's own message), and the
// decision's outcome (the remediator's chat.update) replaces it.
func TestAttackDigestAckOnResponseURL(t *testing.T) {
	st, clk, _ := digestStack(t)
	rs := newResponseURLs(t, st)
	d, v := st.openDigest(clk, "dack")
	if r := st.clickVia(slackmsg.ActionRemediateAll, v, d, rs.url(d)); r.Status != http.StatusOK {
		t.Fatalf("click: %d\n%s", r.Status, st.logs)
	}
	if rs.applied() != 1 || !strings.Contains(st.slackText(d), "decided by") {
		t.Fatalf("%d answers on the response_url; digest %s", rs.applied(), st.slackText(d))
	}
	st.drain()
	if !strings.Contains(st.slackText(d), "findings queued for quarantine") {
		t.Fatalf("digest outcome not shown: %s", st.slackText(d))
	}
}

// Attack: the digest job is queued before the ack. When it is applied (and its outcome shown)
// before the ack is sent, the ack's "⏳ … in progress" lands last; the sweeper does not re-render
// digests, so the digest must not be left saying "in progress" over an applied decision.
func TestAttackDigestAckAfterTheJobFinished(t *testing.T) {
	for _, viaURL := range []bool{true, false} {
		name := map[bool]string{true: "response_url", false: "chat.update"}[viaURL]
		t.Run(name, func(t *testing.T) {
			st, clk, _ := digestStack(t)
			rs := newResponseURLs(t, st)
			d, v := st.openDigest(clk, "dlate")
			st.actions.Jobs = runNow{st}
			url := ""
			if viaURL {
				url = rs.url(d)
			}
			if r := st.clickVia(slackmsg.ActionRemediateAll, v, d, url); r.Status != http.StatusOK {
				t.Fatalf("click: %d\n%s", r.Status, st.logs)
			}
			if txt := st.slackText(d); !strings.Contains(txt, "findings queued for quarantine") || strings.Contains(txt, "in progress") {
				t.Fatalf("the decision is applied, the digest says: %s", txt)
			}
		})
	}
}

// Attack (fixed with the finding's): a click on digest X's button value from another digest's
// message Y, with Y's response_url, records the decision on X but must not replace message Y.
func TestAttackDigestAckResponseURLOfAnotherMessage(t *testing.T) {
	bothLedgers(t, func(t *testing.T, st *stack, clk *clock) {
		rs := newResponseURLs(t, st)
		dx, vx := st.openDigest(clk, "dx")
		clk.Add(2 * time.Minute) // a new window: a second digest message
		st.burst(6, "dy", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
		ds := st.slack.all("findings in bucket data-bucket")
		if len(ds) != 2 || ds[0] != dx {
			t.Fatalf("want two digest messages, got %d", len(ds))
		}
		dy := ds[1]
		st.slack.mu.Lock()
		textY, updatesY := dy.Text, dy.Updates
		st.slack.mu.Unlock()
		if r := st.clickVia(slackmsg.ActionRemediateAll, vx, dy, rs.url(dy)); r.Status != http.StatusOK {
			t.Fatalf("click: %d\n%s", r.Status, st.logs)
		}
		st.slack.mu.Lock()
		changed := dy.Text != textY || dy.Updates != updatesY
		st.slack.mu.Unlock()
		if _, ok := dy.button(slackmsg.ActionRemediateAll); changed || !ok || rs.applied() != 0 {
			t.Fatalf("digest Y was replaced by X's answer (%d response_url answers): %s", rs.applied(), st.slackText(dy))
		}
		if !strings.Contains(st.slackText(dx), "decided by") {
			t.Fatalf("digest X does not show the decision: %s", st.slackText(dx))
		}
	})
}

// Two approvers click at once, each with the response_url Slack gave their click: one job, one
// "in progress" (on the winner's URL), the other gets an ephemeral on its own URL; shown QUEUED.
func TestAttackAckTwoClicksAtOnce(t *testing.T) {
	ledgers(t, func(t *testing.T, st *stack) {
		rs := newResponseURLs(t, st)
		id, m := st.postReview("ack/twice.csv")
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = st.clickVia(slackmsg.ActionRemediate, id, m, rs.url(m)+"/click"+string(rune('0'+i))).Status
			}()
		}
		wg.Wait()
		rs.mu.Lock()
		eph := append([]string(nil), rs.ephemerals...)
		rs.mu.Unlock()
		r := st.rec(id)
		if codes[0] != http.StatusOK || codes[1] != http.StatusOK || len(st.queue) != 1 || rs.applied() != 1 || len(eph) != 1 ||
			r.Status != ledger.Queued || r.ShownStatus != ledger.Queued {
			t.Fatalf("codes %v, %d jobs, %d in-progress answers, ephemerals %q, ledger %s shown %q\n%s", codes, len(st.queue), rs.applied(), eph, r.Status, r.ShownStatus, st.logs)
		}
		st.drain()
		st.quarantinedShown(id, m)
	})
}
