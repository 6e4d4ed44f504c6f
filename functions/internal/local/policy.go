package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// The replayed policy finding: Block Public Access turned off on account A's workshop-data.
const (
	PolicyFindingID = "local-public-access"
	PolicyBucket    = BucketA
	policyFixture   = "shared/testdata/macie-policy/constructed-policy-S3BlockPublicAccessDisabled.json"
)

// motoCreds are any credentials: moto accepts every key and keeps one account.
var motoCreds = aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}

// settingsAccounts maps both local accounts to moto, where their buckets' settings live.
func (e *Env) settingsAccounts() map[string]aws.Credentials {
	return map[string]aws.Credentials{AccountA: motoCreds, AccountB: motoCreds}
}

// SettingsClient is an S3 client on the settings server (moto).
func (e *Env) SettingsClient() *s3.Client {
	return quarantine.NewS3Client(e.Settings.Endpoint, motoCreds, Region)
}

// seedSettings creates the data buckets on the settings server and turns workshop-data's Block
// Public Access off (an explicit configuration with all four settings false), which is what the
// replayed finding reports.
func (e *Env) seedSettings(ctx context.Context) error {
	c := e.SettingsClient()
	for _, b := range []string{BucketA, BucketB} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return fmt.Errorf("create bucket %s on the settings server: %w", b, err)
		}
	}
	off := aws.Bool(false)
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(PolicyBucket),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: off, BlockPublicPolicy: off, IgnorePublicAcls: off, RestrictPublicBuckets: off}}); err != nil {
		return fmt.Errorf("turn Block Public Access off on %s: %w", PolicyBucket, err)
	}
	return nil
}

// PublicAccessBlock is workshop-data's Block Public Access as S3 (moto) shows it: JSON, or
// "absent".
func (e *Env) PublicAccessBlock(ctx context.Context) (string, error) {
	out, err := e.SettingsClient().GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(PolicyBucket)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchPublicAccessBlockConfiguration" {
		return "absent", nil
	}
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(out.PublicAccessBlockConfiguration)
	return string(b), nil
}

// policyEvent is the policy-finding fixture about workshop-data in account A, forwarded by the
// Macie administrator account.
func (e *Env) policyEvent() ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(e.Repo, policyFixture))
	if err != nil {
		return nil, err
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("%s: %w", policyFixture, err)
	}
	d := ev["detail"].(map[string]any)
	now := time.Now().UTC().Format(time.RFC3339)
	d["id"], d["accountId"], d["createdAt"], d["updatedAt"] = PolicyFindingID, AccountA, now, now
	b := d["resourcesAffected"].(map[string]any)["s3Bucket"].(map[string]any)
	b["name"], b["arn"] = PolicyBucket, "arn:aws:s3:::"+PolicyBucket
	ev["account"] = AdminAccount
	return json.Marshal(ev)
}
