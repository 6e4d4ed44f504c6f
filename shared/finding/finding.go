// Package finding owns the Amazon Macie finding model: it parses what Macie sends (EventBridge
// "Macie Finding" events, bare GetFindings objects, console exports and JSON Lines files of them)
// into typed values, and validates that a finding carries what the system needs to act on it.
//
// Parsing is deliberately tolerant: real findings omit fields, send null, or change a field's
// shape between schema versions, and none of that may crash or reject a finding we could still
// act on. Validation is where the system says no, naming the field.
package finding

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Severity levels on Macie's 1..3 scale.
const (
	SeverityLow    = 1
	SeverityMedium = 2
	SeverityHigh   = 3
)

// Finding is the part of a Macie finding the system uses.
type Finding struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"accountId"`
	Region      string    `json:"region"`
	Partition   string    `json:"partition"`
	Type        string    `json:"type"`
	Category    string    `json:"category"`
	Severity    Severity  `json:"severity"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	Archived    bool      `json:"archived"`
	Sample      bool      `json:"sample"`
	Count       int64     `json:"count"`
	Title       string    `json:"title"`
	Description string    `json:"description"`

	Classification *Classification `json:"classificationDetails,omitempty"`
	Bucket         *Bucket         `json:"s3Bucket,omitempty"`
	Object         *Object         `json:"s3Object,omitempty"`
	// PolicyDetails is set on Policy:* findings (nil on sensitive-data findings, which have none).
	PolicyDetails *PolicyDetails `json:"policyDetails,omitempty"`

	// EventAccount is the envelope's account when the finding came in an EventBridge event. After
	// cross-account forwarding it is the central account, so it is never used to pick a role.
	EventAccount string `json:"eventAccount,omitempty"`
}

// Severity is Macie's severity: a 1..3 score and its name.
type Severity struct {
	Score       int    `json:"score"`
	Description string `json:"description"`
}

// Level returns the severity on the 1..3 scale, preferring the name Macie gives, or 0 when
// neither the name nor the score is one Macie defines.
func (s Severity) Level() int {
	switch strings.ToLower(strings.TrimSpace(s.Description)) {
	case "low":
		return SeverityLow
	case "medium":
		return SeverityMedium
	case "high":
		return SeverityHigh
	}
	if s.Description == "" && s.Score >= SeverityLow && s.Score <= SeverityHigh {
		return s.Score
	}
	return 0
}

// LevelName is the canonical upper-case name of a 1..3 level.
func LevelName(level int) string {
	switch level {
	case SeverityLow:
		return "LOW"
	case SeverityMedium:
		return "MEDIUM"
	case SeverityHigh:
		return "HIGH"
	}
	return "UNKNOWN"
}

// Classification is what a sensitive-data discovery job found in the object.
type Classification struct {
	JobID                 string          `json:"jobId,omitempty"`
	JobArn                string          `json:"jobArn,omitempty"`
	OriginType            string          `json:"originType,omitempty"`
	MimeType              string          `json:"mimeType,omitempty"`
	SensitiveData         []SensitiveData `json:"sensitiveData,omitempty"`
	CustomDataIdentifiers CustomDataIDs   `json:"customDataIdentifiers"`
}

// SensitiveData is one category of managed data identifiers with its detections.
type SensitiveData struct {
	Category   string      `json:"category"`
	TotalCount int64       `json:"totalCount"`
	Detections []Detection `json:"detections,omitempty"`
}

// Detection is one data type (or custom identifier) and how often it occurred.
type Detection struct {
	Type  string `json:"type,omitempty"`
	Name  string `json:"name,omitempty"`
	Arn   string `json:"arn,omitempty"`
	Count int64  `json:"count"`
}

// CustomDataIDs is what the job's custom data identifiers found.
type CustomDataIDs struct {
	TotalCount int64       `json:"totalCount"`
	Detections []Detection `json:"detections,omitempty"`
}

// Bucket is resourcesAffected.s3Bucket.
type Bucket struct {
	Name                        string     `json:"name"`
	Arn                         string     `json:"arn,omitempty"`
	DefaultServerSideEncryption Encryption `json:"defaultServerSideEncryption"`
	EffectivePermission         string     `json:"effectivePermission,omitempty"`
	// The bucket's exposure as Macie saw it when it raised the finding.
	// AllowsUnencryptedObjectUploads is "TRUE", "FALSE", "UNKNOWN" or "" (older findings).
	AllowsUnencryptedObjectUploads string `json:"allowsUnencryptedObjectUploads,omitempty"`
	// PublicAccess is publicAccess.permissionConfiguration; nil when Macie sent none.
	PublicAccess *BucketPublicAccess `json:"publicAccess,omitempty"`
	// SharedAccess is "EXTERNAL", "INTERNAL", "NOT_SHARED", "UNKNOWN" or "" when not given.
	SharedAccess string `json:"sharedAccess,omitempty"`
	// Replication is replicationDetails; nil when the finding does not carry it.
	Replication *Replication `json:"replication,omitempty"`
	Tags        []Tag        `json:"tags,omitempty"`
	Owner       *BucketOwner `json:"owner,omitempty"`
}

// BucketOwner is the bucket owner's canonical user, kept for display only: its id is a canonical
// user id, never an account id, so it never selects a role.
type BucketOwner struct {
	ID          string `json:"id,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// Object is resourcesAffected.s3Object.
type Object struct {
	Key                  string     `json:"key"`
	Path                 string     `json:"path,omitempty"`
	VersionID            string     `json:"versionId,omitempty"`
	ETag                 string     `json:"eTag,omitempty"`
	Size                 int64      `json:"size"`
	StorageClass         string     `json:"storageClass,omitempty"`
	ServerSideEncryption Encryption `json:"serverSideEncryption"`
	Tags                 []Tag      `json:"tags,omitempty"`
	PublicAccess         bool       `json:"publicAccess,omitempty"`
}

// Encryption is a server-side encryption setting.
type Encryption struct {
	EncryptionType string `json:"encryptionType,omitempty"`
	KMSMasterKeyID string `json:"kmsMasterKeyId,omitempty"`
}

// Tag is an S3 tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// IsSensitiveData reports whether the finding is about data inside an object (as opposed to a
// policy finding about a bucket's configuration).
func (f *Finding) IsSensitiveData() bool {
	return strings.HasPrefix(f.Type, "SensitiveData:")
}

// BucketName is the affected bucket's name, or "" for findings without one.
func (f *Finding) BucketName() string {
	if f.Bucket == nil {
		return ""
	}
	return f.Bucket.Name
}

// ObjectKey is the affected object's key, or "".
func (f *Finding) ObjectKey() string {
	if f.Object == nil {
		return ""
	}
	return f.Object.Key
}

// VersionID is the affected object's version, or "" when Macie did not record one.
func (f *Finding) VersionID() string {
	if f.Object == nil {
		return ""
	}
	return f.Object.VersionID
}

// BucketTag returns the value of a bucket tag and whether it is set.
func (f *Finding) BucketTag(key string) (string, bool) {
	if f.Bucket == nil {
		return "", false
	}
	for _, t := range f.Bucket.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// FieldError says which field made a finding unusable.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidationError lists every problem of one finding.
type ValidationError struct {
	FindingID string
	Problems  []*FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	id := e.FindingID
	if id == "" {
		id = "(no id)"
	}
	return fmt.Sprintf("finding %s cannot be acted on: %s", id, strings.Join(parts, "; "))
}

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Validate rejects what the system cannot act on, naming each field.
func (f *Finding) Validate() error {
	var probs []*FieldError
	add := func(field, problem string) { probs = append(probs, &FieldError{field, problem}) }
	if strings.TrimSpace(f.ID) == "" {
		add("id", "missing; every Macie finding has one, so this is not a Macie finding")
	}
	if !IsAccountID(f.AccountID) {
		add("accountId", fmt.Sprintf("%q is not a 12-digit AWS account id", f.AccountID))
	}
	if f.Type == "" {
		add("type", "missing")
	}
	if f.Severity.Level() == 0 {
		add("severity", fmt.Sprintf("unknown severity (score %d, description %q); Macie uses Low(1), Medium(2), High(3)",
			f.Severity.Score, f.Severity.Description))
	}
	if f.IsSensitiveData() {
		if f.BucketName() == "" {
			add("resourcesAffected.s3Bucket.name", "missing on a sensitive-data finding; there is no object to act on")
		}
		if f.ObjectKey() == "" {
			add("resourcesAffected.s3Object.key", "missing on a sensitive-data finding; there is no object to act on")
		}
		if f.Region == "" {
			add("region", "missing on a sensitive-data finding; the object cannot be located")
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return &ValidationError{FindingID: f.ID, Problems: probs}
}

// ConsoleURL links to the finding in the Macie console of its region.
func (f *Finding) ConsoleURL() string { return ConsoleURL(f.Partition, f.Region, f.ID) }

// ConsoleURL links to a finding, by id, in the Macie console of its partition and region.
func ConsoleURL(partition, region, id string) string {
	host := "console.aws.amazon.com"
	switch partition {
	case "aws-us-gov":
		host = "console.amazonaws-us-gov.com"
	case "aws-cn":
		host = "console.amazonaws.cn"
	}
	if region == "" {
		region = "us-east-1"
	}
	id, region = url.QueryEscape(id), url.QueryEscape(region)
	return fmt.Sprintf("https://%s/macie/home?region=%s#findings?search=id%%3D%s&macros=current&itemId=%s", host, region, id, id)
}
