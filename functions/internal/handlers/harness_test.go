package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
	"github.com/slack-go/slack/slacktest"
)

const (
	fixtures   = "../../../shared/testdata/macie/"
	secret     = "test-signing-secret"
	team       = "T0TEAM"
	testPolicy = `version: 1
defaults:
  minSeverity: LOW
  actions:
    SensitiveData:S3Object/Credentials: AUTO
    SensitiveData:S3Object/Financial: AUTO
    SensitiveData:*: REVIEW
  approvers:
    users: [U0ALICE]
  slack:
    channel: C0SEC
    teamId: T0TEAM
  quarantine:
    bucket: quarantine-{account}
accounts:
  "555555555555":
    name: workshop
`
)

// slackMsg is one message as the fake Slack holds it.
type slackMsg struct {
	Channel, TS, Text string
	Blocks            []map[string]any
	Updates           int
}

// fakeSlack is slacktest's server acting as the Slack API: it keeps the channel's messages so
// tests can read them and "click" their buttons.
type fakeSlack struct {
	*slacktest.Server
	mu         sync.Mutex
	msgs       []*slackMsg
	ephemerals []string
	seq        int
	// fault, when set, answers chat.postMessage and chat.update with it: "500", "429", "down"
	// (the connection is cut) or "not_in_channel" (Slack's answer once the bot was removed).
	fault string
	// onPost, when set, runs before a post is stored (tests hold a post to order a race).
	onPost func()
	// onUpdate, when set, runs with the new text before an update is applied (the same, for updates).
	onUpdate func(text string)
}

func (f *fakeSlack) setFault(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = mode
}

// failed answers a call with the injected fault, if any.
func (f *fakeSlack) failed(w http.ResponseWriter) bool {
	f.mu.Lock()
	mode := f.fault
	f.mu.Unlock()
	switch mode {
	case "":
		return false
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
	case "429":
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	case "down":
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	default:
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": mode})
	}
	return true
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.post)
		c.Handle("/chat.update", f.update)
		c.Handle("/chat.postEphemeral", f.ephemeral)
	})
	f.Start()
	t.Cleanup(f.Stop)
	return f
}

func decodeForm(r *http.Request) (url.Values, []map[string]any) {
	b, _ := io.ReadAll(r.Body)
	v, _ := url.ParseQuery(string(b))
	var blocks []map[string]any
	json.Unmarshal([]byte(v.Get("blocks")), &blocks)
	return v, blocks
}

func (f *fakeSlack) post(w http.ResponseWriter, r *http.Request) {
	v, blocks := decodeForm(r)
	if f.failed(w) {
		return
	}
	f.mu.Lock()
	hook := f.onPost
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	f.seq++
	m := &slackMsg{Channel: v.Get("channel"), TS: fmt.Sprintf("1700000000.%06d", f.seq), Text: v.Get("text"), Blocks: blocks}
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS})
}

func (f *fakeSlack) update(w http.ResponseWriter, r *http.Request) {
	v, blocks := decodeForm(r)
	if f.failed(w) {
		return
	}
	f.mu.Lock()
	hook := f.onUpdate
	f.mu.Unlock()
	if hook != nil {
		hook(v.Get("text"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.msgs {
		if m.Channel == v.Get("channel") && m.TS == v.Get("ts") {
			m.Text, m.Blocks = v.Get("text"), blocks
			m.Updates++
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS})
			return
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "message_not_found"})
}

func (f *fakeSlack) ephemeral(w http.ResponseWriter, r *http.Request) {
	v, _ := decodeForm(r)
	f.mu.Lock()
	f.ephemerals = append(f.ephemerals, v.Get("user")+": "+v.Get("text"))
	f.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "message_ts": "1"})
}

func (f *fakeSlack) find(contains string) *slackMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.msgs {
		if strings.Contains(m.Text, contains) {
			return m
		}
	}
	return nil
}

// all returns every message whose text contains s, oldest first.
func (f *fakeSlack) all(contains string) []*slackMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*slackMsg
	for _, m := range f.msgs {
		if strings.Contains(m.Text, contains) {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeSlack) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

func (f *fakeSlack) lastEphemeral() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ephemerals) == 0 {
		return ""
	}
	return f.ephemerals[len(f.ephemerals)-1]
}

// button returns the value of a button in a message, by action id.
func (m *slackMsg) button(actionID string) (string, bool) {
	for _, b := range m.Blocks {
		els, _ := b["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			if el["action_id"] == actionID {
				return fmt.Sprint(el["value"]), true
			}
		}
	}
	return "", false
}

// deadLetters records what went to the DLQ.
type deadLetters struct {
	mu      sync.Mutex
	reasons []string
}

func (d *deadLetters) Send(_ context.Context, _ string, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, reason)
	return nil
}

// stack is the three handlers wired as in AWS, on local servers.
type stack struct {
	t        *testing.T
	ctx      context.Context
	slack    *fakeSlack
	s3       *testenv.S3
	s3c      *s3.Client
	ledger   ledger.Store
	queue    jobs.Chan
	dlq      *deadLetters
	findings *Findings
	actions  *Actions
	remed    *Remediator
	sweeper  *Sweeper
	logs     *bytes.Buffer
	now      time.Time
}

func newStack(t *testing.T) *stack { return newStackWith(t, testPolicy, nil) }

// baseStack is what every stack shares whatever its S3 server (at endpoint, with creds): the
// policy, the ledger, the Slack stand-in, and the findings, actions and sweeper handlers. The
// remediator comes back with everything but its S3 side (Engine or Buckets), for the caller.
func baseStack(t *testing.T, policyYAML, endpoint string, creds aws.Credentials) (*stack, *Remediator) {
	ctx := testenv.Context(t)
	pol, err := policy.Parse([]byte(policyYAML), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{t: t, ctx: ctx, slack: newFakeSlack(t), queue: make(jobs.Chan, 100), dlq: &deadLetters{}, logs: &bytes.Buffer{}, now: time.Now()}
	st.s3c = quarantine.NewS3Client(endpoint, creds, "us-east-1")
	l, err := ledger.OpenBolt(filepath.Join(t.TempDir(), "ledger.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	st.ledger = l
	bot := chatops.NewBot("xoxb-test", st.slack.GetAPIURL(), "C0SEC", nil)
	bot.Pacer = nil
	bot.Retry = chatops.Retry{MaxAttempts: 2, Sleep: func(context.Context, time.Duration) error { return nil }}
	log := obs.NewLogger(st.logs, "test")
	metrics := &obs.Metrics{W: st.logs, Function: "test"}
	st.findings = &Findings{Policy: pol, Ledger: l, Jobs: st.queue, DLQ: st.dlq, Slack: bot, Log: log, Metrics: metrics, AdminAccount: "999988887777"}
	st.actions = &Actions{Policy: pol, Ledger: l, Jobs: st.queue, Slack: bot, Log: log, Metrics: metrics,
		Verifier: chatops.Verifier{Secret: secret}, Authz: &chatops.Authorizer{Groups: bot.Client}}
	st.sweeper = &Sweeper{Policy: pol, Ledger: l, Jobs: st.queue, Slack: bot, Log: log, Metrics: metrics}
	return st, &Remediator{Policy: pol, Ledger: l, Slack: bot, Log: log, Metrics: metrics, Jobs: st.queue, Authz: &chatops.Authorizer{Groups: bot.Client}}
}

// newStackWith builds the stack with another policy; faults, when set (from newS3Faults), puts a
// fault proxy between the remediator and the S3 server.
func newStackWith(t *testing.T, policyYAML string, faults *s3Faults) *stack {
	gw := testenv.VersityGW(t)
	creds := aws.Credentials{AccessKeyID: gw.AccessKey, SecretAccessKey: gw.SecretKey}
	st, remed := baseStack(t, policyYAML, gw.Endpoint, creds)
	st.s3 = gw
	ctx := st.ctx
	var clients quarantine.Clients = &quarantine.StaticClients{Endpoint: st.s3.Endpoint, Accounts: map[string]aws.Credentials{"555555555555": creds}}
	if faults != nil {
		endpoint, transport := faults.start(st.s3.Endpoint, http.DefaultTransport.(*http.Transport).Clone())
		clients = shortClients{s3.New(s3.Options{
			Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: creds},
			Retryer:    retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.MaxBackoff = 10 * time.Millisecond }),
			HTTPClient: &http.Client{Timeout: 500 * time.Millisecond, Transport: transport},
		}, func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true })}
	}
	remed.Engine = quarantine.New(clients, quarantine.Options{})
	st.remed = remed
	for _, b := range []string{"data-bucket", "quarantine-555555555555"} {
		if _, err := st.s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		st.s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	}
	return st
}

// shortClients is the remediator's S3 behind a fault proxy: a short timeout and two attempts, so a
// fault costs milliseconds, not the SDK's default patience.
type shortClients struct{ api *s3.Client }

func (c shortClients) S3For(ctx context.Context, account, _, _ string) (quarantine.S3API, error) {
	if account != "555555555555" {
		return nil, fmt.Errorf("no credentials for account %s", account)
	}
	return c.api, nil
}

// upload puts an object and returns a fixture event rewritten to point at it.
func (st *stack) upload(fixture, key string, body []byte, mutate func(detail map[string]any)) []byte {
	out, err := st.s3c.PutObject(st.ctx, &s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		st.t.Fatal(err)
	}
	raw, err := os.ReadFile(fixtures + fixture)
	if err != nil {
		st.t.Fatal(err)
	}
	var ev map[string]any
	json.Unmarshal(raw, &ev)
	d := ev["detail"].(map[string]any)
	d["id"] = "local-" + strings.NewReplacer("/", "-", " ", "-").Replace(key)
	ra := d["resourcesAffected"].(map[string]any)
	ra["s3Bucket"].(map[string]any)["name"] = "data-bucket"
	o := ra["s3Object"].(map[string]any)
	o["key"], o["versionId"], o["eTag"], o["size"] = key, aws.ToString(out.VersionId), strings.Trim(aws.ToString(out.ETag), `"`), len(body)
	if mutate != nil {
		mutate(d)
	}
	ev["account"] = d["accountId"] // sent by the account it is about (the finding-handler checks)
	b, _ := json.Marshal(ev)
	return b
}

// click sends a signed block_actions request for a button, as Slack would.
func (st *stack) click(user, actionID, value, channel, ts string) Response {
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user, "name": strings.ToLower(user)}, "team": map[string]any{"id": team},
		"channel": map[string]any{"id": channel}, "container": map[string]any{"type": "message", "message_ts": ts, "channel_id": channel},
		"actions": []any{map[string]any{"action_id": actionID, "value": value, "type": "button"}},
	})
	body := []byte("payload=" + url.QueryEscape(string(payload)))
	tsHeader := strconv.FormatInt(time.Now().Unix(), 10)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", tsHeader)
	h.Set("X-Slack-Signature", chatops.SignatureHeader(secret, tsHeader, body))
	return st.actions.Handle(st.ctx, Request{Method: http.MethodPost, Path: ActionsPath, Headers: h, Body: body})
}

// drain runs every queued job through the remediator.
func (st *stack) drain() int {
	n := 0
	for {
		select {
		case j := <-st.queue:
			if err := st.remed.Run(st.ctx, j); err != nil {
				st.t.Fatalf("remediator: %v", err)
			}
			n++
		default:
			return n
		}
	}
}

func (st *stack) exists(bucket, key, version string) bool {
	_, err := st.s3c.HeadObject(st.ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, VersionId: nonEmpty(version)})
	return err == nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
