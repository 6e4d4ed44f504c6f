package bucketfix

import (
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/policy"
)

// shared/policy names the bucket-fix kinds without importing this package (the infra program
// deploys each member's bucket-settings role with the kinds policy.BucketFixKindsFor gives): the
// same strings, and the same kind for every policy-finding type as KindFor.
func TestPolicyNamesTheSameKinds(t *testing.T) {
	for k, want := range map[string]Kind{
		policy.KindBlockPublicAccess:   BlockPublicAccess,
		policy.KindDefaultEncryption:   DefaultEncryption,
		policy.KindExternalReplication: ExternalReplication,
	} {
		if Kind(k) != want {
			t.Errorf("shared/policy names kind %q, bucketfix %q", k, want)
		}
	}
	for _, pt := range policy.PolicyTypes {
		k, ok := KindFor(pt.Type)
		if string(k) != pt.Kind || ok != (pt.Kind != "") {
			t.Errorf("%s: bucketfix.KindFor gives %q (%v), shared/policy's table %q", pt.Type, k, ok, pt.Kind)
		}
	}
}
