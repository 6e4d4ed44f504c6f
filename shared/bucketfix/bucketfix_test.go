package bucketfix

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestKindFor(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want Kind
		ok   bool
	}{
		{"Policy:IAMUser/S3BlockPublicAccessDisabled", BlockPublicAccess, true},
		{"Policy:IAMUser/S3BucketPublic", BlockPublicAccess, true},
		{"Policy:IAMUser/S3BucketEncryptionDisabled", DefaultEncryption, true},
		{"Policy:IAMUser/S3BucketReplicatedExternally", ExternalReplication, true},
		{"S3BucketPublic", BlockPublicAccess, true},
		{"Policy:IAMUser/S3BucketSharedExternally", "", false},
		{"Policy:IAMUser/S3BucketSharedWithCloudFront", "", false},
		{"Policy:IAMUser/S3SomethingNew", "", false},
		{"SensitiveData:S3Object/Personal", "", false},
		{"", "", false},
	} {
		got, ok := KindFor(tc.typ)
		if got != tc.want || ok != tc.ok {
			t.Errorf("KindFor(%q) = %q, %v; want %q, %v", tc.typ, got, ok, tc.want, tc.ok)
		}
	}
}

// decodeState decodes a configuration read with env.state.
func decodeState[T any](t testing.TB, raw string) *T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return &v
}

type roundTrip struct {
	name       string
	kind       Kind
	before     any // configuration set before the finding; nil: none
	spec       Spec
	beforeText string
	afterText  string
	notes      []string // substrings, one per note, in order
	// applied checks S3's state after Apply.
	applied func(t *testing.T, present bool, raw string)
}

var kmsKey = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

func allFourOn(t *testing.T, present bool, raw string) {
	c := decodeState[types.PublicAccessBlockConfiguration](t, raw)
	if !present || !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.IgnorePublicAcls) || !aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.RestrictPublicBuckets) {
		t.Fatalf("after Apply S3 shows Block Public Access %v %s, want all four on", present, raw)
	}
}

func encryptionIs(alg types.ServerSideEncryption, key string, bucketKey bool) func(t *testing.T, present bool, raw string) {
	return func(t *testing.T, present bool, raw string) {
		c := decodeState[types.ServerSideEncryptionConfiguration](t, raw)
		if !present || len(c.Rules) != 1 || c.Rules[0].ApplyServerSideEncryptionByDefault == nil {
			t.Fatalf("after Apply S3 shows encryption %v %s, want one rule", present, raw)
		}
		r := c.Rules[0]
		if r.ApplyServerSideEncryptionByDefault.SSEAlgorithm != alg || aws.ToString(r.ApplyServerSideEncryptionByDefault.KMSMasterKeyID) != key || aws.ToBool(r.BucketKeyEnabled) != bucketKey {
			t.Fatalf("after Apply S3 shows encryption %s, want %s key %q bucket key %v", raw, alg, key, bucketKey)
		}
	}
}

// mixedReplication has one rule of every sort: to the bucket's own account, to another org
// account, to an external account, with no account, and an external one already disabled.
func mixedReplication() *types.ReplicationConfiguration {
	return replication(
		rule("own", "own/", 1, types.ReplicationRuleStatusEnabled, "backup-own", memberAccount),
		rule("org", "org/", 2, types.ReplicationRuleStatusEnabled, "backup-org", orgAccount),
		rule("ext", "ext/", 3, types.ReplicationRuleStatusEnabled, "partner-bucket", externalAccount),
		rule("noacct", "na/", 4, types.ReplicationRuleStatusEnabled, "somewhere", ""),
		rule("ext-off", "off/", 5, types.ReplicationRuleStatusDisabled, "partner-old", externalAccount),
	)
}

// onlyExternalDisabled checks that exactly rules "ext" and "noacct" changed, to Disabled, and
// the role and every other field of every rule are as before.
func onlyExternalDisabled(beforeRaw func() string) func(t *testing.T, present bool, raw string) {
	return func(t *testing.T, present bool, raw string) {
		if !present {
			t.Fatal("after Apply the bucket has no replication configuration; want one with the external rules disabled")
		}
		before := decodeState[types.ReplicationConfiguration](t, beforeRaw())
		after := decodeState[types.ReplicationConfiguration](t, raw)
		if aws.ToString(after.Role) != aws.ToString(before.Role) || len(after.Rules) != len(before.Rules) {
			t.Fatalf("after Apply: role/rules %s, before %s", raw, beforeRaw())
		}
		for i := range before.Rules {
			b, a := before.Rules[i], after.Rules[i]
			want := b.Status
			if id := aws.ToString(b.ID); id == "ext" || id == "noacct" {
				want = types.ReplicationRuleStatusDisabled
			}
			if a.Status != want {
				t.Errorf("rule %s: status %s, want %s", aws.ToString(a.ID), a.Status, want)
			}
			a.Status = b.Status
			bj, _ := json.Marshal(b)
			aj, _ := json.Marshal(a)
			if string(aj) != string(bj) {
				t.Errorf("rule %s changed beyond its status:\nbefore %s\nafter  %s", aws.ToString(b.ID), bj, aj)
			}
		}
	}
}

// TestApplyIsIdempotentAndUndoRestoresExactly: for each remediation, from S3's side: Apply gives
// the fixed setting; a second Apply writes nothing; Undo gives back exactly what S3 showed
// before (Delete* when nothing was configured); a second Undo writes nothing.
func TestApplyIsIdempotentAndUndoRestoresExactly(t *testing.T) {
	var replBefore string
	cases := []roundTrip{
		{name: "bpa none configured", kind: BlockPublicAccess,
			beforeText: "Block Public Access: none (not configured)", afterText: "Block Public Access: all four on", applied: allFourOn},
		{name: "bpa all off", kind: BlockPublicAccess, before: bpa(false, false, false, false),
			beforeText: "Block Public Access: none", afterText: "Block Public Access: all four on", applied: allFourOn},
		{name: "bpa two of four", kind: BlockPublicAccess, before: bpa(true, true, false, false),
			beforeText: "Block Public Access: 2 of 4 on (BlockPublicAcls, IgnorePublicAcls)", afterText: "Block Public Access: all four on", applied: allFourOn},
		{name: "encryption none to AES256", kind: DefaultEncryption, spec: Spec{Encryption: Encryption{Algorithm: "AES256", BucketKey: true}},
			beforeText: "Default encryption: none", afterText: "Default encryption: SSE-S3 (AES256)", applied: encryptionIs("AES256", "", false)},
		{name: "encryption none to KMS", kind: DefaultEncryption, spec: Spec{Encryption: Encryption{Algorithm: "aws:kms", KMSKeyID: kmsKey, BucketKey: true}},
			beforeText: "Default encryption: none", afterText: "Default encryption: SSE-KMS (key " + kmsKey + ", bucket key on)", applied: encryptionIs("aws:kms", kmsKey, true)},
		{name: "encryption AES256 to KMS", kind: DefaultEncryption, before: sse("AES256", "", false), spec: Spec{Encryption: Encryption{Algorithm: "aws:kms", KMSKeyID: kmsKey, BucketKey: true}},
			beforeText: "Default encryption: SSE-S3 (AES256)", afterText: "Default encryption: SSE-KMS (key " + kmsKey + ", bucket key on)", applied: encryptionIs("aws:kms", kmsKey, true)},
		{name: "encryption other KMS key to policy key", kind: DefaultEncryption, before: sse("aws:kms", "alias/team-key", false), spec: Spec{Encryption: Encryption{Algorithm: "aws:kms", KMSKeyID: kmsKey, BucketKey: true}},
			beforeText: "Default encryption: SSE-KMS (key alias/team-key, bucket key off)", afterText: "Default encryption: SSE-KMS (key " + kmsKey + ", bucket key on)", applied: encryptionIs("aws:kms", kmsKey, true)},
		{name: "replication mixed rules", kind: ExternalReplication, before: mixedReplication(), spec: Spec{InOrg: inOrg},
			beforeText: `Replication: rule "own" → arn:aws:s3:::backup-own (111122223333) enabled; rule "org" → arn:aws:s3:::backup-org (222233334444) enabled; rule "ext" → arn:aws:s3:::partner-bucket (444455556666) enabled; rule "noacct" → arn:aws:s3:::somewhere (account unknown) enabled; rule "ext-off" → arn:aws:s3:::partner-old (444455556666) disabled`,
			afterText:  `Replication: rule "own" → arn:aws:s3:::backup-own (111122223333) enabled; rule "org" → arn:aws:s3:::backup-org (222233334444) enabled; rule "ext" → arn:aws:s3:::partner-bucket (444455556666) disabled; rule "noacct" → arn:aws:s3:::somewhere (account unknown) disabled; rule "ext-off" → arn:aws:s3:::partner-old (444455556666) disabled`,
			notes:      []string{`rule "ext" replicates to arn:aws:s3:::partner-bucket in account 444455556666, outside the organization`, `rule "noacct" replicates to arn:aws:s3:::somewhere, whose account the rule does not name`},
			applied:    onlyExternalDisabled(func() string { return replBefore })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachServerWith(t, tc.kind, func(t *testing.T, e *env) {
				if tc.before != nil {
					e.set(tc.before)
				}
				wasPresent, wasRaw := e.state(tc.kind)
				replBefore = wasRaw

				p, err := e.fixer.Inspect(e.ctx, tc.kind, e.bucket, tc.spec)
				if err != nil {
					t.Fatalf("Inspect: %v", err)
				}
				if e.spy.writes() != 0 {
					t.Fatalf("Inspect wrote %d times", e.spy.writes())
				}
				if p.AlreadyFixed {
					t.Fatalf("Inspect says AlreadyFixed for %s", wasRaw)
				}
				if p.BeforeText != tc.beforeText || p.AfterText != tc.afterText {
					t.Errorf("texts:\n got %q → %q\nwant %q → %q", p.BeforeText, p.AfterText, tc.beforeText, tc.afterText)
				}
				if len(p.Notes) != len(tc.notes) {
					t.Errorf("notes %q, want %d like %q", p.Notes, len(tc.notes), tc.notes)
				}
				for i := range tc.notes {
					if i < len(p.Notes) && !strings.Contains(p.Notes[i], tc.notes[i]) {
						t.Errorf("note %d: %q does not say %q", i, p.Notes[i], tc.notes[i])
					}
				}
				if p.Before.Present != wasPresent || (wasPresent && string(p.Before.Raw) != wasRaw) {
					t.Fatalf("snapshot %v %s, S3 showed %v %s", p.Before.Present, p.Before.Raw, wasPresent, wasRaw)
				}
				p = stored(t, p)

				got, err := e.fixer.Apply(e.ctx, p)
				if err != nil || got.AlreadyFixed {
					t.Fatalf("Apply: AlreadyFixed=%v err=%v", got.AlreadyFixed, err)
				}
				present, raw := e.state(tc.kind)
				tc.applied(t, present, raw)

				e.spy.reset()
				again, err := e.fixer.Apply(e.ctx, stored(t, got))
				if err != nil || !again.AlreadyFixed || e.spy.writes() != 0 {
					t.Fatalf("second Apply: AlreadyFixed=%v err=%v writes=%d; want AlreadyFixed, no write", again.AlreadyFixed, err, e.spy.writes())
				}

				if err := e.fixer.Undo(e.ctx, stored(t, p)); err != nil {
					t.Fatalf("Undo: %v", err)
				}
				present, raw = e.state(tc.kind)
				if present != wasPresent || raw != wasRaw {
					t.Fatalf("after Undo S3 shows %v %s; before Apply it showed %v %s", present, raw, wasPresent, wasRaw)
				}
				wantOp := map[Kind]string{BlockPublicAccess: "PublicAccessBlock", DefaultEncryption: "BucketEncryption", ExternalReplication: "BucketReplication"}[tc.kind]
				if !wasPresent && e.spy.count("Delete"+wantOp) != 1 {
					t.Fatalf("Undo of a bucket with no configuration made %d Delete%s calls, want 1", e.spy.count("Delete"+wantOp), wantOp)
				}

				e.spy.reset()
				if err := e.fixer.Undo(e.ctx, stored(t, p)); err != nil || e.spy.writes() != 0 {
					t.Fatalf("second Undo: err=%v writes=%d; want a no-op", err, e.spy.writes())
				}
				if present, raw = e.state(tc.kind); present != wasPresent || raw != wasRaw {
					t.Fatalf("after the second Undo S3 shows %v %s; want %v %s", present, raw, wasPresent, wasRaw)
				}
			})
		})
	}
}

// TestAlreadyFixedWritesNothing: a bucket that already has the fixed setting is AlreadyFixed at
// Inspect, Apply writes nothing, and Undo is a no-op.
func TestAlreadyFixedWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   Kind
		before any
		spec   Spec
	}{
		{"bpa all four on", BlockPublicAccess, bpa(true, true, true, true), Spec{}},
		{"encryption AES256 wanted AES256", DefaultEncryption, sse("AES256", "", false), Spec{Encryption: Encryption{Algorithm: "AES256"}}},
		{"encryption policy KMS key", DefaultEncryption, sse("aws:kms", kmsKey, true), Spec{Encryption: Encryption{Algorithm: "aws:kms", KMSKeyID: kmsKey, BucketKey: true}}},
		{"replication no configuration", ExternalReplication, nil, Spec{InOrg: inOrg}},
		{"replication only org rules", ExternalReplication, replication(
			rule("own", "own/", 1, types.ReplicationRuleStatusEnabled, "backup-own", memberAccount),
			rule("org", "org/", 2, types.ReplicationRuleStatusEnabled, "backup-org", orgAccount),
			rule("ext-off", "off/", 3, types.ReplicationRuleStatusDisabled, "partner", externalAccount)), Spec{InOrg: inOrg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachServerWith(t, tc.kind, func(t *testing.T, e *env) {
				if tc.before != nil {
					e.set(tc.before)
				}
				wasPresent, wasRaw := e.state(tc.kind)
				p, err := e.fixer.Inspect(e.ctx, tc.kind, e.bucket, tc.spec)
				if err != nil || !p.AlreadyFixed {
					t.Fatalf("Inspect: AlreadyFixed=%v err=%v; want AlreadyFixed", p.AlreadyFixed, err)
				}
				if p.BeforeText != p.AfterText {
					t.Errorf("texts %q → %q: an already fixed bucket should read the same before and after", p.BeforeText, p.AfterText)
				}
				got, err := e.fixer.Apply(e.ctx, stored(t, p))
				if err != nil || !got.AlreadyFixed {
					t.Fatalf("Apply: AlreadyFixed=%v err=%v", got.AlreadyFixed, err)
				}
				if err := e.fixer.Undo(e.ctx, stored(t, p)); err != nil {
					t.Fatalf("Undo: %v", err)
				}
				if e.spy.writes() != 0 {
					t.Fatalf("%d writes to an already fixed bucket", e.spy.writes())
				}
				if present, raw := e.state(tc.kind); present != wasPresent || raw != wasRaw {
					t.Fatalf("S3 shows %v %s, want it untouched: %v %s", present, raw, wasPresent, wasRaw)
				}
			})
		})
	}
}

// changeCase is a bucket, its fix, and a third state someone else puts on it.
type changeCase struct {
	name   string
	kind   Kind
	before any
	spec   Spec
	other  any
}

func changeCases() []changeCase {
	return []changeCase{
		{"bpa", BlockPublicAccess, bpa(true, true, false, false), Spec{}, bpa(false, false, true, false)},
		{"bpa none configured", BlockPublicAccess, nil, Spec{}, bpa(true, false, false, false)},
		{"encryption", DefaultEncryption, sse("AES256", "", false), Spec{Encryption: Encryption{Algorithm: "aws:kms", KMSKeyID: kmsKey, BucketKey: true}}, sse("aws:kms", "alias/someone-else", false)},
		{"replication", ExternalReplication, mixedReplication(), Spec{InOrg: inOrg}, replication(rule("new", "", 1, types.ReplicationRuleStatusEnabled, "elsewhere", externalAccount))},
	}
}

// TestRefusesWhenTheBucketChanged: a bucket changed between Inspect and Apply, or between Apply
// and Undo, is refused with ErrChanged and nothing is written: the other change stays.
func TestRefusesWhenTheBucketChanged(t *testing.T) {
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

				// Between Inspect and Apply.
				e.set(tc.other)
				_, otherRaw := e.state(tc.kind)
				e.spy.reset()
				_, err = e.fixer.Apply(e.ctx, p)
				if !errors.Is(err, ErrChanged) {
					t.Fatalf("Apply on a changed bucket: %v, want ErrChanged", err)
				}
				if !strings.Contains(err.Error(), e.bucket) {
					t.Errorf("the error does not name the bucket: %v", err)
				}
				if e.spy.writes() != 0 {
					t.Fatalf("Apply on a changed bucket wrote %d times", e.spy.writes())
				}
				if _, raw := e.state(tc.kind); raw != otherRaw {
					t.Fatalf("S3 shows %s, want the other change %s untouched", raw, otherRaw)
				}

				// Between Apply and Undo.
				if tc.before != nil {
					e.set(tc.before)
				} else {
					if _, err := e.client.DeletePublicAccessBlock(e.ctx, deletePAB(e.bucket)); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := e.fixer.Apply(e.ctx, p); err != nil {
					t.Fatalf("Apply on the planned state: %v", err)
				}
				e.set(tc.other)
				e.spy.reset()
				err = e.fixer.Undo(e.ctx, p)
				if !errors.Is(err, ErrChanged) {
					t.Fatalf("Undo on a changed bucket: %v, want ErrChanged", err)
				}
				if e.spy.writes() != 0 {
					t.Fatalf("Undo on a changed bucket wrote %d times", e.spy.writes())
				}
				if _, raw := e.state(tc.kind); raw != otherRaw {
					t.Fatalf("S3 shows %s, want the other change %s untouched", raw, otherRaw)
				}
			})
		})
	}
}

// TestConcurrentApplyAndUndo: two Applies that both read the bucket before either writes (held at
// a barrier) both succeed with the same fixed state, never ErrChanged; then two Undos the same.
func TestConcurrentApplyAndUndo(t *testing.T) {
	for _, tc := range changeCases() {
		t.Run(tc.name, func(t *testing.T) {
			eachServerWith(t, tc.kind, func(t *testing.T, e *env) {
				if tc.before != nil {
					e.set(tc.before)
				}
				wasPresent, wasRaw := e.state(tc.kind)
				p, err := e.fixer.Inspect(e.ctx, tc.kind, e.bucket, tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				p = stored(t, p)
				// twice runs f in two goroutines; each one's first write waits until the other
				// has reached its first write or finished (so a failing one never hangs the other).
				twice := func(f func(ctx context.Context) error) []error {
					var arrived sync.WaitGroup
					arrived.Add(2)
					e.spy.gate = func(ctx context.Context, _ string) {
						ctx.Value(arriveKey{}).(*sync.Once).Do(arrived.Done)
						arrived.Wait()
					}
					defer func() { e.spy.gate = nil }()
					errs := make([]error, 2)
					var done sync.WaitGroup
					for i := range errs {
						done.Add(1)
						once := &sync.Once{}
						ctx := context.WithValue(e.ctx, arriveKey{}, once)
						go func() {
							defer done.Done()
							errs[i] = f(ctx)
							once.Do(arrived.Done)
						}()
					}
					done.Wait()
					return errs
				}
				results := make([]Plan, 2)
				var n int
				var mu sync.Mutex
				for _, err := range twice(func(ctx context.Context) error {
					r, err := e.fixer.Apply(ctx, p)
					mu.Lock()
					results[n] = r
					n++
					mu.Unlock()
					return err
				}) {
					if err != nil {
						t.Fatalf("concurrent Apply: %v", err)
					}
				}
				for _, r := range results {
					if r.AlreadyFixed {
						t.Fatalf("both Applies read before either wrote, yet one says AlreadyFixed")
					}
				}
				again, err := e.fixer.Apply(e.ctx, p)
				if err != nil || !again.AlreadyFixed {
					t.Fatalf("Apply after the race: AlreadyFixed=%v err=%v", again.AlreadyFixed, err)
				}
				for _, err := range twice(func(ctx context.Context) error { return e.fixer.Undo(ctx, p) }) {
					if err != nil {
						t.Fatalf("concurrent Undo: %v", err)
					}
				}
				if present, raw := e.state(tc.kind); present != wasPresent || raw != wasRaw {
					t.Fatalf("after two Undos S3 shows %v %s, want %v %s", present, raw, wasPresent, wasRaw)
				}
			})
		})
	}
}

type arriveKey struct{}

// TestBadInput: what a person can get wrong gets an error naming it, and nothing is written.
func TestBadInput(t *testing.T) {
	eachServerWith(t, DefaultEncryption, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name string
			kind Kind
			spec Spec
			want string
		}{
			{"unknown kind", "make-it-safe", Spec{}, `unknown remediation kind "make-it-safe"`},
			{"no algorithm", DefaultEncryption, Spec{}, "names no default encryption algorithm"},
			{"unknown algorithm", DefaultEncryption, Spec{Encryption: Encryption{Algorithm: "rot13"}}, `algorithm "rot13" is not supported`},
			{"key with AES256", DefaultEncryption, Spec{Encryption: Encryption{Algorithm: "AES256", KMSKeyID: kmsKey}}, "a key needs algorithm aws:kms"},
		} {
			if _, err := e.fixer.Inspect(e.ctx, tc.kind, e.bucket, tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
			}
		}
		if _, err := e.fixer.Inspect(e.ctx, BlockPublicAccess, "", Spec{}); err == nil || !strings.Contains(err.Error(), "bucket name is empty") {
			t.Errorf("empty bucket: %v", err)
		}
		if _, err := e.fixer.Inspect(e.ctx, BlockPublicAccess, "no-such-bucket", Spec{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("missing bucket: %v", err)
		}
		e.set(mixedReplication())
		if _, err := e.fixer.Inspect(e.ctx, ExternalReplication, e.bucket, Spec{}); err == nil || !strings.Contains(err.Error(), "InOrg is not set") {
			t.Errorf("no InOrg: %v", err)
		}
		orgDown := func(context.Context, string) (bool, error) { return false, errors.New("organizations: throttled") }
		if _, err := e.fixer.Inspect(e.ctx, ExternalReplication, e.bucket, Spec{InOrg: orgDown}); err == nil || !strings.Contains(err.Error(), "throttled") || !strings.Contains(err.Error(), memberAccount) {
			t.Errorf("InOrg failing: %v, want the error and the account", err)
		}
		// A damaged stored plan is refused before anything is read or written.
		p, err := e.fixer.Inspect(e.ctx, BlockPublicAccess, e.bucket, Spec{})
		if err != nil {
			t.Fatal(err)
		}
		e.spy.reset()
		for _, after := range []string{`{"BlockPublicAcls":"yes"}`, `null`, ``} {
			d := p
			d.After = json.RawMessage(after)
			if _, err := e.fixer.Apply(e.ctx, d); err == nil || !strings.Contains(err.Error(), "damaged") {
				t.Errorf("damaged plan (After %q): Apply: %v", after, err)
			}
			if err := e.fixer.Undo(e.ctx, d); err == nil || !strings.Contains(err.Error(), "damaged") {
				t.Errorf("damaged plan (After %q): Undo: %v", after, err)
			}
		}
		if n := e.spy.count("GetPublicAccessBlock"); n != 0 {
			t.Errorf("a damaged plan was acted on: %d reads", n)
		}
		if e.spy.writes() != 0 {
			t.Fatalf("bad input wrote %d times", e.spy.writes())
		}
	})
}

// TestVersityGWSaysWhatIsMissing: versitygw implements none of the bucket-configuration APIs; a
// local setup pointed at it gets an error that says so and what to use, not a puzzle.
func TestVersityGWSaysWhatIsMissing(t *testing.T) {
	e := newEnvOn(t, "versitygw")
	for _, kind := range []Kind{BlockPublicAccess, DefaultEncryption, ExternalReplication} {
		_, err := e.fixer.Inspect(e.ctx, kind, e.bucket, Spec{Encryption: Encryption{Algorithm: "AES256"}, InOrg: inOrg})
		if err == nil || !strings.Contains(err.Error(), "does not implement") || !strings.Contains(err.Error(), "moto") {
			t.Errorf("%s on versitygw: %v, want it to say the endpoint does not implement it and to use moto", kind, err)
		}
	}
}
