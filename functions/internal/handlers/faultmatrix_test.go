package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// The fault matrix over the whole remediation of an AUTO finding (finding-handler, queue,
// remediator, Slack, sweeper), on versioned and unversioned sources:
//
//   - each S3 call the remediator makes × {500, timeout, reset, lost answer};
//   - each ledger write × {error, lost answer (the write lands, the answer does not)};
//   - Slack × {429, 5xx, down};
//   - a crash at every step (every ledger write, queue send, Slack call and S3 call): nothing
//     after it happens in that process.
//
// After the fault, what SQS would redeliver is redelivered, the sweeper runs (past the stale
// timeout) and the jobs it sends are run. Then: the object is not lost (its bytes are in the
// source version or in the recorded quarantine copy); a QUARANTINED record has a verified copy
// and no sensitive version in the source; no record is left RECEIVED, QUEUED, IN_PROGRESS or
// RELEASING; the Slack message shows what the ledger says. The injection decides every fault;
// the clock decides nothing (the sweeper is given its time).

var (
	errCrash    = errors.New("the process died here (injected)")
	errInjected = errors.New("InternalServerError (injected)")
	errLostAns  = errors.New("connection reset: the answer was lost (injected)")
)

// injector decides the faults of one cell. Steps are counted only while armed.
type injector struct {
	mu        sync.Mutex
	armed     bool
	steps     int
	crashAt   int
	cancel    context.CancelFunc
	writes    int
	failWrite int
	writeMode string
	s3Calls   map[string]bool
}

func (in *injector) arm(cancel context.CancelFunc, crashAt, failWrite int, writeMode string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.armed, in.steps, in.crashAt, in.cancel = true, 0, crashAt, cancel
	in.writes, in.failWrite, in.writeMode = 0, failWrite, writeMode
}

func (in *injector) disarm() (steps, writes int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.armed = false
	return in.steps, in.writes
}

// step counts one external step; at the crash step the process "dies": its context is cancelled,
// so nothing after it happens.
func (in *injector) step() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.armed {
		return false
	}
	in.steps++
	if in.crashAt == in.steps {
		in.cancel()
		return true
	}
	return false
}

func (in *injector) gate(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err() // a dead process does nothing more
	}
	if in.step() {
		return errCrash
	}
	return nil
}

func (in *injector) writeFault() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.armed {
		return ""
	}
	in.writes++
	if in.writes == in.failWrite {
		return in.writeMode
	}
	return ""
}

// faultyLedger injects crashes and write faults around the real store.
type faultyLedger struct {
	ledger.Store
	in *injector
}

func (l faultyLedger) write(ctx context.Context, do func() error) error {
	if err := l.in.gate(ctx); err != nil {
		return err
	}
	switch l.in.writeFault() {
	case "error":
		return errInjected
	case "lost":
		if err := do(); err != nil {
			return err
		}
		return errLostAns
	}
	return do()
}

func (l faultyLedger) Create(ctx context.Context, r ledger.Record) (out ledger.Record, created bool, err error) {
	err = l.write(ctx, func() (e error) { out, created, e = l.Store.Create(ctx, r); return e })
	return
}

func (l faultyLedger) Transition(ctx context.Context, id string, c ledger.Change) (out ledger.Record, err error) {
	err = l.write(ctx, func() (e error) { out, e = l.Store.Transition(ctx, id, c); return e })
	return
}

func (l faultyLedger) Annotate(ctx context.Context, id string, m func(*ledger.Record)) (out ledger.Record, err error) {
	err = l.write(ctx, func() (e error) { out, e = l.Store.Annotate(ctx, id, m); return e })
	return
}

func (l faultyLedger) Modify(ctx context.Context, id string, fn func(*ledger.Record) error) (out ledger.Record, err error) {
	err = l.write(ctx, func() (e error) { out, e = l.Store.Modify(ctx, id, fn); return e })
	return
}

func (l faultyLedger) Get(ctx context.Context, id string) (ledger.Record, error) {
	if ctx.Err() != nil {
		return ledger.Record{}, ctx.Err()
	}
	return l.Store.Get(ctx, id)
}

type faultyQueue struct {
	next jobs.Queue
	in   *injector
}

func (q faultyQueue) Send(ctx context.Context, j jobs.Job) error {
	if err := q.in.gate(ctx); err != nil {
		return err
	}
	return q.next.Send(ctx, j)
}

type faultySlack struct {
	chatops.Sender
	in *injector
}

func (s faultySlack) Post(ctx context.Context, ch string, m slackmsg.Message) (chatops.Ref, error) {
	if err := s.in.gate(ctx); err != nil {
		return chatops.Ref{}, err
	}
	return s.Sender.Post(ctx, ch, m)
}

func (s faultySlack) Update(ctx context.Context, ref chatops.Ref, m slackmsg.Message) error {
	if err := s.in.gate(ctx); err != nil {
		return err
	}
	return s.Sender.Update(ctx, ref, m)
}

type cell struct {
	name      string
	versioned bool
	s3Call    string // with s3Mode
	s3Mode    string
	failWrite int // with writeMode
	writeMode string
	slack     string
	crashAt   int
}

type matrix struct {
	t       *testing.T
	st      *stack
	in      *injector
	s3      *s3Faults
	find    *Findings
	remed   *Remediator
	n       int
	failed  int
	orphans []string
}

func newMatrix(t *testing.T) *matrix {
	s3f, via := newS3Faults(t)
	st := newStackWith(t, tombstonePolicy, via)
	in := &injector{s3Calls: map[string]bool{}}
	s3f.onCall = func(call string) bool {
		in.mu.Lock()
		if in.armed {
			in.s3Calls[call] = true
		}
		in.mu.Unlock()
		return in.step()
	}
	if _, err := st.s3c.CreateBucket(st.ctx, &s3.CreateBucketInput{Bucket: aws.String("plain-bucket")}); err != nil {
		t.Fatal(err)
	}
	l := faultyLedger{Store: st.ledger, in: in}
	q := faultyQueue{next: st.queue, in: in}
	sl := faultySlack{Sender: st.findings.Slack, in: in}
	find := *st.findings
	find.Ledger, find.Jobs, find.Slack = l, q, sl
	remed := *st.remed
	remed.Ledger, remed.Jobs, remed.Slack = l, q, sl
	return &matrix{t: t, st: st, in: in, s3: s3f, find: &find, remed: &remed}
}

func (mx *matrix) event(c cell) (id, bucket, key string, body []byte, version string) {
	st := mx.st
	mx.n++
	bucket = "plain-bucket"
	if c.versioned {
		bucket = "data-bucket"
	}
	key = fmt.Sprintf("mx/%03d.txt", mx.n)
	body = []byte(fmt.Sprintf("AKIA-%03d %s", mx.n, c.name))
	out, err := st.s3c.PutObject(st.ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		mx.t.Fatal(err)
	}
	return "local-mx-" + fmt.Sprintf("%03d.txt", mx.n), bucket, key, body, aws.ToString(out.VersionId)
}

// runCell runs one cell and returns the steps, ledger writes and S3 calls it saw while armed.
func (mx *matrix) runCell(c cell) (int, int) {
	st := mx.st
	id, bucket, key, body, version := mx.event(c)
	ev := st.upload("event-eventbridge-csv.json", key, body, func(d map[string]any) {
		d["type"] = "SensitiveData:S3Object/Credentials"
		ra := d["resourcesAffected"].(map[string]any)
		ra["s3Bucket"].(map[string]any)["name"] = bucket
		d["id"] = id
	})
	// st.upload also wrote the body into data-bucket (a version nobody checks); point the event
	// at our object's version.
	ev = rewriteVersion(ev, version)

	ctx, cancel := context.WithCancel(st.ctx)
	defer cancel()
	mx.in.arm(cancel, c.crashAt, c.failWrite, c.writeMode)
	mx.s3.set(c.s3Call, c.s3Mode)
	st.slack.setFault(c.slack)

	// The first delivery and its jobs, under the fault.
	eventPending := mx.find.Process(ctx, ev) != nil
	var pending []jobs.Job
	for len(st.queue) > 0 {
		j := <-st.queue
		if err := mx.remed.Run(ctx, j); err != nil {
			pending = append(pending, j) // not acked: SQS redelivers it
		}
	}
	steps, writes := mx.in.disarm()
	mx.s3.set("", "")
	st.slack.setFault("")

	// A new process: what SQS redelivers, then the sweeper (past the stale timeout), twice.
	if eventPending {
		mx.find.Process(st.ctx, ev)
	}
	runAll := func() {
		for round := 0; round < 3; round++ {
			for len(st.queue) > 0 {
				pending = append(pending, <-st.queue)
			}
			var again []jobs.Job
			for _, j := range pending {
				if err := mx.remed.Run(st.ctx, j); err != nil {
					again = append(again, j)
				}
			}
			pending = again
		}
	}
	runAll()
	sweepNow := time.Now()
	for i := 1; i <= 2; i++ {
		sweepNow = time.Now().Add(time.Duration(i) * (StaleAfter + time.Minute))
		st.sweeper.Now = func() time.Time { return sweepNow }
		if _, err := st.sweeper.Run(st.ctx); err != nil {
			mx.t.Fatalf("%s: sweeper: %v", c.name, err)
		}
		runAll()
	}
	mx.check(c, id, bucket, key, version, body, sweepNow)
	return steps, writes
}

func rewriteVersion(ev []byte, version string) []byte {
	s := string(ev)
	i := strings.Index(s, `"versionId":"`)
	if i < 0 {
		return ev
	}
	j := strings.Index(s[i+13:], `"`)
	return []byte(s[:i+13] + version + s[i+13+j:])
}

func (mx *matrix) read(bucket, key, version string) []byte {
	out, err := mx.st.s3c.GetObject(mx.st.ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, VersionId: nonEmpty(version)})
	if err != nil {
		return nil
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b
}

func (mx *matrix) check(c cell, id, bucket, key, version string, body []byte, now time.Time) {
	fail := func(format string, a ...any) {
		mx.failed++
		mx.t.Errorf("%s: %s", c.name, fmt.Sprintf(format, a...))
	}
	r, err := mx.st.ledger.Get(mx.st.ctx, id)
	if err != nil {
		fail("no record: %v", err)
		return
	}
	inSource := bytes.Equal(mx.read(bucket, key, version), body)
	inQuarantine := r.QuarantineKey != "" && bytes.Equal(mx.read(r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion), body)
	switch {
	case !inSource && !inQuarantine:
		fail("OBJECT LOST: record %s, quarantine %q", r.Status, r.CopyLocation())
	case r.Status == ledger.Quarantined && inSource:
		fail("QUARANTINED but the sensitive version is still in the source")
	case r.Status == ledger.Quarantined && !inQuarantine:
		fail("QUARANTINED but no verified copy at %s", r.CopyLocation())
	}
	switch r.Status {
	case ledger.Received, ledger.Queued, ledger.InProgress, ledger.Releasing:
		fail("left in %s (history %v)", r.Status, r.History)
	}
	msgs := mx.st.slack.all(bucket + "/" + key)
	want := render(r, now)
	var m *slackMsg
	for _, x := range msgs {
		if x.TS == r.MessageTS {
			m = x
		}
	}
	switch {
	case m == nil:
		fail("no Slack message recorded for it (record %s, %d messages)", r.Status, len(msgs))
	case m.Text != want.Text || r.ShownStatus != shownKey(r, now):
		fail("Slack shows %q, the ledger says %s (%q), shown %q", m.Text, r.Status, want.Text, r.ShownStatus)
	}
	if len(msgs) > 1 {
		// Known limit: a process that dies between Slack accepting a post and the ledger recording
		// its ts leaves that first message unknown to the ledger; the claim expires and the
		// finding is posted again. Counted and printed, not hidden.
		mx.orphans = append(mx.orphans, c.name)
	}
}

func TestFaultMatrix(t *testing.T) {
	mx := newMatrix(t)
	// A clean run of each source kind counts the steps, ledger writes and S3 calls to fault.
	type shape struct{ steps, writes int }
	shapes := map[bool]shape{}
	for _, v := range []bool{true, false} {
		s, w := mx.runCell(cell{name: fmt.Sprintf("clean versioned=%v", v), versioned: v})
		shapes[v] = shape{s, w}
	}
	var calls []string
	for c := range mx.in.s3Calls {
		calls = append(calls, c)
	}
	sort.Strings(calls)
	if mx.failed > 0 || len(calls) < 4 || shapes[true].writes < 5 {
		t.Fatalf("the clean runs failed or saw too little: %v %+v", calls, shapes)
	}
	var cells []cell
	for _, v := range []bool{true, false} {
		src := map[bool]string{true: "versioned", false: "unversioned"}[v]
		for _, call := range calls {
			for _, mode := range []string{"500", "timeout", "reset", "lost"} {
				cells = append(cells, cell{name: fmt.Sprintf("%s: S3 %s %s", src, call, mode), versioned: v, s3Call: call, s3Mode: mode})
			}
		}
		for k := 1; k <= shapes[v].writes; k++ {
			for _, mode := range []string{"error", "lost"} {
				cells = append(cells, cell{name: fmt.Sprintf("%s: ledger write %d %s", src, k, mode), versioned: v, failWrite: k, writeMode: mode})
			}
		}
		for _, mode := range []string{"429", "500", "down"} {
			cells = append(cells, cell{name: fmt.Sprintf("%s: Slack %s", src, mode), versioned: v, slack: mode})
		}
		for k := 1; k <= shapes[v].steps; k++ {
			cells = append(cells, cell{name: fmt.Sprintf("%s: crash at step %d of %d", src, k, shapes[v].steps), versioned: v, crashAt: k})
		}
	}
	for _, c := range cells {
		mx.runCell(c)
	}
	msg := fmt.Sprintf("fault matrix: %d cells (S3 calls %v × 4 modes, %d/%d ledger writes × 2, Slack × 3, %d/%d crash points; versioned/unversioned), %d failed; %d left an earlier, orphaned Slack message: %v",
		len(cells), calls, shapes[true].writes, shapes[false].writes, shapes[true].steps, shapes[false].steps, mx.failed, len(mx.orphans), mx.orphans)
	t.Log(msg)
	fmt.Fprintln(os.Stderr, msg)
}
