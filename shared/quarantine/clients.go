package quarantine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// Assumer is the STS call the central account makes into a member account.
type Assumer interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// RoleClients assumes the quarantine role in the object's account and caches the credentials
// per account until shortly before they expire.
type RoleClients struct {
	STS        Assumer
	RoleName   string // e.g. macie-chatops-quarantine
	ExternalID string
	Partition  string        // "aws" unless GovCloud or China
	Margin     time.Duration // refresh this long before expiry (default 5 min)
	Now        func() time.Time
	// NewS3 builds a client from credentials; tests and local mode point it at an endpoint.
	NewS3 func(creds aws.Credentials, region string) S3API

	mu    sync.Mutex
	cache map[string]cachedCreds
}

type cachedCreds struct {
	creds   aws.Credentials
	clients map[string]S3API // by region
}

// RoleARN is the quarantine role in an account.
func (r *RoleClients) RoleARN(accountID string) string {
	p := r.Partition
	if p == "" {
		p = "aws"
	}
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", p, accountID, r.RoleName)
}

// S3For returns a client acting as the account's quarantine role. The session is named after
// the finding that caused the assume, so CloudTrail in the member account says why.
func (r *RoleClients) S3For(ctx context.Context, accountID, region, sessionName string) (S3API, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	margin := r.Margin
	if margin == 0 {
		margin = 5 * time.Minute
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache == nil {
		r.cache = map[string]cachedCreds{}
	}
	c, ok := r.cache[accountID]
	if !ok || !now().Add(margin).Before(c.creds.Expires) {
		out, err := r.STS.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String(r.RoleARN(accountID)),
			RoleSessionName: aws.String(sessionName),
			ExternalId:      aws.String(r.ExternalID),
			DurationSeconds: aws.Int32(3600),
		})
		if err != nil {
			return nil, fmt.Errorf("assume %s: %w (is the member stack deployed in account %s, with this ExternalId?)", r.RoleARN(accountID), err, accountID)
		}
		if out.Credentials == nil {
			return nil, fmt.Errorf("assume %s: STS returned no credentials", r.RoleARN(accountID))
		}
		c = cachedCreds{
			creds: aws.Credentials{
				AccessKeyID: aws.ToString(out.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
				SessionToken: aws.ToString(out.Credentials.SessionToken), CanExpire: true, Expires: aws.ToTime(out.Credentials.Expiration),
				Source: "macie-chatops AssumeRole",
			},
			clients: map[string]S3API{},
		}
		r.cache[accountID] = c
	}
	cl, ok := c.clients[region]
	if !ok {
		cl = r.NewS3(c.creds, region)
		c.clients[region] = cl
	}
	return cl, nil
}

// StaticClients maps accounts to fixed credentials on one endpoint: local mode, where each
// "account" is a separate credential set on the local S3 server.
type StaticClients struct {
	Endpoint string
	Accounts map[string]aws.Credentials
	// APIOptions are added to every client's middleware stack (the benchmark's request counter).
	APIOptions []func(*middleware.Stack) error

	mu      sync.Mutex
	clients map[string]S3API
}

func (s *StaticClients) S3For(_ context.Context, accountID, region, _ string) (S3API, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	creds, ok := s.Accounts[accountID]
	if !ok {
		return nil, fmt.Errorf("no credentials for account %s (local mode knows %d accounts)", accountID, len(s.Accounts))
	}
	if s.clients == nil {
		s.clients = map[string]S3API{}
	}
	key := accountID + "/" + region
	if c, ok := s.clients[key]; ok {
		return c, nil
	}
	c := NewS3Client(s.Endpoint, creds, region, func(o *s3.Options) { o.APIOptions = append(o.APIOptions, s.APIOptions...) })
	s.clients[key] = c
	return c, nil
}

// NewS3Client builds a path-style client for an endpoint ("" = AWS).
func NewS3Client(endpoint string, creds aws.Credentials, region string, optFns ...func(*s3.Options)) *s3.Client {
	if region == "" {
		region = "us-east-1"
	}
	return s3.New(s3.Options{
		Region:      region,
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
	}, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	}, func(o *s3.Options) {
		for _, fn := range optFns {
			fn(o)
		}
	})
}
