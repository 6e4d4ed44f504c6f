// Package policy owns the policy file (policies/<stack>.yaml): its strict loading, with every
// problem reported at file:line, and Decide, which turns a Macie finding into an action with a
// reason a human can read. The Lambdas, the CLI and the Pulumi program all load policies through
// this package, so a file that `pulumi preview` accepts is a file the functions accept.
//
// Policy findings (Policy:*, a bucket's settings relaxed) are decided like data findings, per
// type, within the limits of PolicyTypes (which types have a bucket remediation, which may be
// AUTO); the `bucketFixes:` block (BucketFixFor) says how those remediations are done. The S3
// side lives in shared/bucketfix, which this package does not import.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Action is what happens to a finding.
type Action string

// The four actions, in the order the policy file documents them.
const (
	Auto   Action = "AUTO"
	Review Action = "REVIEW"
	Notify Action = "NOTIFY"
	Ignore Action = "IGNORE"
)

// Actions lists the valid actions.
var Actions = []Action{Auto, Review, Notify, Ignore}

// Severities lists the valid minimum severities, lowest first (score 1..3).
var Severities = []string{"LOW", "MEDIUM", "HIGH"}

// DeleteModes lists the valid quarantine delete modes.
var DeleteModes = []string{"version", "all-versions"}

// KnownTypes are the finding types Macie documents. A type outside this list in a policy file is a
// warning, not an error, because Macie adds types.
var KnownTypes = []string{
	"SensitiveData:S3Object/Credentials",
	"SensitiveData:S3Object/CustomIdentifier",
	"SensitiveData:S3Object/Financial",
	"SensitiveData:S3Object/Multiple",
	"SensitiveData:S3Object/Personal",
	"Policy:IAMUser/S3BlockPublicAccessDisabled",
	"Policy:IAMUser/S3BucketEncryptionDisabled",
	"Policy:IAMUser/S3BucketPublic",
	"Policy:IAMUser/S3BucketReplicatedExternally",
	"Policy:IAMUser/S3BucketSharedExternally",
	"Policy:IAMUser/S3BucketSharedWithCloudFront",
}

// File is the policy file as written. Field names and yaml tags are the file format; the JSON
// Schema in policies/schema.json is kept in agreement with them by a test.
type File struct {
	Version  int                 `yaml:"version"`
	Defaults Settings            `yaml:"defaults"`
	Accounts map[string]Override `yaml:"accounts"`
}

// Settings is everything an organization tunes. In defaults every field applies to all accounts;
// in an account override, each field that is set replaces the default's.
type Settings struct {
	Actions     map[string]Action `yaml:"actions"`
	MinSeverity string            `yaml:"minSeverity"`
	Exclusions  *Exclusions       `yaml:"exclusions"`
	Approvers   *Approvers        `yaml:"approvers"`
	Slack       *Slack            `yaml:"slack"`
	Quarantine  *Quarantine       `yaml:"quarantine"`
	Digest      *Digest           `yaml:"digest"`
	BucketFixes *BucketFixes      `yaml:"bucketFixes"`
}

// Override is one account's section: an optional human name plus the settings it replaces.
type Override struct {
	Name     string `yaml:"name"`
	Settings `yaml:",inline"`
}

// Exclusions are findings nobody wants to hear about.
type Exclusions struct {
	Buckets     []string          `yaml:"buckets"`
	KeyPrefixes []string          `yaml:"keyPrefixes"`
	BucketTags  map[string]string `yaml:"bucketTags"`
}

// Approvers may press Remediate, Dismiss and Release.
type Approvers struct {
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
}

// Slack says where messages for the account go.
type Slack struct {
	Channel string `yaml:"channel"`
	// TeamID pins the Slack workspace whose clicks are accepted.
	TeamID string `yaml:"teamId"`
	// ShowKeys says how messages show object keys, which can carry personal data: full (the
	// default), masked (each path segment reduced to its first character, the extension kept),
	// or none.
	ShowKeys string `yaml:"showKeys"`
}

// ShowKeys values.
const (
	ShowKeysFull   = "full"
	ShowKeysMasked = "masked"
	ShowKeysNone   = "none"
)

// Quarantine says where quarantined objects go and what is left behind.
type Quarantine struct {
	// Bucket is a template: {account} and {region} are replaced by the finding's.
	Bucket        string `yaml:"bucket"`
	RetentionDays *int   `yaml:"retentionDays"`
	DeleteMode    string `yaml:"deleteMode"`
	Tombstone     *bool  `yaml:"tombstone"`
	KMSKeyID      string `yaml:"kmsKeyId"`
}

// Digest collapses bursts of findings into one Slack message.
type Digest struct {
	Threshold     *int `yaml:"threshold"`
	WindowSeconds *int `yaml:"windowSeconds"`
}

// Policy is a loaded, validated policy file.
type Policy struct {
	File
	// Source names the file for messages; Hash identifies its exact content in the ledger.
	Source string
	Hash   string
	// Warnings are problems that do not stop the policy from being used.
	Warnings []Problem
}

// QuarantineSettings are the effective quarantine settings of one decision.
type QuarantineSettings struct {
	Bucket        string `json:"bucket"`
	RetentionDays int    `json:"retentionDays"`
	DeleteMode    string `json:"deleteMode"`
	Tombstone     bool   `json:"tombstone"`
	KMSKeyID      string `json:"kmsKeyId,omitempty"`
}

// DigestSettings are the effective digest settings; a zero Threshold turns digests off.
type DigestSettings struct {
	Threshold     int `json:"threshold"`
	WindowSeconds int `json:"windowSeconds"`
}

// Account names an account as the policy knows it.
type Account struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// String is "111122223333 (payments)" or the bare id.
func (a Account) String() string {
	if a.Name == "" {
		return a.ID
	}
	return a.ID + " (" + a.Name + ")"
}

// Defaults applied when the file leaves a setting out.
const (
	DefaultQuarantineBucket = "macie-quarantine-{account}-{region}"
	DefaultRetentionDays    = 90
	DefaultDeleteMode       = "version"
	DefaultMinSeverity      = "LOW"
)

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// AccountIDs lists the accounts with overrides, sorted.
func (p *Policy) AccountIDs() []string {
	ids := make([]string, 0, len(p.Accounts))
	for id := range p.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// AccountName is the human name the policy gives an account, or "".
func (p *Policy) AccountName(id string) string {
	return p.Accounts[id].Name
}

// QuarantineFor returns the effective quarantine settings of an account in a region. The infra
// program uses it to create each member's bucket with the same name the remediator will use.
func (p *Policy) QuarantineFor(accountID, region string) QuarantineSettings {
	q := QuarantineSettings{Bucket: DefaultQuarantineBucket, RetentionDays: DefaultRetentionDays, DeleteMode: DefaultDeleteMode}
	apply := func(s *Quarantine) {
		if s == nil {
			return
		}
		if s.Bucket != "" {
			q.Bucket = s.Bucket
		}
		if s.RetentionDays != nil {
			q.RetentionDays = *s.RetentionDays
		}
		if s.DeleteMode != "" {
			q.DeleteMode = s.DeleteMode
		}
		if s.Tombstone != nil {
			q.Tombstone = *s.Tombstone
		}
		if s.KMSKeyID != "" {
			q.KMSKeyID = s.KMSKeyID
		}
	}
	apply(p.Defaults.Quarantine)
	if o, ok := p.Accounts[accountID]; ok {
		apply(o.Quarantine)
	}
	q.Bucket = renderBucket(q.Bucket, accountID, region)
	return q
}

// DigestFor returns the effective digest settings of an account.
func (p *Policy) DigestFor(accountID string) DigestSettings {
	var d DigestSettings
	apply := func(s *Digest) {
		if s == nil {
			return
		}
		if s.Threshold != nil {
			d.Threshold = *s.Threshold
		}
		if s.WindowSeconds != nil {
			d.WindowSeconds = *s.WindowSeconds
		}
	}
	apply(p.Defaults.Digest)
	if o, ok := p.Accounts[accountID]; ok {
		apply(o.Digest)
	}
	if d.Threshold > 0 && d.WindowSeconds == 0 {
		d.WindowSeconds = 60
	}
	return d
}

func renderBucket(tmpl, account, region string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tmpl, "{account}", account), "{region}", region)
}

// ApproversFor returns the effective approvers of an account: the override's list when it sets
// one, else the defaults'.
func (p *Policy) ApproversFor(accountID string) Approvers {
	if o, ok := p.Accounts[accountID]; ok && o.Approvers != nil {
		return *o.Approvers
	}
	if p.Defaults.Approvers != nil {
		return *p.Defaults.Approvers
	}
	return Approvers{}
}

// SlackFor returns the effective Slack settings of an account, field by field.
func (p *Policy) SlackFor(accountID string) Slack {
	var s Slack
	if p.Defaults.Slack != nil {
		s = *p.Defaults.Slack
	}
	if o, ok := p.Accounts[accountID]; ok && o.Slack != nil {
		if o.Slack.Channel != "" {
			s.Channel = o.Slack.Channel
		}
		if o.Slack.TeamID != "" {
			s.TeamID = o.Slack.TeamID
		}
		if o.Slack.ShowKeys != "" {
			s.ShowKeys = o.Slack.ShowKeys
		}
	}
	if s.ShowKeys == "" {
		s.ShowKeys = ShowKeysFull
	}
	return s
}

func (p *Policy) String() string { return fmt.Sprintf("policy %s (%s)", p.Source, p.Hash) }
