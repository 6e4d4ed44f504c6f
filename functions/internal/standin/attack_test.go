package standin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// attackStandIn is a stand-in with one message, whose clicks go to a handler that counts them.
func attackStandIn(t *testing.T) (*Server, *httptest.Server, *atomic.Int32, string) {
	var clicks atomic.Int32
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { clicks.Add(1) }))
	t.Cleanup(handler.Close)
	s := &Server{Team: "T0", Channel: "C0", SigningSecret: "s3cret", ActionsURL: handler.URL, Token: "run-token-0123",
		Users: []User{{ID: "U0A", Name: "alice", Label: "alice"}}}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	s.BaseURL = srv.URL
	bot := chatops.NewBot("xoxb", srv.URL+"/api/", "C0", nil)
	bot.Pacer = nil
	if _, err := bot.Post(context.Background(), "", slackmsg.Message{Text: "finding"}); err != nil {
		t.Fatal(err)
	}
	return s, srv, &clicks, s.Messages()[0].ID
}

// TestAttackStandInClickGuard: a /click without this run's token, with a wrong one, as a
// cross-site simple request (text/plain or a form), with Origin: null, from another origin
// (another port on 127.0.0.1), or flagged cross-site by the browser, never reaches the handler.
func TestAttackStandInClickGuard(t *testing.T) {
	s, srv, clicks, id := attackStandIn(t)
	body := `{"messageId":"` + id + `","actionId":"remediate","value":"f-1","user":"U0A"}`
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", map[string]string{"Content-Type": "application/json"}, http.StatusForbidden},
		{"wrong token", map[string]string{"Content-Type": "application/json", TokenHeader: "run-token-0124"}, http.StatusForbidden},
		{"token prefix", map[string]string{"Content-Type": "application/json", TokenHeader: "run-token-012"}, http.StatusForbidden},
		{"text/plain", map[string]string{"Content-Type": "text/plain", TokenHeader: s.Token}, http.StatusUnsupportedMediaType},
		{"form", map[string]string{"Content-Type": "application/x-www-form-urlencoded", TokenHeader: s.Token}, http.StatusUnsupportedMediaType},
		{"no content type", map[string]string{TokenHeader: s.Token}, http.StatusUnsupportedMediaType},
		{"Origin null", map[string]string{"Content-Type": "application/json", TokenHeader: s.Token, "Origin": "null"}, http.StatusForbidden},
		{"another port", map[string]string{"Content-Type": "application/json", TokenHeader: s.Token, "Origin": "http://127.0.0.1:1"}, http.StatusForbidden},
		{"Origin with path", map[string]string{"Content-Type": "application/json", TokenHeader: s.Token, "Origin": srv.URL + "/"}, http.StatusForbidden},
		{"cross-site", map[string]string{"Content-Type": "application/json", TokenHeader: s.Token, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/click", strings.NewReader(body))
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || clicks.Load() != 0 {
			t.Fatalf("%s: %d (want %d), %d clicks reached the handler", tc.name, resp.StatusCode, tc.want, clicks.Load())
		}
	}
	// The page's own request passes.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/click", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TokenHeader, s.Token)
	req.Header.Set("Origin", srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || clicks.Load() != 1 {
		t.Fatalf("the page's click: %d, %d clicks", resp.StatusCode, clicks.Load())
	}
}
