// Package standin owns the local Slack stand-in: a web page that looks like a Slack channel and
// an HTTP server that acts as the Slack API for the functions (chat.postMessage, chat.update,
// chat.postEphemeral, usergroups.users.list, an incoming webhook and response_urls). Pressing a
// button on the page sends a block_actions request signed with the app's signing secret to the
// remediation handler, exactly as Slack would, as the local user chosen on the page.
package standin

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/chatops"
)

//go:embed page.html
var page embed.FS

// User is a local person who can press buttons.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Label string `json:"label"`
}

// Message is one message in the channel.
type Message struct {
	ID         string            `json:"id"`
	Channel    string            `json:"channel"`
	TS         string            `json:"ts"`
	Text       string            `json:"text"`
	Blocks     []json.RawMessage `json:"blocks"`
	Updated    int               `json:"updated"`
	PostedAt   time.Time         `json:"postedAt"`
	Ephemerals []Ephemeral       `json:"ephemerals,omitempty"`
}

// Ephemeral is a reply only one user sees.
type Ephemeral struct {
	User string `json:"user"`
	Text string `json:"text"`
}

// Server is the stand-in.
type Server struct {
	Team          string
	Channel       string
	Users         []User
	SigningSecret string
	// ActionsURL is the remediation handler's interactivity URL.
	ActionsURL string
	// BaseURL is where this server is reachable (for response_urls).
	BaseURL string
	// Groups are user groups for usergroups.users.list.
	Groups map[string][]string
	// Token is this run's secret for the state-changing endpoints (/click, and local mode's
	// /control/send through Guard). The page gets it in its HTML, which another site cannot
	// read; `local send` reads it from the state file. Empty refuses every guarded request.
	Token string
	// OnChange, when set, is called with a copy of a message each time it is posted or changed
	// (chat.update or its response_url), after the change: the benchmark harness stamps with it
	// when a message first shows a state, as a user watching the channel would see it.
	OnChange func(Message)

	mu      sync.Mutex
	msgs    []*Message
	seq     int
	version int
	changed chan struct{}
}

// Handler serves the page, the Slack API under /api/, the webhook and the click endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /state", s.serveState)
	mux.Handle("POST /click", s.Guard(http.HandlerFunc(s.serveClick)))
	mux.Handle("POST /api/chat.postMessage", machinesOnly(http.HandlerFunc(s.postMessage)))
	mux.Handle("POST /api/chat.update", machinesOnly(http.HandlerFunc(s.update)))
	mux.Handle("POST /api/chat.postEphemeral", machinesOnly(http.HandlerFunc(s.postEphemeral)))
	mux.Handle("POST /api/usergroups.users.list", machinesOnly(http.HandlerFunc(s.groupMembers)))
	mux.Handle("POST /webhook", machinesOnly(http.HandlerFunc(s.webhook)))
	mux.Handle("POST /response/{id}", machinesOnly(http.HandlerFunc(s.response)))
	return s.ownHost(mux)
}

// machinesOnly guards the endpoints only local mode's own handlers call (the Slack API, the
// webhook, response_urls). They take no token, as Slack's would, so a web page could otherwise
// post a message with our buttons into the demo channel with a plain cross-site form. A browser
// always sends Origin (or Sec-Fetch-Site) on such a POST; Go's HTTP client sends neither.
func machinesOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "" {
			http.Error(w, "this endpoint is for local mode's handlers, not for browsers", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ownHost refuses requests for any host name but BaseURL's (or localhost on its port): a page
// on another name that its DNS rebinds to 127.0.0.1 would otherwise be same-origin with the
// stand-in, and could read the page (and its token) and the channel's messages.
func (s *Server) ownHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.BaseURL != "" {
			u, err := url.Parse(s.BaseURL)
			if err != nil || r.Host != u.Host && r.Host != "localhost:"+u.Port() {
				http.Error(w, "unknown host "+r.Host+": open "+s.BaseURL, http.StatusMisdirectedRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// TokenHeader carries the per-run token on guarded requests.
const TokenHeader = "X-Standin-Token"

// Guard lets a request through only with this run's token, a JSON body, and no foreign Origin.
// Any web page open in the browser during `make demo` can POST to 127.0.0.1, but not with a
// custom header or a JSON content type without a CORS preflight (which nothing here answers),
// and it cannot read the page to learn the token.
func (s *Server) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case s.Token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get(TokenHeader)), []byte(s.Token)) != 1:
			http.Error(w, "missing or wrong "+TokenHeader+": use the stand-in page or `macie-chatops local send`", http.StatusForbidden)
		case r.Header.Get("Origin") != "" && r.Header.Get("Origin") != strings.TrimSuffix(s.BaseURL, "/"):
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
		case r.Header.Get("Sec-Fetch-Site") == "cross-site":
			http.Error(w, "cross-site request refused", http.StatusForbidden)
		case mt != "application/json":
			http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) servePage(w http.ResponseWriter, _ *http.Request) {
	b, _ := page.ReadFile("page.html")
	// The token is hex, so it needs no escaping in the page.
	b = bytes.ReplaceAll(b, []byte("__STANDIN_TOKEN__"), []byte(s.Token))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	w.Write(b)
}

// State is what the page polls.
type State struct {
	Version  int       `json:"version"`
	Team     string    `json:"team"`
	Channel  string    `json:"channel"`
	Users    []User    `json:"users"`
	Messages []Message `json:"messages"`
}

func (s *Server) serveState(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.State())
}

// State is a snapshot of the channel.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Version: s.version, Team: s.Team, Channel: s.Channel, Users: s.Users}
	for _, m := range s.msgs {
		st.Messages = append(st.Messages, *m)
	}
	return st
}

// Messages returns a copy of the channel's messages.
func (s *Server) Messages() []Message { return s.State().Messages }

func (s *Server) touch() {
	s.version++
}

func form(r *http.Request) url.Values {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		json.Unmarshal(b, &m)
		v := url.Values{}
		for k, val := range m {
			switch x := val.(type) {
			case string:
				v.Set(k, x)
			default:
				j, _ := json.Marshal(x)
				v.Set(k, string(j))
			}
		}
		return v
	}
	v, _ := url.ParseQuery(string(b))
	return v
}

func blocksOf(v url.Values) []json.RawMessage {
	var blocks []json.RawMessage
	json.Unmarshal([]byte(v.Get("blocks")), &blocks)
	return blocks
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) add(channel string, v url.Values) *Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if channel == "" || channel == "webhook" || strings.HasPrefix(channel, "#") {
		channel = s.Channel
	}
	now := time.Now()
	m := &Message{ID: strconv.Itoa(s.seq), Channel: channel, TS: fmt.Sprintf("%d.%06d", now.Unix(), s.seq), Text: v.Get("text"), Blocks: blocksOf(v), PostedAt: now}
	s.msgs = append(s.msgs, m)
	s.touch()
	s.notify(m)
	return m
}

// notify hands a copy of m to OnChange; called with s.mu held, so changes are reported in the
// order they happened.
func (s *Server) notify(m *Message) {
	if s.OnChange != nil {
		s.OnChange(*m)
	}
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	m := s.add(v.Get("channel"), v)
	reply(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS})
}

func (s *Server) find(channel, ts string) *Message {
	for _, m := range s.msgs {
		if m.TS == ts && (channel == "" || m.Channel == channel) {
			return m
		}
	}
	return nil
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(v.Get("channel"), v.Get("ts"))
	if m == nil {
		reply(w, map[string]any{"ok": false, "error": "message_not_found"})
		return
	}
	m.Text, m.Blocks = v.Get("text"), blocksOf(v)
	m.Updated++
	s.touch()
	s.notify(m)
	reply(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS})
}

func (s *Server) postEphemeral(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	s.ephemeralOn("", v.Get("user"), v.Get("text"))
	reply(w, map[string]any{"ok": true, "message_ts": "0"})
}

func (s *Server) ephemeralOn(msgID, user, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m *Message
	for _, x := range s.msgs {
		if x.ID == msgID {
			m = x
		}
	}
	if m == nil && len(s.msgs) > 0 {
		m = s.msgs[len(s.msgs)-1]
	}
	if m != nil {
		m.Ephemerals = append(m.Ephemerals, Ephemeral{User: user, Text: text})
		s.touch()
	}
}

func (s *Server) groupMembers(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	reply(w, map[string]any{"ok": true, "users": s.Groups[v.Get("usergroup")]})
}

// webhook is the incoming webhook: JSON {text, blocks}.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	s.add("", form(r))
	w.Write([]byte("ok"))
}

// response is a message's response_url: replace_original or an ephemeral reply.
func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v := form(r)
	if v.Get("response_type") == "ephemeral" {
		s.ephemeralOn(id, "", v.Get("text"))
		w.Write([]byte("ok"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.ID == id {
			m.Text, m.Blocks = v.Get("text"), blocksOf(v)
			m.Updated++
			s.touch()
			s.notify(m)
			w.Write([]byte("ok"))
			return
		}
	}
	http.Error(w, "no such message", http.StatusNotFound)
}

// Click is a button press from the page.
type Click struct {
	MessageID string `json:"messageId"`
	ActionID  string `json:"actionId"`
	Value     string `json:"value"`
	User      string `json:"user"`
}

func (s *Server) serveClick(w http.ResponseWriter, r *http.Request) {
	var c Click
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&c); err != nil {
		http.Error(w, "bad click", http.StatusBadRequest)
		return
	}
	status, err := s.Press(r.Context(), c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	reply(w, map[string]any{"status": status})
}

// Press sends the signed block_actions request for a click, as Slack would, and returns the
// handler's HTTP status.
func (s *Server) Press(ctx context.Context, c Click) (int, error) {
	s.mu.Lock()
	var m *Message
	for _, x := range s.msgs {
		if x.ID == c.MessageID {
			m = x
		}
	}
	var user User
	for _, u := range s.Users {
		if u.ID == c.User {
			user = u
		}
	}
	s.mu.Unlock()
	if m == nil {
		return 0, fmt.Errorf("no message %s", c.MessageID)
	}
	if user.ID == "" {
		return 0, fmt.Errorf("no local user %s", c.User)
	}
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions",
		"user": map[string]any{"id": user.ID, "username": user.Name, "name": user.Name, "team_id": s.Team},
		"team": map[string]any{"id": s.Team, "domain": "local"}, "api_app_id": "A0LOCAL",
		"container":    map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": false},
		"channel":      map[string]any{"id": m.Channel, "name": "macie-findings"},
		"message":      map[string]any{"ts": m.TS, "text": m.Text},
		"response_url": s.BaseURL + "/response/" + m.ID,
		"trigger_id":   "local." + m.ID,
		"actions":      []any{map[string]any{"action_id": c.ActionID, "block_id": "actions", "value": c.Value, "type": "button", "action_ts": fmt.Sprint(time.Now().Unix())}},
	})
	body := []byte("payload=" + url.QueryEscape(string(payload)))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ActionsURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", chatops.SignatureHeader(s.SigningSecret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("remediation handler unreachable: %w", err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
