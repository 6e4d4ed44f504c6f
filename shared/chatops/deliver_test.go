package chatops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
	"github.com/slack-go/slack/slacktest"
)

// fakeSlack is slacktest's server with handlers that record every call and can be told to fail
// the next calls of an endpoint with a status (and Retry-After).
type fakeSlack struct {
	*slacktest.Server
	mu     sync.Mutex
	calls  map[string][]url.Values
	hooks  []map[string]any
	faults map[string][]fault
	seq    int
	groups map[string][]string
}

type fault struct {
	status     int
	retryAfter string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{calls: map[string][]url.Values{}, faults: map[string][]fault{}, groups: map[string][]string{}}
	f.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		for _, ep := range []string{"/chat.postMessage", "/chat.update", "/chat.postEphemeral", "/usergroups.users.list", "/webhook", "/response"} {
			c.Handle(ep, f.handler(ep))
		}
	})
	f.Start()
	t.Cleanup(f.Stop)
	return f
}

func (f *fakeSlack) fail(ep string, fs ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[ep] = append(f.faults[ep], fs...)
}

func (f *fakeSlack) handler(ep string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		if q := f.faults[ep]; len(q) > 0 {
			f.faults[ep] = q[1:]
			f.mu.Unlock()
			if q[0].retryAfter != "" {
				w.Header().Set("Retry-After", q[0].retryAfter)
			}
			w.WriteHeader(q[0].status)
			return
		}
		defer f.mu.Unlock()
		if ep == "/webhook" || ep == "/response" {
			var m map[string]any
			json.Unmarshal(body, &m)
			m["_endpoint"] = ep
			f.hooks = append(f.hooks, m)
			w.Write([]byte("ok"))
			return
		}
		v, _ := url.ParseQuery(string(body))
		f.calls[ep] = append(f.calls[ep], v)
		w.Header().Set("Content-Type", "application/json")
		switch ep {
		case "/usergroups.users.list":
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "users": f.groups[v.Get("usergroup")]})
		default:
			f.seq++
			ts := v.Get("ts")
			if ts == "" {
				ts = fmt.Sprintf("1700000000.%06d", f.seq)
			}
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": v.Get("channel"), "ts": ts, "message_ts": ts})
		}
	}
}

func (f *fakeSlack) count(ep string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls[ep])
}

// sleeps records waits instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func msg(text string) slackmsg.Message { return slackmsg.Message{Text: text} }

func TestBotModePostUpdateWithRetries(t *testing.T) {
	fs := newFakeSlack(t)
	var sl sleeps
	var retries []string
	bot := NewBot("xoxb-test", fs.GetAPIURL(), "C_DEFAULT", nil)
	bot.Pacer = nil
	bot.Retry = Retry{Sleep: sl.sleep, OnRetry: func(op, reason string, _ time.Duration) { retries = append(retries, reason) }}

	fs.fail("/chat.postMessage", fault{status: 429, retryAfter: "3"}, fault{status: 503})
	ref, err := bot.Post(context.Background(), "C_PAYMENTS", msg("review required"))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Channel != "C_PAYMENTS" || ref.TS == "" {
		t.Fatalf("ref %+v", ref)
	}
	if len(sl.d) != 2 || sl.d[0] != 3*time.Second || sl.d[1] <= 0 || sl.d[1] > 8*time.Second {
		t.Fatalf("waits %v: want Retry-After 3s honoured, then a backoff", sl.d)
	}
	if strings.Join(retries, ",") != "429,503" {
		t.Fatalf("retries %v", retries)
	}
	posted := fs.calls["/chat.postMessage"]
	if len(posted) != 1 || posted[0].Get("text") != "review required" || posted[0].Get("channel") != "C_PAYMENTS" {
		t.Fatalf("posted %v", posted)
	}
	if err := bot.Update(context.Background(), ref, msg("quarantined")); err != nil {
		t.Fatal(err)
	}
	up := fs.calls["/chat.update"]
	if len(up) != 1 || up[0].Get("ts") != ref.TS || up[0].Get("channel") != "C_PAYMENTS" || up[0].Get("text") != "quarantined" {
		t.Fatalf("update %v", up)
	}
	if _, err := bot.Post(context.Background(), "", msg("default")); err != nil || fs.calls["/chat.postMessage"][1].Get("channel") != "C_DEFAULT" {
		t.Fatalf("default channel: %v", err)
	}
}

func TestRetriesAreBoundedAndClear(t *testing.T) {
	fs := newFakeSlack(t)
	var sl sleeps
	bot := NewBot("xoxb-test", fs.GetAPIURL(), "C1", nil)
	bot.Pacer = nil
	bot.Retry = Retry{Sleep: sl.sleep, MaxAttempts: 4}
	fs.fail("/chat.postMessage", fault{status: 500}, fault{status: 502}, fault{status: 503}, fault{status: 504}, fault{status: 500})
	_, err := bot.Post(context.Background(), "C1", msg("x"))
	if err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") || !strings.Contains(err.Error(), "chat.postMessage to C1") {
		t.Fatalf("got %v", err)
	}
	for i := 1; i < len(sl.d); i++ {
		if sl.d[i] > 8*time.Second {
			t.Fatalf("backoff unbounded: %v", sl.d)
		}
	}
	// A Retry-After longer than we may wait is an error, not a silent drop.
	fs.fail("/chat.postMessage", fault{status: 429, retryAfter: "600"})
	if _, err := bot.Post(context.Background(), "C1", msg("x")); err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("long Retry-After: %v", err)
	}
	// A definite error (4xx other than 429) is not retried.
	fs.fail("/chat.postMessage", fault{status: 404})
	n := len(sl.d)
	if _, err := bot.Post(context.Background(), "C1", msg("x")); err == nil || len(sl.d) != n {
		t.Fatalf("404 retried or accepted: %v", err)
	}
}

func TestWebhookMode(t *testing.T) {
	fs := newFakeSlack(t)
	var sl sleeps
	wh := &Webhook{URL: fs.GetAPIURL() + "webhook", Retry: Retry{Sleep: sl.sleep}}
	fs.fail("/webhook", fault{status: 429, retryAfter: "1"}, fault{status: 500})
	if _, err := wh.Post(context.Background(), "", msg("review required")); err != nil {
		t.Fatal(err)
	}
	if len(sl.d) != 2 || sl.d[0] != time.Second {
		t.Fatalf("waits %v", sl.d)
	}
	ref := Ref{ResponseURL: fs.GetAPIURL() + "response"}
	if err := wh.Update(context.Background(), ref, msg("in progress")); err != nil {
		t.Fatal(err)
	}
	if err := wh.Ephemeral(context.Background(), ref, "U1", "not an approver"); err != nil {
		t.Fatal(err)
	}
	if err := wh.Update(context.Background(), Ref{}, msg("quarantined")); err != nil {
		t.Fatal(err)
	}
	if len(fs.hooks) != 4 {
		t.Fatalf("hooks %v", fs.hooks)
	}
	if fs.hooks[1]["_endpoint"] != "/response" || fs.hooks[1]["replace_original"] != true || fs.hooks[1]["text"] != "in progress" {
		t.Fatalf("update via response_url: %v", fs.hooks[1])
	}
	if fs.hooks[2]["response_type"] != "ephemeral" || fs.hooks[2]["replace_original"] != false {
		t.Fatalf("ephemeral: %v", fs.hooks[2])
	}
	if fs.hooks[3]["_endpoint"] != "/webhook" {
		t.Fatalf("update without response_url must post anew: %v", fs.hooks[3])
	}
}

// fakeTime is a clock that moves only when told: by the pacer's Sleep, or by a send that
// "takes" some time.
type fakeTime struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeTime) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeTime) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestPacerSpacesPostsPerChannel(t *testing.T) {
	clk := &fakeTime{now: time.Unix(1000, 0)}
	var sl sleeps
	p := &Pacer{Interval: time.Second, Now: clk.Now, Sleep: func(ctx context.Context, d time.Duration) error {
		clk.add(d)
		return sl.sleep(ctx, d)
	}}
	for _, ch := range []string{"A", "A", "A", "B"} {
		p.Wait(context.Background(), ch)
	}
	want := []time.Duration{time.Second, time.Second}
	if !slices.Equal(sl.d, want) {
		t.Fatalf("waits %v, want %v", sl.d, want)
	}
	clk.add(10 * time.Second)
	p.Wait(context.Background(), "A")
	if len(sl.d) != 2 {
		t.Fatal("waited although the channel was idle")
	}
}

// A slow send pushes the next one back: the interval runs from when a send returned, so two
// messages cannot reach Slack within one interval however long the first request took.
func TestPacerCountsFromTheEndOfASlowSend(t *testing.T) {
	clk := &fakeTime{now: time.Unix(1000, 0)}
	p := &Pacer{Interval: time.Second, Now: clk.Now, Sleep: func(_ context.Context, d time.Duration) error { clk.add(d); return nil }}
	var starts, ends []time.Time
	for i := 0; i < 3; i++ {
		err := p.Do(context.Background(), "A", func() error {
			starts = append(starts, clk.Now())
			clk.add(700 * time.Millisecond) // the request is slow to come back
			ends = append(ends, clk.Now())
			if i == 1 {
				return errors.New("slack said 500")
			}
			return nil
		})
		if (err != nil) != (i == 1) {
			t.Fatalf("send %d: error %v", i, err)
		}
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(ends[i-1]); gap != time.Second {
			t.Errorf("send %d started %v after send %d returned, want 1s", i, gap, i-1)
		}
	}
}

// Concurrent senders to one channel take turns: never two sends in flight at once, and a
// cancelled waiter gives up its turn without sending.
func TestPacerSerializesConcurrentSenders(t *testing.T) {
	clk := &fakeTime{now: time.Unix(1000, 0)}
	p := &Pacer{Interval: time.Second, Now: clk.Now, Sleep: func(_ context.Context, d time.Duration) error { clk.add(d); return nil }}
	var inFlight, most, sent atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				p.Do(context.Background(), "A", func() error {
					n := inFlight.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					runtime.Gosched()
					sent.Add(1)
					inFlight.Add(-1)
					return nil
				})
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 || sent.Load() != 40 {
		t.Fatalf("%d sends at once (want 1), %d sent (want 40)", most.Load(), sent.Load())
	}

	// A send in progress holds the turn; a waiter whose context ends returns without sending.
	release, started := make(chan struct{}), make(chan struct{})
	go p.Do(context.Background(), "B", func() error { close(started); <-release; return nil })
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Do(ctx, "B", func() error { t.Error("sent while another send held the turn"); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	close(release)
}

func TestAuthorizerUsersGroupsAndCache(t *testing.T) {
	fs := newFakeSlack(t)
	fs.groups["S0SECOPS"] = []string{"U_CAROL", "U_DAVE"}
	now := time.Unix(1000, 0)
	bot := NewBot("xoxb", fs.GetAPIURL(), "C", nil)
	a := &Authorizer{Groups: bot.Client, TTL: time.Minute, Now: func() time.Time { return now }}
	ap := approvers("U_ALICE", "S0SECOPS")
	ctx := context.Background()
	for user, want := range map[string]bool{"U_ALICE": true, "U_CAROL": true, "U_MALLORY": false} {
		got, err := a.IsApprover(ctx, user, ap)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", user, got, err)
		}
	}
	if n := fs.count("/usergroups.users.list"); n != 1 {
		t.Fatalf("group resolved %d times within the TTL", n)
	}
	now = now.Add(2 * time.Minute)
	fs.groups["S0SECOPS"] = []string{"U_DAVE"}
	if ok, _ := a.IsApprover(ctx, "U_CAROL", ap); ok {
		t.Fatal("removed member still approves after the TTL")
	}
	// No resolver: group approvers fail closed, with an error saying why.
	ok, err := (&Authorizer{}).IsApprover(ctx, "U_CAROL", ap)
	if ok || err == nil || !errors.Is(err, err) || !strings.Contains(err.Error(), "usergroups:read") {
		t.Fatalf("%v %v", ok, err)
	}
}

// Issue 12 item 3: a Retry-After or backoff never outlives the function's remaining time. The
// deadline is minutes away from the waits asked for, so the wall clock cannot decide the result.
func TestNoWaitOutlivesTheDeadline(t *testing.T) {
	fs := newFakeSlack(t)
	var sl sleeps
	bot := NewBot("xoxb-test", fs.GetAPIURL(), "C1", nil)
	bot.Pacer = nil
	bot.Retry = Retry{Sleep: sl.sleep}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Retry-After 30s (before, up to 4 of them were waited: 2 minutes) does not fit in 20 s.
	fs.fail("/chat.postMessage", fault{status: 429, retryAfter: "30"})
	_, err := bot.Post(ctx, "C1", msg("x"))
	if !errors.Is(err, ErrPastDeadline) || len(sl.d) != 0 {
		t.Fatalf("waits %v, error %v: want no wait and ErrPastDeadline", sl.d, err)
	}
	// A wait that fits is still taken.
	fs.fail("/chat.postMessage", fault{status: 429, retryAfter: "1"})
	if _, err := bot.Post(ctx, "C1", msg("x")); err != nil || len(sl.d) != 1 || sl.d[0] != time.Second {
		t.Fatalf("waits %v, error %v", sl.d, err)
	}
	// The channel's pace is a wait too.
	p := &Pacer{Interval: time.Minute, Now: func() time.Time { return time.Unix(0, 0) }, Sleep: sl.sleep}
	if err := p.Wait(ctx, "C1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx, "C1"); !errors.Is(err, ErrPastDeadline) {
		t.Fatalf("a pace slot a minute away with 20 s left: %v", err)
	}
}
