package stack

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// autoDeploy does what the StackSet's automatic deployment does when Organizations reports an
// account in a target OU: deploy the member template there in every region of the StackSet's
// instances, once. deployed remembers the accounts it covered.
func (e *motoOrg) autoDeploy(org *organizations.Client, deployed map[string]bool) []memberStack {
	e.t.Helper()
	var out []memberStack
	for _, ou := range e.cfg.Organization.OrganizationalUnits {
		accts, err := org.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(ou)})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, a := range accts.Accounts {
			id := aws.ToString(a.Id)
			if deployed[id] {
				continue
			}
			deployed[id] = true
			for _, r := range e.cfg.Organization.Regions {
				out = append(out, e.deployMember(id, r))
			}
		}
	}
	return out
}

// newAccountIn creates an account in moto's organization and moves it into ou.
func newAccountIn(t *testing.T, e *motoOrg, org *organizations.Client, root, ou, name string) string {
	t.Helper()
	ca, err := org.CreateAccount(e.ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := org.DescribeCreateAccountStatus(e.ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: ca.CreateAccountStatus.Id})
	if err != nil || st.CreateAccountStatus.State != orgtypes.CreateAccountStateSucceeded {
		t.Fatalf("create account %s: %v %+v", name, err, st)
	}
	id := aws.ToString(st.CreateAccountStatus.AccountId)
	if _, err := org.MoveAccount(e.ctx, &organizations.MoveAccountInput{AccountId: &id, SourceParentId: &root, DestinationParentId: &ou}); err != nil {
		t.Fatal(err)
	}
	return id
}

// An account created after `pulumi up`, in one of the OUs, is covered without a config change:
// the StackSet's automatic deployment (done here by autoDeploy, which moto does not do: moto has
// no StackSets auto-deployment) gives it the member stack from the template the program
// generated before the account existed; a Macie finding from it carries it as both the
// envelope's and the finding's account (the envelope check the finding-handler applies, with no
// member list: p18-central's handler test proves the handler's side); and the remediator's
// quarantine, by the org-wide role ARN pattern, moves its object through what the StackSet
// created there.
func TestOrganizationAccountCreatedLaterIsCoveredAndRemediated(t *testing.T) {
	e := startMoto(t)
	org := organizations.New(organizations.Options{Region: "us-east-1", Credentials: e.creds(e.root), BaseEndpoint: aws.String(e.endpoint)})
	if _, err := org.CreateOrganization(e.ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	roots, err := org.ListRoots(e.ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("roots: %v %+v", err, roots)
	}
	root := aws.ToString(roots.Roots[0].Id)
	var ous []string
	for _, n := range []string{"workloads", "sandbox"} {
		ou, err := org.CreateOrganizationalUnit(e.ctx, &organizations.CreateOrganizationalUnitInput{ParentId: &root, Name: aws.String(n)})
		if err != nil {
			t.Fatal(err)
		}
		ous = append(ous, aws.ToString(ou.OrganizationalUnit.Id))
	}
	existing := newAccountIn(t, e, org, root, ous[0], "payments-prod")

	// `pulumi up` in organization mode for the two OUs (moto's OU ids pass the config's check).
	setting, _ := json.Marshal(map[string]any{"organizationalUnits": ous, "regions": []string{"us-east-1"}})
	e.generate(string(setting))
	deployed := map[string]bool{}
	if got := e.autoDeploy(org, deployed); len(got) != 1 || got[0].account != existing {
		t.Fatalf("first deployment: %+v, want the one account in the OUs (%s)", got, existing)
	}

	// Next month: an account is created in the second OU. No config change, no new template.
	later := newAccountIn(t, e, org, root, ous[1], "analytics-new")
	stacks := e.autoDeploy(org, deployed)
	if len(stacks) != 1 || stacks[0].account != later {
		t.Fatalf("after the new account: deployed %+v, want %s only", stacks, later)
	}
	ms := stacks[0]
	o := e.putData(ms)

	// Macie's finding about the new account's object (a real event, its ids replaced).
	raw, err := os.ReadFile(filepath.Join("testdata", "macie-event-csv.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["account"] = later
	d := ev["detail"].(map[string]any)
	d["accountId"] = later
	d["region"] = ms.region
	ra := d["resourcesAffected"].(map[string]any)
	b := ra["s3Bucket"].(map[string]any)
	b["name"], b["arn"] = o.bucket, "arn:aws:s3:::"+o.bucket
	obj := ra["s3Object"].(map[string]any)
	obj["key"], obj["versionId"], obj["eTag"], obj["size"] = o.key, o.version, o.etag, len(o.body)
	obj["bucketArn"], obj["path"] = "arn:aws:s3:::"+o.bucket, o.bucket+"/"+o.key
	raw, _ = json.Marshal(ev)
	f, err := finding.Parse(raw)
	if err != nil {
		t.Fatalf("the new account's finding: %v", err)
	}
	if f.AccountID != later || f.EventAccount != later {
		t.Fatalf("finding account %s envelope %s, want both %s (the envelope check accepts a finding only from the account it is about)", f.AccountID, f.EventAccount, later)
	}
	// The remediator's role ARN for the new account is within the org-wide pattern
	// arn:aws:iam::*:role/<QuarantineRoleName> that the central side may assume.
	rc := quarantine.RoleClients{RoleName: QuarantineRoleName(e.cfg.Slug)}
	if ok, _ := path.Match("arn:aws:iam::*:role/"+QuarantineRoleName(e.cfg.Slug), rc.RoleARN(f.AccountID)); !ok {
		t.Errorf("role ARN %s is outside the org-wide pattern", rc.RoleARN(f.AccountID))
	}
	e.remediate(ms, "f-later", quarantine.Object{AccountID: f.AccountID, Region: f.Region, Bucket: f.BucketName(), Key: f.ObjectKey(), VersionID: f.VersionID(),
		ETag: o.etag, Size: int64(len(o.body))}, o.body)
}
