package finding

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const policyFixtures = "../testdata/macie-policy"

// TestPolicyFixturesParse: every policy-finding fixture (the real one and the constructed ones)
// parses, validates without an object, and gives its API call, actor and exposure.
func TestPolicyFixturesParse(t *testing.T) {
	type want struct {
		typ, api, actorType, who, ip, domain, public string
		sev                                          int
		bucketBlockOn, policyPublicRead              bool
	}
	cases := map[string]want{
		"../macie/event-eventbridge-policy-encryption-disabled-COMPLETED.json": {typ: "S3BucketEncryptionDisabled", api: "DeleteBucketEncryption", public: "NOT_PUBLIC", sev: 1},
		"constructed-policy-S3BlockPublicAccessDisabled.json": {typ: "S3BlockPublicAccessDisabled", api: "DeletePublicAccessBlock", actorType: IdentityIAMUser,
			who: "arn:aws:iam::123456789012:user/jdoe", ip: "198.51.100.24", public: "NOT_PUBLIC", sev: 3},
		"constructed-policy-S3BucketPublic.json": {typ: "S3BucketPublic", api: "PutBucketPolicy", actorType: IdentityAssumedRole,
			who: "arn:aws:sts::123456789012:assumed-role/DataEngineer/jdoe", ip: "203.0.113.7", public: "PUBLIC", sev: 3, policyPublicRead: true},
		"constructed-policy-S3BucketReplicatedExternally.json": {typ: "S3BucketReplicatedExternally", api: "PutBucketReplication", actorType: IdentityFederatedUser,
			who: "arn:aws:sts::123456789012:federated-user/build-bot", ip: "192.0.2.44", public: "NOT_PUBLIC", sev: 3, bucketBlockOn: true},
		"constructed-policy-S3BucketSharedExternally.json": {typ: "S3BucketSharedExternally", api: "PutBucketPolicy", actorType: IdentityRoot,
			who: "arn:aws:iam::123456789012:root", ip: "198.51.100.77", domain: "example.com", public: "NOT_PUBLIC", sev: 3, bucketBlockOn: true},
		"constructed-policy-S3BucketSharedWithCloudFront.json": {typ: "S3BucketSharedWithCloudFront", api: "PutBucketPolicy", actorType: IdentityAWSService,
			who: "cloudformation.amazonaws.com", domain: "cloudformation.amazonaws.com", public: "NOT_PUBLIC", sev: 2, bucketBlockOn: true},
	}
	files, _ := filepath.Glob(filepath.Join(policyFixtures, "*.json"))
	if len(files) != len(cases)-1 {
		t.Fatalf("found %d constructed fixtures, the table has %d: add the new file to the table", len(files), len(cases)-1)
	}
	for name, w := range cases {
		t.Run(filepath.Base(name), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(policyFixtures, name))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Validate(); err != nil {
				t.Fatalf("a policy finding without s3Object must validate: %v", err)
			}
			if f.Type != "Policy:IAMUser/"+w.typ || !f.IsPolicy() || f.Object != nil || f.Severity.Level() != w.sev {
				t.Fatalf("type %s object %v severity %+v", f.Type, f.Object, f.Severity)
			}
			pd := f.PolicyDetails
			if pd == nil || pd.API != w.api || pd.APIServiceName != "s3.amazonaws.com" || pd.ActionType != "AWS_API_CALL" ||
				pd.FirstSeen.IsZero() || pd.LastSeen.Before(pd.FirstSeen) {
				t.Fatalf("policyDetails %+v", pd)
			}
			if w.actorType == "" {
				if f.Actor() != nil {
					t.Fatalf("actor null must be nil, got %+v", f.Actor())
				}
			} else {
				a := f.Actor()
				if a == nil || a.User == nil || a.User.Type != w.actorType || a.User.Who() != w.who || a.IPAddress != w.ip || a.Domain != w.domain {
					t.Fatalf("actor %+v user %+v", a, a.User)
				}
			}
			b := f.Bucket
			if b.EffectivePermission != w.public || b.Name == "" {
				t.Fatalf("bucket %+v", b)
			}
			if w.actorType != "" {
				if b.PublicAccess == nil || b.PublicAccess.BucketBlock.AllOn() != w.bucketBlockOn ||
					b.PublicAccess.PolicyAllowsPublicRead != w.policyPublicRead || b.AllowsUnencryptedObjectUploads != "FALSE" {
					t.Fatalf("exposure %+v %+v", b.PublicAccess, b)
				}
			}
		})
	}
}

func TestUserIdentityEveryType(t *testing.T) {
	cases := []struct {
		name, json, typ, who string
		check                func(*UserIdentity) bool
	}{
		{"iamUser", `{"type":"IAMUser","iamUser":{"accountId":"111122223333","arn":"arn:aws:iam::111122223333:user/a","principalId":"AIDA1","userName":"a"}}`,
			IdentityIAMUser, "arn:aws:iam::111122223333:user/a", func(u *UserIdentity) bool { return u.UserName == "a" && u.AccountID == "111122223333" }},
		{"assumedRole", `{"type":"AssumedRole","assumedRole":{"accessKeyId":"ASIA1","accountId":"111122223333","arn":"arn:aws:sts::111122223333:assumed-role/R/s","principalId":"AROA1:s",
			"sessionContext":{"attributes":{"mfaAuthenticated":true},"sessionIssuer":{"arn":"arn:aws:iam::111122223333:role/R","userName":"R","type":"Role"}}}}`,
			IdentityAssumedRole, "arn:aws:sts::111122223333:assumed-role/R/s", func(u *UserIdentity) bool {
				return u.SessionIssuerARN == "arn:aws:iam::111122223333:role/R" && u.SessionIssuerName == "R" && u.MFAAuthenticated && u.AccessKeyID == "ASIA1"
			}},
		{"federatedUser", `{"type":"FederatedUser","federatedUser":{"accountId":"111122223333","arn":"arn:aws:sts::111122223333:federated-user/f","principalId":"111122223333:f"}}`,
			IdentityFederatedUser, "arn:aws:sts::111122223333:federated-user/f", nil},
		{"root", `{"type":"Root","root":{"accountId":"111122223333","arn":"arn:aws:iam::111122223333:root","principalId":"111122223333"}}`,
			IdentityRoot, "arn:aws:iam::111122223333:root", nil},
		{"awsService", `{"type":"AWSService","awsService":{"invokedBy":"cloudtrail.amazonaws.com"}}`,
			IdentityAWSService, "cloudtrail.amazonaws.com", nil},
		{"awsAccount", `{"type":"AWSAccount","awsAccount":{"accountId":"444455556666","principalId":"AIDA9"}}`,
			IdentityAWSAccount, "AIDA9 in account 444455556666", nil},
		// Without type, the nested key names it.
		{"no type", `{"awsAccount":{"accountId":"444455556666"}}`, IdentityAWSAccount, "account 444455556666", nil},
		// A type this version does not know keeps its name, and the nested key still says who.
		{"future type", `{"type":"IdentityCenterUser","iamUser":{"userName":"x"}}`, "IdentityCenterUser", "x", nil},
		// type names one key, another is present: the named one wins when present, else any.
		{"type and other key", `{"type":"Root","iamUser":{"userName":"u"},"root":{"accountId":"111122223333"}}`, IdentityRoot, "account 111122223333", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse([]byte(policyEvent(`{"action":null,"actor":{"userIdentity":` + c.json + `}}`)))
			if err != nil {
				t.Fatal(err)
			}
			u := f.Actor().User
			if u == nil || u.Type != c.typ || u.Who() != c.who || f.Actor().Who() != c.who {
				t.Fatalf("%+v", u)
			}
			if c.check != nil && !c.check(u) {
				t.Fatalf("fields: %+v", u)
			}
		})
	}
}

func policyEvent(policyDetails string) string {
	return `{"id":"p1","accountId":"111122223333","region":"eu-west-1","type":"Policy:IAMUser/S3BucketPublic",
	"severity":{"score":3,"description":"High"},"createdAt":"2024-01-01T00:00:00Z",
	"resourcesAffected":{"s3Bucket":{"name":"b"},"s3Object":null},"policyDetails":` + policyDetails + `}`
}

// TestPolicyDetailsToleratesOddShapes: null, missing keys and values of another shape leave the
// field empty; the finding still parses, validates and keeps its other fields.
func TestPolicyDetailsToleratesOddShapes(t *testing.T) {
	cases := []struct {
		name, pd string
		api      string
		who      string
	}{
		{"null", `null`, "", ""},
		{"string", `"weird"`, "", ""},
		{"array", `[1,2]`, "", ""},
		{"empty", `{}`, "", ""},
		{"actor string", `{"action":{"apiCallDetails":{"api":"PutBucketAcl"}},"actor":"someone"}`, "PutBucketAcl", ""},
		{"apiCallDetails array", `{"action":{"apiCallDetails":[]},"actor":{"ipAddressDetails":{"ipAddressV4":"192.0.2.1"}}}`, "", "192.0.2.1"},
		{"times odd", `{"action":{"apiCallDetails":{"api":7,"firstSeen":12345,"lastSeen":null}}}`, "7", ""},
		{"userIdentity array", `{"action":{"apiCallDetails":{"api":"X"}},"actor":{"userIdentity":[],"domainDetails":{"domainName":"example.com"}}}`, "X", "example.com"},
		{"ipCountry string", `{"actor":{"ipAddressDetails":{"ipAddressV4":"192.0.2.9","ipCountry":"US","ipCity":null,"ipOwner":3}}}`, "", "192.0.2.9"},
		{"nested nulls", `{"action":{"actionType":null,"apiCallDetails":null},"actor":{"userIdentity":{"type":null,"iamUser":null},"ipAddressDetails":null,"domainDetails":null}}`, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse([]byte(policyEvent(c.pd)))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Validate(); err != nil {
				t.Fatal(err)
			}
			if f.BucketName() != "b" || f.Severity.Level() != SeverityHigh || f.CreatedAt.IsZero() {
				t.Fatalf("other fields lost: %+v", f)
			}
			var api string
			if f.PolicyDetails != nil {
				api = f.PolicyDetails.API
				if !f.PolicyDetails.FirstSeen.IsZero() && c.name == "times odd" {
					t.Fatal("numeric firstSeen read as a time")
				}
			}
			if api != c.api || f.Actor().Who() != c.who {
				t.Fatalf("api %q who %q", api, f.Actor().Who())
			}
		})
	}
}

func TestBucketExposureReplicationAndSharedAccess(t *testing.T) {
	f, err := Parse([]byte(`{"id":"p2","accountId":"111122223333","type":"Policy:IAMUser/S3BucketReplicatedExternally","severity":{"score":3},
	"resourcesAffected":{"s3Bucket":{"name":"b","sharedAccess":"EXTERNAL","replicationDetails":{"replicated":true,"replicatedExternally":"TRUE",
	"replicationAccounts":["444455556666",null,""]},"publicAccess":{"effectivePermission":"UNKNOWN","permissionConfiguration":null}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	b := f.Bucket
	if b.SharedAccess != "EXTERNAL" || b.Replication == nil || !b.Replication.Replicated || !b.Replication.ReplicatedExternally ||
		strings.Join(b.Replication.Accounts, ",") != "444455556666" || b.PublicAccess != nil || b.EffectivePermission != "UNKNOWN" {
		t.Fatalf("%+v %+v", b, b.Replication)
	}
	if f.PolicyDetails != nil || f.Actor() != nil {
		t.Fatal("absent policyDetails must be nil")
	}
}

// A sensitive-data finding still needs its object; a policy finding does not.
func TestValidateObjectOnlyForDataFindings(t *testing.T) {
	pol, _ := Parse([]byte(policyEvent(`null`)))
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	data := strings.Replace(policyEvent(`null`), "Policy:IAMUser/S3BucketPublic", "SensitiveData:S3Object/Personal", 1)
	f, _ := Parse([]byte(data))
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "s3Object.key") {
		t.Fatalf("want s3Object.key error, got %v", err)
	}
}
