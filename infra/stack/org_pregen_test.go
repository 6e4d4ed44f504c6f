package stack

import (
	"testing"
)

// preGenerationDecisions are the IAM decision table's rows for the quarantine bucket and key
// that an organization account's stack created before stack instances carried a generation:
// the policy's names (<bucket>, alias/macie-chatops-<stack>-quarantine). The StackSet update
// that added the generation changed the bucket's and alias's names, which CloudFormation does by
// replacement, and the template's UpdateReplacePolicy Retain kept the old bucket (with its copies
// and its bucket policy) and the old key and alias. A copy quarantined there before the update
// must still be releasable by the (unchanged) quarantine role, and the bucket-settings role must
// still never change that bucket.
func preGenerationDecisions(t *testing.T) []decision {
	t.Helper()
	const acct = "210987654321"
	in, cfg, _ := standaloneInstance(t, acct)
	docOf := in.doc
	res := in.res
	rolePol := []Document{in.rolePolicy(LogicalQuarantineRole)}
	keyPol := docOf(res(LogicalQuarantineKey, "KeyPolicy"))
	bsPol := []Document{in.rolePolicy(LogicalBucketSettingsRole)}
	// The retained bucket's policy is what the template said before generations: the same
	// documents with the policy's name, which is what they give a site without a generation.
	preSite := ExplicitSite(acct, "us-east-1", "")
	preBucket := QuarantineBucketFor(cfg, preSite).Name
	prePol := QuarantineBucketPolicyAt(cfg, preSite)
	if preBucket != cfg.Policy.QuarantineFor(acct, "us-east-1").Bucket {
		t.Fatalf("the pre-generation bucket %q is not the policy's name", preBucket)
	}
	role := "arn:aws:iam::" + acct + ":role/" + QuarantineRoleName("dev")
	bs := "arn:aws:iam::" + acct + ":role/" + BucketSettingsRoleName("dev")
	object := "arn:aws:s3:::" + preBucket + "/" + acct + "/customer-uploads/card-numbers.csv"
	key := "arn:aws:kms:us-east-1:" + acct + ":key/5a5a5a5a-pre-generation"
	ctx := func(p string, kv ...any) map[string]any {
		c := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": acct, "aws:PrincipalArn": p, "s3:ResourceAccount": acct}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	w := "StackSet quarantine role, pre-generation "
	return []decision{
		{who: w + "bucket", principal: role, action: "s3:ListBucketVersions", resource: "arn:aws:s3:::" + preBucket, account: acct, context: ctx(role), identity: rolePol, resourcePolicy: &prePol, want: "Allowed",
			guard: []mut{{"identity", "QuarantineBuckets", "drop"}, {"identity", "DataBuckets", "drop"}}},
		{who: w + "bucket", principal: role, action: "s3:GetObjectVersion", resource: object, account: acct, context: ctx(role), identity: rolePol, resourcePolicy: &prePol, want: "Allowed",
			guard: []mut{{"identity", "QuarantineObjects", "drop"}, {"identity", "DataObjects", "drop"}}},
		{who: w + "bucket", principal: role, action: "s3:DeleteObjectVersion", resource: object, account: acct, context: ctx(role), identity: rolePol, resourcePolicy: &prePol, want: "Allowed",
			guard: []mut{{"identity", "QuarantineObjects", "drop"}, {"identity", "DataObjects", "drop"}}},
		{who: w + "key", principal: role, action: "kms:Decrypt", resource: key, account: acct, context: ctx(role, "kms:ResourceAliases", []string{QuarantineKeyAlias(cfg.Slug)}), identity: rolePol, resourcePolicy: &keyPol, want: "Allowed",
			guard: []mut{{"identity", "Keys", "drop"}}},
		{who: "StackSet bucket-settings role, pre-generation bucket", principal: bs, action: "s3:PutReplicationConfiguration", resource: "arn:aws:s3:::" + preBucket, account: acct, context: ctx(bs), identity: bsPol, resourcePolicy: &prePol, want: "Denied",
			guard: []mut{{"identity", "NeverQuarantineBuckets", "drop"}, {"resource", "DenyBucketSettingsRoles", "drop"}}},
	}
}
