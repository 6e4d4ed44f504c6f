package quarantine

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestObjectLockKeepsSourceAndSaysSo(t *testing.T) {
	eachServer(t, func(t *testing.T, e *env) {
		if _, err := e.client.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: aws.String("locked"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		e.bucket("quarantine", true)
		until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
		cases := []struct {
			key  string
			lock func(key, version string)
			want string
		}{
			{"retained.csv", func(key, v string) {
				_, err := e.client.PutObjectRetention(e.ctx, &s3.PutObjectRetentionInput{Bucket: aws.String("locked"), Key: &key, VersionId: &v,
					Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: &until}})
				if err != nil {
					t.Fatalf("put retention: %v", err)
				}
			}, "GOVERNANCE retention"},
			{"held.csv", func(key, v string) {
				_, err := e.client.PutObjectLegalHold(e.ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String("locked"), Key: &key, VersionId: &v,
					LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}})
				if err != nil {
					t.Fatalf("put legal hold: %v", err)
				}
			}, "legal hold"},
		}
		for _, c := range cases {
			v, etag := e.put("locked", c.key, csvBody, "")
			c.lock(c.key, v)
			res, err := e.eng.Move(e.ctx, req("f-"+c.key, "locked", c.key, v, etag, int64(len(csvBody))))
			if err != nil {
				t.Fatalf("%s: %v", c.key, err)
			}
			if res.Outcome != SourceLocked || !bytes.Contains([]byte(res.SkippedBecause), []byte(c.want)) || len(res.DeletedVersions) != 0 {
				t.Fatalf("%s: %+v", c.key, res)
			}
			if !bytes.Equal(e.get("locked", c.key, v), csvBody) || !bytes.Equal(e.get("quarantine", res.CopyKey, res.CopyVersionID), csvBody) {
				t.Fatalf("%s: want the data in both places", c.key)
			}
			if c.key == "retained.csv" && !res.LockedUntil.Equal(until) {
				t.Errorf("locked until %v, want %v", res.LockedUntil, until)
			}
		}
	})
}
