package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// Attack: a Macie update (LOW → HIGH) arrives while the first delivery of the LOW event is still
// RECEIVED (it died after the ledger create, or is simply running at the same time). The update
// refreshes the record but does not re-decide a RECEIVED record, and the stored decision (IGNORE,
// taken for LOW) is what the first delivery, or the sweeper's resume, carries out: a HIGH
// credentials finding, AUTO by the policy, ended IGNORED and the secret stayed in its bucket.
// Now a RECEIVED record is decided again by the update, which carries the new decision out.
func TestUpdateWhileReceivedIsDecidedAgain(t *testing.T) {
	st := newStackWith(t, mediumPolicy, nil)
	low := st.upload("event-eventbridge-csv.json", "keys/early.txt", []byte("AKIA"), func(d map[string]any) {
		d["type"] = "SensitiveData:S3Object/Credentials"
		severity("Low", "2026-03-01T10:00:00Z", 1)(d)
	})
	id := "local-keys-early.txt"
	st.findings.Ledger = failTo{Store: st.ledger, to: ledger.Ignored}
	if err := st.findings.Process(st.ctx, low); err == nil {
		t.Fatal("the injected crash did not stop the first delivery")
	}
	st.findings.Ledger = st.ledger
	high := []byte(strings.Replace(strings.Replace(string(low), `"Low"`, `"High"`, 1), "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z", 1))
	if err := st.findings.Process(st.ctx, high); err != nil {
		t.Fatal(err)
	}
	r := st.rec(id)
	t.Logf("after the update: %s severity %s action %s", r.Status, r.Severity, r.Action)
	st.sweepAt(Grace + 1)                                    // resumes the RECEIVED record from its stored decision
	if err := st.findings.Process(st.ctx, low); err != nil { // and SQS redelivers the LOW event
		t.Fatal(err)
	}
	st.drain()
	r = st.rec(id)
	if r.Status != ledger.Quarantined || st.exists("data-bucket", "keys/early.txt", r.VersionID) {
		t.Errorf("a HIGH credentials finding (AUTO) ended %s (severity %s, action %s) and the object is still in its bucket", r.Status, r.Severity, r.Action)
	}
	if ms := st.slack.all("data-bucket/keys/early.txt"); len(ms) != 1 || !strings.HasPrefix(ms[0].Text, "Quarantined") {
		t.Errorf("Slack: %d messages for the finding", len(ms))
	}
}

// holdModify is the real ledger; the first Modify made by the named run waits at the gate.
type holdModify struct {
	ledger.Store
	run  string
	gate *gate
}

func (l holdModify) Modify(ctx context.Context, id string, fn func(*ledger.Record) error) (ledger.Record, error) {
	if runOf(ctx) == l.run {
		l.gate.hold()
	}
	return l.Store.Modify(ctx, id, fn)
}

// The same update running at the same time as the first delivery, in both orders: the first
// delivery's IGNORE lands before the update refreshes the record, or after the update decided
// it again. Either way the HIGH finding is queued, once, and quarantined.
func TestUpdateRacingTheFirstDelivery(t *testing.T) {
	for _, order := range []string{"ignored-first", "update-first"} {
		t.Run(order, func(t *testing.T) {
			st := newStackWith(t, mediumPolicy, nil)
			low := st.upload("event-eventbridge-csv.json", "keys/race.txt", []byte("AKIA"), func(d map[string]any) {
				d["type"] = "SensitiveData:S3Object/Credentials"
				severity("Low", "2026-03-01T10:00:00Z", 1)(d)
			})
			high := []byte(strings.Replace(strings.Replace(string(low), `"Low"`, `"High"`, 1), "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z", 1))
			id := "local-keys-race.txt"
			g := newGate()
			first, update := withRun(st.ctx, "O"), withRun(st.ctx, "U")
			if order == "ignored-first" {
				// The update read RECEIVED and waits before its refresh; the first delivery ignores.
				// (The first delivery created the record, then died; its redelivery is the one racing.)
				st.findings.Ledger = failTo{Store: st.ledger, to: ledger.Ignored}
				if err := st.findings.Process(first, low); err == nil {
					t.Fatal("the injected crash did not stop the first delivery")
				}
				st.findings.Ledger = holdModify{Store: st.ledger, run: "U", gate: g}
				done := make(chan error, 1)
				go func() { done <- st.findings.Process(update, high) }()
				<-g.reached
				if err := st.findings.Process(first, low); err != nil {
					t.Fatal(err)
				}
				close(g.release)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			} else {
				// The first delivery created RECEIVED and waits before deciding; the update runs.
				st.findings.Ledger = holdLedger{Store: st.ledger, run: "O", to: ledger.Ignored, gate: g}
				done := make(chan error, 1)
				go func() { done <- st.findings.Process(first, low) }()
				<-g.reached
				if err := st.findings.Process(update, high); err != nil {
					t.Fatal(err)
				}
				close(g.release)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if n := len(st.queue); n != 1 {
				t.Fatalf("%d jobs", n)
			}
			st.drain()
			r := st.rec(id)
			if r.Status != ledger.Quarantined || r.Action != "AUTO" || st.exists("data-bucket", "keys/race.txt", r.VersionID) {
				t.Fatalf("%s action %s", r.Status, r.Action)
			}
		})
	}
}
