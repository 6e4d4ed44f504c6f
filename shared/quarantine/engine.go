package quarantine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is the part of the S3 client a move uses.
type S3API interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
}

// Clients gives the S3 client to use for an account: through the account's quarantine role in
// AWS, or a local credential set in local mode. The account is always the finding's accountId.
type Clients interface {
	S3For(ctx context.Context, accountID, region, sessionName string) (S3API, error)
}

// Options tune the engine.
type Options struct {
	// MultipartThreshold: objects larger than this are copied with UploadPartCopy. S3's
	// CopyObject limit is 5 GiB, the default; tests lower it.
	MultipartThreshold int64
	// PartSize of a multipart copy (default 512 MiB) and how many parts copy at once (default 4).
	PartSize    int64
	Parallelism int
	// CheckBucketOwner sends ExpectedBucketOwner=accountId on every call, so a bucket that
	// changed hands is never written to or read from.
	CheckBucketOwner bool
}

const (
	gib                = int64(1) << 30
	defaultThreshold   = 5 * gib
	defaultPartSize    = 512 << 20
	defaultParallelism = 4
)

// Engine moves objects.
type Engine struct {
	Clients Clients
	Options Options
	Now     func() time.Time

	// versioned caches, per account and quarantine bucket, that versioning is Enabled: one
	// GetBucketVersioning per bucket. Only Enabled is cached, so a bucket a human fixes after a
	// refusal is seen on the next Retry.
	versioned sync.Map
}

// New builds an engine with defaults filled in.
func New(clients Clients, opts Options) *Engine {
	if opts.MultipartThreshold <= 0 {
		opts.MultipartThreshold = defaultThreshold
	}
	if opts.PartSize <= 0 {
		opts.PartSize = defaultPartSize
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = defaultParallelism
	}
	return &Engine{Clients: clients, Options: opts, Now: time.Now}
}

// SessionName names the assumed-role session after the finding, for CloudTrail.
func SessionName(findingID string) string {
	s := "macie-chatops-" + findingID
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r == '-' || r == '_' || r == '=' || r == ',' || r == '.' || r == '@' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

type timer struct {
	now   func() time.Time
	steps *[]Step
}

func (t timer) step(name string, start time.Time) {
	*t.steps = append(*t.steps, Step{Name: name, Duration: t.now().Sub(start)})
}

// source is the resolved state of the object to move.
type source struct {
	head      *s3.HeadObjectOutput
	checksums checksums
	versionID string // the exact version; "" for an object in a never-versioned bucket
	versioned bool
	etag      string
	size      int64
}

// Move quarantines one object version. See the package doc for the order of steps.
func (e *Engine) Move(ctx context.Context, req Request) (*Result, error) {
	o := req.Object
	if req.Settings.Bucket == "" {
		return nil, fmt.Errorf("quarantine %s: no quarantine bucket configured for account %s; set quarantine.bucket in the policy", o, o.AccountID)
	}
	if strings.Contains(strings.ToLower(o.Encryption), "customer") || strings.EqualFold(o.Encryption, "SSE-C") {
		return nil, fmt.Errorf("%w: %s is encrypted with a customer-provided key (SSE-C); only its owner can copy it, so move it by hand", ErrNeedsHuman, o)
	}
	if o.Bucket == req.Settings.Bucket {
		// Its "copy" would land in the bucket it is in, and deleting the source would delete
		// the version another finding's Release restores from.
		return nil, fmt.Errorf("%w: %s is in the quarantine bucket itself, so it is a quarantined copy already: nothing was moved", ErrNeedsHuman, o)
	}
	api, err := e.Clients.S3For(ctx, o.AccountID, o.Region, SessionName(req.FindingID))
	if err != nil {
		return nil, fmt.Errorf("credentials for account %s: %w", o.AccountID, err)
	}
	res := &Result{CopyBucket: req.Settings.Bucket, CopyKey: DestKey(o), OriginalKey: o.Key}
	tm := timer{now: e.Now, steps: &res.Steps}
	owner := e.owner(o.AccountID)
	if err := e.checkQuarantineVersioned(ctx, api, o.AccountID, res.CopyBucket, owner); err != nil {
		return nil, err
	}

	// 1. Resume: a copy this finding already made?
	var existing *copyInfo
	if !req.FirstAttempt {
		t0 := e.Now()
		existing, err = findCopy(ctx, api, res.CopyBucket, res.CopyKey, owner, func(_ string, m map[string]string) bool {
			return m[MetaFindingID] == req.FindingID && (o.VersionID == "" || m[MetaSourceVer] == o.VersionID)
		})
		tm.step("resume-lookup", t0)
		if err != nil {
			return nil, fmt.Errorf("look for an earlier copy of %s in s3://%s: %w", o, res.CopyBucket, err)
		}
	}

	// 2. Source still what Macie saw?
	t0 := e.Now()
	src, err := e.resolveSource(ctx, api, req.FindingID, o, owner, existing)
	tm.step("check-source", t0)
	if err != nil {
		if existing != nil && errors.Is(err, ErrObjectGone) {
			// The earlier run copied and deleted; only the finishing touches may be missing.
			// What the ledger may never have heard of (the source's encryption, the tags that
			// did not fit) is read back from the copy's markers.
			res.Outcome = AlreadyDone
			res.CopyVersionID, res.Multipart = existing.versionID, existing.multipart
			res.SourceVersionID = existing.sourceVersion
			res.SourceEncryption, res.DroppedTags = fromMarkers(existing.meta)
			return res, e.finish(ctx, api, req, res, tm, nil)
		}
		return nil, err
	}
	res.SourceVersionID, res.Versioned = src.versionID, src.versioned
	res.SourceEncryption = encryptionOf(src.head)

	// 3 + 4. Copy and verify, unless an earlier run made a copy that verifies exactly as a fresh
	// one would. A found copy that does not verify is never trusted: copy again, and once the new
	// copy is proven, discard the found one if it is proven wrong. One that merely cannot be
	// proven (a multipart copy whose parts this run never saw) is kept: it may be the fresh copy
	// of a mover of the same finding running at this moment, which verified it from its parts and
	// reports it, so deleting it would leave that mover's result pointing at nothing.
	var stale *copyInfo
	unproven := false
	if existing != nil && existing.sourceVersion == src.versionID {
		if existing.sourceETag != "" && !sameETag(existing.sourceETag, src.etag) {
			// Copied from other bytes under the same version id (an unversioned key rewritten
			// since): that copy holds data the source no longer has, so it is kept (never
			// discarded as a bad copy), and nothing is deleted.
			return nil, fmt.Errorf("%w: the copy made by an earlier attempt (s3://%s/%s version %s) was taken from ETag %s, %s now has ETag %s; nothing was deleted",
				ErrCopyMismatch, res.CopyBucket, res.CopyKey, existing.versionID, existing.sourceETag, o, src.etag)
		}
		t0 = e.Now()
		how, err := e.verify(ctx, api, existing, src, res.CopyBucket, res.CopyKey, owner)
		tm.step("verify-earlier-copy", t0)
		switch {
		case err == nil:
			res.CopyVersionID, res.Multipart, res.VerifiedBy = existing.versionID, existing.multipart, how
			_, res.DroppedTags = fromMarkers(existing.meta)
		case errors.Is(err, ErrCopyMismatch):
			stale = existing
		case errors.Is(err, errUnverifiable):
			stale, unproven = existing, true
		default:
			return nil, fmt.Errorf("verify the copy made by an earlier attempt (s3://%s/%s version %s) against %s: %w; nothing was deleted",
				res.CopyBucket, res.CopyKey, existing.versionID, o, err)
		}
	}
	if res.CopyVersionID == "" && res.VerifiedBy == "" {
		tags, dropped, err := e.copyTags(ctx, api, o, src, req, owner)
		if err != nil {
			return nil, err
		}
		res.DroppedTags = dropped
		meta, err := copyMetadata(o, src, req.FindingID, res, tags, dropped)
		if err != nil {
			return nil, err
		}
		t0 = e.Now()
		c, err := e.transferOnce(ctx, api, transferSpec{
			srcBucket: o.Bucket, srcKey: o.Key, srcVersion: src.versionID, head: src.head,
			dstBucket: res.CopyBucket, dstKey: res.CopyKey, tags: tags, kmsKeyID: req.Settings.KMSKeyID, owner: owner,
			checksumAlg: src.checksums.preferred(), meta: meta,
			landed: func(ctx context.Context) (*copyInfo, error) {
				return findCopy(ctx, api, res.CopyBucket, res.CopyKey, owner, func(v string, m map[string]string) bool {
					return m[MetaFindingID] == req.FindingID && m[MetaSourceVer] == src.versionID && (stale == nil || v != stale.versionID)
				})
			},
		})
		tm.step("copy", t0)
		if err != nil {
			return nil, fmt.Errorf("copy %s to s3://%s/%s: %w (the source is untouched)", o, res.CopyBucket, res.CopyKey, err)
		}
		if c.versionID == "" || c.versionID == "null" {
			// Every version of a key, and every finding about it, shares one DestKey: without a
			// version of its own the copy is overwritten by the next one, so deleting the
			// source could lose data.
			return nil, fmt.Errorf("%w: the copy of %s in s3://%s/%s came back without a version id, so quarantine bucket %s is not versioned and the next copy to this key would overwrite it; enable versioning on s3://%s (aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled), then press Retry; the source was not deleted",
				ErrNeedsHuman, o, res.CopyBucket, res.CopyKey, res.CopyBucket, res.CopyBucket, res.CopyBucket)
		}
		res.CopyVersionID, res.Multipart = c.versionID, c.multipart
		t0 = e.Now()
		how, err := e.verify(ctx, api, c, src, res.CopyBucket, res.CopyKey, owner)
		tm.step("verify", t0)
		if err != nil {
			return nil, fmt.Errorf("verify s3://%s/%s version %s against %s: %w; the source was not deleted",
				res.CopyBucket, res.CopyKey, c.versionID, o, err)
		}
		res.VerifiedBy = how
		switch {
		case stale != nil && unproven:
			res.SkippedBecause = fmt.Sprintf("an earlier copy (s3://%s/%s version %s) could not be verified, so this one was made; the earlier one was kept, as it may be another attempt's at this finding: delete it by hand if no ledger entry points at it",
				res.CopyBucket, res.CopyKey, stale.versionID)
		case stale != nil:
			e.discard(ctx, api, res, stale, owner)
		}
	}

	// 5. Object Lock on the source: keep both, say so.
	if until, why := lockOf(src.head, e.Now()); why != "" {
		res.Outcome = SourceLocked
		if kept := res.SkippedBecause; kept != "" {
			// A kept unverifiable copy (a Retry of a locked object) stays named next to the lock.
			why += "; " + kept
		}
		res.SkippedBecause = why
		res.LockedUntil = until
		return res, nil
	}

	// 6. Delete exactly that version (and older ones in all-versions mode).
	if req.Settings.DeleteMode == "all-versions" && src.versioned {
		if err := e.quarantineOlder(ctx, api, req, src, res, tm, owner); err != nil {
			return nil, err
		}
	}
	t0 = e.Now()
	if err := deleteSource(ctx, api, o, src, owner); err != nil {
		return nil, err
	}
	tm.step("delete", t0)
	res.DeletedVersions = append([]string{src.versionID}, res.DeletedVersions...)
	res.Outcome = Moved
	return res, e.finish(ctx, api, req, res, tm, src)
}

// MaxUserMetadata is S3's limit on an object's user-defined metadata: the UTF-8 bytes of every
// key and value. A copy past it is refused (MetadataTooLarge), so such an object could never be
// quarantined.
const MaxUserMetadata = 2048

// MaxRequestHeader is S3's (and versitygw's) limit on a request's header section; requestOverhead
// is a generous allowance for what a copy request carries besides keys, tags and metadata
// (request line, host, signature, dates, content and checksum headers).
const (
	MaxRequestHeader = 8 * 1024
	requestOverhead  = 2048
	metaPrefix       = "x-amz-meta-"
)

// metaHeaderBytes: the header lines user metadata takes ("x-amz-meta-k: v\r\n").
func metaHeaderBytes(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(metaPrefix) + len(k) + len(v) + 4
	}
	return n
}

// copyMetadata gives the markers a copy carries next to the source's own metadata, within
// MaxUserMetadata. The finding, source version and ETag (resume and verification) and the source's
// encryption (Release restores it) are required: when the source's metadata leaves no room for
// them the object needs a human. The original key (base64url, only on a shortened DestKey) and the
// tags that did not fit come after, each only when it fits: the ledger keeps both
// (Result.OriginalKey, Result.DroppedTags).
func copyMetadata(o Object, src *source, findingID string, res *Result, tags []types.Tag, dropped []string) (map[string]string, error) {
	size := func(m map[string]string) int {
		n := 0
		for k, v := range m {
			n += len(k) + len(v)
		}
		return n
	}
	own := map[string]string{}
	for k, v := range src.head.Metadata {
		if !isOurMeta(k) {
			own[k] = v
		}
	}
	all := markers(res.SourceEncryption, dropped)
	droppedMarker, hasDropped := all[MetaDroppedTags]
	delete(all, MetaDroppedTags)
	meta := all
	meta[MetaFindingID], meta[MetaSourceVer], meta[MetaSourceETag] = findingID, src.versionID, src.etag
	used := size(own) + size(meta)
	if used > MaxUserMetadata {
		return nil, fmt.Errorf("%w: the user metadata of %s takes %d bytes, and with the %d bytes of markers quarantine must add to the copy (finding, source version, ETag, encryption) it passes S3's %d-byte user-metadata limit, so S3 would refuse the copy (MetadataTooLarge); move the object by hand, or remove some of its metadata and press Retry; nothing was touched",
			ErrNeedsHuman, o, size(own), size(meta), MaxUserMetadata)
	}
	if res.CopyKey != o.AccountID+"/"+o.Bucket+"/"+o.Key {
		v := base64.RawURLEncoding.EncodeToString([]byte(o.Key))
		// The copy request also carries both keys URL-escaped (the path and x-amz-copy-source,
		// 3 bytes per byte of a multibyte key) and the tags, within S3's 8 KB header section: a
		// long multibyte key leaves no room for a third copy of itself.
		headers := len(CopySource(o.Bucket, o.Key, src.versionID)) + len(CopySource(res.CopyBucket, res.CopyKey, "")) +
			len(encodeTags(tags)) + metaHeaderBytes(own) + metaHeaderBytes(meta) + requestOverhead
		if used+len(MetaOriginalKey)+len(v) <= MaxUserMetadata && headers+len(metaPrefix)+len(MetaOriginalKey)+len(v)+4 <= MaxRequestHeader {
			meta[MetaOriginalKey] = v
			used += len(MetaOriginalKey) + len(v)
		}
	}
	if hasDropped && used+len(MetaDroppedTags)+len(droppedMarker) <= MaxUserMetadata {
		meta[MetaDroppedTags] = droppedMarker
	}
	return meta, nil
}

// OriginalKeyOf reads the original key from a copy's metadata; "" when the copy does not carry it
// (its DestKey is not shortened, or the key did not fit: the ledger has it).
func OriginalKeyOf(meta map[string]string) string {
	for k, v := range meta {
		if strings.EqualFold(k, MetaOriginalKey) {
			if b, err := base64.RawURLEncoding.DecodeString(v); err == nil {
				return string(b)
			}
		}
	}
	return ""
}

// discard deletes a copy an earlier attempt made that did not verify, once a new copy is proven.
// It never touches the new copy (an unversioned quarantine bucket has only one), and a failure
// only leaves a redundant version, which is reported, not fatal.
func (e *Engine) discard(ctx context.Context, api S3API, res *Result, stale *copyInfo, owner *string) {
	if stale.versionID == "" || stale.versionID == "null" || stale.versionID == res.CopyVersionID {
		return
	}
	_, err := api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &res.CopyBucket, Key: &res.CopyKey, VersionId: &stale.versionID, ExpectedBucketOwner: owner})
	if err != nil && !isNotFound(err) {
		res.SkippedBecause = fmt.Sprintf("the unverified copy of an earlier attempt (version %s) could not be deleted: %v; delete it by hand", stale.versionID, err)
	}
}

// checkQuarantineVersioned refuses a quarantine bucket whose versioning is not Enabled: every
// version of a key (all-versions mode, or two findings) is copied to the same DestKey, so in an
// unversioned or suspended bucket each copy replaces the previous one while its source is deleted.
func (e *Engine) checkQuarantineVersioned(ctx context.Context, api S3API, account, bucket string, owner *string) error {
	key := account + "/" + bucket
	if _, ok := e.versioned.Load(key); ok {
		return nil
	}
	out, err := api.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &bucket, ExpectedBucketOwner: owner})
	if err != nil {
		return Refused(fmt.Errorf("read the versioning of quarantine bucket s3://%s (the quarantine role needs s3:GetBucketVersioning on it): %w; nothing was touched", bucket, err))
	}
	if out.Status != types.BucketVersioningStatusEnabled {
		status := string(out.Status)
		if status == "" {
			status = "never enabled"
		}
		return fmt.Errorf("%w: quarantine bucket s3://%s is not versioned (versioning %s), so copies of two versions of one key would overwrite each other; enable versioning on it (aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled), then press Retry; nothing was touched",
			ErrNeedsHuman, bucket, status, bucket)
	}
	e.versioned.Store(key, true)
	return nil
}

func (e *Engine) owner(account string) *string {
	if e.Options.CheckBucketOwner {
		return aws.String(account)
	}
	return nil
}

// resolveSource checks the preconditions and pins the exact version to move.
func (e *Engine) resolveSource(ctx context.Context, api S3API, findingID string, o Object, owner *string, existing *copyInfo) (*source, error) {
	in := &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &o.Key, ExpectedBucketOwner: owner, ChecksumMode: types.ChecksumModeEnabled}
	if o.VersionID != "" {
		in.VersionId = aws.String(o.VersionID)
	} else if existing != nil && existing.sourceVersion != "" {
		in.VersionId = aws.String(existing.sourceVersion)
	}
	head, err := api.HeadObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrObjectGone, o)
		}
		if isStatus(err, http.StatusBadRequest) && o.VersionID != "" {
			// S3 answers 400 for a version id that is not one of this key's.
			return nil, fmt.Errorf("%w: version %s of s3://%s/%s does not exist", ErrObjectGone, o.VersionID, o.Bucket, o.Key)
		}
		return nil, fmt.Errorf("check %s: %w", o, err)
	}
	if aws.ToBool(head.DeleteMarker) {
		return nil, fmt.Errorf("%w: %s is a delete marker", ErrObjectGone, o)
	}
	if head.Metadata[MetaFindingID] == findingID {
		// Our own tombstone: the object was moved by an earlier run.
		return nil, fmt.Errorf("%w: %s holds the tombstone of this finding", ErrObjectGone, o)
	}
	src := &source{head: head, etag: aws.ToString(head.ETag), size: aws.ToInt64(head.ContentLength), checksums: headChecksums(head)}
	src.versionID = aws.ToString(head.VersionId)
	src.versioned = src.versionID != "" && src.versionID != "null"
	if o.VersionID == "" && existing == nil && o.ETag != "" && !sameETag(o.ETag, src.etag) {
		return nil, fmt.Errorf("%w: s3://%s/%s has ETag %s now, Macie saw %s; nothing was touched", ErrObjectChanged, o.Bucket, o.Key, src.etag, o.ETag)
	}
	if o.VersionID != "" && o.ETag != "" && !sameETag(o.ETag, src.etag) {
		return nil, fmt.Errorf("%w: version %s of s3://%s/%s has ETag %s, Macie saw %s", ErrObjectChanged, o.VersionID, o.Bucket, o.Key, src.etag, o.ETag)
	}
	if sc := string(head.StorageClass); archived[sc] && !restored(head) {
		return nil, fmt.Errorf("%w: %s is in the %s storage class; restore it first (aws s3api restore-object), then press Retry", ErrNeedsHuman, o, sc)
	}
	if head.SSECustomerAlgorithm != nil {
		return nil, fmt.Errorf("%w: %s is encrypted with a customer-provided key (SSE-C); only its owner can copy it, so move it by hand", ErrNeedsHuman, o)
	}
	return src, nil
}

func restored(h *s3.HeadObjectOutput) bool {
	return h.Restore != nil && strings.Contains(*h.Restore, `ongoing-request="false"`)
}

func sameETag(a, b string) bool { return strings.Trim(a, `"`) == strings.Trim(b, `"`) }

// lockOf says whether Object Lock forbids deleting the version now.
func lockOf(h *s3.HeadObjectOutput, now time.Time) (time.Time, string) {
	if h.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn {
		return time.Time{}, "legal hold is ON"
	}
	if h.ObjectLockMode != "" && h.ObjectLockRetainUntilDate != nil && h.ObjectLockRetainUntilDate.After(now) {
		return *h.ObjectLockRetainUntilDate, fmt.Sprintf("Object Lock %s retention", h.ObjectLockMode)
	}
	return time.Time{}, ""
}

// copyTags merges the source's tags with ours. S3 allows 10 tags: ours win, and the source tags
// that do not fit are reported (and kept in the ledger via the result).
func (e *Engine) copyTags(ctx context.Context, api S3API, o Object, src *source, req Request, owner *string) ([]types.Tag, []string, error) {
	var tags []types.Tag
	if aws.ToInt32(src.head.TagCount) > 0 {
		out, err := api.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &o.Bucket, Key: &o.Key,
			VersionId: nonEmpty(src.versionID), ExpectedBucketOwner: owner})
		if err != nil {
			return nil, nil, fmt.Errorf("read tags of %s: %w", o, err)
		}
		for _, t := range out.TagSet {
			if !isOurTag(aws.ToString(t.Key)) {
				tags = append(tags, t)
			}
		}
	}
	source := "s3://" + o.Bucket + "/" + o.Key
	if src.versionID != "" {
		source += " versionId=" + src.versionID
	}
	ours := []types.Tag{
		{Key: aws.String(TagFindingID), Value: aws.String(tagValue(req.FindingID))},
		{Key: aws.String(TagSource), Value: aws.String(tagValue(source))},
		{Key: aws.String(TagDecidedBy), Value: aws.String(tagValue(req.DecidedBy))},
		{Key: aws.String(TagTime), Value: aws.String(e.Now().UTC().Format(time.RFC3339))},
	}
	var dropped []string
	if room := 10 - len(ours); len(tags) > room {
		for _, t := range tags[room:] {
			dropped = append(dropped, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
		}
		tags = tags[:room]
	}
	return append(tags, ours...), dropped, nil
}

// tagValue keeps a value within S3's tag rules (256 chars; letters, digits, spaces, + - = . _ : / @).
func tagValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" +-=._:/@", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 256 {
		// Cut anyway: also keep the URL-escaped form within 256, since versitygw checks the
		// length of the x-amz-tagging value before unescaping it.
		out = out[:256]
		for len(url.QueryEscape(out)) > 256 {
			out = out[:len(out)-1]
		}
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func deleteSource(ctx context.Context, api S3API, o Object, src *source, owner *string) error {
	in := &s3.DeleteObjectInput{Bucket: &o.Bucket, Key: &o.Key, ExpectedBucketOwner: owner}
	if src.versionID != "" {
		// Permanent delete of exactly this version: a plain delete would only add a delete
		// marker and leave the data readable.
		in.VersionId = aws.String(src.versionID)
	} else {
		// Unversioned: only delete what we copied; a newer write is someone else's data.
		in.IfMatch = aws.String(src.etag)
	}
	if _, err := api.DeleteObject(ctx, in); err != nil {
		if src.versionID != "" && isNoSuchVersion(err) && versionGone(ctx, api, o, src.versionID, owner) {
			// Another mover of the same finding deleted it first (versitygw answers 400 for a
			// version id no longer there): what this delete was for is done.
			return nil
		}
		if isStatus(err, http.StatusPreconditionFailed) {
			return fmt.Errorf("%w: s3://%s/%s was overwritten after the copy; the copy is kept, the new data was not deleted", ErrObjectChanged, o.Bucket, o.Key)
		}
		return fmt.Errorf("delete %s after a verified copy: %w (the copy is kept; Retry finishes the move)", o, err)
	}
	return nil
}

// addSkipped adds why to SkippedBecause, keeping what an earlier step wrote there.
func (r *Result) addSkipped(why string) {
	if r.SkippedBecause != "" {
		why = r.SkippedBecause + "; " + why
	}
	r.SkippedBecause = why
}

// versionGone says whether a HEAD confirms the version no longer exists (any other answer: no).
func versionGone(ctx context.Context, api S3API, o Object, version string, owner *string) bool {
	_, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &o.Key, VersionId: &version, ExpectedBucketOwner: owner})
	return err != nil && isNoSuchVersion(err)
}

// quarantineOlder copies every older version of the key into quarantine, then deletes it.
func (e *Engine) quarantineOlder(ctx context.Context, api S3API, req Request, src *source, res *Result, tm timer, owner *string) error {
	o := req.Object
	t0 := e.Now()
	versions, err := listVersions(ctx, api, o.Bucket, o.Key, owner)
	if err != nil {
		return fmt.Errorf("list versions of s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	res.OlderVersions = map[string]string{}
	// Older = listed after the finding's version. Without it in the listing, nothing is known
	// to be older, and nothing is touched.
	pos := -1
	for i, v := range versions {
		if !v.deleteMarker && v.versionID == src.versionID {
			pos = i
			break
		}
	}
	if pos < 0 && xmlIllegal(o.Key) != "" {
		return fmt.Errorf("%w: the key %q in s3://%s contains the control character %s, and this S3 endpoint does not list its version %s, so which versions are older is unknown; nothing was deleted; move this object by hand",
			ErrNeedsHuman, o.Key, o.Bucket, xmlIllegal(o.Key), src.versionID)
	}
	if pos < 0 {
		return fmt.Errorf("list versions of s3://%s/%s: version %s is not listed, so which versions are older is unknown; nothing was deleted", o.Bucket, o.Key, src.versionID)
	}
	for _, v := range versions[pos+1:] {
		if v.deleteMarker {
			continue
		}
		sub := req
		sub.Object.VersionID, sub.Object.ETag = v.versionID, ""
		sub.Settings.DeleteMode, sub.Settings.Tombstone = "version", false
		r, err := e.Move(ctx, sub)
		if err != nil {
			return fmt.Errorf("older version %s: %w", v.versionID, err)
		}
		res.OlderVersions[v.versionID] = r.CopyVersionID
		if r.Outcome == SourceLocked {
			res.addSkipped("older version " + v.versionID + " is locked: " + r.SkippedBecause)
			continue
		}
		if r.SkippedBecause != "" {
			// E.g. an unverifiable copy of it kept (a mover running at the same time): the
			// result is all that names it.
			res.addSkipped("older version " + v.versionID + ": " + r.SkippedBecause)
		}
		res.DeletedVersions = append(res.DeletedVersions, v.versionID)
	}
	tm.step("older-versions", t0)
	return nil
}

// finish writes the tombstone when asked.
func (e *Engine) finish(ctx context.Context, api S3API, req Request, res *Result, tm timer, src *source) error {
	if !req.Settings.Tombstone {
		return nil
	}
	o := req.Object
	// Never cover someone else's new object with a tombstone.
	head, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &o.Key, ExpectedBucketOwner: e.owner(o.AccountID)})
	if err == nil {
		if head.Metadata[MetaFindingID] == req.FindingID {
			return nil // already written
		}
		res.SkippedBecause = "tombstone not written: the original key holds a newer object"
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("check original key before writing the tombstone: %w", err)
	}
	t0 := e.Now()
	body := fmt.Sprintf("This object was quarantined by macie-chatops.\nFinding: %s\nMoved to: s3://%s/%s (version %s)\nDecided by: %s\nAt: %s\n",
		req.FindingID, res.CopyBucket, res.CopyKey, res.CopyVersionID, req.DecidedBy, e.Now().UTC().Format(time.RFC3339))
	out, err := api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &o.Bucket, Key: &o.Key, Body: strings.NewReader(body), ContentType: aws.String("text/plain; charset=utf-8"),
		Metadata: map[string]string{MetaFindingID: req.FindingID}, ExpectedBucketOwner: e.owner(o.AccountID),
		IfNoneMatch: aws.String("*"),
	})
	if err != nil {
		if isStatus(err, http.StatusPreconditionFailed) {
			res.SkippedBecause = "tombstone not written: the original key was written meanwhile"
			return nil
		}
		return fmt.Errorf("write tombstone at %s: %w (the object itself is quarantined)", o, err)
	}
	res.TombstoneVersion = aws.ToString(out.VersionId)
	tm.step("tombstone", t0)
	return nil
}

type versionInfo struct {
	versionID    string
	deleteMarker bool
}

func listVersions(ctx context.Context, api S3API, bucket, key string, owner *string) ([]versionInfo, error) {
	// S3 lists the versions of a key newest first: that order, not Last-Modified (one-second
	// precision, and rewritten by some servers), says which version is older. Delete markers
	// come in their own list, after the versions.
	var out, markers []versionInfo
	seen := map[string]bool{} // some servers repeat the boundary version across pages
	// EncodingType=url: XML 1.0 cannot carry most control characters, so a key holding one is
	// only listed URL-encoded; the answer says whether it is.
	in := &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &key, ExpectedBucketOwner: owner, EncodingType: types.EncodingTypeUrl}
	for {
		page, err := api.ListObjectVersions(ctx, in)
		if err != nil {
			if bad := xmlIllegal(key); bad != "" {
				return nil, fmt.Errorf("%w: the key %q in s3://%s contains the control character %s, which this S3 endpoint cannot list (%v); move this object by hand",
					ErrNeedsHuman, key, bucket, bad, err)
			}
			return nil, err
		}
		encoded := page.EncodingType == types.EncodingTypeUrl
		keyOf := func(k *string) string {
			if !encoded {
				return aws.ToString(k)
			}
			d, err := url.QueryUnescape(aws.ToString(k))
			if err != nil {
				return aws.ToString(k)
			}
			return d
		}
		for _, v := range page.Versions {
			if keyOf(v.Key) == key && !seen[aws.ToString(v.VersionId)] {
				seen[aws.ToString(v.VersionId)] = true
				out = append(out, versionInfo{versionID: aws.ToString(v.VersionId)})
			}
		}
		for _, m := range page.DeleteMarkers {
			if keyOf(m.Key) == key && !seen[aws.ToString(m.VersionId)] {
				seen[aws.ToString(m.VersionId)] = true
				markers = append(markers, versionInfo{versionID: aws.ToString(m.VersionId), deleteMarker: true})
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
		if encoded && page.NextKeyMarker != nil {
			in.KeyMarker = aws.String(keyOf(page.NextKeyMarker))
		}
	}
	return append(out, markers...), nil
}

// xmlIllegal names the first character of s that XML 1.0 cannot carry (a control character other
// than tab, newline and carriage return), or "".
func xmlIllegal(s string) string {
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			return fmt.Sprintf("U+%04X", r)
		}
	}
	return ""
}

// findCopy looks through the versions of a quarantine key, newest first, for one whose
// metadata matches.
func findCopy(ctx context.Context, api S3API, bucket, key string, owner *string, match func(version string, meta map[string]string) bool) (*copyInfo, error) {
	versions, err := listVersions(ctx, api, bucket, key, owner)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if len(versions) == 0 {
		// An unversioned quarantine bucket lists nothing under ListObjectVersions on some servers.
		versions = []versionInfo{{}}
	}
	for _, v := range versions {
		if v.deleteMarker {
			continue
		}
		h, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, VersionId: nonEmpty(v.versionID),
			ExpectedBucketOwner: owner, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, err
		}
		if match(aws.ToString(h.VersionId), h.Metadata) {
			return copyFromHead(h), nil
		}
	}
	return nil, nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsb) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchVersion" || ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
		return true
	}
	return isStatus(err, http.StatusNotFound)
}

// isNoSuchVersion: S3 answers 400 InvalidArgument for a version id that does not exist.
func isNoSuchVersion(err error) bool {
	var ae smithy.APIError
	return isNotFound(err) || (errors.As(err, &ae) && ae.ErrorCode() == "InvalidArgument" && isStatus(err, http.StatusBadRequest))
}

func isStatus(err error, code int) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == code
}
