// Package chatops owns the conversation with Slack: delivering messages (incoming webhook or bot
// token), pacing them under Slack's per-channel limit with retries that honour Retry-After, and
// the interactivity side: verifying request signatures, parsing block_actions, and deciding
// whether the person who clicked may act for the finding's account.
package chatops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
	"github.com/slack-go/slack"
)

// Ref says where a message is, so it can be updated later.
type Ref struct {
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
	// ResponseURL is the click's response_url: the only way to update a message in webhook mode.
	ResponseURL string `json:"responseUrl,omitempty"`
}

// Sender delivers messages.
type Sender interface {
	// Post sends a new message to a channel ("" = the default channel).
	Post(ctx context.Context, channel string, m slackmsg.Message) (Ref, error)
	// Update replaces a message in place.
	Update(ctx context.Context, ref Ref, m slackmsg.Message) error
	// Ephemeral shows text to one user only.
	Ephemeral(ctx context.Context, ref Ref, user, text string) error
}

// Retry is the delivery retry policy: Retry-After on 429, bounded exponential backoff with
// jitter on 5xx and timeouts, then a clear error. Nothing is dropped silently.
type Retry struct {
	MaxAttempts   int           // default 5
	Base, Max     time.Duration // default 250ms, 8s
	MaxRetryAfter time.Duration // a Retry-After above this is an error, not a wait (default 60s)
	Sleep         func(ctx context.Context, d time.Duration) error
	// OnRetry is told of every retry (for metrics).
	OnRetry func(op, reason string, wait time.Duration)
}

func (r Retry) withDefaults() Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 5
	}
	if r.Base <= 0 {
		r.Base = 250 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 8 * time.Second
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = 60 * time.Second
	}
	if r.Sleep == nil {
		r.Sleep = sleepCtx
	}
	return r
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Do runs fn until it succeeds, fails for good, or attempts run out.
func (r Retry) Do(ctx context.Context, op string, fn func() error) error {
	r = r.withDefaults()
	var err error
	for attempt := 1; ; attempt++ {
		err = fn()
		if err == nil {
			return nil
		}
		wait, reason, ok := r.classify(err, attempt)
		if !ok {
			return fmt.Errorf("slack %s: %w", op, err)
		}
		if attempt >= r.MaxAttempts {
			return fmt.Errorf("slack %s: gave up after %d attempts: %w", op, attempt, err)
		}
		if derr := fitsDeadline(ctx, wait); derr != nil {
			return fmt.Errorf("slack %s: %w; not retrying: %w", op, err, derr)
		}
		if r.OnRetry != nil {
			r.OnRetry(op, reason, wait)
		}
		if serr := r.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("slack %s: %w (while waiting to retry after: %v)", op, serr, err)
		}
	}
}

// ErrPastDeadline: a wait (Retry-After, backoff, the channel's pace) would outlive the caller's
// context, i.e. the function's remaining time. The caller records the message as not delivered
// (the sweeper delivers it later) instead of being killed mid-wait.
var ErrPastDeadline = errors.New("the wait would outlive the function's remaining time")

func fitsDeadline(ctx context.Context, wait time.Duration) error {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); wait >= left {
			return fmt.Errorf("%w (wait %s, %s left)", ErrPastDeadline, wait.Round(time.Millisecond), left.Round(time.Millisecond))
		}
	}
	return nil
}

func (r Retry) classify(err error, attempt int) (time.Duration, string, bool) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		if rl.RetryAfter > r.MaxRetryAfter {
			return 0, "", false
		}
		return max(rl.RetryAfter, 100*time.Millisecond), "429", true
	}
	backoff := func() time.Duration {
		d := r.Base << (attempt - 1)
		if d > r.Max || d <= 0 {
			d = r.Max
		}
		// Full jitter over the upper half: spread, but never near zero.
		return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) && sc.Code >= 500 {
		return backoff(), fmt.Sprintf("%d", sc.Code), true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return backoff(), "timeout", true
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return backoff(), "connection reset", true
	}
	return 0, "", false
}

// Pacer keeps posts to one channel at least Interval apart (Slack allows about one message per
// second per channel). Sends to one channel run one at a time, and the next one starts Interval
// after the previous one returned: Slack counts a message when it receives it, somewhere between
// the send starting and returning, so spacing only the starts would let a slow request land
// within one interval of the next one. With Slots, the pace is also shared across processes.
type Pacer struct {
	Interval time.Duration
	Now      func() time.Time
	Sleep    func(ctx context.Context, d time.Duration) error
	// Slots, when set, shares the pace across processes (every Lambda container posting to a
	// channel). If it fails, this process's own pace is used, so a post is never blocked by it.
	Slots Slots

	mu    sync.Mutex
	lanes map[string]*lane
}

// Slots reserves posting slots in a store all processes share (ledger.PaceSlots).
type Slots interface {
	Reserve(ctx context.Context, key string, now time.Time, interval time.Duration) (time.Time, error)
}

// lane is one channel's queue: turn is held (one token) by the send in progress; next is when
// the following send may start, read and written only by the holder of turn.
type lane struct {
	turn chan struct{}
	next time.Time
}

// DefaultInterval is Slack's "about one message per second per channel", with a margin so
// network jitter never lets two posts land within the same second.
const DefaultInterval = 1100 * time.Millisecond

// NewPacer paces at one message per interval per channel.
func NewPacer(interval time.Duration) *Pacer {
	return &Pacer{Interval: interval, Now: time.Now, Sleep: sleepCtx}
}

// Do runs send in the channel's next slot: after every earlier send to the channel from this
// process has returned, Interval after the last one did, and (with Slots) at the slot reserved
// across processes. A failed send counts too (a 429 was still a request). A wait that would
// outlive ctx's deadline is not started (ErrPastDeadline): the caller leaves the post to the
// sweeper instead of being killed mid-wait.
func (p *Pacer) Do(ctx context.Context, channel string, send func() error) error {
	if p == nil || p.Interval <= 0 {
		return send()
	}
	p.mu.Lock()
	if p.lanes == nil {
		p.lanes = map[string]*lane{}
	}
	l := p.lanes[channel]
	if l == nil {
		l = &lane{turn: make(chan struct{}, 1)}
		p.lanes[channel] = l
	}
	p.mu.Unlock()
	select {
	case l.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.turn }()
	now := p.Now()
	wait := l.next.Sub(now)
	if p.Slots != nil {
		if slot, err := p.Slots.Reserve(ctx, channel, now, p.Interval); err == nil {
			wait = max(wait, slot.Sub(now))
		}
	}
	if wait > 0 {
		if err := fitsDeadline(ctx, wait); err != nil {
			return fmt.Errorf("slack pace for %s: %w", channel, err)
		}
		if err := p.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	err := send()
	l.next = p.Now().Add(p.Interval)
	return err
}

// Wait blocks until the channel's next slot and takes it, for a send the caller makes at once.
// Prefer Do, which also waits for that send to return before the next slot starts.
func (p *Pacer) Wait(ctx context.Context, channel string) error {
	return p.Do(ctx, channel, func() error { return nil })
}

// Bot delivers with a bot token: chat.postMessage, chat.update, chat.postEphemeral.
type Bot struct {
	Client         *slack.Client
	DefaultChannel string
	Pacer          *Pacer
	Retry          Retry
}

// NewBot builds a bot sender; apiURL overrides Slack's (tests, local mode).
func NewBot(token, apiURL, defaultChannel string, httpClient *http.Client) *Bot {
	opts := []slack.Option{}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	if httpClient != nil {
		opts = append(opts, slack.OptionHTTPClient(httpClient))
	}
	return &Bot{Client: slack.New(token, opts...), DefaultChannel: defaultChannel, Pacer: NewPacer(DefaultInterval)}
}

func msgOptions(m slackmsg.Message) []slack.MsgOption {
	return []slack.MsgOption{slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...)}
}

func (b *Bot) Post(ctx context.Context, channel string, m slackmsg.Message) (Ref, error) {
	if channel == "" {
		channel = b.DefaultChannel
	}
	if channel == "" {
		return Ref{}, errors.New("slack post: no channel: set slack.channel in the policy or the default channel in the configuration")
	}
	var ref Ref
	err := b.Retry.Do(ctx, "chat.postMessage to "+channel, func() error {
		return b.Pacer.Do(ctx, channel, func() error {
			ch, ts, err := b.Client.PostMessageContext(ctx, channel, msgOptions(m)...)
			ref = Ref{Channel: ch, TS: ts}
			return err
		})
	})
	return ref, err
}

func (b *Bot) Update(ctx context.Context, ref Ref, m slackmsg.Message) error {
	if ref.Channel == "" || ref.TS == "" {
		if ref.ResponseURL != "" {
			return webhookUpdate(ctx, b.Retry, nil, ref.ResponseURL, m)
		}
		return errors.New("slack update: no channel and ts recorded for this message")
	}
	return b.Retry.Do(ctx, "chat.update in "+ref.Channel, func() error {
		return b.Pacer.Do(ctx, ref.Channel+"/update", func() error {
			_, _, _, err := b.Client.UpdateMessageContext(ctx, ref.Channel, ref.TS, msgOptions(m)...)
			return err
		})
	})
}

func (b *Bot) Ephemeral(ctx context.Context, ref Ref, user, text string) error {
	if ref.ResponseURL != "" {
		return webhookEphemeral(ctx, b.Retry, nil, ref.ResponseURL, text)
	}
	return b.Retry.Do(ctx, "chat.postEphemeral", func() error {
		_, err := b.Client.PostEphemeralContext(ctx, ref.Channel, user, slack.MsgOptionText(text, false))
		return err
	})
}

// Webhook delivers through an incoming webhook (one channel, the seed's mode). Updates go
// through the click's response_url, which is the only handle webhook mode has on a message.
type Webhook struct {
	URL   string
	HTTP  *http.Client
	Pacer *Pacer
	Retry Retry
}

func (w *Webhook) client() *http.Client {
	if w.HTTP != nil {
		return w.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (w *Webhook) Post(ctx context.Context, _ string, m slackmsg.Message) (Ref, error) {
	err := w.Retry.Do(ctx, "incoming webhook", func() error {
		return w.Pacer.Do(ctx, "webhook", func() error {
			return redact(slack.PostWebhookCustomHTTPContext(ctx, w.URL, w.client(), &slack.WebhookMessage{Text: m.Text, Blocks: &slack.Blocks{BlockSet: m.Blocks}}), w.URL)
		})
	})
	return Ref{Channel: "webhook"}, err
}

func (w *Webhook) Update(ctx context.Context, ref Ref, m slackmsg.Message) error {
	if ref.ResponseURL == "" {
		// No handle on the original message: post the new state as a new message, so the
		// outcome is never lost.
		_, err := w.Post(ctx, "", m)
		return err
	}
	return webhookUpdate(ctx, w.Retry, w.client(), ref.ResponseURL, m)
}

func (w *Webhook) Ephemeral(ctx context.Context, ref Ref, _ string, text string) error {
	if ref.ResponseURL == "" {
		return errors.New("slack ephemeral: webhook mode needs the click's response_url")
	}
	return webhookEphemeral(ctx, w.Retry, w.client(), ref.ResponseURL, text)
}

func webhookUpdate(ctx context.Context, r Retry, hc *http.Client, url string, m slackmsg.Message) error {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return r.Do(ctx, "response_url update", func() error {
		return redact(slack.PostWebhookCustomHTTPContext(ctx, url, hc, &slack.WebhookMessage{Text: m.Text, Blocks: &slack.Blocks{BlockSet: m.Blocks}, ReplaceOriginal: true}), url)
	})
}

func webhookEphemeral(ctx context.Context, r Retry, hc *http.Client, url, text string) error {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return r.Do(ctx, "response_url ephemeral", func() error {
		return redact(slack.PostWebhookCustomHTTPContext(ctx, url, hc, &slack.WebhookMessage{Text: text, ResponseType: slack.ResponseTypeEphemeral}), url)
	})
}
