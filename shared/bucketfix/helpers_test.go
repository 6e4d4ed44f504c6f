package bucketfix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedMoto()
	os.Exit(code)
}

// Servers the suite knows. versitygw implements none of the bucket-configuration APIs (it
// answers 501 NotImplemented to Get/Put/DeletePublicAccessBlock, BucketEncryption and
// BucketReplication: probed with versitygw's pinned version), so the remediation tests run on
// moto only, and TestVersityGWSaysWhatIsMissing pins the error a user of versitygw sees.
var servers = []string{"versitygw", "moto"}

func serverHas(server string, kind Kind) bool {
	return server == "moto"
}

// env is one server with a bucket to remediate.
type env struct {
	t        testing.TB
	server   string
	endpoint string
	creds    aws.Credentials
	client   *s3.Client
	spy      *spy
	fixer    *Fixer
	ctx      context.Context
	bucket   string
}

// eachServerWith runs f on every server that implements the kind's APIs, and only there: a
// server without them gets no subtest (nothing to skip), and the test names the servers it left
// out. A kind no server has fails the test, so it can never pass by running nothing.
func eachServerWith(t *testing.T, kind Kind, f func(t *testing.T, e *env)) {
	t.Helper()
	testenv.EachServerWith(t, servers, func(s string) bool { return serverHas(s, kind) }, fmt.Sprintf("the %s APIs", kind), newEnvOn, f)
}

func newEnvOn(t testing.TB, server string) *env {
	t.Helper()
	var endpoint, access, secret string
	switch server {
	case "versitygw":
		srv := testenv.VersityGW(t)
		endpoint, access, secret = srv.Endpoint, srv.AccessKey, srv.SecretKey
	case "moto":
		srv := testenv.SharedMoto(t)
		endpoint, access, secret = srv.Endpoint, testenv.MotoCredentials.AccessKey, testenv.MotoCredentials.SecretKey
	default:
		t.Fatalf("unknown test server %q", server)
	}
	client := s3.New(s3.Options{Region: "us-east-1",
		Credentials: credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}}},
		func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true })
	e := &env{t: t, server: server, endpoint: endpoint, creds: aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}, client: client, ctx: testenv.Context(t), bucket: "member-data"}
	e.spy = &spy{next: client, calls: map[string]int{}}
	e.fixer = &Fixer{S3: e.spy}
	if _, err := client.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: &e.bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", e.bucket, err)
	}
	// S3 accepts a replication configuration only on a versioned bucket.
	if _, err := client.PutBucketVersioning(e.ctx, &s3.PutBucketVersioningInput{Bucket: &e.bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("enable versioning on %s: %v", e.bucket, err)
	}
	return e
}

// state is the bucket's setting as S3 shows it, read with the plain client (not the Fixer):
// whether it is configured, and the configuration JSON-encoded.
func (e *env) state(kind Kind) (bool, string) {
	e.t.Helper()
	var cfg any
	var err error
	switch kind {
	case BlockPublicAccess:
		var out *s3.GetPublicAccessBlockOutput
		if out, err = e.client.GetPublicAccessBlock(e.ctx, &s3.GetPublicAccessBlockInput{Bucket: &e.bucket}); err == nil {
			cfg = out.PublicAccessBlockConfiguration
		}
	case DefaultEncryption:
		var out *s3.GetBucketEncryptionOutput
		if out, err = e.client.GetBucketEncryption(e.ctx, &s3.GetBucketEncryptionInput{Bucket: &e.bucket}); err == nil {
			cfg = out.ServerSideEncryptionConfiguration
		}
	case ExternalReplication:
		var out *s3.GetBucketReplicationOutput
		if out, err = e.client.GetBucketReplication(e.ctx, &s3.GetBucketReplicationInput{Bucket: &e.bucket}); err == nil {
			cfg = out.ReplicationConfiguration
		}
	}
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch ae.ErrorCode() {
			case "NoSuchPublicAccessBlockConfiguration", "ServerSideEncryptionConfigurationNotFoundError", "ReplicationConfigurationNotFoundError":
				return false, ""
			}
		}
		e.t.Fatalf("read %s of %s: %v", kind, e.bucket, err)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return true, string(raw)
}

// set puts a configuration with the plain client (someone else changing the bucket).
func (e *env) set(cfg any) {
	e.t.Helper()
	var err error
	switch c := cfg.(type) {
	case *types.PublicAccessBlockConfiguration:
		_, err = e.client.PutPublicAccessBlock(e.ctx, &s3.PutPublicAccessBlockInput{Bucket: &e.bucket, PublicAccessBlockConfiguration: c})
	case *types.ServerSideEncryptionConfiguration:
		_, err = e.client.PutBucketEncryption(e.ctx, &s3.PutBucketEncryptionInput{Bucket: &e.bucket, ServerSideEncryptionConfiguration: c})
	case *types.ReplicationConfiguration:
		_, err = e.client.PutBucketReplication(e.ctx, &s3.PutBucketReplicationInput{Bucket: &e.bucket, ReplicationConfiguration: c})
	default:
		e.t.Fatalf("set: unknown configuration %T", cfg)
	}
	if err != nil {
		e.t.Fatalf("set %T on %s: %v", cfg, e.bucket, err)
	}
}

// stored is a plan as the ledger gives it back: JSON-encoded and decoded again, so every test
// proves the plan survives storage (and a process that restarts between Inspect and Apply).
func stored(t testing.TB, p Plan) Plan {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("encode plan: %v", err)
	}
	var q Plan
	if err := json.Unmarshal(raw, &q); err != nil {
		t.Fatalf("decode plan %s: %v", raw, err)
	}
	return q
}

// spy is the API in front of the server: it counts calls by operation, and can fail one call of
// an operation: "lost" does the call and then returns an error (the answer never arrived),
// "fail" returns an error without calling. gate, when set, runs before every write (to hold
// writers at a barrier).
type spy struct {
	next API

	mu    sync.Mutex
	calls map[string]int
	fault map[string]*fault
	gate  func(ctx context.Context, op string)
	after func(op string) // runs after every successful write (someone else acting right then)
}

type fault struct {
	mode string // "lost" | "fail"
	skip int    // calls of the operation to let through first
}

var errInjected = errors.New("connection reset (injected)")

func (s *spy) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

func (s *spy) count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// writes is the number of Put*/Delete* calls since the last reset.
func (s *spy) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for op, c := range s.calls {
		if strings.HasPrefix(op, "Put") || strings.HasPrefix(op, "Delete") {
			n += c
		}
	}
	return n
}

// failOnce fails the call of op after skip more calls of it, once.
func (s *spy) failOnce(op, mode string, skip int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == nil {
		s.fault = map[string]*fault{}
	}
	s.fault[op] = &fault{mode: mode, skip: skip}
}

// pending reports whether an injected fault has not fired yet.
func (s *spy) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fault) > 0
}

// call runs one operation through the spy.
func call[O any](ctx context.Context, s *spy, op string, write bool, f func() (O, error)) (O, error) {
	s.mu.Lock()
	s.calls[op]++
	mode := ""
	if ft := s.fault[op]; ft != nil {
		if ft.skip == 0 {
			mode = ft.mode
			delete(s.fault, op)
		} else {
			ft.skip--
		}
	}
	gate, after := s.gate, s.after
	s.mu.Unlock()
	var zero O
	if write && gate != nil {
		gate(ctx, op)
	}
	if mode == "fail" {
		return zero, fmt.Errorf("%s: %w", op, errInjected)
	}
	out, err := f()
	if write && err == nil && after != nil {
		after(op)
	}
	if mode == "lost" && err == nil {
		return zero, fmt.Errorf("%s: %w", op, errInjected)
	}
	return out, err
}

func (s *spy) GetPublicAccessBlock(ctx context.Context, in *s3.GetPublicAccessBlockInput, o ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error) {
	return call(ctx, s, "GetPublicAccessBlock", false, func() (*s3.GetPublicAccessBlockOutput, error) { return s.next.GetPublicAccessBlock(ctx, in, o...) })
}
func (s *spy) PutPublicAccessBlock(ctx context.Context, in *s3.PutPublicAccessBlockInput, o ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error) {
	return call(ctx, s, "PutPublicAccessBlock", true, func() (*s3.PutPublicAccessBlockOutput, error) { return s.next.PutPublicAccessBlock(ctx, in, o...) })
}
func (s *spy) DeletePublicAccessBlock(ctx context.Context, in *s3.DeletePublicAccessBlockInput, o ...func(*s3.Options)) (*s3.DeletePublicAccessBlockOutput, error) {
	return call(ctx, s, "DeletePublicAccessBlock", true, func() (*s3.DeletePublicAccessBlockOutput, error) {
		return s.next.DeletePublicAccessBlock(ctx, in, o...)
	})
}
func (s *spy) GetBucketEncryption(ctx context.Context, in *s3.GetBucketEncryptionInput, o ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error) {
	return call(ctx, s, "GetBucketEncryption", false, func() (*s3.GetBucketEncryptionOutput, error) { return s.next.GetBucketEncryption(ctx, in, o...) })
}
func (s *spy) PutBucketEncryption(ctx context.Context, in *s3.PutBucketEncryptionInput, o ...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error) {
	return call(ctx, s, "PutBucketEncryption", true, func() (*s3.PutBucketEncryptionOutput, error) { return s.next.PutBucketEncryption(ctx, in, o...) })
}
func (s *spy) DeleteBucketEncryption(ctx context.Context, in *s3.DeleteBucketEncryptionInput, o ...func(*s3.Options)) (*s3.DeleteBucketEncryptionOutput, error) {
	return call(ctx, s, "DeleteBucketEncryption", true, func() (*s3.DeleteBucketEncryptionOutput, error) { return s.next.DeleteBucketEncryption(ctx, in, o...) })
}
func (s *spy) GetBucketReplication(ctx context.Context, in *s3.GetBucketReplicationInput, o ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error) {
	return call(ctx, s, "GetBucketReplication", false, func() (*s3.GetBucketReplicationOutput, error) { return s.next.GetBucketReplication(ctx, in, o...) })
}
func (s *spy) PutBucketReplication(ctx context.Context, in *s3.PutBucketReplicationInput, o ...func(*s3.Options)) (*s3.PutBucketReplicationOutput, error) {
	return call(ctx, s, "PutBucketReplication", true, func() (*s3.PutBucketReplicationOutput, error) { return s.next.PutBucketReplication(ctx, in, o...) })
}
func (s *spy) DeleteBucketReplication(ctx context.Context, in *s3.DeleteBucketReplicationInput, o ...func(*s3.Options)) (*s3.DeleteBucketReplicationOutput, error) {
	return call(ctx, s, "DeleteBucketReplication", true, func() (*s3.DeleteBucketReplicationOutput, error) {
		return s.next.DeleteBucketReplication(ctx, in, o...)
	})
}

// Accounts in the replication tests.
const (
	memberAccount   = "111122223333" // the bucket's own account, in the org
	orgAccount      = "222233334444" // another account of the org
	externalAccount = "444455556666" // not in the org
	roleARN         = "arn:aws:iam::111122223333:role/s3-replication"
)

// inOrg is the org's membership for the tests.
func inOrg(_ context.Context, account string) (bool, error) {
	return account == memberAccount || account == orgAccount, nil
}

func bpa(acls, ignore, policy, restrict bool) *types.PublicAccessBlockConfiguration {
	return &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(acls), IgnorePublicAcls: aws.Bool(ignore),
		BlockPublicPolicy: aws.Bool(policy), RestrictPublicBuckets: aws.Bool(restrict)}
}

func sse(alg types.ServerSideEncryption, key string, bucketKey bool) *types.ServerSideEncryptionConfiguration {
	d := &types.ServerSideEncryptionByDefault{SSEAlgorithm: alg}
	if key != "" {
		d.KMSMasterKeyID = aws.String(key)
	}
	return &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: d, BucketKeyEnabled: aws.Bool(bucketKey)}}}
}

func rule(id, prefix string, priority int32, status types.ReplicationRuleStatus, destBucket, account string) types.ReplicationRule {
	r := types.ReplicationRule{ID: aws.String(id), Status: status, Priority: aws.Int32(priority),
		Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String(prefix)},
		DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
		Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::" + destBucket), StorageClass: types.StorageClassStandardIa}}
	if account != "" {
		r.Destination.Account = aws.String(account)
	}
	return r
}

func replication(rules ...types.ReplicationRule) *types.ReplicationConfiguration {
	return &types.ReplicationConfiguration{Role: aws.String(roleARN), Rules: rules}
}

func deletePAB(bucket string) *s3.DeletePublicAccessBlockInput {
	return &s3.DeletePublicAccessBlockInput{Bucket: aws.String(bucket)}
}
