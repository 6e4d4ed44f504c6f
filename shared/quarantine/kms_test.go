package quarantine

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// kmsRecorder records what the engine asks for and strips the KMS parameters before they reach
// versitygw, which has no KMS. It also reports source objects as KMS-encrypted.
type kmsRecorder struct {
	S3API
	mu     sync.Mutex
	copies []s3.CopyObjectInput
	heads  int
}

func (k *kmsRecorder) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	k.mu.Lock()
	k.copies = append(k.copies, *in)
	k.mu.Unlock()
	stripped := *in
	stripped.ServerSideEncryption, stripped.SSEKMSKeyId = "", nil
	return k.S3API.CopyObject(ctx, &stripped, o...)
}

func (k *kmsRecorder) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	k.mu.Lock()
	k.heads++
	k.mu.Unlock()
	out, err := k.S3API.HeadObject(ctx, in, o...)
	if err == nil {
		out.ServerSideEncryption = types.ServerSideEncryptionAwsKms
	}
	return out, err
}

func TestKMSKeyIsUsedAndVerificationReadsBack(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		e.bucket("data", true)
		e.bucket("quarantine", true)
		v, etag := e.put("data", "kms.csv", csvBody, "")
		rec := &kmsRecorder{S3API: e.client}
		eng := &Engine{Clients: oneClient{rec}, Options: e.eng.Options, Now: e.eng.Now}
		r := req("f-kms", "data", "kms.csv", v, etag, int64(len(csvBody)))
		r.Settings.KMSKeyID = "arn:aws:kms:us-east-1:111122223333:key/quarantine"
		r.FirstAttempt = true
		res, err := eng.Move(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.copies) != 1 || rec.copies[0].ServerSideEncryption != types.ServerSideEncryptionAwsKms ||
			*rec.copies[0].SSEKMSKeyId != r.Settings.KMSKeyID {
			t.Fatalf("copy not encrypted with the quarantine key: %+v", rec.copies)
		}
		// With KMS the ETag is not an MD5, so the copy is read back (source HEAD + copy HEAD).
		if rec.heads != 2 {
			t.Fatalf("want a read-back HEAD for verification, got %d HEADs", rec.heads)
		}
		if !bytes.Equal(e.get("quarantine", res.CopyKey, res.CopyVersionID), csvBody) || e.get("data", "kms.csv", v) != nil {
			t.Fatal("move incomplete")
		}
	})
}
