//go:build attack

package stack

// Attacks that find a defect the program still has: each test FAILS today. Kept out of `go test`
// by the build tag; run them with
//
//	go test -tags attack -run 'TestAttackDefect' ./stack/
//
// and move a test into the regular suite with its fix.

import (
	"testing"
)

// The security account is a member with no deploy role: its quarantine bucket is deployed with
// the stack's own credentials (an SSO administrator, say). The bucket policy's
// DenyObjectReadsToOthers denies s3:ListBucket to everyone but the roles it names, and HeadBucket
// (which the provider calls to read a bucket on refresh, import, and after every update of
// the bucket) is authorized by s3:ListBucket. The first refresh after the policy is applied
// fails with 403, as issue 13 item 1 wanted to prevent.
func TestAttackDefectSecurityAccountQuarantineBucketRefresh(t *testing.T) {
	m, w := attackWorld(t)
	b, pol := bucketOf(t, m, w, security, "us-east-1")
	deployer := "arn:aws:iam::" + security + ":role/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
	admin := []Document{allowAll("*")}
	var rows []decision
	for _, a := range []string{"s3:ListBucket", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:PutBucketVersioning"} {
		rows = append(rows, decision{who: "security account's deployer", principal: deployer, action: a, resource: "arn:aws:s3:::" + b, account: security, context: attackCtx(deployer, security), identity: admin, resourcePolicy: pol, want: "Allowed"})
	}
	runRows(t, rows)
}

// With no dataBuckets the quarantine role is kept out of log buckets by name patterns only: an
// organization trail delivered to a bucket named otherwise is open to Put and Delete.
func TestAttackDefectLogBucketNamedOtherwise(t *testing.T) {
	_, w := attackWorld(t)
	qr := w.roleArn["member-"+member+"-quarantine-role"]
	var rows []decision
	for _, b := range []string{"acme-org-trail-111122223333", "acme-audit-111122223333", "acme-elb-logs-111122223333"} {
		for _, a := range []string{"s3:DeleteObjectVersion", "s3:PutObject"} {
			rows = append(rows, decision{who: "quarantine role → " + b, principal: qr, action: a, resource: "arn:aws:s3:::" + b + "/AWSLogs/111122223333/x.json.gz", account: member,
				context: attackCtx(qr, member), identity: w.inline[qr], want: "Denied"})
		}
	}
	runRows(t, rows)
}

// Stack names that differ only in characters Slug drops or folds ("dev.eu" and "dev-eu", "Dev"
// and "dev") get the same slug, so the same role, function and bucket names.
func TestAttackDefectSlugCollision(t *testing.T) {
	for _, p := range [][2]string{{"dev.eu", "dev-eu"}, {"Dev", "dev"}, {"dev_1", "dev-1"}} {
		if Slug(p[0]) == Slug(p[1]) {
			t.Errorf("stacks %q and %q both get slug %q: %s", p[0], p[1], Slug(p[0]), QuarantineRoleName(Slug(p[0])))
		}
	}
}
