package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The IAM decision table: what AWS would decide about the program's real policies (identity,
// bucket, trust, key, queue and event-bus policies, as declared through the mocks), evaluated by
// an independent evaluator, @cloud-copilot/iam-simulate (pinned in the Makefile, installed by
// `make tools` into .tools/node; AGPL, so a test tool only). Each row names the statement that
// decides it (guard); TestIAMDecisionsFlipWhenTheirPolicyBreaks removes that statement (or its
// condition) and expects the opposite decision, so no row passes by accident.

type policyRef struct {
	name string   // which document: "identity", "resource"
	doc  Document // a copy, mutated by the flip test
}

type decision struct {
	who, principal, action, resource, account string
	context                                   map[string]any
	identity                                  []Document
	resourcePolicy                            *Document
	want                                      string // Allowed or Denied
	// guard: the statements (by Sid, in the identity or resource policy) that make the
	// decision; breaking them must flip it.
	guard []mut
	// missing: for a Denied row decided by a grant the principal lacks (a kind its role is not
	// given, a role the remediator may not assume), the statements that grant it; the flip
	// test adds them to the identity and expects Allowed.
	missing []Statement
}

// mut breaks one statement: "drop" removes it, "dropCondition" removes its condition (a deny
// then exempts no one), "widen" makes its action the whole service (service:*), "anyResource"
// makes its resource "*" (for a row decided by a resource name pattern).
type mut struct{ in, sid, op string }

const (
	member    = "111122223333"
	security  = "999988887777"
	orgID     = "o-a1b2c3d4e5"
	otherOrg  = "o-zzzzzzzzzz"
	outsider  = "777788889999"
	dataBkt   = "customer-uploads"
	logBkt    = "cloudtrail-logs-111122223333"
	otherBkt  = "partner-exchange"                                             // in 444455556666, trusting the organization
	adminRole = "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole" // defaultMembers[0].deployRole
)

func allowAll(actions ...string) Document {
	return doc(Statement{Effect: "Allow", Action: actions, Resource: "*"})
}

// world is what the mocks declared, by what the table needs.
type world struct {
	roleArn   map[string]string     // resource name → ARN
	inline    map[string][]Document // role ARN → inline policies
	trust     map[string]Document   // role ARN → trust policy
	bucketPol map[string]Document   // bucket name → policy
	// secQuarantine is the security account's quarantine bucket (us-east-1): a member with no
	// deploy role, deployed by the stack's own credentials.
	secQuarantine string
	keyArn        map[string]string   // resource name → ARN
	keyPol        map[string]Document // key ARN → policy
	queueArn      map[string]string   // resource name → ARN
	queuePol      map[string]Document // queue ARN → policy
	busArn        string
	busPol        Document
	ruleArn       map[string]string // resource name → ARN
	quarantine    string            // the member's us-east-1 quarantine bucket
}

func parseDoc(t *testing.T, s string) Document {
	t.Helper()
	var d Document
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		t.Fatalf("policy %q: %v", s, err)
	}
	return d
}

func extract(t *testing.T, m *mocks) *world {
	w := &world{roleArn: map[string]string{}, inline: map[string][]Document{}, trust: map[string]Document{}, bucketPol: map[string]Document{},
		keyArn: map[string]string{}, keyPol: map[string]Document{}, queueArn: map[string]string{}, queuePol: map[string]Document{}, ruleArn: map[string]string{}}
	roleByID := map[string]string{}
	queueByURL := map[string]string{}
	for _, r := range m.all {
		switch r.typ {
		case "aws:iam/role:Role":
			arn := str(r.outputs["arn"])
			w.roleArn[r.name] = arn
			roleByID[r.name+"-id"] = arn
			w.trust[arn] = parseDoc(t, str(r.inputs["assumeRolePolicy"]))
		case "aws:kms/key:Key":
			w.keyArn[r.name] = str(r.outputs["arn"])
			w.keyPol[str(r.outputs["arn"])] = parseDoc(t, str(r.inputs["policy"]))
		case "aws:sqs/queue:Queue":
			w.queueArn[r.name] = str(r.outputs["arn"])
			queueByURL[str(r.outputs["url"])] = str(r.outputs["arn"])
		case "aws:cloudwatch/eventBus:EventBus":
			w.busArn = str(r.outputs["arn"])
		case "aws:cloudwatch/eventRule:EventRule":
			w.ruleArn[r.name] = str(r.outputs["arn"])
		case "aws:s3/bucketV2:BucketV2":
			if r.account == member && r.region == "us-east-1" {
				w.quarantine = str(r.inputs["bucket"])
			}
			if r.account == security && r.region == "us-east-1" {
				w.secQuarantine = str(r.inputs["bucket"])
			}
		}
	}
	for _, r := range m.all {
		switch r.typ {
		case "aws:iam/rolePolicy:RolePolicy":
			arn := roleByID[str(r.inputs["role"])]
			if arn == "" {
				t.Fatalf("%s: role %q not declared", r.name, str(r.inputs["role"]))
			}
			w.inline[arn] = append(w.inline[arn], parseDoc(t, str(r.inputs["policy"])))
		case "aws:s3/bucketPolicy:BucketPolicy":
			w.bucketPol[str(r.inputs["bucket"])] = parseDoc(t, str(r.inputs["policy"]))
		case "aws:sqs/queuePolicy:QueuePolicy":
			w.queuePol[queueByURL[str(r.inputs["queueUrl"])]] = parseDoc(t, str(r.inputs["policy"]))
		case "aws:cloudwatch/eventBusPolicy:EventBusPolicy":
			w.busPol = parseDoc(t, str(r.inputs["policy"]))
		}
	}
	return w
}

func ptr(d Document) *Document { return &d }

// decisions is the table. Context keys are what AWS would set for the request.
func decisions(t *testing.T, w *world) []decision {
	remediator := w.roleArn["remediator-role"]
	quarantineRole := w.roleArn["member-"+member+"-quarantine-role"]
	qBucket := "arn:aws:s3:::" + w.quarantine
	qObject := qBucket + "/111122223333/customer-uploads/card-numbers.csv"
	qKey := w.keyArn["member-"+member+"-us-east-1-quarantine-key"]
	qPol := ptr(w.bucketPol[w.quarantine])
	qKeyPol := ptr(w.keyPol[qKey])
	findings, jobs := w.queueArn["findings"], w.queueArn["jobs"]
	forwarder := w.roleArn["member-"+member+"-us-east-1-forwarder-role"]
	findingHandler, remediationHandler, sweeper := w.roleArn["finding-handler-role"], w.roleArn["remediation-handler-role"], w.roleArn["sweeper-role"]
	if remediator == "" || quarantineRole == "" || w.quarantine == "" || w.secQuarantine == "" || qKey == "" || findings == "" || forwarder == "" || w.busArn == "" || sweeper == "" {
		t.Fatalf("the mocks did not declare what the table needs: %+v", w)
	}
	tls := func(extra map[string]any) map[string]any {
		c := map[string]any{"aws:SecureTransport": "true"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	inOrg := func(principal string, extra map[string]any) map[string]any {
		acct := strings.Split(principal, ":")[4]
		return tls(map[string]any{"aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": acct, "aws:PrincipalArn": principal})
	}
	withAlias := func(c map[string]any, aliases ...string) map[string]any {
		c["kms:ResourceAliases"] = aliases
		return c
	}
	with := func(c map[string]any, kv ...string) map[string]any {
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
		}
		return c
	}
	admin := []Document{allowAll("*")}
	breakGlassIAM := []Document{allowAll("s3:*", "kms:*")} // its own account allows it broadly: the resource policies are what limit it
	otherOrgPrincipal := "arn:aws:iam::" + member + ":role/data-engineer"
	securityAdmin := "arn:aws:iam::" + security + ":role/security-admin"
	qRole := w.inline[quarantineRole]
	objCtx := func(p string, acct string) map[string]any { return with(inOrg(p, nil), "s3:ResourceAccount", acct) }
	// laterAcct joined the organization after the deploy; no config names it.
	const laterAcct = "121212121212"
	roleName := strings.SplitN(quarantineRole, ":role/", 2)[1]
	laterRole := "arn:aws:iam::" + laterAcct + ":role/" + roleName
	outsiderRole := "arn:aws:iam::" + outsider + ":role/" + roleName
	// welcomesRemediator is a trust policy someone else wrote: it lets the remediator in.
	welcomesRemediator := doc(Statement{Sid: "Welcome", Effect: "Allow", Principal: map[string]any{"AWS": remediator}, Action: "sts:AssumeRole"})

	rows := []decision{
		// The deploy role administers the quarantine bucket and key (refresh, up, destroy).
		{who: "deploy role", principal: adminRole, action: "s3:PutBucketPolicy", resource: qBucket, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qPol, want: "Allowed"},
		{who: "deploy role", principal: adminRole, action: "s3:PutEncryptionConfiguration", resource: qBucket, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qPol, want: "Allowed"},
		{who: "deploy role", principal: adminRole, action: "s3:PutBucketVersioning", resource: qBucket, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qPol, want: "Allowed"},
		{who: "deploy role", principal: adminRole, action: "s3:PutLifecycleConfiguration", resource: qBucket, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qPol, want: "Allowed"},
		{who: "deploy role", principal: adminRole, action: "s3:PutBucketPublicAccessBlock", resource: qBucket, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qPol, want: "Allowed"},
		{who: "deploy role", principal: adminRole, action: "s3:DeleteBucketPolicy", resource: qBucket, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qPol, want: "Allowed"},
		{who: "deploy role", principal: adminRole, action: "s3:DeleteObjectVersion", resource: qObject, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qPol, want: "Allowed",
			guard: []mut{{"resource", "DenyObjectWritesToOthers", "dropCondition"}}},
		{who: "deploy role", principal: adminRole, action: "kms:PutKeyPolicy", resource: qKey, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qKeyPol, want: "Allowed",
			guard: []mut{{"resource", "AccountAdministers", "drop"}}},
		{who: "deploy role", principal: adminRole, action: "kms:ScheduleKeyDeletion", resource: qKey, account: member, context: inOrg(adminRole, nil), identity: admin, resourcePolicy: qKeyPol, want: "Allowed",
			guard: []mut{{"resource", "AccountAdministers", "drop"}}},
		// The security account has no deploy role: whoever deploys the stack (here an SSO
		// administrator, as STS answers through the security account's provider) lists its
		// quarantine bucket, as HeadBucket (every refresh) needs.
		{who: "security account's deployer", principal: deployerOf(security), action: "s3:ListBucket", resource: "arn:aws:s3:::" + w.secQuarantine, account: security,
			context: with(inOrg(deployerOf(security), nil), "s3:ResourceAccount", security), identity: admin, resourcePolicy: ptr(w.bucketPol[w.secQuarantine]), want: "Allowed",
			guard: []mut{{"resource", "DenyObjectReadsToOthers", "dropCondition"}}},

		// The quarantine role moves objects: reads and deletes in a data bucket of its account,
		// writes to its quarantine bucket; never in another account or a log bucket.
		{who: "quarantine role", principal: quarantineRole, action: "s3:GetObjectVersion", resource: "arn:aws:s3:::" + dataBkt + "/customer-uploads/card-numbers.csv", account: member, context: objCtx(quarantineRole, member), identity: qRole, want: "Allowed",
			guard: []mut{{"identity", "DataObjects", "drop"}}},
		{who: "quarantine role", principal: quarantineRole, action: "s3:DeleteObjectVersion", resource: "arn:aws:s3:::" + dataBkt + "/customer-uploads/card-numbers.csv", account: member, context: objCtx(quarantineRole, member), identity: qRole, want: "Allowed",
			guard: []mut{{"identity", "DataObjects", "drop"}}},
		{who: "quarantine role", principal: quarantineRole, action: "s3:PutObject", resource: qObject, account: member, context: objCtx(quarantineRole, member), identity: qRole, resourcePolicy: qPol, want: "Allowed",
			guard: []mut{{"identity", "QuarantineObjects", "drop"}, {"identity", "DataObjects", "drop"}}},
		// The key carries the stack's quarantine alias, by which the role's policy grants it.
		{who: "quarantine role", principal: quarantineRole, action: "kms:GenerateDataKey", resource: qKey, account: member, context: withAlias(inOrg(quarantineRole, nil), QuarantineKeyAlias("dev")), identity: qRole, resourcePolicy: qKeyPol, want: "Allowed",
			guard: []mut{{"resource", "QuarantineRoleUses", "drop"}, {"identity", "Keys", "drop"}}},
		{who: "quarantine role", principal: quarantineRole, action: "kms:Decrypt", resource: qKey, account: member, context: withAlias(inOrg(quarantineRole, nil), "alias/some-other-key"), identity: qRole, resourcePolicy: qKeyPol, want: "Denied",
			guard: []mut{{"identity", "Keys", "dropCondition"}}},
		{who: "quarantine role", principal: quarantineRole, action: "s3:DeleteObjectVersion", resource: "arn:aws:s3:::" + otherBkt + "/x.csv", account: "444455556666", context: objCtx(quarantineRole, "444455556666"), identity: qRole,
			resourcePolicy: ptr(doc(Statement{Sid: "OrgMayWrite", Effect: "Allow", Principal: "*", Action: "s3:*", Resource: "arn:aws:s3:::" + otherBkt + "/*", Condition: map[string]any{"StringEquals": map[string]string{"aws:PrincipalOrgID": orgID}}})),
			want:           "Denied", guard: []mut{{"identity", "DataObjects", "dropCondition"}}},
		{who: "quarantine role", principal: quarantineRole, action: "s3:DeleteObjectVersion", resource: "arn:aws:s3:::" + logBkt + "/AWSLogs/111122223333/CloudTrail/x.json.gz", account: member, context: objCtx(quarantineRole, member), identity: qRole,
			want: "Denied", guard: []mut{{"identity", "NeverLogOrSecurityBuckets", "drop"}}},

		// The remediator assumes the quarantine role only with the ExternalId, from the org.
		{who: "remediator", principal: remediator, action: "sts:AssumeRole", resource: quarantineRole, account: member, context: with(inOrg(remediator, nil), "sts:ExternalId", externalID), identity: w.inline[remediator], resourcePolicy: ptr(w.trust[quarantineRole]), want: "Allowed",
			guard: []mut{{"resource", "CentralRemediatorOnly", "drop"}}},
		{who: "remediator", principal: remediator, action: "sts:AssumeRole", resource: quarantineRole, account: member, context: inOrg(remediator, nil), identity: w.inline[remediator], resourcePolicy: ptr(w.trust[quarantineRole]), want: "Denied",
			guard: []mut{{"resource", "CentralRemediatorOnly", "dropCondition"}}},
		{who: "remediator", principal: remediator, action: "sts:AssumeRole", resource: quarantineRole, account: member, context: with(inOrg(remediator, nil), "sts:ExternalId", "guessed-external-id"), identity: w.inline[remediator], resourcePolicy: ptr(w.trust[quarantineRole]), want: "Denied",
			guard: []mut{{"resource", "CentralRemediatorOnly", "dropCondition"}}},
		{who: "remediator (outside the org)", principal: remediator, action: "sts:AssumeRole", resource: quarantineRole, account: member, context: with(inOrg(remediator, nil), "sts:ExternalId", externalID, "aws:PrincipalOrgID", otherOrg), identity: w.inline[remediator], resourcePolicy: ptr(w.trust[quarantineRole]), want: "Denied",
			guard: []mut{{"resource", "CentralRemediatorOnly", "dropCondition"}}},
		{who: "finding-handler", principal: findingHandler, action: "sts:AssumeRole", resource: quarantineRole, account: member, context: with(inOrg(findingHandler, nil), "sts:ExternalId", externalID), identity: admin, resourcePolicy: ptr(w.trust[quarantineRole]), want: "Denied"},

		// Organization mode: the remediator learns members at run time. The quarantine role by
		// name in an account no config lists (created after the deploy, its role by the
		// StackSet, with the same trust policy) is allowed inside the organization only; any
		// other role is refused even when its trust policy welcomes the remediator.
		{who: "remediator (org account, not in config)", principal: remediator, action: "sts:AssumeRole", resource: laterRole, account: laterAcct,
			context: with(inOrg(remediator, nil), "sts:ExternalId", externalID, "aws:ResourceOrgID", orgID, "aws:ResourceAccount", laterAcct), identity: w.inline[remediator], resourcePolicy: ptr(w.trust[quarantineRole]), want: "Allowed",
			guard: []mut{{"identity", "AssumeOrgQuarantineRoles", "drop"}}},
		{who: "remediator (role outside the org)", principal: remediator, action: "sts:AssumeRole", resource: outsiderRole, account: outsider,
			context: with(inOrg(remediator, nil), "sts:ExternalId", externalID, "aws:ResourceOrgID", otherOrg, "aws:ResourceAccount", outsider), identity: w.inline[remediator], resourcePolicy: ptr(welcomesRemediator), want: "Denied",
			guard: []mut{{"identity", "AssumeOrgQuarantineRoles", "dropCondition"}}},
		{who: "remediator (role in no org)", principal: remediator, action: "sts:AssumeRole", resource: outsiderRole, account: outsider,
			context: with(inOrg(remediator, nil), "sts:ExternalId", externalID, "aws:ResourceAccount", outsider), identity: w.inline[remediator], resourcePolicy: ptr(welcomesRemediator), want: "Denied",
			guard: []mut{{"identity", "AssumeOrgQuarantineRoles", "dropCondition"}}},
		{who: "remediator (other role, org)", principal: remediator, action: "sts:AssumeRole", resource: "arn:aws:iam::" + laterAcct + ":role/OrganizationAccountAccessRole", account: laterAcct,
			context: with(inOrg(remediator, nil), "sts:ExternalId", externalID, "aws:ResourceOrgID", orgID, "aws:ResourceAccount", laterAcct), identity: w.inline[remediator], resourcePolicy: ptr(welcomesRemediator), want: "Denied"},

		// Break-glass lists, reads and decrypts quarantined objects, and nothing else.
		{who: "break-glass", principal: breakGlassArn, action: "s3:ListBucket", resource: qBucket, account: member, context: objCtx(breakGlassArn, member), identity: breakGlassIAM, resourcePolicy: qPol, want: "Allowed",
			guard: []mut{{"resource", "BreakGlassLists", "drop"}}},
		{who: "break-glass", principal: breakGlassArn, action: "s3:GetObjectVersion", resource: qObject, account: member, context: objCtx(breakGlassArn, member), identity: breakGlassIAM, resourcePolicy: qPol, want: "Allowed",
			guard: []mut{{"resource", "BreakGlassReads", "drop"}}},
		{who: "break-glass", principal: breakGlassArn, action: "kms:Decrypt", resource: qKey, account: member, context: inOrg(breakGlassArn, nil), identity: breakGlassIAM, resourcePolicy: qKeyPol, want: "Allowed",
			guard: []mut{{"resource", "BreakGlassDecrypts", "drop"}}},
		{who: "break-glass", principal: breakGlassArn, action: "s3:PutObject", resource: qObject, account: member, context: objCtx(breakGlassArn, member), identity: breakGlassIAM, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"resource", "DenyObjectWritesToOthers", "drop"}, {"resource", "BreakGlassReads", "widen"}}},
		{who: "break-glass", principal: breakGlassArn, action: "s3:DeleteObjectVersion", resource: qObject, account: member, context: objCtx(breakGlassArn, member), identity: breakGlassIAM, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"resource", "DenyObjectWritesToOthers", "drop"}, {"resource", "BreakGlassReads", "widen"}}},
		{who: "break-glass", principal: breakGlassArn, action: "kms:ScheduleKeyDeletion", resource: qKey, account: member, context: inOrg(breakGlassArn, nil), identity: breakGlassIAM, resourcePolicy: qKeyPol, want: "Denied"},

		// Any other principal of the organization, even an administrator of the member itself,
		// cannot read quarantined objects.
		{who: "member administrator", principal: otherOrgPrincipal, action: "s3:GetObject", resource: qObject, account: member, context: objCtx(otherOrgPrincipal, member), identity: admin, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"resource", "DenyObjectReadsToOthers", "drop"}}},
		{who: "member administrator", principal: otherOrgPrincipal, action: "kms:Decrypt", resource: qKey, account: member, context: inOrg(otherOrgPrincipal, nil), identity: admin, resourcePolicy: qKeyPol, want: "Denied"},
		{who: "security administrator", principal: securityAdmin, action: "s3:GetObject", resource: qObject, account: member, context: objCtx(securityAdmin, member), identity: admin, resourcePolicy: qPol, want: "Denied"},

		// Plain HTTP is refused, even to the quarantine role.
		{who: "quarantine role (HTTP)", principal: quarantineRole, action: "s3:GetObject", resource: qObject, account: member, context: with(objCtx(quarantineRole, member), "aws:SecureTransport", "false"), identity: qRole, resourcePolicy: qPol, want: "Denied",
			guard: []mut{{"resource", "DenyInsecureTransport", "drop"}}},

		// PutEvents on the central bus: from inside the organization only.
		{who: "member forwarder", principal: forwarder, action: "events:PutEvents", resource: w.busArn, account: security, context: inOrg(forwarder, nil), identity: w.inline[forwarder], resourcePolicy: ptr(w.busPol), want: "Allowed",
			guard: []mut{{"resource", "MemberAccountsPutFindings", "drop"}}},
		{who: "outside the org", principal: "arn:aws:iam::" + outsider + ":role/intruder", action: "events:PutEvents", resource: w.busArn, account: security, context: with(inOrg("arn:aws:iam::"+outsider+":role/intruder", nil), "aws:PrincipalOrgID", otherOrg), identity: admin, resourcePolicy: ptr(w.busPol), want: "Denied",
			guard: []mut{{"resource", "MemberAccountsPutFindings", "dropCondition"}}},

		// SendMessage to the queues: the rules to the findings queue, the functions to jobs.
		{who: "rule findings-from-forwarders", principal: "events.amazonaws.com", action: "sqs:SendMessage", resource: findings, account: security, context: tls(map[string]any{"aws:SourceArn": w.ruleArn["findings-from-forwarders"], "aws:SourceAccount": security}), resourcePolicy: ptr(w.queuePol[findings]), want: "Allowed",
			guard: []mut{{"resource", "EventBridgeRulesOnly", "drop"}}},
		{who: "rule findings-default-bus", principal: "events.amazonaws.com", action: "sqs:SendMessage", resource: findings, account: security, context: tls(map[string]any{"aws:SourceArn": w.ruleArn["findings-default-bus"], "aws:SourceAccount": security}), resourcePolicy: ptr(w.queuePol[findings]), want: "Allowed",
			guard: []mut{{"resource", "EventBridgeRulesOnly", "drop"}}},
		{who: "another account's rule", principal: "events.amazonaws.com", action: "sqs:SendMessage", resource: findings, account: security, context: tls(map[string]any{"aws:SourceArn": "arn:aws:events:us-east-1:" + outsider + ":rule/spam", "aws:SourceAccount": outsider}), resourcePolicy: ptr(w.queuePol[findings]), want: "Denied",
			guard: []mut{{"resource", "EventBridgeRulesOnly", "dropCondition"}}},
		{who: "remediation-handler", principal: remediationHandler, action: "sqs:SendMessage", resource: findings, account: security, context: inOrg(remediationHandler, nil), identity: w.inline[remediationHandler], resourcePolicy: ptr(w.queuePol[findings]), want: "Denied"},
		{who: "outside the org", principal: "arn:aws:iam::" + outsider + ":role/intruder", action: "sqs:SendMessage", resource: jobs, account: security, context: with(inOrg("arn:aws:iam::"+outsider+":role/intruder", nil), "aws:PrincipalOrgID", otherOrg), identity: admin, want: "Denied"},
		{who: "remediation-handler", principal: remediationHandler, action: "sqs:SendMessage", resource: jobs, account: security, context: inOrg(remediationHandler, nil), identity: w.inline[remediationHandler], want: "Allowed",
			guard: []mut{{"identity", "QueueJobs", "drop"}}},
		{who: "finding-handler", principal: findingHandler, action: "sqs:SendMessage", resource: jobs, account: security, context: inOrg(findingHandler, nil), identity: w.inline[findingHandler], want: "Allowed",
			guard: []mut{{"identity", "QueueJobsAndDeadLetters", "drop"}}},
		{who: "sweeper", principal: sweeper, action: "sqs:SendMessage", resource: jobs, account: security, context: inOrg(sweeper, nil), identity: w.inline[sweeper], want: "Allowed",
			guard: []mut{{"identity", "QueueJobs", "drop"}}},

		// CloudWatch may use the alarm topic's key.
		{who: "CloudWatch alarms", principal: "cloudwatch.amazonaws.com", action: "kms:GenerateDataKey", resource: w.keyArn["alarms-key"], account: security, context: tls(map[string]any{"aws:SourceAccount": security}), resourcePolicy: ptr(w.keyPol[w.keyArn["alarms-key"]]), want: "Allowed",
			guard: []mut{{"resource", "CloudWatchAlarmsPublish", "drop"}}},
	}
	return append(rows, bucketSettingsDecisions(t, w)...)
}

// iamSimulate runs the cases through the evaluator: id → Allowed / ExplicitlyDenied /
// ImplicitlyDenied.
func iamSimulate(t *testing.T, cases []map[string]any) map[string]string {
	t.Helper()
	tools := os.Getenv("MACIE_CHATOPS_TOOLS")
	if tools == "" {
		if wd, err := filepath.Abs(filepath.Join("..", "..", ".tools")); err == nil {
			tools = wd
		}
	}
	if _, err := os.Stat(filepath.Join(tools, "node", "node_modules", "@cloud-copilot", "iam-simulate", "package.json")); err != nil {
		t.Fatalf("the IAM evaluator @cloud-copilot/iam-simulate is not installed in %s/node: run: make tools", tools)
	}
	in, _ := json.Marshal(cases)
	cmd := exec.Command("node", filepath.Join("testdata", "iamsim.mjs"))
	cmd.Env = append(os.Environ(), "MACIE_CHATOPS_TOOLS="+tools)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node testdata/iamsim.mjs: %v\n%s", err, stderr.String())
	}
	var res []struct{ ID, Result, Error string }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("evaluator output %q: %v", out, err)
	}
	got := map[string]string{}
	for _, r := range res {
		if r.Error != "" {
			t.Errorf("case %s: the evaluator rejected it: %s", r.ID, r.Error)
			continue
		}
		got[r.ID] = r.Result
	}
	return got
}

func (d decision) request(id string) map[string]any {
	c := map[string]any{"id": id, "principal": d.principal, "action": d.action, "resource": d.resource, "resourceAccount": d.account, "context": d.context, "identity": d.identity}
	if d.identity == nil {
		c["identity"] = []Document{}
	}
	if d.resourcePolicy != nil {
		c["resourcePolicy"] = d.resourcePolicy
	}
	return c
}

func verdict(r string) string {
	if r == "Allowed" {
		return "Allowed"
	}
	return "Denied"
}

func tableWorld(t *testing.T) *world {
	t.Helper()
	// A policy that remediates policy findings, so the bucket-settings roles are declared too,
	// with each kind in some members and not in others.
	// Organization mode too, for the remediator's by-name statements.
	m, err := deploy(t, map[string]string{"macie-chatops:macieMode": "standalone", "macie-chatops:organization": orgSetting, "macie-chatops:policyFile": tableWorldPolicy(t, "dev")}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	return extract(t, m)
}

func TestIAMDecisions(t *testing.T) {
	rows := append(append(append(decisions(t, tableWorld(t)), stackSetDecisions(t)...), orgCentralDecisions(t)...), preGenerationDecisions(t)...)
	var cases []map[string]any
	for i, d := range rows {
		cases = append(cases, d.request(fmt.Sprint(i)))
	}
	got := iamSimulate(t, cases)
	var table strings.Builder
	fmt.Fprintf(&table, "%-30s %-32s %-72s %-8s %s\n", "principal", "action", "resource", "want", "evaluator")
	for i, d := range rows {
		g := got[fmt.Sprint(i)]
		mark := ""
		if verdict(g) != d.want {
			mark = "  ✗ WRONG"
			t.Errorf("%s %s %s: evaluator says %s, want %s", d.who, d.action, d.resource, g, d.want)
		}
		res := d.resource
		if len(res) > 72 {
			res = "…" + res[len(res)-71:]
		}
		fmt.Fprintf(&table, "%-30s %-32s %-72s %-8s %s%s\n", d.who, d.action, res, d.want, g, mark)
	}
	t.Logf("IAM decisions (@cloud-copilot/iam-simulate):\n%s", table.String())
}

// broken applies a row's guard mutations to copies of its policies. A policy left with no
// statement is left out (a resource without a policy, a role without that inline policy).
func (d decision) broken(t *testing.T) decision {
	t.Helper()
	n := d
	copyDoc := func(doc Document) Document {
		var out Document
		b, _ := json.Marshal(doc)
		json.Unmarshal(b, &out)
		return out
	}
	var res *Document
	if d.resourcePolicy != nil {
		res = ptr(copyDoc(*d.resourcePolicy))
	}
	var ids []Document
	for _, p := range d.identity {
		ids = append(ids, copyDoc(p))
	}
	apply := func(doc *Document, g mut) bool {
		found := false
		var keep []Statement
		for _, st := range doc.Statement {
			if st.Sid != g.sid {
				keep = append(keep, st)
				continue
			}
			found = true
			switch g.op {
			case "drop":
				continue
			case "dropCondition":
				st.Condition = nil
			case "widen":
				st.Action = strings.Split(list(st.Action)[0], ":")[0] + ":*"
			case "anyResource":
				st.Resource = "*"
			}
			keep = append(keep, st)
		}
		doc.Statement = keep
		return found
	}
	for _, g := range d.guard {
		found := false
		if g.in == "resource" && res != nil {
			found = apply(res, g)
		}
		if g.in == "identity" {
			for i := range ids {
				found = apply(&ids[i], g) || found
			}
		}
		if !found {
			t.Fatalf("%s %s: guard %s is not in the %s policy", d.who, d.action, g.sid, g.in)
		}
	}
	if res != nil && len(res.Statement) == 0 {
		res = nil
	}
	if len(d.missing) > 0 {
		ids = append(ids, doc(d.missing...))
	}
	n.resourcePolicy = res
	n.identity = nil
	for _, p := range ids {
		if len(p.Statement) > 0 {
			n.identity = append(n.identity, p)
		}
	}
	return n
}

// Each row's decision rests on the statement it names: break that statement (or, for a row
// denied for lack of a grant, add the missing one) and the evaluator must say the opposite. A
// row without either is decided by the absence of any grant (the
// identity of another principal, a key policy that names no one else), which the table's other
// rows break and restore.
func TestIAMDecisionsFlipWhenTheirPolicyBreaks(t *testing.T) {
	rows := append(append(append(decisions(t, tableWorld(t)), stackSetDecisions(t)...), orgCentralDecisions(t)...), preGenerationDecisions(t)...)
	var cases []map[string]any
	var idx []int
	for i, d := range rows {
		if len(d.guard) == 0 && len(d.missing) == 0 {
			continue
		}
		cases = append(cases, d.broken(t).request(fmt.Sprint(i)))
		idx = append(idx, i)
	}
	if len(cases) < 25 {
		t.Fatalf("only %d rows have a guard", len(cases))
	}
	got := iamSimulate(t, cases)
	for _, i := range idx {
		d := rows[i]
		if g := verdict(got[fmt.Sprint(i)]); g == d.want {
			t.Errorf("%s %s %s: still %s with %v broken: those statements do not decide it", d.who, d.action, d.resource, g, d.guard)
		}
	}
}
