package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/naming"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// resolved evaluates the template's Fn::Sub strings for one account and region: what
// CloudFormation does when it creates that account's stack instance (vars has its pseudo
// parameters, AWS::StackId included: templateVars). A ${...} with no value fails the test; so
// does an intrinsic function in a Fn::Sub variable map that intrinsic does not know.
func resolved(t *testing.T, v any, vars map[string]string) any {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if sub, ok := x["Fn::Sub"]; ok && len(x) == 1 {
			s, ok := sub.(string)
			scope := vars
			if l, isList := sub.([]any); isList && len(l) == 2 {
				s, ok = l[0].(string)
				scope = map[string]string{}
				for k, v := range vars {
					scope[k] = v
				}
				m, _ := l[1].(map[string]any)
				for k, e := range m {
					val, isStr := intrinsic(t, e, vars).(string)
					if !isStr {
						t.Errorf("Fn::Sub variable %s = %v: not a string", k, e)
					}
					scope[k] = val
				}
			}
			if !ok {
				t.Errorf("Fn::Sub %v: neither a string nor [string, variables]", sub)
				return v
			}
			out := regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllStringFunc(s, func(ref string) string {
				val, ok := scope[ref[2:len(ref)-1]]
				if !ok {
					t.Errorf("Fn::Sub %q: no value for %s", s, ref)
				}
				return val
			})
			return out
		}
		m := map[string]any{}
		for k, e := range x {
			m[k] = resolved(t, e, vars)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolved(t, e, vars)
		}
		return out
	}
	return v
}

// intrinsic evaluates the intrinsic functions the template uses in a Fn::Sub variable map (Ref
// of a pseudo parameter, Fn::Split, Fn::Select), as CloudFormation does.
func intrinsic(t *testing.T, v any, vars map[string]string) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v
	}
	for fn, arg := range m {
		a, _ := arg.([]any)
		switch {
		case fn == "Ref":
			val, ok := vars[arg.(string)]
			if !ok {
				t.Errorf("Ref %v: no value", arg)
			}
			return val
		case fn == "Fn::Split" && len(a) == 2:
			var out []any
			for _, p := range strings.Split(intrinsic(t, a[1], vars).(string), a[0].(string)) {
				out = append(out, p)
			}
			return out
		case fn == "Fn::Select" && len(a) == 2:
			l, _ := intrinsic(t, a[1], vars).([]any)
			i, _ := a[0].(float64)
			if n, isInt := a[0].(int); isInt {
				i = float64(n)
			}
			if int(i) >= len(l) {
				t.Errorf("Fn::Select %v of %v: out of range", a[0], l)
				return ""
			}
			return l[int(i)]
		}
		t.Errorf("intrinsic %s %v: not evaluated by the test", fn, arg)
	}
	return v
}

// testGeneration is the generation of the stack instances the tests resolve the template for:
// templateVars gives them a stack id whose UUID starts with it.
const testGeneration = "0a1b2c3d"

// templateVars are the pseudo parameters of account's stack instance in region, of generation
// testGeneration.
func templateVars(account, region string) map[string]string {
	return generationVars(account, region, testGeneration)
}

// generationVars are the pseudo parameters of account's stack instance in region whose stack id
// has that generation (an earlier stack's, whose bucket and key were retained).
func generationVars(account, region, generation string) map[string]string {
	return map[string]string{"AWS::Partition": "aws", "AWS::AccountId": account, "AWS::Region": region,
		"AWS::StackId": "arn:aws:cloudformation:" + region + ":" + account + ":stack/StackSet-x-" + account + "/" + generation + "-1111-2222-3333-444455556666"}
}

// grants is a document as the set of what it says, one line per effect, principal, action,
// resource and condition: statements split or merged, lists reordered and Sids renamed say the
// same; anything else that differs shows as a line.
func grants(t *testing.T, v any, same map[string]string) []string {
	t.Helper()
	b, _ := json.Marshal(v)
	for from, to := range same {
		b = []byte(strings.ReplaceAll(string(b), from, to))
	}
	var d struct {
		Statement []struct {
			Effect    string
			Principal any
			Action    any
			Resource  any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var out []string
	for _, st := range d.Statement {
		var cond []string
		for op, kv := range st.Condition {
			for k, vals := range kv {
				vs := slices.DeleteFunc(list(vals), func(v string) bool { return v == dropped })
				sort.Strings(vs)
				cond = append(cond, op+" "+k+"="+strings.Join(vs, "|"))
			}
		}
		sort.Strings(cond)
		var princ []string
		switch p := st.Principal.(type) {
		case string:
			princ = []string{p}
		case map[string]any:
			for k, v := range p {
				for _, e := range list(v) {
					princ = append(princ, k+":"+e)
				}
			}
		}
		if len(princ) == 0 {
			princ = []string{"-"}
		}
		res := list(st.Resource)
		if len(res) == 0 {
			res = []string{"-"}
		}
		for _, p := range princ {
			for _, a := range list(st.Action) {
				for _, r := range res {
					out = append(out, fmt.Sprintf("%s %s %s %s [%s]", st.Effect, p, a, r, strings.Join(cond, "; ")))
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// dropped stands for a value grants leaves out of a condition's list of values.
const dropped = "DROPPED"

func diffLines(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return
}

// The organization's template and an explicit member grant exactly the same: for account A in
// every region, each IAM document of the template after CloudFormation's substitution (A's
// account, the region, partition aws, the StackSet's parameters) equals the explicit member's,
// statement by statement. The one value that differs by design is the deployer the quarantine
// bucket policy exempts from its object denies: the explicit member's deploy role (Pulumi's
// destroy empties the bucket), none in the template (TemplateSite); the explicit member's is
// dropped before comparing, so a deployer in the template shows as a difference. A is not in the policy, so it has the defaults' bucket-fix kinds, as
// every organization account has: the bucket-settings role is compared for a policy enabling
// every kind (example-org.yaml), block public access only (dev.yaml), and none.
func TestOrganizationTemplateGrantsWhatExplicitModeGrants(t *testing.T) {
	const a = "123456789012"
	dev, _ := filepath.Abs(filepath.Join("..", "..", "policies", "dev.yaml"))
	policies := []struct {
		name, file string
		kinds      []string
	}{
		{"example-org", "", []string{policy.KindBlockPublicAccess, policy.KindDefaultEncryption, policy.KindExternalReplication}},
		{"dev", dev, []string{policy.KindBlockPublicAccess}},
		{"no-bucket-fix", policyReplacing(t, dev, "Policy:IAMUser/S3BlockPublicAccessDisabled: REVIEW", "Policy:IAMUser/S3BlockPublicAccessDisabled: NOTIFY"), nil},
	}
	for _, pol := range policies {
		for _, mode := range []string{MacieDelegatedAdmin, MacieStandalone} {
			t.Run(pol.name+"/"+mode, func(t *testing.T) {
				over := map[string]string{"macie-chatops:macieMode": mode}
				if pol.file != "" {
					over["macie-chatops:policyFile"] = pol.file
				}
				equivalent(t, a, over, pol.kinds)
			})
		}
	}
}

// policyReplacing is a copy of a policy file with one line replaced.
func policyReplacing(t *testing.T, file, line, with string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(raw), line, with, 1)
	if s == string(raw) {
		t.Fatalf("%s has no line %q to replace: change the test with the file", file, line)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(out, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// equivalent compares the organization's template with explicit member a, whose policy gives it
// the bucket-fix kinds.
func equivalent(t *testing.T, a string, over map[string]string, kinds []string) {
	t.Helper()
	mode := over["macie-chatops:macieMode"]
	members := append(append([]Member{}, defaultMembers[:1]...), Member{AccountID: a, DeployRole: "OrganizationAccountAccessRole", Regions: []string{"us-east-1", "eu-west-1"}})
	m, cfg, err := deployOrg(t, orgSetting, over, members)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Policy.BucketFixKindsFor(a); !slices.Equal(got, kinds) {
		t.Fatalf("the policy gives %s the kinds %q, want %q", a, got, kinds)
	}
	ss, _ := stackSetOf(t, m)
	var tmpl struct {
		Resources map[string]struct {
			Condition  string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal([]byte(str(ss.inputs["templateBody"])), &tmpl); err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for k, v := range ss.inputs["parameters"].ObjectValue() {
		params[string(k)] = str(v)
	}
	explicit := map[string]any{}
	for _, r := range m.all {
		if !strings.HasPrefix(r.name, "member-"+a+"-") {
			continue
		}
		for _, k := range []string{"policy", "assumeRolePolicy"} {
			if s := str(r.inputs[resourceKey(k)]); s != "" {
				var d any
				if err := json.Unmarshal([]byte(s), &d); err != nil {
					t.Fatal(err)
				}
				explicit[r.name+"."+k] = d
			}
		}
	}
	same := map[string]string{"arn:aws:iam::" + a + ":role/OrganizationAccountAccessRole": dropped}
	// The one other difference by design: the template's quarantine bucket and key alias carry
	// a generation (its own, or every generation where the quarantine role must reach retained
	// buckets and keys and the bucket-settings role must never touch one, which also keeps it
	// off the policy's name without a generation: that is explicit mode's name, so it
	// compares as is); explicit mode's are the policy's names. Only these exact strings are normalized, and each must occur, so the
	// normalization cannot hide another difference nor outlive the generation.
	generations := map[string]string{}
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		base := cfg.Policy.QuarantineFor(a, r).Bucket
		generations["arn:aws:s3:::"+base+"-"+testGeneration] = "arn:aws:s3:::" + base
		generations["arn:aws:s3:::"+base+"-"+AnyGeneration] = "arn:aws:s3:::" + base
		if len(kinds) > 0 {
			generations[`"arn:aws:s3:::`+base+`-*"`] = `"arn:aws:s3:::` + base + `"`
		}
	}
	alias := QuarantineKeyAlias(cfg.Slug)
	// The keys: every generation's alias, and the alias without one (a stack from before
	// generations: quarantineKeysByAlias), which explicit mode's one alias stands for.
	generations[`"ForAnyValue:StringLike":{"kms:ResourceAliases":["`+alias+"-"+AnyGeneration+`","`+alias+`"]}`] = `"ForAnyValue:StringEquals":{"kms:ResourceAliases":["` + alias + `"]}`
	for k, v := range generations {
		same[k] = v
	}
	seen := map[string]bool{}
	compared := 0
	compare := func(what string, tmplDoc any, region, explicitName string) {
		t.Helper()
		vars := templateVars(a, region)
		for k, v := range params {
			vars[k] = v
		}
		want, ok := explicit[explicitName]
		if !ok {
			t.Fatalf("explicit mode declared no %s (have %v)", explicitName, keys(explicit))
		}
		r := resolved(t, tmplDoc, vars)
		b, _ := json.Marshal(r)
		for k := range generations {
			if strings.Contains(string(b), k) {
				seen[k] = true
			}
		}
		got := grants(t, r, same)
		w := grants(t, want, same)
		if len(got) == 0 {
			t.Fatalf("%s: template document is empty", what)
		}
		if onlyT, onlyE := diffLines(got, w); len(onlyT)+len(onlyE) > 0 {
			t.Errorf("%s in %s: the template and explicit mode differ\n  only in the template:\n    %s\n  only in explicit mode:\n    %s", what, region, strings.Join(onlyT, "\n    "), strings.Join(onlyE, "\n    "))
		}
		compared++
	}
	role := tmpl.Resources[LogicalQuarantineRole]
	if role.Condition != CondHomeRegion {
		t.Errorf("quarantine role condition %q, want %s", role.Condition, CondHomeRegion)
	}
	compare("quarantine role trust", role.Properties["AssumeRolePolicyDocument"], "us-east-1", "member-"+a+"-quarantine-role.assumeRolePolicy")
	pols := role.Properties["Policies"].([]any)
	if len(pols) != 1 {
		t.Fatalf("quarantine role policies: %v", pols)
	}
	compare("quarantine role policy", pols[0].(map[string]any)["PolicyDocument"], "us-east-1", "member-"+a+"-quarantine-policy.policy")
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		compare("quarantine key policy", tmpl.Resources[LogicalQuarantineKey].Properties["KeyPolicy"], region, "member-"+a+"-"+region+"-quarantine-key.policy")
		compare("quarantine bucket policy", tmpl.Resources[LogicalBucketPolicy].Properties["PolicyDocument"], region, "member-"+a+"-"+region+"-quarantine-policy.policy")
	}
	bs, ok := tmpl.Resources[LogicalBucketSettingsRole]
	if ok != (len(kinds) > 0) {
		t.Errorf("the template declares a bucket-settings role: %v, want %v (kinds %q)", ok, len(kinds) > 0, kinds)
	}
	if ok {
		if bs.Condition != CondHomeRegion {
			t.Errorf("bucket-settings role condition %q, want %s", bs.Condition, CondHomeRegion)
		}
		compare("bucket-settings role trust", bs.Properties["AssumeRolePolicyDocument"], "us-east-1", "member-"+a+"-bucket-settings-role.assumeRolePolicy")
		pols := bs.Properties["Policies"].([]any)
		if len(pols) != 1 {
			t.Fatalf("bucket-settings role policies: %v", pols)
		}
		compare("bucket-settings role policy", pols[0].(map[string]any)["PolicyDocument"], "us-east-1", "member-"+a+"-bucket-settings-policy.policy")
	}
	if mode == MacieStandalone {
		fwd := tmpl.Resources[LogicalForwarderRole]
		for _, region := range []string{"eu-west-1", "us-east-1"} {
			compare("forwarder trust", fwd.Properties["AssumeRolePolicyDocument"], region, "member-"+a+"-"+region+"-forwarder-role.assumeRolePolicy")
			compare("forwarder policy", fwd.Properties["Policies"].([]any)[0].(map[string]any)["PolicyDocument"], region, "member-"+a+"-"+region+"-forwarder-policy.policy")
		}
	} else if _, ok := tmpl.Resources[LogicalForwarderRole]; ok {
		t.Errorf("delegated-admin: the template declares a forwarder")
	}
	for _, k := range keys(generations) {
		if !seen[k] {
			t.Errorf("no template document has %s: the generation normalization is stale (drop it with the generation, or find where the template lost it)", k)
		}
	}
	// Explicit mode declares no IAM document the comparison left out.
	if compared < len(explicit) {
		t.Errorf("compared %d documents, explicit mode has %d: %v", compared, len(explicit), keys(explicit))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func resourceKey(k string) resource.PropertyKey { return resource.PropertyKey(k) }

// Names for an organization of 300 accounts in 3 regions: every name the template gives AWS
// fits its limit (S3 bucket 63, IAM role 64, KMS alias 256, StackSet 128) and is unique where
// AWS requires it (buckets: globally; the role and alias: per account, and per account and
// region). The StackSet's instances are per OU and region, so their count does not grow with
// the accounts.
func TestOrganizationNamesFitAndAreUniqueFor300AccountsIn3Regions(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
	org := `{"organizationalUnits": ["` + ouA + `", "` + ouB + `"], "regions": ["us-east-1", "eu-west-1", "ap-southeast-2"]}`
	m, cfg, err := deployOrg(t, org, nil, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	ss, insts := stackSetOf(t, m)
	if len(insts) != 2*3 {
		t.Errorf("%d instances, want 2 OUs x 3 regions", len(insts))
	}
	if n := str(ss.inputs["name"]); len(n) > 128 || !regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]*$`).MatchString(n) {
		t.Errorf("StackSet name %q: 128 characters of [a-zA-Z0-9-], starting with a letter", n)
	}
	var tmpl struct {
		Resources map[string]struct{ Properties map[string]any }
	}
	if err := json.Unmarshal([]byte(str(ss.inputs["templateBody"])), &tmpl); err != nil {
		t.Fatal(err)
	}
	bucketTmpl := tmpl.Resources[LogicalBucket].Properties["BucketName"]
	roleName, _ := tmpl.Resources[LogicalQuarantineRole].Properties["RoleName"].(string)
	// The alias carries the stack instance's generation (a returning account's new stack must
	// not meet its retained alias).
	alias, _ := resolved(t, tmpl.Resources[LogicalKeyAlias].Properties["AliasName"], templateVars("100000000000", "us-east-1")).(string)
	if want := QuarantineKeyAlias(cfg.Slug) + "-" + testGeneration; alias != want {
		t.Errorf("alias %q, want %q (the stack's generation)", alias, want)
	}
	// The key's description names its bucket, with the generation.
	desc, _ := resolved(t, tmpl.Resources[LogicalQuarantineKey].Properties["Description"], templateVars("100000000000", "us-east-1")).(string)
	if b := naming.OrgQuarantineBucket(cfg.Policy.QuarantineFor("100000000000", "us-east-1").Bucket, testGeneration); !strings.HasSuffix(desc, " "+b) {
		t.Errorf("the key's description %q does not name its bucket %s", desc, b)
	}
	// The bucket-settings role (example-org.yaml enables bucket fixes): IAM's 64, and not the
	// quarantine role's name (both are per account).
	bsName, _ := tmpl.Resources[LogicalBucketSettingsRole].Properties["RoleName"].(string)
	if len(bsName) == 0 || len(bsName) > 64 || bsName == roleName {
		t.Errorf("bucket-settings role name %q (IAM: 64, not the quarantine role's %q)", bsName, roleName)
	}
	if len(roleName) == 0 || len(roleName) > 64 || len(alias) == 0 || len(alias) > 256 || !strings.HasPrefix(alias, "alias/") || strings.HasPrefix(alias, "alias/aws/") {
		t.Errorf("role name %q (IAM: 64), alias %q (KMS: 256, alias/ but not alias/aws/)", roleName, alias)
	}
	bucketName := regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	seen := map[string]string{}
	for i := range 300 {
		acct := fmt.Sprintf("%012d", 100000000000+i*7919)
		for _, r := range regions {
			b, _ := resolved(t, bucketTmpl, templateVars(acct, r)).(string)
			if !bucketName.MatchString(b) || strings.Contains(b, "..") {
				t.Fatalf("bucket %q for %s %s is not a valid S3 bucket name (3..63 of a-z 0-9 . -)", b, acct, r)
			}
			if want := naming.OrgQuarantineBucket(cfg.Policy.QuarantineFor(acct, r).Bucket, testGeneration); b != want {
				t.Fatalf("bucket %q for %s %s, want %q (the policy's name and the stack's generation)", b, acct, r, want)
			}
			if prev, dup := seen[b]; dup {
				t.Fatalf("bucket %q for %s %s and %s", b, acct, r, prev)
			}
			seen[b] = acct + " " + r
		}
	}
	if len(seen) != 900 {
		t.Errorf("%d bucket names for 900 account regions", len(seen))
	}
	// The role's policy lists every region's quarantine bucket by name, of every generation: the
	// same names.
	pol, _ := json.Marshal(resolved(t, tmpl.Resources[LogicalQuarantineRole].Properties["Policies"], templateVars("100000000000", "us-east-1")))
	for _, r := range regions {
		if b := cfg.Policy.QuarantineFor("100000000000", r).Bucket; !strings.Contains(string(pol), `"arn:aws:s3:::`+b+"-"+AnyGeneration+`"`) {
			t.Errorf("the role's policy does not name %s's bucket %s: %s", r, b, pol)
		}
	}
}

// A stack name long enough that an organization account's bucket in the longest region would
// pass S3's 63 characters is refused at preview (the policy package checks the bucket template
// against the longest region name; organizationPolicyProblems checks the organization's own
// regions too, for region names longer than that).
func TestOrganizationBucketNameTooLongIsRefused(t *testing.T) {
	org := `{"organizationalUnits": ["` + ouA + `"], "regions": ["us-east-1", "ap-southeast-2"]}`
	mb, _ := json.Marshal(defaultMembers[:1])
	_, err := deployRaw(t, "organization-stack-x", map[string]string{"macie-chatops:organization": org}, string(mb))
	if err == nil || !strings.Contains(err.Error(), "does not give a valid S3 bucket name (3-63") {
		t.Errorf("a 64-character organization bucket: %v", err)
	}
}

// In organization mode a quarantine bucket gets "-" and its stack's 8-character generation, so
// a policy whose rendered name fits S3's 63 characters but not with the generation is refused at
// preview, naming the setting and the limit; one at the limit is accepted.
func TestOrganizationBucketBaseWithoutRoomForTheGenerationIsRefused(t *testing.T) {
	dev, _ := filepath.Abs(filepath.Join("..", "..", "policies", "dev.yaml"))
	org := `{"organizationalUnits": ["` + ouA + `"], "regions": ["us-east-1", "ap-southeast-2"]}`
	mb, _ := json.Marshal(defaultMembers[:1])
	// macie-chatops-dev-quarantine-{account}-{region} is 29+12+1+14 = 56 characters in
	// ap-southeast-2: two over naming.MaxOrgQuarantineBase (54), well under 63.
	_, err := deployRaw(t, "dev", map[string]string{"macie-chatops:organization": org, "macie-chatops:policyFile": dev}, string(mb))
	if err == nil || !strings.Contains(err.Error(), "shorten defaults.quarantine.bucket") || !strings.Contains(err.Error(), fmt.Sprintf("at most %d", naming.MaxOrgQuarantineBase)) {
		t.Errorf("a 56-character organization bucket base: %v, want it refused naming defaults.quarantine.bucket and %d", err, naming.MaxOrgQuarantineBase)
	}
	// 54 characters: macie-chatops-dev-q-{account}-{region} (20+12+1+14 = 47) plus "-abcdef".
	short := policyReplacing(t, dev, "bucket: macie-chatops-dev-quarantine-{account}-{region}", "bucket: macie-chatops-dev-q-{account}-{region}-abcdef")
	if _, err := deployRaw(t, "dev", map[string]string{"macie-chatops:organization": org, "macie-chatops:policyFile": short}, string(mb)); err != nil {
		t.Errorf("a %d-character organization bucket base: %v, want it accepted", naming.MaxOrgQuarantineBase, err)
	}
}

// The template is passed inline (TemplateBody), which CloudFormation limits to 51,200 bytes
// (CreateStackSet/UpdateStackSet TemplateBody: "Minimum length of 1. Maximum length of 51200");
// the 1 MB limit applies only to a template in S3 (TemplateURL), which we do not use. Checked
// for the largest template the config can produce: standalone (forwarder), break-glass, a policy
// with many excluded buckets.
func TestOrganizationTemplateFitsTemplateBody(t *testing.T) {
	org := `{"organizationalUnits": ["` + ouA + `", "` + ouB + `"], "regions": ["us-east-1", "eu-west-1", "ap-southeast-2"]}`
	m, cfg, err := deployOrg(t, org, map[string]string{"macie-chatops:macieMode": MacieStandalone}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	ss, _ := stackSetOf(t, m)
	body := str(ss.inputs["templateBody"])
	t.Logf("template body: %d bytes of %d", len(body), TemplateBodyLimit)
	if len(body) == 0 || len(body) >= TemplateBodyLimit/2 {
		t.Errorf("template body %d bytes: want well under %d (TemplateBody limit), leaving room for more member roles", len(body), TemplateBodyLimit)
	}
	// Over the limit, Body refuses with what to do.
	tmpl, err := MemberTemplate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.Description = strings.Repeat("x", TemplateBodyLimit)
	if _, err := tmpl.Body(); err == nil || !strings.Contains(err.Error(), "CloudFormation takes at most 51200 as TemplateBody") {
		t.Errorf("an oversized template: %v", err)
	}
}

// instance is the StackSet's member template as CloudFormation resolves it for one account's
// stack instance in one region (templateVars, and the StackSet's parameters).
type instance struct {
	t     *testing.T
	props map[string]map[string]any
	vars  map[string]string
}

// instanceOf resolves m's StackSet template for acct in region.
func instanceOf(t *testing.T, m *mocks, acct, region string) instance {
	t.Helper()
	ss, _ := stackSetOf(t, m)
	var tmpl struct {
		Resources map[string]struct{ Properties map[string]any }
	}
	if err := json.Unmarshal([]byte(str(ss.inputs["templateBody"])), &tmpl); err != nil {
		t.Fatal(err)
	}
	in := instance{t: t, props: map[string]map[string]any{}, vars: templateVars(acct, region)}
	for k, r := range tmpl.Resources {
		in.props[k] = r.Properties
	}
	for k, v := range ss.inputs["parameters"].ObjectValue() {
		in.vars[string(k)] = str(v)
	}
	return in
}

// standaloneInstance is dev's organization StackSet in standalone Macie mode (forwarder
// included), resolved for acct's stack instance in us-east-1, with its config and mocks.
func standaloneInstance(t *testing.T, acct string) (instance, *Config, *mocks) {
	t.Helper()
	m, cfg, err := deployOrg(t, orgSetting, map[string]string{"macie-chatops:macieMode": MacieStandalone}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	return instanceOf(t, m, acct, "us-east-1"), cfg, m
}

// res is a resource's property, resolved.
func (in instance) res(logical, prop string) any {
	return resolved(in.t, in.props[logical][prop], in.vars)
}

// doc is a resolved property as a policy document.
func (in instance) doc(v any) Document {
	b, _ := json.Marshal(v)
	return parseDoc(in.t, string(b))
}

// rolePolicy is a template role's (only) inline policy, resolved.
func (in instance) rolePolicy(logical string) Document {
	return in.doc(in.res(logical, "Policies").([]any)[0].(map[string]any)["PolicyDocument"])
}
