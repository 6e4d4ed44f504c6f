package handlers

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/functions/internal/orgbucket"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/naming"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// stableInstances is moto's CloudFormation as the resolver sees it, with one moto gap closed:
// moto 5.2.1 builds a new random StackId on every DescribeStackInstance (StackInstance.to_dict
// calls generate_stack_id), where AWS answers an instance's one StackId for its whole life. It
// keeps the first answer per account and region until forget (the test replaced the instance).
// The request, moto's answer and its StackId format are real.
type stableInstances struct {
	api   *cloudformation.Client
	mu    sync.Mutex
	seen  map[string]*cloudformation.DescribeStackInstanceOutput
	calls int
}

func (s *stableInstances) DescribeStackInstance(ctx context.Context, in *cloudformation.DescribeStackInstanceInput, o ...func(*cloudformation.Options)) (*cloudformation.DescribeStackInstanceOutput, error) {
	s.mu.Lock()
	s.calls++
	k := aws.ToString(in.StackInstanceAccount) + "/" + aws.ToString(in.StackInstanceRegion)
	out, ok := s.seen[k]
	s.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := s.api.DescribeStackInstance(ctx, in, o...)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.seen[k] = out
	s.mu.Unlock()
	return out, nil
}

func (s *stableInstances) forget(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, account+"/us-east-1")
}

// orgMotoWorld is an organization in moto: an OU with two accounts, the member StackSet
// (service-managed) targeted at it in us-east-1, and moto's S3 as every account's S3.
type orgMotoWorld struct {
	st       *stack
	cf       *cloudformation.Client
	ou       string
	accounts []string
	insts    *stableInstances
	resolver *orgbucket.Resolver
	now      time.Time
}

func newOrgMotoWorld(t *testing.T) *orgMotoWorld {
	moto := testenv.SharedMoto(t)
	creds := aws.Credentials{AccessKeyID: testenv.MotoCredentials.AccessKey, SecretAccessKey: testenv.MotoCredentials.SecretKey}
	st, remed := baseStack(t, testPolicy, moto.Endpoint, creds)
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		BaseEndpoint: aws.String(moto.Endpoint)}
	w := &orgMotoWorld{st: st, cf: cloudformation.NewFromConfig(cfg), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ctx := st.ctx
	oc := organizations.NewFromConfig(cfg)
	if _, err := oc.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	roots, err := oc.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	root := aws.ToString(roots.Roots[0].Id)
	ou, err := oc.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{Name: aws.String("workloads"), ParentId: aws.String(root)})
	if err != nil {
		t.Fatal(err)
	}
	w.ou = aws.ToString(ou.OrganizationalUnit.Id)
	accounts := map[string]aws.Credentials{}
	for _, name := range []string{"w1", "w2"} {
		out, err := oc.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		if _, err := oc.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: aws.String(root), DestinationParentId: aws.String(w.ou)}); err != nil {
			t.Fatal(err)
		}
		w.accounts = append(w.accounts, id)
		accounts[id] = creds // moto's S3 is one account: it stands in for each member's
	}
	if _, err := w.cf.CreateStackSet(ctx, &cloudformation.CreateStackSetInput{StackSetName: aws.String(orgStackSet), PermissionModel: cftypes.PermissionModelsServiceManaged,
		TemplateBody:   aws.String(`{"Resources":{"Placeholder":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}`),
		AutoDeployment: &cftypes.AutoDeployment{Enabled: aws.Bool(true), RetainStacksOnAccountRemoval: aws.Bool(false)}, CallAs: cftypes.CallAsDelegatedAdmin}); err != nil {
		t.Fatal(err)
	}
	w.deploy()
	for _, b := range []string{"data-bucket"} {
		st.mustBucket(b, true)
	}
	w.insts = &stableInstances{api: w.cf, seen: map[string]*cloudformation.DescribeStackInstanceOutput{}}
	// moto ignores CallAs (its CreateStackInstances docs say so); DELEGATED_ADMIN is what the
	// security account sends.
	w.resolver = &orgbucket.Resolver{API: w.insts, StackSet: orgStackSet, CallAs: cftypes.CallAsDelegatedAdmin, Now: func() time.Time { return w.now }}
	remed.Engine = quarantine.New(&quarantine.StaticClients{Endpoint: moto.Endpoint, Accounts: accounts}, quarantine.Options{})
	remed.OrgBuckets = w.resolver
	st.remed = remed
	return w
}

// deploy targets the OU: every account in it gets an instance (auto-deployment does the same
// for an account that joins).
func (w *orgMotoWorld) deploy() {
	if _, err := w.cf.CreateStackInstances(w.st.ctx, &cloudformation.CreateStackInstancesInput{StackSetName: aws.String(orgStackSet),
		DeploymentTargets: &cftypes.DeploymentTargets{OrganizationalUnitIds: []string{w.ou}}, Regions: []string{"us-east-1"}, CallAs: cftypes.CallAsDelegatedAdmin}); err != nil {
		w.st.t.Fatal(err)
	}
}

// leaveAndReturn replaces account's instance: it leaves the OUs (its instance deleted, its
// bucket retained) and comes back (a new instance, a new StackId).
func (w *orgMotoWorld) leaveAndReturn(account string) {
	// moto reads Accounts, not DeploymentTargets, for a delete.
	if _, err := w.cf.DeleteStackInstances(w.st.ctx, &cloudformation.DeleteStackInstancesInput{StackSetName: aws.String(orgStackSet),
		Accounts: []string{account}, Regions: []string{"us-east-1"}, RetainStacks: aws.Bool(false)}); err != nil {
		w.st.t.Fatal(err)
	}
	w.insts.forget(account)
	w.deploy()
}

// stackBucket is what the account's current instance's stack created: the quarantine bucket of
// its generation, versioned. It reads the instance the way the remediator does.
func (w *orgMotoWorld) stackBucket(account string, create bool) string {
	out, err := w.insts.DescribeStackInstance(w.st.ctx, &cloudformation.DescribeStackInstanceInput{StackSetName: aws.String(orgStackSet),
		StackInstanceAccount: aws.String(account), StackInstanceRegion: aws.String("us-east-1"), CallAs: cftypes.CallAsDelegatedAdmin})
	if err != nil {
		w.st.t.Fatal(err)
	}
	gen, err := naming.Generation(aws.ToString(out.StackInstance.StackId))
	if err != nil {
		w.st.t.Fatalf("moto's StackId: %v", err)
	}
	b := naming.OrgQuarantineBucket("quarantine-"+account, gen)
	if create {
		w.st.mustBucket(b, true)
	}
	return b
}

func (w *orgMotoWorld) quarantine(account, key string) ledger.Record {
	st := w.st
	ev := st.upload("event-eventbridge-csv.json", key, []byte("AKIA"+key), func(d map[string]any) {
		d["type"] = "SensitiveData:S3Object/Credentials"
		d["accountId"] = account
	})
	st.process(ev)
	st.drain()
	return st.rec("local-" + strings.ReplaceAll(key, "/", "-"))
}

func (w *orgMotoWorld) holds(r ledger.Record, bucket string) bool {
	_, err := w.st.s3c.HeadObject(w.st.ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(r.QuarantineKey), VersionId: aws.String(r.QuarantineVersion)})
	return r.Status == ledger.Quarantined && r.QuarantineBucket == bucket && err == nil
}

// TestOrgQuarantineOnMoto: organization mode end to end on moto's Organizations,
// CloudFormation StackSets and S3. An account's quarantine lands in its instance's generation
// bucket; the account leaves and comes back (a new instance): its next quarantine lands in the
// new bucket, by design once the container's TTL has passed (the retained bucket still
// exists), and at once when the bucket the container knew is gone (NoSuchBucket).
func TestOrgQuarantineOnMoto(t *testing.T) {
	w := newOrgMotoWorld(t)
	a1, a2 := w.accounts[0], w.accounts[1]

	gen1 := w.stackBucket(a1, true)
	if r := w.quarantine(a1, "org/first.txt"); !w.holds(r, gen1) {
		t.Fatalf("first: %s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
	}

	// a1 leaves and comes back: its first bucket is retained (and still exists), a new one is made.
	w.leaveAndReturn(a1)
	gen2 := w.stackBucket(a1, true)
	if gen2 == gen1 {
		t.Fatal("the new instance has the old generation")
	}
	w.now = w.now.Add(orgbucket.DefaultTTL)
	if r := w.quarantine(a1, "org/second.txt"); !w.holds(r, gen2) {
		t.Fatalf("after the return: %s in %q, want %s (%s)", r.Status, r.QuarantineBucket, gen2, r.Error)
	}

	// a2: a warm container knows its first generation, whose bucket is gone by the time the
	// account is back (emptied and deleted by a person); within the TTL, NoSuchBucket alone
	// sends the move to the new one.
	old := w.stackBucket(a2, false)
	if b, err := w.resolver.Bucket(w.st.ctx, a2, "us-east-1", "quarantine-"+a2); err != nil || b != old {
		t.Fatalf("warm: %q %v", b, err)
	}
	w.leaveAndReturn(a2)
	cur := w.stackBucket(a2, true)
	if r := w.quarantine(a2, "org/third.txt"); !w.holds(r, cur) {
		t.Fatalf("after NoSuchBucket: %s in %q, want %s (%s)", r.Status, r.QuarantineBucket, cur, r.Error)
	}

}
