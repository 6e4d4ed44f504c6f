package handlers

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// newAccount is an account of the organization that no configuration names: not the policy
// (testPolicy lists only 555555555555), not the stack's members. In organization mode that is
// every account created after the deploy.
const newAccount = "424242424242"

// accountSTS stands in for STS, which versitygw lacks: it answers AssumeRole only for the
// quarantine role in newAccount, with the S3 server's credentials (versitygw's one "account"),
// and denies every other role as AWS would. It records every request.
type accountSTS struct {
	role  string
	creds aws.Credentials
	mu    sync.Mutex
	calls []sts.AssumeRoleInput
}

func (a *accountSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	a.mu.Lock()
	a.calls = append(a.calls, *in)
	a.mu.Unlock()
	if aws.ToString(in.RoleArn) != a.role {
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform: sts:AssumeRole on resource: " + aws.ToString(in.RoleArn)}
	}
	exp := a.creds.Expires
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{AccessKeyId: aws.String(a.creds.AccessKeyID),
		SecretAccessKey: aws.String(a.creds.SecretAccessKey), SessionToken: aws.String(""), Expiration: &exp}}, nil
}

// TestFindingFromAnAccountNoConfigNames: organization mode's central side needs no member list.
// A finding about newAccount is accepted under the same envelope check as any other (sent by
// newAccount itself or by the Macie administrator account) and refused from any other sender;
// the accepted AUTO finding is quarantined by the remediator through the quarantine role it
// assumes in detail.accountId, with the ExternalId, not in the bucket owner's account nor in
// the sender's.
func TestFindingFromAnAccountNoConfigNames(t *testing.T) {
	st := newStack(t)
	st.findings.AdminAccount = "999988887777"
	role := "arn:aws:iam::" + newAccount + ":role/macie-chatops-dev-quarantine"
	fake := &accountSTS{role: role, creds: aws.Credentials{AccessKeyID: st.s3.AccessKey, SecretAccessKey: st.s3.SecretKey, Expires: st.now.Add(3600e9)}}
	rc := &quarantine.RoleClients{STS: fake, RoleName: "macie-chatops-dev-quarantine", ExternalID: "ext-org-1234",
		NewS3: func(c aws.Credentials, region string) quarantine.S3API {
			return quarantine.NewS3Client(st.s3.Endpoint, c, region)
		}}
	st.remed.Engine = quarantine.New(rc, quarantine.Options{})
	qb := aws.String("quarantine-" + newAccount)
	if _, err := st.s3c.CreateBucket(st.ctx, &s3.CreateBucketInput{Bucket: qb}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.s3c.PutBucketVersioning(st.ctx, &s3.PutBucketVersioningInput{Bucket: qb,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.findings.Policy.Accounts[newAccount]; ok {
		t.Fatalf("the policy names %s: the test needs an account no config names", newAccount)
	}
	for _, tc := range []struct {
		name, key, envelope string
		accepted            bool
	}{
		{"from its own account", "org/own.csv", newAccount, true},
		{"from the Macie administrator account", "org/admin.csv", "999988887777", true},
		{"from a configured member", "org/forged-member.csv", "555555555555", false},
		{"from another account no config names", "org/forged-other.csv", "434343434343", false},
		{"without an envelope", "org/bare.csv", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := st.upload("event-eventbridge-csv.json", tc.key, []byte("secret"), func(d map[string]any) {
				d["type"] = "SensitiveData:S3Object/Credentials" // AUTO: accepted, it is moved at once
				d["accountId"] = newAccount
				// The bucket's owner is another account's canonical id: never the one to act in.
				d["resourcesAffected"].(map[string]any)["s3Bucket"].(map[string]any)["owner"] = map[string]any{"displayName": "other", "id": strings.Repeat("ab", 32)}
			})
			body := envelopeFrom(t, ev, tc.envelope)
			dlqBefore := len(st.dlq.reasons)
			if resp, _ := st.findings.HandleSQS(st.ctx, sqsEvent(body)); len(resp.BatchItemFailures) != 0 {
				t.Fatalf("%+v", resp)
			}
			id := "local-" + strings.ReplaceAll(tc.key, "/", "-")
			rec, err := st.ledger.Get(st.ctx, id)
			if !tc.accepted {
				if err == nil || len(st.queue) != 0 || len(st.dlq.reasons) != dlqBefore+1 || !strings.Contains(st.dlq.reasons[dlqBefore], "trust boundary") {
					t.Fatalf("a finding about %s from %q was not refused: ledger %v %+v, %d jobs, dlq %v", newAccount, tc.envelope, err, rec, len(st.queue), st.dlq.reasons)
				}
				if !st.exists("data-bucket", tc.key, "") {
					t.Fatal("a refused finding moved the object")
				}
				return
			}
			if err != nil || rec.Status != ledger.Queued || rec.AccountID != newAccount {
				t.Fatalf("accepted finding: %v %+v", err, rec)
			}
			if n := st.drain(); n != 1 {
				t.Fatalf("%d jobs, want 1", n)
			}
			rec, _ = st.ledger.Get(st.ctx, id)
			if rec.Status != ledger.Quarantined || st.exists("data-bucket", tc.key, rec.VersionID) {
				t.Fatalf("not quarantined: %s\n%s", rec.Status, st.logs)
			}
		})
	}
	// One AssumeRole for both moves (cached per account), none for a refused finding, and it
	// named the role in detail.accountId with the ExternalId.
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.calls) != 1 || aws.ToString(fake.calls[0].RoleArn) != role || aws.ToString(fake.calls[0].ExternalId) != "ext-org-1234" {
		for _, c := range fake.calls {
			t.Logf("assumed %s (external id %q)", aws.ToString(c.RoleArn), aws.ToString(c.ExternalId))
		}
		t.Fatalf("want exactly one AssumeRole of %s with the ExternalId, got %d", role, len(fake.calls))
	}
}
