package quarantine

import (
	"bytes"

	"context"
	"github.com/aws/aws-sdk-go-v2/aws"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// kmsRecorder records what the engine asks for. On versitygw, which has no KMS, it strips the
// KMS parameters before they reach the server and reports every object as SSE-KMS.
type kmsRecorder struct {
	S3API
	strip  bool
	mu     sync.Mutex
	copies []s3.CopyObjectInput
}

func (k *kmsRecorder) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	k.mu.Lock()
	k.copies = append(k.copies, *in)
	k.mu.Unlock()
	if !k.strip {
		return k.S3API.CopyObject(ctx, in, o...)
	}
	stripped := *in
	stripped.ServerSideEncryption, stripped.SSEKMSKeyId = "", nil
	out, err := k.S3API.CopyObject(ctx, &stripped, o...)
	if err == nil {
		out.ServerSideEncryption = types.ServerSideEncryptionAwsKms
	}
	return out, err
}

func (k *kmsRecorder) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	out, err := k.S3API.HeadObject(ctx, in, o...)
	if err == nil && k.strip {
		out.ServerSideEncryption = types.ServerSideEncryptionAwsKms
	}
	return out, err
}

// The policy's kmsKeyId encrypts the copy (moto: a real KMS key, read back from the copy), and an
// SSE-KMS copy is never verified by its ETag (AWS's SSE-KMS ETags are not MD5s).
func TestKMSKeyIsUsedAndVerificationReadsBack(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		keyID := "arn:aws:kms:us-east-1:111122223333:key/quarantine"
		if e.has(featKMS) {
			keyID = e.kmsKey()
		} else {
			t.Log("versitygw has no KMS: the KMS parameters are recorded and stripped, and objects reported as SSE-KMS")
		}
		v, etag := e.put("data", "kms.csv", csvBody, "")
		rec := &kmsRecorder{S3API: e.client, strip: !e.has(featKMS)}
		eng := &Engine{Clients: oneClient{rec}, Options: e.eng.Options, Now: e.eng.Now}
		r := req("f-kms", "data", "kms.csv", v, etag, int64(len(csvBody)))
		r.Settings.KMSKeyID = keyID
		r.FirstAttempt = true
		res, err := eng.Move(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.copies) != 1 || rec.copies[0].ServerSideEncryption != types.ServerSideEncryptionAwsKms ||
			*rec.copies[0].SSEKMSKeyId != keyID {
			t.Fatalf("copy not encrypted with the quarantine key: %+v", rec.copies)
		}
		if res.VerifiedBy == "etag" || res.VerifiedBy == "" {
			t.Fatalf("an SSE-KMS copy verified by %q", res.VerifiedBy)
		}
		if e.has(featKMS) {
			h, err := e.client.HeadObject(e.ctx, headIn("quarantine", res.CopyKey, res.CopyVersionID))
			if err != nil {
				t.Fatal(err)
			}
			if h.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(h.SSEKMSKeyId) != keyID {
				t.Fatalf("copy encrypted with %s %s, want aws:kms %s", h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId), keyID)
			}
		}
		if !bytes.Equal(e.get("quarantine", res.CopyKey, res.CopyVersionID), csvBody) || e.get("data", "kms.csv", v) != nil {
			t.Fatal("move incomplete")
		}
	})
}
