package quarantine

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var csvBody = []byte("name,ssn\nAlice,123-45-6789\n")

func TestMoveVersionedKeepsMetadataAndTags(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		old, _ := e.put("data", "reports/q1.csv", []byte("older version, also sensitive"), "")
		v, etag := e.put("data", "reports/q1.csv", csvBody, "team=payments&env=prod")

		res, err := e.eng.Move(e.ctx, req("f-1", "data", "reports/q1.csv", v, etag, int64(len(csvBody))))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != Moved || res.SourceVersionID != v || !res.Versioned || res.CopyKey != account+"/data/reports/q1.csv" {
			t.Fatalf("result %+v", res)
		}
		if got := e.get("data", "reports/q1.csv", v); got != nil {
			t.Fatalf("the finding's version is still readable: %q", got)
		}
		if vs := e.versions("data", "reports/q1.csv"); len(vs) != 1 || vs[0] != old {
			t.Fatalf("want only the older version left (mode version), got %v", vs)
		}
		if got := e.get("quarantine", res.CopyKey, res.CopyVersionID); !bytes.Equal(got, csvBody) {
			t.Fatalf("quarantine copy %q", got)
		}
		h, err := e.client.HeadObject(e.ctx, headIn("quarantine", res.CopyKey, res.CopyVersionID))
		if err != nil {
			t.Fatal(err)
		}
		if ct := *h.ContentType; ct != "text/csv" || h.Metadata["owner-team"] != "payments" || h.Metadata[MetaFindingID] != "f-1" {
			t.Fatalf("headers/metadata not kept: %s %v", ct, h.Metadata)
		}
		tags := e.tags("quarantine", res.CopyKey, res.CopyVersionID)
		if tags["team"] != "payments" || tags["env"] != "prod" || tags[TagFindingID] != "f-1" || tags[TagDecidedBy] != "policy" ||
			tags[TagSource] != "s3://data/reports/q1.csv versionId="+v || tags[TagTime] == "" {
			t.Fatalf("tags %v", tags)
		}
		if len(res.Steps) < 3 {
			t.Fatalf("steps not timed: %+v", res.Steps)
		}
	})
}

func TestMoveUnversioned(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", false)
		e.bucket("quarantine", true)
		_, etag := e.put("data", "a.csv", csvBody, "")
		// Macie recorded no version id (as in every published finding): the ETag pins the object.
		res, err := e.eng.Move(e.ctx, req("f-u", "data", "a.csv", "", etag, int64(len(csvBody))))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != Moved || res.Versioned || e.get("data", "a.csv", "") != nil {
			t.Fatalf("%+v", res)
		}
		if !bytes.Equal(e.get("quarantine", res.CopyKey, res.CopyVersionID), csvBody) {
			t.Fatal("copy differs")
		}
	})
}

func TestAllVersionsModeQuarantinesOlderVersions(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		v1, _ := e.put("data", "k.csv", []byte("v1 secret"), "")
		v2, _ := e.put("data", "k.csv", []byte("v2 secret"), "")
		v3, etag := e.put("data", "k.csv", csvBody, "")
		r := req("f-all", "data", "k.csv", v3, etag, int64(len(csvBody)))
		r.Settings.DeleteMode = "all-versions"
		res, err := e.eng.Move(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if vs := e.versions("data", "k.csv"); len(vs) != 0 {
			t.Fatalf("versions left in source: %v", vs)
		}
		if len(res.DeletedVersions) != 3 || len(res.OlderVersions) != 2 {
			t.Fatalf("result %+v", res)
		}
		for src, want := range map[string]string{v1: "v1 secret", v2: "v2 secret"} {
			if got := e.get("quarantine", res.CopyKey, res.OlderVersions[src]); string(got) != want {
				t.Errorf("older version %s in quarantine: %q", src, got)
			}
		}
	})
}

func TestTrickyKeys(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		for i, key := range []string{
			"with space/and+plus.csv", "percent%20literal%.csv", "question?mark#hash.csv",
			"ünïcødé/日本語/файл.csv", "double//slash/x.csv", "a&b=c;d,e@f:g$h!i'j(k)l*.csv", "trailing space .csv",
		} {
			body := []byte("secret " + key)
			v, etag := e.put("data", key, body, "")
			res, err := e.eng.Move(e.ctx, req("f-key-"+string(rune('a'+i)), "data", key, v, etag, int64(len(body))))
			if err != nil {
				t.Errorf("%q: %v", key, err)
				continue
			}
			if e.get("data", key, v) != nil {
				t.Errorf("%q: still in source", key)
			}
			if got := e.get("quarantine", account+"/data/"+key, res.CopyVersionID); !bytes.Equal(got, body) {
				t.Errorf("%q: quarantine copy %q", key, got)
			}
		}
	})
}

func TestMultipartPath(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		body := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16+7) // 12 MiB + 112 B: 3 parts
		v, etag := e.put("data", "big.bin", body, "k=v")
		res, err := e.eng.Move(e.ctx, req("f-big", "data", "big.bin", v, etag, int64(len(body))))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Multipart || res.Outcome != Moved {
			t.Fatalf("%+v", res)
		}
		if got := e.get("quarantine", res.CopyKey, res.CopyVersionID); sum(got) != sum(body) {
			t.Fatalf("multipart copy differs (%d bytes)", len(got))
		}
		if e.tags("quarantine", res.CopyKey, res.CopyVersionID)["k"] != "v" {
			t.Fatal("tags lost on the multipart path")
		}
	})
}

func TestPreconditions(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("udata", false)
		e.bucket("quarantine", true)

		// Changed: no version id and the ETag moved on.
		e.put("udata", "c.csv", csvBody, "")
		e.put("udata", "c.csv", []byte("rewritten"), "")
		_, err := e.eng.Move(e.ctx, req("f-c", "udata", "c.csv", "", `"0000"`, 9))
		if !errors.Is(err, ErrObjectChanged) || e.get("udata", "c.csv", "") == nil {
			t.Fatalf("changed: %v", err)
		}
		// Gone: missing key, and a version that no longer exists.
		if _, err := e.eng.Move(e.ctx, req("f-g", "data", "nope.csv", "", "", 0)); !errors.Is(err, ErrObjectGone) {
			t.Fatalf("gone key: %v", err)
		}
		v, etag := e.put("data", "d.csv", csvBody, "")
		e.client.DeleteObject(e.ctx, delIn("data", "d.csv", v))
		if _, err := e.eng.Move(e.ctx, req("f-g2", "data", "d.csv", v, etag, 0)); !errors.Is(err, ErrObjectGone) {
			t.Fatalf("gone version: %v", err)
		}
		// Nothing was copied for any of them.
		if vs := e.versions("quarantine", account+"/udata/c.csv"); len(vs) != 0 {
			t.Fatalf("copy made for a changed object: %v", vs)
		}
		// SSE-C needs a human, before any call.
		r := req("f-ssec", "data", "x", "", "", 0)
		r.Object.Encryption = "SSE-C"
		if _, err := e.eng.Move(e.ctx, r); !errors.Is(err, ErrNeedsHuman) {
			t.Fatalf("sse-c: %v", err)
		}
	})
}

func TestTombstoneAndRelease(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("quarantine", true)
		for _, versioned := range []bool{true, false} {
			data := "data-unversioned"
			if versioned {
				data = "data-versioned"
			}
			e.bucket(data, versioned)
			v, etag := e.put(data, "p/file.csv", csvBody, "team=x")
			r := req("f-t", data, "p/file.csv", v, etag, int64(len(csvBody)))
			r.Settings.Tombstone = true
			res, err := e.eng.Move(e.ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			stone := e.get(data, "p/file.csv", "")
			if !strings.Contains(string(stone), "quarantined by macie-chatops") || !strings.Contains(string(stone), res.CopyKey) {
				t.Fatalf("tombstone %q", stone)
			}
			rel := ReleaseRequest{FindingID: "f-t", Object: r.Object, CopyBucket: res.CopyBucket, CopyKey: res.CopyKey,
				CopyVersionID: res.CopyVersionID, TombstoneVersion: res.TombstoneVersion, By: "U_ALICE"}
			out, err := e.eng.Release(e.ctx, rel)
			if err != nil {
				t.Fatalf("versioned=%v release: %v", versioned, err)
			}
			if out.Outcome != Released || !bytes.Equal(e.get(data, "p/file.csv", ""), csvBody) {
				t.Fatalf("versioned=%v: %+v", versioned, out)
			}
			if e.get("quarantine", res.CopyKey, res.CopyVersionID) != nil {
				t.Fatal("quarantine copy left after release")
			}
			if tags := e.tags(data, "p/file.csv", ""); tags["team"] != "x" || tags[TagFindingID] != "" {
				t.Fatalf("restored tags %v", tags)
			}
			if versioned {
				if vs := e.versions(data, "p/file.csv"); len(vs) != 1 {
					t.Fatalf("tombstone version not removed: %v", vs)
				}
			}
			// Release again: done already.
			again, err := e.eng.Release(e.ctx, rel)
			if err != nil || again.Outcome != AlreadyDone {
				t.Fatalf("second release: %v %+v", err, again)
			}
		}
	})
}

func TestReleaseNeverOverwritesNewData(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		v, etag := e.put("data", "r.csv", csvBody, "")
		r := req("f-r", "data", "r.csv", v, etag, int64(len(csvBody)))
		res, err := e.eng.Move(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		e.put("data", "r.csv", []byte("new legit data"), "")
		_, err = e.eng.Release(e.ctx, ReleaseRequest{FindingID: "f-r", Object: r.Object, CopyBucket: res.CopyBucket, CopyKey: res.CopyKey, CopyVersionID: res.CopyVersionID})
		if !errors.Is(err, ErrDestinationOccupied) {
			t.Fatalf("got %v", err)
		}
		if string(e.get("data", "r.csv", "")) != "new legit data" || e.get("quarantine", res.CopyKey, res.CopyVersionID) == nil {
			t.Fatal("data lost")
		}
	})
}

func TestMoveTwiceIsIdempotent(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		v, etag := e.put("data", "i.csv", csvBody, "")
		r := req("f-i", "data", "i.csv", v, etag, int64(len(csvBody)))
		first, err := e.eng.Move(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		second, err := e.eng.Move(e.ctx, r)
		if err != nil || second.Outcome != AlreadyDone || second.CopyVersionID != first.CopyVersionID {
			t.Fatalf("%v %+v", err, second)
		}
		if vs := e.versions("quarantine", first.CopyKey); len(vs) != 1 {
			t.Fatalf("second copy made: %v", vs)
		}
	})
}

// TestTagsBeyondTheLimitAreKeptAcrossMoveAndRelease: S3 allows 10 tags; a source with 9 leaves
// room for only 6 next to our 4 markers. The other 3 are reported and restored by Release.
func TestTagsBeyondTheLimitAreKeptAcrossMoveAndRelease(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		tags := "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9"
		v, etag := e.put("data", "tagged.csv", csvBody, tags)
		r := req("f-tags", "data", "tagged.csv", v, etag, int64(len(csvBody)))
		res, err := e.eng.Move(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.tags("quarantine", res.CopyKey, res.CopyVersionID); len(got) != 10 || got[TagFindingID] != "f-tags" {
			t.Fatalf("copy tags %v", got)
		}
		if len(res.DroppedTags) != 3 {
			t.Fatalf("dropped %v", res.DroppedTags)
		}
		if _, err := e.eng.Release(e.ctx, ReleaseRequest{FindingID: "f-tags", Object: r.Object, CopyBucket: res.CopyBucket, CopyKey: res.CopyKey,
			CopyVersionID: res.CopyVersionID, DroppedTags: res.DroppedTags}); err != nil {
			t.Fatal(err)
		}
		got := e.tags("data", "tagged.csv", "")
		for _, kv := range strings.Split(tags, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if got[k] != v {
				t.Errorf("tag %s lost across move and release: %v", k, got)
			}
		}
	})
}
