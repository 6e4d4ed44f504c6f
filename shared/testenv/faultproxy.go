package testenv

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
)

// FaultModes are the ways a FaultProxy fails a call:
//   - "500": the proxy answers InternalError; the server never sees the call.
//   - "reset": the connection is reset before the server sees the call.
//   - "lost": the server does the work, then the connection is reset: the answer is lost (the same,
//     to the caller, as the process dying right after the write).
//   - "timeout": the client gives up on a call the server never answered. Only a client whose
//     transport is FaultProxy.Transport sees it, at once, as its deadline would; the proxy never
//     waits for a clock.
//
// Not in FaultModes (not a transport failure, so not in every fault matrix): "403", the proxy
// answers AccessDenied; the server never sees the call.
var FaultModes = []string{"500", "timeout", "reset", "lost"}

// FaultProxy is a reverse proxy in front of an S3 server (versitygw, moto) that fails chosen calls
// in chosen ways. Each package names the calls with its own classifier (a request to a call name
// such as "CopyObject" or "PUT encryption"); Set picks the one call that fails and how, and every
// request of that call fails until the next Set. What fails is decided by the proxy, never by a
// clock: a slow answer on a loaded machine is only slow.
type FaultProxy struct {
	// URL is the proxy's endpoint: give it to the client under test instead of the server's.
	URL string

	t        testing.TB
	classify func(*http.Request) string
	proxy    *httputil.ReverseProxy

	mu     sync.Mutex
	target string         // call to fail; "" fails nothing
	mode   string         // one of FaultModes
	hits   map[string]int // requests by call since the last Set, failed ones included
	onCall func(call string) bool
}

// NewFaultProxy starts a proxy in front of the S3 server at endpoint, stopped when the test ends.
// classify names the call of a request; it must never return "".
func NewFaultProxy(t testing.TB, endpoint string, classify func(*http.Request) string) *FaultProxy {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil || target.Host == "" {
		t.Fatalf("fault proxy: S3 endpoint %q is not a URL (want http://127.0.0.1:PORT): %v", endpoint, err)
	}
	p := &FaultProxy{t: t, classify: classify, hits: map[string]int{}}
	p.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the signature covers the host the client used
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Set makes every request of call fail in mode from now on, and restarts the hit counts;
// Set("", "") lets everything through.
func (p *FaultProxy) Set(call, mode string) {
	if call != "" && mode != "403" && !slices.Contains(FaultModes, mode) {
		p.t.Fatalf("fault proxy: unknown fault mode %q for %s (want one of %v)", mode, call, FaultModes)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target, p.mode, p.hits = call, mode, map[string]int{}
}

// Hits is how many requests of call the proxy (or its Transport) saw since the last Set.
func (p *FaultProxy) Hits(call string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[call]
}

// OnCall sets a hook that sees every call before the fault does; true means "the process died
// here": the connection is cut, the server never sees the call, and it is not counted.
func (p *FaultProxy) OnCall(f func(call string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onCall = f
}

// Transport is the client side of the proxy: a call set to "timeout" fails at once with a
// timeout error, as the client's deadline would, and every other call goes to next.
func (p *FaultProxy) Transport(next http.RoundTripper) http.RoundTripper {
	return faultTransport{p: p, next: next}
}

type faultTransport struct {
	p    *FaultProxy
	next http.RoundTripper
}

// injectedTimeout is what the client sees when its own deadline passes.
type injectedTimeout struct{}

func (injectedTimeout) Error() string   { return "i/o timeout (injected)" }
func (injectedTimeout) Timeout() bool   { return true }
func (injectedTimeout) Temporary() bool { return true }

func (f faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct := f.p.classify(r)
	f.p.mu.Lock()
	timeout := ct == f.p.target && f.p.mode == "timeout"
	if timeout {
		f.p.hits[ct]++
	}
	f.p.mu.Unlock()
	if timeout {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: injectedTimeout{}}
	}
	return f.next.RoundTrip(r)
}

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := p.classify(r)
	p.mu.Lock()
	onCall := p.onCall
	p.mu.Unlock()
	if onCall != nil && onCall(ct) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	p.mu.Lock()
	p.hits[ct]++
	fail, mode := ct == p.target, p.mode
	p.mu.Unlock()
	if !fail {
		p.proxy.ServeHTTP(w, r)
		return
	}
	switch mode {
	case "500":
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>injected</Message></Error>`)
		return
	case "403":
		// The caller may not make this call (a bucket policy's or an object lock's refusal).
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Access Denied (injected)</Message></Error>`)
		return
	case "lost":
		p.proxy.ServeHTTP(httptest.NewRecorder(), r) // the server does the work...
	case "timeout":
		// The client is not using Transport, so nothing can fail the call the way its deadline
		// would without a clock; fail the test with the fix instead of waiting.
		p.t.Errorf("fault proxy: %s set to time out, but the client does not use FaultProxy.Transport (give its http.Client Transport: proxy.Transport(...))", ct)
	}
	// ...and the answer never arrives (reset: the server never saw the call).
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not FIN
		}
		conn.Close()
	}
}
