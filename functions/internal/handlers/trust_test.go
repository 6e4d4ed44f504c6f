package handlers

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// clickPayload is a block_actions payload for one element, as Slack sends it.
func clickPayload(user, channel, ts string, action map[string]any) map[string]any {
	return map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user, "name": strings.ToLower(user)}, "team": map[string]any{"id": team},
		"channel": map[string]any{"id": channel}, "container": map[string]any{"type": "message", "message_ts": ts, "channel_id": channel},
		"actions": []any{action},
	}
}

// signed is the request Slack would send for a payload, signed with our secret.
func signed(payload map[string]any) Request {
	b, _ := json.Marshal(payload)
	body := []byte("payload=" + url.QueryEscape(string(b)))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", chatops.SignatureHeader(secret, ts, body))
	return Request{Method: http.MethodPost, Path: ActionsPath, Headers: h, Body: body}
}

// closedURL is a URL on 127.0.0.1 where nothing listens: every request to it fails at once with
// a network error (which net/http reports with the full URL).
func closedURL(t *testing.T, path string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + path
}

// TestNoSecretReachesTheLog: in webhook mode, with Slack unreachable, the finding-handler and the
// remediation-handler log their failures, and neither the webhook URL's secret path, nor a
// response_url's, nor the signing secret or bot token, appears anywhere in the log output.
func TestNoSecretReachesTheLog(t *testing.T) {
	st := newStack(t)
	const hookSecret = "T0SECRET/B0SECRET/xyzzyWebhookSecret0123"
	const responseSecret = "T0RESP/1234567/respSecretToken0987"
	hook := &chatops.Webhook{URL: closedURL(t, "/services/"+hookSecret), Retry: chatops.Retry{MaxAttempts: 1}}
	st.findings.Slack, st.actions.Slack = hook, hook
	localBase := closedURL(t, "/response/")
	st.actions.LocalResponseURL = localBase

	ev := st.upload("event-eventbridge-csv.json", "secret/a.csv", []byte("x"), nil)
	// The failed post is left to the sweeper (the finding is acknowledged, not retried by SQS).
	if resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(ev)); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("a failed post should be deferred to the sweeper, not retried: %+v\n%s", resp, st.logs)
	}
	p := clickPayload("U0ALICE", "C0SEC", "1.1", map[string]any{"type": "button", "action_id": slackmsg.ActionRemediate, "value": "local-secret-a.csv"})
	p["response_url"] = localBase + responseSecret
	if r := st.actions.Handle(st.ctx, signed(p)); r.Status != http.StatusOK {
		t.Fatalf("click: %d", r.Status)
	}
	logs := st.logs.String()
	// The failures were logged (so the test saw the paths that could leak)...
	if !strings.Contains(logs, "deferred to the sweeper") || !strings.Contains(logs, "connection refused") {
		t.Fatalf("expected logged delivery failures:\n%s", logs)
	}
	// ...and no secret, nor any recognisable part of one, is in them.
	for _, s := range []string{hookSecret, "xyzzyWebhookSecret0123", responseSecret, "respSecretToken0987", secret, "xoxb-test"} {
		if strings.Contains(logs, s) {
			t.Fatalf("secret %q in the log:\n%s", s, logs)
		}
	}
	if !strings.Contains(logs, "/[redacted]") {
		t.Fatalf("the failures do not say which host failed:\n%s", logs)
	}
}

// rewriteEnvelope returns a fixture event with its envelope account (and detail) changed.
func envelopeFrom(t *testing.T, ev []byte, account string) []byte {
	var m map[string]any
	json.Unmarshal(ev, &m)
	if account == "" {
		b, _ := json.Marshal(m["detail"]) // the bare finding
		return b
	}
	m["account"] = account
	b, _ := json.Marshal(m)
	return b
}

// TestFindingFromAnotherAccountIsRejected: an event naming account 555555555555's object is
// accepted only from that account or from the Macie administrator account; from anyone else,
// or without an envelope, it is refused before anything is written: no ledger record, no Slack
// message, no job, the object untouched, a log line and a metric, and the event kept in the DLQ.
func TestFindingFromAnotherAccountIsRejected(t *testing.T) {
	st := newStack(t)
	st.findings.AdminAccount = "999988887777"
	for _, tc := range []struct {
		name, key, envelope string
		accepted            bool
	}{
		{"own account", "trust/own.csv", "555555555555", true},
		{"administrator account", "trust/admin.csv", "999988887777", true},
		{"another member", "trust/forged.csv", "111122223333", false},
		{"no envelope", "trust/bare.csv", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An AUTO finding type: accepted, it would be moved at once.
			ev := st.upload("event-eventbridge-csv.json", tc.key, []byte("secret"), func(d map[string]any) { d["type"] = "SensitiveData:S3Object/Credentials" })
			body := envelopeFrom(t, ev, tc.envelope)
			dlqBefore, logBefore := len(st.dlq.reasons), st.logs.Len()
			if resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(body)); len(resp.BatchItemFailures) != 0 {
				t.Fatalf("%+v", resp)
			}
			id := "local-" + strings.ReplaceAll(tc.key, "/", "-")
			rec, err := st.ledger.Get(st.ctx, id)
			if tc.accepted {
				if err != nil || rec.Status != ledger.Queued {
					t.Fatalf("accepted finding: %v %+v", err, rec)
				}
				<-st.queue
				return
			}
			if err == nil {
				t.Fatalf("rejected finding was written to the ledger: %+v", rec)
			}
			if len(st.queue) != 0 || !st.exists("data-bucket", tc.key, "") || st.slack.find(tc.key) != nil {
				t.Fatal("a rejected finding caused a job, a move or a message")
			}
			if len(st.dlq.reasons) != dlqBefore+1 || !strings.Contains(st.dlq.reasons[dlqBefore], "trust boundary") {
				t.Fatalf("dlq: %v", st.dlq.reasons)
			}
			logs := st.logs.String()[logBefore:]
			if !strings.Contains(logs, "finding rejected: sender may not report on this account") || !strings.Contains(logs, `"RejectedFindings":1`) {
				t.Fatalf("no log line or metric:\n%s", logs)
			}
		})
	}
}

// ledgers runs f against the bbolt ledger and against DynamoDB (dynalite).
func ledgers(t *testing.T, f func(t *testing.T, st *stack)) {
	t.Run("bbolt", func(t *testing.T) { f(t, newStack(t)) })
	t.Run("dynamodb", func(t *testing.T) {
		st := newStack(t)
		srv := testenv.Dynalite(t)
		d := ledger.NewDynamo(ledger.DynaliteClient(srv.Endpoint), "ledger", nil)
		if err := d.EnsureTable(st.ctx); err != nil {
			t.Fatal(err)
		}
		st.ledger, st.findings.Ledger, st.actions.Ledger, st.remed.Ledger = d, d, d, d
		f(t, st)
	})
}

// TestClicksOnAnythingButOurButtons: a signed click on a select menu (the real payload shape:
// no value), on a button with an empty value, or with an action id we never render, is answered
// with an ephemeral saying why, on both ledgers, and changes nothing.
func TestClicksOnAnythingButOurButtons(t *testing.T) {
	ledgers(t, func(t *testing.T, st *stack) {
		ev := st.upload("event-eventbridge-csv.json", "click/a.csv", []byte("x"), nil)
		st.findings.HandleSQS(st.ctx, sqsEvent(ev))
		rec, err := st.ledger.Get(st.ctx, "local-click-a.csv")
		if err != nil || rec.Status != ledger.Notified {
			t.Fatal(err, rec.Status)
		}
		for _, tc := range []struct {
			name   string
			action map[string]any
			want   string
		}{
			{"static_select", map[string]any{"type": "static_select", "action_id": slackmsg.ActionRemediate, "block_id": "b",
				"selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": "x"}, "value": rec.FindingID}, "action_ts": "1"},
				"only the message's buttons do"},
			{"empty value", map[string]any{"type": "button", "action_id": slackmsg.ActionRemediate, "value": ""}, "carries no finding id"},
			{"unknown action", map[string]any{"type": "button", "action_id": "approve_everything", "value": rec.FindingID}, `Unknown action "approve_everything"`},
		} {
			r := st.actions.Handle(st.ctx, signed(clickPayload("U0ALICE", rec.Channel, rec.MessageTS, tc.action)))
			if r.Status != http.StatusOK || !strings.Contains(st.slack.lastEphemeral(), tc.want) || !strings.Contains(st.slack.lastEphemeral(), "Nothing was changed") {
				t.Fatalf("%s: %d %q", tc.name, r.Status, st.slack.lastEphemeral())
			}
			if got, _ := st.ledger.Get(st.ctx, rec.FindingID); got.Status != ledger.Notified || got.Version != rec.Version || len(st.queue) != 0 {
				t.Fatalf("%s changed the ledger: %s v%d", tc.name, got.Status, got.Version)
			}
		}
	})
}

// TestResponseURLIsPinned: a click whose response_url is not Slack's is refused before anything
// happens; local mode's stand-in URL is accepted only when local mode says so, exactly.
func TestResponseURLIsPinned(t *testing.T) {
	st := newStack(t)
	ev := st.upload("event-eventbridge-csv.json", "pin/a.csv", []byte("x"), nil)
	st.findings.HandleSQS(st.ctx, sqsEvent(ev))
	rec, _ := st.ledger.Get(st.ctx, "local-pin-a.csv")
	click := func(responseURL string) Response {
		p := clickPayload("U0ALICE", rec.Channel, rec.MessageTS, map[string]any{"type": "button", "action_id": slackmsg.ActionDismiss, "value": rec.FindingID})
		p["response_url"] = responseURL
		return st.actions.Handle(st.ctx, signed(p))
	}
	local := closedURL(t, "/response/")
	for _, bad := range []string{"http://127.0.0.1.attacker.example/response/1", "https://attacker.example/hooks", "https://hooks.slack.com.attacker.example/x",
		"http://hooks.slack.com/actions/1", "https://user@hooks.slack.com/x", local + "1"} {
		if r := click(bad); r.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d", bad, r.Status)
		}
	}
	if got, _ := st.ledger.Get(st.ctx, rec.FindingID); got.Status != ledger.Notified {
		t.Fatalf("a refused click changed the finding: %s", got.Status)
	}
	st.actions.LocalResponseURL = local
	host := strings.TrimPrefix(strings.TrimSuffix(local, "/response/"), "http://")
	for _, bad := range []string{"http://" + host + "/elsewhere/1", "http://" + host + "0/response/1", "https://" + host + "/response/1"} {
		if r := click(bad); r.Status != http.StatusBadRequest {
			t.Fatalf("local mode accepted %s: %d", bad, r.Status)
		}
	}
	if r := click(local + "1"); r.Status != http.StatusOK {
		t.Fatalf("the stand-in's response_url in local mode: %d\n%s", r.Status, st.logs)
	}
	if got, _ := st.ledger.Get(st.ctx, rec.FindingID); got.Status != ledger.Dismissed {
		t.Fatalf("local click: %s", got.Status)
	}
}

// TestInvalidBase64Is401: an API Gateway body flagged base64 that is not base64 cannot be
// verified, so it is answered 401 like any other verification failure.
func TestInvalidBase64Is401(t *testing.T) {
	st := newStack(t)
	req := signed(clickPayload("U0ALICE", "C0SEC", "1.1", map[string]any{"type": "button", "action_id": slackmsg.ActionDismiss, "value": "x"}))
	ev := events.APIGatewayV2HTTPRequest{RawPath: ActionsPath, Body: "%%%not-base64%%%", IsBase64Encoded: true,
		Headers:        map[string]string{"x-slack-request-timestamp": req.Headers.Get("X-Slack-Request-Timestamp"), "x-slack-signature": req.Headers.Get("X-Slack-Signature")},
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}}}
	if resp, _ := st.actions.HandleAPIGateway(st.ctx, ev); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("invalid base64: %d", resp.StatusCode)
	}
	// The same request, validly encoded, gets through verification.
	ev.Body = base64.StdEncoding.EncodeToString(req.Body)
	if resp, _ := st.actions.HandleAPIGateway(st.ctx, ev); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid base64: %d", resp.StatusCode)
	}
}

// TestShowKeysMaskedInSlack: with the policy's slack.showKeys: masked, the finding-handler's
// message and the remediator's outcome never carry the object key; the ledger keeps it whole.
func TestShowKeysMaskedInSlack(t *testing.T) {
	st := newStack(t)
	pol, err := policy.Parse([]byte(strings.Replace(testPolicy, "    teamId: T0TEAM\n", "    teamId: T0TEAM\n    showKeys: masked\n", 1)), "masked.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.findings.Policy, st.actions.Policy, st.remed.Policy = pol, pol, pol
	// (A real finding id is opaque; the harness's default id would spell the key.)
	ev := st.upload("event-eventbridge-csv.json", "hr/payroll/jane-doe.csv", []byte("x"), func(d map[string]any) { d["id"] = "masked-1" })
	st.findings.HandleSQS(st.ctx, sqsEvent(ev))
	rec, err := st.ledger.Get(st.ctx, "masked-1")
	if err != nil || rec.Key != "hr/payroll/jane-doe.csv" {
		t.Fatalf("the ledger must keep the key: %v %q", err, rec.Key)
	}
	st.click("U0ALICE", slackmsg.ActionRemediate, rec.FindingID, rec.Channel, rec.MessageTS)
	st.drain()
	if got, _ := st.ledger.Get(st.ctx, rec.FindingID); got.Status != ledger.Quarantined {
		t.Fatalf("%s", got.Status)
	}
	st.slack.mu.Lock()
	defer st.slack.mu.Unlock()
	if len(st.slack.msgs) != 1 || st.slack.msgs[0].Updates == 0 {
		t.Fatalf("%d messages", len(st.slack.msgs))
	}
	for _, m := range st.slack.msgs {
		all, _ := json.Marshal(m)
		if strings.Contains(string(all), "payroll") || strings.Contains(string(all), "jane-doe") {
			t.Fatalf("the key reached Slack: %s", all)
		}
		if !strings.Contains(string(all), "h…/p…/j….csv") {
			t.Fatalf("no masked key in %s", all)
		}
	}
}
