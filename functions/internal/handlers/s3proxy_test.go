package handlers

import (
	"net/http"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
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

// s3Faults is testenv.FaultProxy with this package's call names, between the remediator and the
// S3 server: while set, every call of one type fails in one way ("500", "timeout", "reset",
// "lost"). It starts when newStackWith knows the server's endpoint.
type s3Faults struct {
	*testenv.FaultProxy
	t      *testing.T
	target string
	// onCall, when set, sees every call first; true means "the process died here": the call is
	// cut and never reaches the server.
	onCall func(call string) bool
}

// newS3Faults makes the proxy; pass the second result to newStackWith, which puts the proxy
// (and its client-side Transport, for timeouts) between the remediator and the server only.
func newS3Faults(t *testing.T) (*s3Faults, *s3Faults) {
	f := &s3Faults{t: t}
	return f, f
}

// start runs the proxy in front of endpoint and returns the remediator's endpoint and transport.
func (f *s3Faults) start(endpoint string, next http.RoundTripper) (string, http.RoundTripper) {
	f.FaultProxy = testenv.NewFaultProxy(f.t, endpoint, s3CallType)
	f.FaultProxy.OnCall(func(call string) bool { return f.onCall != nil && f.onCall(call) })
	return f.URL, f.Transport(next)
}

func (f *s3Faults) set(target, mode string) {
	f.target = target
	f.Set(target, mode)
}

func (f *s3Faults) hit() int { return f.Hits(f.target) }
