package bucketfix

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
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

// faultProxy is testenv.FaultProxy with this package's call names: it sits between the SDK and the
// server and fails every request of one call type in one way while set ("500", "reset", "lost").
// The SDK's own retry sees the same fault, so the caller gets the error.
type faultProxy struct{ *testenv.FaultProxy }

func newFaultProxy(t testing.TB, endpoint string) *faultProxy {
	return &faultProxy{testenv.NewFaultProxy(t, endpoint, callType)}
}

func (p *faultProxy) set(target, mode string) { p.Set(target, mode) }
func (p *faultProxy) hit(ct string) int       { return p.Hits(ct) }

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
				fp := newFaultProxy(t, e.endpoint)
				faulty := &Fixer{S3: s3.New(s3.Options{
					Region:      "us-east-1",
					Credentials: credentials.StaticCredentialsProvider{Value: e.creds},
					Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.MaxBackoff = 10 * time.Millisecond }),
					HTTPClient:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
				}, func(o *s3.Options) { o.BaseEndpoint = aws.String(fp.URL); o.UsePathStyle = true })}

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
