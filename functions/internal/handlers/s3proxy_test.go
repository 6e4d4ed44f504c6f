package handlers

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// s3CallType names the S3 operation of a request, as a proxy sees it.
func s3CallType(r *http.Request) string {
	q := r.URL.Query()
	copySrc := r.Header.Get("X-Amz-Copy-Source") != ""
	switch {
	case r.Method == http.MethodHead:
		return "HeadObject"
	case r.Method == http.MethodGet && q.Has("versions"):
		return "ListObjectVersions"
	case r.Method == http.MethodGet && q.Has("tagging"):
		return "GetObjectTagging"
	case r.Method == http.MethodPut && copySrc && q.Has("partNumber"):
		return "UploadPartCopy"
	case r.Method == http.MethodPut && copySrc:
		return "CopyObject"
	case r.Method == http.MethodPut && q.Has("tagging"):
		return "PutObjectTagging"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == http.MethodDelete:
		return "DeleteObject"
	case r.Method == http.MethodGet:
		return "GetObject"
	}
	return r.Method + " other"
}

// s3Faults sits between the remediator and the S3 server and fails every call of one type, in
// one way, while set: "500", "timeout", "reset" (the connection is cut before the server sees
// the request) or "lost" (the server does the work, the answer never arrives).
type s3Faults struct {
	mu     sync.Mutex
	target string
	mode   string
	hits   int
	proxy  *httputil.ReverseProxy
	// onCall, when set, sees every call first; true means "the process died here": the call is
	// cut and never reaches the server.
	onCall func(call string) bool
}

// newS3Faults starts the proxy; its endpoint replaces the server's for the remediator only.
func newS3Faults(t *testing.T) (*s3Faults, func(endpoint string) string) {
	f := &s3Faults{}
	return f, func(endpoint string) string {
		target, _ := url.Parse(endpoint)
		f.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the signature covers the host the client used
		}}
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		return srv.URL
	}
}

func (f *s3Faults) set(target, mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.target, f.mode, f.hits = target, mode, 0
}

func (f *s3Faults) hit() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *s3Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := s3CallType(r)
	f.mu.Lock()
	onCall := f.onCall
	f.mu.Unlock()
	if onCall != nil && onCall(ct) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	f.mu.Lock()
	fail := f.target != "" && ct == f.target
	mode := f.mode
	if fail {
		f.hits++
	}
	f.mu.Unlock()
	if !fail {
		f.proxy.ServeHTTP(w, r)
		return
	}
	switch mode {
	case "500":
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>injected</Message></Error>`)
		return
	case "timeout":
		// Never answers; the client's own timeout (the stack's S3 client has one) ends it.
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case "lost":
		f.proxy.ServeHTTP(httptest.NewRecorder(), r)
	}
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not FIN
		}
		conn.Close()
	}
}
