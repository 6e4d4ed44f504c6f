package stack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/policy"
)

// bucketSettingsDecisions are the IAM decision table's rows for the bucket-settings role (issue
// 15), in the table's world (a policy that remediates policy findings): it changes the settings
// of a bucket of its own account and nothing else, only the remediator may assume it, and the
// quarantine role still may not change a bucket's settings. Each row with a guard is also run
// broken by TestIAMDecisionsFlipWhenTheirPolicyBreaks.
func bucketSettingsDecisions(t *testing.T, w *world) []decision {
	t.Helper()
	role := w.roleArn["member-"+member+"-bucket-settings-role"]
	remediator := w.roleArn["remediator-role"]
	quarantineRole := w.roleArn["member-"+member+"-quarantine-role"]
	if role == "" || len(w.inline[role]) == 0 || remediator == "" || quarantineRole == "" {
		t.Fatalf("the mocks declared no bucket-settings role with a policy in %s (roles %v)", member, w.roleArn)
	}
	perms, trust := w.inline[role], ptr(w.trust[role])
	ctx := func(p, acct string, kv ...string) map[string]any {
		c := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": strings.Split(p, ":")[4], "aws:PrincipalArn": p, "s3:ResourceAccount": acct}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
		}
		return c
	}
	admin := []Document{allowAll("*")}
	data := "arn:aws:s3:::" + dataBkt
	other := "arn:aws:s3:::" + otherBkt // in 444455556666, its policy open to the organization
	otherPol := ptr(doc(Statement{Sid: "OrgMayAdminister", Effect: "Allow", Principal: "*", Action: "s3:*", Resource: []string{other, other + "/*"},
		Condition: map[string]any{"StringEquals": map[string]string{"aws:PrincipalOrgID": orgID}}}))
	qBucket := "arn:aws:s3:::" + w.quarantine
	qPol := ptr(w.bucketPol[w.quarantine])
	replicationRole := "arn:aws:iam::" + member + ":role/s3-replication"
	assume := func(p string, kv ...string) map[string]any { return ctx(p, member, kv...) }
	dataEngineer := "arn:aws:iam::" + member + ":role/data-engineer"
	// Another stack's role in the same account, whatever its own policy allows.
	otherStackRole := "arn:aws:iam::" + member + ":role/" + BucketSettingsRoleName("production-eu-central-payments-and-cards-2026")
	anyBucketSettings := []Document{allowAll(bucketSettingsActions...)}

	// The security account's role has block public access only (tableWorldPolicy); 444455556666
	// has no role at all.
	bpaRole := w.roleArn["member-"+security+"-bucket-settings-role"]
	if bpaRole == "" || len(w.inline[bpaRole]) == 0 {
		t.Fatalf("the mocks declared no bucket-settings role with a policy in %s (roles %v)", security, w.roleArn)
	}
	if r := w.roleArn["member-444455556666-bucket-settings-role"]; r != "" {
		t.Fatalf("444455556666, whose policy enables no kind, has bucket-settings role %s", r)
	}
	bpaPerms := w.inline[bpaRole]
	secBkt := "arn:aws:s3:::finance-reports" // a data bucket of the security account
	secReplicationRole := "arn:aws:iam::" + security + ":role/s3-replication"
	full := BucketSettingsRolePolicy(&Config{Policy: &policy.Policy{}}, Member{AccountID: security},
		[]string{policy.KindBlockPublicAccess, policy.KindDefaultEncryption, policy.KindExternalReplication}, nil)
	passRole, _ := statementBySid(full, "PassReplicationRoleToS3")
	noRole := "arn:aws:iam::444455556666:role/" + BucketSettingsRoleName("dev")
	// A role of that name someone else creates in 444455556666, trusting the remediator as ours do.
	lookalikeTrust := ptr(BucketSettingsTrust(remediator, externalID, orgID))

	return []decision{
		// It fixes (and undoes) a bucket of its own account: Put of each setting, and PassRole of
		// the replication role the configuration names, to S3 only.
		{who: "bucket-settings role", principal: role, action: "s3:PutBucketPublicAccessBlock", resource: data, account: member, context: ctx(role, member), identity: perms, want: "Allowed",
			guard: []mut{{"identity", "BucketSettings", "drop"}}},
		{who: "bucket-settings role", principal: role, action: "s3:GetBucketPublicAccessBlock", resource: data, account: member, context: ctx(role, member), identity: perms, want: "Allowed",
			guard: []mut{{"identity", "BucketSettings", "drop"}}},
		{who: "bucket-settings role", principal: role, action: "s3:PutEncryptionConfiguration", resource: data, account: member, context: ctx(role, member), identity: perms, want: "Allowed",
			guard: []mut{{"identity", "BucketSettings", "drop"}}},
		{who: "bucket-settings role", principal: role, action: "s3:PutReplicationConfiguration", resource: data, account: member, context: ctx(role, member), identity: perms, want: "Allowed",
			guard: []mut{{"identity", "BucketSettings", "drop"}}},
		{who: "bucket-settings role", principal: role, action: "iam:PassRole", resource: replicationRole, account: member, context: ctx(role, member, "iam:PassedToService", "s3.amazonaws.com"), identity: perms, want: "Allowed",
			guard: []mut{{"identity", "PassReplicationRoleToS3", "drop"}}},
		{who: "bucket-settings role", principal: role, action: "iam:PassRole", resource: replicationRole, account: member, context: ctx(role, member, "iam:PassedToService", "ec2.amazonaws.com"), identity: perms, want: "Denied",
			guard: []mut{{"identity", "PassReplicationRoleToS3", "dropCondition"}}},
		{who: "bucket-settings role", principal: role, action: "iam:PassRole", resource: "arn:aws:iam::444455556666:role/s3-replication", account: "444455556666", context: ctx(role, "444455556666", "iam:PassedToService", "s3.amazonaws.com"), identity: perms, want: "Denied"},

		// Not in another account, even one whose bucket policy lets the organization in.
		{who: "bucket-settings role", principal: role, action: "s3:PutBucketPublicAccessBlock", resource: other, account: "444455556666", context: ctx(role, "444455556666"), identity: perms, resourcePolicy: otherPol, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "dropCondition"}}},
		{who: "bucket-settings role", principal: role, action: "s3:PutReplicationConfiguration", resource: other, account: "444455556666", context: ctx(role, "444455556666"), identity: perms, resourcePolicy: otherPol, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "dropCondition"}}},

		// Never the quarantine bucket (a replication rule there would copy quarantined objects
		// out, another default encryption would weaken what it holds), nor a log bucket. Its own
		// stack's quarantine bucket is denied twice, by the role's policy (the rows without the
		// bucket policy prove it alone) and by the bucket's policy, which also denies every other
		// stack's bucket-settings role (dev and prod in one account), whatever that role's own
		// policy says.
		{who: "bucket-settings role", principal: role, action: "s3:PutBucketPublicAccessBlock", resource: qBucket, account: member, context: ctx(role, member), identity: perms, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}, {"resource", "DenyBucketSettingsRoles", "drop"}}},
		{who: "bucket-settings role", principal: role, action: "s3:PutReplicationConfiguration", resource: qBucket, account: member, context: ctx(role, member), identity: perms, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}, {"resource", "DenyBucketSettingsRoles", "drop"}}},
		{who: "bucket-settings role (its policy)", principal: role, action: "s3:PutReplicationConfiguration", resource: qBucket, account: member, context: ctx(role, member), identity: perms, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}}},
		{who: "bucket-settings role (its policy)", principal: role, action: "s3:PutEncryptionConfiguration", resource: qBucket, account: member, context: ctx(role, member), identity: perms, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}}},
		{who: "another stack's bucket-settings", principal: otherStackRole, action: "s3:PutReplicationConfiguration", resource: qBucket, account: member, context: ctx(otherStackRole, member), identity: anyBucketSettings, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"resource", "DenyBucketSettingsRoles", "drop"}}},
		{who: "another stack's bucket-settings", principal: otherStackRole, action: "s3:PutEncryptionConfiguration", resource: qBucket, account: member, context: ctx(otherStackRole, member), identity: anyBucketSettings, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"resource", "DenyBucketSettingsRoles", "drop"}}},
		{who: "another stack's bucket-settings", principal: otherStackRole, action: "s3:PutBucketPublicAccessBlock", resource: qBucket, account: member, context: ctx(otherStackRole, member), identity: anyBucketSettings, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"resource", "DenyBucketSettingsRoles", "drop"}}},
		// The deploy role still administers those settings (refresh, up, destroy).
		{who: "deploy role", principal: adminRole, action: "s3:PutEncryptionConfiguration", resource: qBucket, account: member, context: ctx(adminRole, member), identity: admin, resourcePolicy: qPol, want: "Allowed"},
		{who: "bucket-settings role", principal: role, action: "s3:PutEncryptionConfiguration", resource: "arn:aws:s3:::" + logBkt, account: member, context: ctx(role, member), identity: perms, want: "Denied",
			guard: []mut{{"identity", "NeverLogOrSecurityBuckets", "drop"}}},

		// Settings only: no object, no bucket policy, no ACL.
		{who: "bucket-settings role", principal: role, action: "s3:GetObject", resource: data + "/customer-uploads/card-numbers.csv", account: member, context: ctx(role, member), identity: perms, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
		{who: "bucket-settings role", principal: role, action: "s3:DeleteObjectVersion", resource: data + "/customer-uploads/card-numbers.csv", account: member, context: ctx(role, member), identity: perms, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
		{who: "bucket-settings role", principal: role, action: "s3:PutBucketPolicy", resource: data, account: member, context: ctx(role, member), identity: perms, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
		{who: "bucket-settings role", principal: role, action: "s3:PutBucketAcl", resource: data, account: member, context: ctx(role, member), identity: perms, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},

		// Only the central remediator assumes it, with the ExternalId, from the organization; the
		// remediator may because its own policy names the role.
		{who: "remediator → bucket-settings", principal: remediator, action: "sts:AssumeRole", resource: role, account: member, context: assume(remediator, "sts:ExternalId", externalID), identity: w.inline[remediator], resourcePolicy: trust, want: "Allowed",
			guard: []mut{{"resource", "CentralRemediatorOnly", "drop"}}},
		{who: "remediator → bucket-settings", principal: remediator, action: "sts:AssumeRole", resource: role, account: member, context: assume(remediator, "sts:ExternalId", externalID), identity: w.inline[remediator], resourcePolicy: trust, want: "Allowed",
			guard: []mut{{"identity", "AssumeMemberBucketSettingsRoles", "drop"}}},
		{who: "remediator → bucket-settings, no ExternalId", principal: remediator, action: "sts:AssumeRole", resource: role, account: member, context: assume(remediator), identity: w.inline[remediator], resourcePolicy: trust, want: "Denied",
			guard: []mut{{"resource", "CentralRemediatorOnly", "dropCondition"}}},
		{who: "remediator → bucket-settings, guessed ExternalId", principal: remediator, action: "sts:AssumeRole", resource: role, account: member, context: assume(remediator, "sts:ExternalId", "guessed-external-id"), identity: w.inline[remediator], resourcePolicy: trust, want: "Denied",
			guard: []mut{{"resource", "CentralRemediatorOnly", "dropCondition"}}},
		{who: "remediator → bucket-settings, outside the org", principal: remediator, action: "sts:AssumeRole", resource: role, account: member, context: assume(remediator, "sts:ExternalId", externalID, "aws:PrincipalOrgID", otherOrg), identity: w.inline[remediator], resourcePolicy: trust, want: "Denied",
			guard: []mut{{"resource", "CentralRemediatorOnly", "dropCondition"}}},
		{who: "finding-handler → bucket-settings", principal: w.roleArn["finding-handler-role"], action: "sts:AssumeRole", resource: role, account: member, context: assume(w.roleArn["finding-handler-role"], "sts:ExternalId", externalID), identity: admin, resourcePolicy: trust, want: "Denied"},
		{who: "member administrator → bucket-settings", principal: dataEngineer, action: "sts:AssumeRole", resource: role, account: member, context: assume(dataEngineer, "sts:ExternalId", externalID), identity: admin, resourcePolicy: trust, want: "Denied"},

		// A role holds only the kinds its account's policy enables: the security account's blocks
		// public access and cannot touch replication (nor PassRole a role that trusts S3, which
		// would let it point a bucket's replication outside the organization) or encryption.
		{who: "BPA-only bucket-settings role", principal: bpaRole, action: "s3:PutBucketPublicAccessBlock", resource: secBkt, account: security, context: ctx(bpaRole, security), identity: bpaPerms, want: "Allowed",
			guard: []mut{{"identity", "BucketSettings", "drop"}}},
		{who: "BPA-only bucket-settings role", principal: bpaRole, action: "s3:PutReplicationConfiguration", resource: secBkt, account: security, context: ctx(bpaRole, security), identity: bpaPerms, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
		{who: "BPA-only bucket-settings role", principal: bpaRole, action: "s3:GetReplicationConfiguration", resource: secBkt, account: security, context: ctx(bpaRole, security), identity: bpaPerms, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
		{who: "BPA-only bucket-settings role", principal: bpaRole, action: "s3:PutEncryptionConfiguration", resource: secBkt, account: security, context: ctx(bpaRole, security), identity: bpaPerms, want: "Denied",
			guard: []mut{{"identity", "BucketSettings", "widen"}}},
		{who: "BPA-only bucket-settings role", principal: bpaRole, action: "iam:PassRole", resource: secReplicationRole, account: security, context: ctx(bpaRole, security, "iam:PassedToService", "s3.amazonaws.com"), identity: bpaPerms, want: "Denied",
			missing: []Statement{passRole}},
		{who: "remediator → BPA-only bucket-settings", principal: remediator, action: "sts:AssumeRole", resource: bpaRole, account: security, context: ctx(remediator, security, "sts:ExternalId", externalID), identity: w.inline[remediator], resourcePolicy: ptr(w.trust[bpaRole]), want: "Allowed",
			// In its own account either the trust or the remediator's policy is enough.
			guard: []mut{{"resource", "CentralRemediatorOnly", "drop"}, {"identity", "AssumeMemberBucketSettingsRoles", "drop"}}},
		// No role in 444455556666, and the remediator may not assume one of that name there.
		{who: "remediator → no-kinds account", principal: remediator, action: "sts:AssumeRole", resource: noRole, account: "444455556666", context: ctx(remediator, "444455556666", "sts:ExternalId", externalID), identity: w.inline[remediator], resourcePolicy: lookalikeTrust, want: "Denied",
			missing: []Statement{{Sid: "AssumeMemberBucketSettingsRoles", Effect: "Allow", Action: "sts:AssumeRole", Resource: noRole}}},

		// The quarantine role moves objects; it never changes a bucket's settings.
		{who: "quarantine role", principal: quarantineRole, action: "s3:PutBucketPublicAccessBlock", resource: data, account: member, context: ctx(quarantineRole, member), identity: w.inline[quarantineRole], want: "Denied",
			guard: []mut{{"identity", "DataBuckets", "widen"}}},
		{who: "quarantine role", principal: quarantineRole, action: "s3:PutReplicationConfiguration", resource: data, account: member, context: ctx(quarantineRole, member), identity: w.inline[quarantineRole], want: "Denied",
			guard: []mut{{"identity", "DataBuckets", "widen"}}},
		{who: "quarantine role", principal: quarantineRole, action: "s3:PutEncryptionConfiguration", resource: data, account: member, context: ctx(quarantineRole, member), identity: w.inline[quarantineRole], want: "Denied",
			guard: []mut{{"identity", "DataBuckets", "widen"}}},
	}
}

// Two stacks in one account, both remediating policy findings: dev's bucket-settings role, with
// the policy dev deploys, cannot change the settings of prod's quarantine bucket, as prod
// deploys its policy, nor its own; it can change a data bucket's.
func TestIAMAttacksBucketSettingsRoleOnAnotherStacksQuarantine(t *testing.T) {
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
	if role == "" || prod.roleArn["member-"+member+"-bucket-settings-role"] == role || prod.quarantine == dev.quarantine {
		t.Fatalf("dev role %q, prod role %q, quarantine buckets %s and %s", role, prod.roleArn["member-"+member+"-bucket-settings-role"], dev.quarantine, prod.quarantine)
	}
	var rows []decision
	for _, a := range bucketSettingsActions {
		for _, q := range []*world{prod, dev} {
			rows = append(rows, decision{who: "dev bucket-settings → " + q.quarantine, principal: role, action: a, resource: "arn:aws:s3:::" + q.quarantine, account: member,
				context: attackCtx(role, member), identity: dev.inline[role], resourcePolicy: ptr(q.bucketPol[q.quarantine]), want: "Denied"})
		}
		rows = append(rows, decision{who: "dev bucket-settings → data bucket", principal: role, action: a, resource: "arn:aws:s3:::" + dataBkt, account: member,
			context: attackCtx(role, member), identity: dev.inline[role], want: "Allowed"})
	}
	runRows(t, rows)
}
