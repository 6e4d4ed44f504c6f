package local

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/standin"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Row is one line of the final table.
type Row struct {
	Finding, Decision, Status, Where string
	Want                             string
	OK                               bool
}

// WaitStatus polls the ledger until a finding reaches a status.
func (e *Env) WaitStatus(ctx context.Context, id string, want ledger.Status, timeout time.Duration) (ledger.Record, error) {
	deadline := time.Now().Add(timeout)
	for {
		rec, err := e.Ledger.Get(ctx, id)
		if err == nil && rec.Status == want {
			return rec, nil
		}
		if time.Now().After(deadline) {
			return rec, fmt.Errorf("finding %s is %s after %s, want %s (error: %v %s)", id, rec.Status, timeout, want, err, rec.Error)
		}
		select {
		case <-ctx.Done():
			return rec, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// messageFor finds the stand-in message of a finding by its buttons or its object key.
func (e *Env) messageFor(s Seed) (standin.Message, bool) {
	for _, m := range e.StandIn.Messages() {
		if strings.Contains(m.Text, s.Key) {
			return m, true
		}
	}
	return standin.Message{}, false
}

// Headless runs the scripted scenario: AUTO quarantined by policy; the REVIEW finding refused
// for a non-approver, then approved by the approver; then released. It prints the final table
// and returns an error when anything differs from what is expected.
func (e *Env) Headless(ctx context.Context, out io.Writer) error {
	if err := e.Replay(ctx); err != nil {
		return err
	}
	auto, review, low := Seeds[0], Seeds[1], Seeds[2]
	var problems []string
	step := func(format string, args ...any) { fmt.Fprintf(out, "• "+format+"\n", args...) }

	if _, err := e.WaitStatus(ctx, auto.FindingID(), ledger.Quarantined, 30*time.Second); err != nil {
		problems = append(problems, err.Error())
	} else {
		step("AUTO: %s quarantined by policy", auto.Key)
	}
	msg, ok := e.messageFor(review)
	if !ok {
		return fmt.Errorf("no Slack message for the REVIEW finding %s", review.Key)
	}
	press := func(user, action string) (int, error) {
		return e.StandIn.Press(ctx, standin.Click{MessageID: msg.ID, ActionID: action, Value: review.FindingID(), User: user})
	}
	if _, err := press(Bystander, slackmsg.ActionRemediate); err != nil {
		return err
	}
	// No wait needed: the remediation-handler answers the click only after its ledger check and
	// its ephemeral reply (through the stand-in's response_url), so both are visible now.
	if rec, _ := e.Ledger.Get(ctx, review.FindingID()); rec.Status != ledger.Notified {
		problems = append(problems, fmt.Sprintf("a non-approver's click changed %s to %s", review.FindingID(), rec.Status))
	} else if m, _ := e.messageFor(review); len(m.Ephemerals) == 0 || !strings.Contains(m.Ephemerals[len(m.Ephemerals)-1].Text, "not an approver") {
		problems = append(problems, "the non-approver was not told they are not an approver")
	} else {
		step("REVIEW: bob (not an approver) pressed Remediate: refused, nothing changed")
	}
	if _, err := press(Approver, slackmsg.ActionRemediate); err != nil {
		return err
	}
	if _, err := e.WaitStatus(ctx, review.FindingID(), ledger.Quarantined, 30*time.Second); err != nil {
		problems = append(problems, err.Error())
	} else {
		step("REVIEW: alice (approver) pressed Remediate: %s quarantined", review.Key)
	}
	if _, err := press(Approver, slackmsg.ActionRelease); err != nil {
		return err
	}
	if _, err := e.WaitStatus(ctx, review.FindingID(), ledger.Released, 30*time.Second); err != nil {
		problems = append(problems, err.Error())
	} else {
		step("REVIEW: alice pressed Release: %s restored", review.Key)
	}

	problems = append(problems, e.policyScenario(ctx, step)...)

	want := map[string][2]string{ // seed → status, where
		auto.Name:   {string(ledger.Quarantined), "quarantine"},
		review.Name: {string(ledger.Released), "source"},
		low.Name:    {string(ledger.Ignored), "source"},
	}
	rows := e.Table(ctx)
	for i := range Seeds {
		w := want[Seeds[i].Name]
		where := "source"
		if strings.Contains(rows[i].Where, "quarantine") {
			where = "quarantine"
		}
		rows[i].Want = w[0] + " in " + w[1]
		rows[i].OK = rows[i].Status == w[0] && where == w[1] && rows[i].Decision == Seeds[i].Expect
		if !rows[i].OK {
			problems = append(problems, fmt.Sprintf("%s: %s %s at %s, want %s %s", rows[i].Finding, rows[i].Decision, rows[i].Status, rows[i].Where, Seeds[i].Expect, rows[i].Want))
		}
	}
	if p := &rows[len(rows)-1]; p.Finding == PolicyFindingID {
		p.Want = string(ledger.Undone) + " with Block Public Access off (restored)"
		p.OK = p.Status == string(ledger.Undone) && p.Where == policyWhere(false) && p.Decision == "REVIEW"
		if !p.OK {
			problems = append(problems, fmt.Sprintf("%s: %s %s at %s, want REVIEW %s", p.Finding, p.Decision, p.Status, p.Where, p.Want))
		}
	}
	fmt.Fprintln(out)
	PrintTable(out, rows)
	if len(problems) > 0 {
		return fmt.Errorf("the scenario differs from what is expected:\n  %s", strings.Join(problems, "\n  "))
	}
	fmt.Fprintln(out, "\nAll findings ended as expected.")
	return nil
}

// Table is the state of every seeded finding.
func (e *Env) Table(ctx context.Context) []Row {
	var rows []Row
	for _, s := range Seeds {
		rec, err := e.Ledger.Get(ctx, s.FindingID())
		r := Row{Finding: s.FindingID(), Where: e.Where(ctx, s)}
		if err != nil {
			r.Status = "MISSING"
		} else {
			r.Decision, r.Status = rec.Action, string(rec.Status)
		}
		rows = append(rows, r)
	}
	r := Row{Finding: PolicyFindingID, Where: e.policyWhereNow(ctx)}
	if rec, err := e.Ledger.Get(ctx, PolicyFindingID); err != nil {
		r.Status = "MISSING"
	} else {
		r.Decision, r.Status = rec.Action, string(rec.Status)
	}
	return append(rows, r)
}

// policyWhere describes workshop-data's Block Public Access for the table.
func policyWhere(allOn bool) string {
	if allOn {
		return "s3://" + PolicyBucket + " Block Public Access: all four on"
	}
	return "s3://" + PolicyBucket + " Block Public Access: off"
}

func (e *Env) policyWhereNow(ctx context.Context) string {
	cur, err := e.PublicAccessBlock(ctx)
	switch {
	case err != nil:
		return "(settings server: " + err.Error() + ")"
	case cur == allOnJSON:
		return policyWhere(true)
	case cur == allOffJSON:
		return policyWhere(false)
	}
	return "s3://" + PolicyBucket + " Block Public Access: " + cur
}

const (
	allOnJSON  = `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}`
	allOffJSON = `{"BlockPublicAcls":false,"BlockPublicPolicy":false,"IgnorePublicAcls":false,"RestrictPublicBuckets":false}`
)

// policyScenario: the policy finding is REVIEW; once the remediator has stored the snapshot the
// approver presses Fix (all four settings on), then Undo (back to the stored snapshot).
func (e *Env) policyScenario(ctx context.Context, step func(string, ...any)) []string {
	before, err := e.PublicAccessBlock(ctx)
	if err != nil {
		return []string{"read workshop-data's Block Public Access: " + err.Error()}
	}
	deadline := time.Now().Add(30 * time.Second)
	var msg standin.Message
	for {
		rec, _ := e.Ledger.Get(ctx, PolicyFindingID)
		m, ok := e.policyMessage()
		if ok && rec.BucketFix != nil && rec.BucketFix.Plan != "" && hasButton(m, slackmsg.ActionFix) {
			msg = m
			break
		}
		if time.Now().After(deadline) {
			return []string{fmt.Sprintf("the policy finding's message has no Fix button after 30s (status %s)", rec.Status)}
		}
		select {
		case <-ctx.Done():
			return []string{ctx.Err().Error()}
		case <-time.After(100 * time.Millisecond):
		}
	}
	press := func(action string) error {
		_, err := e.StandIn.Press(ctx, standin.Click{MessageID: msg.ID, ActionID: action, Value: PolicyFindingID, User: Approver})
		return err
	}
	if err := press(slackmsg.ActionFix); err != nil {
		return []string{err.Error()}
	}
	if _, err := e.WaitStatus(ctx, PolicyFindingID, ledger.Fixed, 30*time.Second); err != nil {
		return []string{err.Error()}
	}
	if now, _ := e.PublicAccessBlock(ctx); now != allOnJSON {
		return []string{"after Fix, workshop-data's Block Public Access is " + now}
	}
	step("POLICY: alice pressed Fix: Block Public Access on s3://%s is now all four on", PolicyBucket)
	if err := press(slackmsg.ActionUndo); err != nil {
		return []string{err.Error()}
	}
	if _, err := e.WaitStatus(ctx, PolicyFindingID, ledger.Undone, 30*time.Second); err != nil {
		return []string{err.Error()}
	}
	if now, _ := e.PublicAccessBlock(ctx); now != before {
		return []string{"after Undo, workshop-data's Block Public Access is " + now + ", want the snapshot " + before}
	}
	step("POLICY: alice pressed Undo: Block Public Access on s3://%s restored exactly", PolicyBucket)
	return nil
}

// policyMessage is the stand-in message of the replayed policy finding.
func (e *Env) policyMessage() (standin.Message, bool) {
	for _, m := range e.StandIn.Messages() {
		if strings.Contains(m.Text, "S3BlockPublicAccessDisabled") && strings.Contains(m.Text, PolicyBucket) {
			return m, true
		}
	}
	return standin.Message{}, false
}

func hasButton(m standin.Message, actionID string) bool {
	for _, b := range m.Blocks {
		if strings.Contains(string(b), `"action_id":"`+actionID+`"`) {
			return true
		}
	}
	return false
}

// PrintTable prints rows.
func PrintTable(out io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINDING\tDECISION\tSTATUS\tOBJECT IS AT\t")
	for _, r := range rows {
		mark := ""
		if r.Want != "" && !r.OK {
			mark = "✗ want " + r.Want
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Finding, r.Decision, r.Status, r.Where, mark)
	}
	tw.Flush()
}
