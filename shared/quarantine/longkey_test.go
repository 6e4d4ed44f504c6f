package quarantine

import (
	"bytes"
	"strings"
	"testing"
)

// longKey is a key of n bytes in segments of 100 (versitygw stores keys as paths, and a path
// segment is limited to 255 bytes).
func longKey(n int, tail string) string {
	var b strings.Builder
	for b.Len() < n-len(tail) {
		seg := strings.Repeat("p", min(99, n-len(tail)-b.Len()-1))
		b.WriteString(seg + "/")
	}
	return b.String()[:n-len(tail)] + tail
}

func TestDestKeyIsShortenedDeterministically(t *testing.T) {
	o := Object{AccountID: account, Bucket: "data", Key: longKey(1020, "tail-a.csv")}
	k := DestKey(o)
	if len(k) > MaxKeyLen || k != DestKey(o) {
		t.Fatalf("dest key %d bytes, or not deterministic", len(k))
	}
	o2 := o
	o2.Key = longKey(1020, "tail-b.csv")
	if DestKey(o2) == k {
		t.Fatal("two keys that differ in their tail share a quarantine key")
	}
	short := Object{AccountID: account, Bucket: "data", Key: "a/b.csv"}
	if DestKey(short) != account+"/data/a/b.csv" {
		t.Fatalf("short key changed: %s", DestKey(short))
	}
	// A cut never splits a UTF-8 character.
	u := Object{AccountID: account, Bucket: "data", Key: strings.Repeat("ü/", 600)}
	if k := DestKey(u); len(k) > MaxKeyLen || !strings.HasPrefix(k, account+"/data/ü/") || strings.ContainsRune(k, '\uFFFD') {
		t.Fatalf("unicode key shortened badly: %d bytes", len(k))
	}
}

// Issue 14 item 8: a key close to S3's 1024-byte limit can still be quarantined (the naive
// account/bucket/key name would exceed it), resumed, and released to its original key.
func TestLongKeyIsQuarantinedAndReleased(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		key := longKey(1020, "secret.csv")
		v, etag := e.put("data", key, csvBody, "t=1")
		r := req("f-long", "data", key, v, etag, int64(len(csvBody)))
		res, err := e.eng.Move(e.ctx, r)
		if err != nil {
			t.Fatalf("move a %d-byte key: %v", len(key), err)
		}
		if len(res.CopyKey) > MaxKeyLen || res.OriginalKey != key || res.CopyKey != DestKey(r.Object) {
			t.Fatalf("copy key %d bytes, original %q", len(res.CopyKey), res.OriginalKey)
		}
		if !bytes.Equal(e.get("quarantine", res.CopyKey, res.CopyVersionID), csvBody) || e.get("data", key, v) != nil {
			t.Fatal("move incomplete")
		}
		h, err := e.client.HeadObject(e.ctx, headIn("quarantine", res.CopyKey, res.CopyVersionID))
		if err != nil {
			t.Fatal(err)
		}
		if got := OriginalKeyOf(h.Metadata); got != key {
			t.Fatalf("original key not in the copy's metadata: %q", h.Metadata[MetaOriginalKey])
		}
		again, err := e.eng.Move(e.ctx, r)
		if err != nil || again.Outcome != AlreadyDone || again.CopyVersionID != res.CopyVersionID {
			t.Fatalf("rerun: %v %+v", err, again)
		}
		if _, err := e.eng.Release(e.ctx, ReleaseRequest{FindingID: "f-long", Object: r.Object, CopyBucket: res.CopyBucket,
			CopyKey: res.CopyKey, CopyVersionID: res.CopyVersionID}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.get("data", key, ""), csvBody) {
			t.Fatal("not restored to the original key")
		}
		if h, err := e.client.HeadObject(e.ctx, headIn("data", key, "")); err != nil || h.Metadata[MetaOriginalKey] != "" {
			t.Fatalf("restored object carries our markers: %v %v", err, h.Metadata)
		}
	})
}
