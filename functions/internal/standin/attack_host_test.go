package standin

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Local-mode attacks that succeeded until the stand-in checked Host and browser headers.

// TestAttackStandInDNSRebinding: a page on attacker.example that rebinds its name to 127.0.0.1
// is same-origin with the stand-in as far as the browser knows. It can read GET / (which embeds
// the run's token) and GET /state (every message: object keys, finding text). Its POSTs to
// /click still carry Origin: http://attacker.example:PORT and are refused, so this leaks data and
// the token but does not approve. Requests whose Host is not BaseURL's host are now refused.
func TestAttackStandInDNSRebinding(t *testing.T) {
	s, srv, _, _ := attackStandIn(t)
	u, _ := url.Parse(srv.URL)
	for _, path := range []string{"/", "/state"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Host = "attacker.example:" + u.Port()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest || strings.Contains(string(b), s.Token) {
			t.Errorf("GET %s with Host %s: %d (token in body: %v)", path, req.Host, resp.StatusCode, strings.Contains(string(b), s.Token))
		}
	}
}

// TestAttackStandInAPIInjection: the Slack API endpoints take no token, so any web page open
// during `make demo` can POST a simple cross-site form to /api/chat.postMessage and put a
// message with our buttons (carrying a real finding id) into the demo channel; the user's click
// on it is signed by the stand-in like any other. Now requests carrying a browser's Origin or
// Sec-Fetch-Site are refused there.
func TestAttackStandInAPIInjection(t *testing.T) {
	s, srv, _, _ := attackStandIn(t)
	form := url.Values{"channel": {"C0"}, "text": {"Urgent: approve"},
		"blocks": {`[{"type":"actions","elements":[{"type":"button","action_id":"remediate","value":"real-finding-id","text":{"type":"plain_text","text":"Approve"}}]}]`}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/chat.postMessage", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://attacker.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := len(s.Messages()); n != 1 || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site form added a message to the channel (%d messages, status %d)", n, resp.StatusCode)
	}
}

// TestStandInServesItsOwnNames: the page answers on BaseURL's host and on localhost at its port.
func TestStandInServesItsOwnNames(t *testing.T) {
	_, srv, _, _ := attackStandIn(t)
	u, _ := url.Parse(srv.URL)
	for _, host := range []string{u.Host, "localhost:" + u.Port()} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/state", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /state as %s: %d", host, resp.StatusCode)
		}
	}
}
