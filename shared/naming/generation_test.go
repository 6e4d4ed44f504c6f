package naming

import "testing"

func TestGenerationIsTheStackIDsOwnUUIDPrefix(t *testing.T) {
	id := "arn:aws:cloudformation:eu-west-1:210987654321:stack/StackSet-macie-chatops-prod-members-5d1c3b2a-aaaa-bbbb-cccc-0123456789ab/9f8e7d6c-1111-2222-3333-444455556666"
	g, err := Generation(id)
	if err != nil || g != "9f8e7d6c" {
		t.Fatalf("Generation = %q, %v; want 9f8e7d6c (the stack's own UUID, not the StackSet's)", g, err)
	}
	for _, bad := range []string{"", "9f8e7d6c", "arn:aws:cloudformation:eu-west-1:210987654321:stack/x", "arn:aws:cloudformation:eu-west-1:210987654321:stack/x/9F8E7D6C-1111-2222-3333-444455556666"} {
		if g, err := Generation(bad); err == nil {
			t.Errorf("Generation(%q) = %q, want an error", bad, g)
		}
	}
	b := OrgQuarantineBucket("macie-quarantine-210987654321-eu-west-1", g)
	if b != "macie-quarantine-210987654321-eu-west-1-9f8e7d6c" {
		t.Errorf("OrgQuarantineBucket = %q", b)
	}
	if !IsOrgQuarantineBucket("macie-quarantine-210987654321-eu-west-1", b) {
		t.Errorf("IsOrgQuarantineBucket(%q) = false", b)
	}
	for _, other := range []string{"macie-quarantine-210987654321-eu-west-1", "macie-quarantine-210987654321-eu-west-1-data", "macie-quarantine-210987654321-eu-west-1-9f8e7d6c0"} {
		if IsOrgQuarantineBucket("macie-quarantine-210987654321-eu-west-1", other) {
			t.Errorf("IsOrgQuarantineBucket(%q) = true", other)
		}
	}
}
