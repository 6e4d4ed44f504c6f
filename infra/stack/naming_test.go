package stack

import (
	"strings"
	"testing"
)

// TestInfraNamesAreDoctors pins the names infra deploys to the ones doctor looks up
// (functions/internal/cli TestDoctorStackSetName pins the same literal from doctor's side).
func TestInfraNamesAreDoctors(t *testing.T) {
	long := strings.Repeat("a", 140)
	if got, want := StackSetName(long), "macie-chatops-"+strings.Repeat("a", 97)+"-8d97a0fe-members"; got != want {
		t.Errorf("StackSetName(long) = %q, want doctor's %q", got, want)
	}
	if got := QuarantineRoleName("prod"); got != "macie-chatops-prod-quarantine" {
		t.Errorf("QuarantineRoleName(prod) = %q", got)
	}
	if got := AWSName(64, "macie-chatops", "prod", "x"); got != "macie-chatops-prod-x" {
		t.Errorf("AWSName = %q", got)
	}
}
