package quarantine

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
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

// faultProxy is testenv.FaultProxy with this package's call names: it sits between the engine and
// the server and fails one call type in one way ("500", "timeout", "reset", "lost").
type faultProxy struct{ *testenv.FaultProxy }

func newFaultProxy(t testing.TB, endpoint string) *faultProxy {
	return &faultProxy{testenv.NewFaultProxy(t, endpoint, callType)}
}

func (p *faultProxy) set(target, mode string) { p.Set(target, mode) }
func (p *faultProxy) hit(call string) int     { return p.Hits(call) }

// faultCalls are the calls a move makes that the proxy fails; multipartCalls happen only for an
// object over the multipart threshold. Of the fault kinds, "lost" is the one the server sees (it
// does the work, the answer is lost); it never sees a call failed as "500", "timeout" or "reset".
var (
	faultCalls     = []string{"ListObjectVersions", "HeadObject", "GetObjectTagging", "CopyObject", "DeleteObject", "PutObject"}
	multipartCalls = []string{"CreateMultipartUpload", "UploadPartCopy", "CompleteMultipartUpload"}
	faultModes     = []string{"500", "timeout", "reset", "lost"}
	unseenModes    = []string{"500", "timeout", "reset"}
	faultBuckets   = []string{"data", "udata"} // versioned and unversioned source
)

// motoMultipartCells are the multipart scenarios moto runs, as "bucket call mode": each
// multipart call with its work done and the answer lost (the copy, or an upload or a part of
// it, exists on the server unseen), and a failed part that aborts the upload.
var motoMultipartCells = map[string]bool{
	"data CreateMultipartUpload lost":   true,
	"data UploadPartCopy lost":          true,
	"data CompleteMultipartUpload lost": true,
	"udata UploadPartCopy timeout":      true,
}

// faultCell is one scenario: the move of one object while one call fails in one way.
type faultCell struct{ bucket, call, mode string }

// faultCells are the scenarios a server runs. versitygw runs every call in every fault kind on
// both source buckets. A moto run of all of them took 80-100 s on a loaded machine (moto answers
// each request in Python, copies multipart parts byte by byte, and a fault the engine cannot see
// past costs its three tries with their backoff), so moto runs what the server can tell apart:
// every call "lost", and in one kind it never sees (500, timeout and reset all leave the server
// exactly as if the call was never made; which kind varies by call and bucket, so each runs on
// several calls), and the multipart calls only in motoMultipartCells, since multipart copies
// are proven cell by cell on versitygw.
func faultCells(server string) []faultCell {
	var cells []faultCell
	for b, bucket := range faultBuckets {
		for i, call := range append(append([]string{}, faultCalls...), multipartCalls...) {
			for _, mode := range faultModes {
				if server == "moto" {
					if slices.Contains(multipartCalls, call) {
						if !motoMultipartCells[bucket+" "+call+" "+mode] {
							continue
						}
					} else if mode != "lost" && mode != unseenModes[(i+b)%len(unseenModes)] {
						continue
					}
				}
				cells = append(cells, faultCell{bucket, call, mode})
			}
		}
	}
	return cells
}

// TestFaultCellsCoverEveryFaultOnEveryServer keeps the moto subset honest: every server runs
// every fault kind on both source buckets, every call both lost and in a kind the server never
// sees, and versitygw runs every scenario.
func TestFaultCellsCoverEveryFaultOnEveryServer(t *testing.T) {
	for cell := range motoMultipartCells {
		f := strings.Fields(cell)
		if len(f) != 3 || !slices.Contains(faultBuckets, f[0]) || !slices.Contains(multipartCalls, f[1]) || !slices.Contains(faultModes, f[2]) {
			t.Errorf("motoMultipartCells: %q is not a multipart scenario (want \"data|udata <multipart call> <fault kind>\")", cell)
		}
	}
	all := len(faultBuckets) * (len(faultCalls) + len(multipartCalls)) * len(faultModes)
	for _, server := range servers {
		cells := faultCells(server)
		seen := map[string]bool{}
		for _, c := range cells {
			seen[c.bucket+" "+c.mode] = true
			seen[c.call+" "+c.mode] = true
			if c.mode != "lost" {
				seen[c.call+" unseen"] = true
			}
		}
		for _, mode := range faultModes {
			for _, bucket := range faultBuckets {
				if !seen[bucket+" "+mode] {
					t.Errorf("%s: no call fails with %s on %s", server, mode, bucket)
				}
			}
		}
		for _, call := range append(append([]string{}, faultCalls...), multipartCalls...) {
			if !seen[call+" lost"] || !seen[call+" unseen"] && !slices.Contains(multipartCalls, call) {
				t.Errorf("%s: %s does not run both lost and failed before the server sees it", server, call)
			}
		}
		if !seen["UploadPartCopy unseen"] {
			t.Errorf("%s: no multipart copy fails a part before the server sees it", server)
		}
		if server == "versitygw" && len(cells) != all {
			t.Errorf("versitygw runs %d scenarios, want every one of %d", len(cells), all)
		}
	}
}

func TestFaultInjectionKeepsTheInvariant(t *testing.T) {
	for _, name := range servers {
		t.Run(name, func(t *testing.T) {
			// The two halves share nothing (versitygw is this subtest's own, and no other test
			// uses the shared moto while this one runs), and much of each is the engine's
			// backoff between tries, so they run at once.
			t.Parallel()
			faultInjection(t, newEnvOn(t, name))
		})
	}
}

func faultInjection(t *testing.T, e *env) {
	e.bucket("data", true)
	e.bucket("udata", false)
	e.bucket("quarantine", true)
	fp := newFaultProxy(t, e.endpoint)
	faulty := s3.New(s3.Options{
		Region:      "us-east-1",
		Credentials: credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: e.accessKey, SecretAccessKey: e.secretKey}},
		Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.MaxBackoff = 10 * time.Millisecond }),
		// No client timeout: faults are injected, never inferred from a slow answer.
		HTTPClient: &http.Client{Transport: fp.Transport(http.DefaultTransport.(*http.Transport).Clone())},
	}, func(o *s3.Options) { o.BaseEndpoint = aws.String(fp.URL); o.UsePathStyle = true })
	eng := &Engine{Clients: oneClient{faulty}, Options: e.eng.Options, Now: time.Now}

	cells := faultCells(e.server)
	scenarios, failedMoves := 0, 0
	for _, c := range cells {
		bucket, call, mode := c.bucket, c.call, c.mode
		size := 100
		if slices.Contains(multipartCalls, call) {
			size = 6 << 20 // over the 5 MiB test threshold: two parts, the first of S3's minimum size
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
		what := fmt.Sprintf("%s: %s fails with %s (hit %d times, move error: %v)", bucket, call, mode, fp.hit(call), err)
		if fp.hit(call) == 0 {
			t.Fatalf("%s: the fault was never injected", what)
		}
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
		e.purge(bucket, key)
		e.purge("quarantine", res.CopyKey)
	}
	t.Logf("fault injection on %s: %d scenarios (%d moves failed on the fault, all kept the invariant and finished on rerun)", e.server, scenarios, failedMoves)
	if scenarios != len(cells) || failedMoves == 0 {
		t.Fatalf("scenarios %d of %d, failed %d", scenarios, len(cells), failedMoves)
	}
}

// purge deletes every version and delete marker of a key, so that each scenario starts with
// buckets holding nothing of the ones before: moto's ListObjectVersions copies every version in
// the bucket whatever the prefix, so leftovers made each scenario slower than the last.
func (e *env) purge(bucket, key string) {
	e.t.Helper()
	vs, err := listVersions(e.ctx, e.client, bucket, key, nil)
	if err != nil {
		e.t.Fatalf("purge s3://%s/%s: list versions: %v", bucket, key, err)
	}
	for _, v := range vs {
		if _, err := e.client.DeleteObject(e.ctx, delIn(bucket, key, v.versionID)); err != nil {
			e.t.Fatalf("purge s3://%s/%s: delete version %s: %v", bucket, key, v.versionID, err)
		}
	}
	if left, err := listVersions(e.ctx, e.client, bucket, key, nil); err != nil || len(left) != 0 {
		e.t.Fatalf("purge s3://%s/%s: left %v (%v)", bucket, key, left, err)
	}
}
