package bucketfix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// kindOps is what differs between the kinds: how to read and write the setting, what the fixed
// setting is, how to compare two settings and how to describe one to a person.
type kindOps struct {
	kind Kind
	// read returns the setting as S3 shows it now.
	read func(ctx context.Context, api API, bucket string) (Snapshot, error)
	// write makes S3 show s: Put when s.Present, Delete otherwise.
	write func(ctx context.Context, api API, s Snapshot) error
	// target is the fixed setting for the current one (nil: no configuration) and notes.
	target func(ctx context.Context, cur Snapshot, spec Spec) (json.RawMessage, []string, error)
	// canonical is a raw configuration decoded, normalised and encoded again, for comparing.
	canonical func(raw json.RawMessage) ([]byte, error)
	// text describes a setting in a few words for Slack.
	text func(s Snapshot) (string, error)
}

func opsFor(kind Kind) (kindOps, error) {
	switch kind {
	case BlockPublicAccess:
		return bpaOps, nil
	case DefaultEncryption:
		return encOps, nil
	case ExternalReplication:
		return repOps, nil
	}
	return kindOps{}, fmt.Errorf("bucketfix: unknown remediation kind %q (want %s, %s or %s)", kind, BlockPublicAccess, DefaultEncryption, ExternalReplication)
}

// readErr turns an S3 read or write error into one that says what to do. notFound is the error
// code S3 uses for "this bucket has no such configuration"; it is reported as (true, nil).
func readErr(err error, op, bucket, notFound string) (bool, error) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case notFound:
			return true, nil
		case "NoSuchBucket":
			return false, fmt.Errorf("bucketfix: %s on bucket %s: the bucket does not exist (deleted since the finding?): %w", op, bucket, err)
		case "NotImplemented":
			return false, fmt.Errorf("bucketfix: %s on bucket %s: this S3 endpoint does not implement %s (versitygw does not; use AWS S3 or moto): %w", op, bucket, op, err)
		case "AccessDenied":
			return false, fmt.Errorf("bucketfix: %s on bucket %s: access denied; is the bucket-settings role deployed in the bucket's account with s3:%s? %w", op, bucket, op, err)
		}
	}
	return false, fmt.Errorf("bucketfix: %s on bucket %s: %w (a repeat is safe)", op, bucket, err)
}

func writeErr(err error, op, bucket string) error {
	_, err = readErr(err, op, bucket, "")
	return err
}

// snap builds a present snapshot from the configuration member of a Get output.
func snap(kind Kind, bucket string, cfg any) (Snapshot, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return Snapshot{}, fmt.Errorf("bucketfix: encode %s of bucket %s: %w", kind, bucket, err)
	}
	return Snapshot{Kind: kind, Bucket: bucket, Present: true, Raw: raw}, nil
}

func decode[T any](raw json.RawMessage) (*T, error) {
	var v T
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return &v, nil
}

func boolOr(b *bool) *bool { return aws.Bool(aws.ToBool(b)) }

// --- Block Public Access -------------------------------------------------------------------

var bpaOps = kindOps{
	kind: BlockPublicAccess,
	read: func(ctx context.Context, api API, bucket string) (Snapshot, error) {
		out, err := api.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket})
		if err != nil {
			absent, err := readErr(err, "GetPublicAccessBlock", bucket, "NoSuchPublicAccessBlockConfiguration")
			return Snapshot{Kind: BlockPublicAccess, Bucket: bucket}, mustAbsent(absent, err)
		}
		if out.PublicAccessBlockConfiguration == nil {
			return Snapshot{Kind: BlockPublicAccess, Bucket: bucket}, nil
		}
		return snap(BlockPublicAccess, bucket, out.PublicAccessBlockConfiguration)
	},
	write: func(ctx context.Context, api API, s Snapshot) error {
		if !s.Present {
			_, err := api.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: &s.Bucket})
			if err != nil {
				return writeErr(err, "DeletePublicAccessBlock", s.Bucket)
			}
			return nil
		}
		cfg, err := decode[types.PublicAccessBlockConfiguration](s.Raw)
		if err != nil {
			return err
		}
		_, err = api.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: &s.Bucket, PublicAccessBlockConfiguration: cfg})
		if err != nil {
			return writeErr(err, "PutPublicAccessBlock", s.Bucket)
		}
		return nil
	},
	target: func(ctx context.Context, cur Snapshot, spec Spec) (json.RawMessage, []string, error) {
		raw, err := json.Marshal(types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)})
		return raw, nil, err
	},
	canonical: func(raw json.RawMessage) ([]byte, error) {
		c, err := decode[types.PublicAccessBlockConfiguration](raw)
		if err != nil {
			return nil, err
		}
		c.BlockPublicAcls, c.IgnorePublicAcls = boolOr(c.BlockPublicAcls), boolOr(c.IgnorePublicAcls)
		c.BlockPublicPolicy, c.RestrictPublicBuckets = boolOr(c.BlockPublicPolicy), boolOr(c.RestrictPublicBuckets)
		return json.Marshal(c)
	},
	text: func(s Snapshot) (string, error) {
		if !s.Present {
			return "Block Public Access: none (not configured)", nil
		}
		c, err := decode[types.PublicAccessBlockConfiguration](s.Raw)
		if err != nil {
			return "", err
		}
		var on []string
		for _, f := range []struct {
			name string
			v    *bool
		}{{"BlockPublicAcls", c.BlockPublicAcls}, {"IgnorePublicAcls", c.IgnorePublicAcls}, {"BlockPublicPolicy", c.BlockPublicPolicy}, {"RestrictPublicBuckets", c.RestrictPublicBuckets}} {
			if aws.ToBool(f.v) {
				on = append(on, f.name)
			}
		}
		switch len(on) {
		case 0:
			return "Block Public Access: none", nil
		case 4:
			return "Block Public Access: all four on", nil
		}
		return fmt.Sprintf("Block Public Access: %d of 4 on (%s)", len(on), strings.Join(on, ", ")), nil
	},
}

// mustAbsent finishes a read that failed: "not configured" is a state, anything else an error.
func mustAbsent(absent bool, err error) error {
	if absent {
		return nil
	}
	return err
}

// --- Default encryption --------------------------------------------------------------------

var encOps = kindOps{
	kind: DefaultEncryption,
	read: func(ctx context.Context, api API, bucket string) (Snapshot, error) {
		out, err := api.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: &bucket})
		if err != nil {
			absent, err := readErr(err, "GetBucketEncryption", bucket, "ServerSideEncryptionConfigurationNotFoundError")
			return Snapshot{Kind: DefaultEncryption, Bucket: bucket}, mustAbsent(absent, err)
		}
		if out.ServerSideEncryptionConfiguration == nil {
			return Snapshot{Kind: DefaultEncryption, Bucket: bucket}, nil
		}
		return snap(DefaultEncryption, bucket, out.ServerSideEncryptionConfiguration)
	},
	write: func(ctx context.Context, api API, s Snapshot) error {
		if !s.Present {
			_, err := api.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: &s.Bucket})
			if err != nil {
				return writeErr(err, "DeleteBucketEncryption", s.Bucket)
			}
			return nil
		}
		cfg, err := decode[types.ServerSideEncryptionConfiguration](s.Raw)
		if err != nil {
			return err
		}
		_, err = api.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: &s.Bucket, ServerSideEncryptionConfiguration: cfg})
		if err != nil {
			return writeErr(err, "PutBucketEncryption", s.Bucket)
		}
		return nil
	},
	target: func(ctx context.Context, cur Snapshot, spec Spec) (json.RawMessage, []string, error) {
		e := spec.Encryption
		def := &types.ServerSideEncryptionByDefault{}
		rule := types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: def}
		switch e.Algorithm {
		case string(types.ServerSideEncryptionAes256):
			if e.KMSKeyID != "" {
				return nil, nil, fmt.Errorf("the encryption setting names KMS key %q with algorithm AES256: a key needs algorithm aws:kms", e.KMSKeyID)
			}
			def.SSEAlgorithm = types.ServerSideEncryptionAes256
			// BucketKey is ignored: S3 Bucket Keys are an SSE-KMS feature.
		case string(types.ServerSideEncryptionAwsKms):
			def.SSEAlgorithm = types.ServerSideEncryptionAwsKms
			if e.KMSKeyID != "" {
				def.KMSMasterKeyID = aws.String(e.KMSKeyID)
			}
			rule.BucketKeyEnabled = aws.Bool(e.BucketKey)
		case "":
			return nil, nil, errors.New("the policy names no default encryption algorithm: set bucketFixes encryption algorithm to AES256 or aws:kms")
		default:
			return nil, nil, fmt.Errorf("default encryption algorithm %q is not supported: use AES256 or aws:kms", e.Algorithm)
		}
		if cur.Present {
			// Keep what the fix is not about: a block on SSE-C uploads stays.
			c, err := decode[types.ServerSideEncryptionConfiguration](cur.Raw)
			if err != nil {
				return nil, nil, err
			}
			if len(c.Rules) > 0 {
				rule.BlockedEncryptionTypes = c.Rules[0].BlockedEncryptionTypes
			}
		}
		raw, err := json.Marshal(types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{rule}})
		return raw, nil, err
	},
	canonical: func(raw json.RawMessage) ([]byte, error) {
		c, err := decode[types.ServerSideEncryptionConfiguration](raw)
		if err != nil {
			return nil, err
		}
		for i := range c.Rules {
			c.Rules[i].BucketKeyEnabled = boolOr(c.Rules[i].BucketKeyEnabled)
			if b := c.Rules[i].BlockedEncryptionTypes; b != nil && len(b.EncryptionType) == 0 {
				c.Rules[i].BlockedEncryptionTypes = nil
			}
		}
		return json.Marshal(c)
	},
	text: func(s Snapshot) (string, error) {
		if !s.Present {
			return "Default encryption: none", nil
		}
		c, err := decode[types.ServerSideEncryptionConfiguration](s.Raw)
		if err != nil {
			return "", err
		}
		if len(c.Rules) == 0 || c.Rules[0].ApplyServerSideEncryptionByDefault == nil {
			return "Default encryption: none", nil
		}
		r := c.Rules[0]
		d := r.ApplyServerSideEncryptionByDefault
		key := "the AWS managed key aws/s3"
		if k := aws.ToString(d.KMSMasterKeyID); k != "" {
			key = "key " + k
		}
		bk := "bucket key off"
		if aws.ToBool(r.BucketKeyEnabled) {
			bk = "bucket key on"
		}
		switch d.SSEAlgorithm {
		case types.ServerSideEncryptionAes256:
			return "Default encryption: SSE-S3 (AES256)", nil
		case types.ServerSideEncryptionAwsKms:
			return fmt.Sprintf("Default encryption: SSE-KMS (%s, %s)", key, bk), nil
		case types.ServerSideEncryptionAwsKmsDsse:
			return fmt.Sprintf("Default encryption: DSSE-KMS (%s)", key), nil
		}
		return fmt.Sprintf("Default encryption: %s", d.SSEAlgorithm), nil
	},
}

// --- External replication ------------------------------------------------------------------

// destAccount is the account a replication rule writes to. S3 bucket ARNs carry no account, so
// only Destination.Account names it; a rule without it is "unknown" ("", false).
func destAccount(r types.ReplicationRule) (string, bool) {
	if r.Destination == nil || aws.ToString(r.Destination.Account) == "" {
		return "", false
	}
	return aws.ToString(r.Destination.Account), true
}

func ruleName(i int, r types.ReplicationRule) string {
	if id := aws.ToString(r.ID); id != "" {
		return fmt.Sprintf("%q", id)
	}
	return fmt.Sprintf("#%d (no ID)", i+1)
}

var repOps = kindOps{
	kind: ExternalReplication,
	read: func(ctx context.Context, api API, bucket string) (Snapshot, error) {
		out, err := api.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: &bucket})
		if err != nil {
			absent, err := readErr(err, "GetBucketReplication", bucket, "ReplicationConfigurationNotFoundError")
			return Snapshot{Kind: ExternalReplication, Bucket: bucket}, mustAbsent(absent, err)
		}
		if out.ReplicationConfiguration == nil {
			return Snapshot{Kind: ExternalReplication, Bucket: bucket}, nil
		}
		return snap(ExternalReplication, bucket, out.ReplicationConfiguration)
	},
	write: func(ctx context.Context, api API, s Snapshot) error {
		if !s.Present {
			_, err := api.DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: &s.Bucket})
			if err != nil {
				return writeErr(err, "DeleteBucketReplication", s.Bucket)
			}
			return nil
		}
		cfg, err := decode[types.ReplicationConfiguration](s.Raw)
		if err != nil {
			return err
		}
		_, err = api.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: &s.Bucket, ReplicationConfiguration: cfg})
		if err != nil {
			return writeErr(err, "PutBucketReplication", s.Bucket)
		}
		return nil
	},
	// The fix disables exactly the enabled rules whose destination account is outside the
	// organization (or unknown); the role and every other field of every rule stay as S3 gave
	// them. No configuration, or no such rule, means there is nothing to fix.
	target: func(ctx context.Context, cur Snapshot, spec Spec) (json.RawMessage, []string, error) {
		if !cur.Present {
			return nil, nil, nil
		}
		if spec.InOrg == nil {
			return nil, nil, errors.New("Spec.InOrg is not set: the remediator must say which accounts are inside the organization")
		}
		c, err := decode[types.ReplicationConfiguration](cur.Raw)
		if err != nil {
			return nil, nil, err
		}
		var notes []string
		inOrg := map[string]bool{}
		for i, r := range c.Rules {
			if r.Status != types.ReplicationRuleStatusEnabled {
				continue
			}
			bucket := ""
			if r.Destination != nil {
				bucket = aws.ToString(r.Destination.Bucket)
			}
			acct, known := destAccount(r)
			if !known {
				notes = append(notes, fmt.Sprintf("rule %s replicates to %s, whose account the rule does not name (Destination.Account): treated as outside the organization and disabled; set Destination.Account to keep a rule to an org account",
					ruleName(i, r), bucket))
				c.Rules[i].Status = types.ReplicationRuleStatusDisabled
				continue
			}
			in, seen := inOrg[acct]
			if !seen {
				in, err = spec.InOrg(ctx, acct)
				if err != nil {
					return nil, nil, fmt.Errorf("is account %s (destination of rule %s) in the organization? %w", acct, ruleName(i, r), err)
				}
				inOrg[acct] = in
			}
			if !in {
				notes = append(notes, fmt.Sprintf("rule %s replicates to %s in account %s, outside the organization: disabled", ruleName(i, r), bucket, acct))
				c.Rules[i].Status = types.ReplicationRuleStatusDisabled
			}
		}
		raw, err := json.Marshal(c)
		return raw, notes, err
	},
	canonical: func(raw json.RawMessage) ([]byte, error) {
		c, err := decode[types.ReplicationConfiguration](raw)
		if err != nil {
			return nil, err
		}
		return json.Marshal(c)
	},
	text: func(s Snapshot) (string, error) {
		if !s.Present {
			return "Replication: none", nil
		}
		c, err := decode[types.ReplicationConfiguration](s.Raw)
		if err != nil {
			return "", err
		}
		if len(c.Rules) == 0 {
			return "Replication: no rules", nil
		}
		parts := make([]string, 0, len(c.Rules))
		for i, r := range c.Rules {
			dest := "?"
			if r.Destination != nil {
				dest = aws.ToString(r.Destination.Bucket)
			}
			acct, known := destAccount(r)
			if !known {
				acct = "account unknown"
			}
			parts = append(parts, fmt.Sprintf("rule %s → %s (%s) %s", ruleName(i, r), dest, acct, strings.ToLower(string(r.Status))))
		}
		return "Replication: " + strings.Join(parts, "; "), nil
	},
}
