package quarantine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// recordingSTS is testenv.RecordingSTS: AssumeRole on a real STS, keeping what was asked.
type recordingSTS = testenv.RecordingSTS

// The assume-role path end to end on moto's STS and S3: the remediator assumes the quarantine
// role in the finding's account with the ExternalId, and moves the object with those temporary
// credentials. versitygw has no STS, so this test runs on moto only. moto does not check the
// ExternalId (it records it), so the test checks that the request carried it.
func TestAssumeRoleWithExternalIDOnMoto(t *testing.T) {
	e := newEnvOn(t, "moto")
	root := aws.Credentials{AccessKeyID: e.accessKey, SecretAccessKey: e.secretKey}
	rec := &recordingSTS{Client: sts.New(sts.Options{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: root},
		BaseEndpoint: aws.String(e.endpoint)})}
	var built []aws.Credentials
	rc := &RoleClients{STS: rec, RoleName: "macie-chatops-quarantine", ExternalID: "org-ext-7f3a",
		NewS3: func(c aws.Credentials, region string) S3API {
			built = append(built, c)
			return NewS3Client(e.endpoint, c, region)
		}}
	eng := New(rc, e.eng.Options)

	// The member account's buckets, created as that account (the assumed role).
	api, err := rc.S3For(e.ctx, account, "us-east-1", SessionName("setup"))
	if err != nil {
		t.Fatal(err)
	}
	member := api.(*s3.Client)
	who, err := rec.Client.GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) {
		o.Credentials = credentials.StaticCredentialsProvider{Value: built[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(who.Account) != account || !strings.Contains(aws.ToString(who.Arn), "assumed-role/macie-chatops-quarantine/macie-chatops-setup") {
		t.Fatalf("assumed identity %s in %s, want the quarantine role in %s", aws.ToString(who.Arn), aws.ToString(who.Account), account)
	}
	me := *e
	me.client = member
	me.bucket("data", true)
	me.bucket("quarantine", true)
	v, etag := me.put("data", "assumed.csv", csvBody, "")

	res, err := eng.Move(e.ctx, req("f-assume", "data", "assumed.csv", v, etag, int64(len(csvBody))))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(me.get("quarantine", res.CopyKey, res.CopyVersionID), csvBody) || me.get("data", "assumed.csv", v) != nil {
		t.Fatal("move with assumed-role credentials incomplete")
	}
	if len(rec.Calls()) != 1 {
		t.Fatalf("want one AssumeRole (cached for the move), got %d", len(rec.Calls()))
	}
	c := rec.Calls()[0]
	if aws.ToString(c.RoleArn) != "arn:aws:iam::"+account+":role/macie-chatops-quarantine" || aws.ToString(c.ExternalId) != "org-ext-7f3a" {
		t.Fatalf("assume input: role %s external id %s", aws.ToString(c.RoleArn), aws.ToString(c.ExternalId))
	}
	if built[0].SessionToken == "" || built[0].AccessKeyID == root.AccessKeyID {
		t.Fatal("the S3 client does not use the temporary credentials")
	}
}
