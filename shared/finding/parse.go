package finding

import (
	"bytes"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"strconv"
	"strings"
	"time"
)

// ErrNotMacieFinding is returned for JSON that is valid but is not a Macie finding (another
// EventBridge source, a Macie Classic "Macie Alert", or an object without finding fields).
var ErrNotMacieFinding = errors.New("not a Macie finding")

// Parse reads one Macie finding from either an EventBridge event (the finding is in "detail") or
// a bare finding object as GetFindings and the console export give it.
//
// It decodes in one pass: the envelope's fields and a bare finding's fields share one struct, and
// a field of an unexpected shape is left at its zero value (encoding/json skips it and reports an
// UnmarshalTypeError, which is not a reason to drop the finding).
func Parse(data []byte) (*Finding, error) {
	if c := firstByte(data); c != '{' {
		if !json.Valid(data) {
			return nil, fmt.Errorf("invalid JSON: %w", jsonErr(data, json.Unmarshal(data, new(any))))
		}
		return nil, fmt.Errorf("%w: want a JSON object (an EventBridge event or a finding)", ErrNotMacieFinding)
	}
	var doc rawDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("invalid JSON: %w", jsonErr(data, err))
		}
	}
	if doc.DetailType != nil || (doc.Detail != nil && doc.Source != "") {
		return fromEvent(&doc)
	}
	return fromRaw(&doc.rawFinding, "")
}

// rawDocument is an EventBridge envelope and a bare finding at once; which one it was is told by
// the presence of detail-type.
type rawDocument struct {
	rawFinding
	Source     flexString  `json:"source"`
	DetailType *flexString `json:"detail-type"`
	Account    flexString  `json:"account"`
	Detail     *rawFinding `json:"detail"`
}

func fromEvent(doc *rawDocument) (*Finding, error) {
	var detailType string
	if doc.DetailType != nil {
		detailType = string(*doc.DetailType)
	}
	if doc.Source != "aws.macie" || detailType != "Macie Finding" {
		hint := ""
		if detailType == "Macie Alert" {
			hint = " (this is a retired Macie Classic alert; only Amazon Macie \"Macie Finding\" events are handled)"
		}
		return nil, fmt.Errorf("%w: event source %q, detail-type %q; want source \"aws.macie\", detail-type \"Macie Finding\"%s",
			ErrNotMacieFinding, doc.Source, detailType, hint)
	}
	if doc.Detail == nil {
		return nil, fmt.Errorf("%w: event has no detail", ErrNotMacieFinding)
	}
	return fromRaw(doc.Detail, string(doc.Account))
}

func fromRaw(r *rawFinding, eventAccount string) (*Finding, error) {
	if r.ID == "" && r.Type == "" && r.AccountID == "" {
		return nil, fmt.Errorf("%w: object has none of id, type, accountId", ErrNotMacieFinding)
	}
	f := &Finding{
		ID:           string(r.ID),
		AccountID:    string(r.AccountID),
		Region:       string(r.Region),
		Partition:    string(r.Partition),
		Type:         string(r.Type),
		Category:     string(r.Category),
		CreatedAt:    time.Time(r.CreatedAt),
		UpdatedAt:    time.Time(r.UpdatedAt),
		Archived:     bool(r.Archived),
		Sample:       bool(r.Sample),
		Count:        int64(r.Count),
		Title:        string(r.Title),
		Description:  string(r.Description),
		EventAccount: eventAccount,
	}
	if r.Severity != nil {
		f.Severity = Severity{Score: int(r.Severity.Score), Description: string(r.Severity.Description)}
	}
	if f.Partition == "" {
		f.Partition = "aws"
	}
	if c := r.ClassificationDetails; c != nil {
		cl := &Classification{JobID: string(c.JobID), JobArn: string(c.JobArn), OriginType: string(c.OriginType)}
		if res := c.Result; res != nil {
			cl.MimeType = string(res.MimeType)
			for _, sd := range res.SensitiveData {
				if sd == nil {
					continue
				}
				cl.SensitiveData = append(cl.SensitiveData, SensitiveData{
					Category: string(sd.Category), TotalCount: int64(sd.TotalCount), Detections: detections(sd.Detections),
				})
			}
			if cd := res.CustomDataIdentifiers; cd != nil {
				cl.CustomDataIdentifiers = CustomDataIDs{TotalCount: int64(cd.TotalCount), Detections: detections(cd.Detections)}
			}
		}
		f.Classification = cl
	}
	if ra := r.ResourcesAffected; ra != nil {
		if b := ra.S3Bucket; b != nil {
			f.Bucket = &Bucket{
				Name: string(b.Name), Arn: string(b.Arn),
				DefaultServerSideEncryption: b.DefaultServerSideEncryption.value(),
				Tags:                        []Tag(b.Tags),
			}
			f.Bucket.AllowsUnencryptedObjectUploads = string(b.AllowsUnencryptedObjectUploads)
			f.Bucket.SharedAccess = string(b.SharedAccess)
			if b.PublicAccess != nil {
				f.Bucket.EffectivePermission = string(b.PublicAccess.EffectivePermission)
				f.Bucket.PublicAccess = b.PublicAccess.PermissionConfiguration.value()
			}
			if rd := b.ReplicationDetails; rd != nil {
				f.Bucket.Replication = &Replication{Replicated: bool(rd.Replicated), ReplicatedExternally: bool(rd.ReplicatedExternally)}
				for _, a := range rd.ReplicationAccounts {
					if a != "" {
						f.Bucket.Replication.Accounts = append(f.Bucket.Replication.Accounts, string(a))
					}
				}
			}
			if b.Owner != nil {
				f.Bucket.Owner = &BucketOwner{ID: string(b.Owner.ID), DisplayName: string(b.Owner.DisplayName)}
			}
		}
		if o := ra.S3Object; o != nil {
			f.Object = &Object{
				Key: string(o.Key), Path: string(o.Path), VersionID: string(o.VersionID),
				ETag: string(o.ETag), Size: int64(o.Size), StorageClass: string(o.StorageClass),
				ServerSideEncryption: o.ServerSideEncryption.value(), Tags: []Tag(o.Tags),
				PublicAccess: bool(o.PublicAccess),
			}
			// Some exports carry only the path "bucket/key"; recover what they omit.
			if f.Object.Key == "" && f.Object.Path != "" {
				if i := strings.IndexByte(f.Object.Path, '/'); i > 0 {
					f.Object.Key = f.Object.Path[i+1:]
					if f.Bucket == nil {
						f.Bucket = &Bucket{Name: f.Object.Path[:i]}
					}
				}
			}
		}
	}
	f.PolicyDetails = r.PolicyDetails.value()
	return f, nil
}

func detections(in []*rawDetection) []Detection {
	var out []Detection
	for _, d := range in {
		if d == nil {
			continue
		}
		out = append(out, Detection{Type: string(d.Type), Name: string(d.Name), Arn: string(d.Arn), Count: int64(d.Count)})
	}
	return out
}

// rawFinding mirrors the wire shape with lenient field types.
type rawFinding struct {
	ID                    flexString    `json:"id"`
	AccountID             flexString    `json:"accountId"`
	Region                flexString    `json:"region"`
	Partition             flexString    `json:"partition"`
	Type                  flexString    `json:"type"`
	Category              flexString    `json:"category"`
	Severity              *rawSeverity  `json:"severity"`
	CreatedAt             flexTime      `json:"createdAt"`
	UpdatedAt             flexTime      `json:"updatedAt"`
	Archived              flexBool      `json:"archived"`
	Sample                flexBool      `json:"sample"`
	Count                 flexInt       `json:"count"`
	Title                 flexString    `json:"title"`
	Description           flexString    `json:"description"`
	ClassificationDetails *rawClassif   `json:"classificationDetails"`
	ResourcesAffected     *rawResources `json:"resourcesAffected"`
	PolicyDetails         *rawPolicy    `json:"policyDetails"`
}

type rawSeverity struct {
	Score       flexInt    `json:"score"`
	Description flexString `json:"description"`
}

type rawClassif struct {
	JobID      flexString `json:"jobId"`
	JobArn     flexString `json:"jobArn"`
	OriginType flexString `json:"originType"`
	Result     *rawResult `json:"result"`
}

type rawResult struct {
	MimeType              flexString          `json:"mimeType"`
	SensitiveData         []*rawSensitiveData `json:"sensitiveData"`
	CustomDataIdentifiers *rawCustom          `json:"customDataIdentifiers"`
}

type rawSensitiveData struct {
	Category   flexString      `json:"category"`
	TotalCount flexInt         `json:"totalCount"`
	Detections []*rawDetection `json:"detections"`
}

type rawCustom struct {
	TotalCount flexInt         `json:"totalCount"`
	Detections []*rawDetection `json:"detections"`
}

type rawDetection struct {
	Type  flexString `json:"type"`
	Name  flexString `json:"name"`
	Arn   flexString `json:"arn"`
	Count flexInt    `json:"count"`
}

type rawResources struct {
	S3Bucket *rawBucket `json:"s3Bucket"`
	S3Object *rawObject `json:"s3Object"`
}

type rawBucket struct {
	Name                           flexString      `json:"name"`
	Arn                            flexString      `json:"arn"`
	DefaultServerSideEncryption    *rawEncryption  `json:"defaultServerSideEncryption"`
	PublicAccess                   *rawPublic      `json:"publicAccess"`
	Owner                          *rawOwner       `json:"owner"`
	Tags                           flexTags        `json:"tags"`
	AllowsUnencryptedObjectUploads flexString      `json:"allowsUnencryptedObjectUploads"`
	SharedAccess                   flexString      `json:"sharedAccess"`
	ReplicationDetails             *rawReplication `json:"replicationDetails"`
}

type rawPublic struct {
	EffectivePermission     flexString        `json:"effectivePermission"`
	PermissionConfiguration *rawPermissionCfg `json:"permissionConfiguration"`
}

type rawOwner struct {
	ID          flexString `json:"id"`
	DisplayName flexString `json:"displayName"`
}

type rawObject struct {
	Key                  flexString     `json:"key"`
	Path                 flexString     `json:"path"`
	VersionID            flexString     `json:"versionId"`
	ETag                 flexString     `json:"eTag"`
	Size                 flexInt        `json:"size"`
	StorageClass         flexString     `json:"storageClass"`
	ServerSideEncryption *rawEncryption `json:"serverSideEncryption"`
	PublicAccess         flexBool       `json:"publicAccess"`
	Tags                 flexTags       `json:"tags"`
}

type rawEncryption struct {
	EncryptionType flexString `json:"encryptionType"`
	KMSMasterKeyID flexString `json:"kmsMasterKeyId"`
}

func (r *rawEncryption) value() Encryption {
	if r == nil {
		return Encryption{}
	}
	return Encryption{EncryptionType: string(r.EncryptionType), KMSMasterKeyID: string(r.KMSMasterKeyID)}
}

func firstByte(b []byte) byte {
	// A loop, not bytes.TrimLeft: this runs for every field of every finding.
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// flexString accepts a string, number or bool; null and other shapes are "".
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		*s = flexString(bytes.TrimSpace(b))
	default:
		*s = ""
	}
	return nil
}

// flexBool accepts true/false, "TRUE"/"false" strings and null (false).
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case 't':
		*v = true
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = flexBool(strings.EqualFold(s, "true"))
	default:
		*v = false
	}
	return nil
}

// flexInt accepts a number (integer or float) or a numeric string; anything else is 0.
type flexInt int64

func (v *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*v = flexInt(n)
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= -9e18 && f <= 9e18 {
		*v = flexInt(int64(f))
		return nil
	}
	*v = 0
	return nil
}

// flexTime accepts RFC 3339 with or without fractional seconds; anything else is the zero time.
type flexTime time.Time

func (t *flexTime) UnmarshalJSON(b []byte) error {
	var s string
	if firstByte(b) != '"' || json.Unmarshal(b, &s) != nil {
		*t = flexTime{}
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05.999999"} {
		if v, err := time.Parse(layout, s); err == nil {
			*t = flexTime(v.UTC())
			return nil
		}
	}
	*t = flexTime{}
	return nil
}

// flexTags accepts [{"key":..,"value":..}] (Macie) and {"k":"v"} maps; anything else is empty.
type flexTags []Tag

func (t *flexTags) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case '[':
		var raw []struct {
			Key   flexString `json:"key"`
			Value flexString `json:"value"`
		}
		if json.Unmarshal(b, &raw) != nil {
			*t = nil
			return nil
		}
		out := make(flexTags, 0, len(raw))
		for _, r := range raw {
			out = append(out, Tag{Key: string(r.Key), Value: string(r.Value)})
		}
		*t = out
	case '{':
		var m map[string]flexString
		if json.Unmarshal(b, &m) != nil {
			*t = nil
			return nil
		}
		out := make(flexTags, 0, len(m))
		for k, v := range m {
			out = append(out, Tag{Key: k, Value: string(v)})
		}
		*t = out
	default:
		*t = nil
	}
	return nil
}

// jsonErr adds a line number to a JSON syntax error.
func jsonErr(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := lineOf(data, int(se.Offset))
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}
