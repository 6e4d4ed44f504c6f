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
// second per channel). It reserves slots, so concurrent callers queue instead of bursting.
type Pacer struct {
	Interval time.Duration
	Now      func() time.Time
	Sleep    func(ctx context.Context, d time.Duration) error
	// Slots, when set, shares the pace across processes (every Lambda container posting to a
	// channel). If it fails, this process's own pace is used, so a post is never blocked by it.
	Slots Slots

	mu   sync.Mutex
	next map[string]time.Time
}

// Slots reserves posting slots in a store all processes share (ledger.PaceSlots).
type Slots interface {
	Reserve(ctx context.Context, key string, now time.Time, interval time.Duration) (time.Time, error)
}

// DefaultInterval is Slack's "about one message per second per channel", with a margin so
// network jitter never lets two posts land within the same second.
const DefaultInterval = 1100 * time.Millisecond

// NewPacer paces at one message per interval per channel.
func NewPacer(interval time.Duration) *Pacer {
	return &Pacer{Interval: interval, Now: time.Now, Sleep: sleepCtx}
}

// Wait blocks until the channel's next slot.
func (p *Pacer) Wait(ctx context.Context, channel string) error {
	if p == nil || p.Interval <= 0 {
		return nil
	}
	if p.Slots != nil {
		now := p.Now()
		if slot, err := p.Slots.Reserve(ctx, channel, now, p.Interval); err == nil {
			d := slot.Sub(now)
			if d <= 0 {
				return nil
			}
			if err := fitsDeadline(ctx, d); err != nil {
				return fmt.Errorf("slack pace for %s: %w", channel, err)
			}
			return p.Sleep(ctx, d)
		}
	}
	p.mu.Lock()
	if p.next == nil {
		p.next = map[string]time.Time{}
	}
	now := p.Now()
	slot := p.next[channel]
	if slot.Before(now) {
		slot = now
	}
	d := slot.Sub(now)
	if err := fitsDeadline(ctx, d); d > 0 && err != nil {
		p.mu.Unlock()
		return fmt.Errorf("slack pace for %s: %w", channel, err)
	}
	p.next[channel] = slot.Add(p.Interval)
	p.mu.Unlock()
	if d > 0 {
		return p.Sleep(ctx, d)
	}
	return nil
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
		if err := b.Pacer.Wait(ctx, channel); err != nil {
			return err
		}
		ch, ts, err := b.Client.PostMessageContext(ctx, channel, msgOptions(m)...)
		ref = Ref{Channel: ch, TS: ts}
		return err
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
		if err := b.Pacer.Wait(ctx, ref.Channel+"/update"); err != nil {
			return err
		}
		_, _, _, err := b.Client.UpdateMessageContext(ctx, ref.Channel, ref.TS, msgOptions(m)...)
		return err
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
		if err := w.Pacer.Wait(ctx, "webhook"); err != nil {
			return err
		}
		return redact(slack.PostWebhookCustomHTTPContext(ctx, w.URL, w.client(), &slack.WebhookMessage{Text: m.Text, Blocks: &slack.Blocks{BlockSet: m.Blocks}}), w.URL)
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
