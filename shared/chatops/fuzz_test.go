package chatops

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParseAction: any body, signed or not, yields an action or an error, never a panic; an
// accepted action always has the fields the handler relies on.
func FuzzParseAction(f *testing.F) {
	form, _ := os.ReadFile(slackFixtures + "block-actions-button-form-body.txt")
	payload, _ := os.ReadFile(slackFixtures + "block-actions-button-payload.json")
	f.Add(strings.TrimSpace(string(form)))
	f.Add("payload=" + url.QueryEscape(string(payload)))
	f.Add("payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"actions":[{"action_id":"remediate","value":"f"}]}`))
	f.Add("payload=%7B%7D&payload=x")
	v := Verifier{Secret: "s", Now: func() time.Time { return time.Unix(1700000000, 0) }}
	f.Fuzz(func(t *testing.T, body string) {
		_ = v.Verify(lowerHeaders("v0=00", "1700000000"), []byte(body))
		a, err := ParseAction([]byte(body))
		if err != nil {
			return
		}
		if a.UserID == "" || a.TeamID == "" || a.ActionID == "" || a.Value == "" || !knownActions[a.ActionID] {
			t.Fatalf("accepted incomplete action %+v", a)
		}
	})
}

// BenchmarkVerifyAndParse is the remediation handler's per-click CPU cost. Target: under 30 µs.
func BenchmarkVerifyAndParse(b *testing.B) {
	form, err := os.ReadFile(slackFixtures + "block-actions-button-form-body.txt")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(strings.TrimSpace(string(form)))
	now := time.Unix(1593470331, 0)
	ts := "1593470331"
	h := lowerHeaders(SignatureHeader("secret", ts, body), ts)
	v := Verifier{Secret: "secret", Now: func() time.Time { return now }}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := v.Verify(h, body); err != nil {
			b.Fatal(err)
		}
		// The captured click is Slack's, but its button is another app's: an *ActionError.
		if _, err := ParseAction(body); err != nil && !errors.As(err, new(*ActionError)) {
			b.Fatal(err)
		}
	}
}

// FuzzUnescapeForm holds the fast form decoder equal to url.QueryUnescape.
func FuzzUnescapeForm(f *testing.F) {
	for _, s := range []string{"a+b%20c", "%zz", "%", "%4", "plain", "%E6%97%A5", "+%2B+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := url.QueryUnescape(s)
		got, gerr := unescapeForm([]byte(s))
		if (werr == nil) != (gerr == nil) || (werr == nil && string(got) != want) {
			t.Fatalf("%q: got %q %v, want %q %v", s, got, gerr, want, werr)
		}
	})
}
