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
// ErrChanged instead of being overwritten.
package bucketfix

import (
	"context"
	"encoding/json"
	"errors"

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

// KindFor maps a Macie finding type to the bucket setting that remediates it. It answers false
// for S3BucketShared* (a bucket policy is the owner's intent; we do not rewrite it), unknown
// types and sensitive-data findings.
func KindFor(findingType string) (Kind, bool) {
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
type Snapshot struct {
	Kind    Kind
	Bucket  string
	Present bool            // false when S3 said the configuration does not exist (NoSuch...Configuration)
	Raw     json.RawMessage // the configuration exactly as S3 returned it (the SDK output type, JSON-encoded)
}

// Plan is a change to one bucket setting: the state it was made from, the state it produces,
// and the words a person sees in Slack.
type Plan struct {
	Before       Snapshot
	After        json.RawMessage // the configuration Apply writes (SDK configuration type, JSON-encoded)
	BeforeText   string          // e.g. "Block Public Access: none"
	AfterText    string          // e.g. "Block Public Access: all four on"
	AlreadyFixed bool            // the bucket already is in the After state: nothing to write
	Notes        []string        // things the approver should know (e.g. an unknown destination account)
}

// ErrChanged means the bucket is no longer in the state the plan was made from; nothing was
// written. Check with errors.Is.
var ErrChanged = errors.New("bucket setting changed since the plan was made")

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
type Fixer struct{ S3 API }

var errNotImplemented = errors.New("bucketfix: not implemented yet")

// Inspect reads the bucket's current setting and plans the fix. Nothing is written.
func (f *Fixer) Inspect(ctx context.Context, kind Kind, bucket string, spec Spec) (Plan, error) {
	return Plan{}, errNotImplemented
}

// Apply re-reads the setting first: when it equals p.After the result is AlreadyFixed and
// nothing is written; when it differs from p.Before the answer is ErrChanged and nothing is
// written; otherwise it writes p.After.
func (f *Fixer) Apply(ctx context.Context, p Plan) (Plan, error) {
	return Plan{}, errNotImplemented
}

// Undo re-reads the setting first: when it equals p.Before it is a no-op; when it differs
// from p.After the answer is ErrChanged and nothing is written; otherwise it restores
// p.Before exactly (Delete* when the configuration was not Present).
func (f *Fixer) Undo(ctx context.Context, p Plan) error {
	return errNotImplemented
}
