package slackmsg

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/slack-go/slack"
)

// DigestView is what a digest message shows: a burst of findings for one account and bucket.
type DigestView struct {
	ID          string
	AccountID   string
	AccountName string
	Region      string
	Bucket      string
	Total       int            // findings in the digest
	Review      int            // waiting for a decision (REVIEW)
	Auto        int            // queued for quarantine by policy (AUTO)
	ByType      map[string]int // finding type → count
	BySeverity  map[string]int // LOW/MEDIUM/HIGH → count
	Keys        []string       // the first keys
	TotalSize   int64
	// Outcome replaces the buttons once someone acted on the whole digest.
	Outcome string
	// ShowKeys is the policy's slack.showKeys for the digest's account: how Keys are shown.
	ShowKeys string
	// Cutoff is the last member (DigestSeq) this rendering shows. The buttons carry it, so a
	// click covers exactly the findings the approver saw, never those absorbed after.
	Cutoff int
}

// DigestValue is a digest button's value: the digest id and the cut-off the message showed.
func DigestValue(id string, cutoff int) string { return fmt.Sprintf("%s#%d", id, cutoff) }

// ParseDigestValue splits a digest button's value; ok is false for anything we did not render.
func ParseDigestValue(v string) (id string, cutoff int, ok bool) {
	i := strings.LastIndexByte(v, '#')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(v[i+1:])
	if err != nil || n <= 0 || strconv.Itoa(n) != v[i+1:] {
		return "", 0, false
	}
	return v[:i], n, true
}

// MaxDigestKeys is how many keys a digest lists.
const MaxDigestKeys = 10

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", Escape(k), m[k]))
	}
	return strings.Join(parts, ", ")
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Digest renders a burst as one message, updated as more findings arrive.
func Digest(d DigestView) Message {
	acct := Escape(d.AccountID)
	if d.AccountName != "" {
		acct += " (" + Escape(d.AccountName) + ")"
	}
	title := fmt.Sprintf("📦 *%d findings in bucket* %s · account %s · %s", d.Total, Code(d.Bucket), acct, Escape(d.Region))
	var lines []string
	if d.Auto > 0 {
		lines = append(lines, fmt.Sprintf("⚙️ %d objects auto-quarantined by policy in bucket %s", d.Auto, Code(d.Bucket)))
	}
	if d.Review > 0 {
		lines = append(lines, fmt.Sprintf("🔎 %d waiting for review", d.Review))
	}
	keys := make([]string, 0, len(d.Keys))
	for _, k := range d.Keys {
		keys = append(keys, "• "+Code(ShownKey(d.ShowKeys, k)))
	}
	more := ""
	if d.Total > len(d.Keys) {
		more = fmt.Sprintf("\n…and %d more", d.Total-len(d.Keys))
	}
	if d.ShowKeys == "none" {
		keys, more = []string{"(hidden by the policy's slack.showKeys)"}, ""
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(mrkdwn(title+"\n"+strings.Join(lines, "\n")), nil, nil, slack.SectionBlockOptionBlockID("summary")),
		slack.NewSectionBlock(nil, []*slack.TextBlockObject{
			mrkdwn("*By type*\n" + counts(d.ByType)),
			mrkdwn("*By severity*\n" + counts(d.BySeverity)),
			mrkdwn("*Total size*\n" + size(d.TotalSize)),
			mrkdwn("*Digest*\n" + Code(d.ID)),
		}, nil, slack.SectionBlockOptionBlockID("facts")),
		slack.NewSectionBlock(mrkdwn("*First keys*\n"+strings.Join(keys, "\n")+more), nil, nil, slack.SectionBlockOptionBlockID("keys")),
		slack.NewContextBlock("context", mrkdwn("Findings arrived faster than one message each would be readable; each still has its own ledger record (`macie-chatops ledger list`).")),
	}
	if d.Outcome != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(d.Outcome), nil, nil, slack.SectionBlockOptionBlockID("outcome")))
	} else if d.Review > 0 {
		confirm := slack.NewConfirmationBlockObject(plain("Quarantine all of them?"),
			mrkdwn(fmt.Sprintf("%d objects in %s will be moved to quarantine, a few at a time. Each can be released later.", d.Review, Code(d.Bucket))),
			plain("Quarantine all"), plain("Cancel")).WithStyle(slack.StyleDanger)
		dismiss := slack.NewConfirmationBlockObject(plain("Dismiss all?"), mrkdwn(fmt.Sprintf("%d findings will be dismissed and their objects left in place.", d.Review)),
			plain("Dismiss all"), plain("Cancel"))
		v := DigestValue(d.ID, d.Cutoff)
		blocks = append(blocks, slack.NewActionBlock("actions",
			slack.NewButtonBlockElement(ActionRemediateAll, v, plain(fmt.Sprintf("Remediate all %d", d.Review))).WithStyle(slack.StyleDanger).WithConfirm(confirm),
			slack.NewButtonBlockElement(ActionReviewEach, v, plain("Review individually")),
			slack.NewButtonBlockElement(ActionDismissAll, v, plain("Dismiss all")).WithConfirm(dismiss),
		))
	}
	text := Truncate(Escape(fmt.Sprintf("%d findings in bucket %s (account %s)", d.Total, d.Bucket, d.AccountID)), 300)
	return finish(blocks, text)
}
