package stack

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// remediatorAssume is the remediator's sts:AssumeRole statements, by Sid.
func remediatorAssume(t *testing.T, m *mocks) map[string]Statement {
	t.Helper()
	w := extract(t, m)
	out := map[string]Statement{}
	for _, d := range w.inline[w.roleArn["remediator-role"]] {
		for _, st := range d.Statement {
			if reflect.DeepEqual(list(st.Action), []string{"sts:AssumeRole"}) {
				out[st.Sid] = st
			}
		}
	}
	return out
}

// sameStatements fails unless got is exactly want (by Sid, every field).
func sameStatements(t *testing.T, got map[string]Statement, want ...Statement) {
	t.Helper()
	w := map[string]Statement{}
	for _, st := range want {
		w[st.Sid] = st
	}
	g, _ := json.MarshalIndent(got, "", "  ")
	e, _ := json.MarshalIndent(w, "", "  ")
	if string(g) != string(e) {
		t.Fatalf("the remediator's sts:AssumeRole statements:\n%s\nwant exactly:\n%s", g, e)
	}
}

// TestRemediatorAssumesOrgRolesByNameInsideTheOrganization: in organization mode the remediator
// may assume the quarantine role, and the bucket-settings role when the template deploys it, by
// name in any account, conditioned on aws:ResourceOrgID; the explicit members keep their
// explicit ARNs (the bucket-settings role only where their policy enables a kind, and denied by
// ARN where it does not); without organization mode there is no wildcard. BUCKET_SETTINGS_ROLE_NAME
// is set exactly when some account has the role.
func TestRemediatorAssumesOrgRolesByNameInsideTheOrganization(t *testing.T) {
	role, bsRole := QuarantineRoleName("dev"), BucketSettingsRoleName("dev")
	arns := func(name string, accts ...string) []string {
		var out []string
		for _, a := range accts {
			out = append(out, "arn:aws:iam::"+a+":role/"+name)
		}
		return out
	}
	all := []string{"111122223333", "444455556666", "999988887777"}
	inOrg := map[string]any{"StringEquals": map[string]string{"aws:ResourceOrgID": "o-a1b2c3d4e5"}}
	memberQ := Statement{Sid: "AssumeMemberQuarantineRoles", Effect: "Allow", Action: "sts:AssumeRole", Resource: arns(role, all...)}
	orgQ := Statement{Sid: "AssumeOrgQuarantineRoles", Effect: "Allow", Action: "sts:AssumeRole", Resource: "arn:aws:iam::*:role/" + role, Condition: inOrg}
	memberBS := func(accts ...string) Statement {
		return Statement{Sid: "AssumeMemberBucketSettingsRoles", Effect: "Allow", Action: "sts:AssumeRole", Resource: arns(bsRole, accts...)}
	}
	orgBS := Statement{Sid: "AssumeOrgBucketSettingsRoles", Effect: "Allow", Action: "sts:AssumeRole", Resource: "arn:aws:iam::*:role/" + bsRole, Condition: inOrg}
	// policies/dev.yaml: no per-account quarantine override, which organization mode refuses for
	// an account that is not an explicit member; block public access is REVIEW in the defaults.
	dev, _ := filepath.Abs(filepath.Join("..", "..", "policies", "dev.yaml"))
	noFix := policyReplacing(t, dev, "Policy:IAMUser/S3BlockPublicAccessDisabled: REVIEW", "Policy:IAMUser/S3BlockPublicAccessDisabled: NOTIFY")
	envOf := func(m *mocks) string {
		env, _ := remediatorOf(t, m)
		return env["BUCKET_SETTINGS_ROLE_NAME"]
	}
	for _, c := range []struct {
		name    string
		over    map[string]string
		members []Member
		env     string
		want    []Statement
	}{
		{"organization and members", map[string]string{"macie-chatops:organization": orgSetting}, defaultMembers, bsRole,
			[]Statement{memberQ, orgQ, memberBS(all...), orgBS}},
		{"organization only", map[string]string{"macie-chatops:organization": orgSetting, "macie-chatops:policyFile": dev}, nil, bsRole,
			[]Statement{orgQ, orgBS}},
		{"members only", nil, defaultMembers, bsRole,
			[]Statement{memberQ, memberBS(all...)}},
		// tableWorldPolicy: 444455556666 enables no kind (no role there, and the by-name grant
		// does not reach one of that name), the security account block public access only.
		{"organization and a member without kinds", map[string]string{"macie-chatops:organization": orgSetting, "macie-chatops:policyFile": tableWorldPolicy(t, "dev")}, defaultMembers, bsRole,
			[]Statement{memberQ, orgQ, memberBS("111122223333", "999988887777"), orgBS,
				{Sid: "NoBucketSettingsWhereNotDeployed", Effect: "Deny", Action: "sts:AssumeRole", Resource: arns(bsRole, "444455556666")}}},
		{"organization, no bucket fix", map[string]string{"macie-chatops:organization": orgSetting, "macie-chatops:policyFile": noFix}, nil, "",
			[]Statement{orgQ}},
		{"members, no bucket fix", map[string]string{"macie-chatops:policyFile": noFix}, defaultMembers, "",
			[]Statement{memberQ}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := deploy(t, c.over, c.members)
			if err != nil {
				t.Fatal(err)
			}
			sameStatements(t, remediatorAssume(t, m), c.want...)
			if got := envOf(m); got != c.env {
				t.Errorf("BUCKET_SETTINGS_ROLE_NAME %q, want %q", got, c.env)
			}
		})
	}
	t.Run("organization without its id", func(t *testing.T) {
		_, err := deploy(t, map[string]string{"macie-chatops:organization": orgSetting, "macie-chatops:organizationId": ""}, defaultMembers)
		if err == nil || !strings.Contains(err.Error(), "macie-chatops:organizationId is not") || !strings.Contains(err.Error(), "pulumi config set macie-chatops:organizationId o-") {
			t.Fatalf("want a clear error naming organizationId and its fix, got %v", err)
		}
	})
}
