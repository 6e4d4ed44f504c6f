//go:build attack

package quarantine

import (
	"bytes"
	"strings"
	"testing"
)

// OPEN (versitygw): with two movers of one finding in tombstone mode, the second mover deletes the
// source version and writes the tombstone; the first mover's delete of that (now missing) version
// gets 400 InvalidArgument "Invalid version id specified" from versitygw, which deleteSource does
// not take as "already deleted", so the first mover fails with "Retry finishes the move" although
// the move is done. Nothing is lost (a Retry reports AlreadyDone). moto passes.
// TestAttackTombstoneWithKeptMultipartCopy: tombstone mode, two movers. One tombstone, pointing
// at a copy that exists; the kept copy is named by the mover that kept it.
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
