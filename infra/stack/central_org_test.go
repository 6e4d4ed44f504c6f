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

// TestRemediatorAssumesOrgRolesByNameInsideTheOrganization: in organization mode the remediator
// may assume the quarantine role by name in any account, conditioned on aws:ResourceOrgID; the
// explicit members keep their explicit ARNs; without organization mode there is no wildcard.
func TestRemediatorAssumesOrgRolesByNameInsideTheOrganization(t *testing.T) {
	role := QuarantineRoleName("dev")
	explicit := []string{"arn:aws:iam::111122223333:role/" + role, "arn:aws:iam::444455556666:role/" + role, "arn:aws:iam::999988887777:role/" + role}
	t.Run("organization and members", func(t *testing.T) {
		m, err := deploy(t, map[string]string{"macie-chatops:organization": orgSetting}, defaultMembers)
		if err != nil {
			t.Fatal(err)
		}
		st := remediatorAssume(t, m)
		org, ok := st["AssumeOrgQuarantineRoles"]
		if !ok || len(st) != 2 {
			t.Fatalf("want the explicit and the organization statements, got %+v", st)
		}
		if org.Resource != "arn:aws:iam::*:role/"+role {
			t.Fatalf("organization statement resource %v", org.Resource)
		}
		cond, _ := json.Marshal(org.Condition)
		if string(cond) != `{"StringEquals":{"aws:ResourceOrgID":"o-a1b2c3d4e5"}}` {
			t.Fatalf("organization statement condition %s", cond)
		}
		if !reflect.DeepEqual(list(st["AssumeMemberQuarantineRoles"].Resource), explicit) {
			t.Fatalf("explicit members: %v", st["AssumeMemberQuarantineRoles"].Resource)
		}
	})
	t.Run("organization only", func(t *testing.T) {
		// policies/dev.yaml: no per-account quarantine override, which organization mode
		// refuses for an account that is not an explicit member.
		dev, _ := filepath.Abs(filepath.Join("..", "..", "policies", "dev.yaml"))
		m, err := deploy(t, map[string]string{"macie-chatops:organization": orgSetting, "macie-chatops:policyFile": dev}, nil)
		if err != nil {
			t.Fatal(err)
		}
		st := remediatorAssume(t, m)
		if _, ok := st["AssumeOrgQuarantineRoles"]; !ok || len(st) != 1 {
			t.Fatalf("want only the organization statement, got %+v", st)
		}
	})
	t.Run("members only", func(t *testing.T) {
		st := remediatorAssume(t, mustDeploy(t))
		if _, ok := st["AssumeOrgQuarantineRoles"]; ok || len(st) != 1 || !reflect.DeepEqual(list(st["AssumeMemberQuarantineRoles"].Resource), explicit) {
			t.Fatalf("explicit mode has a wildcard or lost a member: %+v", st)
		}
	})
	t.Run("organization without its id", func(t *testing.T) {
		_, err := deploy(t, map[string]string{"macie-chatops:organization": orgSetting, "macie-chatops:organizationId": ""}, defaultMembers)
		if err == nil || !strings.Contains(err.Error(), "macie-chatops:organizationId is not") || !strings.Contains(err.Error(), "pulumi config set macie-chatops:organizationId o-") {
			t.Fatalf("want a clear error naming organizationId and its fix, got %v", err)
		}
	})
}
