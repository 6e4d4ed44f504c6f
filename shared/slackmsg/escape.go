package slackmsg

import (
	"strings"
	"unicode/utf8"
)

// Slack's Block Kit limits.
const (
	MaxText   = 3000 // characters in one text object of a section
	MaxBlocks = 50   // blocks in one message
	MaxButton = 75   // characters of a button label
	ellipsis  = "…"
)

var mrkdwnEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	// A backtick would end our code span and let the rest be parsed as markup.
	"`", "ˋ",
)

// Escape makes attacker-controlled text (keys, bucket names, titles) inert in mrkdwn: no links,
// no mentions, no code-span breakout. Slack only turns <!channel>, <@U…> and <url|text> into
// anything, and all of those need "<"; "@channel" typed as text is neutralised with a word
// joiner too, for clients that auto-link it.
func Escape(s string) string {
	s = mrkdwnEscaper.Replace(s)
	for _, m := range []string{"@channel", "@here", "@everyone"} {
		if strings.Contains(strings.ToLower(s), m) {
			s = replaceFold(s, m, "@\u2060"+m[1:])
		}
	}
	return s
}

func replaceFold(s, old, repl string) string {
	var b strings.Builder
	lower := strings.ToLower(s)
	for {
		i := strings.Index(lower, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("@\u2060" + s[i+1:i+len(old)])
		s, lower = s[i+len(old):], lower[i+len(old):]
	}
}

// Code wraps escaped text in a code span.
func Code(s string) string { return "`" + Escape(s) + "`" }

// Truncate cuts text to at most max characters, ending in an ellipsis, never inside an HTML
// entity produced by Escape or inside a UTF-8 sequence.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)
	cut := runes[:max-1]
	// Back off an entity cut in half ("&am").
	if i := lastIndexRune(cut, '&'); i >= 0 && i > len(cut)-6 && !containsRune(cut[i:], ';') {
		cut = cut[:i]
	}
	return string(cut) + ellipsis
}

func lastIndexRune(rs []rune, r rune) int {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i] == r {
			return i
		}
	}
	return -1
}

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}
