package standin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

func TestStandInActsAsSlackAndSignsClicks(t *testing.T) {
	var got struct {
		status int
		action chatops.Action
	}
	var base string // the stand-in's URL, its response_urls' only accepted origin
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := (chatops.Verifier{Secret: "s3cret"}).Verify(r.Header, body); err != nil {
			w.WriteHeader(401)
			return
		}
		got.action, _ = chatops.ParseActionWith(body, chatops.ParseOptions{LocalResponseURL: base + "/response/"})
		w.WriteHeader(200)
	}))
	defer handler.Close()
	s := &Server{Team: "T0", Channel: "C0", SigningSecret: "s3cret", ActionsURL: handler.URL,
		Users: []User{{ID: "U0A", Name: "alice", Label: "alice"}}}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	s.BaseURL, base = srv.URL, srv.URL

	ctx := context.Background()
	bot := chatops.NewBot("xoxb", srv.URL+"/api/", "C0", nil)
	bot.Pacer = nil
	ref, err := bot.Post(ctx, "", slackmsg.Message{Text: "hello <b>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bot.Update(ctx, ref, slackmsg.Message{Text: "updated"}); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].Text != "updated" || msgs[0].Updated != 1 || msgs[0].TS != ref.TS {
		t.Fatalf("%+v", msgs)
	}
	status, err := s.Press(ctx, Click{MessageID: msgs[0].ID, ActionID: "remediate", Value: "f-1", User: "U0A"})
	if err != nil || status != 200 {
		t.Fatalf("signed click: %d %v", status, err)
	}
	a := got.action
	if a.UserID != "U0A" || a.TeamID != "T0" || a.Value != "f-1" || a.MessageTS != ref.TS || !strings.HasPrefix(a.ResponseURL, srv.URL+"/response/") {
		t.Fatalf("action %+v", a)
	}
	// The response_url replaces the message, as Slack's does.
	wh := &chatops.Webhook{URL: srv.URL + "/webhook"}
	if err := wh.Update(ctx, chatops.Ref{ResponseURL: a.ResponseURL}, slackmsg.Message{Text: "via response_url"}); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages()[0]; m.Text != "via response_url" {
		t.Fatalf("%+v", m)
	}
	if _, err := s.Press(ctx, Click{MessageID: msgs[0].ID, ActionID: "remediate", Value: "f-1", User: "U0NOBODY"}); err == nil {
		t.Fatal("unknown user accepted")
	}
	// The page is served, with a CSP.
	resp, _ := http.Get(srv.URL + "/")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("page: %d", resp.StatusCode)
	}
}
