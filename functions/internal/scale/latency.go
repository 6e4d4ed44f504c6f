package scale

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/macie-chatops/macie-chatops/functions/internal/awscount"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/local"
	"github.com/macie-chatops/macie-chatops/functions/internal/standin"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Latencies are what a user feels, each sample stamped by the harness on its own (monotonic)
// clock at the system's edges: the signed click it sends and the HTTP answer it gets, the SQS
// batch it hands the finding-handler, the remediator's ledger write returning, and the Slack
// stand-in receiving a message change. The code under test reports no time of its own.
type Latencies struct {
	// ClickAck: an approver's signed Remediate interaction sent to the remediation-handler's
	// HTTP endpoint → its HTTP 200.
	ClickAck []time.Duration
	// AutoQuarantine: an AUTO finding's SQS batch handed to the finding-handler → the
	// remediator's write of QUARANTINED returned (the copy verified and the source deleted).
	AutoQuarantine []time.Duration
	// ReviewShown: an approver's Remediate click sent → the message shows Quarantined.
	ReviewShown []time.Duration
}

// Quantile q (0..1) of samples, nearest rank; 0 without samples.
func Quantile(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// stamp is a moment the harness saw something, and what it saw.
type stamp struct {
	at  time.Time
	msg standin.Message
}

// watcher receives the local stack's hooks and turns them into harness-stamped samples.
type watcher struct {
	mu       sync.Mutex
	received map[string]time.Time // AUTO finding id → when its batch was handed in
	auto     []time.Duration
	recorded map[string]chan time.Time // finding id → waiter for its QUARANTINED write
	msgs     []msgWaiter
}

type msgWaiter struct {
	match func(standin.Message) bool
	ch    chan stamp
}

func newWatcher() *watcher {
	return &watcher{received: map[string]time.Time{}, recorded: map[string]chan time.Time{}}
}

func (w *watcher) options() local.Options {
	return local.Options{PagePort: 0, Log: debugLog(), OnSlackChange: w.slackChanged, OnRecorded: w.ledgerRecorded}
}

// handedIn stamps AUTO findings as their batch goes to the finding-handler (a redelivery keeps
// the first stamp: the finding was received then).
func (w *watcher) handedIn(ids []string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if _, ok := w.received[id]; !ok {
			w.received[id] = at
		}
	}
}

func (w *watcher) ledgerRecorded(r ledger.Record) {
	if r.Status != ledger.Quarantined {
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.received[r.FindingID]; ok {
		w.auto = append(w.auto, now.Sub(t))
		delete(w.received, r.FindingID)
	}
	if ch, ok := w.recorded[r.FindingID]; ok {
		ch <- now
		delete(w.recorded, r.FindingID)
	}
}

// awaitRecorded is registered before the finding is sent, so its write cannot be missed.
func (w *watcher) awaitRecorded(id string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	w.recorded[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *watcher) slackChanged(m standin.Message) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := w.msgs[:0]
	for _, mw := range w.msgs {
		if mw.match(m) {
			mw.ch <- stamp{at: now, msg: m}
			continue
		}
		keep = append(keep, mw)
	}
	w.msgs = keep
}

// awaitMessage is registered before the action that changes the message.
func (w *watcher) awaitMessage(match func(standin.Message) bool) <-chan stamp {
	ch := make(chan stamp, 1)
	w.mu.Lock()
	w.msgs = append(w.msgs, msgWaiter{match: match, ch: ch})
	w.mu.Unlock()
	return ch
}

func (w *watcher) autoSamples() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.auto...)
}

// probeTimeout bounds one probe's wait; a probe that times out fails the run with what it
// waited for, rather than being left out of the percentiles.
const probeTimeout = 2 * time.Minute

func waitFor[T any](ctx context.Context, ch <-chan T, what string) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("latency probe: no %s within %s", what, probeTimeout)
	}
}

// prober sends probe findings, each into its own bucket (so none is collapsed into a digest),
// and clicks their messages as Slack would.
type prober struct {
	env  *local.Env
	w    *watcher
	tmpl []byte
	body []byte
}

func newProber(env *local.Env, w *watcher) (*prober, error) {
	tmpl, err := os.ReadFile(filepath.Join(env.Repo, "shared/testdata/macie/event-eventbridge-csv.json"))
	if err != nil {
		return nil, err
	}
	return &prober{env: env, w: w, tmpl: tmpl, body: bytes.Repeat([]byte("name,card\nAlice,4111111111111111\n"), 32)}, nil
}

// ProbePrefix starts every probe finding's id and bucket, so the burst's counts leave them out.
const ProbePrefix = "probe-"

// upload creates the probe's bucket and object and returns its finding.
func (p *prober) upload(ctx context.Context, kind string, i int, auto bool) (*gen, error) {
	g := &gen{id: fmt.Sprintf("%s%s-%04d", ProbePrefix, kind, i), account: local.AccountA, bucket: fmt.Sprintf("%s%s-%04d", ProbePrefix, kind, i),
		key: "probe/part.csv", severity: "High", auto: auto, typ: "SensitiveData:S3Object/Multiple"}
	if auto {
		g.typ = "SensitiveData:S3Object/Credentials"
	}
	c := p.env.Client(g.account)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &g.bucket}); err != nil {
		return nil, fmt.Errorf("latency probe bucket %s: %w", g.bucket, err)
	}
	out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &g.bucket, Key: &g.key, Body: bytes.NewReader(p.body)})
	if err != nil {
		return nil, fmt.Errorf("latency probe object %s/%s: %w", g.bucket, g.key, err)
	}
	g.version, g.etag = aws.ToString(out.VersionId), strings.Trim(aws.ToString(out.ETag), `"`)
	return g, nil
}

func (p *prober) send(ctx context.Context, g *gen) error {
	b, err := event(p.tmpl, g, int64(len(p.body)))
	if err != nil {
		return err
	}
	resp, err := p.env.Findings.HandleSQS(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: g.id, Body: b}}})
	if err != nil {
		return err
	}
	if len(resp.BatchItemFailures) > 0 {
		return fmt.Errorf("latency probe %s: the finding-handler failed it", g.id)
	}
	return nil
}

// autoProbe: AUTO finding handed in → QUARANTINED recorded.
func (p *prober) autoProbe(ctx context.Context, i int) (time.Duration, error) {
	g, err := p.upload(ctx, "auto", i, true)
	if err != nil {
		return 0, err
	}
	done := p.w.awaitRecorded(g.id)
	start := time.Now()
	if err := p.send(ctx, g); err != nil {
		return 0, err
	}
	at, err := waitFor(ctx, done, "QUARANTINED for "+g.id)
	return at.Sub(start), err
}

// target is a REVIEW probe's posted message, waiting for its click.
type target struct {
	g     *gen
	msgID string
}

// post sends k REVIEW probe findings and waits for each one's message. Posting is paced at
// Slack's one message per second per channel, so this is done before anything is measured.
func (p *prober) post(ctx context.Context, k int) ([]target, error) {
	var out []target
	for i := 0; i < k; i++ {
		g, err := p.upload(ctx, "review", i, false)
		if err != nil {
			return nil, err
		}
		where := "s3://" + g.bucket + "/" // the key may be hidden by the policy, the bucket is not
		posted := p.w.awaitMessage(func(m standin.Message) bool { return strings.Contains(m.Text, where) })
		if err := p.send(ctx, g); err != nil {
			return nil, err
		}
		msg, err := waitFor(ctx, posted, "Slack message for "+g.id)
		if err != nil {
			return nil, err
		}
		out = append(out, target{g: g, msgID: msg.msg.ID})
	}
	return out, nil
}

// click presses Remediate on a probe's message as the approver: the signed interaction to the
// HTTP 200, and to the message showing Quarantined.
func (p *prober) click(ctx context.Context, t target) (ack, shown time.Duration, err error) {
	quarantined := p.w.awaitMessage(func(m standin.Message) bool { return m.ID == t.msgID && strings.Contains(m.Text, "Quarantined") })
	start := time.Now()
	status, err := p.env.StandIn.Press(ctx, standin.Click{MessageID: t.msgID, ActionID: slackmsg.ActionRemediate, Value: t.g.id, User: local.Approver})
	ack = time.Since(start)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("latency probe %s: the approver's click answered HTTP %d", t.g.id, status)
	}
	if err != nil {
		return 0, 0, err
	}
	st, err := waitFor(ctx, quarantined, "Quarantined message for "+t.g.id)
	if err != nil {
		return 0, 0, err
	}
	return ack, st.at.Sub(start), nil
}

// Idle measures the latencies on an idle local stack: samples AUTO findings one at a time,
// then samples REVIEW messages (posted first) clicked one at a time.
func Idle(ctx context.Context, samples int) (*Latencies, error) {
	w := newWatcher()
	env, err := local.Start(ctx, w.options())
	if err != nil {
		return nil, err
	}
	defer env.Stop()
	p, err := newProber(env, w)
	if err != nil {
		return nil, err
	}
	lat := &Latencies{}
	for i := 0; i < samples; i++ {
		d, err := p.autoProbe(ctx, i)
		if err != nil {
			return nil, err
		}
		lat.AutoQuarantine = append(lat.AutoQuarantine, d)
	}
	targets, err := p.post(ctx, samples)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if err := lat.clicked(p.click(ctx, t)); err != nil {
			return nil, err
		}
	}
	return lat, nil
}

func (l *Latencies) clicked(ack, shown time.Duration, err error) error {
	if err == nil {
		l.ClickAck = append(l.ClickAck, ack)
		l.ReviewShown = append(l.ReviewShown, shown)
	}
	return err
}

// clickUntil clicks the targets one after another until stop is closed or none is left. The
// first is always clicked, and the click in flight when stop closes is finished and counted.
func (p *prober) clickUntil(ctx context.Context, targets []target, stop <-chan struct{}) (*Latencies, error) {
	lat := &Latencies{}
	for i, t := range targets {
		select {
		case <-stop:
			if i > 0 {
				return lat, nil
			}
		default:
		}
		if err := lat.clicked(p.click(ctx, t)); err != nil {
			return lat, err
		}
	}
	return lat, nil
}

// Approvals measures what k Slack approvals use: k REVIEW messages are posted, then reset is
// called (the caller zeroes its counters there), then each is clicked by the approver, one at a
// time, until its message shows Quarantined. The work is the clicks (Batches: clicks, FindingTime:
// their HTTP round trips) and the remediator's jobs. The ledger is on DynamoDB at endpoint, with
// count on its client and on the remediator's S3 clients.
func Approvals(ctx context.Context, k int, count *awscount.Counter, endpoint string, reset func()) (Work, error) {
	w := newWatcher()
	lo := w.options()
	var ran Work
	var mu sync.Mutex
	lo.OnJobDone = func(_ jobs.Job, took time.Duration, _ error) {
		mu.Lock()
		ran.Jobs++
		ran.JobTime += took
		mu.Unlock()
	}
	lo.SweepEvery = time.Hour
	lo.S3APIOptions = []func(*middleware.Stack) error{count.APIOption}
	d, _, err := countedLedger(ctx, endpoint, count)
	if err != nil {
		return Work{}, err
	}
	lo.Ledger = d
	env, err := local.Start(ctx, lo)
	if err != nil {
		return Work{}, err
	}
	defer env.Stop()
	p, err := newProber(env, w)
	if err != nil {
		return Work{}, err
	}
	targets, err := p.post(ctx, k)
	if err != nil {
		return Work{}, err
	}
	reset()
	mu.Lock()
	ran = Work{}
	mu.Unlock()
	var clicks Work
	for _, t := range targets {
		ack, _, err := p.click(ctx, t)
		if err != nil {
			return Work{}, err
		}
		clicks.Batches++
		clicks.FindingTime += ack
	}
	mu.Lock()
	defer mu.Unlock()
	clicks.Jobs, clicks.JobTime = ran.Jobs, ran.JobTime
	return clicks, nil
}
