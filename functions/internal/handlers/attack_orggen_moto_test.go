package handlers

import (
	"errors"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/functions/internal/orgbucket"
)

// The remediator's StackSet setting does not match what is deployed (ORG_STACKSET_NAME wrong,
// or ORG_STACKSET_CALL_AS SELF where the StackSet is the delegated administrator's): moto's
// CloudFormation answers StackSetNotFoundException, its real shape. No retry can fix that, so
// it is a lookup refused for good (FAILED with the reason, like AccessDenied), not a transient
// failure retried until the sweeper gives up with none. (An account outside the OUs is
// ErrNoInstance on AWS; moto 5.2.1 answers that call with a 500 it cannot serialize, so that
// case is the stand-in's, TestOrgNoInstanceFailsAndTheSweeperRedrives.)
func TestAttackOrgWrongStackSetOnMoto(t *testing.T) {
	w := newOrgMotoWorld(t)
	if _, err := w.resolver.Bucket(w.st.ctx, w.accounts[0], "us-east-1", "quarantine-x"); err != nil {
		t.Fatalf("control, the deployed StackSet: %v", err)
	}
	wrong := &orgbucket.Resolver{API: w.cf, StackSet: "macie-chatops-typo-member"}
	_, err := wrong.Bucket(w.st.ctx, w.accounts[0], "us-east-1", "quarantine-x")
	if !errors.Is(err, orgbucket.ErrLookupDenied) || !strings.Contains(err.Error(), "ORG_STACKSET_NAME") {
		t.Fatalf("a StackSet that is not there: %v, want ErrLookupDenied naming the setting", err)
	}
}
