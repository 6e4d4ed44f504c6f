package stack

import (
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/naming"
)

// stackSetDecisions are the IAM decision table's rows for the roles and resources as the
// organization's StackSet creates them: the member template's documents after CloudFormation's
// substitution for an account the config never names (210987654321), in us-east-1. They run in
// TestIAMDecisions and TestIAMDecisionsFlipWhenTheirPolicyBreaks with the other rows.
func stackSetDecisions(t *testing.T) []decision {
	t.Helper()
	const acct = "210987654321"
	in, cfg, m := standaloneInstance(t, acct)
	res := in.res
	docOf := in.doc
	trust := docOf(res(LogicalQuarantineRole, "AssumeRolePolicyDocument"))
	rolePol := in.rolePolicy(LogicalQuarantineRole)
	keyPol := docOf(res(LogicalQuarantineKey, "KeyPolicy"))
	bucketPol := docOf(res(LogicalBucketPolicy, "PolicyDocument"))
	bucket, _ := res(LogicalBucket, "BucketName").(string)
	remediator := in.vars[ParamRemediatorRoleArn]
	role := "arn:aws:iam::" + acct + ":role/" + QuarantineRoleName("dev")
	deployer := "arn:aws:iam::" + acct + ":role/stacksets-exec-0123456789abcdef"
	other := "arn:aws:iam::" + acct + ":role/Admin"
	qBucket := "arn:aws:s3:::" + bucket
	qObject := qBucket + "/" + acct + "/customer-uploads/card-numbers.csv"
	qKey := "arn:aws:kms:us-east-1:" + acct + ":key/0f0e0d0c-stackset"
	alias, _ := res(LogicalKeyAlias, "AliasName").(string)
	// A generation retained from the account's earlier stack (it left the OUs and came back):
	// its bucket (with that stack's policy) and key alias, resolved from the same template.
	const retainedGen = "9f8e7d6c"
	retained := generationVars(acct, "us-east-1", retainedGen)
	for k, v := range in.vars {
		if _, pseudo := retained[k]; !pseudo {
			retained[k] = v
		}
	}
	oldBucket, _ := resolved(t, in.props[LogicalBucket]["BucketName"], retained).(string)
	oldBucketPol := docOf(resolved(t, in.props[LogicalBucketPolicy]["PolicyDocument"], retained))
	oldAlias, _ := resolved(t, in.props[LogicalKeyAlias]["AliasName"], retained).(string)
	if oldBucket == bucket || oldAlias == alias || !strings.HasSuffix(oldBucket, "-"+retainedGen) || !strings.HasSuffix(oldAlias, "-"+retainedGen) {
		t.Fatalf("the retained generation's bucket %q and alias %q, the current %q and %q: want each with its generation", oldBucket, oldAlias, bucket, alias)
	}
	oldObject := "arn:aws:s3:::" + oldBucket + "/" + acct + "/customer-uploads/card-numbers.csv"
	oldKey := "arn:aws:kms:us-east-1:" + acct + ":key/9f8e7d6c-retained"
	// Account 210987654322's quarantine bucket, and a bucket there named like this account's
	// but not a generation, each with a policy that lets the organization in: only the role's
	// name patterns keep it out (its own-account data grant does not reach another account).
	const otherAcct = "210987654322"
	otherQ := "arn:aws:s3:::" + naming.OrgQuarantineBucket(cfg.Policy.QuarantineFor(otherAcct, "us-east-1").Bucket, testGeneration)
	notGen := "arn:aws:s3:::" + bucket + "0"
	openToOrg := func(b string) *Document {
		return ptr(doc(Statement{Sid: "OrgMayWrite", Effect: "Allow", Principal: "*", Action: "s3:*", Resource: []string{b, b + "/*"},
			Condition: map[string]any{"StringEquals": map[string]string{"aws:PrincipalOrgID": orgID}}}))
	}
	ctx := func(p string, kv ...any) map[string]any {
		c := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": p[13:25], "aws:PrincipalArn": p, "s3:ResourceAccount": acct}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	admin := []Document{allowAll("*")}
	assume := []Document{allowAll("sts:AssumeRole")}
	q := []Document{rolePol}
	w := "StackSet "

	// The bucket-settings role as the StackSet creates it (the table's organization policy,
	// example-org.yaml, enables every kind in its defaults), assumed through the remediator's own
	// policy, whose by-name grant covers an account no config lists.
	bs := "arn:aws:iam::" + acct + ":role/" + BucketSettingsRoleName("dev")
	bsTrust := docOf(res(LogicalBucketSettingsRole, "AssumeRolePolicyDocument"))
	bsPol := []Document{in.rolePolicy(LogicalBucketSettingsRole)}
	cw := extract(t, m)
	if cw.roleArn["remediator-role"] != remediator {
		t.Fatalf("the StackSet's %s %q is not the remediator's role %q", ParamRemediatorRoleArn, remediator, cw.roleArn["remediator-role"])
	}
	remPol := cw.inline[remediator]
	data := "arn:aws:s3:::" + dataBkt
	otherB := "arn:aws:s3:::" + otherBkt // in 444455556666, its policy open to the organization
	otherPol := ptr(doc(Statement{Sid: "OrgMayAdminister", Effect: "Allow", Principal: "*", Action: "s3:*", Resource: []string{otherB, otherB + "/*"},
		Condition: map[string]any{"StringEquals": map[string]string{"aws:PrincipalOrgID": orgID}}}))
	euQuarantine, _ := resolved(t, in.props[LogicalBucket]["BucketName"], templateVars(acct, "eu-west-1")).(string)
	bsRows := []decision{
		{who: w + "remediator → bucket-settings", principal: remediator, action: "sts:AssumeRole", resource: bs, account: acct, context: ctx(remediator, "sts:ExternalId", externalID, "aws:ResourceOrgID", orgID), identity: remPol, resourcePolicy: &bsTrust, want: "Allowed",
			guard: []mut{{"identity", "AssumeOrgBucketSettingsRoles", "drop"}}},
		{who: w + "remediator → bucket-settings", principal: remediator, action: "sts:AssumeRole", resource: bs, account: acct, context: ctx(remediator, "sts:ExternalId", externalID, "aws:ResourceOrgID", orgID), identity: remPol, resourcePolicy: &bsTrust, want: "Allowed",
			guard: []mut{{"resource", "CentralRemediatorOnly", "drop"}}},
		{who: w + "remediator → bucket-settings (no ExternalId)", principal: remediator, action: "sts:AssumeRole", resource: bs, account: acct, context: ctx(remediator, "aws:ResourceOrgID", orgID), identity: remPol, resourcePolicy: &bsTrust, want: "Denied",
			guard: []mut{{"resource", "CentralRemediatorOnly", "dropCondition"}}},
		{who: w + "remediator → bucket-settings (role outside the org)", principal: remediator, action: "sts:AssumeRole", resource: bs, account: acct, context: ctx(remediator, "sts:ExternalId", externalID, "aws:ResourceOrgID", otherOrg), identity: remPol, resourcePolicy: &bsTrust, want: "Denied",
			guard: []mut{{"identity", "AssumeOrgBucketSettingsRoles", "dropCondition"}}},
		{who: w + "member administrator → bucket-settings", principal: other, action: "sts:AssumeRole", resource: bs, account: acct, context: ctx(other, "sts:ExternalId", externalID), identity: admin, resourcePolicy: &bsTrust, want: "Denied"},

		// Its own account's buckets: each kind's Put, and the replication role passed to S3.
		{who: w + "bucket-settings role", principal: bs, action: "s3:PutBucketPublicAccessBlock", resource: data, account: acct, context: ctx(bs), identity: bsPol, want: "Allowed",
			guard: []mut{{"identity", "BucketSettings", "drop"}}},
		{who: w + "bucket-settings role", principal: bs, action: "s3:PutEncryptionConfiguration", resource: data, account: acct, context: ctx(bs), identity: bsPol, want: "Allowed",
			guard: []mut{{"identity", "BucketSettings", "drop"}}},
		{who: w + "bucket-settings role", principal: bs, action: "s3:PutReplicationConfiguration", resource: data, account: acct, context: ctx(bs), identity: bsPol, want: "Allowed",
			guard: []mut{{"identity", "BucketSettings", "drop"}}},
		{who: w + "bucket-settings role", principal: bs, action: "iam:PassRole", resource: "arn:aws:iam::" + acct + ":role/s3-replication", account: acct, context: ctx(bs, "iam:PassedToService", "s3.amazonaws.com"), identity: bsPol, want: "Allowed",
			guard: []mut{{"identity", "PassReplicationRoleToS3", "drop"}}},
		// Not another account's bucket, even one whose policy lets the organization in.
		{who: w + "bucket-settings role", principal: bs, action: "s3:PutBucketPublicAccessBlock", resource: otherB, account: "444455556666", context: ctx(bs, "s3:ResourceAccount", "444455556666"), identity: bsPol, resourcePolicy: otherPol, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "dropCondition"}}},
		// Never a quarantine bucket of its account, in any org region, nor a log bucket.
		{who: w + "bucket-settings role", principal: bs, action: "s3:PutBucketPublicAccessBlock", resource: qBucket, account: acct, context: ctx(bs), identity: bsPol, resourcePolicy: &bucketPol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}, {"resource", "DenyBucketSettingsRoles", "drop"}}},
		{who: w + "bucket-settings role (its policy)", principal: bs, action: "s3:PutReplicationConfiguration", resource: qBucket, account: acct, context: ctx(bs), identity: bsPol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}}},
		{who: w + "bucket-settings role, retained generation", principal: bs, action: "s3:PutReplicationConfiguration", resource: "arn:aws:s3:::" + oldBucket, account: acct, context: ctx(bs), identity: bsPol, resourcePolicy: &oldBucketPol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}, {"resource", "DenyBucketSettingsRoles", "drop"}}},
		{who: w + "bucket-settings role (its policy), retained generation", principal: bs, action: "s3:PutEncryptionConfiguration", resource: "arn:aws:s3:::" + oldBucket, account: acct, context: ctx(bs), identity: bsPol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}}},
		{who: w + "bucket-settings role (its policy), bucket from before generations", principal: bs, action: "s3:PutReplicationConfiguration", resource: "arn:aws:s3:::" + cfg.Policy.QuarantineFor(acct, "us-east-1").Bucket, account: acct, context: ctx(bs), identity: bsPol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}}},
		{who: w + "bucket-settings role (its policy)", principal: bs, action: "s3:PutEncryptionConfiguration", resource: "arn:aws:s3:::" + euQuarantine, account: acct, context: ctx(bs), identity: bsPol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}}},
		{who: w + "bucket-settings role", principal: bs, action: "s3:PutEncryptionConfiguration", resource: "arn:aws:s3:::cloudtrail-logs-" + acct, account: acct, context: ctx(bs), identity: bsPol, want: "Denied",
			guard: []mut{{"identity", "NeverLogOrSecurityBuckets", "drop"}}},
		// Settings only: no object, no bucket policy.
		{who: w + "bucket-settings role", principal: bs, action: "s3:GetObject", resource: data + "/customer-uploads/card-numbers.csv", account: acct, context: ctx(bs), identity: bsPol, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
		{who: w + "bucket-settings role", principal: bs, action: "s3:DeleteObjectVersion", resource: data + "/customer-uploads/card-numbers.csv", account: acct, context: ctx(bs), identity: bsPol, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
		{who: w + "bucket-settings role", principal: bs, action: "s3:PutBucketPolicy", resource: data, account: acct, context: ctx(bs), identity: bsPol, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
	}
	return append([]decision{
		{who: w + "remediator", principal: remediator, action: "sts:AssumeRole", resource: role, account: acct, context: ctx(remediator, "sts:ExternalId", externalID), identity: assume, resourcePolicy: &trust, want: "Allowed",
			guard: []mut{{"resource", "CentralRemediatorOnly", "drop"}}},
		{who: w + "remediator (no ExternalId)", principal: remediator, action: "sts:AssumeRole", resource: role, account: acct, context: ctx(remediator), identity: assume, resourcePolicy: &trust, want: "Denied",
			guard: []mut{{"resource", "CentralRemediatorOnly", "dropCondition"}}},
		{who: w + "quarantine role", principal: role, action: "s3:DeleteObjectVersion", resource: "arn:aws:s3:::" + dataBkt + "/x.csv", account: acct, context: ctx(role), identity: q, want: "Allowed",
			guard: []mut{{"identity", "DataObjects", "drop"}}},
		{who: w + "quarantine role", principal: role, action: "s3:PutObject", resource: qObject, account: acct, context: ctx(role), identity: q, resourcePolicy: &bucketPol, want: "Allowed",
			guard: []mut{{"identity", "QuarantineObjects", "drop"}, {"identity", "DataObjects", "drop"}}},
		{who: w + "quarantine role", principal: role, action: "s3:DeleteObjectVersion", resource: "arn:aws:s3:::cloudtrail-logs-" + acct + "/AWSLogs/x.json.gz", account: acct, context: ctx(role), identity: q, want: "Denied",
			guard: []mut{{"identity", "NeverLogOrSecurityBuckets", "drop"}}},
		{who: w + "quarantine role", principal: role, action: "kms:GenerateDataKey", resource: qKey, account: acct, context: ctx(role, "kms:ResourceAliases", []string{alias}), identity: q, resourcePolicy: &keyPol, want: "Allowed",
			guard: []mut{{"resource", "QuarantineRoleUses", "drop"}, {"identity", "Keys", "drop"}}},
		// Release of a copy quarantined into a retained generation's bucket: read it, delete
		// that version, decrypt with that generation's key.
		{who: w + "quarantine role, retained generation", principal: role, action: "s3:GetObjectVersion", resource: oldObject, account: acct, context: ctx(role), identity: q, resourcePolicy: &oldBucketPol, want: "Allowed",
			guard: []mut{{"identity", "QuarantineObjects", "drop"}, {"identity", "DataObjects", "drop"}}},
		{who: w + "quarantine role, retained generation", principal: role, action: "s3:DeleteObjectVersion", resource: oldObject, account: acct, context: ctx(role), identity: q, resourcePolicy: &oldBucketPol, want: "Allowed",
			guard: []mut{{"identity", "QuarantineObjects", "drop"}, {"identity", "DataObjects", "drop"}}},
		{who: w + "quarantine role, retained generation", principal: role, action: "kms:Decrypt", resource: oldKey, account: acct, context: ctx(role, "kms:ResourceAliases", []string{oldAlias}), identity: q, resourcePolicy: &keyPol, want: "Allowed",
			guard: []mut{{"identity", "Keys", "drop"}}},
		{who: w + "quarantine role, key alias of no generation", principal: role, action: "kms:Decrypt", resource: oldKey, account: acct, context: ctx(role, "kms:ResourceAliases", []string{alias + "-old"}), identity: q, resourcePolicy: &keyPol, want: "Denied",
			guard: []mut{{"identity", "Keys", "dropCondition"}}},
		{who: w + "quarantine role → another account's quarantine bucket", principal: role, action: "s3:PutObject", resource: otherQ + "/x.csv", account: otherAcct, context: ctx(role, "s3:ResourceAccount", otherAcct), identity: q, resourcePolicy: openToOrg(otherQ), want: "Denied",
			guard: []mut{{"identity", "QuarantineObjects", "anyResource"}, {"identity", "QuarantineObjects", "dropCondition"}}},
		{who: w + "quarantine role → a bucket named like no generation", principal: role, action: "s3:PutObject", resource: notGen + "/x.csv", account: otherAcct, context: ctx(role, "s3:ResourceAccount", otherAcct), identity: q, resourcePolicy: openToOrg(notGen), want: "Denied",
			guard: []mut{{"identity", "QuarantineObjects", "anyResource"}, {"identity", "QuarantineObjects", "dropCondition"}}},
		// CloudFormation's stacksets-exec role administers the bucket's settings, never its
		// objects: the policy exempts no deployer (a member administrator can name a role
		// stacksets-exec-anything: TestAttackOrgDeployerPatternExemptsNoRole).
		{who: w + "stacksets-exec (deployer)", principal: deployer, action: "s3:ListBucket", resource: qBucket, account: acct, context: ctx(deployer), identity: admin, resourcePolicy: &bucketPol, want: "Denied",
			guard: []mut{{"resource", "DenyObjectReadsToOthers", "drop"}}},
		{who: w + "stacksets-exec (deployer)", principal: deployer, action: "s3:DeleteObjectVersion", resource: qObject, account: acct, context: ctx(deployer), identity: admin, resourcePolicy: &bucketPol, want: "Denied",
			guard: []mut{{"resource", "DenyObjectWritesToOthers", "drop"}}},
		{who: w + "member administrator", principal: other, action: "s3:GetObject", resource: qObject, account: acct, context: ctx(other), identity: admin, resourcePolicy: &bucketPol, want: "Denied",
			guard: []mut{{"resource", "DenyObjectReadsToOthers", "drop"}}},
	}, bsRows...)
}
