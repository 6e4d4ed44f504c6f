package quarantine

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// callType names the S3 operation of a request, as the proxy sees it.
func callType(r *http.Request) string {
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
	}
	return r.Method + " other"
}

// faultProxy sits between the engine and the server and fails one call type in one way: "500",
// "reset" (the connection is reset before the server sees the request), "lost" (the server does
// the work, then the connection is reset), or "timeout" (see faultTransport). What fails is
// decided here, never by a clock: a slow answer on a loaded machine is only slow.
type faultProxy struct {
	mu     sync.Mutex
	target string // call type to fail
	mode   string // "500", "timeout", "reset"
	hits   map[string]int
	proxy  *httputil.ReverseProxy
}

func (p *faultProxy) set(target, mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target, p.mode, p.hits = target, mode, map[string]int{}
}

// timeoutErr is what the client sees when its own deadline passes.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout (injected)" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// faultTransport is the client side of the fault injection: a "timeout" is the client giving up
// on a call the server never answered, so it fails the call at once with a timeout error, as the
// client's deadline would, instead of waiting for a wall-clock timeout.
type faultTransport struct {
	p    *faultProxy
	next http.RoundTripper
}

func (f faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct := callType(r)
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
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}
	}
	return f.next.RoundTrip(r)
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := callType(r)
	p.mu.Lock()
	fail := ct == p.target
	mode := p.mode
	if fail {
		p.hits[ct]++
	}
	p.mu.Unlock()
	if fail {
		switch mode {
		case "500":
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>injected</Message></Error>`)
			return
		case "lost":
			// The server does the work; the answer never arrives.
			p.proxy.ServeHTTP(httptest.NewRecorder(), r)
			fallthrough
		case "reset":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) // RST, not FIN
				}
				conn.Close()
			}
			return
		}
	}
	p.proxy.ServeHTTP(w, r)
}

func TestFaultInjectionKeepsTheInvariant(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("udata", false)
		e.bucket("quarantine", true)
		target, _ := url.Parse(e.endpoint)
		fp := &faultProxy{hits: map[string]int{}}
		fp.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the signature covers the host the client used
		}}
		srv := httptest.NewServer(fp)
		defer srv.Close()
		faulty := s3.New(s3.Options{
			Region:      "us-east-1",
			Credentials: credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: e.accessKey, SecretAccessKey: e.secretKey}},
			Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.MaxBackoff = 10 * time.Millisecond }),
			// No client timeout: faults are injected, never inferred from a slow answer.
			HTTPClient: &http.Client{Transport: faultTransport{p: fp, next: http.DefaultTransport.(*http.Transport).Clone()}},
		}, func(o *s3.Options) { o.BaseEndpoint = aws.String(srv.URL); o.UsePathStyle = true })
		eng := &Engine{Clients: oneClient{faulty}, Options: e.eng.Options, Now: time.Now}

		calls := []string{"ListObjectVersions", "HeadObject", "GetObjectTagging", "CopyObject", "DeleteObject", "PutObject",
			"CreateMultipartUpload", "UploadPartCopy", "CompleteMultipartUpload"}
		scenarios, failedMoves := 0, 0
		for _, bucket := range []string{"data", "udata"} {
			for _, call := range calls {
				for _, mode := range []string{"500", "timeout", "reset", "lost"} {
					size := 100
					if call == "CreateMultipartUpload" || call == "UploadPartCopy" || call == "CompleteMultipartUpload" {
						size = 6 << 20 // over the 5 MiB test threshold
					}
					body := bytes.Repeat([]byte{byte('a' + scenarios%26)}, size)
					key := fmt.Sprintf("f/%s-%s.bin", call, mode)
					v, etag := e.put(bucket, key, body, "t=1")
					r := req(fmt.Sprintf("fault-%s-%s-%s", bucket, call, mode), bucket, key, v, etag, int64(size))
					r.Settings.Tombstone = true
					fp.set(call, mode)
					_, err := eng.Move(e.ctx, r)
					scenarios++
					if err != nil {
						failedMoves++
					}
					what := fmt.Sprintf("%s: %s fails with %s (hit %d times, move error: %v)", bucket, call, mode, fp.hits[call], err)
					assertIntact(t, e, bucket, key, v, body, what)
					// With the fault gone, a rerun completes and leaves one verified copy.
					fp.set("", "")
					res, err := eng.Move(e.ctx, r)
					if err != nil {
						t.Fatalf("%s: rerun: %v", what, err)
					}
					if got := e.get("quarantine", res.CopyKey, res.CopyVersionID); !bytes.Equal(got, body) {
						t.Fatalf("%s: quarantine copy differs after rerun", what)
					}
					if n := len(e.versions("quarantine", res.CopyKey)); n != 1 {
						t.Fatalf("%s: %d copies", what, n)
					}
					if bucket == "data" && e.get(bucket, key, v) != nil {
						t.Fatalf("%s: source version still readable after rerun", what)
					}
				}
			}
		}
		t.Logf("fault injection: %d scenarios (%d moves failed on the fault, all kept the invariant and finished on rerun)", scenarios, failedMoves)
		if scenarios != 2*len(calls)*4 || failedMoves == 0 {
			t.Fatalf("scenarios %d, failed %d", scenarios, failedMoves)
		}
	})
}
