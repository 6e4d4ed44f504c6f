package stack

import (
	"fmt"
	"strings"
	"testing"
)

// The StackSet quarantine role's grant of every generation's bucket (<base>-????????) is a name
// pattern, and bucket names are global: anyone, in any account, can create
// <base>-deadbeef and open its policy to everyone. An explicit member's role names one bucket,
// which its own account created; the pattern must not reach a bucket of that shape that another
// account owns (the quarantine bucket of every generation is in the role's own account), nor
// another stack's generation in the same account.
func TestAttackOrgGenerationPatternStaysInTheAccount(t *testing.T) {
	const acct, outsider = "210987654321", "999911112222"
	in, _, _ := standaloneInstance(t, acct)
	rolePol := in.rolePolicy(LogicalQuarantineRole)
	bucket, _ := in.res(LogicalBucket, "BucketName").(string)
	base := bucket[:strings.LastIndex(bucket, "-")]
	squatted := "arn:aws:s3:::" + base + "-deadbeef" // created by outsider
	open := ptr(doc(Statement{Sid: "AnyoneMayWrite", Effect: "Allow", Principal: "*", Action: "s3:*", Resource: []string{squatted, squatted + "/*"}}))
	role := "arn:aws:iam::" + acct + ":role/" + QuarantineRoleName("dev")
	ctx := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": acct, "aws:PrincipalArn": role, "s3:ResourceAccount": outsider}
	own := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": acct, "aws:PrincipalArn": role, "s3:ResourceAccount": acct}
	// Two stacks (dev and prod) whose policies give the same quarantine bucket name: before
	// generations the second stack's instance failed on the first's bucket; now each creates
	// its own generation beside the other's, and dev's role's pattern names prod's bucket too.
	// Prod's bucket policy (only prod's quarantine role may read or write objects) keeps dev's
	// role out, whatever dev's identity grants.
	prodBucket := "arn:aws:s3:::" + base + "-1234abcd"
	prodPol := WithBucketSettingsRolesDenied(QuarantineBucketPolicy(prodBucket, "arn:aws:iam::"+acct+":role/"+QuarantineRoleName("prod"), "", ""), prodBucket)
	prodObject := prodBucket + "/" + acct + "/data-bucket/card-numbers.csv"
	rows := []decision{
		{who: "dev quarantine role → prod's generation", principal: role, action: "s3:GetObjectVersion", resource: prodObject, account: acct, context: own, identity: []Document{rolePol}, resourcePolicy: &prodPol, want: "Denied"},
		{who: "dev quarantine role → prod's generation", principal: role, action: "s3:DeleteObjectVersion", resource: prodObject, account: acct, context: own, identity: []Document{rolePol}, resourcePolicy: &prodPol, want: "Denied"},
		{who: "dev quarantine role → prod's generation", principal: role, action: "s3:PutObject", resource: prodObject, account: acct, context: own, identity: []Document{rolePol}, resourcePolicy: &prodPol, want: "Denied"},
		{who: "quarantine role → squatted generation", principal: role, action: "s3:PutObject", resource: squatted + "/x.csv", account: outsider, context: ctx, identity: []Document{rolePol}, resourcePolicy: open, want: "Denied"},
		{who: "quarantine role → squatted generation", principal: role, action: "s3:GetBucketVersioning", resource: squatted, account: outsider, context: ctx, identity: []Document{rolePol}, resourcePolicy: open, want: "Denied"},
		// Control: the same name in the role's own account (a bucket of a generation) is reached.
		{who: "quarantine role → own-account generation", principal: role, action: "s3:PutObject", resource: squatted + "/x.csv", account: acct, context: own, identity: []Document{rolePol}, want: "Allowed"},
	}
	var cases []map[string]any
	for i, d := range rows {
		cases = append(cases, d.request(fmt.Sprint(i)))
	}
	got := iamSimulate(t, cases)
	for i, d := range rows {
		if g := got[fmt.Sprint(i)]; verdict(g) != d.want {
			t.Errorf("%s %s %s (owned by %s): evaluator says %s, want %s", d.who, d.action, d.resource, d.account, g, d.want)
		}
	}
}
