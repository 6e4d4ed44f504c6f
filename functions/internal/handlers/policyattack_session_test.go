package handlers

// See policyattack_test.go for the harness.

import (
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// An occurrence record's id has a "#": the remediator names its role session after the finding,
// and STS refuses a RoleSessionName with "#". A cold remediator (no cached credentials) whose
// first job is an occurrence must still be able to assume the bucket-settings role.
func TestAttackOccurrenceSessionNameIsValidForSTS(t *testing.T) {
	st, hook := newAttackStack(t)
	fixedAuto(t, st, "sess", "sess-1")
	bpaRelaxed(st, "sess")
	st.process(st.policyEventWith(bpaFixture, "sess", "sess-1", update(2, time.Now().Add(time.Second), "")))
	st.drain()
	r := st.record("sess-1#2")
	if r.Status != ledger.Fixed {
		t.Fatalf("occurrence: %s %q (sessions %q)", r.Status, r.Error, hook.sessions)
	}
	for _, s := range hook.sessions {
		if !stsSessionPattern.MatchString(s) {
			t.Fatalf("session name %q is not valid for STS", s)
		}
	}
}
