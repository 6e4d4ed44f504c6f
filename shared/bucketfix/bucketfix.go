// Package bucketfix owns the S3 side of bucket-setting remediations (Macie policy findings):
// it reads a bucket's setting and snapshots it exactly as S3 returned it, plans the fixed
// setting, applies it only when the bucket is still in the snapshotted state, and undoes it
// back to the exact snapshot only when the bucket is still in the fixed state.
//
// It knows nothing of the ledger, Slack or the policy file: the caller stores the Plan (its
// Before snapshot) before calling Apply, and passes the same Plan to Undo later.
//
// Every call re-reads the bucket before writing, so a lost answer, a crash after the write,
// a repeat, or two callers at once all converge: a re-run that finds the fixed state reports
// AlreadyFixed instead of writing again, and a bucket that someone else changed is refused with
// ErrChanged instead of being overwritten. After every write the setting is read back, and
// success is reported only for the state S3 shows. (On AWS a bucket setting can take a moment
// to become visible; a read-back that still shows the old state is an error asking to run
// again, which then converges.)
//
// The three remediations:
//   - BlockPublicAccess: all four bucket-level settings on. It blocks public ACLs and policies
//     without deleting them, so Undo gives the bucket back exactly as it was; a bucket with no
//     setting at all is restored with DeletePublicAccessBlock.
//   - DefaultEncryption: AES256 (SSE-S3), or aws:kms with the policy's key and its bucket-key
//     choice. A block on SSE-C uploads (BlockedEncryptionTypes) is kept.
//   - ExternalReplication: only enabled rules whose destination account is outside the
//     organization are set to Disabled; the role and every other field of every rule are kept.
//     The destination account is Destination.Account: an S3 bucket ARN carries no account, so a
//     rule that does not name one has an unknown destination, which is treated as outside the
//     organization (disabled) and named in Plan.Notes so the approver sees why.
package bucketfix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Kind is the bucket setting a remediation changes.
type Kind string

const (
	// BlockPublicAccess turns all four bucket-level Block Public Access settings on
	// (S3BlockPublicAccessDisabled, S3BucketPublic).
	BlockPublicAccess Kind = "block-public-access"
	// DefaultEncryption sets the bucket's default encryption to what the policy names
	// (S3BucketEncryptionDisabled).
	DefaultEncryption Kind = "default-encryption"
	// ExternalReplication disables only the replication rules whose destination account is
	// outside the organization (S3BucketReplicatedExternally).
	ExternalReplication Kind = "external-replication"
)

// KindFor maps a Macie finding type ("Policy:IAMUser/S3BucketPublic", or the bare
// "S3BucketPublic") to the bucket setting that remediates it. It answers false for
// S3BucketShared* (sharing is the bucket policy's intent; we show it, we do not rewrite it),
// unknown types and sensitive-data findings.
func KindFor(findingType string) (Kind, bool) {
	switch strings.TrimPrefix(findingType, "Policy:IAMUser/") {
	case "S3BlockPublicAccessDisabled", "S3BucketPublic":
		return BlockPublicAccess, true
	case "S3BucketEncryptionDisabled":
		return DefaultEncryption, true
	case "S3BucketReplicatedExternally":
		return ExternalReplication, true
	}
	return "", false
}

// Encryption is the DefaultEncryption target.
type Encryption struct {
	Algorithm string // "AES256" | "aws:kms"
	KMSKeyID  string // aws:kms only; empty means the AWS managed key aws/s3
	BucketKey bool   // aws:kms only: S3 Bucket Key enabled
}

// Spec is what the policy says the fixed setting is.
type Spec struct {
	Encryption Encryption // DefaultEncryption target
	// InOrg reports whether a replication destination account is inside the organization
	// (ExternalReplication). An error stops the Inspect: we never guess.
	InOrg func(ctx context.Context, account string) (bool, error)
}

// Snapshot is a bucket setting exactly as S3 returned it. It is stored in the ledger before
// anything changes and is JSON-serialisable.
//
// Raw holds the configuration member of the SDK's Get output, JSON-encoded:
// types.PublicAccessBlockConfiguration, types.ServerSideEncryptionConfiguration or
// types.ReplicationConfiguration. That is the type the matching Put takes, so Undo writes back
// exactly what S3 gave us. Raw is empty when Present is false.
type Snapshot struct {
	Kind    Kind
	Bucket  string
	Present bool            // false when S3 said the configuration does not exist (NoSuch...Configuration)
	Raw     json.RawMessage // the configuration exactly as S3 returned it (the SDK output type, JSON-encoded)
}

// Plan is a change to one bucket setting: the state it was made from, the state it produces,
// and the words a person sees in Slack (plain text: the caller escapes it for mrkdwn, since
// bucket names and rule IDs are attacker-controlled).
type Plan struct {
	Before       Snapshot
	After        json.RawMessage // the configuration Apply writes, same encoding as Snapshot.Raw
	BeforeText   string          // e.g. "Block Public Access: none"
	AfterText    string          // e.g. "Block Public Access: all four on"
	AlreadyFixed bool            // the bucket already is in the After state: nothing to write
	Notes        []string        // things the approver should know (e.g. an unknown destination account)
}

// ErrChanged means the bucket is no longer in the state the plan was made from (Apply) or left
// in (Undo); nothing was written. Check with errors.Is. The fix is to Inspect again and decide
// on the new state.
var ErrChanged = errors.New("bucket setting changed since the plan was made")

// ErrUnverified means Apply or Undo wrote, but reading the setting back did not show the state
// it wrote: the read failed, the change is not visible yet (bucket settings are eventually
// consistent on AWS), or someone changed the bucket right after the write. Running the same plan
// again is safe and settles it: AlreadyFixed / a no-op when the write shows, ErrChanged when
// someone else's change does. Check with errors.Is.
var ErrUnverified = errors.New("bucket setting written but not verified")

// API is the part of *s3.Client the Fixer uses.
type API interface {
	GetPublicAccessBlock(ctx context.Context, in *s3.GetPublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	PutPublicAccessBlock(ctx context.Context, in *s3.PutPublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
	DeletePublicAccessBlock(ctx context.Context, in *s3.DeletePublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.DeletePublicAccessBlockOutput, error)
	GetBucketEncryption(ctx context.Context, in *s3.GetBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	PutBucketEncryption(ctx context.Context, in *s3.PutBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error)
	DeleteBucketEncryption(ctx context.Context, in *s3.DeleteBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.DeleteBucketEncryptionOutput, error)
	GetBucketReplication(ctx context.Context, in *s3.GetBucketReplicationInput, optFns ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error)
	PutBucketReplication(ctx context.Context, in *s3.PutBucketReplicationInput, optFns ...func(*s3.Options)) (*s3.PutBucketReplicationOutput, error)
	DeleteBucketReplication(ctx context.Context, in *s3.DeleteBucketReplicationInput, optFns ...func(*s3.Options)) (*s3.DeleteBucketReplicationOutput, error)
}

// Fixer reads and changes bucket settings through S3 (a client acting as the member account's
// bucket-settings role).
//
// S3's bucket-configuration APIs take no condition, so "re-read, then write" leaves a window in
// which someone else's change can be overwritten. The Fixer keeps it as small as it can (one
// read immediately before the write) and reads again after every write: it reports success only
// for a state it saw, so a change that raced it is an error, never a silent success.
type Fixer struct{ S3 API }

// Inspect reads the bucket's current setting and plans the fix. Nothing is written. A plan whose
// bucket already is in the fixed state says AlreadyFixed.
func (f *Fixer) Inspect(ctx context.Context, kind Kind, bucket string, spec Spec) (Plan, error) {
	if err := f.ready(); err != nil {
		return Plan{}, err
	}
	ops, err := opsFor(kind)
	if err != nil {
		return Plan{}, err
	}
	if bucket == "" {
		return Plan{}, fmt.Errorf("bucketfix: inspect %s: the bucket name is empty (the finding's resourcesAffected.s3Bucket.name)", kind)
	}
	before, err := ops.read(ctx, f.S3, bucket)
	if err != nil {
		return Plan{}, err
	}
	after, notes, err := ops.target(ctx, before, spec)
	if err != nil {
		return Plan{}, fmt.Errorf("bucketfix: plan %s for bucket %s: %w", kind, bucket, err)
	}
	p := Plan{Before: before, After: after, Notes: notes}
	afterSnap := p.afterSnapshot()
	if p.BeforeText, err = ops.text(before); err != nil {
		return Plan{}, err
	}
	if p.AfterText, err = ops.text(afterSnap); err != nil {
		return Plan{}, err
	}
	if p.AlreadyFixed, err = same(ops, before, afterSnap); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// Apply re-reads the setting first: when it equals p.After the result is AlreadyFixed and
// nothing is written (a re-run after a lost answer, or a second Apply); when it differs from
// p.Before the answer is ErrChanged and nothing is written; otherwise it writes p.After and
// reads it back. The returned plan says AlreadyFixed when this call wrote nothing.
func (f *Fixer) Apply(ctx context.Context, p Plan) (Plan, error) {
	if err := f.ready(); err != nil {
		return p, err
	}
	ops, err := p.check()
	if err != nil {
		return p, err
	}
	after := p.afterSnapshot()
	cur, err := ops.read(ctx, f.S3, p.Before.Bucket)
	if err != nil {
		return p, err
	}
	if ok, err := same(ops, cur, after); err != nil || ok {
		p.AlreadyFixed = ok
		return p, err
	}
	if ok, err := same(ops, cur, p.Before); err != nil {
		return p, err
	} else if !ok {
		return p, changed(ops, "apply", cur, p.BeforeText, after)
	}
	if err := ops.write(ctx, f.S3, after); err != nil {
		return p, err
	}
	if err := f.verify(ctx, ops, "apply", after); err != nil {
		return p, err
	}
	p.AlreadyFixed = false
	return p, nil
}

// Undo re-reads the setting first: when it equals p.Before it is a no-op (undone already, or
// never applied); when it differs from p.After the answer is ErrChanged and nothing is written;
// otherwise it restores p.Before exactly (Delete* when the configuration was not Present) and
// reads it back.
func (f *Fixer) Undo(ctx context.Context, p Plan) error {
	if err := f.ready(); err != nil {
		return err
	}
	ops, err := p.check()
	if err != nil {
		return err
	}
	after := p.afterSnapshot()
	cur, err := ops.read(ctx, f.S3, p.Before.Bucket)
	if err != nil {
		return err
	}
	if ok, err := same(ops, cur, p.Before); err != nil || ok {
		return err
	}
	if ok, err := same(ops, cur, after); err != nil {
		return err
	} else if !ok {
		return changed(ops, "undo", cur, p.AfterText, p.Before)
	}
	if err := ops.write(ctx, f.S3, p.Before); err != nil {
		return err
	}
	return f.verify(ctx, ops, "undo", p.Before)
}

// ready refuses a Fixer without a client instead of panicking on the first call.
func (f *Fixer) ready() error {
	if f == nil || f.S3 == nil {
		return errors.New("bucketfix: the Fixer has no S3 client (Fixer.S3 is nil): build it with the bucket-settings role's client")
	}
	return nil
}

// verify reads the setting back after a write: success is reported only for a state S3 shows.
func (f *Fixer) verify(ctx context.Context, ops kindOps, what string, want Snapshot) error {
	got, err := ops.read(ctx, f.S3, want.Bucket)
	if err != nil {
		return fmt.Errorf("%w: %s wrote %s on bucket %s but could not read it back (run it again: a repeat is safe): %w", ErrUnverified, what, ops.kind, want.Bucket, err)
	}
	ok, err := same(ops, got, want)
	if err != nil {
		return err
	}
	if !ok {
		gotText, _ := ops.text(got)
		wantText, _ := ops.text(want)
		return fmt.Errorf("%w: %s wrote %s on bucket %s but S3 now shows %q, not %q: the change is not visible yet, or someone changed it at the same moment; run it again (it converges, or answers ErrChanged)",
			ErrUnverified, what, ops.kind, want.Bucket, gotText, wantText)
	}
	return nil
}

// changed is the ErrChanged a refused Apply or Undo returns, saying what the bucket shows now.
func changed(ops kindOps, what string, cur Snapshot, expectedText string, target Snapshot) error {
	curText, err := ops.text(cur)
	if err != nil {
		curText = "(unreadable: " + err.Error() + ")"
	}
	targetText, _ := ops.text(target)
	if expectedText == "" {
		expectedText = "(the planned state)"
	}
	return fmt.Errorf("%w: %s on bucket %s: S3 now shows %q, the plan expected %q before changing it to %q; nothing was written, inspect the bucket again",
		ErrChanged, what, cur.Bucket, curText, expectedText, targetText)
}

// afterSnapshot is the state Apply produces, as a Snapshot to compare with what S3 shows.
func (p Plan) afterSnapshot() Snapshot {
	raw := bytes.TrimSpace(p.After)
	present := len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
	s := Snapshot{Kind: p.Before.Kind, Bucket: p.Before.Bucket, Present: present}
	if present {
		s.Raw = p.After
	}
	return s
}

// check validates a plan that came back from storage before acting on it.
func (p Plan) check() (kindOps, error) {
	ops, err := opsFor(p.Before.Kind)
	if err != nil {
		return ops, err
	}
	if p.Before.Bucket == "" {
		return ops, fmt.Errorf("bucketfix: the %s plan names no bucket (Before.Bucket is empty): the stored plan is damaged; inspect the bucket again", p.Before.Kind)
	}
	// Only a replication fix can leave "no configuration" (there was none); for the others an
	// empty After would make Apply delete the setting it is meant to turn on.
	if !p.afterSnapshot().Present && p.Before.Kind != ExternalReplication {
		return ops, fmt.Errorf("bucketfix: the %s plan for bucket %s has no After configuration: the stored plan is damaged; inspect the bucket again", p.Before.Kind, p.Before.Bucket)
	}
	for _, s := range []Snapshot{p.Before, p.afterSnapshot()} {
		if s.Present {
			if _, err := ops.canonical(s.Raw); err != nil {
				return ops, fmt.Errorf("bucketfix: the %s plan for bucket %s holds a configuration that does not decode (%v): the stored plan is damaged; inspect the bucket again", p.Before.Kind, p.Before.Bucket, err)
			}
		}
	}
	return ops, nil
}

// same reports whether two snapshots are the same S3 state: both absent, or both present with
// the same configuration once decoded (an unset flag and a false one are the same).
func same(ops kindOps, a, b Snapshot) (bool, error) {
	if a.Present != b.Present {
		return false, nil
	}
	if !a.Present {
		return true, nil
	}
	ca, err := ops.canonical(a.Raw)
	if err != nil {
		return false, fmt.Errorf("bucketfix: decode %s of bucket %s: %w", ops.kind, a.Bucket, err)
	}
	cb, err := ops.canonical(b.Raw)
	if err != nil {
		return false, fmt.Errorf("bucketfix: decode %s of bucket %s: %w", ops.kind, b.Bucket, err)
	}
	return bytes.Equal(ca, cb), nil
}
