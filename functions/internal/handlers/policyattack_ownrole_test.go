package handlers

// See policyattack_test.go for the harness.

import (
	"fmt"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// An attacker in the member account relaxes Block Public Access again, from a role session they
// named "macie-chatops-<anything>" (RoleSessionName is the caller's choice) or from a role
// they named "...bucket-settings". Macie's update names that session as the actor. It must be a
// new occurrence that is fixed again, not mistaken for our own bucket-settings role: that would
// leave the bucket public while the record and its message still say FIXED.
func TestAttackForgedOwnRoleActorIsNotOurs(t *testing.T) {
	for i, actor := range []string{
		"arn:aws:sts::" + motoAccount + ":assumed-role/admin/macie-chatops-" + "forged",                           // forged session name
		"arn:aws:sts::" + motoAccount + ":assumed-role/evil-bucket-settings/session",                              // look-alike role name
		"arn:aws:sts::444455556666:assumed-role/" + ownRoleName + "/macie-chatops-forged",                         // our role name, another account
		"arn:aws:sts::" + motoAccount + ":assumed-role/" + ownRoleName + "x/macie-chatops-forged",                 // a longer role name
		"arn:aws:iam::" + motoAccount + ":user/macie-chatops-bucket-settings/macie-chatops-x",                     // not a role session
		"arn:aws:sts::" + motoAccount + ":assumed-role/" + ownRoleName + "-2/macie-chatops-forged",                // prefix of ours
		"arn:aws:sts::" + motoAccount + ":assumed-role/x/" + ownRoleName + "/macie-chatops-1",                     // our name as a path
		"arn:aws:sts::" + motoAccount + ":assumed-role/Macie-Chatops-Dev-Bucket-Settings/macie-chatops-finding-1", // case
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			st, _ := newAttackStack(t)
			st.findings.BucketRoleName = ownRoleName
			bucket, id := fmt.Sprintf("forged-%d", i), fmt.Sprintf("forged-%d", i)
			fixedAuto(t, st, bucket, id)
			bpaRelaxed(st, bucket) // the attacker
			st.process(st.policyEventWith(bpaFixture, bucket, id, update(2, time.Now().Add(time.Second), actor)))
			st.drain()
			occ, err := st.ledger.Get(st.ctx, id+"#2")
			if err != nil {
				t.Fatalf("actor %s was taken for our own role: no new occurrence (%v); bucket %s", actor, err, st.setting(bucketfix.BlockPublicAccess, bucket))
			}
			if occ.Status != ledger.Fixed || !isFixedBPA(st, bucket) {
				t.Fatalf("occurrence %s %q; bucket %s", occ.Status, occ.Error, st.setting(bucketfix.BlockPublicAccess, bucket))
			}
			ledgerMatchesBucket(t, st, id, bucket)
		})
	}
}

// Our own bucket-settings role (the exact name this stack deployed, in the finding's account)
// is still recognised: its change is shown, not re-fixed.
func TestAttackOwnRoleStillRecognised(t *testing.T) {
	st, _ := newAttackStack(t)
	st.findings.BucketRoleName = ownRoleName
	fixedAuto(t, st, "own", "own-1")
	st.process(st.policyEventWith(bpaFixture, "own", "own-1", update(2, time.Now().Add(time.Second),
		"arn:aws:sts::"+motoAccount+":assumed-role/"+ownRoleName+"/macie-chatops-own-0")))
	st.drain()
	if _, err := st.ledger.Get(st.ctx, "own-1#2"); err == nil {
		t.Fatal("our own role's change became an occurrence")
	}
}
