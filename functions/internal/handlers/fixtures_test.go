package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

const slackFixtures = "../../../shared/testdata/slack/"

// TestCapturedInteractionThroughTheHandler sends the real captured click (an API Gateway event
// with its real signature) through the remediation-handler: as captured (forged for us: signed
// with a secret we do not have), re-signed with ours (valid), and re-signed pointing at a real
// finding but clicked by someone who is not an approver.
func TestCapturedInteractionThroughTheHandler(t *testing.T) {
	st := newStack(t)
	raw, err := os.ReadFile(slackFixtures + "block-actions-button-apigw-rest-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var rest events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &rest); err != nil {
		t.Fatal(err)
	}
	v2 := func(headers map[string]string, body string) events.APIGatewayV2HTTPRequest {
		lower := map[string]string{}
		for k, v := range headers {
			lower[strings.ToLower(k)] = v
		}
		return events.APIGatewayV2HTTPRequest{RawPath: ActionsPath, Headers: lower, Body: body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r-1", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}}}
	}
	// As captured: Slack signed it with the original app's secret, which is not ours → 401.
	resp, _ := st.actions.HandleAPIGateway(st.ctx, v2(rest.Headers, rest.Body))
	if resp.StatusCode != http.StatusUnauthorized || resp.Body != "" {
		t.Fatalf("captured (foreign) signature: %d %q", resp.StatusCode, resp.Body)
	}
	sign := func(body string) map[string]string {
		h := map[string]string{}
		for k, v := range rest.Headers {
			h[k] = v
		}
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h["X-Slack-Request-Timestamp"] = ts
		h["X-Slack-Signature"] = chatops.SignatureHeader(secret, ts, []byte(body))
		return h
	}
	// Valid: re-signed with our secret. Its button (action id "sScW0") is not one we render:
	// answered, nothing changes.
	resp, _ = st.actions.HandleAPIGateway(st.ctx, v2(sign(rest.Body), rest.Body))
	// (Its response_url is Slack's, unreachable here, so the reply is checked in the log.)
	if resp.StatusCode != http.StatusOK || !strings.Contains(st.logs.String(), "signed click on something that is not one of our buttons") {
		t.Fatalf("valid captured click: %d\n%s", resp.StatusCode, st.logs)
	}
	// Unauthorized: the captured user (URG1A1X6F) clicks Remediate on a real finding.
	ev := st.upload("event-eventbridge-csv.json", "fixture/click.csv", []byte("x"), nil)
	st.findings.HandleSQS(st.ctx, sqsEvent(ev))
	payload, _ := url.ParseQuery(rest.Body)
	var p map[string]any
	json.Unmarshal([]byte(payload.Get("payload")), &p)
	rec, _ := st.ledger.Get(st.ctx, "local-fixture-click.csv")
	p["team"].(map[string]any)["id"] = team
	p["channel"].(map[string]any)["id"] = rec.Channel
	p["actions"].([]any)[0].(map[string]any)["action_id"] = "remediate"
	p["actions"].([]any)[0].(map[string]any)["value"] = rec.FindingID
	b, _ := json.Marshal(p)
	body := "payload=" + url.QueryEscape(string(b))
	resp, _ = st.actions.HandleAPIGateway(st.ctx, v2(sign(body), body))
	if resp.StatusCode != http.StatusOK || !strings.Contains(st.logs.String(), "click by a non-approver refused") ||
		!strings.Contains(st.logs.String(), `"user":"URG1A1X6F"`) {
		t.Fatalf("unauthorized captured user: %d\n%s", resp.StatusCode, st.logs)
	}
	if rec, _ = st.ledger.Get(st.ctx, "local-fixture-click.csv"); rec.Status != ledger.Notified || len(st.queue) != 0 {
		t.Fatalf("an unauthorized click changed the finding: %s", rec.Status)
	}
}
