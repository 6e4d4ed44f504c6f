package chatops

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const slackFixtures = "../testdata/slack/"

type vector struct {
	Secret    string `json:"signing_secret"`
	Timestamp string `json:"x_slack_request_timestamp"`
	Body      string `json:"body"`
	Signature string `json:"x_slack_signature"`
	Negative  struct {
		Secret string `json:"invalid_signing_secret"`
		Body   string `json:"invalid_body"`
	} `json:"negative_cases"`
}

func loadVector(t testing.TB, name string) vector {
	var v vector
	b, err := os.ReadFile(slackFixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(slackFixtures + strings.TrimSuffix(name, ".json") + "-body.txt")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimRight(string(body), "\n") != v.Body {
		t.Fatalf("%s: body file and JSON disagree", name)
	}
	return v
}

// lowerHeaders is how API Gateway hands headers over.
func lowerHeaders(sig, ts string) http.Header {
	return HeadersFrom(map[string]string{"x-slack-signature": sig, "x-slack-request-timestamp": ts, "content-type": "application/x-www-form-urlencoded"})
}

func at(ts string, skew time.Duration) func() time.Time {
	sec, _ := strconv.ParseInt(ts, 10, 64)
	return func() time.Time { return time.Unix(sec, 0).Add(skew) }
}

func TestPublishedSigningVectors(t *testing.T) {
	for _, name := range []string{"signing-vector-slack-docs.json", "signing-vector-slack-go.json"} {
		v := loadVector(t, name)
		ok := Verifier{Secret: v.Secret, Now: at(v.Timestamp, 30*time.Second)}
		if err := ok.Verify(lowerHeaders(v.Signature, v.Timestamp), []byte(v.Body)); err != nil {
			t.Fatalf("%s: valid vector rejected: %v", name, err)
		}
		cases := []struct {
			name string
			v    Verifier
			h    http.Header
			body string
			want error
		}{
			{"tampered body", ok, lowerHeaders(v.Signature, v.Timestamp), v.Body + " ", ErrBadSignature},
			{"wrong secret", Verifier{Secret: v.Secret + "x", Now: ok.Now}, lowerHeaders(v.Signature, v.Timestamp), v.Body, ErrBadSignature},
			{"old timestamp", Verifier{Secret: v.Secret, Now: at(v.Timestamp, 5*time.Minute+time.Second)}, lowerHeaders(v.Signature, v.Timestamp), v.Body, ErrStale},
			{"future timestamp", Verifier{Secret: v.Secret, Now: at(v.Timestamp, -5*time.Minute-time.Second)}, lowerHeaders(v.Signature, v.Timestamp), v.Body, ErrStale},
			{"missing signature", ok, lowerHeaders("", v.Timestamp), v.Body, ErrMissingHeaders},
			{"missing timestamp", ok, lowerHeaders(v.Signature, ""), v.Body, ErrMissingHeaders},
			{"oversized body", Verifier{Secret: v.Secret, Now: ok.Now, MaxBody: len(v.Body) - 1}, lowerHeaders(v.Signature, v.Timestamp), v.Body, ErrTooLarge},
			{"no v0 prefix", ok, lowerHeaders(strings.TrimPrefix(v.Signature, "v0="), v.Timestamp), v.Body, ErrBadSignature},
			{"no secret configured", Verifier{Now: ok.Now}, lowerHeaders(v.Signature, v.Timestamp), v.Body, ErrNoSecret},
		}
		if v.Negative.Secret != "" {
			cases = append(cases, struct {
				name string
				v    Verifier
				h    http.Header
				body string
				want error
			}{"slack-go invalid secret", Verifier{Secret: v.Negative.Secret, Now: ok.Now}, lowerHeaders(v.Signature, v.Timestamp), v.Body, ErrBadSignature},
				struct {
					name string
					v    Verifier
					h    http.Header
					body string
					want error
				}{"slack-go invalid body", ok, lowerHeaders(v.Signature, v.Timestamp), v.Negative.Body, ErrBadSignature})
		}
		for _, c := range cases {
			if err := c.v.Verify(c.h, []byte(c.body)); !errors.Is(err, c.want) {
				t.Errorf("%s / %s: got %v, want %v", name, c.name, err, c.want)
			}
		}
	}
}

// TestWallClockPathUsesSlackGo signs a fresh request and checks that slack-go's SecretsVerifier
// (the production path) and our injected-clock path agree.
func TestWallClockPathUsesSlackGo(t *testing.T) {
	body := []byte("payload=%7B%7D")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := SignatureHeader("s3cr3t", ts, body)
	if err := (Verifier{Secret: "s3cr3t"}).Verify(lowerHeaders(sig, ts), body); err != nil {
		t.Fatalf("fresh request rejected: %v", err)
	}
	if err := (Verifier{Secret: "s3cr3t", Now: time.Now}).Verify(lowerHeaders(sig, ts), body); err != nil {
		t.Fatalf("injected-clock path disagrees: %v", err)
	}
	if err := (Verifier{Secret: "other"}).Verify(lowerHeaders(sig, ts), body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong secret accepted on the slack-go path: %v", err)
	}
	old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	if err := (Verifier{Secret: "s3cr3t"}).Verify(lowerHeaders(SignatureHeader("s3cr3t", old, body), old), body); !errors.Is(err, ErrStale) {
		t.Fatalf("replay accepted: %v", err)
	}
}

func TestCapturedBlockActionsParse(t *testing.T) {
	form, err := os.ReadFile(slackFixtures + "block-actions-button-form-body.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Its button ("sScW0") is another app's: parsed in full, and refused as not one of ours.
	a, err := ParseAction([]byte(strings.TrimSpace(string(form))))
	var ae *ActionError
	if !errors.As(err, &ae) || !strings.Contains(ae.Reason, `Unknown action "sScW0"`) {
		t.Fatal(err)
	}
	want := Action{UserID: "URG1A1X6F", UserName: "tpilvelis", TeamID: "TRQU3V52S", ChannelID: "D014RLFBU4Q", MessageTS: "1593467852.000500",
		ActionID: "sScW0", Value: "value-run", ResponseURL: "https://hooks.slack.com/actions/TRQU3V52S/1206195374598/Ll4RoSzgrE1kALJjSQFWLN1L"}
	if a != want {
		t.Fatalf("got %+v\nwant %+v", a, want)
	}
	// The decoded payload JSON, re-encoded as Slack sends it, parses to the same action.
	payload, _ := os.ReadFile(slackFixtures + "block-actions-button-payload.json")
	b, err := ParseAction([]byte("payload=" + url.QueryEscape(string(payload))))
	if !errors.As(err, &ae) || b != want {
		t.Fatalf("payload.json: %v %+v", err, b)
	}
	// The API Gateway REST event carries the same body and the signature headers (its secret
	// was never published: here it is parsed and routed only).
	var ev struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	raw, _ := os.ReadFile(slackFixtures + "block-actions-button-apigw-rest-event.json")
	json.Unmarshal(raw, &ev)
	h := HeadersFrom(ev.Headers)
	if h.Get("x-slack-signature") == "" || h.Get("X-SLACK-REQUEST-TIMESTAMP") != "1593470331" {
		t.Fatal("headers not found case-insensitively")
	}
	c, err := ParseAction([]byte(ev.Body))
	if !errors.As(err, &ae) || c != want {
		t.Fatalf("apigw body: %v %+v", err, c)
	}
	// Its real signature does not verify with a guessed secret.
	if err := (Verifier{Secret: "guess", Now: at("1593470331", 0)}).Verify(h, []byte(ev.Body)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v", err)
	}
}

func TestResponseURLPin(t *testing.T) {
	for _, ok := range []string{"https://hooks.slack.com/actions/T1/1/abc", "https://hooks.slack.com/commands/x"} {
		if err := CheckResponseURL(ok, ""); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://127.0.0.1.attacker.example/", "http://127.0.0.1:8080/response/1", "https://hooks.slack.com.evil.example/x",
		"https://evil.example/https://hooks.slack.com/", "http://hooks.slack.com/x", "https://u:p@hooks.slack.com/x", "https://hooks.slack.com"} {
		if err := CheckResponseURL(bad, ""); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := CheckResponseURL("http://127.0.0.1:8080/response/1", "http://127.0.0.1:8080/response/"); err != nil {
		t.Errorf("local: %v", err)
	}
	for _, bad := range []string{"http://127.0.0.1:8081/response/1", "http://127.0.0.1:8080/other", "http://127.0.0.1:8080.evil/response/1"} {
		if err := CheckResponseURL(bad, "http://127.0.0.1:8080/response/"); err == nil {
			t.Errorf("local mode accepted %s", bad)
		}
	}
}

func TestParseActionRejectsWhatItCannotUse(t *testing.T) {
	for name, body := range map[string]string{
		"not form":         "%zz",
		"no payload":       "foo=bar",
		"not json":         "payload=%7Bnope",
		"wrong type":       "payload=" + url.QueryEscape(`{"type":"view_submission","user":{"id":"U1"},"team":{"id":"T1"}}`),
		"no actions":       "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"actions":[]}`),
		"no user":          "payload=" + url.QueryEscape(`{"type":"block_actions","team":{"id":"T1"},"actions":[{"action_id":"remediate","value":"f"}]}`),
		"http answer":      "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"response_url":"http://evil.example/x","actions":[{"action_id":"remediate","value":"f"}]}`),
		"127.0.0.1 prefix": "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"response_url":"http://127.0.0.1.attacker.example/x","actions":[{"type":"button","action_id":"remediate","value":"f"}]}`),
		"other https":      "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"response_url":"https://attacker.example/x","actions":[{"type":"button","action_id":"remediate","value":"f"}]}`),
		"select":           "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"actions":[{"type":"static_select","action_id":"remediate","selected_option":{"value":"f"}}]}`),
		"empty value":      "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"actions":[{"type":"button","action_id":"remediate","value":""}]}`),
		"unknown id":       "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"actions":[{"type":"button","action_id":"nuke","value":"f"}]}`),
	} {
		if _, err := ParseAction([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
