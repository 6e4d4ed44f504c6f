package finding

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fixtures = "../testdata/macie"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEveryJSONFixtureParsesAndValidates(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.json"))
	if len(files) < 10 {
		t.Fatalf("want the 10 JSON fixtures, found %d", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, _ := os.ReadFile(path)
			f, err := Parse(data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := f.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if f.ID == "" || f.AccountID == "" || f.Type == "" || f.CreatedAt.IsZero() {
				t.Fatalf("core fields missing: %+v", f)
			}
		})
	}
}

func TestNonJSONFixturesAreRejectedClearly(t *testing.T) {
	_, err := Parse(readFixture(t, "eventbridge-envelope-policy-TRUNCATED-not-json.txt"))
	if err == nil || !strings.Contains(err.Error(), "invalid JSON") || !strings.Contains(err.Error(), "line ") {
		t.Fatalf("truncated envelope: want invalid JSON with a line, got %v", err)
	}
	items := ReadAll(readFixture(t, "macie-classic-alert-TEMPLATE-not-json.txt"))
	if len(items) != 1 || items[0].Err == nil {
		t.Fatalf("classic template: want one error item, got %+v", items)
	}
	// The classic alert in valid JSON form is refused as a non-finding, by name.
	classic := `{"version":"0","detail-type":"Macie Alert","source":"aws.macie","account":"111122223333","detail":{"name":"x"}}`
	_, err = Parse([]byte(classic))
	if !errors.Is(err, ErrNotMacieFinding) || !strings.Contains(err.Error(), "Macie Classic") {
		t.Fatalf("classic alert: got %v", err)
	}
}

func TestEventFieldsTyped(t *testing.T) {
	f, err := Parse(readFixture(t, "event-eventbridge-csv.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id": "00000000000000000000000000000001", "account": "555555555555", "region": "us-east-1",
		"partition": "aws", "type": "SensitiveData:S3Object/Multiple", "category": "CLASSIFICATION",
		"bucket": "DOC-EXAMPLE-BUCKET1", "key": "macie-workshop/sample-data.csv", "etag": "00000000000000000000000000000000",
		"storage": "STANDARD", "sse": "AES256", "job": "55555555555555555555555555555555",
	}
	got := map[string]string{
		"id": f.ID, "account": f.AccountID, "region": f.Region, "partition": f.Partition, "type": f.Type,
		"category": f.Category, "bucket": f.BucketName(), "key": f.ObjectKey(), "etag": f.Object.ETag,
		"storage": f.Object.StorageClass, "sse": f.Object.ServerSideEncryption.EncryptionType, "job": f.Classification.JobID,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if f.Severity.Level() != SeverityHigh || f.Object.Size != 4750 || f.Count != 1 {
		t.Errorf("severity/size/count: %+v %d %d", f.Severity, f.Object.Size, f.Count)
	}
	if !f.CreatedAt.Equal(time.Date(2021, 10, 25, 23, 25, 4, 250e6, time.UTC)) {
		t.Errorf("createdAt = %v", f.CreatedAt)
	}
	if len(f.Classification.SensitiveData) != 2 || f.Classification.SensitiveData[1].TotalCount != 136 ||
		f.Classification.SensitiveData[0].Detections[0].Type != "CREDIT_CARD_NUMBER" {
		t.Errorf("sensitive data: %+v", f.Classification.SensitiveData)
	}
	if f.Bucket.EffectivePermission != "NOT_PUBLIC" {
		t.Errorf("publicAccess: %q", f.Bucket.EffectivePermission)
	}
}

func TestForwardedEventKeepsObjectAccount(t *testing.T) {
	f, err := Parse(readFixture(t, "event-forwarded-central-bus-path-with-spaces.json"))
	if err != nil {
		t.Fatal(err)
	}
	if f.AccountID != "555555555555" || f.EventAccount != "999988887777" {
		t.Fatalf("account %q, envelope %q", f.AccountID, f.EventAccount)
	}
	if f.Bucket.Owner == nil || f.Bucket.Owner.ID == f.AccountID || IsAccountID(f.Bucket.Owner.ID) {
		t.Fatalf("owner id must stay a canonical id, distinct from the account: %+v", f.Bucket.Owner)
	}
	if f.ObjectKey() != "macie-workshop/sample-data with spaces.csv" {
		t.Fatalf("key %q", f.ObjectKey())
	}
}

func TestPolicyFindingHasNoObject(t *testing.T) {
	f, err := Parse(readFixture(t, "event-eventbridge-policy-encryption-disabled-COMPLETED.json"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Object != nil || f.Classification != nil || f.IsSensitiveData() || f.Severity.Level() != SeverityLow {
		t.Fatalf("%+v", f)
	}
	if f.CreatedAt.IsZero() {
		t.Fatal("timestamp without milliseconds not parsed")
	}
}

func TestToleratesOddShapes(t *testing.T) {
	odd := `{"id":"x1","accountId":123456789012,"region":"eu-west-1","type":"SensitiveData:S3Object/Personal",
	"severity":{"score":"2","description":null},"archived":"FALSE","sample":null,"count":"3","createdAt":"not a time",
	"classificationDetails":"weird","resourcesAffected":{"s3Bucket":{"name":"b","tags":{"env":"prod"},"publicAccess":null,
	"defaultServerSideEncryption":null},"s3Object":{"key":"k","size":1.5e3,"publicAccess":null,"tags":null,
	"serverSideEncryption":{"encryptionType":"aws:kms"}}}}`
	f, err := Parse([]byte(odd))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if f.AccountID != "123456789012" || f.Severity.Level() != SeverityMedium || f.Count != 3 || f.Object.Size != 1500 {
		t.Fatalf("%+v", f)
	}
	if v, ok := f.BucketTag("env"); !ok || v != "prod" {
		t.Fatal("map-shaped tags lost")
	}
}

func TestValidationNamesTheField(t *testing.T) {
	cases := []struct{ json, field string }{
		{`{"accountId":"123456789012","type":"Policy:IAMUser/S3BucketPublic","severity":{"score":1}}`, "id:"},
		{`{"id":"a","accountId":"1234","type":"Policy:IAMUser/S3BucketPublic","severity":{"score":1}}`, "accountId:"},
		{`{"id":"a","accountId":"123456789012","type":"Policy:IAMUser/S3BucketPublic","severity":{"description":"Critical"}}`, "severity:"},
		{`{"id":"a","accountId":"123456789012","region":"us-east-1","type":"SensitiveData:S3Object/Personal","severity":{"score":3},"resourcesAffected":{"s3Bucket":{"name":"b"}}}`, "resourcesAffected.s3Object.key:"},
		{`{"id":"a","accountId":"123456789012","region":"us-east-1","type":"SensitiveData:S3Object/Personal","severity":{"score":3},"resourcesAffected":{"s3Object":{"key":"k"}}}`, "resourcesAffected.s3Bucket.name:"},
	}
	for _, c := range cases {
		f, err := Parse([]byte(c.json))
		if err != nil {
			t.Fatalf("%s: parse: %v", c.field, err)
		}
		err = f.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("want error naming %s, got %v", c.field, err)
		}
	}
}

func TestReadAllShapes(t *testing.T) {
	csv := readFixture(t, "finding-getfindings-csv.json")
	cdi := readFixture(t, "finding-getfindings-cdi.json")
	compact := func(b []byte) string { return strings.Join(strings.Fields(string(b)), " ") }
	jsonl := compact(csv) + "\n{broken\n\n" + compact(cdi) + "\n"
	items := ReadAll([]byte(jsonl))
	if len(items) != 3 || items[0].Err != nil || items[2].Err != nil || items[1].Err == nil || items[1].Line != 2 || items[2].Line != 4 {
		t.Fatalf("jsonl items: %+v", items)
	}
	if !strings.Contains(items[1].Err.Error(), "line 2") {
		t.Fatalf("bad line not named: %v", items[1].Err)
	}
	arr := "[" + string(csv) + "," + string(cdi) + "]"
	if items := ReadAll([]byte(arr)); len(items) != 2 || items[1].Finding.Type != "SensitiveData:S3Object/CustomIdentifier" {
		t.Fatalf("array: %+v", items)
	}
	resp := `{"findings":[` + string(csv) + `]}`
	if items := ReadAll([]byte(resp)); len(items) != 1 || items[0].Err != nil {
		t.Fatalf("GetFindings response: %+v", items)
	}
	if items := ReadAll(readFixture(t, "finding-getfindings-parquet.json")); len(items) != 1 || items[0].Err != nil || items[0].Line != 2 {
		t.Fatalf("leading blank line: %+v", items)
	}
	if items := ReadAll(nil); len(items) != 1 || items[0].Err == nil {
		t.Fatal("empty input accepted")
	}
}

func TestConsoleURL(t *testing.T) {
	f := &Finding{ID: "abc", Region: "eu-central-1", Partition: "aws"}
	if u := f.ConsoleURL(); !strings.HasPrefix(u, "https://console.aws.amazon.com/macie/home?region=eu-central-1#findings") || !strings.Contains(u, "abc") {
		t.Fatal(u)
	}
}
