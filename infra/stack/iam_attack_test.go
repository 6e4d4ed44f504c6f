package stack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Attacks on the program's IAM, as an attacker and as the platform engineer who deploys it: rows
// the independent evaluator must decide as the program intends. Unlike the table in
// iam_decisions_test.go these rows carry no guard; each is the question an attacker (or a
// refresh) would ask AWS.

// bucketOf is the quarantine bucket the mocks declared for an account in a region, and its policy.
func bucketOf(t *testing.T, m *mocks, w *world, account, region string) (string, *Document) {
	t.Helper()
	for _, r := range m.of("aws:s3/bucketV2:BucketV2") {
		if r.account == account && r.region == region {
			b := str(r.inputs["bucket"])
			p, ok := w.bucketPol[b]
			if !ok {
				t.Fatalf("bucket %s has no policy", b)
			}
			return b, ptr(p)
		}
	}
	t.Fatalf("no quarantine bucket in %s %s", account, region)
	return "", nil
}

func attackWorld(t *testing.T) (*mocks, *world) {
	t.Helper()
	m, err := deploy(t, map[string]string{"macie-chatops:macieMode": "standalone"}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	return m, extract(t, m)
}

// runRows evaluates rows and reports each decision that differs from the intended one.
func runRows(t *testing.T, rows []decision) {
	t.Helper()
	var cases []map[string]any
	for i, d := range rows {
		cases = append(cases, d.request(fmt.Sprint(i)))
	}
	got := iamSimulate(t, cases)
	for i, d := range rows {
		if g := got[fmt.Sprint(i)]; verdict(g) != d.want {
			t.Errorf("%s %s %s: evaluator says %s, want %s", d.who, d.action, d.resource, g, d.want)
		}
	}
}

// attackCtx is the request context of principal p on a resource of account acct, over TLS.
func attackCtx(p, acct string, kv ...string) map[string]any {
	c := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": strings.Split(p, ":")[4], "aws:PrincipalArn": p, "s3:ResourceAccount": acct}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = kv[i+1]
	}
	return c
}

func TestIAMAttacksQuarantinedObjects(t *testing.T) {
	m, w := attackWorld(t)
	quarantineRole := w.roleArn["member-"+member+"-quarantine-role"]
	qBucket := "arn:aws:s3:::" + w.quarantine
	qObject := qBucket + "/111122223333/customer-uploads/card-numbers.csv"
	qKey := w.keyArn["member-"+member+"-us-east-1-quarantine-key"]
	qPol, qKeyPol := ptr(w.bucketPol[w.quarantine]), ptr(w.keyPol[qKey])
	admin := []Document{allowAll("*")}
	memberAdmin := "arn:aws:iam::" + member + ":role/data-engineer"
	otherMember := "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole"
	secAdmin := "arn:aws:iam::" + security + ":role/security-admin"
	// The other member's quarantine bucket: the quarantine role of 111122223333 must not reach it.
	otherQ, otherQPol := bucketOf(t, m, w, "444455556666", "us-east-1")
	qRole := w.inline[quarantineRole]

	var rows []decision
	// Another principal of the organization (the member's own administrator, another member's
	// administrator, the security account's administrator) reads, writes, deletes, lists.
	for _, p := range []string{memberAdmin, otherMember, secAdmin} {
		for _, a := range []struct{ action, res string }{
			{"s3:GetObject", qObject}, {"s3:GetObjectVersion", qObject}, {"s3:PutObject", qObject}, {"s3:DeleteObject", qObject},
			{"s3:DeleteObjectVersion", qObject}, {"s3:PutObjectTagging", qObject}, {"s3:RestoreObject", qObject},
			{"s3:ListBucket", qBucket}, {"s3:ListBucketVersions", qBucket},
		} {
			rows = append(rows, decision{who: p, principal: p, action: a.action, resource: a.res, account: member, context: attackCtx(p, member), identity: admin, resourcePolicy: qPol, want: "Denied"})
		}
		for _, a := range []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateGrant"} {
			rows = append(rows, decision{who: p, principal: p, action: a, resource: qKey, account: member, context: attackCtx(p, member), identity: admin, resourcePolicy: qKeyPol, want: "Denied"})
		}
	}
	// The quarantine role: another member's quarantine bucket, a bucket of another account that
	// trusts the organization, log buckets by their usual names.
	orgTrusting := ptr(doc(Statement{Sid: "OrgMayUse", Effect: "Allow", Principal: "*", Action: "s3:*", Resource: []string{"arn:aws:s3:::" + otherBkt, "arn:aws:s3:::" + otherBkt + "/*"},
		Condition: map[string]any{"StringEquals": map[string]string{"aws:PrincipalOrgID": orgID}}}))
	for _, a := range []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObjectVersion"} {
		rows = append(rows,
			decision{who: "quarantine role → other account's bucket", principal: quarantineRole, action: a, resource: "arn:aws:s3:::" + otherBkt + "/x.csv", account: "444455556666", context: attackCtx(quarantineRole, "444455556666"), identity: qRole, resourcePolicy: orgTrusting, want: "Denied"},
			decision{who: "quarantine role → other member's quarantine", principal: quarantineRole, action: a, resource: "arn:aws:s3:::" + otherQ + "/x.csv", account: "444455556666", context: attackCtx(quarantineRole, "444455556666"), identity: qRole, resourcePolicy: otherQPol, want: "Denied"},
		)
	}
	rows = append(rows, decision{who: "quarantine role → other account's bucket", principal: quarantineRole, action: "s3:ListBucket", resource: "arn:aws:s3:::" + otherBkt, account: "444455556666", context: attackCtx(quarantineRole, "444455556666"), identity: qRole, resourcePolicy: orgTrusting, want: "Denied"})
	for _, b := range []string{"aws-cloudtrail-logs-111122223333-0a1b2c3d", "org-cloudtrail-111122223333", "aws-controltower-logs-111122223333-us-east-1", "aws-controltower-s3-access-logs-111122223333-us-east-1",
		"config-bucket-111122223333", "aws-config-111122223333", "aws-logs-111122223333-us-east-1", "acme-s3-access-logs", "acme-macie-discovery-results-111122223333"} {
		for _, a := range []string{"s3:DeleteObjectVersion", "s3:PutObject", "s3:GetObject", "s3:ListBucket"} {
			res := "arn:aws:s3:::" + b + "/AWSLogs/111122223333/x.json.gz"
			if a == "s3:ListBucket" {
				res = "arn:aws:s3:::" + b
			}
			rows = append(rows, decision{who: "quarantine role → log bucket", principal: quarantineRole, action: a, resource: res, account: member, context: attackCtx(quarantineRole, member), identity: qRole, want: "Denied"})
		}
	}
	// Its own quarantine bucket's key: it may use it, not administer it.
	for _, a := range []string{"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:CreateGrant"} {
		rows = append(rows, decision{who: "quarantine role", principal: quarantineRole, action: a, resource: qKey, account: member, context: attackCtx(quarantineRole, member), identity: qRole, resourcePolicy: qKeyPol, want: "Denied"})
	}
	// Plain HTTP, even for break-glass and the deploy role.
	for _, p := range []string{breakGlassArn, adminRole} {
		rows = append(rows, decision{who: p + " (HTTP)", principal: p, action: "s3:GetObject", resource: qObject, account: member, context: attackCtx(p, member, "aws:SecureTransport", "false"), identity: admin, resourcePolicy: qPol, want: "Denied"})
	}
	runRows(t, rows)
}

// Two stacks in one account (dev and prod): dev's quarantine role, which may write to every bucket
// of its account when it names no dataBuckets, cannot read, overwrite or delete what prod
// quarantined.
func TestIAMAttacksAnotherStacksQuarantineInTheSameAccount(t *testing.T) {
	_, dev := attackWorld(t)
	members, _ := json.Marshal(defaultMembers)
	pm, err := deployRaw(t, "prod", map[string]string{"macie-chatops:macieMode": "standalone"}, string(members))
	if err != nil {
		t.Fatal(err)
	}
	prod := extract(t, pm)
	if prod.quarantine == dev.quarantine {
		t.Fatalf("both stacks quarantine to %s", dev.quarantine)
	}
	devRole := dev.roleArn["member-"+member+"-quarantine-role"]
	obj := "arn:aws:s3:::" + prod.quarantine + "/111122223333/customer-uploads/card-numbers.csv"
	var rows []decision
	for _, a := range []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} {
		rows = append(rows, decision{who: "dev quarantine role → prod quarantine", principal: devRole, action: a, resource: obj, account: member, context: attackCtx(devRole, member),
			identity: dev.inline[devRole], resourcePolicy: ptr(prod.bucketPol[prod.quarantine]), want: "Denied"})
	}
	rows = append(rows, decision{who: "dev quarantine role → prod key", principal: devRole, action: "kms:Decrypt", resource: prod.keyArn["member-"+member+"-us-east-1-quarantine-key"], account: member,
		context: attackCtx(devRole, member), identity: dev.inline[devRole], resourcePolicy: ptr(prod.keyPol[prod.keyArn["member-"+member+"-us-east-1-quarantine-key"]]), want: "Denied"})
	runRows(t, rows)
}

func TestIAMAttacksAssumeQuarantineRole(t *testing.T) {
	_, w := attackWorld(t)
	remediator := w.roleArn["remediator-role"]
	admin := []Document{allowAll("*")}
	var rows []decision
	for _, acct := range []string{member, "444455556666"} {
		qr := w.roleArn["member-"+acct+"-quarantine-role"]
		trust := ptr(w.trust[qr])
		ok := func(p string, kv ...string) map[string]any {
			return attackCtx(p, acct, append([]string{"sts:ExternalId", externalID}, kv...)...)
		}
		rows = append(rows,
			decision{who: "remediator with the ExternalId", principal: remediator, action: "sts:AssumeRole", resource: qr, account: acct, context: ok(remediator), identity: w.inline[remediator], resourcePolicy: trust, want: "Allowed"},
			decision{who: "remediator without ExternalId", principal: remediator, action: "sts:AssumeRole", resource: qr, account: acct, context: attackCtx(remediator, acct), identity: w.inline[remediator], resourcePolicy: trust, want: "Denied"},
			decision{who: "remediator, ExternalId of another case", principal: remediator, action: "sts:AssumeRole", resource: qr, account: acct, context: attackCtx(remediator, acct, "sts:ExternalId", strings.ToUpper(externalID)), identity: w.inline[remediator], resourcePolicy: trust, want: "Denied"},
			decision{who: "remediator, empty ExternalId", principal: remediator, action: "sts:AssumeRole", resource: qr, account: acct, context: attackCtx(remediator, acct, "sts:ExternalId", ""), identity: w.inline[remediator], resourcePolicy: trust, want: "Denied"},
			decision{who: "member's own administrator", principal: "arn:aws:iam::" + acct + ":role/admin", action: "sts:AssumeRole", resource: qr, account: acct, context: ok("arn:aws:iam::" + acct + ":role/admin"), identity: admin, resourcePolicy: trust, want: "Denied"},
			decision{who: "member's root", principal: "arn:aws:iam::" + acct + ":root", action: "sts:AssumeRole", resource: qr, account: acct, context: ok("arn:aws:iam::" + acct + ":root"), identity: admin, resourcePolicy: trust, want: "Denied"},
			decision{who: "security account's administrator", principal: "arn:aws:iam::" + security + ":role/security-admin", action: "sts:AssumeRole", resource: qr, account: acct, context: ok("arn:aws:iam::" + security + ":role/security-admin"), identity: admin, resourcePolicy: trust, want: "Denied"},
			decision{who: "security account's root", principal: "arn:aws:iam::" + security + ":root", action: "sts:AssumeRole", resource: qr, account: acct, context: ok("arn:aws:iam::" + security + ":root"), identity: admin, resourcePolicy: trust, want: "Denied"},
			decision{who: "finding-handler", principal: w.roleArn["finding-handler-role"], action: "sts:AssumeRole", resource: qr, account: acct, context: ok(w.roleArn["finding-handler-role"]), identity: admin, resourcePolicy: trust, want: "Denied"},
			decision{who: "a role named like the remediator in another account", principal: strings.Replace(remediator, security, outsider, 1), action: "sts:AssumeRole", resource: qr, account: acct, context: ok(strings.Replace(remediator, security, outsider, 1), "aws:PrincipalOrgID", otherOrg), identity: admin, resourcePolicy: trust, want: "Denied"},
			decision{who: "remediator from outside the org", principal: remediator, action: "sts:AssumeRole", resource: qr, account: acct, context: ok(remediator, "aws:PrincipalOrgID", otherOrg), identity: w.inline[remediator], resourcePolicy: trust, want: "Denied"},
		)
	}
	// The remediator's own identity policy names only the quarantine roles: not another role
	// of a member (say, its OrganizationAccountAccessRole, which trusts the management account
	// only, but a role trusting the security account would otherwise be open to it).
	rows = append(rows, decision{who: "remediator → another role of a member", principal: remediator, action: "sts:AssumeRole", resource: "arn:aws:iam::" + member + ":role/trusts-security-account", account: member,
		context: attackCtx(remediator, member), identity: w.inline[remediator],
		resourcePolicy: ptr(doc(Statement{Effect: "Allow", Principal: map[string]any{"AWS": "arn:aws:iam::" + security + ":root"}, Action: "sts:AssumeRole"})), want: "Denied"})
	runRows(t, rows)
}

// The deploy role keeps everything `pulumi refresh`, `up` and `destroy` call on the quarantine
// bucket and key: the provider reads a bucket with HeadBucket (s3:ListBucket) and its settings,
// a key with DescribeKey, GetKeyPolicy, GetKeyRotationStatus and ListResourceTags.
func TestIAMAttacksDeployRoleKeepsAdministration(t *testing.T) {
	_, w := attackWorld(t)
	qBucket := "arn:aws:s3:::" + w.quarantine
	qKey := w.keyArn["member-"+member+"-us-east-1-quarantine-key"]
	qPol, qKeyPol := ptr(w.bucketPol[w.quarantine]), ptr(w.keyPol[qKey])
	admin := []Document{allowAll("*")}
	var rows []decision
	for _, a := range []string{"s3:ListBucket", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucket", "s3:GetBucketVersioning", "s3:PutBucketVersioning",
		"s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration", "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration", "s3:GetBucketPublicAccessBlock",
		"s3:PutBucketPublicAccessBlock", "s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls", "s3:GetBucketAcl", "s3:GetBucketTagging", "s3:PutBucketTagging",
		"s3:GetBucketObjectLockConfiguration", "s3:GetBucketLogging", "s3:GetBucketCORS", "s3:GetBucketWebsite", "s3:GetReplicationConfiguration", "s3:GetAccelerateConfiguration", "s3:GetBucketRequestPayment"} {
		rows = append(rows, decision{who: "deploy role", principal: adminRole, action: a, resource: qBucket, account: member, context: attackCtx(adminRole, member), identity: admin, resourcePolicy: qPol, want: "Allowed"})
	}
	for _, a := range []string{"kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource",
		"kms:UntagResource", "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:DisableKey", "kms:EnableKey"} {
		rows = append(rows, decision{who: "deploy role", principal: adminRole, action: a, resource: qKey, account: member, context: attackCtx(adminRole, member), identity: admin, resourcePolicy: qKeyPol, want: "Allowed"})
	}
	// The key policy delegates administration to the account (its root), not to one role: any
	// administrator the account keeps (a role created after the deploy role is gone) can still
	// manage the key, so it never becomes unmanageable; none of them can read through it.
	later := "arn:aws:iam::" + member + ":role/admin-created-later"
	for _, a := range []string{"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:EnableKeyRotation"} {
		rows = append(rows, decision{who: "another member administrator", principal: later, action: a, resource: qKey, account: member, context: attackCtx(later, member), identity: admin, resourcePolicy: qKeyPol, want: "Allowed"})
	}
	rows = append(rows, decision{who: "another member administrator", principal: later, action: "kms:Decrypt", resource: qKey, account: member, context: attackCtx(later, member), identity: admin, resourcePolicy: qKeyPol, want: "Denied"})
	runRows(t, rows)
}

func TestIAMAttacksBusAndQueues(t *testing.T) {
	_, w := attackWorld(t)
	findings, jobs := w.queueArn["findings"], w.queueArn["jobs"]
	admin := []Document{allowAll("*")}
	intruder := "arn:aws:iam::" + outsider + ":role/intruder"
	var rows []decision
	rows = append(rows,
		decision{who: "outside the org, no org id", principal: intruder, action: "events:PutEvents", resource: w.busArn, account: security, context: map[string]any{"aws:SecureTransport": "true", "aws:PrincipalAccount": outsider, "aws:PrincipalArn": intruder}, identity: admin, resourcePolicy: ptr(w.busPol), want: "Denied"},
	)
	for _, q := range []string{findings, w.queueArn["findings-dlq"], jobs} {
		if q == "" {
			continue
		}
		qp := w.queuePol[q]
		var pol *Document
		if len(qp.Statement) > 0 {
			pol = ptr(qp)
		}
		rows = append(rows,
			// A rule of another bus of the security account (its default bus, a custom bus):
			// not one of the stack's rules.
			decision{who: "rule on another bus", principal: "events.amazonaws.com", action: "sqs:SendMessage", resource: q, account: security, context: map[string]any{"aws:SecureTransport": "true", "aws:SourceArn": "arn:aws:events:us-east-1:" + security + ":rule/other-bus/copy-findings", "aws:SourceAccount": security}, resourcePolicy: pol, want: "Denied"},
			decision{who: "rule of the default bus, other name", principal: "events.amazonaws.com", action: "sqs:SendMessage", resource: q, account: security, context: map[string]any{"aws:SecureTransport": "true", "aws:SourceArn": "arn:aws:events:us-east-1:" + security + ":rule/findings-default-bus-2", "aws:SourceAccount": security}, resourcePolicy: pol, want: "Denied"},
			decision{who: "EventBridge with no source", principal: "events.amazonaws.com", action: "sqs:SendMessage", resource: q, account: security, context: map[string]any{"aws:SecureTransport": "true"}, resourcePolicy: pol, want: "Denied"},
			decision{who: "SNS", principal: "sns.amazonaws.com", action: "sqs:SendMessage", resource: q, account: security, context: map[string]any{"aws:SecureTransport": "true", "aws:SourceArn": "arn:aws:sns:us-east-1:" + security + ":t"}, resourcePolicy: pol, want: "Denied"},
			decision{who: "org member", principal: "arn:aws:iam::" + member + ":role/admin", action: "sqs:SendMessage", resource: q, account: security, context: attackCtx("arn:aws:iam::"+member+":role/admin", security), identity: admin, resourcePolicy: pol, want: "Denied"},
			decision{who: "outside the org", principal: intruder, action: "sqs:SendMessage", resource: q, account: security, context: attackCtx(intruder, security, "aws:PrincipalOrgID", otherOrg), identity: admin, resourcePolicy: pol, want: "Denied"},
		)
	}
	runRows(t, rows)
}

// A quarantine bucket must name its stack as a whole word: stack "pro" with the policy file of
// stack "prod" would otherwise pass the check, and both stacks would declare the same buckets.
func TestAttackBucketNameMustNameTheStackAsAWord(t *testing.T) {
	members, _ := json.Marshal(defaultMembers)
	prodPolicy := exampleOrgFor(t, "prod")
	if _, err := deployRaw(t, "pro", map[string]string{"macie-chatops:policyFile": prodPolicy}, string(members)); err == nil {
		t.Errorf("stack pro deployed with stack prod's quarantine buckets (macie-chatops-prod-q-…)")
	}
}

// The security account is a member with no deploy role: its quarantine bucket is deployed with
// the stack's own credentials (an SSO administrator, say). The bucket policy's
// DenyObjectReadsToOthers denies s3:ListBucket to everyone but the roles it names, and HeadBucket
// (which the provider calls to read a bucket on refresh, import, and after every update of
// the bucket) is authorized by s3:ListBucket. Without a deployer named in the policy, the first
// refresh after the policy is applied fails with 403 (issue 13 item 1): the program asks STS and
// IAM (through the member's provider) who deploys it and names that role.
func TestIAMSecurityAccountDeployerAdministersItsQuarantineBucket(t *testing.T) {
	m, w := attackWorld(t)
	b, pol := bucketOf(t, m, w, security, "us-east-1")
	// The deployer the mocks' STS answers with (an SSO administrator's role, path included).
	deployer := deployerOf(security)
	admin := []Document{allowAll("*")}
	var rows []decision
	for _, a := range []string{"s3:ListBucket", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:PutBucketVersioning"} {
		rows = append(rows, decision{who: "security account's deployer", principal: deployer, action: a, resource: "arn:aws:s3:::" + b, account: security, context: attackCtx(deployer, security), identity: admin, resourcePolicy: pol, want: "Allowed"})
	}
	runRows(t, rows)
}
