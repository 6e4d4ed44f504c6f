package quarantine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var errCrash = errors.New("injected crash")

// crashing forwards to a real client until it has made `after` calls, then fails every call, as
// if the process died at that point. It records the calls it let through.
type crashing struct {
	S3API
	mu    sync.Mutex
	after int
	calls []string
}

func (c *crashing) gate(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.calls) >= c.after {
		return errCrash
	}
	c.calls = append(c.calls, name)
	return nil
}

func (c *crashing) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if err := c.gate("HeadObject"); err != nil {
		return nil, err
	}
	return c.S3API.HeadObject(ctx, in, o...)
}
func (c *crashing) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	if err := c.gate("CopyObject"); err != nil {
		return nil, err
	}
	return c.S3API.CopyObject(ctx, in, o...)
}
func (c *crashing) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if err := c.gate("DeleteObject"); err != nil {
		return nil, err
	}
	return c.S3API.DeleteObject(ctx, in, o...)
}
func (c *crashing) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, o ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	if err := c.gate("GetObjectTagging"); err != nil {
		return nil, err
	}
	return c.S3API.GetObjectTagging(ctx, in, o...)
}
func (c *crashing) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, o ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	if err := c.gate("ListObjectVersions"); err != nil {
		return nil, err
	}
	return c.S3API.ListObjectVersions(ctx, in, o...)
}
func (c *crashing) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := c.gate("PutObject"); err != nil {
		return nil, err
	}
	return c.S3API.PutObject(ctx, in, o...)
}
func (c *crashing) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	if err := c.gate("CreateMultipartUpload"); err != nil {
		return nil, err
	}
	return c.S3API.CreateMultipartUpload(ctx, in, o...)
}
func (c *crashing) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, o ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	if err := c.gate("UploadPartCopy"); err != nil {
		return nil, err
	}
	return c.S3API.UploadPartCopy(ctx, in, o...)
}
func (c *crashing) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if err := c.gate("CompleteMultipartUpload"); err != nil {
		return nil, err
	}
	return c.S3API.CompleteMultipartUpload(ctx, in, o...)
}

// oneClient serves the same S3API for every account.
type oneClient struct{ api S3API }

func (o oneClient) S3For(context.Context, string, string, string) (S3API, error) { return o.api, nil }

// TestRepeatedMoveAfterCrashBetweenEverySteps crashes a Move after each of its calls in turn,
// then runs Move again (as a redelivered job would), and checks that it finishes with exactly one
// copy (two when an unverifiable multipart copy of the crashed run is kept, and said so) and
// never loses the bytes.
func TestRepeatedMoveAfterCrashBetweenEverySteps(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("quarantine", true)
		for _, mode := range []struct {
			name      string
			versioned bool
			tombstone bool
			size      int
		}{{"versioned", true, true, 64}, {"unversioned", false, true, 64}, {"multipart", true, false, 11 << 20}} {
			body := bytes.Repeat([]byte("s"), mode.size)
			// A full run tells how many calls there are to crash between.
			bucket := "crash-" + mode.name
			e.bucket(bucket, mode.versioned)
			v, etag := e.put(bucket, "probe", body, "a=b")
			probe := &crashing{S3API: e.client, after: 1 << 30}
			r := req("f-probe-"+mode.name, bucket, "probe", v, etag, int64(len(body)))
			r.Settings.Tombstone = mode.tombstone
			if _, err := (&Engine{Clients: oneClient{probe}, Options: e.eng.Options, Now: e.eng.Now}).Move(e.ctx, r); err != nil {
				t.Fatal(err)
			}
			total := len(probe.calls)
			for n := 0; n < total; n++ {
				key := fmt.Sprintf("obj-%d", n)
				v, etag := e.put(bucket, key, body, "a=b")
				r := req(fmt.Sprintf("f-%s-%d", mode.name, n), bucket, key, v, etag, int64(len(body)))
				r.Settings.Tombstone = mode.tombstone
				crash := &crashing{S3API: e.client, after: n}
				_, err := (&Engine{Clients: oneClient{crash}, Options: e.eng.Options, Now: e.eng.Now}).Move(e.ctx, r)
				if !errors.Is(err, errCrash) {
					t.Fatalf("%s crash after %d calls: want the crash, got %v", mode.name, n, err)
				}
				assertIntact(t, e, bucket, key, v, body, fmt.Sprintf("%s after crash at call %d (%v)", mode.name, n, crash.calls))
				res, err := e.eng.Move(e.ctx, r)
				if err != nil {
					t.Fatalf("%s: rerun after crash at call %d (%v): %v", mode.name, n, crash.calls, err)
				}
				if e.get(bucket, key, v) != nil && mode.versioned {
					t.Fatalf("%s: rerun after crash %d left the source version", mode.name, n)
				}
				copies := e.versions("quarantine", res.CopyKey)
				// A multipart copy completed by the crashed run cannot be verified by the rerun,
				// which never saw its parts: it is kept next to the rerun's own copy, as it could
				// be a live mover's (TestAttackRedeliveredMoverKeepsTheOtherMoversMultipartCopy),
				// and the result names it.
				kept := mode.size > int(e.eng.Options.MultipartThreshold) && strings.Contains(res.SkippedBecause, "could not be verified")
				if want := map[bool]int{false: 1, true: 2}[kept]; len(copies) != want {
					t.Fatalf("%s: crash at %d: %d copies in quarantine, want %d (%q)", mode.name, n, len(copies), want, res.SkippedBecause)
				}
				for _, c := range copies {
					if got := e.get("quarantine", res.CopyKey, c); !bytes.Equal(got, body) {
						t.Fatalf("%s: crash at %d: quarantine version %s differs", mode.name, n, c)
					}
				}
				if got := e.get("quarantine", res.CopyKey, res.CopyVersionID); !bytes.Equal(got, body) {
					t.Fatalf("%s: crash at %d: quarantine copy differs", mode.name, n)
				}
			}
			t.Logf("%s: crashed after each of %d calls and re-ran", mode.name, total)
		}
	})
}

// assertIntact is the invariant: the version's bytes exist intact in the source or in quarantine.
func assertIntact(t *testing.T, e *env, bucket, key, version string, body []byte, what string) {
	t.Helper()
	if bytes.Equal(e.get(bucket, key, version), body) {
		return
	}
	for _, qv := range e.versions("quarantine", account+"/"+bucket+"/"+key) {
		if bytes.Equal(e.get("quarantine", account+"/"+bucket+"/"+key, qv), body) {
			return
		}
	}
	t.Fatalf("%s: the object's bytes are in neither the source nor quarantine", what)
}
