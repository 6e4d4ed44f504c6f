package testenv

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFaultProxyFailsTheChosenCallTheChosenWay: in front of a server that counts what it sees,
// each mode fails only the chosen call, and the server sees the call exactly when the mode says
// it does (lost: yes; 500, reset, timeout: no); everything else passes through untouched.
func TestFaultProxyFailsTheChosenCallTheChosenWay(t *testing.T) {
	var served atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok "+r.Method)
	}))
	defer backend.Close()
	p := NewFaultProxy(t, backend.URL, func(r *http.Request) string { return r.Method })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: p.Transport(tr)}
	call := func(method string) (string, error) {
		req, _ := http.NewRequest(method, p.URL+"/b/k", nil)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Status + " " + string(b), nil
	}
	for _, tc := range []struct {
		mode       string
		serverSees bool
		check      func(string, error) bool
	}{
		{"500", false, func(s string, err error) bool { return err == nil && strings.HasPrefix(s, "500") }},
		{"reset", false, func(_ string, err error) bool { return err != nil }},
		{"lost", true, func(_ string, err error) bool { return err != nil }},
		{"timeout", false, func(_ string, err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}},
	} {
		p.Set("PUT", tc.mode)
		before := served.Load()
		got, err := call("PUT")
		if !tc.check(got, err) {
			t.Errorf("%s: PUT answered %q, error %v", tc.mode, got, err)
		}
		if seen := served.Load() > before; seen != tc.serverSees {
			t.Errorf("%s: the server saw the failed call: %v, want %v", tc.mode, seen, tc.serverSees)
		}
		if p.Hits("PUT") != 1 {
			t.Errorf("%s: %d hits on PUT, want 1", tc.mode, p.Hits("PUT"))
		}
		if got, err := call("GET"); err != nil || got != "200 OK ok GET" {
			t.Errorf("%s: a GET (not the chosen call) answered %q, %v", tc.mode, got, err)
		}
	}
	p.Set("", "")
	if got, err := call("PUT"); err != nil || got != "200 OK ok PUT" {
		t.Errorf("with no fault set, PUT answered %q, %v", got, err)
	}
	p.OnCall(func(call string) bool { return call == "DELETE" })
	before := served.Load()
	if _, err := call("DELETE"); err == nil || served.Load() != before || p.Hits("DELETE") != 0 {
		t.Errorf("OnCall cut: error %v, server saw it %v, hits %d", err, served.Load() != before, p.Hits("DELETE"))
	}
}

func TestFaultProxyRefusesAnUnknownMode(t *testing.T) {
	backend := httptest.NewServer(http.NotFoundHandler())
	defer backend.Close()
	r := &recorder{TB: t}
	p := NewFaultProxy(r, backend.URL, func(*http.Request) string { return "x" })
	func() {
		defer func() {
			if v := recover(); v != r {
				t.Fatalf("Set with an unknown mode did not fail the test: %v", v)
			}
		}()
		p.Set("PutObject", "slow")
	}()
	if !strings.Contains(r.msg, `"slow"`) || !strings.Contains(r.msg, "timeout") {
		t.Fatalf("message %q does not name the mode and the ones allowed", r.msg)
	}
}
