package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// TestClickAckDoesNotWaitForTheChannelPace: the "in progress" answer to a click goes to the
// click's own response_url, which has no pace, so it is shown even when the channel's chat.update
// lane is taken for longer than the ack may last (a burst: every container updating the channel).
// The pace here never frees (Sleep only ends with the context), so chat.update could not deliver.
func TestClickAckDoesNotWaitForTheChannelPace(t *testing.T) {
	st := newStack(t)
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	st.actions.LocalResponseURL = srv.URL + "/response/"

	ev := st.upload("event-eventbridge-csv.json", "secret/paced.csv", []byte("x"), nil)
	if resp, err := st.findings.HandleSQS(st.ctx, sqsEvent(ev)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("finding: %v %+v\n%s", err, resp, st.logs)
	}
	rec, err := st.ledger.Get(st.ctx, "local-secret-paced.csv")
	if err != nil || rec.MessageTS == "" {
		t.Fatalf("no posted message: %v %+v", err, rec)
	}

	bot := st.actions.Slack.(*chatops.Bot)
	bot.Pacer = &chatops.Pacer{Interval: time.Hour, Now: time.Now, Sleep: func(ctx context.Context, _ time.Duration) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	// Another update just took the channel's lane: the next chat.update slot is an hour away.
	if err := bot.Pacer.Do(st.ctx, rec.Channel+"/update", func() error { return nil }); err != nil {
		t.Fatal(err)
	}

	p := clickPayload("U0ALICE", rec.Channel, rec.MessageTS, map[string]any{"type": "button", "action_id": slackmsg.ActionRemediate, "value": rec.FindingID})
	p["response_url"] = srv.URL + "/response/T0/1/click"
	if r := st.actions.Handle(st.ctx, signed(p)); r.Status != http.StatusOK {
		t.Fatalf("click: %d\n%s", r.Status, st.logs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0]["replace_original"] != true {
		t.Fatalf("want one replace_original on the click's response_url, got %v\n%s", got, st.logs)
	}
	if b, _ := json.Marshal(got[0]); !strings.Contains(string(b), "U0ALICE") {
		t.Fatalf("the in-progress message does not say who clicked: %s", b)
	}
	after, _ := st.ledger.Get(st.ctx, rec.FindingID)
	if after.Status != ledger.Queued || after.ShownStatus != ledger.Queued {
		t.Fatalf("want QUEUED and shown QUEUED, got %s shown %q\n%s", after.Status, after.ShownStatus, st.logs)
	}
}
