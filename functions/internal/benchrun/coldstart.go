package benchrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/macie-chatops/macie-chatops/functions/internal/config"
	"github.com/macie-chatops/macie-chatops/functions/internal/handlers"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/localsrv"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// coldRuns is how many cold starts the row takes the median of.
const coldRuns = 5

// coldStartGoal is the goal for a cold start to the first ack.
const coldStartGoal = time.Second

// coldFake is the Slack API the cold-started handler updates its message through.
type coldFake struct {
	mu    sync.Mutex
	calls []string
}

func (f *coldFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	f.calls = append(f.calls, r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, r.Form.Get("channel"), r.Form.Get("ts"))
}

// coldStarts starts the remediation-handler's bootstrap (built for this machine, as make build
// builds it for Lambda) under aws-lambda-rie runs times, each a new process that reads its Slack
// secret from moto's Secrets Manager, its policy from moto's SSM, and then answers one signed
// approver's click (ledger in moto's DynamoDB, job to moto's SQS, message update to a fake Slack
// API). Each sample is the harness's time from starting the emulator to the click's answer.
func coldStarts(ctx context.Context, root string, runs int, errOut io.Writer) ([]time.Duration, error) {
	rie, err := localsrv.Tool("bin/aws-lambda-rie")
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "bench-cold-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	boot := filepath.Join(tmp, "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", boot, "./remediation-handler")
	build.Dir = filepath.Join(root, "functions")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build remediation-handler: %v\n%s", err, out)
	}

	moto, err := localsrv.Moto()
	if err != nil {
		return nil, err
	}
	defer moto.Stop()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""), BaseEndpoint: aws.String(moto.Endpoint)}
	signing := "bench-cold-signing-secret"
	sec, err := json.Marshal(config.Secrets{SigningSecret: signing, BotToken: "xoxb-bench"})
	if err != nil {
		return nil, err
	}
	smOut, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("macie-chatops/slack"), SecretString: aws.String(string(sec))})
	if err != nil {
		return nil, fmt.Errorf("moto secretsmanager: %w", err)
	}
	pol, err := os.ReadFile(filepath.Join(root, "policies", "dev.yaml"))
	if err != nil {
		return nil, err
	}
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/macie-chatops/dev/policy"), Type: ssmtypes.ParameterTypeString,
		Value: aws.String(string(pol))}); err != nil {
		return nil, fmt.Errorf("moto ssm: %w", err)
	}
	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs")})
	if err != nil {
		return nil, fmt.Errorf("moto sqs: %w", err)
	}
	led := ledger.NewDynamo(ledger.DynaliteClient(moto.Endpoint), "cold-ledger", nil)
	if err := led.EnsureTable(ctx); err != nil {
		return nil, fmt.Errorf("moto dynamodb: %w", err)
	}
	slack := &coldFake{}
	slackSrv := httptest.NewServer(slack)
	defer slackSrv.Close()

	env := append(os.Environ(),
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL="+moto.Endpoint,
		"LEDGER_TABLE=cold-ledger", "JOBS_QUEUE_URL="+aws.ToString(q.QueueUrl), "SLACK_SECRET_ARN="+aws.ToString(smOut.ARN),
		"POLICY_PARAMETER=/macie-chatops/dev/policy", "SLACK_API_URL="+slackSrv.URL+"/", "SLACK_DEFAULT_CHANNEL=C0COLD",
	)
	var out []time.Duration
	for i := 0; i < runs; i++ {
		id := fmt.Sprintf("cold-%d", i)
		if _, _, err := led.Create(ctx, ledger.Record{FindingID: id, AccountID: "555555555555", Region: "us-east-1", Bucket: "workshop-data", Key: "cold/start.csv",
			VersionID: "v1", FindingType: "SensitiveData:S3Object/Personal", Severity: "HIGH", Action: "REVIEW", Status: ledger.Notified,
			Channel: "C0COLD", MessageTS: fmt.Sprintf("1700000000.%06d", i)}); err != nil {
			return nil, fmt.Errorf("seed ledger: %w", err)
		}
		d, err := coldStart(ctx, rie, boot, env, signing, id, fmt.Sprintf("1700000000.%06d", i))
		if err != nil {
			return nil, err
		}
		rec, err := led.Get(ctx, id)
		if err != nil || rec.Status != ledger.Queued {
			return nil, fmt.Errorf("cold start %d: the click was answered but the finding is %s (%v), want %s", i, rec.Status, err, ledger.Queued)
		}
		fmt.Fprintf(errOut, "bench: cold start %d: %s\n", i+1, d.Round(time.Millisecond))
		out = append(out, d)
	}
	return out, nil
}

// coldStart runs one emulator + bootstrap and times process start → first ack.
func coldStart(ctx context.Context, rie, boot string, env []string, signing, findingID, ts string) (time.Duration, error) {
	ports, err := localsrv.FreePorts(2)
	if err != nil {
		return 0, err
	}
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "U0APPROVER", "username": "alice", "team_id": "T0COLD"},
		"team": map[string]any{"id": "T0COLD"}, "api_app_id": "A0COLD",
		"container": map[string]any{"type": "message", "message_ts": ts, "channel_id": "C0COLD"},
		"channel":   map[string]any{"id": "C0COLD"}, "message": map[string]any{"ts": ts, "text": "Review required"},
		"actions": []any{map[string]any{"action_id": slackmsg.ActionRemediate, "block_id": "actions", "value": findingID, "type": "button", "action_ts": ts}},
	})
	body := "payload=" + url.QueryEscape(string(payload))
	now := fmt.Sprint(time.Now().Unix())
	ev, _ := json.Marshal(map[string]any{"version": "2.0", "rawPath": handlers.ActionsPath,
		"headers": map[string]string{"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": now,
			"x-slack-signature": chatops.SignatureHeader(signing, now, []byte(body))},
		"body": body, "isBase64Encoded": false,
		"requestContext": map[string]any{"requestId": "cold-" + findingID, "http": map[string]any{"method": "POST", "path": handlers.ActionsPath}}})

	log := &lockedBuffer{}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", ports[1]), boot)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the emulator and the bootstrap it started
		cmd.Wait()
	}()
	invoke := fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", ports[0])
	deadline := start.Add(30 * time.Second)
	client := &http.Client{Timeout: 30 * time.Second}
	for {
		resp, err := client.Post(invoke, "application/json", bytes.NewReader(ev))
		if err == nil {
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			d := time.Since(start)
			if !strings.Contains(string(out), `"statusCode":200`) {
				return 0, fmt.Errorf("cold start: the remediation-handler answered %s, want statusCode 200\n%s", out, log.String())
			}
			return d, nil
		}
		var op interface{ Timeout() bool }
		if time.Now().After(deadline) || ctx.Err() != nil || (errors.As(err, &op) && op.Timeout()) {
			return 0, fmt.Errorf("cold start: aws-lambda-rie did not answer within 30 s: %v\n%s", err, log.String())
		}
		time.Sleep(2 * time.Millisecond) // the emulator's port is not open yet
	}
}

// lockedBuffer collects a process's output while the harness may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// median of samples.
func median(s []time.Duration) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[len(c)/2]
}
