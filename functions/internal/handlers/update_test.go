package handlers

import (
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

const mediumPolicy = `version: 1
defaults:
  minSeverity: MEDIUM
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
`

func severity(level string, updatedAt string, count int) func(map[string]any) {
	return func(d map[string]any) {
		d["severity"] = map[string]any{"description": level}
		d["updatedAt"], d["count"] = updatedAt, count
	}
}

// Item 11: a Macie finding update (same id, later updatedAt, higher severity) is not a duplicate.
// A LOW credentials finding below the minimum was ignored; raised to HIGH it is now AUTO and
// quarantined. An older or repeated update changes nothing.
func TestFindingUpdateIsDecidedAgain(t *testing.T) {
	st := newStackWith(t, mediumPolicy, nil)
	low := st.upload("event-eventbridge-csv.json", "keys/raised.txt", []byte("AKIA"), func(d map[string]any) {
		d["type"] = "SensitiveData:S3Object/Credentials"
		severity("Low", "2026-03-01T10:00:00Z", 1)(d)
	})
	id := "local-keys-raised.txt"
	if err := st.findings.Process(st.ctx, low); err != nil {
		t.Fatal(err)
	}
	if r := st.rec(id); r.Status != ledger.Ignored || len(st.queue) != 0 {
		t.Fatalf("LOW: %s", r.Status)
	}
	high := []byte(strings.Replace(strings.Replace(string(low), `"Low"`, `"High"`, 1), "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z", 1))
	high = []byte(strings.Replace(string(high), `"count":1`, `"count":3`, 1))
	if err := st.findings.Process(st.ctx, high); err != nil {
		t.Fatal(err)
	}
	r := st.rec(id)
	if r.Status != ledger.Queued || r.Severity != "HIGH" || r.Action != "AUTO" || r.FindingCount != 3 || len(st.queue) != 1 {
		t.Fatalf("after the update: %s %s %s count %d, %d jobs", r.Status, r.Severity, r.Action, r.FindingCount, len(st.queue))
	}
	if !strings.Contains(r.History[len(r.History)-1].Reason, "LOW → HIGH") {
		t.Fatalf("reason %q", r.History[len(r.History)-1].Reason)
	}
	st.drain()
	m := st.slack.find("data-bucket/keys/raised.txt")
	if r := st.rec(id); r.Status != ledger.Quarantined || m == nil || !strings.HasPrefix(m.Text, "Quarantined") {
		t.Fatalf("%s, %+v", r.Status, m)
	}
	// The same update again, and the older event, are duplicates.
	for _, ev := range [][]byte{high, low} {
		if err := st.findings.Process(st.ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if r := st.rec(id); r.Status != ledger.Quarantined || r.Severity != "HIGH" || len(st.queue) != 0 || st.slack.count() != 1 {
		t.Fatalf("a repeated update acted: %s %s", r.Status, r.Severity)
	}
}

// Item 11: an update to a finding waiting for review refreshes its message in place.
func TestFindingUpdateRefreshesTheReviewMessage(t *testing.T) {
	st := newStack(t)
	first := st.upload("event-eventbridge-csv.json", "pii/grows.csv", []byte("a"), severity("Medium", "2026-03-01T10:00:00Z", 1))
	st.findings.Process(st.ctx, first)
	m := st.slack.find("data-bucket/pii/grows.csv")
	if m == nil || !strings.Contains(st.slackText(m), "MEDIUM") {
		t.Fatalf("%+v", m)
	}
	later := []byte(strings.Replace(strings.Replace(string(first), `"Medium"`, `"High"`, 1), "2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z", 1))
	st.findings.Process(st.ctx, later)
	if !strings.Contains(st.slackText(m), "HIGH") || st.slack.count() != 1 {
		t.Fatalf("message not updated in place: %q (%d messages)", m.Text, st.slack.count())
	}
	if _, ok := m.button(slackmsg.ActionRemediate); !ok {
		t.Fatal("the refreshed review message lost its Remediate button")
	}
}
