package quarantine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// errUnverifiable: a copy found in quarantine whose bytes cannot be proven equal to the source's
// (a multipart copy made by an earlier run, whose part ETags were never seen, on a server without
// checksums). It is never trusted: Move copies again, and keeps it, as it may be the fresh copy of
// a mover of the same finding running at the same time.
var errUnverifiable = errors.New("copy cannot be verified")

// checksums are an object's full-object checksums by algorithm, as S3 reports them with
// ChecksumMode=ENABLED (HEAD) or in a CopyObject result.
type checksums map[types.ChecksumAlgorithm]string

func checksumsOf(crc32, crc32c, crc64, sha1, sha256 *string, typ types.ChecksumType) checksums {
	if typ == types.ChecksumTypeComposite {
		// A checksum of checksums (multipart upload): not comparable with a whole-object one.
		return nil
	}
	c := checksums{}
	for alg, v := range map[types.ChecksumAlgorithm]*string{
		types.ChecksumAlgorithmCrc32: crc32, types.ChecksumAlgorithmCrc32c: crc32c, types.ChecksumAlgorithmCrc64nvme: crc64,
		types.ChecksumAlgorithmSha1: sha1, types.ChecksumAlgorithmSha256: sha256,
	} {
		// "value-N" is a composite checksum even when the server did not say so.
		if s := aws.ToString(v); s != "" && !strings.Contains(s, "-") {
			c[alg] = s
		}
	}
	return c
}

func headChecksums(h *s3.HeadObjectOutput) checksums {
	return checksumsOf(h.ChecksumCRC32, h.ChecksumCRC32C, h.ChecksumCRC64NVME, h.ChecksumSHA1, h.ChecksumSHA256, h.ChecksumType)
}

// preferred is the source's checksum algorithm the copy is asked to compute, so the two compare.
// Ordered strongest first, so the choice does not depend on map order.
func (c checksums) preferred() types.ChecksumAlgorithm {
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmSha1,
		types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc32} {
		if c[alg] != "" {
			return alg
		}
	}
	return ""
}

// common is the strongest algorithm both sides have a checksum for.
func common(a, b checksums) types.ChecksumAlgorithm {
	both := checksums{}
	for alg, v := range a {
		if b[alg] != "" {
			both[alg] = v
		}
	}
	return both.preferred()
}

func isKMS(sse types.ServerSideEncryption) bool {
	return sse == types.ServerSideEncryptionAwsKms || sse == types.ServerSideEncryptionAwsKmsDsse
}

// md5ETag says whether an ETag is the MD5 of the bytes: single-part, not SSE-KMS (on AWS, the
// ETag of an SSE-KMS object is not an MD5; some other servers still give one).
func md5ETag(etag string, sse types.ServerSideEncryption) bool {
	return etag != "" && !strings.Contains(etag, "-") && !isKMS(sse)
}

// copyInfo is a copy found or made in quarantine.
type copyInfo struct {
	versionID     string
	sourceVersion string
	sourceETag    string
	etag          string
	size          int64 // -1: not known without a HEAD
	multipart     bool
	sse           types.ServerSideEncryption // the copy's actual encryption, as S3 reported it
	checksums     checksums
	partETags     []string
	meta          map[string]string
	headed        bool // etag, size, sse and checksums come from a HEAD of the copy
}

func copyFromHead(h *s3.HeadObjectOutput) *copyInfo {
	etag := aws.ToString(h.ETag)
	return &copyInfo{versionID: aws.ToString(h.VersionId), sourceVersion: h.Metadata[MetaSourceVer], sourceETag: h.Metadata[MetaSourceETag],
		etag: etag, size: aws.ToInt64(h.ContentLength), multipart: strings.Contains(etag, "-"), sse: h.ServerSideEncryption,
		checksums: headChecksums(h), meta: h.Metadata, headed: true}
}

// compare proves or disproves the copy from what is known about it so far; decided is false when
// that is not enough.
func (c *copyInfo) compare(src *source) (how string, decided bool, err error) {
	if c.size >= 0 && c.size != src.size {
		return "size", true, fmt.Errorf("%w: copy is %d bytes, source %d", ErrCopyMismatch, c.size, src.size)
	}
	if alg := common(src.checksums, c.checksums); alg != "" {
		if c.checksums[alg] != src.checksums[alg] {
			return "checksum " + string(alg), true, fmt.Errorf("%w: copy %s %s, source %s", ErrCopyMismatch, alg, c.checksums[alg], src.checksums[alg])
		}
		return "checksum " + string(alg), true, nil
	}
	if !c.multipart && md5ETag(src.etag, src.head.ServerSideEncryption) && md5ETag(c.etag, c.sse) {
		if !sameETag(c.etag, src.etag) {
			return "etag", true, fmt.Errorf("%w: copy ETag %s, source ETag %s", ErrCopyMismatch, c.etag, src.etag)
		}
		return "etag", true, nil
	}
	return "", false, nil
}

// verify proves the copy before anything is deleted, the same way for a fresh copy and for one an
// earlier run made: a full-object checksum both sides have (the copy is asked to compute the
// source's algorithm); else the ETag where both are MD5s, judged from each object's actual
// encryption; else, read back, the size, and for a multipart copy the ETag its parts imply. It
// returns how the copy was proven.
func (e *Engine) verify(ctx context.Context, api S3API, c *copyInfo, src *source, bucket, key string, owner *string) (string, error) {
	if how, decided, err := c.compare(src); decided {
		return how, err
	}
	if !c.headed {
		h, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, VersionId: nonEmpty(c.versionID),
			ExpectedBucketOwner: owner, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			return "", fmt.Errorf("read back the copy: %w", err)
		}
		c.headed, c.etag, c.size, c.sse = true, aws.ToString(h.ETag), aws.ToInt64(h.ContentLength), h.ServerSideEncryption
		c.checksums = headChecksums(h)
		if how, decided, err := c.compare(src); decided {
			return how, err
		}
	}
	if c.multipart {
		if len(c.partETags) == 0 {
			return "", fmt.Errorf("%w: multipart copy (ETag %s) with no checksum and unknown parts", errUnverifiable, c.etag)
		}
		if want := multipartETag(c.partETags); want == "" || !sameETag(c.etag, want) {
			return "multipart-etag", fmt.Errorf("%w: copy ETag %s, parts imply %s", ErrCopyMismatch, c.etag, want)
		}
		return "multipart-etag", nil
	}
	// Single part, SSE-KMS on AWS, no checksum: the size (checked in compare) is all S3 tells.
	return "size", nil
}

// encryptionOf is the source's encryption as HEAD reported it (nil: none reported).
func encryptionOf(h *s3.HeadObjectOutput) *Encryption {
	if h.ServerSideEncryption == "" {
		return nil
	}
	return &Encryption{Type: string(h.ServerSideEncryption), KMSKeyID: aws.ToString(h.SSEKMSKeyId), BucketKey: aws.ToBool(h.BucketKeyEnabled)}
}

// markers are the metadata a copy carries about its source beyond the finding: its encryption and
// the tags that did not fit, so a resumed run can report them again.
func markers(enc *Encryption, dropped []string) map[string]string {
	m := map[string]string{}
	if enc != nil {
		m[MetaSourceSSE] = enc.Type
		if enc.KMSKeyID != "" {
			m[MetaSourceKMSKey] = enc.KMSKeyID
		}
		if enc.BucketKey {
			m[MetaSourceBucketKey] = "true"
		}
	}
	if len(dropped) > 0 {
		v := url.Values{}
		for _, kv := range dropped {
			k, val, _ := strings.Cut(kv, "=")
			v.Add(k, val)
		}
		m[MetaDroppedTags] = v.Encode()
	}
	return m
}

// fromMarkers reads back what markers wrote (metadata keys arrive lower-cased).
func fromMarkers(meta map[string]string) (*Encryption, []string) {
	get := func(k string) string {
		for mk, v := range meta {
			if strings.EqualFold(mk, k) {
				return v
			}
		}
		return ""
	}
	var enc *Encryption
	if t := get(MetaSourceSSE); t != "" {
		bk, _ := strconv.ParseBool(get(MetaSourceBucketKey))
		enc = &Encryption{Type: t, KMSKeyID: get(MetaSourceKMSKey), BucketKey: bk}
	}
	var dropped []string
	if raw := get(MetaDroppedTags); raw != "" {
		// url.Values.Encode sorts by key; values of one key keep their order.
		for _, pair := range strings.Split(raw, "&") {
			k, v, _ := strings.Cut(pair, "=")
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
			dropped = append(dropped, k+"="+v)
		}
	}
	return enc, dropped
}
