// Package local owns local mode: the whole flow on one machine. It starts a real S3 server with
// two accounts (separate credential sets and buckets), the embedded ledger, the local Slack
// stand-in and the three handlers wired exactly as in AWS (in-process queues stand in for SQS),
// uploads dummy sensitive files, and replays fixture findings rewritten to point at them.
// versitygw has no bucket-setting APIs (Block Public Access, default encryption, replication),
// so bucket settings live on a moto server (python3 -m moto.server) that local mode also starts:
// the policy finding it replays is about workshop-data's Block Public Access there.
package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/macie-chatops/macie-chatops/functions/internal/handlers"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/functions/internal/standin"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/localsrv"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// The two local accounts and their data buckets: one versioned, one not.
const (
	AccountA  = "555555555555"
	AccountB  = "666666666666"
	BucketA   = "workshop-data" // versioned
	BucketB   = "sandbox-data"  // unversioned
	Region    = "us-east-1"
	TeamID    = "T0LOCAL"
	Channel   = "C0FINDINGS"
	Approver  = "U0APPROVER"
	Bystander = "U0VIEWER"
)

// Workers is how many jobs the local remediator runs at once.
const Workers = 4

// Options configure a local run.
type Options struct {
	PolicyFile string // default policies/dev.yaml
	WorkDir    string // default a new temp dir
	PagePort   int    // 0 = any free port
	Log        io.Writer
	// SweepEvery is the sweeper's schedule (default 10 s: short, so a demo shows it at work).
	SweepEvery time.Duration
	// OnSlackChange and OnRecorded let the benchmark harness stamp, on its own clock, when a
	// Slack message is posted or changed and when the remediator's ledger write of a new status
	// returned. Both are called synchronously: keep them quick.
	OnSlackChange func(standin.Message)
	OnRecorded    func(ledger.Record)
	// OnJobDone is called after each remediator run with its duration (the benchmark's Lambda
	// GB-seconds).
	OnJobDone func(j jobs.Job, took time.Duration, err error)
	// Ledger, when set, is used instead of the embedded one (the benchmark's cost run puts it on
	// DynamoDB); S3APIOptions are added to the remediator's S3 clients.
	Ledger       ledger.Store
	S3APIOptions []func(*middleware.Stack) error
}

// observed reports every successful status transition the remediator makes.
type observed struct {
	ledger.Store
	on func(ledger.Record)
}

func (o observed) Transition(ctx context.Context, id string, c ledger.Change) (ledger.Record, error) {
	r, err := o.Store.Transition(ctx, id, c)
	if err == nil {
		o.on(r)
	}
	return r, err
}

// Env is a running local stack.
type Env struct {
	Repo   string
	Work   string
	Policy *policy.Policy
	S3     *localsrv.S3
	// Settings is the moto server that holds the buckets' settings (versitygw lacks the APIs).
	Settings   *localsrv.Proc
	Accounts   map[string]aws.Credentials
	Ledger     ledger.Store
	LedgerPath string // the embedded ledger's file; "" when Options.Ledger was given
	StandIn    *standin.Server
	PageURL    string
	ActionsURL string
	Findings   *handlers.Findings
	Actions    *handlers.Actions
	Remediator *handlers.Remediator
	Sweeper    *handlers.Sweeper
	Jobs       jobs.Chan

	servers []*http.Server
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	ownWork bool // a temp dir we made, removed at Stop
	stop    sync.Once
}

func secret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Start brings the local stack up. Stop tears it down.
func Start(ctx context.Context, opts Options) (*Env, error) {
	wd, _ := os.Getwd()
	repo, err := localsrv.RepoRoot(wd)
	if err != nil {
		return nil, err
	}
	if opts.PolicyFile == "" {
		opts.PolicyFile = filepath.Join(repo, "policies", "dev.yaml")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	pol, err := policy.LoadFile(opts.PolicyFile)
	if err != nil {
		return nil, err
	}
	work := opts.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "macie-chatops-local-"); err != nil {
			return nil, err
		}
	}
	e := &Env{Repo: repo, Work: work, Policy: pol, Jobs: make(jobs.Chan, 1024), ownWork: opts.WorkDir == ""}
	ok := false
	defer func() {
		if !ok {
			e.Stop()
		}
	}()

	// S3: one gateway, two accounts with their own credentials and buckets.
	e.S3, err = localsrv.VersityGW(filepath.Join(work, "s3"), "local-root", secret(), true)
	if err != nil {
		return nil, err
	}
	e.Accounts = map[string]aws.Credentials{}
	for _, acct := range []string{AccountA, AccountB} {
		c := aws.Credentials{AccessKeyID: "acct-" + acct, SecretAccessKey: secret()}
		if err := e.S3.AddUser(ctx, c.AccessKeyID, c.SecretAccessKey); err != nil {
			return nil, err
		}
		e.Accounts[acct] = c
	}
	if err := e.seedBuckets(ctx); err != nil {
		return nil, err
	}
	if e.Settings, err = localsrv.Moto(); err != nil {
		return nil, fmt.Errorf("bucket settings need moto (versitygw has no Block Public Access API): %w", err)
	}
	if err := e.seedSettings(ctx); err != nil {
		return nil, err
	}

	// Ledger, stand-in, handlers.
	if opts.Ledger != nil {
		e.Ledger = opts.Ledger
	} else {
		e.LedgerPath = filepath.Join(work, "ledger.db")
		if e.Ledger, err = ledger.OpenBolt(e.LedgerPath, nil); err != nil {
			return nil, err
		}
	}
	signing := secret()
	pageLn, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", opts.PagePort))
	if err != nil {
		return nil, fmt.Errorf("stand-in page port %d: %w (pass --port 0 for any free port)", opts.PagePort, err)
	}
	actLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pageLn.Close()
		return nil, err
	}
	e.PageURL = "http://" + pageLn.Addr().String()
	e.ActionsURL = "http://" + actLn.Addr().String() + handlers.ActionsPath
	e.StandIn = &standin.Server{Team: TeamID, Channel: Channel, SigningSecret: signing, ActionsURL: e.ActionsURL, BaseURL: e.PageURL, Token: secret(),
		Users:    []standin.User{{ID: Approver, Name: "alice", Label: "alice (approver)"}, {ID: Bystander, Name: "bob", Label: "bob (not an approver)"}},
		OnChange: opts.OnSlackChange}

	log := obs.NewLogger(opts.Log, "local")
	metrics := &obs.Metrics{W: io.Discard, Function: "local"}
	bot := chatops.NewBot("xoxb-local", e.PageURL+"/api/", Channel, nil)
	bot.Pacer = chatops.NewPacer(chatops.DefaultInterval)
	e.Findings = &handlers.Findings{Policy: pol, Ledger: e.Ledger, Jobs: e.Jobs, Slack: bot, Log: log.With("function", "finding-handler"), Metrics: metrics,
		Digest: &handlers.Digester{Slack: bot, Ledger: e.Ledger}, DigestInBackground: true, AdminAccount: AdminAccount}
	e.Actions = &handlers.Actions{Policy: pol, Ledger: e.Ledger, Jobs: e.Jobs, Slack: bot, Log: log.With("function", "remediation-handler"), Metrics: metrics,
		Verifier: chatops.Verifier{Secret: signing}, Authz: &chatops.Authorizer{Groups: bot.Client},
		// The stand-in's response_urls are the only non-Slack ones accepted, and only here.
		LocalResponseURL: e.PageURL + "/response/"}
	var remLedger ledger.Store = e.Ledger
	if opts.OnRecorded != nil {
		remLedger = observed{Store: e.Ledger, on: opts.OnRecorded}
	}
	eng := quarantine.New(&quarantine.StaticClients{Endpoint: e.S3.Endpoint, Accounts: e.Accounts, APIOptions: opts.S3APIOptions}, quarantine.Options{})
	e.Remediator = &handlers.Remediator{Policy: pol, Ledger: remLedger, Engine: eng, Slack: bot, Jobs: e.Jobs, Log: log.With("function", "remediator"), Metrics: metrics,
		Authz: &chatops.Authorizer{Groups: bot.Client}, Buckets: handlers.RoleFixers{Clients: &quarantine.StaticClients{Endpoint: e.Settings.Endpoint, Accounts: e.settingsAccounts()}}}
	e.Sweeper = &handlers.Sweeper{Policy: pol, Ledger: e.Ledger, Jobs: e.Jobs, Slack: bot, Log: log.With("function", "sweeper"), Metrics: metrics}

	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	mux := http.NewServeMux()
	mux.Handle("/", e.StandIn.Handler())
	mux.Handle("POST /control/send", e.StandIn.Guard(http.HandlerFunc(e.serveSend)))
	mux.Handle("POST /control/redrive", e.StandIn.Guard(http.HandlerFunc(e.serveRedrive)))
	e.serve(pageLn, mux)
	e.serve(actLn, e.Actions)
	e.wg.Add(1)
	go func() { defer e.wg.Done(); e.Findings.Digest.Run(runCtx) }()
	// The sweeper on a short schedule, as EventBridge runs it in AWS every few minutes.
	every := opts.SweepEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
				e.Sweeper.Run(runCtx)
			}
		}
	}()
	// Bounded parallel quarantine, as the remediator's reserved concurrency is in AWS.
	for w := 0; w < Workers; w++ {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				select {
				case <-runCtx.Done():
					return
				case j := <-e.Jobs:
					start := time.Now()
					err := e.Remediator.Run(runCtx, j)
					if opts.OnJobDone != nil {
						opts.OnJobDone(j, time.Since(start), err)
					}
					if err != nil {
						log.Error("job failed; retrying in 1s (as SQS would)", "findingId", j.FindingID, "error", err.Error())
						go func() { time.Sleep(time.Second); e.Jobs.Send(runCtx, j) }()
					}
				}
			}
		}()
	}
	ok = true
	return e, nil
}

func (e *Env) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	e.servers = append(e.servers, srv)
	go srv.Serve(ln)
}

// Stop shuts everything down cleanly; a second call does nothing.
func (e *Env) Stop() { e.stop.Do(e.shutdown) }

func (e *Env) shutdown() {
	if e.cancel != nil {
		e.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, s := range e.servers {
		s.Shutdown(ctx)
	}
	e.wg.Wait()
	if e.Ledger != nil {
		e.Ledger.Close()
	}
	if e.S3 != nil {
		e.S3.Stop()
	}
	if e.Settings != nil {
		e.Settings.Stop()
	}
	if e.ownWork {
		os.RemoveAll(e.Work)
	}
}

// Client is an S3 client acting as one account.
func (e *Env) Client(account string) *s3.Client {
	return quarantine.NewS3Client(e.S3.Endpoint, e.Accounts[account], Region)
}

// DataBucket of an account.
func DataBucket(account string) string {
	if account == AccountA {
		return BucketA
	}
	return BucketB
}

func (e *Env) seedBuckets(ctx context.Context) error {
	for _, acct := range []string{AccountA, AccountB} {
		c := e.Client(acct)
		q := e.Policy.QuarantineFor(acct, Region).Bucket
		for _, b := range []string{DataBucket(acct), q} {
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
				return fmt.Errorf("create bucket %s for account %s: %w", b, acct, err)
			}
			if b == BucketB {
				continue // the unversioned one
			}
			if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
				VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
				return fmt.Errorf("enable versioning on %s: %w", b, err)
			}
		}
	}
	return nil
}

// Seed is one dummy file and the finding that will be replayed for it.
type Seed struct {
	Name     string // short name for the table
	Account  string
	Key      string
	File     string // in shared/testdata/objects
	Type     string
	Severity int
	Expect   string // expected decision
	// Detected is what the replayed finding says Macie found: category → type → count.
	Detected map[string]map[string]int
}

// Seeds are the replayed findings: one AUTO, one REVIEW, one below the minimum severity.
var Seeds = []Seed{
	{Name: "credentials", Account: AccountB, Key: "config/dummy-credentials.txt", File: "dummy-credentials.txt",
		Type: "SensitiveData:S3Object/Credentials", Severity: 3, Expect: "AUTO",
		Detected: map[string]map[string]int{"CREDENTIALS": {"AWS_CREDENTIALS": 2, "OPENSSH_PRIVATE_KEY": 1}}},
	{Name: "credit-cards", Account: AccountA, Key: "exports/CreditCardDataSmall.json", File: "CreditCardDataSmall.json",
		Type: "SensitiveData:S3Object/Multiple", Severity: 3, Expect: "REVIEW",
		Detected: map[string]map[string]int{"FINANCIAL_INFORMATION": {"CREDIT_CARD_NUMBER": 30}, "PERSONAL_INFORMATION": {"NAME": 30, "ADDRESS": 28}}},
	{Name: "personal-data", Account: AccountB, Key: "hr/dummy-personal-data.txt", File: "dummy-personal-data.txt",
		Type: "SensitiveData:S3Object/Personal", Severity: 1, Expect: "IGNORE",
		Detected: map[string]map[string]int{"PERSONAL_INFORMATION": {"NAME": 12, "PHONE_NUMBER": 12}}},
}

// FindingID of a seed.
func (s Seed) FindingID() string { return "local-" + s.Name }

// Replay uploads the dummy files and sends their findings through the finding-handler, as an
// SQS batch, exactly as in AWS.
func (e *Env) Replay(ctx context.Context) error {
	tmpl, err := os.ReadFile(filepath.Join(e.Repo, "shared/testdata/macie/event-eventbridge-csv.json"))
	if err != nil {
		return err
	}
	var batch events.SQSEvent
	for i, s := range Seeds {
		body, err := os.ReadFile(filepath.Join(e.Repo, "shared/testdata/objects", s.File))
		if err != nil {
			return err
		}
		out, err := e.Client(s.Account).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(DataBucket(s.Account)), Key: aws.String(s.Key),
			Body: bytes.NewReader(body), ContentType: aws.String("text/plain"), Tagging: aws.String("source=macie-chatops-demo")})
		if err != nil {
			return fmt.Errorf("upload %s: %w", s.Key, err)
		}
		ev, err := rewrite(tmpl, s, aws.ToString(out.VersionId), aws.ToString(out.ETag), int64(len(body)))
		if err != nil {
			return err
		}
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: fmt.Sprintf("replay-%d", i), Body: string(ev)})
	}
	pev, err := e.policyEvent()
	if err != nil {
		return err
	}
	batch.Records = append(batch.Records, events.SQSMessage{MessageId: "replay-policy", Body: string(pev)})
	resp, err := e.Findings.HandleSQS(ctx, batch)
	if err != nil {
		return err
	}
	if len(resp.BatchItemFailures) > 0 {
		return fmt.Errorf("%d findings failed in the finding-handler (see the log)", len(resp.BatchItemFailures))
	}
	return nil
}

// rewrite points a fixture event at a local object.
func rewrite(tmpl []byte, s Seed, versionID, etag string, size int64) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(tmpl, &ev); err != nil {
		return nil, err
	}
	d := ev["detail"].(map[string]any)
	now := time.Now().UTC().Format(time.RFC3339)
	d["id"], d["accountId"], d["type"] = s.FindingID(), s.Account, s.Type
	d["createdAt"], d["updatedAt"] = now, now
	d["severity"] = map[string]any{"score": s.Severity, "description": []string{"", "Low", "Medium", "High"}[s.Severity]}
	ra := d["resourcesAffected"].(map[string]any)
	b := ra["s3Bucket"].(map[string]any)
	b["name"], b["arn"] = DataBucket(s.Account), "arn:aws:s3:::"+DataBucket(s.Account)
	o := ra["s3Object"].(map[string]any)
	o["key"], o["path"], o["versionId"], o["eTag"], o["size"] = s.Key, DataBucket(s.Account)+"/"+s.Key, versionID, etag, size
	var sd []any
	for cat, types := range s.Detected {
		var dets []any
		total := 0
		for typ, n := range types {
			dets = append(dets, map[string]any{"type": typ, "count": n})
			total += n
		}
		sd = append(sd, map[string]any{"category": cat, "detections": dets, "totalCount": total})
	}
	d["classificationDetails"].(map[string]any)["result"].(map[string]any)["sensitiveData"] = sd
	ev["account"] = AdminAccount // forwarded by the Macie administrator account, as in AWS
	return json.Marshal(ev)
}

// Send injects findings from a file (an event, a finding, or JSON Lines) into the running stack.
func (e *Env) Send(ctx context.Context, data []byte) (int, error) {
	var batch events.SQSEvent
	for i, line := range splitDocs(data) {
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: fmt.Sprintf("send-%d", i), Body: string(envelope(line))})
	}
	if len(batch.Records) == 0 {
		return 0, errors.New("no findings in the input")
	}
	resp, err := e.Findings.HandleSQS(ctx, batch)
	if err != nil {
		return 0, err
	}
	return len(batch.Records) - len(resp.BatchItemFailures), nil
}

// AdminAccount is local mode's Macie administrator (security) account.
const AdminAccount = "999988887777"

// envelope wraps a bare finding (GetFindings, the console export) in the EventBridge envelope
// Macie would have sent, naming the finding's own account as the sender: the finding-handler
// refuses findings without one. Anything else is passed through for the handler to judge.
func envelope(doc []byte) []byte {
	f, err := finding.Parse(doc)
	if err != nil || f.EventAccount != "" {
		return doc
	}
	ev, err := json.Marshal(map[string]any{"version": "0", "id": "local-send-" + f.ID, "detail-type": "Macie Finding", "source": "aws.macie",
		"account": f.AccountID, "region": f.Region, "time": time.Now().UTC().Format(time.RFC3339), "resources": []string{}, "detail": json.RawMessage(doc)})
	if err != nil {
		return doc
	}
	return ev
}

func splitDocs(data []byte) [][]byte {
	if json.Valid(data) {
		return [][]byte{data}
	}
	var out [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// Where says where a seed's object is now: source, quarantine, or nowhere.
func (e *Env) Where(ctx context.Context, s Seed) string {
	c := e.Client(s.Account)
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(DataBucket(s.Account)), Key: aws.String(s.Key)}); err == nil {
		return "s3://" + DataBucket(s.Account) + "/" + s.Key
	}
	q := e.Policy.QuarantineFor(s.Account, Region).Bucket
	key := quarantine.DestKey(quarantine.Object{AccountID: s.Account, Bucket: DataBucket(s.Account), Key: s.Key})
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(q), Key: aws.String(key)}); err == nil {
		return "s3://" + q + "/" + key
	}
	return "(nowhere)"
}

// serveSend is the control endpoint behind `macie-chatops local send`.
func (e *Env) serveSend(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := e.Send(r.Context(), data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d findings accepted\n", n)
}

// serveRedrive is the control endpoint behind `macie-chatops ledger redrive --local ID`.
func (e *Env) serveRedrive(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" {
		http.Error(w, "no finding id: POST /control/redrive?id=FINDING_ID", http.StatusBadRequest)
		return
	}
	out, err := e.Sweeper.Redrive(r.Context(), id, "operator (local CLI)")
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	fmt.Fprintf(w, "%s: %s\n", id, out)
}

// StateFile is where a running local mode says where it is, for `local send`.
func StateFile() string { return filepath.Join(os.TempDir(), "macie-chatops-local.json") }

// WriteState records the running stack's addresses.
func (e *Env) WriteState() error {
	b, _ := json.Marshal(map[string]string{"page": e.PageURL, "work": e.Work, "token": e.StandIn.Token})
	return os.WriteFile(StateFile(), b, 0o600)
}
