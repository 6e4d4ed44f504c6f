package quarantine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// countVersioning counts GetBucketVersioning calls.
type countVersioning struct {
	S3API
	n atomic.Int32
}

func (c *countVersioning) GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, o ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error) {
	c.n.Add(1)
	return c.S3API.GetBucketVersioning(ctx, in, o...)
}

// A quarantine bucket whose versioning is not Enabled (never enabled, or suspended) is refused
// before anything is touched, with a message naming the bucket and the fix; Enabled is asked once
// per bucket per engine.
func TestMoveRefusesAnUnversionedQuarantineBucket(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", false)
		v, etag := e.put("data", "k.csv", csvBody, "")
		api := &countVersioning{S3API: e.client}
		eng := New(oneClient{api}, e.eng.Options)
		r := req("f-uv", "data", "k.csv", v, etag, int64(len(csvBody)))
		check := func(state string) {
			t.Helper()
			res, err := eng.Move(e.ctx, r)
			if !errors.Is(err, ErrNeedsHuman) || !strings.Contains(err.Error(), "s3://quarantine") || !strings.Contains(err.Error(), "enable versioning") {
				t.Fatalf("%s quarantine bucket: want ErrNeedsHuman naming the bucket and the fix, got %v %+v", state, err, res)
			}
			if got := e.get("data", "k.csv", v); string(got) != string(csvBody) {
				t.Fatalf("%s quarantine bucket: source version changed: %q", state, got)
			}
			if vs := e.versions("quarantine", DestKey(r.Object)); len(vs) != 0 {
				t.Fatalf("%s quarantine bucket: copies were made: %v", state, vs)
			}
		}
		check("unversioned")
		setVersioning(e, "quarantine", types.BucketVersioningStatusEnabled)
		setVersioning(e, "quarantine", types.BucketVersioningStatusSuspended)
		check("suspended")
		setVersioning(e, "quarantine", types.BucketVersioningStatusEnabled)
		for i := 0; i < 2; i++ {
			if res, err := eng.Move(e.ctx, r); err != nil || res.Outcome != Moved && res.Outcome != AlreadyDone {
				t.Fatalf("versioned quarantine bucket, run %d: %v %+v", i, err, res)
			}
		}
		// Refusals are not cached (a fixed bucket is seen at once); Enabled is asked once.
		if n := api.n.Load(); n != 3 {
			t.Errorf("GetBucketVersioning called %d times, want 3 (two refusals, then once for Enabled)", n)
		}
	})
}

// Keys with characters URL encoding touches ("+", "%", "?", spaces, unicode) are listed with
// EncodingType=url: in all-versions mode the older version is found (decoded only when the answer
// says it is encoded) and quarantined, and a rerun sees the move done.
func TestTrickyKeysAllVersions(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		for i, key := range []string{"with space/and+plus.csv", "percent%20literal%.csv", "question?mark#hash.csv", "ünïcødé/файл.csv", "tab\there.csv"} {
			old, _ := e.put("data", key, []byte("old "+key), "")
			v, etag := e.put("data", key, csvBody, "")
			r := req(fmt.Sprintf("f-tav-%d", i), "data", key, v, etag, int64(len(csvBody)))
			r.Settings.DeleteMode = "all-versions"
			res, err := e.eng.Move(e.ctx, r)
			if err != nil {
				t.Fatalf("%q: %v", key, err)
			}
			if left := e.versions("data", key); len(left) != 0 {
				t.Fatalf("%q: versions left in the source: %v", key, left)
			}
			if got := e.get("quarantine", res.CopyKey, res.OlderVersions[old]); string(got) != "old "+key {
				t.Fatalf("%q: older version's copy holds %q", key, got)
			}
			if again, err := e.eng.Move(e.ctx, r); err != nil || again.Outcome != AlreadyDone {
				t.Fatalf("%q: rerun: %v %+v", key, err, again)
			}
		}
	})
}

// An object in the quarantine bucket itself (a finding about a quarantined copy) is refused
// before anything is touched: moving it onto itself would delete the version a Release restores
// from.
func TestMoveRefusesAnObjectInTheQuarantineBucket(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("quarantine", true)
		v, etag := e.put("quarantine", "111122223333/data/k.csv", csvBody, "")
		r := req("f-self", "quarantine", "111122223333/data/k.csv", v, etag, int64(len(csvBody)))
		res, err := e.eng.Move(e.ctx, r)
		if !errors.Is(err, ErrNeedsHuman) || !strings.Contains(err.Error(), "in the quarantine bucket itself") || res != nil {
			t.Fatalf("want ErrNeedsHuman naming the quarantine bucket, got %v %+v", err, res)
		}
		if vs := e.versions("quarantine", "111122223333/data/k.csv"); len(vs) != 1 || string(e.get("quarantine", "111122223333/data/k.csv", v)) != string(csvBody) {
			t.Fatalf("the quarantined copy changed: versions %v", vs)
		}
	})
}
