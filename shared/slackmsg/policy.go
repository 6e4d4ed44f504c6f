package slackmsg

import (
	"fmt"
	"strings"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/slack-go/slack"
)

// IsPolicyRecord: the record is a policy finding (a bucket's settings, not an object's data),
// rendered by the policy messages below.
func IsPolicyRecord(r ledger.Record) bool {
	return r.BucketFix != nil || r.PolicyFacts != nil || strings.HasPrefix(r.FindingType, "Policy:")
}

// remediationName says in words what a bucket fix kind changes.
func remediationName(kind string) string {
	switch kind {
	case "block-public-access":
		return "turn on all four Block Public Access settings"
	case "default-encryption":
		return "set default encryption"
	case "external-replication":
		return "disable replication rules to accounts outside the organization"
	}
	return "none (the message shows the finding)"
}

func bucketLine(r ledger.Record) string { return Code("s3://" + r.Bucket) }

// policyHead is what every policy-finding message shows: the bucket, what changed, who did it,
// the bucket's exposure, who it is shared with, before → after, and linked data findings.
func policyHead(r ledger.Record, icon, status string) []slack.Block {
	title := fmt.Sprintf("%s *%s* · %s %s · bucket %s", icon, Escape(status), severityIcon(r.Severity), Escape(strings.ToUpper(r.Severity)), bucketLine(r))
	kind := ""
	if r.BucketFix != nil {
		kind = r.BucketFix.Kind
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Account*\n" + accountLine(r)),
		mrkdwn("*Region*\n" + Escape(r.Region)),
		mrkdwn("*Finding type*\n" + Escape(r.FindingType)),
		mrkdwn("*Remediation*\n" + Escape(remediationName(kind))),
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(mrkdwn(title), nil, nil, slack.SectionBlockOptionBlockID("summary")),
		slack.NewSectionBlock(nil, fields, nil, slack.SectionBlockOptionBlockID("facts")),
	}
	if pf := r.PolicyFacts; pf != nil {
		var what []string
		if pf.API != "" {
			api := Code(pf.API)
			if pf.APIService != "" {
				api += " on " + Escape(pf.APIService)
			}
			what = append(what, "*What changed:* "+api+" · first seen "+DateToken(pf.FirstSeen)+" · last seen "+DateToken(pf.LastSeen))
		}
		who := "_Macie did not say who_"
		if pf.Actor != "" || pf.IP != "" || pf.Domain != "" {
			var parts []string
			if pf.Actor != "" {
				a := Code(pf.Actor)
				if pf.ActorType != "" {
					a += " (" + Escape(pf.ActorType) + ")"
				}
				parts = append(parts, a)
			}
			if pf.IP != "" {
				parts = append(parts, "from IP "+Code(pf.IP))
			}
			if pf.Domain != "" {
				parts = append(parts, "domain "+Code(pf.Domain))
			}
			who = strings.Join(parts, " · ")
		}
		what = append(what, "*Who:* "+who)
		if len(pf.Exposure) > 0 {
			what = append(what, "*Exposure:* "+escapeAll(pf.Exposure, "; "))
		}
		if len(pf.SharedWith) > 0 {
			what = append(what, "*Shared with:* "+escapeAll(pf.SharedWith, ", "))
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(strings.Join(what, "\n")), nil, nil, slack.SectionBlockOptionBlockID("policy")))
	}
	if bf := r.BucketFix; bf != nil && (bf.Plan != "" || bf.Flapping != "" || r.Action != "NOTIFY") {
		var text string
		switch {
		case bf.AlreadyFixed:
			text = "*Setting:* " + Escape(bf.BeforeText) + " — already fixed, nothing to change."
		case bf.Plan != "":
			text = "*Before → after:* " + Escape(bf.BeforeText) + " → " + Escape(bf.AfterText)
		case r.Action == "NOTIFY":
			text = "_Not inspected: the policy only notifies about this type._"
		case r.Status == ledger.Notified:
			text = "_Reading the bucket's current setting…_ (the Fix button appears once it is stored)"
		default:
			text = "_Reading the bucket's current setting…_"
		}
		for _, n := range bf.Notes {
			text += "\n• " + Escape(n)
		}
		if bf.Flapping != "" {
			text += "\n🔁 *Sent to review:* " + Escape(bf.Flapping)
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, nil, slack.SectionBlockOptionBlockID("change")))
	}
	if pf := r.PolicyFacts; pf != nil && pf.OpenDataFindings > 0 {
		noun := "findings"
		if pf.OpenDataFindings == 1 {
			noun = "finding"
		}
		blocks = append(blocks, slack.NewContextBlock("data", mrkdwn(fmt.Sprintf("📄 %d open sensitive-data %s in this bucket", pf.OpenDataFindings, noun))))
	}
	ctx := fmt.Sprintf("Detected %s · <%s|Open in Macie> · finding %s", DateToken(r.DetectedAt), ConsoleURL(r), Code(r.FindingID))
	if r.Reason != "" {
		ctx += " · " + Escape(r.Action) + ": " + Escape(r.Reason)
	}
	blocks = append(blocks, slack.NewContextBlock("context", mrkdwn(ctx)))
	return blocks
}

func escapeAll(ss []string, sep string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Escape(s)
	}
	return strings.Join(out, sep)
}

func policyFallback(r ledger.Record, status string) string {
	t := r.FindingType
	if i := strings.LastIndexByte(t, '/'); i >= 0 {
		t = t[i+1:]
	}
	return Truncate(Escape(fmt.Sprintf("%s: %s %s on bucket s3://%s in account %s", status, r.Severity, t, r.Bucket, r.AccountID)), 300)
}

func section(id, text string) slack.Block {
	return slack.NewSectionBlock(mrkdwn(text), nil, nil, slack.SectionBlockOptionBlockID(id))
}

// canFix: the record holds a plan that changes something, so Fix may be offered.
func canFix(r ledger.Record) bool {
	return r.BucketFix != nil && r.BucketFix.Plan != "" && !r.BucketFix.AlreadyFixed
}

// PolicyForState renders a policy finding's message for its record's state.
func PolicyForState(r ledger.Record) Message {
	by := r.LastActor()
	bf := r.BucketFix
	switch r.Status {
	case ledger.Notified:
		if r.Action != "REVIEW" {
			return finish(policyHead(r, "📣", "Bucket setting relaxed"), policyFallback(r, "Bucket setting relaxed"))
		}
		blocks := policyHead(r, "🔎", "Review required")
		if bf == nil {
			// No remediation for this type: acknowledge (or dismiss) only.
			blocks = append(blocks, slack.NewActionBlock("actions", button(ActionAcknowledge, "Acknowledge", r), button(ActionDismiss, "Dismiss", r)))
			return finish(blocks, policyFallback(r, "Review required"))
		}
		if bf.Outcome != "" && bf.Plan == "" {
			blocks = append(blocks, slack.NewContextBlock("note", mrkdwn("⚠️ "+Escape(bf.Outcome))))
		}
		if canFix(r) {
			confirm := slack.NewConfirmationBlockObject(plain("Change this bucket setting?"),
				mrkdwn(fmt.Sprintf("%s: %s → %s. The current setting is stored; Undo restores it exactly.", bucketLine(r), Escape(bf.BeforeText), Escape(bf.AfterText))),
				plain("Fix"), plain("Cancel")).WithStyle(slack.StyleDanger)
			blocks = append(blocks, slack.NewActionBlock("actions", button(ActionFix, "Fix", r).WithStyle(slack.StyleDanger).WithConfirm(confirm), button(ActionDismiss, "Dismiss", r)))
		} else {
			blocks = append(blocks, slack.NewActionBlock("actions", button(ActionDismiss, "Dismiss", r)))
		}
		return finish(blocks, policyFallback(r, "Review required"))
	case ledger.Queued, ledger.InProgress:
		if r.Action == "AUTO" && ApprovedBy(r) == ledger.ActorPolicy {
			blocks := policyHead(r, "⚙️", "Auto-fix started")
			blocks = append(blocks, slack.NewContextBlock("progress", mrkdwn("Fix by policy is in progress; this message updates when it is done.")))
			return finish(blocks, policyFallback(r, "Auto-fix started"))
		}
		return PolicyInProgress(r, ApprovedBy(r), "Fix")
	case ledger.Fixed:
		if bf != nil && !bf.Changed {
			blocks := policyHead(r, "✅", "Already fixed")
			blocks = append(blocks, section("outcome", "Already fixed, nothing changed (checked by "+Who(ApprovedBy(r))+")."))
			return finish(blocks, policyFallback(r, "Already fixed"))
		}
		blocks := policyHead(r, "✅", "Fixed")
		text := "Fixed by " + Who(ApprovedBy(r)) + "."
		if bf != nil {
			text = fmt.Sprintf("Fixed by %s: %s → %s.", Who(ApprovedBy(r)), Escape(bf.BeforeText), Escape(bf.AfterText))
			if bf.Outcome != "" {
				text += " " + Escape(bf.Outcome)
			}
		}
		blocks = append(blocks, section("outcome", text))
		if r.Error != "" {
			blocks = append(blocks, slack.NewContextBlock("note", mrkdwn("⚠️ "+Escape(r.Error))))
		}
		confirm := slack.NewConfirmationBlockObject(plain("Undo this fix?"),
			mrkdwn("The setting of "+bucketLine(r)+" goes back to what it was before the fix, exactly as stored. Only do this if the change was intended."), plain("Undo"), plain("Cancel"))
		blocks = append(blocks, slack.NewActionBlock("actions", button(ActionUndo, "Undo", r).WithConfirm(confirm)))
		return finish(blocks, policyFallback(r, "Fixed"))
	case ledger.Undoing:
		return PolicyInProgress(r, by, "Undo")
	case ledger.Undone:
		blocks := policyHead(r, "↩️", "Fix undone")
		text := "Undone."
		if bf != nil && bf.Undo != nil {
			text = fmt.Sprintf("Undone by %s at %s: restored %s.", Who(bf.Undo.By), DateToken(bf.Undo.At), Escape(bf.Undo.Restored))
		}
		blocks = append(blocks, section("outcome", text))
		return finish(blocks, policyFallback(r, "Fix undone"))
	case ledger.Failed:
		blocks := policyHead(r, "❌", "Fix failed")
		blocks = append(blocks, section("outcome", fmt.Sprintf("*What failed:* %s\n*What to do:* fix the cause, then press Retry (the stored snapshot is kept). Details: `macie-chatops ledger show %s`.",
			Escape(r.Error), Escape(r.FindingID))))
		blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRetry, "Retry", r).WithStyle(slack.StylePrimary), button(ActionDismiss, "Dismiss", r)))
		return finish(blocks, policyFallback(r, "Fix failed"))
	case ledger.Blocked:
		blocks := policyHead(r, "⚠️", "Not fixed")
		blocks = append(blocks, section("outcome", "*Why:* "+Escape(r.Error)))
		blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRetry, "Retry", r), button(ActionDismiss, "Dismiss", r)))
		return finish(blocks, policyFallback(r, "Not fixed"))
	case ledger.Dismissed:
		verb := "Dismissed"
		if len(r.History) > 0 && strings.HasPrefix(r.History[len(r.History)-1].Reason, "acknowledged") {
			verb = "Acknowledged"
		}
		blocks := policyHead(r, "🚫", verb)
		blocks = append(blocks, section("outcome", verb+" by "+Who(by)+". The bucket was left as it is."))
		return finish(blocks, policyFallback(r, verb))
	}
	return finish(policyHead(r, "📣", "Bucket setting relaxed"), policyFallback(r, "Bucket setting relaxed"))
}

// PolicyInProgress replaces the buttons at once after a Fix or Undo click.
func PolicyInProgress(r ledger.Record, by, what string) Message {
	blocks := policyHead(r, "⏳", what+" in progress")
	blocks = append(blocks, slack.NewContextBlock("progress", mrkdwn("⏳ "+Escape(what)+" in progress by "+Who(by))))
	return finish(blocks, policyFallback(r, what+" in progress"))
}
