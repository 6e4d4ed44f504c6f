package stack

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/policy"
)

// fixPolicy writes a policy file for stack: data findings REVIEW, the given lines under
// defaults.actions (indented four spaces) and, when set, the given `accounts:` block.
func fixPolicy(t *testing.T, stack, defaultActions, accounts string) string {
	t.Helper()
	y := "version: 1\ndefaults:\n  actions:\n    SensitiveData:*: REVIEW\n" + defaultActions +
		"  approvers:\n    users: [U012SECLEAD]\n  slack:\n    channel: \"#security-findings\"\n" +
		"  quarantine:\n    bucket: macie-chatops-" + stack + "-q-{account}-{region}\n"
	if accounts != "" {
		y += "accounts:\n" + accounts
	}
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// enablingBucketFixes is policies/example-org.yaml (named for stack) with a policy remediation
// turned on, if the file does not turn one on already: the IAM decision table's world.
func enablingBucketFixes(t *testing.T, stack string) string {
	t.Helper()
	file := exampleOrgFor(t, stack)
	p, err := policy.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if p.EnablesBucketFixes() {
		return file
	}
	raw, _ := os.ReadFile(file)
	s := string(raw)
	d := strings.Index(s, "\ndefaults:\n")
	a := strings.Index(s[max(d, 0):], "\n  actions:\n")
	if d < 0 || a < 0 || strings.Contains(s, "Policy:IAMUser/*:") {
		t.Fatalf("example-org.yaml has no defaults.actions to add \"Policy:IAMUser/*: REVIEW\" to: change enablingBucketFixes with the file")
	}
	at := d + a + len("\n  actions:\n")
	s = s[:at] + "    Policy:IAMUser/*: REVIEW\n" + s[at:]
	if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err = policy.LoadFile(file); err != nil || !p.EnablesBucketFixes() {
		t.Fatalf("example-org.yaml with \"Policy:IAMUser/*: REVIEW\" still enables no bucket fix (%v)", err)
	}
	return file
}

// tableWorldPolicy is enablingBucketFixes's policy with the kinds differing per member, for the
// IAM decision table: 111122223333 every kind (the defaults), the security account 999988887777
// block public access only (an account section the example does not have), and 444455556666 none
// (its section turns every remediable type to NOTIFY).
func tableWorldPolicy(t *testing.T, stack string) string {
	t.Helper()
	file := enablingBucketFixes(t, stack)
	raw, _ := os.ReadFile(file)
	s := string(raw)
	notify := func(indent string, types ...string) string {
		var b strings.Builder
		for _, typ := range types {
			b.WriteString(indent + "Policy:IAMUser/" + typ + ": NOTIFY\n")
		}
		return b.String()
	}
	a := strings.Index(s, "\n  \"444455556666\":\n")
	act := strings.Index(s[max(a, 0):], "\n    actions:\n")
	if a < 0 || act < 0 || strings.Contains(s, "\"999988887777\":") || !strings.HasSuffix(s, "\n") {
		t.Fatal("example-org.yaml has no account 444455556666 with actions to add NOTIFYs to (or already has 999988887777): change tableWorldPolicy with the file")
	}
	at := a + act + len("\n    actions:\n")
	s = s[:at] + notify("      ", "S3BlockPublicAccessDisabled", "S3BucketPublic", "S3BucketEncryptionDisabled", "S3BucketReplicatedExternally") + s[at:]
	s += "  \"999988887777\":\n    name: security\n    actions:\n" + notify("      ", "S3BucketEncryptionDisabled", "S3BucketReplicatedExternally")
	if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := policy.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for acct, want := range map[string][]string{
		member:         {policy.KindBlockPublicAccess, policy.KindDefaultEncryption, policy.KindExternalReplication},
		security:       {policy.KindBlockPublicAccess},
		"444455556666": nil,
	} {
		if got := p.BucketFixKindsFor(acct); !slices.Equal(got, want) {
			t.Fatalf("the table's policy gives %s the kinds %q, want %q", acct, got, want)
		}
	}
	return file
}

// remediatorOf returns the remediator function's environment and its role's identity policy.
func remediatorOf(t *testing.T, m *mocks) (map[string]string, Document) {
	t.Helper()
	env := map[string]string{}
	for _, f := range m.of("aws:lambda/function:Function") {
		if f.name != "remediator" {
			continue
		}
		for k, v := range f.inputs["environment"].ObjectValue()["variables"].ObjectValue() {
			env[string(k)] = str(v)
		}
	}
	var pol Document
	for _, rp := range m.of("aws:iam/rolePolicy:RolePolicy") {
		if rp.name == "remediator-policy" {
			pol = parseDoc(t, str(rp.inputs["policy"]))
		}
	}
	if len(env) == 0 || len(pol.Statement) == 0 {
		t.Fatal("the mocks declared no remediator")
	}
	return env, pol
}

func statementBySid(d Document, sid string) (Statement, bool) {
	for _, st := range d.Statement {
		if st.Sid == sid {
			return st, true
		}
	}
	return Statement{}, false
}

// The bucket-settings role exists in a member exactly when the stack's policy enables a
// remediation kind in that member's account (BucketFixKindsFor: its override over the defaults,
// the defaults alone for the security account 999988887777, which the policies here do not
// list), with exactly those kinds' actions (iam:PassRole only for external replication); the
// remediator may assume exactly the deployed roles and is told their name, and otherwise is told
// nothing and may assume none.
func TestBucketSettingsRoleIsDeployedOnlyWhereThePolicyRemediatesPolicyFindings(t *testing.T) {
	const (
		bpa = policy.KindBlockPublicAccess
		enc = policy.KindDefaultEncryption
		rep = policy.KindExternalReplication
	)
	for _, c := range []struct {
		name, actions, accounts string
		want                    map[string][]string // member → kinds; members left out get none
	}{
		{"no policy-finding action", "", "", nil},
		{"policy findings NOTIFY", "    Policy:*: NOTIFY\n", "", nil},
		{"only the types without a remediation REVIEW", "    Policy:*: NOTIFY\n    Policy:IAMUser/S3BucketSharedExternally: REVIEW\n    Policy:IAMUser/S3BucketSharedWithCloudFront: REVIEW\n", "", nil},
		{"an account IGNOREs what the defaults NOTIFY", "    Policy:*: NOTIFY\n", "  \"444455556666\":\n    actions:\n      Policy:*: IGNORE\n", nil},
		{"block public access AUTO by default", "    Policy:*: NOTIFY\n    Policy:IAMUser/S3BlockPublicAccessDisabled: AUTO\n", "",
			map[string][]string{"111122223333": {bpa}, "444455556666": {bpa}, "999988887777": {bpa}}},
		{"public bucket REVIEW by default", "    Policy:IAMUser/S3BucketPublic: REVIEW\n", "",
			map[string][]string{"111122223333": {bpa}, "444455556666": {bpa}, "999988887777": {bpa}}},
		{"external replication REVIEW in one account only", "    Policy:*: NOTIFY\n", "  \"444455556666\":\n    actions:\n      Policy:IAMUser/S3BucketReplicatedExternally: REVIEW\n",
			map[string][]string{"444455556666": {rep}}},
		{"everything by default, one account BPA only, one none", "    Policy:IAMUser/*: REVIEW\n",
			"  \"111122223333\":\n    actions:\n      Policy:IAMUser/*: NOTIFY\n  \"444455556666\":\n    actions:\n      Policy:IAMUser/*: NOTIFY\n      Policy:IAMUser/S3BucketPublic: AUTO\n",
			map[string][]string{"444455556666": {bpa}, "999988887777": {bpa, enc, rep}}},
		{"encryption in one account, BPA and replication in another", "    Policy:*: NOTIFY\n",
			"  \"111122223333\":\n    actions:\n      Policy:IAMUser/S3BucketEncryptionDisabled: AUTO\n  \"999988887777\":\n    actions:\n      Policy:IAMUser/S3BlockPublicAccessDisabled: REVIEW\n      Policy:IAMUser/S3BucketReplicatedExternally: REVIEW\n",
			map[string][]string{"111122223333": {enc}, "999988887777": {bpa, rep}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := fixPolicy(t, "dev", c.actions, c.accounts)
			p, err := policy.LoadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, mem := range defaultMembers {
				if got := p.BucketFixKindsFor(mem.AccountID); !slices.Equal(got, c.want[mem.AccountID]) {
					t.Fatalf("BucketFixKindsFor(%s) = %q, want %q: the case does not test what it says", mem.AccountID, got, c.want[mem.AccountID])
				}
			}
			m, err := deploy(t, map[string]string{"macie-chatops:policyFile": file}, defaultMembers)
			if err != nil {
				t.Fatal(err)
			}
			env, remediatorPolicy := remediatorOf(t, m)
			wantName := ""
			if len(c.want) > 0 {
				wantName = BucketSettingsRoleName("dev")
			}
			if got, ok := env["BUCKET_SETTINGS_ROLE_NAME"]; !ok || got != wantName {
				t.Errorf("remediator BUCKET_SETTINGS_ROLE_NAME = %q (set: %v), want %q", got, ok, wantName)
			}
			// The finding-handler tells our own role's changes from an attacker's by this exact name.
			for _, f := range m.of("aws:lambda/function:Function") {
				if f.name == "finding-handler" {
					if got := str(f.inputs["environment"].ObjectValue()["variables"].ObjectValue()["BUCKET_SETTINGS_ROLE_NAME"]); got != wantName {
						t.Errorf("finding-handler BUCKET_SETTINGS_ROLE_NAME = %q, want %q", got, wantName)
					}
				}
			}
			var arns []string
			for _, r := range m.of("aws:iam/role:Role") {
				if !strings.Contains(r.name, "bucket-settings") && !strings.Contains(str(r.inputs["name"]), "bucket-settings") {
					continue
				}
				acct := strings.Split(r.name, "-")[1]
				if r.name != "member-"+acct+"-bucket-settings-role" || r.account != acct || str(r.inputs["name"]) != BucketSettingsRoleName("dev") {
					t.Errorf("role %s named %q lands in %s", r.name, str(r.inputs["name"]), r.account)
				}
				arns = append(arns, str(r.outputs["arn"]))
				tr := parseDoc(t, str(r.inputs["assumeRolePolicy"]))
				want := BucketSettingsTrust("arn:aws:iam::"+security+":role/remediator-role", externalID, orgID)
				if !equalJSON(tr, want) {
					t.Errorf("%s trusts %s, want %s", r.name, mustJSON(tr), mustJSON(want))
				}
			}
			policies := 0
			for _, rp := range m.of("aws:iam/rolePolicy:RolePolicy") {
				if !strings.Contains(rp.name, "bucket-settings") {
					continue
				}
				policies++
				acct := strings.Split(rp.name, "-")[1]
				if str(rp.inputs["role"]) != "member-"+acct+"-bucket-settings-role-id" || rp.account != acct {
					t.Errorf("%s is on role %s in %s", rp.name, str(rp.inputs["role"]), rp.account)
				}
				// Only the actions of the account's kinds, PassRole only with replication.
				d := parseDoc(t, str(rp.inputs["policy"]))
				kinds := c.want[acct]
				var allowed []string
				for _, st := range d.Statement {
					if st.Effect == "Allow" {
						allowed = append(allowed, list(st.Action)...)
					}
				}
				wantAllowed := bucketSettingsActionsOf(kinds...)
				if slices.Contains(kinds, rep) {
					wantAllowed = append(wantAllowed, "iam:PassRole")
				}
				if !slices.Equal(allowed, wantAllowed) {
					t.Errorf("%s (kinds %q) allows %v, want %v", rp.name, kinds, allowed, wantAllowed)
				}
			}
			var wantArns []string
			for _, mem := range []string{"111122223333", "444455556666", "999988887777"} {
				if len(c.want[mem]) > 0 {
					wantArns = append(wantArns, "arn:aws:iam::"+mem+":role/"+BucketSettingsRoleName("dev"))
				}
			}
			if !slices.Equal(arns, wantArns) || policies != len(wantArns) {
				t.Errorf("bucket-settings roles %v with %d policies, want %v", arns, policies, wantArns)
			}
			st, ok := statementBySid(remediatorPolicy, "AssumeMemberBucketSettingsRoles")
			if ok != (len(wantArns) > 0) || (ok && !slices.Equal(list(st.Action), []string{"sts:AssumeRole"})) || (ok && !slices.Equal(list(st.Resource), wantArns)) {
				t.Errorf("remediator's AssumeMemberBucketSettingsRoles: %v %+v, want %v", ok, st, wantArns)
			}
			// Nothing else in the stack grants a bucket-settings write.
			for name, d := range policiesOf(t, m) {
				if strings.Contains(name, "bucket-settings") {
					continue
				}
				for _, st := range d.Statement {
					for _, a := range list(st.Action) {
						if st.Effect == "Allow" && slices.ContainsFunc(bucketSettingsActions, func(b string) bool { return actionMatches(a, b) }) {
							t.Errorf("%s %s allows %s", name, st.Sid, a)
						}
					}
				}
			}
		})
	}
}

// policiesOf is every role policy the mocks declared, by resource name.
func policiesOf(t *testing.T, m *mocks) map[string]Document {
	out := map[string]Document{}
	for _, rp := range m.of("aws:iam/rolePolicy:RolePolicy") {
		out[rp.name] = parseDoc(t, str(rp.inputs["policy"]))
	}
	return out
}

func equalJSON(a, b any) bool {
	var x, y any
	json.Unmarshal([]byte(mustJSON(a)), &x)
	json.Unmarshal([]byte(mustJSON(b)), &y)
	return mustJSON(x) == mustJSON(y)
}

// The trust policy has the quarantine role's shape; without an organization id it has no
// aws:PrincipalOrgID condition (not an empty one, which no principal would match).
func TestBucketSettingsTrustIsTheQuarantineRoleShape(t *testing.T) {
	got := BucketSettingsTrust("arn:aws:iam::999988887777:role/remediator-role", externalID, "")
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"CentralRemediatorOnly","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:role/remediator-role"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-id-9f8e7d6c"}}}]}`
	if mustJSON(got) != want {
		t.Errorf("trust without an organization:\n got %s\nwant %s", mustJSON(got), want)
	}
	got = BucketSettingsTrust("arn:aws:iam::999988887777:role/remediator-role", externalID, orgID)
	if eq := got.Statement[0].Condition["StringEquals"].(map[string]string); eq["aws:PrincipalOrgID"] != orgID || eq["sts:ExternalId"] != externalID || len(eq) != 2 {
		t.Errorf("trust in an organization: %s", mustJSON(got))
	}
}

// The role's permissions: the six settings actions, on its own account's buckets, never on the
// quarantine buckets (nor, without dataBuckets, the log and security buckets); no object action,
// no wildcard; PassRole only of its own account's roles, only to S3.
func TestBucketSettingsRolePolicyIsLeastPrivilege(t *testing.T) {
	cfg := &Config{Policy: &policy.Policy{}}
	// As IAM will read them (and list() expects): through JSON.
	all := []string{policy.KindBlockPublicAccess, policy.KindDefaultEncryption, policy.KindExternalReplication}
	open := parseDoc(t, mustJSON(BucketSettingsRolePolicy(cfg, Member{AccountID: member}, all, []string{"q-us", "q-eu"})))
	named := parseDoc(t, mustJSON(BucketSettingsRolePolicy(cfg, Member{AccountID: "444455556666", DataBuckets: []string{"lake-raw", "lake-curated"}}, all, []string{"q-us"})))
	for _, c := range []struct {
		name, acct string
		d          Document
		buckets    []string
		denies     []string
	}{
		{"no dataBuckets", member, open, []string{"arn:aws:s3:::*"}, []string{"NeverQuarantineBuckets", "NeverLogOrSecurityBuckets"}},
		{"dataBuckets", "444455556666", named, []string{"arn:aws:s3:::lake-raw", "arn:aws:s3:::lake-curated"}, []string{"NeverQuarantineBuckets"}},
	} {
		var sids, denies []string
		for _, st := range c.d.Statement {
			sids = append(sids, st.Sid)
			if st.Effect == "Deny" {
				denies = append(denies, st.Sid)
			}
			for _, a := range list(st.Action) {
				if strings.Contains(a, "*") || strings.Contains(a, "Object") || strings.Contains(a, "BucketPolicy") {
					t.Errorf("%s: %s has action %s", c.name, st.Sid, a)
				}
			}
		}
		if !slices.Equal(denies, c.denies) {
			t.Errorf("%s: denies %v, want %v", c.name, denies, c.denies)
		}
		st, _ := statementBySid(c.d, "BucketSettings")
		if !slices.Equal(list(st.Action), bucketSettingsActions) || !slices.Equal(list(st.Resource), c.buckets) ||
			mustJSON(st.Condition) != `{"StringEquals":{"s3:ResourceAccount":"`+c.acct+`"}}` {
			t.Errorf("%s: BucketSettings %s", c.name, mustJSON(st))
		}
		pr, _ := statementBySid(c.d, "PassReplicationRoleToS3")
		if mustJSON(pr) != `{"Sid":"PassReplicationRoleToS3","Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::`+c.acct+`:role/*","Condition":{"StringEquals":{"iam:PassedToService":"s3.amazonaws.com"}}}` {
			t.Errorf("%s: PassRole %s", c.name, mustJSON(pr))
		}
		q, _ := statementBySid(c.d, "NeverQuarantineBuckets")
		if !slices.Equal(list(q.Action), bucketSettingsActions) || !slices.Contains(list(q.Resource), "arn:aws:s3:::q-us") {
			t.Errorf("%s: NeverQuarantineBuckets %s", c.name, mustJSON(q))
		}
		if len(sids) != 3+len(c.denies)-1 {
			t.Errorf("%s: statements %v", c.name, sids)
		}
	}
	if q, _ := statementBySid(open, "NeverQuarantineBuckets"); !slices.Equal(list(q.Resource), []string{"arn:aws:s3:::q-us", "arn:aws:s3:::q-eu"}) {
		t.Errorf("quarantine buckets denied: %v", q.Resource)
	}
	if l, _ := statementBySid(open, "NeverLogOrSecurityBuckets"); !slices.Contains(list(l.Resource), "arn:aws:s3:::*cloudtrail*") {
		t.Errorf("log buckets denied: %v", l.Resource)
	}
}

// With fewer kinds the role holds only their actions: in every statement, allows and denies
// alike; iam:PassRole only with external replication.
func TestBucketSettingsRolePolicyHoldsOnlyItsKinds(t *testing.T) {
	cfg := &Config{Policy: &policy.Policy{}}
	for _, c := range []struct {
		kinds   []string
		actions []string
	}{
		{[]string{policy.KindBlockPublicAccess}, []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"}},
		{[]string{policy.KindDefaultEncryption}, []string{"s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration"}},
		{[]string{policy.KindExternalReplication}, []string{"s3:GetReplicationConfiguration", "s3:PutReplicationConfiguration"}},
		{[]string{policy.KindBlockPublicAccess, policy.KindDefaultEncryption}, []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration"}},
	} {
		d := parseDoc(t, mustJSON(BucketSettingsRolePolicy(cfg, Member{AccountID: member}, c.kinds, []string{"q-us"})))
		replication := slices.Contains(c.kinds, policy.KindExternalReplication)
		_, pass := statementBySid(d, "PassReplicationRoleToS3")
		if pass != replication {
			t.Errorf("kinds %q: PassReplicationRoleToS3 present %v, want %v", c.kinds, pass, replication)
		}
		for _, st := range d.Statement {
			if st.Sid == "PassReplicationRoleToS3" {
				continue
			}
			if !slices.Equal(list(st.Action), c.actions) {
				t.Errorf("kinds %q: %s %s has %v, want %v", c.kinds, st.Effect, st.Sid, list(st.Action), c.actions)
			}
		}
		if len(d.Statement) != 3+btoi(replication) {
			t.Errorf("kinds %q: statements %s", c.kinds, mustJSON(d))
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// IAM role names: at most 64 of [\w+=,.@-]; one per stack (two stacks in one account get two),
// never the quarantine role's, and still telling what the role is when the stack name is long.
func TestBucketSettingsRoleNamesAreUniqueAndFit(t *testing.T) {
	iamName := regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	long1, long2 := "production-eu-central-payments-and-cards-2026", "production-eu-central-payments-and-cards-2027"
	seen := map[string]string{}
	for _, slug := range []string{"dev", "prod", "prod-payments-eu", long1, long2, strings.Repeat("s", 80)} {
		for _, n := range []string{BucketSettingsRoleName(slug), QuarantineRoleName(slug)} {
			if !iamName.MatchString(n) {
				t.Errorf("stack %q: role name %q is not an IAM role name (at most 64 of [\\w+=,.@-])", slug, n)
			}
			if prev, ok := seen[n]; ok {
				t.Errorf("stacks %q and %q share role name %q", prev, slug, n)
			}
			seen[n] = slug
		}
		if n := BucketSettingsRoleName(slug); !strings.HasSuffix(n, "-bucket-settings") || !strings.HasPrefix(n, "macie-chatops-") {
			t.Errorf("stack %q: %q does not say what it is", slug, n)
		}
	}
	if BucketSettingsRoleName("dev") != "macie-chatops-dev-bucket-settings" {
		t.Errorf("BucketSettingsRoleName(dev) = %q, want the agreed AWSName(64, macie-chatops, dev, bucket-settings)", BucketSettingsRoleName("dev"))
	}
}

// Reordering the config's members and regions changes neither the declaration order nor any
// bucket-settings document (the quarantine buckets in region order, the remediator's ARNs in
// account order).
func TestBucketSettingsDeclarationOrderIsFixed(t *testing.T) {
	file := fixPolicy(t, "dev", "    Policy:IAMUser/S3BlockPublicAccessDisabled: AUTO\n", "")
	shuffled := slices.Clone(defaultMembers)
	slices.Reverse(shuffled)
	shuffled[2].Regions = []string{"eu-west-1", "us-east-1"} // 111122223333, reversed too
	over := map[string]string{"macie-chatops:policyFile": file}
	a, err := deploy(t, over, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	b, err := deploy(t, over, shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.declared, b.declared) {
		t.Fatalf("declared %d resources, then %d in another order with members and regions reordered", len(a.declared), len(b.declared))
	}
	var order []string
	for _, d := range a.declared {
		if strings.Contains(d, "bucket-settings") {
			order = append(order, d)
		}
	}
	var want []string
	for _, acct := range []string{"111122223333", "444455556666", "999988887777"} {
		want = append(want, "aws:iam/role:Role member-"+acct+"-bucket-settings-role", "aws:iam/rolePolicy:RolePolicy member-"+acct+"-bucket-settings-policy")
	}
	if !slices.Equal(order, want) {
		t.Errorf("bucket-settings resources declared as %v, want %v", order, want)
	}
	docs := func(m *mocks) string {
		var out []string
		for _, r := range m.all {
			if strings.Contains(r.name, "bucket-settings") || r.name == "remediator-policy" {
				out = append(out, r.name+" "+str(r.inputs["policy"])+str(r.inputs["assumeRolePolicy"]))
			}
		}
		slices.Sort(out)
		return strings.Join(out, "\n")
	}
	if da, db := docs(a), docs(b); da != db {
		t.Errorf("documents differ with members and regions reordered:\n%s\n---\n%s", da, db)
	}
	pol := policiesOf(t, a)["member-111122223333-bucket-settings-policy"]
	q, _ := statementBySid(pol, "NeverQuarantineBuckets")
	if got := fmt.Sprint(list(q.Resource)); got != "[arn:aws:s3:::macie-chatops-dev-q-111122223333-eu-west-1 arn:aws:s3:::macie-chatops-dev-q-111122223333-us-east-1]" {
		t.Errorf("quarantine buckets denied in %s, want both regions' in region order", got)
	}
}

// s3ActionOf is the IAM action S3 authorises each bucketfix.API call with (S3 API reference:
// each Delete is authorised by its Put action).
var s3ActionOf = map[string]string{
	"GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock", "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock", "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
	"GetBucketEncryption": "s3:GetEncryptionConfiguration", "PutBucketEncryption": "s3:PutEncryptionConfiguration", "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
	"GetBucketReplication": "s3:GetReplicationConfiguration", "PutBucketReplication": "s3:PutReplicationConfiguration", "DeleteBucketReplication": "s3:PutReplicationConfiguration",
}

// The role allows exactly the actions of the S3 calls shared/bucketfix makes (its API interface,
// read from the source): a call added there without its permission here, or a permission no call
// needs, fails this test instead of an AccessDenied in a member account.
func TestBucketSettingsActionsAreWhatBucketfixCalls(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "bucketfix")
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok || ts.Name.Name != "API" {
					return true
				}
				if it, ok := ts.Type.(*ast.InterfaceType); ok {
					for _, m := range it.Methods.List {
						for _, name := range m.Names {
							methods = append(methods, name.Name)
						}
					}
				}
				return false
			})
		}
	}
	if len(methods) == 0 {
		t.Fatalf("no `type API interface` in %s: the bucket-settings role's actions can no longer be checked against the calls", dir)
	}
	var want []string
	for _, m := range methods {
		a, ok := s3ActionOf[m]
		if !ok {
			t.Errorf("bucketfix.API calls %s: add its IAM action to bucketSettingsActions (bucketsettings.go) and to s3ActionOf here", m)
			continue
		}
		if !slices.Contains(want, a) {
			want = append(want, a)
		}
	}
	got := slices.Clone(bucketSettingsActions)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the bucket-settings role allows %v; bucketfix's calls need exactly %v", got, want)
	}
}

// Per kind, the role allows exactly the actions of the S3 calls that kind makes in
// shared/bucketfix (read from its source: the API calls inside each `kindOps{kind: K, ...}`
// literal), so a member whose policy enables only some kinds can run those kinds' Inspect,
// Apply and Undo with its role, and no call is made outside a kind's ops. The kinds are those of
// bucketfix.Kind, with the same strings as shared/policy's.
func TestBucketSettingsActionsPerKindAreWhatBucketfixCalls(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "bucketfix")
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	apiMethods := map[string]bool{}
	kindValue := map[string]string{} // Kind constant → its string
	var files []*ast.File
	for _, p := range pkgs {
		for _, f := range p.Files {
			files = append(files, f)
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.TypeSpec:
					if it, ok := n.Type.(*ast.InterfaceType); ok && n.Name.Name == "API" {
						for _, m := range it.Methods.List {
							for _, name := range m.Names {
								apiMethods[name.Name] = true
							}
						}
					}
				case *ast.ValueSpec:
					if id, ok := n.Type.(*ast.Ident); ok && id.Name == "Kind" {
						for i, name := range n.Names {
							if i < len(n.Values) {
								if lit, ok := n.Values[i].(*ast.BasicLit); ok {
									kindValue[name.Name] = strings.Trim(lit.Value, `"`)
								}
							}
						}
					}
				}
				return true
			})
		}
	}
	if len(apiMethods) == 0 || len(kindValue) == 0 {
		t.Fatalf("no `type API interface` or no Kind constants in %s: the per-kind actions can no longer be checked", dir)
	}
	calls := map[string][]string{} // kind string → IAM actions of its calls
	inOps := map[token.Pos]bool{}  // API calls attributed to a kind
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, isIdent := cl.Type.(*ast.Ident); !isIdent || id.Name != "kindOps" || len(cl.Elts) == 0 {
				return true // kindOps{} is the zero value returned with an error
			}
			kind := ""
			for _, e := range cl.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok && fmt.Sprint(kv.Key) == "kind" {
					if v, ok := kv.Value.(*ast.Ident); ok {
						kind = kindValue[v.Name]
					}
				}
			}
			if kind == "" {
				t.Errorf("a kindOps literal without a `kind:` Kind constant: the per-kind actions cannot be checked")
				return false
			}
			ast.Inspect(cl, func(n ast.Node) bool {
				if c, ok := n.(*ast.CallExpr); ok {
					if sel, ok := c.Fun.(*ast.SelectorExpr); ok && apiMethods[sel.Sel.Name] {
						inOps[c.Pos()] = true
						if a := s3ActionOf[sel.Sel.Name]; a != "" && !slices.Contains(calls[kind], a) {
							calls[kind] = append(calls[kind], a)
						}
					}
				}
				return true
			})
			return false
		})
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && apiMethods[sel.Sel.Name] && !inOps[c.Pos()] {
					t.Errorf("bucketfix calls %s outside a kind's ops: which kind's role needs it cannot be told", sel.Sel.Name)
				}
			}
			return true
		})
	}
	var kinds []string
	for _, v := range kindValue {
		kinds = append(kinds, v)
	}
	slices.Sort(kinds)
	var ours []string
	for _, k := range bucketSettingsKinds {
		ours = append(ours, k.kind)
	}
	slices.Sort(ours)
	if !slices.Equal(kinds, ours) {
		t.Fatalf("bucketfix's kinds %q, the role's (shared/policy's) %q: they must be the same strings", kinds, ours)
	}
	for _, k := range kinds {
		got := bucketSettingsActionsOf(k)
		want := calls[k]
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("kind %s: the role allows %v; bucketfix's calls for it need exactly %v", k, got, want)
		}
	}
}

// Preview says how far the role reaches, per member, only when it is deployed.
func TestBucketSettingsWarningsSayWhatTheRoleMayChange(t *testing.T) {
	load := func(actions string) *policy.Policy {
		p, err := policy.LoadFile(fixPolicy(t, "dev", actions, ""))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	off := &Config{Members: defaultMembers, Policy: load("    Policy:*: NOTIFY\n")}
	if w := BucketSettingsWarnings(off); len(w) != 0 {
		t.Errorf("warnings without the role: %q", w)
	}
	on := &Config{Members: defaultMembers, Policy: load("    Policy:IAMUser/S3BucketPublic: AUTO\n")}
	w := BucketSettingsWarnings(on)
	if len(w) != 3 {
		t.Fatalf("warnings %q, want one per member", w)
	}
	if !strings.HasPrefix(w[0], "member 111122223333 has no dataBuckets: its bucket-settings role may change") || !strings.Contains(w[0], "*cloudtrail*") || !strings.Contains(w[0], "members[].dataBuckets") {
		t.Errorf("open member: %q", w[0])
	}
	if !strings.HasPrefix(w[1], "member 444455556666 names dataBuckets: policy findings about its other buckets cannot be remediated") || !strings.Contains(w[1], "lake-raw, lake-curated") {
		t.Errorf("member with dataBuckets: %q", w[1])
	}
	if !strings.Contains(w[0], "may change block public access of every bucket") {
		t.Errorf("open member with block public access only: %q", w[0])
	}
	// Per member: one without a kind has no role and no warning; one with all three names them.
	p, err := policy.LoadFile(fixPolicy(t, "dev", "    Policy:IAMUser/*: REVIEW\n", "  \"444455556666\":\n    actions:\n      Policy:IAMUser/*: NOTIFY\n"))
	if err != nil {
		t.Fatal(err)
	}
	w = BucketSettingsWarnings(&Config{Members: defaultMembers, Policy: p})
	if len(w) != 2 || !strings.HasPrefix(w[0], "member 111122223333 ") || !strings.HasPrefix(w[1], "member 999988887777 ") ||
		!strings.Contains(w[0], "may change block public access, default encryption and replication of every bucket") {
		t.Errorf("warnings %q, want 111122223333's and 999988887777's naming all three settings", w)
	}
}
