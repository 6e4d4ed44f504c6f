package quarantine

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// corruptCopy makes CopyObject write other bytes of the same length (with the metadata and tags
// the engine asked for) instead of copying: a copy that must fail verification.
type corruptCopy struct{ S3API }

func (c corruptCopy) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	body := bytes.Repeat([]byte("X"), len(csvBody)) // the test's source is csvBody
	out, err := c.S3API.PutObject(ctx, &s3.PutObjectInput{Bucket: in.Bucket, Key: in.Key, Body: bytes.NewReader(body),
		Metadata: in.Metadata, Tagging: in.Tagging, ContentType: in.ContentType, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		return nil, err
	}
	return &s3.CopyObjectOutput{VersionId: out.VersionId, ServerSideEncryption: out.ServerSideEncryption,
		CopyObjectResult: &types.CopyObjectResult{ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}}, nil
}

// Issue 12 item 1: a copy that failed verification is found by the Retry; it must be verified as
// a fresh copy is (and here fail), copied again, and discarded, and the source deleted only after
// the new copy is proven.
func TestRetryNeverTrustsACopyThatFailedVerification(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		v, etag := e.put("data", "bad-copy.csv", csvBody, "")
		r := req("f-badcopy", "data", "bad-copy.csv", v, etag, int64(len(csvBody)))
		bad := &Engine{Clients: oneClient{corruptCopy{e.client}}, Options: e.eng.Options, Now: e.eng.Now}
		if _, err := bad.Move(e.ctx, r); !errors.Is(err, ErrCopyMismatch) {
			t.Fatalf("first attempt with a corrupt copy: want ErrCopyMismatch, got %v", err)
		}
		if !bytes.Equal(e.get("data", "bad-copy.csv", v), csvBody) {
			t.Fatal("source touched by a failed attempt")
		}
		// Retry, as the ledger's FAILED → Retry does: not the first attempt.
		res, err := e.eng.Move(e.ctx, r)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if got := e.get("quarantine", res.CopyKey, res.CopyVersionID); !bytes.Equal(got, csvBody) {
			t.Fatalf("retry trusted the corrupt copy: quarantine holds %q, source deleted=%v", got, e.get("data", "bad-copy.csv", v) == nil)
		}
		if vs := e.versions("quarantine", res.CopyKey); len(vs) != 1 {
			t.Fatalf("the corrupt copy was not discarded: %d versions", len(vs))
		}
		if e.get("data", "bad-copy.csv", v) != nil {
			t.Fatal("source version not deleted after a verified copy")
		}
	})
}

// lostAnswer lets the named call reach the server, then loses its answer.
type lostAnswer struct {
	S3API
	call string
	hits int
}

var errLost = errors.New("read: connection reset by peer (injected: the answer was lost)")

func (l *lostAnswer) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	out, err := l.S3API.CompleteMultipartUpload(ctx, in, o...)
	if err == nil && l.call == "CompleteMultipartUpload" && l.hits == 0 {
		l.hits++
		return nil, errLost
	}
	return out, err
}

// Issue 12 item 13: the CompleteMultipartUpload answer is lost; the copy landed, and is found and
// verified as the multipart copy it is (not compared as a single-part ETag).
func TestLostCompleteMultipartAnswerVerifiesAsMultipart(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		body := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16) // 11 MiB: 3 parts
		v, etag := e.put("data", "big.bin", body, "")
		lost := &lostAnswer{S3API: e.client, call: "CompleteMultipartUpload"}
		eng := &Engine{Clients: oneClient{lost}, Options: e.eng.Options, Now: e.eng.Now}
		r := req("f-lost-complete", "data", "big.bin", v, etag, int64(len(body)))
		r.FirstAttempt = true
		res, err := eng.Move(e.ctx, r)
		if lost.hits != 1 {
			t.Fatalf("the Complete answer was not lost (%d)", lost.hits)
		}
		if err != nil {
			t.Fatalf("move after a lost Complete answer: %v", err)
		}
		if res.Outcome != Moved || !res.Multipart {
			t.Fatalf("result %+v", res)
		}
		if got := e.get("quarantine", res.CopyKey, res.CopyVersionID); sum(got) != sum(body) {
			t.Fatal("copy differs")
		}
		if n := len(e.versions("quarantine", res.CopyKey)); n != 1 {
			t.Fatalf("%d copies, want 1", n)
		}
	})
}

// coarseListing rewrites every Last-Modified in ListObjectVersions to one instant in the past:
// what a server with one-second timestamps shows for versions written within the same second,
// and what servers that rewrite Last-Modified show.
type coarseListing struct{ S3API }

func (c coarseListing) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, o ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	out, err := c.S3API.ListObjectVersions(ctx, in, o...)
	if err != nil {
		return nil, err
	}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out.Versions {
		out.Versions[i].LastModified = &t0
	}
	for i := range out.DeleteMarkers {
		out.DeleteMarkers[i].LastModified = &t0
	}
	return out, nil
}

// Issue 12 item 14: all-versions mode quarantines the versions older than the finding's, decided
// from the listing order, and never a version written after it.
func TestAllVersionsNeverTouchesANewerVersion(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		older, _ := e.put("data", "k.csv", []byte("older secret"), "")
		v, etag := e.put("data", "k.csv", csvBody, "")
		newer, _ := e.put("data", "k.csv", []byte("written after the finding"), "")
		eng := &Engine{Clients: oneClient{coarseListing{e.client}}, Options: e.eng.Options, Now: e.eng.Now}
		r := req("f-all-order", "data", "k.csv", v, etag, int64(len(csvBody)))
		r.Settings.DeleteMode = "all-versions"
		res, err := eng.Move(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(e.get("data", "k.csv", newer)); got != "written after the finding" {
			t.Fatalf("the newer version was touched: %q (result %+v)", got, res)
		}
		if vs := e.versions("data", "k.csv"); len(vs) != 1 || vs[0] != newer {
			t.Fatalf("source versions %v, want only the newer %s", vs, newer)
		}
		if got := string(e.get("quarantine", res.CopyKey, res.OlderVersions[older])); got != "older secret" || len(res.OlderVersions) != 1 {
			t.Fatalf("older versions %v: %q", res.OlderVersions, got)
		}
	})
}

// awsKMSETags gives SSE-KMS objects an ETag that is not the MD5 of their bytes, as AWS does
// (versitygw and moto both return an MD5). On versitygw, which has no KMS, it also reports the
// buckets in kmsDefault as encrypting every write with SSE-KMS, as a bucket default would.
type awsKMSETags struct {
	S3API
	kmsDefault map[string]bool
}

func kmsETag(etag string) *string {
	h := md5.Sum([]byte("sse-kms:" + etag))
	return aws.String(`"` + hex.EncodeToString(h[:]) + `"`)
}

func (k awsKMSETags) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	out, err := k.S3API.CopyObject(ctx, in, o...)
	if err == nil && k.kmsDefault[aws.ToString(in.Bucket)] {
		out.ServerSideEncryption = types.ServerSideEncryptionAwsKms
	}
	if err == nil && isKMS(out.ServerSideEncryption) && out.CopyObjectResult != nil {
		out.CopyObjectResult.ETag = kmsETag(aws.ToString(out.CopyObjectResult.ETag))
	}
	return out, err
}

func (k awsKMSETags) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	out, err := k.S3API.HeadObject(ctx, in, o...)
	if err == nil && k.kmsDefault[aws.ToString(in.Bucket)] {
		out.ServerSideEncryption = types.ServerSideEncryptionAwsKms
	}
	if err == nil && isKMS(out.ServerSideEncryption) {
		out.ETag = kmsETag(aws.ToString(out.ETag))
	}
	return out, err
}

// Issue 12 item 15: a quarantine bucket whose default encryption is SSE-KMS (what the infra
// deploys) and no kmsKeyId in the policy: the copy comes back SSE-KMS although none was asked
// for, and its ETag is not an MD5. The move verifies it anyway (checksum, else size).
func TestKMSBucketDefaultWithoutKeyIDVerifies(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		wrap := awsKMSETags{S3API: e.client}
		if e.has(featKMS) {
			e.bucketKMSDefault("quarantine", e.kmsKey())
		} else {
			t.Log("versitygw has no KMS: the wrapper reports the quarantine bucket's copies as SSE-KMS, as a bucket default would")
			wrap.kmsDefault = map[string]bool{"quarantine": true}
		}
		v, etag := e.put("data", "default-kms.csv", csvBody, "")
		eng := &Engine{Clients: oneClient{wrap}, Options: e.eng.Options, Now: e.eng.Now}
		r := req("f-default-kms", "data", "default-kms.csv", v, etag, int64(len(csvBody)))
		r.FirstAttempt = true
		res, err := eng.Move(e.ctx, r)
		if err != nil {
			t.Fatalf("move into an SSE-KMS-by-default bucket: %v", err)
		}
		if !bytes.Equal(e.get("quarantine", res.CopyKey, res.CopyVersionID), csvBody) || e.get("data", "default-kms.csv", v) != nil {
			t.Fatal("move incomplete")
		}
		if res.VerifiedBy == "etag" {
			t.Fatalf("verified by comparing a KMS ETag")
		}
		if e.has(featKMS) && !strings.HasPrefix(res.VerifiedBy, "checksum") {
			t.Fatalf("moto stores checksums: want the copy verified by checksum, got %q", res.VerifiedBy)
		}
		t.Logf("%s: verified by %s", e.server, res.VerifiedBy)
	})
}

// Issue 12 item 16: Release brings the object back under the source's own encryption (type, key,
// bucket key), not the data bucket's default.
func TestReleaseRestoresTheSourceEncryption(t *testing.T) {
	// versitygw has no KMS: the SSE-KMS restore is proven on moto only.
	eachServerWith(t, featKMS, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		srcKey, quarantineKey := e.kmsKey(), e.kmsKey()
		e.bucketKMSDefault("quarantine", quarantineKey)
		key := "kms-source.csv"
		out, err := e.client.PutObject(e.ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: &key, Body: bytes.NewReader(csvBody),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: &srcKey, BucketKeyEnabled: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		r := req("f-kms-src", "data", key, aws.ToString(out.VersionId), aws.ToString(out.ETag), int64(len(csvBody)))
		res, err := e.eng.Move(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if enc := res.SourceEncryption; enc == nil || enc.Type != "aws:kms" || enc.KMSKeyID != srcKey || !enc.BucketKey {
			t.Fatalf("source encryption not recorded: %+v", enc)
		}
		for _, withRecord := range []bool{true, false} {
			rel := ReleaseRequest{FindingID: "f-kms-src", Object: r.Object, CopyBucket: res.CopyBucket, CopyKey: res.CopyKey, CopyVersionID: res.CopyVersionID}
			if withRecord {
				rel.SourceEncryption = res.SourceEncryption
			}
			if _, err := e.eng.Release(e.ctx, rel); err != nil {
				t.Fatalf("release (encryption from the ledger: %v): %v", withRecord, err)
			}
			h, err := e.client.HeadObject(e.ctx, headIn("data", key, ""))
			if err != nil {
				t.Fatal(err)
			}
			if h.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(h.SSEKMSKeyId) != srcKey {
				t.Fatalf("restored under %s %s, want aws:kms %s (encryption from the ledger: %v)", h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId), srcKey, withRecord)
			}
			if !bytes.Equal(e.get("data", key, ""), csvBody) {
				t.Fatal("restored bytes differ")
			}
			if withRecord {
				// Quarantine it again for the second round (markers only, no ledger record).
				v := aws.ToString(h.VersionId)
				r2 := req("f-kms-src-2", "data", key, v, aws.ToString(h.ETag), int64(len(csvBody)))
				if res, err = e.eng.Move(e.ctx, r2); err != nil {
					t.Fatal(err)
				}
				r = r2
			}
		}
	})
}

// crashAfter forwards every call until the named call has completed once, then fails every call,
// as if the process died right after it (before the ledger heard of it).
type crashAfter struct {
	S3API
	call    string
	crashed bool
}

func (c *crashAfter) gate() error {
	if c.crashed {
		return errCrash
	}
	return nil
}
func (c *crashAfter) after(name string) {
	if name == c.call {
		c.crashed = true
	}
}
func (c *crashAfter) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if err := c.gate(); err != nil {
		return nil, err
	}
	defer c.after("HeadObject")
	return c.S3API.HeadObject(ctx, in, o...)
}
func (c *crashAfter) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	if err := c.gate(); err != nil {
		return nil, err
	}
	defer c.after("CopyObject")
	return c.S3API.CopyObject(ctx, in, o...)
}
func (c *crashAfter) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if err := c.gate(); err != nil {
		return nil, err
	}
	defer c.after("DeleteObject")
	return c.S3API.DeleteObject(ctx, in, o...)
}
func (c *crashAfter) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, o ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	if err := c.gate(); err != nil {
		return nil, err
	}
	return c.S3API.ListObjectVersions(ctx, in, o...)
}
func (c *crashAfter) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, o ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	if err := c.gate(); err != nil {
		return nil, err
	}
	return c.S3API.GetObjectTagging(ctx, in, o...)
}

// Issue 12 item 8: a crash after the copy (or after the delete), before the ledger recorded the
// Result: the rerun's Result carries the tags that did not fit again, so Release restores all.
func TestResumeAfterCrashKeepsTheTagsThatDidNotFit(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		tags := "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9"
		for _, crashAt := range []string{"CopyObject", "DeleteObject"} {
			key := "tagged-" + crashAt + ".csv"
			v, etag := e.put("data", key, csvBody, tags)
			r := req("f-tags-"+crashAt, "data", key, v, etag, int64(len(csvBody)))
			r.Settings.Tombstone = true // a call after the delete, for the crash to hit
			crash := &crashAfter{S3API: e.client, call: crashAt}
			if _, err := (&Engine{Clients: oneClient{crash}, Options: e.eng.Options, Now: e.eng.Now}).Move(e.ctx, r); !errors.Is(err, errCrash) {
				t.Fatalf("crash after %s: want the crash, got %v", crashAt, err)
			}
			res, err := e.eng.Move(e.ctx, r)
			if err != nil {
				t.Fatalf("rerun after a crash after %s: %v", crashAt, err)
			}
			if len(res.DroppedTags) != 3 {
				t.Fatalf("crash after %s: rerun reports dropped tags %v, want 3", crashAt, res.DroppedTags)
			}
			if _, err := e.eng.Release(e.ctx, ReleaseRequest{FindingID: r.FindingID, Object: r.Object, CopyBucket: res.CopyBucket,
				CopyKey: res.CopyKey, CopyVersionID: res.CopyVersionID, DroppedTags: res.DroppedTags}); err != nil {
				t.Fatal(err)
			}
			got := e.tags("data", key, "")
			for _, kv := range strings.Split(tags, "&") {
				k, val, _ := strings.Cut(kv, "=")
				if got[k] != val {
					t.Errorf("crash after %s: tag %s lost across move and release: %v", crashAt, k, got)
				}
			}
		}
	})
}

// kmsKey creates a KMS key on moto (KMS's JSON API on the same port) and returns its ARN.
func (e *env) kmsKey() string {
	e.t.Helper()
	rq, _ := http.NewRequestWithContext(e.ctx, http.MethodPost, e.endpoint+"/", strings.NewReader(`{"Description":"macie-chatops test"}`))
	rq.Header.Set("X-Amz-Target", "TrentService.CreateKey")
	rq.Header.Set("Content-Type", "application/x-amz-json-1.1")
	rq.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+e.accessKey+"/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		e.t.Fatalf("create KMS key: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct{ KeyMetadata struct{ Arn string } }
	if err := json.Unmarshal(raw, &out); err != nil || out.KeyMetadata.Arn == "" {
		e.t.Fatalf("create KMS key: HTTP %d %s (%v)", resp.StatusCode, raw, err)
	}
	return out.KeyMetadata.Arn
}

// bucketKMSDefault makes SSE-KMS with keyARN a bucket's default encryption.
func (e *env) bucketKMSDefault(bucket, keyARN string) {
	e.t.Helper()
	_, err := e.client.PutBucketEncryption(e.ctx, &s3.PutBucketEncryptionInput{Bucket: &bucket,
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAwsKms, KMSMasterKeyID: &keyARN},
			BucketKeyEnabled:                   aws.Bool(true),
		}}}})
	if err != nil {
		e.t.Fatalf("default SSE-KMS on %s: %v", bucket, err)
	}
}

// A copy found on resume that was taken from bytes the source no longer has (an unversioned key
// rewritten after the copy) holds the only copy of what Macie flagged: it is never discarded as a
// bad copy, and the new data is never deleted.
func TestResumeKeepsACopyOfBytesTheSourceNoLongerHas(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("udata", false)
		e.bucket("quarantine", true)
		_, etag := e.put("udata", "rewritten.csv", csvBody, "")
		r := req("f-rewritten", "udata", "rewritten.csv", "", etag, int64(len(csvBody)))
		crash := &crashAfter{S3API: e.client, call: "CopyObject"}
		if _, err := (&Engine{Clients: oneClient{crash}, Options: e.eng.Options, Now: e.eng.Now}).Move(e.ctx, r); !errors.Is(err, errCrash) {
			t.Fatalf("want the crash, got %v", err)
		}
		newer := bytes.Repeat([]byte("n"), len(csvBody))
		e.put("udata", "rewritten.csv", newer, "")
		if _, err := e.eng.Move(e.ctx, r); !errors.Is(err, ErrCopyMismatch) {
			t.Fatalf("rerun over a rewritten key: want ErrCopyMismatch, got %v", err)
		}
		if !bytes.Equal(e.get("udata", "rewritten.csv", ""), newer) {
			t.Fatal("the new data was touched")
		}
		key := DestKey(r.Object)
		vs := e.versions("quarantine", key)
		if len(vs) != 1 || !bytes.Equal(e.get("quarantine", key, vs[0]), csvBody) {
			t.Fatalf("the copy of the flagged bytes was not kept: %d versions", len(vs))
		}
	})
}
