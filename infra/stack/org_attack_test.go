package stack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// Attacks on organization mode's IAM (issue 18), decided by the independent evaluator as the
// decision table is: the StackSet's documents (the member template after CloudFormation's
// substitution for one account) against the explicit-member documents, DENY rows included, and
// what a second stack, an account outside the OUs and the management account can do.

// memberSite is one account's member side as AWS would hold it: the quarantine role's trust and
// identity policy, the quarantine bucket and key with their policies, who deploys them, and the
// central remediator's identity policy that goes with it.
type memberSite struct {
	mode, stack, acct, region string
	role, remediator          string
	trust, rolePol            Document
	bucket, key, alias        string
	bucketPol, keyPol         Document
	deployer                  string
	remediatorPolicy          []Document
}

// stackSetSite is what the StackSet of stack creates in acct (an account no config names):
// the member template resolved as CloudFormation would.
func stackSetSite(t *testing.T, stack, acct, region string) memberSite {
	t.Helper()
	members, _ := json.Marshal(defaultMembers)
	m, err := deployRaw(t, stack, map[string]string{"macie-chatops:organization": orgSetting, "macie-chatops:macieMode": MacieStandalone}, string(members))
	if err != nil {
		t.Fatal(err)
	}
	in := instanceOf(t, m, acct, region)
	res := in.res
	docOf := in.doc
	w := extract(t, m)
	s := memberSite{mode: "StackSet", stack: stack, acct: acct, region: region,
		role:       "arn:aws:iam::" + acct + ":role/" + QuarantineRoleName(stack),
		remediator: in.vars[ParamRemediatorRoleArn],
		trust:      docOf(res(LogicalQuarantineRole, "AssumeRolePolicyDocument")),
		rolePol:    in.rolePolicy(LogicalQuarantineRole),
		keyPol:     docOf(res(LogicalQuarantineKey, "KeyPolicy")),
		bucketPol:  docOf(res(LogicalBucketPolicy, "PolicyDocument")),
		key:        "arn:aws:kms:" + region + ":" + acct + ":key/0f0e0d0c-" + stack,
		deployer:   "arn:aws:iam::" + acct + ":role/stacksets-exec-0123456789abcdef",
	}
	s.bucket, _ = res(LogicalBucket, "BucketName").(string)
	s.alias, _ = res(LogicalKeyAlias, "AliasName").(string)
	s.remediatorPolicy = w.inline[s.remediator]
	if s.bucket == "" || s.alias == "" || len(s.remediatorPolicy) == 0 || w.roleArn["remediator-role"] != s.remediator {
		t.Fatalf("StackSet site %s %s: bucket %q, remediator %q (declared %q) with %d policies", stack, acct, s.bucket, s.remediator, w.roleArn["remediator-role"], len(s.remediatorPolicy))
	}
	// The remediator role is auto-named (remediator-role-<random>), so each stack's differs in
	// AWS; the mocks name it after its resource name, the same for every stack.
	named := s.remediator + "-" + stack
	b, _ := json.Marshal(s.trust)
	s.trust = parseDoc(t, strings.ReplaceAll(string(b), `"`+s.remediator+`"`, `"`+named+`"`))
	s.remediator = named
	return s
}

// explicitSite is the explicit member 111122223333 (no dataBuckets, like every StackSet
// account) of stack dev, in us-east-1, as the program declares it.
func explicitSite(t *testing.T) memberSite {
	t.Helper()
	_, w := attackWorld(t)
	role := w.roleArn["member-"+member+"-quarantine-role"]
	key := w.keyArn["member-"+member+"-us-east-1-quarantine-key"]
	return memberSite{mode: "explicit", stack: "dev", acct: member, region: "us-east-1", role: role, remediator: w.roleArn["remediator-role"],
		trust: w.trust[role], rolePol: w.inline[role][0], bucket: w.quarantine, key: key, alias: QuarantineKeyAlias("dev"), bucketPol: w.bucketPol[w.quarantine], keyPol: w.keyPol[key],
		deployer: adminRole, remediatorPolicy: w.inline[w.roleArn["remediator-role"]]}
}

// perimeterRows are the questions an attacker (or a refresh) asks of one member site, labelled
// so that the same question can be compared across modes.
func perimeterRows(s memberSite) []decision {
	admin := []Document{allowAll("*")}
	alias := s.alias
	qBucket := "arn:aws:s3:::" + s.bucket
	qObject := qBucket + "/" + s.acct + "/customer-uploads/card-numbers.csv"
	ctx := func(p string, kv ...any) map[string]any {
		c := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": strings.Split(p, ":")[4], "aws:PrincipalArn": p,
			"s3:ResourceAccount": s.acct, "aws:ResourceAccount": s.acct, "aws:ResourceOrgID": orgID}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	bp, kp, tr := ptr(s.bucketPol), ptr(s.keyPol), ptr(s.trust)
	q := []Document{s.rolePol}
	memberAdmin := "arn:aws:iam::" + s.acct + ":role/data-engineer"
	// A role an administrator of the account creates with a name like the quarantine role's:
	// a longer name, and the same name under a path (IAM refuses a second role of the same
	// name whatever its path, but the ARN of a path role is not the quarantine role's).
	lookalikes := []string{s.role + "-copy", strings.Replace(s.role, ":role/", ":role/attacker/", 1)}
	var rows []decision
	add := func(who, principal, action, resource string, c map[string]any, identity []Document, rp *Document, want string) {
		rows = append(rows, decision{who: who, principal: principal, action: action, resource: resource, account: s.acct, context: c, identity: identity, resourcePolicy: rp, want: want})
	}
	for _, a := range []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObjectVersion", "s3:ListBucket"} {
		r := qObject
		if a == "s3:ListBucket" {
			r = qBucket
		}
		add("member administrator", memberAdmin, a, r, ctx(memberAdmin), admin, bp, "Denied")
		for i, l := range lookalikes {
			add(fmt.Sprintf("look-alike role %d", i), l, a, r, ctx(l), admin, bp, "Denied")
		}
	}
	for _, a := range []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateGrant"} {
		// The key carries the stack's alias: an alias is no grant to anyone but the role.
		add("member administrator", memberAdmin, a, s.key, ctx(memberAdmin, "kms:ResourceAliases", []string{alias}), admin, kp, "Denied")
		for i, l := range lookalikes {
			add(fmt.Sprintf("look-alike role %d", i), l, a, s.key, ctx(l, "kms:ResourceAliases", []string{alias}), admin, kp, "Denied")
		}
	}
	// The quarantine role: its own work allowed; a key without the stack's alias, key
	// administration, log buckets and plain HTTP refused.
	add("quarantine role", s.role, "s3:PutObject", qObject, ctx(s.role), q, bp, "Allowed")
	add("quarantine role", s.role, "s3:GetObjectVersion", qObject, ctx(s.role), q, bp, "Allowed")
	add("quarantine role", s.role, "kms:GenerateDataKey", s.key, ctx(s.role, "kms:ResourceAliases", []string{alias}), q, kp, "Allowed")
	add("quarantine role, key without the alias", s.role, "kms:Decrypt", s.key, ctx(s.role, "kms:ResourceAliases", []string{"alias/" + s.stack + "-data"}), q, kp, "Denied")
	add("quarantine role, key with no alias", s.role, "kms:Decrypt", s.key, ctx(s.role), q, kp, "Denied")
	for _, a := range []string{"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CreateGrant", "kms:DisableKey"} {
		add("quarantine role", s.role, a, s.key, ctx(s.role, "kms:ResourceAliases", []string{alias}), q, kp, "Denied")
	}
	add("quarantine role → log bucket", s.role, "s3:DeleteObjectVersion", "arn:aws:s3:::aws-cloudtrail-logs-"+s.acct+"-0a1b2c3d/AWSLogs/x.json.gz", ctx(s.role), q, nil, "Denied")
	add("quarantine role (HTTP)", s.role, "s3:GetObject", qObject, ctx(s.role, "aws:SecureTransport", "false"), q, bp, "Denied")
	// Break-glass reads and decrypts, nothing else.
	bg := []Document{allowAll("s3:*", "kms:*")}
	add("break-glass", breakGlassArn, "s3:GetObjectVersion", qObject, ctx(breakGlassArn), bg, bp, "Allowed")
	add("break-glass", breakGlassArn, "kms:Decrypt", s.key, ctx(breakGlassArn), bg, kp, "Allowed")
	for _, a := range []string{"s3:PutObject", "s3:DeleteObjectVersion"} {
		add("break-glass", breakGlassArn, a, qObject, ctx(breakGlassArn), bg, bp, "Denied")
	}
	add("break-glass", breakGlassArn, "kms:ScheduleKeyDeletion", s.key, ctx(breakGlassArn), bg, kp, "Denied")
	// The deployer keeps administration (refresh, update, delete).
	for _, a := range []string{"s3:PutBucketPolicy", "s3:DeleteBucketPolicy"} {
		add("deployer", s.deployer, a, qBucket, ctx(s.deployer), admin, bp, "Allowed")
	}
	// Only Pulumi's deploy role lists the objects (destroy empties the bucket); CloudFormation
	// retains the bucket and never touches its objects, so the StackSet exempts no deployer.
	lists := map[string]string{"explicit": "Allowed", "StackSet": "Denied"}[s.mode]
	add(deployerLists, s.deployer, "s3:ListBucket", qBucket, ctx(s.deployer), admin, bp, lists)
	add("deployer", s.deployer, "kms:PutKeyPolicy", s.key, ctx(s.deployer), admin, kp, "Allowed")
	// Assuming the quarantine role: the trust still wants the exact central remediator, the
	// ExternalId and the organization.
	remediatorIn := func(p string, kv ...any) map[string]any {
		return ctx(p, append([]any{"sts:ExternalId", externalID}, kv...)...)
	}
	add("remediator with the ExternalId", s.remediator, "sts:AssumeRole", s.role, remediatorIn(s.remediator), s.remediatorPolicy, tr, "Allowed")
	add("remediator without ExternalId", s.remediator, "sts:AssumeRole", s.role, ctx(s.remediator), s.remediatorPolicy, tr, "Denied")
	add("remediator, wrong ExternalId", s.remediator, "sts:AssumeRole", s.role, ctx(s.remediator, "sts:ExternalId", externalID+"x"), s.remediatorPolicy, tr, "Denied")
	add("remediator from another organization", s.remediator, "sts:AssumeRole", s.role, remediatorIn(s.remediator, "aws:PrincipalOrgID", otherOrg), s.remediatorPolicy, tr, "Denied")
	secAdmin := "arn:aws:iam::" + security + ":role/security-admin"
	add("security administrator with the ExternalId", secAdmin, "sts:AssumeRole", s.role, remediatorIn(secAdmin), admin, tr, "Denied")
	add("security account root with the ExternalId", "arn:aws:iam::"+security+":root", "sts:AssumeRole", s.role, remediatorIn("arn:aws:iam::"+security+":root"), admin, tr, "Denied")
	twin := strings.Replace(s.remediator, security, outsider, 1)
	add("the remediator's name in another account", twin, "sts:AssumeRole", s.role, remediatorIn(twin, "aws:PrincipalOrgID", otherOrg), admin, tr, "Denied")
	add("member administrator with the ExternalId", memberAdmin, "sts:AssumeRole", s.role, remediatorIn(memberAdmin), admin, tr, "Denied")
	return rows
}

// deployerLists is the one perimeter row whose answer differs by mode, by design.
const deployerLists = "deployer lists the quarantined objects"

// The StackSet's member side decides every perimeter question as the explicit member's does,
// allowed and denied alike, and as intended.
func TestAttackOrgPerimeterEqualsExplicitMode(t *testing.T) {
	ex := perimeterRows(explicitSite(t))
	ss := perimeterRows(stackSetSite(t, "dev", "210987654321", "us-east-1"))
	if len(ex) != len(ss) {
		t.Fatalf("%d explicit rows, %d StackSet rows", len(ex), len(ss))
	}
	all := append(append([]decision{}, ex...), ss...)
	var cases []map[string]any
	for i, d := range all {
		cases = append(cases, d.request(fmt.Sprint(i)))
	}
	got := iamSimulate(t, cases)
	denied := 0
	for i := range ex {
		e, s := verdict(got[fmt.Sprint(i)]), verdict(got[fmt.Sprint(len(ex)+i)])
		if e != ex[i].want {
			t.Errorf("explicit: %s %s %s: %s, want %s", ex[i].who, ex[i].action, ex[i].resource, e, ex[i].want)
		}
		if s != ss[i].want {
			t.Errorf("StackSet: %s %s %s: %s, want %s", ss[i].who, ss[i].action, ss[i].resource, s, ss[i].want)
		}
		if e != s && ex[i].who != deployerLists {
			t.Errorf("%s %s: explicit mode says %s, the StackSet's documents %s", ex[i].who, ex[i].action, e, s)
		}
		if ex[i].want == "Denied" {
			denied++
		}
	}
	if denied < 30 {
		t.Errorf("only %d DENY rows", denied)
	}
}

// Two stacks in one organization (dev and prod), both StackSets deploying to the same account,
// and two accounts of one StackSet: nothing of one reaches the other's quarantine.
func TestAttackOrgAnotherStackOrAccountCannotReachQuarantine(t *testing.T) {
	const a, b = "210987654321", "210987654322"
	dev := stackSetSite(t, "dev", a, "us-east-1")
	prod := stackSetSite(t, "prod", a, "us-east-1")
	devB := stackSetSite(t, "dev", b, "us-east-1")
	if dev.role == prod.role || dev.bucket == prod.bucket || dev.alias == prod.alias || StackSetName("dev") == StackSetName("prod") {
		t.Fatalf("dev and prod share a name: roles %s %s, buckets %s %s", dev.role, prod.role, dev.bucket, prod.bucket)
	}
	ctx := func(p, acct string, kv ...any) map[string]any {
		c := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": strings.Split(p, ":")[4], "aws:PrincipalArn": p,
			"s3:ResourceAccount": acct, "aws:ResourceAccount": acct, "aws:ResourceOrgID": orgID}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	var rows []decision
	for _, pair := range []struct {
		name     string
		from, to memberSite
	}{{"dev role → prod quarantine (same account)", dev, prod}, {"prod role → dev quarantine (same account)", prod, dev}, {"dev role of " + a + " → dev quarantine of " + b, dev, devB}} {
		obj := "arn:aws:s3:::" + pair.to.bucket + "/" + pair.to.acct + "/x.csv"
		for _, act := range []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObjectVersion"} {
			rows = append(rows, decision{who: pair.name, principal: pair.from.role, action: act, resource: obj, account: pair.to.acct, context: ctx(pair.from.role, pair.to.acct),
				identity: []Document{pair.from.rolePol}, resourcePolicy: ptr(pair.to.bucketPol), want: "Denied"})
		}
		rows = append(rows, decision{who: pair.name, principal: pair.from.role, action: "s3:ListBucket", resource: "arn:aws:s3:::" + pair.to.bucket, account: pair.to.acct, context: ctx(pair.from.role, pair.to.acct),
			identity: []Document{pair.from.rolePol}, resourcePolicy: ptr(pair.to.bucketPol), want: "Denied"})
		for _, act := range []string{"kms:Decrypt", "kms:GenerateDataKey"} {
			rows = append(rows, decision{who: pair.name + " key", principal: pair.from.role, action: act, resource: pair.to.key, account: pair.to.acct,
				context: ctx(pair.from.role, pair.to.acct, "kms:ResourceAliases", []string{pair.to.alias}), identity: []Document{pair.from.rolePol}, resourcePolicy: ptr(pair.to.keyPol), want: "Denied"})
		}
	}
	// The other stack's remediator (same security account) cannot assume this stack's role:
	// neither its own identity policy (another role name) nor this role's trust (another
	// remediator) lets it; each alone is enough.
	for _, pair := range []struct{ from, to memberSite }{{prod, dev}, {dev, prod}} {
		in := ctx(pair.from.remediator, pair.to.acct, "sts:ExternalId", externalID)
		rows = append(rows,
			decision{who: pair.from.stack + " remediator → " + pair.to.stack + " role", principal: pair.from.remediator, action: "sts:AssumeRole", resource: pair.to.role, account: pair.to.acct, context: in,
				identity: pair.from.remediatorPolicy, resourcePolicy: ptr(pair.to.trust), want: "Denied"},
			decision{who: pair.from.stack + " remediator (any identity) → " + pair.to.stack + " trust", principal: pair.from.remediator, action: "sts:AssumeRole", resource: pair.to.role, account: pair.to.acct, context: in,
				identity: []Document{allowAll("sts:AssumeRole")}, resourcePolicy: ptr(pair.to.trust), want: "Denied"},
			decision{who: pair.from.stack + " remediator → " + pair.to.stack + " role name, trust welcoming it", principal: pair.from.remediator, action: "sts:AssumeRole", resource: pair.to.role, account: pair.to.acct, context: in,
				identity: pair.from.remediatorPolicy, resourcePolicy: ptr(doc(Statement{Effect: "Allow", Principal: map[string]any{"AWS": pair.from.remediator}, Action: "sts:AssumeRole"})), want: "Denied"},
		)
	}
	runRows(t, rows)
}

// Where the remediator may assume a role of its quarantine role's name, created by someone
// else with a trust that lets it in. Outside the organization: refused. An account of the
// organization outside the chosen OUs, and the management account (StackSets never deploy
// there): ALLOWED, by design: the identity policy names the organization, not the OUs (an
// account that moves between OUs keeps working, explicit members may sit anywhere). Accepted:
// that role belongs to the account's own administrators, who could do anything it does
// themselves; the remediator acts through it only on findings about that account (the
// envelope check), and only within what that account's role grants. Nothing of another
// account is reachable through it.
func TestAttackOrgRemediatorAssumesSameNamedRoleOutsideTheOUs(t *testing.T) {
	s := stackSetSite(t, "dev", "210987654321", "us-east-1")
	welcome := ptr(doc(Statement{Sid: "Welcome", Effect: "Allow", Principal: map[string]any{"AWS": s.remediator}, Action: "sts:AssumeRole"}))
	ctx := func(acct string, kv ...any) map[string]any {
		c := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": security, "aws:PrincipalArn": s.remediator,
			"aws:ResourceAccount": acct, "sts:ExternalId": externalID}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	const notInOUs, management = "313131313131", "000011112222"
	name := QuarantineRoleName("dev")
	role := func(acct string) string { return "arn:aws:iam::" + acct + ":role/" + name }
	runRows(t, []decision{
		{who: "org account outside the OUs (accepted)", principal: s.remediator, action: "sts:AssumeRole", resource: role(notInOUs), account: notInOUs, context: ctx(notInOUs, "aws:ResourceOrgID", orgID), identity: s.remediatorPolicy, resourcePolicy: welcome, want: "Allowed"},
		{who: "management account (accepted)", principal: s.remediator, action: "sts:AssumeRole", resource: role(management), account: management, context: ctx(management, "aws:ResourceOrgID", orgID), identity: s.remediatorPolicy, resourcePolicy: welcome, want: "Allowed"},
		{who: "account of another organization", principal: s.remediator, action: "sts:AssumeRole", resource: role(outsider), account: outsider, context: ctx(outsider, "aws:ResourceOrgID", otherOrg), identity: s.remediatorPolicy, resourcePolicy: welcome, want: "Denied"},
		{who: "account in no organization", principal: s.remediator, action: "sts:AssumeRole", resource: role(outsider), account: outsider, context: ctx(outsider), identity: s.remediatorPolicy, resourcePolicy: welcome, want: "Denied"},
		{who: "org account, role name with a suffix", principal: s.remediator, action: "sts:AssumeRole", resource: role(notInOUs) + "-x", account: notInOUs, context: ctx(notInOUs, "aws:ResourceOrgID", orgID), identity: s.remediatorPolicy, resourcePolicy: welcome, want: "Denied"},
		{who: "org account, same name under a path", principal: s.remediator, action: "sts:AssumeRole", resource: "arn:aws:iam::" + notInOUs + ":role/x/" + name, account: notInOUs, context: ctx(notInOUs, "aws:ResourceOrgID", orgID), identity: s.remediatorPolicy, resourcePolicy: welcome, want: "Denied"},
	})
}

// What an account-level override could change in the StackSet: the program declares no
// ParameterOverrides, and the template's only parameters are the central stack's remediator
// and bus, so the ExternalId, the organization, the role name and the key alias are literal.
// Someone who can update the StackSet's instances outside Pulumi (`aws cloudformation
// update-stack-instances --parameter-overrides`) must not be able to point one account's
// quarantine role trust or forwarder at a role or bus of another account: each parameter's
// AllowedPattern accepts the central stack's own value and refuses the same name in any other
// account of the organization.
func TestAttackOrgParameterOverridesCannotRetargetAnAccount(t *testing.T) {
	m, cfg, err := deployOrg(t, orgSetting, map[string]string{"macie-chatops:macieMode": MacieStandalone}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	ss, insts := stackSetOf(t, m)
	for _, in := range insts {
		if v := in.inputs["parameterOverrides"]; v.IsObject() && len(v.ObjectValue()) > 0 {
			t.Errorf("%s carries parameter overrides %v", in.name, v)
		}
	}
	var tmpl Template
	body := str(ss.inputs["templateBody"])
	if err := json.Unmarshal([]byte(body), &tmpl); err != nil {
		t.Fatal(err)
	}
	params := ss.inputs["parameters"].ObjectValue()
	if len(tmpl.Parameters) != 2 {
		t.Errorf("template parameters %v, want RemediatorRoleArn and CentralBusArn only", keys(tmpl.Parameters))
	}
	for name, p := range tmpl.Parameters {
		v := str(params[resourceKey(name)])
		re, err := regexp.Compile(p.AllowedPattern)
		if err != nil || !re.MatchString(v) {
			t.Errorf("parameter %s: pattern %q refuses the StackSet's own value %q (%v)", name, p.AllowedPattern, v, err)
		}
		for _, other := range []string{member, "210987654321", outsider} {
			if o := strings.Replace(v, ":"+cfg.SecurityAccountID+":", ":"+other+":", 1); o == v || re.MatchString(o) {
				t.Errorf("parameter %s: pattern %q accepts %q: an override could retarget an account's trust or forwarder to account %s", name, p.AllowedPattern, o, other)
			}
		}
	}
	for _, lit := range []string{externalID, orgID, QuarantineRoleName(cfg.Slug), QuarantineKeyAlias(cfg.Slug)} {
		if !strings.Contains(body, lit) {
			t.Errorf("the template does not carry %q literally", lit)
		}
	}
}

// A second `pulumi up` (or a preview from another machine) with the same setting written in
// another order declares the same StackSet: the same template body byte for byte, the same
// parameters, the same instances in the same order. Anything else would update every stack of
// the organization on each run.
func TestAttackOrgSecondUpChangesNothing(t *testing.T) {
	shape := func(org string, members []Member) string {
		m, _, err := deployOrg(t, org, map[string]string{"macie-chatops:macieMode": MacieStandalone}, members)
		if err != nil {
			t.Fatal(err)
		}
		ss, insts := stackSetOf(t, m)
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n%v\n", str(ss.inputs["templateBody"]), ss.inputs["parameters"])
		for _, in := range insts {
			fmt.Fprintf(&b, "%s %s %v\n", in.name, str(in.inputs["region"]), in.inputs["deploymentTargets"])
		}
		return b.String()
	}
	reversed := append([]Member{}, defaultMembers...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	a := shape(orgSetting, defaultMembers)
	for i := 0; i < 3; i++ {
		if b := shape(`{"regions": ["us-east-1", "eu-west-1"], "organizationalUnits": ["`+ouA+`", "`+ouB+`"]}`, reversed); a != b {
			t.Fatalf("the StackSet differs between two runs of the same setting:\n%s\n---\n%s", a, b)
		}
	}
}

// Stacks whose names differ only past what IAM, KMS and StackSets keep (long names that
// AWSName truncates and hashes) still get their own quarantine role, key alias and StackSet:
// two StackSets creating the same role or alias in one account would fail there.
func TestAttackOrgLongStackNamesDoNotCollide(t *testing.T) {
	base := strings.Repeat("organization-", 9) // 117 characters
	seen := map[string]string{}
	for _, suffix := range []string{"prod", "prod-1", "prod-2", "dev", "d", "e"} {
		for _, stack := range []string{base + suffix, strings.TrimSuffix(base, "-") + suffix} {
			for kind, n := range map[string]struct {
				name string
				max  int
			}{"role": {QuarantineRoleName(stack), 64}, "alias": {QuarantineKeyAlias(stack), 256}, "stackset": {StackSetName(stack), 128}} {
				if len(n.name) > n.max {
					t.Errorf("%s of %q: %q is %d characters, over %d", kind, stack, n.name, len(n.name), n.max)
				}
				if prev, dup := seen[kind+" "+n.name]; dup && prev != stack {
					t.Errorf("%s %q for stacks %q and %q", kind, n.name, prev, stack)
				}
				seen[kind+" "+n.name] = stack
			}
		}
	}
}

// The service-managed execution role's name ends in a hash the template cannot know
// (stacksets-exec-<hash>), and any administrator of a member account can create a role named
// stacksets-exec-anything. Had the StackSet's bucket policy exempted that pattern from its
// object denies, such a role could delete every quarantined version without touching the
// bucket policy (it once did). It exempts no deployer: such a role, in either mode, may not
// read, write or delete a quarantined object.
func TestAttackOrgDeployerPatternExemptsNoRole(t *testing.T) {
	ex := explicitSite(t)
	ss := stackSetSite(t, "dev", "210987654321", "us-east-1")
	admin := []Document{allowAll("*")}
	var rows []decision
	for _, s := range []memberSite{ex, ss} {
		impostor := "arn:aws:iam::" + s.acct + ":role/stacksets-exec-created-by-a-member-admin"
		obj := "arn:aws:s3:::" + s.bucket + "/" + s.acct + "/customer-uploads/card-numbers.csv"
		c := attackCtx(impostor, s.acct)
		for _, a := range []string{"s3:DeleteObjectVersion", "s3:PutObject", "s3:GetObjectVersion"} {
			rows = append(rows, decision{who: s.mode + ": role named stacksets-exec-*", principal: impostor, action: a, resource: obj, account: s.acct, context: c, identity: admin, resourcePolicy: ptr(s.bucketPol), want: "Denied"})
		}
	}
	runRows(t, rows)
}
