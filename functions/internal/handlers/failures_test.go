package handlers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Issue 12: what happens around a failure. Each test names the item it proves.

// flakyQueue fails the next n sends, then hands jobs to the stack's queue.
type flakyQueue struct {
	mu   sync.Mutex
	fail int
	next jobs.Queue
}

func (q *flakyQueue) Send(ctx context.Context, j jobs.Job) error {
	q.mu.Lock()
	if q.fail > 0 {
		q.fail--
		q.mu.Unlock()
		return errors.New("SendMessage: InternalError (injected)")
	}
	q.mu.Unlock()
	return q.next.Send(ctx, j)
}

func (st *stack) autoEvent(key string) []byte {
	return st.upload("event-eventbridge-csv.json", key, []byte("AKIA"+key), func(d map[string]any) {
		d["type"] = "SensitiveData:S3Object/Credentials"
	})
}

func (st *stack) rec(id string) ledger.Record {
	st.t.Helper()
	r, err := st.ledger.Get(st.ctx, id)
	if err != nil {
		st.t.Fatal(err)
	}
	return r
}

// sweepAt runs the sweeper as if the clock read now+d.
func (st *stack) sweepAt(d time.Duration) SweepReport {
	st.t.Helper()
	at := time.Now().Add(d)
	st.sweeper.Now = func() time.Time { return at }
	rep, err := st.sweeper.Run(st.ctx)
	if err != nil {
		st.t.Fatal(err)
	}
	return rep
}

// Item 3: Slack down (or the bot removed from the channel) does not hold up an AUTO quarantine;
// the notification is left PENDING and the sweeper posts it once Slack is back.
func TestAutoQueuesTheJobFirstWhenSlackIsDown(t *testing.T) {
	for _, fault := range []string{"500", "down", "not_in_channel"} {
		t.Run(fault, func(t *testing.T) {
			st := newStack(t)
			st.slack.setFault(fault)
			ev := st.autoEvent("keys/" + fault + ".txt")
			resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(ev))
			if len(resp.BatchItemFailures) != 0 || len(st.queue) != 1 {
				t.Fatalf("Slack %s: %d failures, %d jobs queued; want the job queued and the event done", fault, len(resp.BatchItemFailures), len(st.queue))
			}
			id := "local-keys-" + fault + ".txt"
			if r := st.rec(id); r.JobSentAt.IsZero() || r.NotifyStatus != NotifyPending || r.MessageTS != "" {
				t.Fatalf("record %+v", r)
			}
			st.drain() // quarantined while Slack is still down
			if r := st.rec(id); r.Status != ledger.Quarantined || r.ShownStatus != "" || st.slack.count() != 0 {
				t.Fatalf("after the move: %s, shown %q, %d messages", r.Status, r.ShownStatus, st.slack.count())
			}
			st.slack.setFault("")
			rep := st.sweepAt(0)
			m := st.slack.find("data-bucket/keys/" + fault + ".txt")
			if m == nil || !strings.HasPrefix(m.Text, "Quarantined") || rep.Rerendered != 1 {
				t.Fatalf("sweeper report %+v, message %+v", rep, m)
			}
			if _, ok := m.button(slackmsg.ActionRelease); !ok {
				t.Fatal("the swept message has no Release button")
			}
			if r := st.rec(id); r.ShownStatus != ledger.Quarantined {
				t.Fatalf("shown %q", r.ShownStatus)
			}
			if rep := st.sweepAt(0); rep.Rerendered != 0 || st.slack.count() != 1 {
				t.Fatalf("a second sweep re-rendered again: %+v", rep)
			}
		})
	}
}

// Item 4: the job send fails once after the message went out. The redelivery sends the job: the
// finding is not taken for a duplicate, and no second message is posted.
func TestSendErrorDoesNotStrandAuto(t *testing.T) {
	st := newStack(t)
	q := &flakyQueue{fail: 1, next: st.queue}
	st.findings.Jobs = q
	ev := st.autoEvent("keys/send.txt")
	resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(ev))
	if len(resp.BatchItemFailures) != 1 || len(st.queue) != 0 {
		t.Fatalf("first delivery: %d failures, %d jobs", len(resp.BatchItemFailures), len(st.queue))
	}
	if r := st.rec("local-keys-send.txt"); !r.JobSentAt.IsZero() {
		t.Fatal("job recorded as sent although Send failed")
	}
	resp, _ = st.findings.HandleSQS(st.ctx, sqsEvent(ev)) // SQS redelivers
	if len(resp.BatchItemFailures) != 0 || len(st.queue) != 1 {
		t.Fatalf("redelivery: %d failures, %d jobs; want the job sent", len(resp.BatchItemFailures), len(st.queue))
	}
	st.drain()
	if r := st.rec("local-keys-send.txt"); r.Status != ledger.Quarantined || st.slack.count() != 1 {
		t.Fatalf("%s with %d messages", r.Status, st.slack.count())
	}
}

// Item 9: the same event processed twice at once gives one Slack message. The first delivery's
// post is held inside Slack until the second delivery has finished, so the race is forced.
func TestSameEventTwiceAtOnceOneMessage(t *testing.T) {
	st := newStack(t)
	ev := st.upload("event-eventbridge-csv.json", "pii/twice.csv", []byte("name,ssn"), nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	st.slack.mu.Lock()
	st.slack.onPost = func() { once.Do(func() { close(entered); <-release }) }
	st.slack.mu.Unlock()
	first := make(chan error)
	go func() { first <- st.findings.Process(st.ctx, ev) }()
	<-entered
	if err := st.findings.Process(st.ctx, ev); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := st.slack.count(); n != 1 {
		t.Fatalf("%d messages for one finding", n)
	}
	if r := st.rec("local-pii-twice.csv"); r.MessageTS == "" || r.ShownStatus != ledger.Notified || r.PostClaim != "" {
		t.Fatalf("record %+v", r)
	}
}

const tombstonePolicy = `version: 1
defaults:
  actions:
    SensitiveData:S3Object/Credentials: AUTO
    SensitiveData:*: REVIEW
  approvers:
    users: [U0ALICE]
  slack:
    channel: C0SEC
    teamId: T0TEAM
  quarantine:
    bucket: quarantine-{account}
    tombstone: true
`

// Item 2: the tombstone write fails after the delete. The object is quarantined: the record says
// QUARANTINED with a warning and where the copy is, Release is offered, and Dismiss is refused.
func TestFailedTombstoneIsQuarantinedWithAWarning(t *testing.T) {
	faults, via := newS3Faults(t)
	st := newStackWith(t, tombstonePolicy, via)
	ev := st.autoEvent("keys/tomb.txt")
	st.findings.HandleSQS(st.ctx, sqsEvent(ev))
	faults.set("PutObject", "500") // the tombstone is the remediator's only PutObject
	st.drain()
	if faults.hit() == 0 {
		t.Fatal("the tombstone write was not attempted")
	}
	id := "local-keys-tomb.txt"
	r := st.rec(id)
	if r.Status != ledger.Quarantined || r.QuarantineKey == "" || r.QuarantineVersion == "" || !strings.Contains(r.Error, "tombstone") {
		t.Fatalf("record %s at %q version %q, error %q", r.Status, r.QuarantineKey, r.QuarantineVersion, r.Error)
	}
	if !st.exists("quarantine-555555555555", r.QuarantineKey, r.QuarantineVersion) || st.exists("data-bucket", "keys/tomb.txt", r.VersionID) {
		t.Fatal("the object is not where the record says")
	}
	m := st.slack.find("data-bucket/keys/tomb.txt")
	if _, ok := m.button(slackmsg.ActionRelease); !ok || !strings.Contains(st.slackText(m), "tombstone") {
		t.Fatalf("message %q: want Release and the warning", st.slackText(m))
	}
	// Dismiss (a stale button, or a crafted click) is refused, naming the copy and the way out.
	st.click("U0ALICE", slackmsg.ActionDismiss, id, m.Channel, m.TS)
	if r := st.rec(id); r.Status != ledger.Quarantined {
		t.Fatalf("dismissed: %s", r.Status)
	}
}

// Item 2: a FAILED record whose copy exists cannot be dismissed (the copy would expire with the
// quarantine bucket's retention); its message offers Retry only.
func TestDismissRefusedWhileACopyExists(t *testing.T) {
	st := newStack(t)
	ev := st.upload("event-eventbridge-csv.json", "pii/copy.csv", []byte("x"), nil)
	st.findings.Process(st.ctx, ev)
	id := "local-pii-copy.csv"
	m := st.slack.find("data-bucket/pii/copy.csv")
	for _, c := range []ledger.Change{{From: ledger.Notified, To: ledger.Queued, Actor: "U0ALICE"}, {From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator},
		{From: ledger.InProgress, To: ledger.Failed, Actor: ActorRemediator, Mutate: func(r *ledger.Record) {
			r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion, r.Error = "quarantine-555555555555", "555555555555/data-bucket/pii/copy.csv", "v1", "delete failed"
		}}} {
		if _, err := st.ledger.Transition(st.ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	st.click("U0ALICE", slackmsg.ActionDismiss, id, m.Channel, m.TS)
	if r := st.rec(id); r.Status != ledger.Failed {
		t.Fatalf("dismissed with a copy in quarantine: %s", r.Status)
	}
	if e := st.slack.lastEphemeral(); !strings.Contains(e, "quarantine copy") || !strings.Contains(e, "Retry") {
		t.Fatalf("refusal %q", e)
	}
	st.sweepAt(0) // re-renders the FAILED message
	if _, ok := m.button(slackmsg.ActionDismiss); ok {
		t.Fatalf("FAILED with a copy still offers Dismiss: %q", st.slackText(m))
	}
	if _, ok := m.button(slackmsg.ActionRetry); !ok {
		t.Fatal("no Retry")
	}
}

// Item 3 for REVIEW: a Slack outage does not send the finding round SQS into the DLQ; the record
// waits NOTIFIED with its notification PENDING, and the sweeper posts the review message.
func TestReviewNotificationDeferredToTheSweeper(t *testing.T) {
	st := newStack(t)
	st.slack.setFault("down")
	ev := st.upload("event-eventbridge-csv.json", "pii/outage.csv", []byte("x"), nil)
	resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(ev))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatal("a Slack outage sent the finding back to the queue")
	}
	if r := st.rec("local-pii-outage.csv"); r.Status != ledger.Notified || r.NotifyStatus != NotifyPending {
		t.Fatalf("%s %s", r.Status, r.NotifyStatus)
	}
	st.slack.setFault("")
	if rep := st.sweepAt(0); rep.Rerendered != 1 {
		t.Fatalf("%+v", rep)
	}
	m := st.slack.find("data-bucket/pii/outage.csv")
	if m == nil {
		t.Fatal("no review message after the sweep")
	}
	if _, ok := m.button(slackmsg.ActionRemediate); !ok {
		t.Fatal("no Remediate button")
	}
}
