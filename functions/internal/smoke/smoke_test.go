package smoke

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// fakeAWS answers the AWS JSON protocol calls the functions make at cold start and at work.
type fakeAWS struct {
	mu     sync.Mutex
	policy string
	sent   []string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	json.Unmarshal(body, &in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "secretsmanager.GetSecretValue":
		json.NewEncoder(w).Encode(map[string]any{"ARN": in["SecretId"], "Name": "slack",
			"SecretString": `{"signingSecret":"smoke-secret","botToken":"xoxb-smoke"}`})
	case "AmazonSSM.GetParameter":
		json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in["Name"], "Type": "String", "Value": f.policy}})
	case "AmazonSQS.SendMessage":
		msg, _ := in["MessageBody"].(string)
		f.mu.Lock()
		f.sent = append(f.sent, msg)
		f.mu.Unlock()
		sum := md5.Sum([]byte(msg))
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		json.NewEncoder(w).Encode(map[string]any{"MessageId": "m-1", "MD5OfMessageBody": hex.EncodeToString(sum[:])})
	default:
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"fake AWS does not serve %s"}`, target)
	}
}

// fakeSlack counts posts.
type fakeSlack struct {
	mu    sync.Mutex
	posts []string
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	f.posts = append(f.posts, r.URL.Path+" "+r.Form.Get("text"))
	n := len(f.posts)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"1700000000.%06d"}`, r.Form.Get("channel"), n)
}

var initReport = regexp.MustCompile(`INIT REPORT.*?durationMs:\s*([0-9.]+)`)

func TestBootstrapsUnderTheLambdaRuntimeEmulator(t *testing.T) {
	rie := testenv.Tool(t, "bin/aws-lambda-rie")
	root := testenv.RepoRoot(t)
	ctx := testenv.Context(t)
	dyn := testenv.Dynalite(t)
	if err := ledger.NewDynamo(ledger.DynaliteClient(dyn.Endpoint), "smoke-ledger", nil).EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	pol, err := os.ReadFile(filepath.Join(root, "policies", "dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	aws := &fakeAWS{policy: string(pol)}
	awsSrv := httptest.NewServer(aws)
	defer awsSrv.Close()
	sl := &fakeSlack{}
	slackSrv := httptest.NewServer(sl)
	defer slackSrv.Close()

	bin := t.TempDir()
	env := append(os.Environ(),
		"AWS_ACCESS_KEY_ID=smoke", "AWS_SECRET_ACCESS_KEY=smoke", "AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL_SQS="+awsSrv.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+awsSrv.URL, "AWS_ENDPOINT_URL_SSM="+awsSrv.URL,
		"AWS_ENDPOINT_URL_DYNAMODB="+dyn.Endpoint,
		"LEDGER_TABLE=smoke-ledger", "MACIE_ADMIN_ACCOUNT=999988887777", "JOBS_QUEUE_URL="+awsSrv.URL+"/000000000000/jobs", "SLACK_SECRET_ARN=arn:aws:secretsmanager:us-east-1:000000000000:secret:slack",
		"POLICY_PARAMETER=/macie-chatops/dev/policy", "SLACK_API_URL="+slackSrv.URL+"/", "SLACK_DEFAULT_CHANNEL=C0SMOKE",
		"QUARANTINE_ROLE_NAME=macie-chatops-quarantine", "QUARANTINE_EXTERNAL_ID=smoke-external-id",
	)
	csv, _ := os.ReadFile(filepath.Join(root, "shared/testdata/macie/event-eventbridge-csv.json"))
	sqsOf := func(bodies ...string) string {
		var recs []map[string]any
		for i, b := range bodies {
			recs = append(recs, map[string]any{"messageId": fmt.Sprintf("m%d", i), "body": b, "eventSource": "aws:sqs"})
		}
		b, _ := json.Marshal(map[string]any{"Records": recs})
		return string(b)
	}
	apigw := func(method, path string) string {
		b, _ := json.Marshal(map[string]any{"version": "2.0", "rawPath": path, "headers": map[string]string{"x-slack-signature": "v0=00", "x-slack-request-timestamp": fmt.Sprint(time.Now().Unix())},
			"body": "payload=%7B%7D", "isBase64Encoded": false, "requestContext": map[string]any{"requestId": "r-1", "http": map[string]any{"method": method, "path": path}}})
		return string(b)
	}
	cases := []struct {
		fn     string
		events []string
		want   []string // substrings of each response, in order
	}{
		{"finding-handler", []string{sqsOf(string(csv), "{not json"), string(csv)},
			[]string{`"batchItemFailures":[{"itemIdentifier":"m1"}]`, `null`}},
		{"remediation-handler", []string{apigw("POST", "/slack/actions"), apigw("POST", "/elsewhere"), apigw("GET", "/slack/actions")},
			[]string{`"statusCode":401`, `"statusCode":404`, `"statusCode":405`}},
		{"remediator", []string{sqsOf(`{"kind":"remediate","findingId":"not-in-ledger","by":"policy"}`, `{"kind":"nuke"}`)},
			[]string{`"batchItemFailures":[{"itemIdentifier":"m1"}]`}},
		// The EventBridge schedule's empty event: one sweep of the (empty) ledger, its report back.
		{"sweeper", []string{`{}`}, []string{`"errors":0}`}},
	}
	for _, c := range cases {
		t.Run(c.fn, func(t *testing.T) {
			boot := filepath.Join(bin, c.fn, "bootstrap")
			build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", boot, "./"+c.fn)
			build.Dir = filepath.Join(root, "functions")
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build %s: %v\n%s", c.fn, err, out)
			}
			ports := testenv.FreePorts(t, 2)
			port, apiPort := ports[0], ports[1]
			srv := testenv.StartEnv(t, "aws-lambda-rie "+c.fn, port, env, rie,
				"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
				"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), boot)
			url := fmt.Sprintf("%s/2015-03-31/functions/function/invocations", srv.Endpoint)
			for i, ev := range c.events {
				resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(ev)))
				if err != nil {
					t.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(out), c.want[i]) {
					t.Fatalf("%s event %d: response %s, want %s\nlog:\n%s", c.fn, i, out, c.want[i], srv.Log())
				}
			}
			m, err := srv.WaitLog(testenv.Context(t), initReport)
			if err != nil {
				t.Fatalf("no INIT REPORT in the emulator's log: %v\n%s", err, srv.Log())
			}
			t.Logf("%s init %s ms under aws-lambda-rie", c.fn, m[1])
			if dir := os.Getenv("MACIE_CHATOPS_BENCH_OUT"); dir != "" {
				os.WriteFile(filepath.Join(dir, "init-"+c.fn+".txt"), []byte(m[1]), 0o644)
			}
		})
	}
	// The finding handler really worked: a REVIEW message was posted once (the second delivery
	// was a duplicate), and the malformed message was reported, not retried forever.
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if len(sl.posts) != 1 || !strings.Contains(sl.posts[0], "/chat.postMessage Review required") {
		t.Fatalf("slack posts %v", sl.posts)
	}
}
