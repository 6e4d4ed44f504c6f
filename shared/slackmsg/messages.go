// Package slackmsg owns what people read in Slack: one Block Kit builder per state of a finding,
// each rendered from the ledger record alone, with every attacker-controlled string escaped and
// every text cut to Block Kit's limits. Buttons carry only the ledger record's id; the
// remediation handler looks everything else up.
package slackmsg

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/slack-go/slack"
)

// Action ids of the buttons; the remediation handler routes on these, never on labels.
const (
	ActionRemediate = "remediate"
	ActionDismiss   = "dismiss"
	ActionRetry     = "retry"
	ActionRelease   = "release"
	// Digest actions (bursts).
	ActionRemediateAll = "remediate_all"
	ActionReviewEach   = "review_each"
	ActionDismissAll   = "dismiss_all"
	// Policy findings (bucket settings): Fix applies the stored plan, Undo restores the stored
	// snapshot, Acknowledge closes a finding that has no remediation (S3BucketShared*).
	ActionFix         = "fix"
	ActionUndo        = "undo"
	ActionAcknowledge = "acknowledge"
)

// Message is a rendered message: blocks plus the plain-text fallback notifications show.
type Message struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

// Who renders an actor: a Slack user id as a mention (ids are ours to trust: they come from
// Slack's signed payload), "policy" as words.
func Who(actor string) string {
	switch {
	case actor == "" || actor == ledger.ActorPolicy:
		return "policy"
	case strings.HasPrefix(actor, "U") || strings.HasPrefix(actor, "W"):
		if isSlackID(actor) {
			return "<@" + actor + ">"
		}
	}
	return Escape(actor)
}

func isSlackID(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return len(s) >= 3
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, Truncate(s, MaxText), false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, Truncate(s, 150), true, false)
}

// objectLine is s3://bucket/key as an escaped code span, the key shown as the policy says.
func objectLine(r ledger.Record) string {
	return Code("s3://" + r.Bucket + "/" + ShownKey(r.ShowKeys, r.Key))
}

// ShownKey is an object key as Slack may show it under the policy's slack.showKeys: in full
// (the default), masked (each path segment cut to its first character, the extension kept:
// "hr/payroll/jane-doe.csv" → "h…/p…/j….csv"), or not at all.
func ShownKey(mode, key string) string {
	switch mode {
	case "none":
		return "[key hidden]"
	case "masked":
		segs := strings.Split(key, "/")
		for i, s := range segs {
			if s == "" {
				continue
			}
			ext := ""
			if i == len(segs)-1 {
				if j := strings.LastIndexByte(s, '.'); j > 0 && len(s)-j <= 6 {
					ext = s[j:]
				}
			}
			first := []rune(s)[0]
			segs[i] = string(first) + "…" + ext
		}
		return strings.Join(segs, "/")
	}
	return key
}

// maskIn hides the record's key wherever it appears in a text (error messages name objects).
func maskIn(r ledger.Record, text string) string {
	if r.ShowKeys == "" || r.ShowKeys == "full" || r.Key == "" {
		return text
	}
	return strings.ReplaceAll(text, r.Key, ShownKey(r.ShowKeys, r.Key))
}

func accountLine(r ledger.Record) string {
	if r.AccountName != "" {
		return Escape(r.AccountID) + " (" + Escape(r.AccountName) + ")"
	}
	return Escape(r.AccountID)
}

func severityIcon(sev string) string {
	switch strings.ToUpper(sev) {
	case "HIGH":
		return "🔴"
	case "MEDIUM":
		return "🟠"
	}
	return "🟡"
}

// DateToken renders a time in each reader's own timezone, with a UTC fallback.
func DateToken(t time.Time) string {
	if t.IsZero() {
		return "unknown time"
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// ConsoleURL links to the record's finding in the Macie console.
func ConsoleURL(r ledger.Record) string {
	return finding.ConsoleURL(r.Partition, r.Region, r.FindingID)
}

// detections summarizes what Macie found: "FINANCIAL_INFORMATION: CREDIT_CARD_NUMBER ×30".
func detections(r ledger.Record) string {
	if len(r.Detections) == 0 {
		return "_no detail in the finding_"
	}
	ds := append([]ledger.Detection{}, r.Detections...)
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Count > ds[j].Count })
	var parts []string
	for i, d := range ds {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("…and %d more", len(ds)-8))
			break
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", Escape(d.Type), d.Count))
	}
	return strings.Join(parts, ", ")
}

// head is the part every state shares: title line, facts, what was detected, context.
func head(r ledger.Record, icon, status string) []slack.Block {
	title := fmt.Sprintf("%s *%s* · %s %s", icon, Escape(status), severityIcon(r.Severity), Escape(strings.ToUpper(r.Severity)))
	version := r.VersionID
	if version == "" {
		version = "(none recorded)"
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Account*\n" + accountLine(r)),
		mrkdwn("*Region*\n" + Escape(r.Region)),
		mrkdwn("*Finding type*\n" + Escape(r.FindingType)),
		mrkdwn("*Version*\n" + Code(version)),
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(mrkdwn(title+"\n"+objectLine(r)), nil, nil, slack.SectionBlockOptionBlockID("summary")),
		slack.NewSectionBlock(nil, fields, nil, slack.SectionBlockOptionBlockID("facts")),
		slack.NewSectionBlock(mrkdwn("*Macie detected* "+detections(r)), nil, nil, slack.SectionBlockOptionBlockID("detected")),
	}
	ctx := fmt.Sprintf("Detected %s · <%s|Open in Macie> · finding %s", DateToken(r.DetectedAt), ConsoleURL(r), Code(r.FindingID))
	if r.Reason != "" {
		ctx += " · " + Escape(r.Action) + ": " + Escape(r.Reason)
	}
	blocks = append(blocks, slack.NewContextBlock("context", mrkdwn(ctx)))
	return blocks
}

func fallback(r ledger.Record, status string) string {
	// Notifications render plain text: no escaping is interpreted there, so keep it short and
	// still neutral (mentions in fallback text are parsed by some clients).
	return Truncate(Escape(fmt.Sprintf("%s: %s finding in account %s: s3://%s/%s", status, r.Severity, r.AccountID, r.Bucket, ShownKey(r.ShowKeys, r.Key))), 300)
}

func button(actionID, label string, r ledger.Record) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(actionID, r.FindingID, plain(label))
}

func finish(blocks []slack.Block, text string) Message {
	if len(blocks) > MaxBlocks {
		blocks = append(blocks[:MaxBlocks-1], slack.NewContextBlock("truncated", mrkdwn("…message shortened to Slack's 50-block limit")))
	}
	return Message{Text: text, Blocks: blocks}
}

// Review asks an approver to remediate or dismiss.
func Review(r ledger.Record) Message {
	confirm := slack.NewConfirmationBlockObject(plain("Quarantine this object?"),
		mrkdwn(fmt.Sprintf("%s will be moved to the quarantine bucket of account %s and deleted from its bucket. It can be released later.", objectLine(r), accountLine(r))),
		plain("Quarantine"), plain("Cancel")).WithStyle(slack.StyleDanger)
	blocks := head(r, "🔎", "Review required")
	blocks = append(blocks, slack.NewActionBlock("actions",
		button(ActionRemediate, "Remediate", r).WithStyle(slack.StyleDanger).WithConfirm(confirm),
		button(ActionDismiss, "Dismiss", r),
	))
	return finish(blocks, fallback(r, "Review required"))
}

// Notify announces a finding the policy only reports.
func Notify(r ledger.Record) Message {
	return finish(head(r, "📣", "Sensitive data found"), fallback(r, "Sensitive data found"))
}

// AutoStarted says the policy is quarantining the object now.
func AutoStarted(r ledger.Record) Message {
	blocks := head(r, "⚙️", "Auto-remediation started")
	blocks = append(blocks, slack.NewContextBlock("progress", mrkdwn("Quarantine by policy is in progress; this message updates when it is done.")))
	return finish(blocks, fallback(r, "Auto-remediation started"))
}

// InProgress replaces the buttons at once after a click, so a second click has nothing to press.
func InProgress(r ledger.Record, by, what string) Message {
	blocks := head(r, "⏳", what+" in progress")
	blocks = append(blocks, slack.NewContextBlock("progress", mrkdwn("⏳ "+Escape(what)+" in progress by "+Who(by))))
	return finish(blocks, fallback(r, what+" in progress"))
}

// Quarantined says where the object went and who decided; it carries a Release button.
func Quarantined(r ledger.Record, by string) Message {
	blocks := head(r, "✅", "Quarantined")
	where := fmt.Sprintf("Moved to %s (version %s) by %s.", Code("s3://"+r.QuarantineBucket+"/"+maskIn(r, r.QuarantineKey)), Code(r.QuarantineVersion), Who(by))
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn(where), nil, nil, slack.SectionBlockOptionBlockID("outcome")))
	confirm := slack.NewConfirmationBlockObject(plain("Release from quarantine?"),
		mrkdwn("The object goes back to "+objectLine(r)+". Only do this for a false positive."), plain("Release"), plain("Cancel"))
	blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRelease, "Release", r).WithConfirm(confirm)))
	return finish(blocks, fallback(r, "Quarantined"))
}

// QuarantinedWithNote is Quarantined plus a note, e.g. why a Release did not complete.
func QuarantinedWithNote(r ledger.Record, by, note string) Message {
	m := Quarantined(r, by)
	blocks := append([]slack.Block{}, m.Blocks[:len(m.Blocks)-1]...)
	blocks = append(blocks, slack.NewContextBlock("note", mrkdwn("⚠️ "+Escape(maskIn(r, note)))), m.Blocks[len(m.Blocks)-1])
	return finish(blocks, m.Text)
}

// Failed says what failed and what to do, with a Retry button. The object is intact.
func Failed(r ledger.Record, what string) Message {
	blocks := head(r, "❌", "Remediation failed")
	text := fmt.Sprintf("*What failed:* %s\n*The object is intact* in its bucket (nothing was deleted without a verified copy).\n*What to do:* fix the cause, then press Retry. Details: `macie-chatops ledger show %s`.",
		Escape(maskIn(r, what)), Escape(r.FindingID))
	if r.HasCopy() {
		// A copy exists: Dismiss would leave it to expire, so only Retry is offered.
		text = fmt.Sprintf("*What failed:* %s\n*A quarantine copy exists* at %s; the source may still hold the object.\n*What to do:* fix the cause, then press Retry to finish the quarantine. Details: `macie-chatops ledger show %s`.",
			Escape(maskIn(r, what)), Code(maskIn(r, r.CopyLocation())), Escape(r.FindingID))
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, nil, slack.SectionBlockOptionBlockID("outcome")))
		blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRetry, "Retry", r).WithStyle(slack.StylePrimary)))
		return finish(blocks, fallback(r, "Remediation failed"))
	}
	if r.MayHaveCopy {
		// A move started and its outcome is unknown: a copy may exist, so again only Retry.
		text = fmt.Sprintf("*What failed:* %s\n*A quarantine copy may exist:* the move was started and did not report back; the source may be gone.\n*What to do:* press Retry to finish the quarantine or find the copy (the resume looks for it). Do not assume the object is intact. Details: `macie-chatops ledger show %s`.",
			Escape(maskIn(r, what)), Escape(r.FindingID))
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, nil, slack.SectionBlockOptionBlockID("outcome")))
		blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRetry, "Retry", r).WithStyle(slack.StylePrimary)))
		return finish(blocks, fallback(r, "Remediation failed"))
	}
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, nil, slack.SectionBlockOptionBlockID("outcome")))
	blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRetry, "Retry", r).WithStyle(slack.StylePrimary), button(ActionDismiss, "Dismiss", r)))
	return finish(blocks, fallback(r, "Remediation failed"))
}

// Stalled is an in-progress message for a job that has not moved for a long time: the sweeper
// re-drives it, and Retry sends the job again at once (the move is idempotent).
func Stalled(r ledger.Record, what string, since time.Duration) Message {
	if IsPolicyRecord(r) {
		blocks := policyHead(r, "⏳", what+" stalled")
		blocks = append(blocks, slack.NewContextBlock("progress", mrkdwn(fmt.Sprintf("⏳ %s has not progressed for %s; the sweeper re-drives it. Press Retry to send it again now.", Escape(what), since.Round(time.Minute)))))
		blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRetry, "Retry", r).WithStyle(slack.StylePrimary)))
		return finish(blocks, policyFallback(r, what+" stalled"))
	}
	blocks := head(r, "⏳", what+" stalled")
	blocks = append(blocks, slack.NewContextBlock("progress", mrkdwn(fmt.Sprintf("⏳ %s has not progressed for %s; the sweeper re-drives it. Press Retry to send it again now.", Escape(what), since.Round(time.Minute)))))
	blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRetry, "Retry", r).WithStyle(slack.StylePrimary)))
	return finish(blocks, fallback(r, what+" stalled"))
}

// Dismissed records who dismissed the finding.
func Dismissed(r ledger.Record, by string) Message {
	blocks := head(r, "🚫", "Dismissed")
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn("Dismissed by "+Who(by)+". The object was left in place."), nil, nil, slack.SectionBlockOptionBlockID("outcome")))
	return finish(blocks, fallback(r, "Dismissed"))
}

// Released says the object is back where it was.
func Released(r ledger.Record, by string) Message {
	blocks := head(r, "↩️", "Released from quarantine")
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn("Restored to "+objectLine(r)+" by "+Who(by)+"."), nil, nil, slack.SectionBlockOptionBlockID("outcome")))
	return finish(blocks, fallback(r, "Released from quarantine"))
}

// Skipped says why the object was not moved: Object Lock, or the object changed or is gone.
func Skipped(r ledger.Record, why string) Message {
	blocks := head(r, "⚠️", "Not quarantined")
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn("*Why:* "+Escape(maskIn(r, why))), nil, nil, slack.SectionBlockOptionBlockID("outcome")))
	if r.Status == ledger.Blocked {
		blocks = append(blocks, slack.NewActionBlock("actions", button(ActionRetry, "Retry", r), button(ActionDismiss, "Dismiss", r)))
	}
	return finish(blocks, fallback(r, "Not quarantined"))
}

// NotApprover is the ephemeral answer to a click by someone who may not act.
func NotApprover(accountID, accountName string) string {
	acct := Escape(accountID)
	if accountName != "" {
		acct += " (" + Escape(accountName) + ")"
	}
	return "You are not an approver for account " + acct + ". Nothing was changed. Ask your security team to add you under approvers in the policy file."
}

// AlreadyHandled is the ephemeral answer to a click that lost the race.
func AlreadyHandled(status, by string) string {
	return fmt.Sprintf("Already being handled: this finding is %s (by %s). Nothing was changed.", Escape(status), Who(by))
}

// DigestActionName says what a digest button decides, for messages about the decision.
func DigestActionName(actionID string) string {
	switch actionID {
	case ActionRemediateAll:
		return "Remediate all"
	case ActionDismissAll:
		return "Dismiss all"
	case ActionReviewEach:
		return "Review individually"
	}
	return Escape(actionID)
}

// AlreadyDecided is the ephemeral answer to a second click (or a replay) on a decided digest.
func AlreadyDecided(actionID, by string, shown int) string {
	return fmt.Sprintf("This digest was already decided by %s: %s, for the %d findings the message showed then. Nothing was changed; findings that arrived since get a new message.",
		Who(by), DigestActionName(actionID), shown)
}

// ForState renders the message that matches a record's status, for re-renders after any change.
func ForState(r ledger.Record) Message {
	if IsPolicyRecord(r) {
		return PolicyForState(r)
	}
	by := r.LastActor()
	switch r.Status {
	case ledger.Notified:
		if r.Action == "REVIEW" {
			return Review(r)
		}
		return Notify(r)
	case ledger.Queued, ledger.InProgress:
		if r.Action == "AUTO" && by == ledger.ActorPolicy {
			return AutoStarted(r)
		}
		return InProgress(r, by, "Quarantine")
	case ledger.Quarantined:
		return Quarantined(r, ApprovedBy(r))
	case ledger.Failed:
		return Failed(r, r.Error)
	case ledger.Blocked:
		return Skipped(r, r.Error)
	case ledger.Dismissed:
		return Dismissed(r, by)
	case ledger.Releasing:
		return InProgress(r, by, "Release")
	case ledger.Released:
		return Released(r, releaserOf(r))
	}
	return Notify(r)
}

// ApprovedBy is who queued the quarantine (the person who pressed Remediate, or the policy).
func ApprovedBy(r ledger.Record) string {
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].To == ledger.Queued && r.History[i].Actor != ledger.ActorSweeper {
			return r.History[i].Actor
		}
	}
	return ledger.ActorPolicy
}

func releaserOf(r ledger.Record) string {
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].To == ledger.Releasing {
			return r.History[i].Actor
		}
	}
	return r.LastActor()
}
