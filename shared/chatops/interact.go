package chatops

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
	"github.com/slack-go/slack"
)

// MaxBody caps an interaction request; a real block_actions payload is a few KiB (it carries
// the message's blocks), so 64 KiB is generous.
const MaxBody = 64 << 10

// Why a request was rejected. Each is answered 401 with no detail; the reason goes to the log.
var (
	ErrMissingHeaders = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp")
	ErrBadTimestamp   = errors.New("timestamp is not a number")
	ErrStale          = errors.New("timestamp more than 5 minutes from now (replay or clock skew)")
	ErrBadSignature   = errors.New("signature does not match the body")
	ErrTooLarge       = errors.New("body larger than the cap")
	ErrNoSecret       = errors.New("no signing secret configured")
)

// Verifier checks Slack's v0 request signature over the exact raw body.
type Verifier struct {
	Secret string
	// Now is injected by tests (the published vectors are from 2018). Nil means the wall clock,
	// and then slack-go's SecretsVerifier does the HMAC check. slack-go reads the wall clock
	// itself, so with an injected clock the same HMAC is computed here.
	Now     func() time.Time
	MaxBody int
}

// Verify returns nil only for a request Slack signed with our secret in the last 5 minutes.
// Header names are matched case-insensitively (API Gateway lower-cases them).
func (v Verifier) Verify(header http.Header, body []byte) error {
	if v.Secret == "" {
		return ErrNoSecret
	}
	max := v.MaxBody
	if max <= 0 {
		max = MaxBody
	}
	if len(body) > max {
		return fmt.Errorf("%w (%d > %d bytes)", ErrTooLarge, len(body), max)
	}
	sig, ts := header.Get("X-Slack-Signature"), header.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if d := now().Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("%w: %s", ErrStale, d.Round(time.Second))
	}
	if v.Now == nil {
		sv, err := slack.NewSecretsVerifier(header, v.Secret)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		sv.Write(body)
		if sv.Ensure() != nil {
			return ErrBadSignature
		}
		return nil
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "v0="))
	if err != nil || !strings.HasPrefix(sig, "v0=") {
		return ErrBadSignature
	}
	if !hmac.Equal(got, Sign(v.Secret, ts, body)) {
		return ErrBadSignature
	}
	return nil
}

// Sign computes the v0 signature bytes (the local Slack stand-in and tests sign with it).
func Sign(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:", timestamp)
	m.Write(body)
	return m.Sum(nil)
}

// SignatureHeader is the X-Slack-Signature value for a body.
func SignatureHeader(secret, timestamp string, body []byte) string {
	return "v0=" + hex.EncodeToString(Sign(secret, timestamp, body))
}

// Action is one button click, as Slack reported it.
type Action struct {
	UserID      string `json:"userId"`
	UserName    string `json:"userName,omitempty"`
	TeamID      string `json:"teamId"`
	ChannelID   string `json:"channelId"`
	MessageTS   string `json:"messageTs"`
	ActionID    string `json:"actionId"`
	Value       string `json:"value"`
	ResponseURL string `json:"responseUrl"`
}

// blockActions is the part of a block_actions payload the handler uses, in slack-go's types.
// Decoding into slack.InteractionCallback would also decode the whole original message's
// blocks, which nothing here reads, at five times the cost.
type blockActions struct {
	Type      slack.InteractionType `json:"type"`
	User      slack.User            `json:"user"`
	Team      slack.Team            `json:"team"`
	Channel   struct{ ID string }   `json:"channel"`
	Container slack.Container       `json:"container"`
	Actions   []struct {
		ActionID string `json:"action_id"`
		Type     string `json:"type"`
		Value    string `json:"value"`
	} `json:"actions"`
	ResponseURL string `json:"response_url"`
}

// SlackResponseURLPrefix is where every real response_url points.
const SlackResponseURLPrefix = "https://hooks.slack.com/"

// ParseOptions change what ParseActionWith accepts.
type ParseOptions struct {
	// LocalResponseURL is local mode's only exception to the response_url pin: the stand-in's
	// base URL (scheme, host and port must match exactly; the path must start with its path).
	// Empty in AWS.
	LocalResponseURL string
}

// ActionError is a click that was signed by Slack but is not one the handler can act on (a
// select menu, an empty value, an action id we never rendered). The user is told why, so it
// carries the parts of the click needed to answer them.
type ActionError struct {
	Action Action
	Reason string
}

func (e *ActionError) Error() string { return e.Reason }

// knownActions are the action ids our messages render; nothing else is acted on.
var knownActions = map[string]bool{
	slackmsg.ActionRemediate: true, slackmsg.ActionDismiss: true, slackmsg.ActionRetry: true, slackmsg.ActionRelease: true,
	slackmsg.ActionRemediateAll: true, slackmsg.ActionReviewEach: true, slackmsg.ActionDismissAll: true,
	slackmsg.ActionFix: true, slackmsg.ActionUndo: true, slackmsg.ActionAcknowledge: true,
}

// ParseAction reads a block_actions click from the raw form body (payload=<json>), accepting only
// Slack's own response_urls. Call it only after Verify.
func ParseAction(body []byte) (Action, error) { return ParseActionWith(body, ParseOptions{}) }

// ParseActionWith is ParseAction with options (local mode's stand-in response_url).
func ParseActionWith(body []byte, opt ParseOptions) (Action, error) {
	var raw []byte
	if rest, ok := bytes.CutPrefix(body, []byte("payload=")); ok && bytes.IndexByte(rest, '&') < 0 {
		p, err := unescapeForm(rest)
		if err != nil {
			return Action{}, fmt.Errorf("body is not form-encoded: %w", err)
		}
		raw = p
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return Action{}, fmt.Errorf("body is not form-encoded: %w", err)
		}
		raw = []byte(form.Get("payload"))
	}
	if len(raw) == 0 {
		return Action{}, errors.New("body has no payload field")
	}
	var cb blockActions
	if err := json.Unmarshal(raw, &cb); err != nil {
		return Action{}, fmt.Errorf("payload is not a Slack interaction: %w", err)
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		return Action{}, fmt.Errorf("interaction type %q is not handled (only block_actions)", cb.Type)
	}
	if len(cb.Actions) == 0 {
		return Action{}, errors.New("block_actions payload without an action")
	}
	ba := cb.Actions[0]
	a := Action{
		UserID: cb.User.ID, UserName: cb.User.Name, TeamID: cb.Team.ID, ChannelID: cb.Channel.ID,
		MessageTS: cb.Container.MessageTs, ActionID: ba.ActionID, Value: ba.Value, ResponseURL: cb.ResponseURL,
	}
	if a.ChannelID == "" {
		a.ChannelID = cb.Container.ChannelID
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"user.id", a.UserID}, {"team.id", a.TeamID}, {"actions[0].action_id", a.ActionID}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return Action{}, fmt.Errorf("block_actions payload lacks %s", strings.Join(missing, ", "))
	}
	if a.ResponseURL != "" {
		// A response_url is where we post (and what we post may name objects): only Slack's,
		// or the local stand-in's when local mode says so.
		if err := CheckResponseURL(a.ResponseURL, opt.LocalResponseURL); err != nil {
			return Action{}, err
		}
	}
	// Only our own buttons act. A select menu has no value, so acting on it would look up an
	// empty id; an unknown action id is a message we did not render.
	switch {
	case ba.Type != "button":
		return a, &ActionError{Action: a, Reason: fmt.Sprintf("This control (%s) does not act on findings; only the message's buttons do. Nothing was changed.", orNone(ba.Type))}
	case !knownActions[a.ActionID]:
		return a, &ActionError{Action: a, Reason: fmt.Sprintf("Unknown action %q: this button is not one of ours. Nothing was changed.", a.ActionID)}
	case strings.TrimSpace(a.Value) == "":
		return a, &ActionError{Action: a, Reason: "This button carries no finding id, so it cannot act. Nothing was changed."}
	}
	return a, nil
}

func orNone(s string) string {
	if s == "" {
		return "no type"
	}
	return s
}

// CheckResponseURL accepts https://hooks.slack.com/… and, when local is set, URLs on exactly
// local's scheme, host and port under its path. It compares parsed URLs, never string
// prefixes, so http://127.0.0.1.attacker.example/ is not http://127.0.0.1.
func CheckResponseURL(raw, local string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("response_url is not a URL: %w", err)
	}
	if u.User == nil && u.Scheme == "https" && u.Host == "hooks.slack.com" && strings.HasPrefix(u.Path, "/") {
		return nil
	}
	if local != "" {
		l, err := url.Parse(local)
		if err == nil && u.User == nil && u.Scheme == l.Scheme && u.Host == l.Host && strings.HasPrefix(u.Path, strings.TrimSuffix(l.Path, "/")+"/") {
			return nil
		}
	}
	return fmt.Errorf("response_url %s is not Slack's (want %s…)", RedactURL(raw), SlackResponseURLPrefix)
}

// GroupMembers resolves a Slack user group (usergroups.users.list); *slack.Client has it.
type GroupMembers interface {
	GetUserGroupMembersContext(ctx context.Context, userGroup string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

// Authorizer decides who may act, from the policy's approvers for the finding's account.
type Authorizer struct {
	Groups GroupMembers
	TTL    time.Duration // group membership cache; default 60s
	Now    func() time.Time

	mu    sync.Mutex
	cache map[string]groupEntry
}

type groupEntry struct {
	members map[string]bool
	at      time.Time
}

// IsApprover reports whether user is listed, directly or through a user group.
func (a *Authorizer) IsApprover(ctx context.Context, user string, ap policy.Approvers) (bool, error) {
	for _, u := range ap.Users {
		if u == user {
			return true, nil
		}
	}
	var errs []error
	for _, g := range ap.Groups {
		members, err := a.members(ctx, g)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if members[user] {
			return true, nil
		}
	}
	return false, errors.Join(errs...)
}

func (a *Authorizer) members(ctx context.Context, group string) (map[string]bool, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	ttl := a.TTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	a.mu.Lock()
	e, ok := a.cache[group]
	a.mu.Unlock()
	if ok && now().Sub(e.at) < ttl {
		return e.members, nil
	}
	if a.Groups == nil {
		return nil, fmt.Errorf("user group %s cannot be resolved: no Slack bot token (group approvers need usergroups:read)", group)
	}
	ids, err := a.Groups.GetUserGroupMembersContext(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("resolve user group %s: %w", group, err)
	}
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	a.mu.Lock()
	if a.cache == nil {
		a.cache = map[string]groupEntry{}
	}
	a.cache[group] = groupEntry{members: m, at: now()}
	a.mu.Unlock()
	return m, nil
}

// unescapeForm decodes one application/x-www-form-urlencoded value ("+" is a space) in a
// single pass; it accepts exactly what url.QueryUnescape accepts (a test holds them equal) at a
// fraction of its cost on the few KiB Slack sends per click.
func unescapeForm(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(s) {
				return nil, url.EscapeError(string(s[i:]))
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, url.EscapeError(string(s[i : i+3]))
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// HeadersFrom builds canonical headers from a lower-cased map (API Gateway's shape).
func HeadersFrom(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Add(k, v)
	}
	return h
}
