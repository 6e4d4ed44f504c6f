// Package quarantine owns moving an object version out of a data bucket into the account's
// quarantine bucket, and back (Release). It is where a mistake leaks data or loses it, so every
// step keeps one invariant: at every moment the object's bytes exist intact in the source or in
// quarantine. Nothing is deleted before a verified copy exists, a version that is not the one
// Macie saw is never touched, and running Move again after a crash at any step finishes the job
// or sees that it is done.
//
// The order of a Move:
//
//  0. the quarantine bucket's versioning must be Enabled (ErrNeedsHuman otherwise): every version
//     of a key shares one DestKey, so without versioning one copy would replace another
//  1. resume lookup: a copy already made for this finding? (skipped when the caller knows this
//     is the first attempt)
//  2. HEAD the source version: still what Macie saw? (ErrObjectChanged, ErrObjectGone,
//     ErrNeedsHuman for archived storage classes and SSE-C)
//  3. copy exactly that version, keeping content headers, metadata and tags, adding our tags;
//     multipart UploadPartCopy above the threshold
//  4. verify the copy (size, and ETag where comparable)
//  5. Object Lock on the source: keep the copy, leave the source, report SourceLocked
//  6. delete exactly that version (and, in all-versions mode, the older versions after copying
//     them too), conditional on the ETag in unversioned buckets
//  7. optional tombstone at the original key
package quarantine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors callers check with errors.Is.
var (
	// ErrObjectChanged: the object is no longer what Macie saw. Nothing was touched.
	ErrObjectChanged = errors.New("object changed since the finding")
	// ErrObjectGone: the object (version) no longer exists and no copy was made by us. A result,
	// not a failure: there is nothing left to quarantine.
	ErrObjectGone = errors.New("object no longer exists")
	// ErrNeedsHuman: the object cannot be moved automatically (archived storage class, SSE-C).
	ErrNeedsHuman = errors.New("object needs a human")
	// ErrCopyMismatch: the copy did not verify. The source was not deleted.
	ErrCopyMismatch = errors.New("quarantine copy does not match the source")
	// ErrDestinationOccupied: Release found other data at the original key and did not overwrite it.
	ErrDestinationOccupied = errors.New("original key holds other data")
	// ErrQuarantineBucketRefused: the quarantine bucket refused the move's first call on it (the
	// read of its versioning), so this attempt wrote nothing anywhere. A caller that names the
	// bucket at run time (organization mode) may look it up again and move elsewhere; after any
	// later failure a copy may exist in that bucket, and the move must stay with it.
	ErrQuarantineBucketRefused = errors.New("quarantine bucket refused the move before anything was written")
)

// refused marks err as ErrQuarantineBucketRefused, keeping its message and its chain.
type refused struct{ err error }

func (r *refused) Error() string        { return r.err.Error() }
func (r *refused) Unwrap() error        { return r.err }
func (r *refused) Is(target error) bool { return target == ErrQuarantineBucketRefused }

// Refused marks err as the quarantine bucket's refusal before anything was written (see
// ErrQuarantineBucketRefused); for stand-ins of the engine in tests.
func Refused(err error) error { return &refused{err} }

// Object is the object a finding is about.
type Object struct {
	AccountID string
	Region    string
	Bucket    string
	Key       string
	// VersionID is the version Macie saw; "" when Macie did not record one, and then ETag must
	// match the current object.
	VersionID string
	ETag      string
	Size      int64
	// Encryption is the finding's serverSideEncryption.encryptionType (e.g. "aws:kms", "AES256").
	Encryption string
}

func (o Object) String() string {
	s := "s3://" + o.Bucket + "/" + o.Key
	if o.VersionID != "" {
		s += " (version " + o.VersionID + ")"
	}
	return s
}

// Settings are the quarantine settings of the policy decision.
type Settings struct {
	Bucket     string // quarantine bucket in the object's account
	DeleteMode string // "version" (default) or "all-versions"
	Tombstone  bool
	KMSKeyID   string // encrypt copies with this key; "" = the bucket's default encryption
}

// Request is one Move.
type Request struct {
	FindingID string
	Object    Object
	Settings  Settings
	// DecidedBy is "policy" or the Slack user who approved.
	DecidedBy string
	// FirstAttempt says the caller knows no earlier attempt for this finding ran (the ledger just
	// moved it to IN_PROGRESS for the first time), so the resume lookup is skipped.
	FirstAttempt bool
}

// Outcome is what a Move or Release ended with.
type Outcome string

// Outcomes.
const (
	// Moved: copied, verified, source version deleted.
	Moved Outcome = "MOVED"
	// AlreadyDone: an earlier run completed; nothing new was done (beyond finishing touches).
	AlreadyDone Outcome = "ALREADY_DONE"
	// SourceLocked: copied and verified, but Object Lock forbids deleting the source. The data is
	// still readable in the source until the lock ends: never report this as success.
	SourceLocked Outcome = "COPIED_SOURCE_LOCKED"
	// Released: restored to the original key, quarantine version deleted.
	Released Outcome = "RELEASED"
)

// Result says exactly what happened.
type Result struct {
	Outcome Outcome `json:"outcome"`
	// Source is the exact version that was moved (resolved when the finding had none).
	SourceVersionID string `json:"sourceVersionId,omitempty"`
	Versioned       bool   `json:"versioned"`
	// Where the data is now.
	CopyBucket    string `json:"copyBucket"`
	CopyKey       string `json:"copyKey"`
	CopyVersionID string `json:"copyVersionId,omitempty"`
	// OriginalKey is the object's key in its bucket; CopyKey is DestKey of it, shortened past
	// S3's key limit, so Release goes back to OriginalKey, never to a name derived from CopyKey.
	OriginalKey string `json:"originalKey,omitempty"`
	Multipart   bool   `json:"multipart,omitempty"`
	// DeletedVersions lists every source version permanently deleted ("" for an unversioned delete).
	DeletedVersions []string `json:"deletedVersions,omitempty"`
	// OlderVersions are the older versions quarantined in all-versions mode (source version → copy version).
	OlderVersions map[string]string `json:"olderVersions,omitempty"`
	// SkippedBecause explains a step not taken (object lock, tombstone not written...).
	SkippedBecause   string    `json:"skippedBecause,omitempty"`
	LockedUntil      time.Time `json:"lockedUntil,omitempty"`
	TombstoneVersion string    `json:"tombstoneVersion,omitempty"`
	DroppedTags      []string  `json:"droppedTags,omitempty"`
	// SourceEncryption is how the source version was encrypted (nil: no encryption reported);
	// Release restores it instead of leaving the object under the bucket default.
	SourceEncryption *Encryption `json:"sourceEncryption,omitempty"`
	// VerifiedBy says how the copy was proven: "checksum CRC32", "etag", "multipart-etag", "size".
	VerifiedBy string `json:"verifiedBy,omitempty"`
	Steps      []Step `json:"steps"`
}

// Encryption is an object's server-side encryption as S3 reports it.
type Encryption struct {
	Type      string `json:"type"` // "AES256", "aws:kms", "aws:kms:dsse"
	KMSKeyID  string `json:"kmsKeyId,omitempty"`
	BucketKey bool   `json:"bucketKey,omitempty"`
}

// Step is one timed step of a Move.
type Step struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
}

// Summary is one line for Slack and logs.
func (r *Result) Summary() string {
	loc := fmt.Sprintf("s3://%s/%s", r.CopyBucket, r.CopyKey)
	if r.CopyVersionID != "" {
		loc += " (version " + r.CopyVersionID + ")"
	}
	switch r.Outcome {
	case SourceLocked:
		return fmt.Sprintf("copied to %s, but the source is locked until %s (%s); it stays readable there", loc,
			r.LockedUntil.Format(time.RFC3339), r.SkippedBecause)
	case Released:
		return fmt.Sprintf("restored to its original key from %s", loc)
	}
	if r.SkippedBecause != "" {
		// What the move left for a person (a kept copy of another attempt, a version it could
		// not delete): the summary is the ledger's reason, so it is named there, not only here.
		return "quarantined at " + loc + "; " + r.SkippedBecause
	}
	return "quarantined at " + loc
}

// MaxKeyLen is S3's limit on a key, in bytes of UTF-8.
const MaxKeyLen = 1024

// DestKey is where an object is quarantined: account, bucket and key kept, so the origin is
// readable from the copy's name alone. A name over S3's 1024 bytes (a long key can otherwise
// never be quarantined: a way to evade it) keeps its head and replaces the tail with the SHA-256
// of the whole name, so it is deterministic (a resumed Move finds its copy) and distinct keys stay
// distinct; the original key is then in the copy's metadata and in the Result.
func DestKey(o Object) string {
	full := o.AccountID + "/" + o.Bucket + "/" + o.Key
	if len(full) <= MaxKeyLen {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	suffix := "~sha256-" + hex.EncodeToString(sum[:])
	cut := MaxKeyLen - len(suffix)
	for cut > 0 && !utf8.RuneStart(full[cut]) {
		cut-- // never split a UTF-8 character
	}
	return full[:cut] + suffix
}

// Tag and metadata names. Metadata carries the markers idempotency relies on (HEAD returns it),
// tags carry the same for people and lifecycle rules.
const (
	TagFindingID   = "macie-chatops:finding-id"
	TagSource      = "macie-chatops:source"
	TagDecidedBy   = "macie-chatops:decided-by"
	TagTime        = "macie-chatops:quarantined-at"
	MetaFindingID  = "macie-chatops-finding-id"
	MetaSourceVer  = "macie-chatops-source-version"
	MetaSourceETag = "macie-chatops-source-etag"
	MetaReleasedOf = "macie-chatops-released-from"
	// The source's encryption and the tags that did not fit on the copy, kept on the copy itself
	// so a run that resumes after a crash (before the ledger heard of the copy) still knows them.
	MetaSourceSSE       = "macie-chatops-source-sse"
	MetaSourceKMSKey    = "macie-chatops-source-kms-key"
	MetaSourceBucketKey = "macie-chatops-source-bucket-key"
	MetaDroppedTags     = "macie-chatops-dropped-tags"
	// MetaOriginalKey is the source key, base64url without padding (OriginalKeyOf), on a copy
	// whose DestKey was shortened, when it fits within S3's user-metadata limit.
	MetaOriginalKey = "macie-chatops-original-key"
)

var ourTags = []string{TagFindingID, TagSource, TagDecidedBy, TagTime}

func isOurTag(k string) bool {
	for _, t := range ourTags {
		if k == t {
			return true
		}
	}
	return false
}

func isOurMeta(k string) bool { return strings.HasPrefix(strings.ToLower(k), "macie-chatops-") }

// archived storage classes cannot be copied without a restore.
var archived = map[string]bool{"GLACIER": true, "DEEP_ARCHIVE": true}
