package slackmsg

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

func policyRecord(status ledger.Status, action string) ledger.Record {
	at := time.Date(2024, 3, 11, 18, 41, 59, 0, time.UTC)
	return ledger.Record{
		FindingID: "p1", AccountID: "123456789012", Region: "us-east-1", Partition: "aws", Bucket: "b*ad_<bucket>",
		FindingType: "Policy:IAMUser/S3BlockPublicAccessDisabled", Severity: "HIGH", Action: action, Status: status, DetectedAt: at,
		PolicyFacts: &ledger.PolicyFacts{API: "DeletePublicAccessBlock", APIService: "s3.amazonaws.com", FirstSeen: at, LastSeen: at,
			Actor: "arn:aws:iam::123456789012:user/<!channel>", ActorType: "IAMUser", IP: "198.51.100.24", Domain: "evil.example",
			Exposure: []string{"public access: PUBLIC"}, SharedWith: []string{"account *444455556666*"}, OpenDataFindings: 3},
		BucketFix: &ledger.BucketFix{Kind: "block-public-access", Plan: "{}", BeforeText: "Block Public Access: none", AfterText: "Block Public Access: all four on", Changed: true},
		History: []ledger.Entry{{To: ledger.Received, Actor: "policy"}, {From: ledger.Received, To: ledger.Notified, Actor: "policy"},
			{From: ledger.Notified, To: ledger.Queued, Actor: "U0ALICE"}},
	}
}

func actionIDs(m Message) []string {
	b, _ := json.Marshal(m.Blocks)
	var blocks []map[string]any
	json.Unmarshal(b, &blocks)
	var ids []string
	for _, bl := range blocks {
		els, _ := bl["elements"].([]any)
		for _, e := range els {
			if id, ok := e.(map[string]any)["action_id"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func TestPolicyMessagesShowTheFindingEscaped(t *testing.T) {
	m := PolicyForState(policyRecord(ledger.Notified, "REVIEW"))
	b, _ := json.Marshal(m)
	s := string(b)
	for _, want := range []string{"DeletePublicAccessBlock", "198.51.100.24", "evil.example", "public access: PUBLIC", "Block Public Access: none",
		"Block Public Access: all four on", "3 open sensitive-data findings in this bucket", "Shared with"} {
		if !strings.Contains(s, want) {
			t.Errorf("message lacks %q", want)
		}
	}
	// Attacker-controlled text (the bucket, the actor's name) never becomes a mention or markup.
	for _, bad := range []string{"<!channel>", "<bucket>", "\\u003c!channel\\u003e"} {
		if strings.Contains(s, bad) {
			t.Errorf("unescaped %q in %s", bad, s)
		}
	}
}

func TestPolicyNotifyMessageDoesNotPromiseAFix(t *testing.T) {
	r := policyRecord(ledger.Notified, "NOTIFY")
	r.BucketFix.Plan = ""
	b, _ := json.Marshal(PolicyForState(r))
	if strings.Contains(string(b), "Fix button") || strings.Contains(string(b), "Reading the bucket") {
		t.Fatalf("a NOTIFY message promises a fix: %s", b)
	}
}

func TestPolicyMessageButtonsPerState(t *testing.T) {
	noPlan := policyRecord(ledger.Notified, "REVIEW")
	noPlan.BucketFix.Plan = ""
	shared := policyRecord(ledger.Notified, "REVIEW")
	shared.BucketFix = nil
	already := policyRecord(ledger.Fixed, "AUTO")
	already.BucketFix.Changed = false
	for name, c := range map[string]struct {
		r    ledger.Record
		want string
	}{
		"review with a plan":     {policyRecord(ledger.Notified, "REVIEW"), "fix,dismiss"},
		"review before the plan": {noPlan, "dismiss"},
		"no remediation":         {shared, "acknowledge,dismiss"},
		"notify":                 {policyRecord(ledger.Notified, "NOTIFY"), ""},
		"in progress":            {policyRecord(ledger.InProgress, "REVIEW"), ""},
		"fixed":                  {policyRecord(ledger.Fixed, "REVIEW"), "undo"},
		"already fixed":          {already, ""},
		"undoing":                {policyRecord(ledger.Undoing, "REVIEW"), ""},
		"undone":                 {policyRecord(ledger.Undone, "REVIEW"), ""},
		"failed":                 {policyRecord(ledger.Failed, "REVIEW"), "retry,dismiss"},
		"blocked":                {policyRecord(ledger.Blocked, "REVIEW"), "retry,dismiss"},
		"dismissed":              {policyRecord(ledger.Dismissed, "REVIEW"), ""},
	} {
		if got := strings.Join(actionIDs(ForState(c.r)), ","); got != c.want {
			t.Errorf("%s: buttons %q, want %q", name, got, c.want)
		}
	}
}
