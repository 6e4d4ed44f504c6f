package handlers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// digestStack is the stack with a digest threshold of 3 findings per 60 s and a fake clock
// driving both the digester and the Slack pacer.
func digestStack(t *testing.T) (*stack, *clock, *[]time.Duration) {
	st := newStack(t)
	pol, err := policy.Parse([]byte(testPolicy+`    digest:
      threshold: 3
      windowSeconds: 60
`), "digest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	var waits []time.Duration
	bot := chatops.NewBot("xoxb", st.slack.GetAPIURL(), "C0SEC", nil)
	pacer := &chatops.Pacer{Interval: time.Second, Now: clk.Now}
	pacer.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); clk.Add(d); return nil }
	bot.Pacer = pacer
	st.findings.Policy, st.actions.Policy, st.remed.Policy = pol, pol, pol
	st.findings.Slack, st.actions.Slack, st.remed.Slack = bot, bot, bot
	st.findings.Digest = &Digester{Slack: bot, Ledger: st.ledger, Now: clk.Now,
		Sleep: func(_ context.Context, d time.Duration) error { clk.Add(d); return nil }}
	return st, clk, &waits
}

func (st *stack) burst(n int, prefix, typ string, clk *clock, every time.Duration) []string {
	var ids []string
	for i := 0; i < n; i++ {
		ev := st.upload("event-eventbridge-csv.json", fmt.Sprintf("%s/%03d.csv", prefix, i), []byte("secret"), func(d map[string]any) { d["type"] = typ })
		st.findings.HandleSQS(st.ctx, sqsEvent(ev))
		ids = append(ids, "local-"+strings.ReplaceAll(fmt.Sprintf("%s/%03d.csv", prefix, i), "/", "-"))
		clk.Add(every)
	}
	return ids
}

func TestDigestThresholdWindowAndPacing(t *testing.T) {
	st, clk, waits := digestStack(t)
	ids := st.burst(10, "burst", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	st.slack.mu.Lock()
	posted := len(st.slack.msgs)
	st.slack.mu.Unlock()
	// 3 single messages, then one digest for the rest.
	if posted != 4 {
		t.Fatalf("%d messages posted, want 3 singles + 1 digest", posted)
	}
	d := st.slack.find("findings in bucket data-bucket")
	if d == nil || !strings.HasPrefix(d.Text, "7 findings in bucket") {
		t.Fatalf("digest: %+v", d)
	}
	if _, ok := d.button(slackmsg.ActionRemediateAll); !ok {
		t.Fatal("digest has no Remediate all button")
	}
	// Posts to the channel were paced one second apart (no burst faster than Slack allows).
	for _, w := range *waits {
		if w > time.Second {
			t.Fatalf("waited %v", w)
		}
	}
	if len(*waits) < 3 {
		t.Fatalf("posts were not paced: %v", *waits)
	}
	// Every finding has its own record; the digest ones say so.
	inDigest := 0
	for _, id := range ids {
		r, err := st.ledger.Get(st.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.NotifyStatus == NotifyDigest && r.DigestID != "" {
			inDigest++
		} else if r.NotifyStatus != NotifyPosted {
			t.Errorf("%s: notify status %q", id, r.NotifyStatus)
		}
	}
	if inDigest != 7 {
		t.Fatalf("%d findings in the digest", inDigest)
	}
	// After the window, a new burst starts counting afresh: singles again.
	clk.Add(2 * time.Minute)
	st.burst(2, "later", "SensitiveData:S3Object/Multiple", clk, time.Second)
	st.slack.mu.Lock()
	after := len(st.slack.msgs)
	st.slack.mu.Unlock()
	if after != posted+2 {
		t.Fatalf("after the window: %d messages, want %d", after, posted+2)
	}
	// The digest caught up with every finding once flushed.
	st.findings.Digest.Flush(st.ctx, true)
	if !strings.HasPrefix(d.Text, "7 findings") {
		t.Fatalf("digest after flush: %q", d.Text)
	}
}

func TestDigestBulkApproveAndDismiss(t *testing.T) {
	st, clk, _ := digestStack(t)
	st.burst(8, "bulk", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	d := st.slack.find("findings in bucket data-bucket")
	id, _ := d.button(slackmsg.ActionRemediateAll)
	// A non-approver cannot bulk-approve.
	st.click("U0MALLORY", slackmsg.ActionRemediateAll, id, d.Channel, d.TS)
	if len(st.queue) != 0 || !strings.Contains(st.slack.lastEphemeral(), "not an approver") {
		t.Fatal("non-approver bulk approval not refused")
	}
	st.click("U0ALICE", slackmsg.ActionRemediateAll, id, d.Channel, d.TS)
	// The click only queues one digest job (Slack's 3 s), and says so at once.
	if n := len(st.queue); n != 1 || !strings.Contains(st.slackText(d), "decided by") {
		t.Fatalf("%d jobs, want 1 digest job; message %s", n, st.slackText(d))
	}
	if n := st.drain(); n != 6 {
		t.Fatalf("%d jobs run, want the digest job and one per finding (5)", n)
	}
	if !strings.Contains(st.slackText(d), "5 findings queued for quarantine") || !strings.Contains(st.slackText(d), "of the 5 this message showed") {
		t.Fatalf("digest not updated: %s", st.slackText(d))
	}
	recs, _ := st.ledger.List(st.ctx, ledger.Filter{DigestID: digestID(t, id)})
	if len(recs) != 5 {
		t.Fatalf("%d records in the digest", len(recs))
	}
	for _, r := range recs {
		if r.Status != ledger.Quarantined {
			t.Fatalf("%s: %s", r.FindingID, r.Status)
		}
		approved := false
		for _, e := range r.History {
			if e.To == ledger.Queued && e.Actor == "U0ALICE" {
				approved = true
			}
		}
		if !approved {
			t.Fatalf("%s: no audit entry naming the approver: %+v", r.FindingID, r.History)
		}
	}
	// Quarantined digest members get no message of their own.
	st.slack.mu.Lock()
	n := len(st.slack.msgs)
	st.slack.mu.Unlock()
	if n != 4 {
		t.Fatalf("%d messages", n)
	}

	// Bulk dismiss on a second burst (another bucket key: new prefix is the same bucket, so wait
	// out the window first).
	clk.Add(2 * time.Minute)
	st.burst(6, "dismiss", "SensitiveData:S3Object/Personal", clk, 100*time.Millisecond)
	var d2 *slackMsg
	st.slack.mu.Lock()
	for _, m := range st.slack.msgs {
		if strings.HasPrefix(m.Text, "3 findings in bucket") {
			d2 = m
		}
	}
	st.slack.mu.Unlock()
	if d2 == nil {
		t.Fatal("second digest not found")
	}
	id2, _ := d2.button(slackmsg.ActionDismissAll)
	st.click("U0ALICE", slackmsg.ActionDismissAll, id2, d2.Channel, d2.TS)
	st.drain()
	recs, _ = st.ledger.List(st.ctx, ledger.Filter{DigestID: digestID(t, id2)})
	if len(recs) != 3 {
		t.Fatalf("%d records in digest 2", len(recs))
	}
	for _, r := range recs {
		if r.Status != ledger.Dismissed || r.LastActor() != "U0ALICE" {
			t.Fatalf("%s: %s by %s", r.FindingID, r.Status, r.LastActor())
		}
	}
	if len(st.queue) != 0 {
		t.Fatal("dismiss queued jobs")
	}
}

// digestID is the digest id in a digest button's value (which also carries the cut-off).
func digestID(t *testing.T, value string) string {
	t.Helper()
	id, _, ok := slackmsg.ParseDigestValue(value)
	if !ok {
		t.Fatalf("digest button value %q", value)
	}
	return id
}

func TestDigestAccountFromID(t *testing.T) {
	if a, ok := DigestAccount("digest-555555555555-my-bucket-1700000000000"); !ok || a != "555555555555" {
		t.Fatal(a, ok)
	}
	for _, bad := range []string{"", "digest-", "digest-55555-b-1", "finding-555555555555-b-1", "digest-55555555555x-b-1"} {
		if _, ok := DigestAccount(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDigestReviewIndividually(t *testing.T) {
	st, clk, _ := digestStack(t)
	st.burst(6, "each", "SensitiveData:S3Object/Multiple", clk, 100*time.Millisecond)
	d := st.slack.find("findings in bucket data-bucket")
	id, _ := d.button(slackmsg.ActionReviewEach)
	st.click("U0ALICE", slackmsg.ActionReviewEach, id, d.Channel, d.TS)
	if n := st.drain(); n != 4 {
		t.Fatalf("%d jobs, want the digest job and 3 notify jobs", n)
	}
	recs, _ := st.ledger.List(st.ctx, ledger.Filter{DigestID: digestID(t, id)})
	if len(recs) != 3 {
		t.Fatalf("%d records in the digest", len(recs))
	}
	for _, r := range recs {
		if r.MessageTS == "" || r.NotifyStatus != NotifyPosted {
			t.Fatalf("%s not posted individually: %+v", r.FindingID, r)
		}
	}
}
