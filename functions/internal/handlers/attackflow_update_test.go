package handlers

import (
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
