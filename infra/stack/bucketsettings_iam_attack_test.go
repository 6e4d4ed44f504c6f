package stack

import (
	"encoding/json"
	"testing"
)

// Attacks on the bucket-settings role's reach beyond the decision table, evaluated with
// iam-simulate on the deployed policies of two stacks (dev and prod) in one organization: what
// else its permissions could be used for if the remediator (or a stored plan) were turned
// against the member account.
func TestIAMAttacksBucketSettingsRoleReach(t *testing.T) {
	members, _ := json.Marshal(defaultMembers)
	over := func(stack string) map[string]string {
		return map[string]string{"macie-chatops:macieMode": "standalone", "macie-chatops:policyFile": enablingBucketFixes(t, stack)}
	}
	dm, err := deployRaw(t, "dev", over("dev"), string(members))
	if err != nil {
		t.Fatal(err)
	}
	pm, err := deployRaw(t, "prod", over("prod"), string(members))
	if err != nil {
		t.Fatal(err)
	}
	dev, prod := extract(t, dm), extract(t, pm)
	role := dev.roleArn["member-"+member+"-bucket-settings-role"]
	// The mocks name both stacks' remediator role by its resource name; in AWS each stack's has
	// its own name in the security account, as here.
	prodRemediator := "arn:aws:iam::" + security + ":role/macie-chatops-prod-remediator"
	if role == "" || prod.roleArn["member-"+member+"-bucket-settings-role"] == role || dev.roleArn["remediator-role"] == prodRemediator {
		t.Fatalf("dev role %q, prod remediator %q", role, prodRemediator)
	}
	perms := dev.inline[role]
	data := "arn:aws:s3:::" + dataBkt
	admin := []Document{allowAll("*")}
	devRemediator := dev.roleArn["remediator-role"]
	rows := []decision{
		// Controls: what it is for is allowed, so a Denied below is the policy's, not the evaluator's.
		{who: "bucket-settings (control)", principal: role, action: "s3:PutBucketPublicAccessBlock", resource: data, account: member,
			context: attackCtx(role, member), identity: perms, want: "Allowed"},
		{who: "dev remediator (control)", principal: devRemediator, action: "sts:AssumeRole", resource: role, account: member,
			context: attackCtx(devRemediator, member, "sts:ExternalId", externalID), identity: dev.inline[devRemediator], resourcePolicy: ptr(dev.trust[role]), want: "Allowed"},
		// Another stack's remediator, however broad its own policy and even with dev's ExternalId,
		// cannot assume dev's bucket-settings role: the trust names dev's remediator only.
		{who: "prod remediator → dev bucket-settings", principal: prodRemediator, action: "sts:AssumeRole", resource: role, account: member,
			context: attackCtx(prodRemediator, member, "sts:ExternalId", externalID), identity: admin, resourcePolicy: ptr(dev.trust[role]), want: "Denied"},
		// PassRole with no service named (an API that does not set iam:PassedToService) is not S3.
		{who: "bucket-settings", principal: role, action: "iam:PassRole", resource: "arn:aws:iam::" + member + ":role/s3-replication", account: member,
			context: attackCtx(role, member), identity: perms, want: "Denied"},
		{who: "bucket-settings", principal: role, action: "iam:PassRole", resource: "arn:aws:iam::" + member + ":role/s3-replication", account: member,
			context: attackCtx(role, member, "iam:PassedToService", "lambda.amazonaws.com"), identity: perms, want: "Denied"},
		// It cannot chain into another role, or change anything but the three settings.
		{who: "bucket-settings", principal: role, action: "sts:AssumeRole", resource: "arn:aws:iam::" + member + ":role/data-engineer", account: member,
			context: attackCtx(role, member), identity: perms, want: "Denied"},
		{who: "bucket-settings", principal: role, action: "s3:PutAccountPublicAccessBlock", resource: "*", account: member,
			context: attackCtx(role, member), identity: perms, want: "Denied"},
	}
	for _, a := range []string{"s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketAcl", "s3:PutBucketOwnershipControls", "s3:PutBucketCORS",
		"s3:PutLifecycleConfiguration", "s3:DeleteBucket", "s3:PutBucketVersioning", "s3:PutBucketLogging", "s3:PutBucketWebsite", "s3:PutBucketObjectLockConfiguration"} {
		rows = append(rows, decision{who: "bucket-settings", principal: role, action: a, resource: data, account: member, context: attackCtx(role, member), identity: perms, want: "Denied"})
	}
	for _, a := range []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl"} {
		rows = append(rows, decision{who: "bucket-settings", principal: role, action: a, resource: data + "/k", account: member, context: attackCtx(role, member), identity: perms, want: "Denied"})
	}
	runRows(t, rows)
}
