package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// TestRemediatorRechecksTheApprover: Alice, an approver, clicks Remediate; before the job runs
// the policy no longer lists her. The remediator re-checks the click's author against the
// current policy for the finding's account and refuses: the object stays in its bucket, the
// record is FAILED saying why, and nothing is copied. The same job with her still an approver
// quarantines (the control).
func TestRemediatorRechecksTheApprover(t *testing.T) {
	for _, withdrawn := range []bool{false, true} {
		st := newStack(t)
		ev := st.upload("event-eventbridge-csv.json", "approval/a.csv", []byte("name,ssn\n"), nil)
		if resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(ev)); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("finding not processed:\n%s", st.logs)
		}
		rec, err := st.ledger.Get(st.ctx, "local-approval-a.csv")
		if err != nil || rec.Status != ledger.Notified {
			t.Fatalf("record %v %v", rec.Status, err)
		}
		if r := st.click("U0ALICE", slackmsg.ActionRemediate, rec.FindingID, rec.Channel, rec.MessageTS); r.Status != http.StatusOK {
			t.Fatalf("click: %d", r.Status)
		}
		if withdrawn {
			pol, err := policy.Parse([]byte(strings.Replace(testPolicy, "users: [U0ALICE]", "users: [U0BOB]", 1)), "test.yaml")
			if err != nil {
				t.Fatal(err)
			}
			st.remed.Policy = pol
		}
		st.drain()
		got, _ := st.ledger.Get(st.ctx, rec.FindingID)
		inSource := st.exists("data-bucket", rec.Key, rec.VersionID)
		switch {
		case withdrawn && (got.Status != ledger.Failed || !strings.Contains(got.Error, "may not approve") || !inSource || got.HasCopy()):
			t.Fatalf("approval withdrawn: status %s, error %q, still in source %v, copy %v\n%s", got.Status, got.Error, inSource, got.HasCopy(), st.logs)
		case !withdrawn && (got.Status != ledger.Quarantined || inSource):
			t.Fatalf("approver still listed: status %s, still in source %v\n%s", got.Status, inSource, st.logs)
		}
	}
}
