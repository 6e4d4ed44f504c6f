package bucketfix

import (
	"errors"
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
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// callType names a bucket-configuration request as the proxy sees it: "PUT publicAccessBlock".
func callType(r *http.Request) string {
	q := r.URL.Query()
	for _, sub := range []string{"publicAccessBlock", "encryption", "replication"} {
		if q.Has(sub) {
			return r.Method + " " + sub
		}
	}
	return r.Method + " other"
}

// faultProxy sits between the SDK and the server and fails every request of one call type in
// one way while set: "500", "reset" (the connection is reset before the server sees the
// request) or "lost" (the server does the work, then the connection is reset). The SDK's own
// retry sees the same fault, so the caller gets the error.
type faultProxy struct {
	mu     sync.Mutex
	target string
	mode   string
	hits   map[string]int // every request by call type since the last set
	proxy  *httputil.ReverseProxy
}

func (p *faultProxy) set(target, mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target, p.mode, p.hits = target, mode, map[string]int{}
}

func (p *faultProxy) hit(ct string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[ct]
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := callType(r)
	p.mu.Lock()
	p.hits[ct]++
	fail, mode := ct == p.target, p.mode
	p.mu.Unlock()
	if fail {
		switch mode {
		case "500":
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>injected</Message></Error>`)
			return
		case "lost":
			p.proxy.ServeHTTP(httptest.NewRecorder(), r) // the server does the work...
			fallthrough
		case "reset": // ...and the answer never arrives
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

// TestFaultsOverHTTPConverge: through the real SDK (with its retries), every bucket-configuration
// call of Apply and Undo fails in every way in turn. The failing call returns an error that is
// never ErrChanged; with the fault gone the same stored plan converges, and Undo restores
// exactly what S3 showed before.
func TestFaultsOverHTTPConverge(t *testing.T) {
	kms := Spec{Encryption: Encryption{Algorithm: "aws:kms", KMSKeyID: kmsKey, BucketKey: true}}
	buckets := []struct {
		name   string
		kind   Kind
		sub    string
		before any
		spec   Spec
	}{
		{"bpa none configured", BlockPublicAccess, "publicAccessBlock", nil, Spec{}},
		{"bpa one of four", BlockPublicAccess, "publicAccessBlock", bpa(false, false, false, true), Spec{}},
		{"encryption none", DefaultEncryption, "encryption", nil, kms},
		{"encryption AES256", DefaultEncryption, "encryption", sse(types.ServerSideEncryptionAes256, "", false), kms},
		{"replication", ExternalReplication, "replication", mixedReplication(), Spec{InOrg: inOrg}},
	}
	for _, b := range buckets {
		t.Run(b.name, func(t *testing.T) {
			eachServerWith(t, b.kind, func(t *testing.T, e *env) {
				target, err := url.Parse(e.endpoint)
				if err != nil {
					t.Fatal(err)
				}
				fp := &faultProxy{hits: map[string]int{}}
				fp.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(target)
					pr.Out.Host = pr.In.Host // the signature covers the host the client used
				}}
				srv := httptest.NewServer(fp)
				defer srv.Close()
				faulty := &Fixer{S3: s3.New(s3.Options{
					Region:      "us-east-1",
					Credentials: credentials.StaticCredentialsProvider{Value: e.creds},
					Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.MaxBackoff = 10 * time.Millisecond }),
					HTTPClient:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
				}, func(o *s3.Options) { o.BaseEndpoint = aws.String(srv.URL); o.UsePathStyle = true })}

				scenarios, failed := 0, 0
				for _, method := range []string{"GET", "PUT", "DELETE"} {
					for _, mode := range []string{"500", "reset", "lost"} {
						call := method + " " + b.sub
						what := fmt.Sprintf("%s %s", call, mode)
						if b.before != nil {
							e.set(b.before)
						}
						wasPresent, wasRaw := e.state(b.kind)
						p, err := e.fixer.Inspect(e.ctx, b.kind, e.bucket, b.spec)
						if err != nil || p.AlreadyFixed {
							t.Fatalf("Inspect: AlreadyFixed=%v err=%v", p.AlreadyFixed, err)
						}
						p = stored(t, p)

						// step runs f with the fault set, then again without it.
						step := func(name string, f func() error) {
							t.Helper()
							scenarios++
							fp.set(call, mode)
							err := f()
							if hit := fp.hit(call) > 0; hit != (err != nil) {
								t.Fatalf("%s during %s: %s called %d times, error %v", what, name, call, fp.hit(call), err)
							}
							if errors.Is(err, ErrChanged) {
								t.Fatalf("%s during %s: ErrChanged (%v); a fault is not a change", what, name, err)
							}
							if err != nil {
								failed++
							}
							fp.set("", "")
							if err := f(); err != nil {
								t.Fatalf("%s: %s again without the fault: %v", what, name, err)
							}
						}
						step("Apply", func() error { _, err := faulty.Apply(e.ctx, p); return err })
						if got, err := e.fixer.Apply(e.ctx, p); err != nil || !got.AlreadyFixed {
							t.Fatalf("%s: Apply after convergence: AlreadyFixed=%v err=%v", what, got.AlreadyFixed, err)
						}
						step("Undo", func() error { return faulty.Undo(e.ctx, p) })
						if present, raw := e.state(b.kind); present != wasPresent || raw != wasRaw {
							t.Fatalf("%s: after Undo S3 shows %v %s; before Apply it showed %v %s", what, present, raw, wasPresent, wasRaw)
						}
					}
				}
				t.Logf("%d fault scenarios, %d failed on the fault, all converged on rerun", scenarios, failed)
				if failed == 0 {
					t.Fatal("no scenario failed: the faults were not injected")
				}
			})
		})
	}
}
