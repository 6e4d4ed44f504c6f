package bucketfix

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// faultStep is one call that goes wrong during an Apply or an Undo.
type faultStep struct {
	name  string
	undo  bool   // the fault hits Undo (else Apply)
	op    string // "get" | "put" | "delete": the kind's operation of that verb
	mode  string // "lost": the write happens, its answer does not arrive; "fail": the call never reaches S3
	skip  int    // calls of op to let through first (1: the read-back after the write)
	wrote bool   // the faulted call changed the bucket
}

// TestLostAnswersConverge: every S3 call of Apply and Undo fails once in turn — a write whose
// answer is lost (the same as the process dying right after the write), a write that never
// arrives (the process dying between storing the snapshot and writing), a read that fails, the
// read-back that fails. The caller sees an error; running the same stored plan again converges:
// never ErrChanged, no second write once the first landed, and Undo still restores exactly.
func TestLostAnswersConverge(t *testing.T) {
	ops := map[Kind]map[string]string{
		BlockPublicAccess:   {"get": "GetPublicAccessBlock", "put": "PutPublicAccessBlock", "delete": "DeletePublicAccessBlock"},
		DefaultEncryption:   {"get": "GetBucketEncryption", "put": "PutBucketEncryption", "delete": "DeleteBucketEncryption"},
		ExternalReplication: {"get": "GetBucketReplication", "put": "PutBucketReplication", "delete": "DeleteBucketReplication"},
	}
	kms := Spec{Encryption: Encryption{Algorithm: "aws:kms", KMSKeyID: kmsKey, BucketKey: true}}
	buckets := []struct {
		name   string
		kind   Kind
		before any
		spec   Spec
	}{
		{"bpa none configured", BlockPublicAccess, nil, Spec{}},
		{"bpa two of four", BlockPublicAccess, bpa(true, false, true, false), Spec{}},
		{"encryption none", DefaultEncryption, nil, kms},
		{"encryption AES256", DefaultEncryption, sse(types.ServerSideEncryptionAes256, "", false), kms},
		{"replication", ExternalReplication, mixedReplication(), Spec{InOrg: inOrg}},
	}
	for _, b := range buckets {
		undoOp := "put"
		if b.before == nil {
			undoOp = "delete"
		}
		steps := []faultStep{
			{name: "apply read fails", op: "get", mode: "fail"},
			{name: "apply write answer lost", op: "put", mode: "lost", wrote: true},
			{name: "apply write never arrives", op: "put", mode: "fail"},
			{name: "apply read-back fails", op: "get", mode: "fail", skip: 1, wrote: true},
			{name: "undo read fails", undo: true, op: "get", mode: "fail"},
			{name: "undo write answer lost", undo: true, op: undoOp, mode: "lost", wrote: true},
			{name: "undo write never arrives", undo: true, op: undoOp, mode: "fail"},
			{name: "undo read-back fails", undo: true, op: "get", mode: "fail", skip: 1, wrote: true},
		}
		for _, st := range steps {
			t.Run(b.name+"/"+st.name, func(t *testing.T) {
				eachServerWith(t, b.kind, func(t *testing.T, e *env) {
					if b.before != nil {
						e.set(b.before)
					}
					wasPresent, wasRaw := e.state(b.kind)
					p, err := e.fixer.Inspect(e.ctx, b.kind, e.bucket, b.spec)
					if err != nil || p.AlreadyFixed {
						t.Fatalf("Inspect: AlreadyFixed=%v err=%v", p.AlreadyFixed, err)
					}
					p = stored(t, p)
					op := ops[b.kind][st.op]

					// run does f with the fault armed: f must fail (not with ErrChanged), the
					// fault must have fired, and the same call again must succeed.
					run := func(what string, f func() error) {
						t.Helper()
						e.spy.failOnce(op, st.mode, st.skip)
						err := f()
						if e.spy.pending() {
							t.Fatalf("%s never called %s %d times: the fault did not fire", what, op, st.skip+1)
						}
						if err == nil || errors.Is(err, ErrChanged) || !errors.Is(err, errInjected) {
							t.Fatalf("%s with %s %s: %v; want the injected error, not ErrChanged", what, op, st.mode, err)
						}
						if readBack := st.skip == 1; errors.Is(err, ErrUnverified) != readBack {
							t.Fatalf("%s with %s %s: %v; ErrUnverified is for the read-back (and only it)", what, op, st.mode, err)
						}
						e.spy.reset()
						if err := f(); err != nil {
							t.Fatalf("%s again after %s %s: %v", what, op, st.mode, err)
						}
						if st.wrote && e.spy.writes() != 0 {
							t.Fatalf("%s again wrote %d times, but the first write had landed", what, e.spy.writes())
						}
						if !st.wrote && e.spy.writes() != 1 {
							t.Fatalf("%s again wrote %d times, want 1 (the first one never landed)", what, e.spy.writes())
						}
					}

					apply := func() error { _, err := e.fixer.Apply(e.ctx, p); return err }
					undo := func() error { return e.fixer.Undo(e.ctx, p) }
					if st.undo {
						if err := apply(); err != nil {
							t.Fatal(err)
						}
						run("Undo", undo)
					} else {
						run("Apply", apply)
						got, err := e.fixer.Apply(e.ctx, p)
						if err != nil || !got.AlreadyFixed {
							t.Fatalf("a third Apply: AlreadyFixed=%v err=%v", got.AlreadyFixed, err)
						}
						if err := undo(); err != nil {
							t.Fatalf("Undo: %v", err)
						}
					}
					if present, raw := e.state(b.kind); present != wasPresent || raw != wasRaw {
						t.Fatalf("after Undo S3 shows %v %s; before Apply it showed %v %s", present, raw, wasPresent, wasRaw)
					}
				})
			})
		}
	}
}

// TestChangeRightAfterTheWriteIsNotSuccess: someone changes the bucket between the Fixer's write
// and its read-back. The Fixer does not report success (ErrUnverified, naming what S3 shows);
// the same plan again answers ErrChanged and writes nothing, and the other change stays.
func TestChangeRightAfterTheWriteIsNotSuccess(t *testing.T) {
	for _, tc := range changeCases() {
		t.Run(tc.name, func(t *testing.T) {
			eachServerWith(t, tc.kind, func(t *testing.T, e *env) {
				if tc.before != nil {
					e.set(tc.before)
				}
				p, err := e.fixer.Inspect(e.ctx, tc.kind, e.bucket, tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				p = stored(t, p)
				e.spy.after = func(op string) { e.spy.after = nil; e.set(tc.other) }
				_, err = e.fixer.Apply(e.ctx, p)
				if !errors.Is(err, ErrUnverified) || errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "S3 now shows") {
					t.Fatalf("Apply overtaken right after its write: %v; want ErrUnverified saying what S3 shows", err)
				}
				_, otherRaw := e.state(tc.kind)
				e.spy.reset()
				if _, err := e.fixer.Apply(e.ctx, p); !errors.Is(err, ErrChanged) || e.spy.writes() != 0 {
					t.Fatalf("Apply again: %v, %d writes; want ErrChanged and no write", err, e.spy.writes())
				}
				if err := e.fixer.Undo(e.ctx, p); !errors.Is(err, ErrChanged) || e.spy.writes() != 0 {
					t.Fatalf("Undo: %v, %d writes; want ErrChanged and no write", err, e.spy.writes())
				}
				if _, raw := e.state(tc.kind); raw != otherRaw {
					t.Fatalf("S3 shows %s, want the other change %s untouched", raw, otherRaw)
				}
			})
		})
	}
}
