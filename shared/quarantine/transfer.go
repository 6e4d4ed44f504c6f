package quarantine

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// transferSpec is one server-side copy of an exact version; Move and Release both use it.
type transferSpec struct {
	srcBucket, srcKey, srcVersion string
	head                          *s3.HeadObjectOutput
	dstBucket, dstKey             string
	tags                          []types.Tag
	meta                          map[string]string // added to the source's user metadata
	dropMeta                      func(string) bool // source metadata keys not to carry over
	// sse and kmsKeyID ask for an encryption ("" = the destination bucket's default); bucketKey
	// restores an S3 Bucket Key setting.
	sse       types.ServerSideEncryption
	kmsKeyID  string
	bucketKey *bool
	// checksumAlg asks the copy to compute this checksum (the source's), so verify compares them.
	checksumAlg types.ChecksumAlgorithm
	owner       *string
	// dstIfMatch / dstIfNoneMatch make the write conditional on what the destination key held when
	// it was checked (Release: our tombstone, or nothing), so data written there since is never
	// overwritten.
	dstIfMatch, dstIfNoneMatch *string
	// landed looks for a copy this transfer made, after an answer was lost: the copy may exist
	// even though the call failed, and a blind retry would make a second one.
	landed func(ctx context.Context) (*copyInfo, error)
}

// noRetry turns off the SDK's own retries for a call that must not run twice blindly.
func noRetry(o *s3.Options) { o.Retryer = aws.NopRetryer{} }

// definite reports whether a failed call certainly did nothing (a 4xx answer), as opposed to a
// 5xx, a timeout or a reset, after which the work may or may not have been done.
func definite(err error) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
}

// transferOnce is transfer with retries that never duplicate: after an ambiguous failure it
// first looks for the copy, and retries only when none landed.
func (e *Engine) transferOnce(ctx context.Context, api S3API, sp transferSpec) (*copyInfo, error) {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var c *copyInfo
		c, err = e.transfer(ctx, api, sp)
		if err == nil {
			return c, nil
		}
		if definite(err) || ctx.Err() != nil || sp.landed == nil {
			return nil, err
		}
		found, ferr := sp.landed(ctx)
		if ferr != nil {
			return nil, fmt.Errorf("%w (and could not check whether the copy landed: %v)", err, ferr)
		}
		if found != nil {
			// A multipart copy whose CompleteMultipartUpload answer was lost: the parts we sent
			// are what verifies it.
			var im *incompleteMultipart
			if errors.As(err, &im) && found.multipart {
				found.partETags = im.partETags
			}
			return found, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * 50 * time.Millisecond):
		}
	}
	return nil, err
}

// CopySource is the x-amz-copy-source value: bucket and key URL-encoded per path segment (every
// byte outside A-Z a-z 0-9 - . _ ~ escaped, so "+", "%", "?", "#", spaces and unicode survive,
// and "//" stays two separators), then the version.
func CopySource(bucket, key, versionID string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = escapeSegment(s)
	}
	out := escapeSegment(bucket) + "/" + strings.Join(segs, "/")
	if versionID != "" {
		out += "?versionId=" + url.QueryEscape(versionID)
	}
	return out
}

func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func encodeTags(tags []types.Tag) string {
	v := url.Values{}
	for _, t := range tags {
		v.Add(aws.ToString(t.Key), aws.ToString(t.Value))
	}
	return v.Encode()
}

func (sp transferSpec) metadata() map[string]string {
	m := map[string]string{}
	for k, v := range sp.head.Metadata {
		if isOurMeta(k) || (sp.dropMeta != nil && sp.dropMeta(k)) {
			continue
		}
		m[k] = v
	}
	for k, v := range sp.meta {
		m[k] = v
	}
	return m
}

// transfer copies the version, in one CopyObject or, above the threshold, in parallel parts.
// Content headers and user metadata are restated from the source HEAD (REPLACE is needed to add
// our markers), tags are set explicitly.
func (e *Engine) transfer(ctx context.Context, api S3API, sp transferSpec) (*copyInfo, error) {
	size := aws.ToInt64(sp.head.ContentLength)
	sse := sp.sse
	if sse == "" && sp.kmsKeyID != "" {
		sse = types.ServerSideEncryptionAwsKms
	}
	if size <= e.Options.MultipartThreshold {
		out, err := api.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &sp.dstBucket, Key: &sp.dstKey,
			CopySource:                aws.String(CopySource(sp.srcBucket, sp.srcKey, sp.srcVersion)),
			MetadataDirective:         types.MetadataDirectiveReplace,
			Metadata:                  sp.metadata(),
			ContentType:               sp.head.ContentType,
			ContentEncoding:           sp.head.ContentEncoding,
			ContentDisposition:        sp.head.ContentDisposition,
			ContentLanguage:           sp.head.ContentLanguage,
			CacheControl:              sp.head.CacheControl,
			TaggingDirective:          types.TaggingDirectiveReplace,
			Tagging:                   aws.String(encodeTags(sp.tags)),
			ServerSideEncryption:      sse,
			SSEKMSKeyId:               nonEmpty(sp.kmsKeyID),
			BucketKeyEnabled:          sp.bucketKey,
			ChecksumAlgorithm:         sp.checksumAlg,
			ExpectedBucketOwner:       sp.owner,
			ExpectedSourceBucketOwner: sp.owner,
			CopySourceIfMatch:         sp.head.ETag,
			IfMatch:                   sp.dstIfMatch,
			IfNoneMatch:               sp.dstIfNoneMatch,
		}, noRetry)
		if err != nil {
			return nil, err
		}
		// The copy's encryption is what S3 says it applied (the bucket default may be SSE-KMS
		// although we asked for nothing), not what we asked for.
		c := &copyInfo{versionID: aws.ToString(out.VersionId), size: -1, sse: out.ServerSideEncryption}
		if r := out.CopyObjectResult; r != nil {
			c.etag = aws.ToString(r.ETag)
			c.checksums = checksumsOf(r.ChecksumCRC32, r.ChecksumCRC32C, r.ChecksumCRC64NVME, r.ChecksumSHA1, r.ChecksumSHA256, r.ChecksumType)
		}
		return c, nil
	}
	return e.multipartCopy(ctx, api, sp, size, sse)
}

func (e *Engine) multipartCopy(ctx context.Context, api S3API, sp transferSpec, size int64, sse types.ServerSideEncryption) (*copyInfo, error) {
	mp, err := api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &sp.dstBucket, Key: &sp.dstKey,
		Metadata:             sp.metadata(),
		ContentType:          sp.head.ContentType,
		ContentEncoding:      sp.head.ContentEncoding,
		ContentDisposition:   sp.head.ContentDisposition,
		ContentLanguage:      sp.head.ContentLanguage,
		CacheControl:         sp.head.CacheControl,
		Tagging:              aws.String(encodeTags(sp.tags)),
		ServerSideEncryption: sse,
		SSEKMSKeyId:          nonEmpty(sp.kmsKeyID),
		BucketKeyEnabled:     sp.bucketKey,
		ExpectedBucketOwner:  sp.owner,
	})
	if err != nil {
		return nil, fmt.Errorf("start multipart copy: %w", err)
	}
	abort := func() {
		// Best effort with a fresh context: the caller's may be cancelled, and a dangling
		// upload only costs storage until the bucket's abort-incomplete lifecycle rule runs.
		_, _ = api.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: &sp.dstBucket, Key: &sp.dstKey, UploadId: mp.UploadId, ExpectedBucketOwner: sp.owner})
	}
	n := int((size + e.Options.PartSize - 1) / e.Options.PartSize)
	parts := make([]types.CompletedPart, n)
	errs := make([]error, n)
	sem := make(chan struct{}, e.Options.Parallelism)
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			first := int64(i) * e.Options.PartSize
			last := min(first+e.Options.PartSize, size) - 1
			out, err := api.UploadPartCopy(cctx, &s3.UploadPartCopyInput{
				Bucket: &sp.dstBucket, Key: &sp.dstKey, UploadId: mp.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				CopySource:                aws.String(CopySource(sp.srcBucket, sp.srcKey, sp.srcVersion)),
				CopySourceRange:           aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
				CopySourceIfMatch:         sp.head.ETag,
				ExpectedBucketOwner:       sp.owner,
				ExpectedSourceBucketOwner: sp.owner,
			})
			if err != nil {
				errs[i] = fmt.Errorf("part %d: %w", i+1, err)
				cancel()
				return
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
		}(i)
	}
	wg.Wait()
	// Report the part that failed first, not the parts cancelled because of it.
	var firstErr error
	for _, err := range errs {
		if err != nil && (firstErr == nil || errors.Is(firstErr, context.Canceled)) {
			firstErr = err
		}
	}
	if firstErr != nil {
		abort()
		return nil, firstErr
	}
	sort.Slice(parts, func(i, j int) bool { return aws.ToInt32(parts[i].PartNumber) < aws.ToInt32(parts[j].PartNumber) })
	done, err := api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &sp.dstBucket, Key: &sp.dstKey, UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, ExpectedBucketOwner: sp.owner,
		IfMatch: sp.dstIfMatch, IfNoneMatch: sp.dstIfNoneMatch,
	}, noRetry)
	var partETags []string
	for _, p := range parts {
		partETags = append(partETags, aws.ToString(p.ETag))
	}
	if err != nil {
		abort()
		return nil, &incompleteMultipart{err: fmt.Errorf("complete multipart copy: %w", err), partETags: partETags}
	}
	return &copyInfo{versionID: aws.ToString(done.VersionId), etag: aws.ToString(done.ETag), size: -1, multipart: true,
		sse: done.ServerSideEncryption, partETags: partETags}, nil
}

// incompleteMultipart is a CompleteMultipartUpload that failed, possibly only its answer: it
// keeps the parts' ETags, so a copy that did land can still be verified as the multipart copy it is.
type incompleteMultipart struct {
	err       error
	partETags []string
}

func (m *incompleteMultipart) Error() string { return m.err.Error() }
func (m *incompleteMultipart) Unwrap() error { return m.err }

// multipartETag is the ETag S3 gives a multipart object: MD5 of the parts' MD5s, dash, count.
func multipartETag(partETags []string) string {
	h := md5.New()
	for _, p := range partETags {
		b, err := hex.DecodeString(strings.Trim(p, `"`))
		if err != nil {
			return ""
		}
		h.Write(b)
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(partETags))
}
