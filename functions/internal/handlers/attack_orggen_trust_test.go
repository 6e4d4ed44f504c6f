package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// Trust: a member administrator creates a bucket named like a quarantine bucket of a generation
// the StackSet never made (<base>-deadbeef), and then deletes the current one. Whatever path the
// remediator takes (cold lookup, TTL expiry, NoSuchBucket re-lookup, AccessDenied re-lookup on a
// first attempt), it writes only where DescribeStackInstance says: never into the fake one, and a
// current bucket that is gone leaves the source in place with the failure named.
func TestAttackOrgNeverWritesAFakeGeneration(t *testing.T) {
	const fake = "deadbeef"
	for _, path := range []string{"cold", "ttl expiry", "current deleted", "access denied on first attempt"} {
		t.Run(path, func(t *testing.T) {
			st, cf, res := orgStack(t, genA)
			clock := time.Now()
			res.Now = func() time.Time { return clock }
			a := st.genBucket(genA)
			f := st.genBucket(fake) // the member administrator's
			want := a
			switch path {
			case "ttl expiry":
				if _, err := res.Bucket(st.ctx, "555555555555", "us-east-1", "quarantine-555555555555"); err != nil {
					t.Fatal(err)
				}
				cf.set(aws.String(stackID(genB)), nil)
				want = st.genBucket(genB)
				clock = clock.Add(16 * time.Minute)
			case "current deleted":
				if _, err := st.s3c.DeleteBucket(st.ctx, &s3.DeleteBucketInput{Bucket: aws.String(a)}); err != nil {
					t.Fatal(err)
				}
				want = ""
			case "access denied on first attempt":
				st.remed.Engine = deniedBucket{Mover: st.remed.Engine, bucket: a}
				want = ""
			}
			id := st.autoFinding("attack/fake-" + strings.ReplaceAll(path, " ", "-") + ".txt")
			j := <-st.queue
			st.remed.Run(st.ctx, j) // an error means: retried as is
			r := st.rec(id)
			if st.copies(f) != 0 {
				t.Fatalf("a copy went to the member's fake generation bucket %s: %s in %q", f, r.Status, r.QuarantineBucket)
			}
			if want != "" {
				if r.Status != ledger.Quarantined || r.QuarantineBucket != want {
					t.Fatalf("%s in %q, want QUARANTINED in %s (%s)", r.Status, r.QuarantineBucket, want, r.Error)
				}
				return
			}
			if !st.exists("data-bucket", r.Key, r.VersionID) || r.Status == ledger.Quarantined || strings.Contains(r.QuarantineBucket, fake) {
				t.Fatalf("with the current bucket unusable: %s in %q, source there %v (%s)", r.Status, r.QuarantineBucket, st.exists("data-bucket", r.Key, r.VersionID), r.Error)
			}
			if r.Status == ledger.Failed && !strings.Contains(r.Error, a) {
				t.Fatalf("the failure does not name the bucket %s: %s", a, r.Error)
			}
		})
	}
}

// The lookup itself is refused (the remediator's role lacks cloudformation:DescribeStackInstance,
// or the security account is no longer the StackSets delegated administrator): no retry can fix
// it. The finding must reach a person with a reason that names the permission, not only "no
// progress after N re-drives".
func TestAttackOrgLookupDeniedReachesAPerson(t *testing.T) {
	st, cf, _ := orgStack(t, genA)
	st.genBucket(genA)
	cf.set(nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:sts::999988887777:assumed-role/remediator/x is not authorized to perform: cloudformation:DescribeStackInstance"})
	id := st.autoFinding("attack/lookup-denied.txt")
	run := func() {
		for len(st.queue) > 0 {
			j := <-st.queue
			for i := 0; i < 10; i++ { // SQS: maxReceiveCount, then the dead-letter queue
				if st.remed.Run(st.ctx, j) == nil {
					break
				}
			}
		}
	}
	run()
	for i := 1; i <= MaxRedrives+1 && st.rec(id).Status == ledger.Queued; i++ {
		st.sweepAt(time.Duration(i) * (StaleAfter + time.Minute))
		run()
	}
	r := st.rec(id)
	if r.Status != ledger.Failed || !strings.Contains(r.Error, "cloudformation:DescribeStackInstance") || !st.exists("data-bucket", r.Key, r.VersionID) {
		t.Fatalf("a denied lookup ended %s: %q", r.Status, r.Error)
	}
}
