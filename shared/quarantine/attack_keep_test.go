package quarantine

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Attacks on the kept unverifiable multipart copy (90889a8): a second mover of one finding keeps
// the first mover's multipart copy instead of discarding it. These check what happens next to
// that kept copy: Release, all-versions mode, tombstones, a locked source.

// twoMultipartMovers runs the redelivered-mover interleaving of
// TestAttackRedeliveredMoverKeepsTheOtherMoversMultipartCopy on r: the second Move runs whole
// while the first is about to delete the source.
func twoMultipartMovers(t *testing.T, e *env, r Request) (first, second *Result) {
	t.Helper()
	var secondErr error
	w := &otherMoverBeforeDelete{S3API: e.client, other: func() { second, secondErr = e.eng.Move(e.ctx, r) }}
	first, err := New(oneClient{w}, e.eng.Options).Move(e.ctx, r)
	if w.other != nil {
		t.Fatal("the first mover never reached its delete")
	}
	if secondErr != nil || err != nil {
		t.Fatalf("second mover: %v %+v; first mover: %v %+v", secondErr, second, err, first)
	}
	return first, second
}

// TestAttackReleaseAfterDoubleMultipartCopy: after two movers each left a multipart copy, Release
// of the copy one result reports restores exactly those bytes, and the other copy stays in
// quarantine, whole: nothing is lost, and the copy the other result reports still exists.
func TestAttackReleaseAfterDoubleMultipartCopy(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		body := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16)
		v, etag := e.put("data", "big.bin", body, "")
		r := req("f-mprel", "data", "big.bin", v, etag, int64(len(body)))
		first, second := twoMultipartMovers(t, e, r)
		if first.CopyVersionID == second.CopyVersionID {
			t.Fatalf("both movers report copy %s", first.CopyVersionID)
		}
		// The ledger keeps whichever result was written last; release the first's.
		rel, err := e.eng.Release(e.ctx, ReleaseRequest{FindingID: r.FindingID, Object: r.Object, CopyBucket: first.CopyBucket,
			CopyKey: first.CopyKey, CopyVersionID: first.CopyVersionID})
		if err != nil || rel.Outcome != Released {
			t.Fatalf("release: %v %+v", err, rel)
		}
		if got := e.get("data", "big.bin", rel.SourceVersionID); !bytes.Equal(got, body) {
			t.Fatalf("restored version %s does not hold the bytes", rel.SourceVersionID)
		}
		if e.get("quarantine", first.CopyKey, first.CopyVersionID) != nil {
			t.Error("released copy still in quarantine")
		}
		if !bytes.Equal(e.get("quarantine", second.CopyKey, second.CopyVersionID), body) {
			t.Errorf("the other mover's copy %s was lost by the Release", second.CopyVersionID)
		}
		if vs := e.versions("quarantine", first.CopyKey); len(vs) != 1 || vs[0] != second.CopyVersionID {
			t.Errorf("quarantine holds %v, want only the other mover's copy %s", vs, second.CopyVersionID)
		}
		// A Release of the other copy must not overwrite the restored object.
		_, err = e.eng.Release(e.ctx, ReleaseRequest{FindingID: r.FindingID, Object: r.Object, CopyBucket: second.CopyBucket,
			CopyKey: second.CopyKey, CopyVersionID: second.CopyVersionID})
		if !errors.Is(err, ErrDestinationOccupied) {
			t.Errorf("Release of the kept copy over the restored object: %v, want ErrDestinationOccupied", err)
		}
		if !bytes.Equal(e.get("quarantine", second.CopyKey, second.CopyVersionID), body) {
			t.Errorf("second Release (%v) lost the kept copy", err)
		}
		if !bytes.Equal(e.get("data", "big.bin", rel.SourceVersionID), body) {
			t.Error("second Release damaged the restored object")
		}
	})
}

// TestAttackRedeliveredSinglePartMoverProvesTheCopy: the same interleaving below the multipart
// threshold. The second mover can prove the first one's copy (ETag or checksum), so it neither
// copies again nor discards: both report the one copy, and nothing is "proven wrong".
func TestAttackRedeliveredSinglePartMoverProvesTheCopy(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		v, etag := e.put("data", "s.csv", csvBody, "")
		r := req("f-sprace", "data", "s.csv", v, etag, int64(len(csvBody)))
		first, second := twoMultipartMovers(t, e, r)
		if first.Outcome != Moved || second.Outcome != Moved || first.CopyVersionID != second.CopyVersionID || second.SkippedBecause != "" {
			t.Fatalf("first %+v\nsecond %+v", first, second)
		}
		if vs := e.versions("quarantine", first.CopyKey); len(vs) != 1 || !bytes.Equal(e.get("quarantine", first.CopyKey, vs[0]), csvBody) {
			t.Errorf("quarantine holds %v, want the one copy", vs)
		}
	})
}

// TestAttackTombstoneWithKeptMultipartCopy: tombstone mode, two movers. Both report MOVED (on
// versitygw the first one's delete of the version the second already deleted answered 400
// InvalidArgument, and it failed); one tombstone, pointing at a copy that exists; the kept copy
// is named by the mover that kept it.
func TestAttackTombstoneWithKeptMultipartCopy(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		body := bytes.Repeat([]byte("fedcba9876543210"), (6<<20)/16)
		v, etag := e.put("data", "big.bin", body, "")
		r := req("f-mptomb", "data", "big.bin", v, etag, int64(len(body)))
		r.Settings.Tombstone = true
		first, second := twoMultipartMovers(t, e, r)
		for who, got := range map[string]*Result{"first": first, "second": second} {
			if got.Outcome != Moved || !bytes.Equal(e.get("quarantine", got.CopyKey, got.CopyVersionID), body) {
				t.Errorf("%s mover: %+v, its copy does not hold the bytes", who, got)
			}
		}
		if !strings.Contains(second.SkippedBecause, first.CopyVersionID) {
			t.Errorf("second mover does not name the kept copy %s: %q", first.CopyVersionID, second.SkippedBecause)
		}
		vs := e.versions("data", "big.bin")
		if len(vs) != 1 {
			t.Fatalf("data key holds versions %v, want one tombstone", vs)
		}
		if tomb := string(e.get("data", "big.bin", vs[0])); !strings.Contains(tomb, second.CopyVersionID) {
			t.Errorf("tombstone %q does not point at the copy its writer reports", tomb)
		}
	})
}

// TestAttackAllVersionsTwoMoversKeepEveryCopy: all-versions mode, two multipart versions, the job
// delivered again while the first mover is deleting the older version. Wanted: both movers report
// MOVED at copies that hold the bytes, for the finding's version and the older one; no source
// version is left; every copy the second mover kept is named in its result.
func TestAttackAllVersionsTwoMoversKeepEveryCopy(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		old := bytes.Repeat([]byte("old-old-old-old-"), (6<<20)/16)
		body := bytes.Repeat([]byte("new-new-new-new-"), (6<<20)/16)
		v1, _ := e.put("data", "big.bin", old, "")
		v2, etag := e.put("data", "big.bin", body, "")
		r := req("f-mpall", "data", "big.bin", v2, etag, int64(len(body)))
		r.Settings.DeleteMode = "all-versions"
		first, second := twoMultipartMovers(t, e, r)
		for who, got := range map[string]*Result{"first": first, "second": second} {
			if got.Outcome != Moved || !bytes.Equal(e.get("quarantine", got.CopyKey, got.CopyVersionID), body) {
				t.Errorf("%s mover: %s at %s, which does not hold the finding's version", who, got.Outcome, got.CopyVersionID)
			}
			if c := got.OlderVersions[v1]; c == "" || !bytes.Equal(e.get("quarantine", got.CopyKey, c), old) {
				t.Errorf("%s mover: older version %s reported at copy %q, which does not hold its bytes", who, v1, c)
			}
		}
		if vs := e.versions("data", "big.bin"); len(vs) != 0 {
			t.Errorf("source versions left: %v", vs)
		}
		// Every quarantine version that no result reports must be named by the second mover.
		reported := map[string]bool{first.CopyVersionID: true, second.CopyVersionID: true, first.OlderVersions[v1]: true, second.OlderVersions[v1]: true}
		for _, c := range e.versions("quarantine", first.CopyKey) {
			if !reported[c] && !strings.Contains(second.SkippedBecause, c) {
				t.Errorf("quarantine version %s is reported by no mover and not named: %q", c, second.SkippedBecause)
			}
		}
		// The kept copies are the first mover's, which it reports.
		for _, c := range []string{first.CopyVersionID, first.OlderVersions[v1]} {
			if !strings.Contains(second.SkippedBecause, c) {
				t.Errorf("second mover does not name the first one's copy %s it kept: %q", c, second.SkippedBecause)
			}
		}
	})
}

// TestAttackLockedSourceRetryNamesKeptCopy: a multipart source under a legal hold is copied and
// kept (SourceLocked); Retry (a second Move) cannot verify that copy, copies again and keeps it.
// Wanted: the result still names the kept copy, next to the lock.
func TestAttackLockedSourceRetryNamesKeptCopy(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		lockedBucket(t, e)
		e.bucket("quarantine", true)
		body := bytes.Repeat([]byte("lockedlockedlock"), (6<<20)/16)
		v, etag := e.put("locked", "big.bin", body, "")
		legalHold(t, e, "big.bin", v)
		r := req("f-mplock", "locked", "big.bin", v, etag, int64(len(body)))
		first, err := e.eng.Move(e.ctx, r)
		if err != nil || first.Outcome != SourceLocked || !first.Multipart {
			t.Fatalf("first: %v %+v", err, first)
		}
		again, err := e.eng.Move(e.ctx, r)
		if err != nil || again.Outcome != SourceLocked {
			t.Fatalf("retry: %v %+v", err, again)
		}
		if again.CopyVersionID != first.CopyVersionID && !strings.Contains(again.SkippedBecause, first.CopyVersionID) {
			t.Errorf("retry made copy %s and kept %s without naming it: %q", again.CopyVersionID, first.CopyVersionID, again.SkippedBecause)
		}
		if !strings.Contains(again.SkippedBecause, "legal hold") {
			t.Errorf("retry no longer names the lock: %q", again.SkippedBecause)
		}
	})
}

func lockedBucket(t *testing.T, e *env) {
	t.Helper()
	if _, err := e.client.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: aws.String("locked"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

func legalHold(t *testing.T, e *env, key, v string) {
	t.Helper()
	_, err := e.client.PutObjectLegalHold(e.ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String("locked"), Key: &key, VersionId: &v,
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}})
	if err != nil {
		t.Fatalf("put legal hold: %v", err)
	}
}
