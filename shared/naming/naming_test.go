package naming

import (
	"strings"
	"testing"
)

// TestNamesKeepTheirEndAndLimit pins the rule infra deploys with and doctor looks up: a short
// name is the parts joined, a long one keeps its end, stays within the limit, and two long
// stack names that differ only in the middle still differ.
func TestNamesKeepTheirEndAndLimit(t *testing.T) {
	if got := StackSetName("prod"); got != "macie-chatops-prod-members" {
		t.Errorf("StackSetName(prod) = %q", got)
	}
	if got := QuarantineRoleName("prod"); got != "macie-chatops-prod-quarantine" {
		t.Errorf("QuarantineRoleName(prod) = %q", got)
	}
	long := strings.Repeat("a", 140)
	if got, want := StackSetName(long), "macie-chatops-"+strings.Repeat("a", 97)+"-8d97a0fe-members"; got != want {
		t.Errorf("StackSetName(long) = %q, want %q", got, want)
	}
	a, b := QuarantineRoleName(strings.Repeat("a", 80)+"x"), QuarantineRoleName(strings.Repeat("a", 80)+"y")
	if a == b || len(a) != 64 || !strings.HasSuffix(a, "-quarantine") {
		t.Errorf("long role names %q and %q: want 64 characters, different, ending -quarantine", a, b)
	}
	if got := AWSName(12, "macie-chatops", "prod", strings.Repeat("z", 20)); len(got) != 12 {
		t.Errorf("a tail longer than the limit: %q is %d characters, want 12", got, len(got))
	}
}
