package policy

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// BucketFixes is the `bucketFixes:` block of the policy file (defaults or an account override):
// how policy findings are remediated. In an override each field that is set replaces the
// default's, field by field.
type BucketFixes struct {
	Encryption *EncryptionFix `yaml:"encryption"`
	Flapping   *Flapping      `yaml:"flapping"`
}

// EncryptionFix is the default encryption an S3BucketEncryptionDisabled remediation sets.
type EncryptionFix struct {
	// Algorithm is "AES256" (SSE-S3) or "aws:kms" (SSE-KMS, which needs KMSKeyID).
	Algorithm string `yaml:"algorithm"`
	// KMSKeyID is a key ARN, alias ARN or "alias/name" for aws:kms.
	KMSKeyID  string `yaml:"kmsKeyId"`
	BucketKey *bool  `yaml:"bucketKey"`
}

// Flapping says when a bucket that keeps being re-opened stops being fixed automatically: after
// Count remediations of the same bucket within WindowSeconds, the next one goes to REVIEW.
type Flapping struct {
	Count         *int `yaml:"count"`
	WindowSeconds *int `yaml:"windowSeconds"`
}

// Encryption algorithms a bucket fix may set.
const (
	AlgorithmAES256 = "AES256"
	AlgorithmKMS    = "aws:kms"
)

// Defaults of the bucketFixes block.
const (
	DefaultFlappingCount  = 3
	DefaultFlappingWindow = 24 * time.Hour
)

// BucketFix is the effective bucket-remediation settings of one account.
type BucketFix struct {
	Encryption BucketEncryption `json:"encryption"`
	Flapping   FlappingSettings `json:"flapping"`
}

// BucketEncryption is the default encryption to set. Its fields are those of bucketfix.Encryption
// (same names, types and order), so the flow converts one to the other with a plain conversion
// without this package importing the S3 side.
type BucketEncryption struct {
	Algorithm string `json:"algorithm"`
	KMSKeyID  string `json:"kmsKeyId,omitempty"`
	BucketKey bool   `json:"bucketKey"`
}

// FlappingSettings: after Count remediations of one bucket within Window, the next is REVIEW.
type FlappingSettings struct {
	Count  int           `json:"count"`
	Window time.Duration `json:"window"`
}

// BucketFixFor returns an account's effective bucket-fix settings: the defaults' bucketFixes,
// then the account's, field by field; what neither sets is SSE-S3 (AES256, bucket key on) and
// flapping after DefaultFlappingCount in DefaultFlappingWindow.
func (p *Policy) BucketFixFor(accountID string) BucketFix {
	bf := BucketFix{
		Encryption: BucketEncryption{Algorithm: AlgorithmAES256, BucketKey: true},
		Flapping:   FlappingSettings{Count: DefaultFlappingCount, Window: DefaultFlappingWindow},
	}
	apply := func(s *BucketFixes) {
		if s == nil {
			return
		}
		if e := s.Encryption; e != nil {
			if e.Algorithm != "" {
				bf.Encryption.Algorithm = e.Algorithm
				if e.Algorithm == AlgorithmAES256 {
					bf.Encryption.KMSKeyID = "" // a key from the defaults does not apply to SSE-S3
				}
			}
			if e.KMSKeyID != "" {
				bf.Encryption.KMSKeyID = e.KMSKeyID
			}
			if e.BucketKey != nil {
				bf.Encryption.BucketKey = *e.BucketKey
			}
		}
		if f := s.Flapping; f != nil {
			if f.Count != nil {
				bf.Flapping.Count = *f.Count
			}
			if f.WindowSeconds != nil {
				bf.Flapping.Window = time.Duration(*f.WindowSeconds) * time.Second
			}
		}
	}
	apply(p.Defaults.BucketFixes)
	if o, ok := p.Accounts[accountID]; ok {
		apply(o.BucketFixes)
	}
	return bf
}

// PolicyType is one row of the policy-finding table: what remediation a Policy:* type has and
// which actions the policy may give it.
type PolicyType struct {
	Type string `json:"type"`
	// Kind is the bucket-fix kind that remediates the type (one of the Kind* constants, the
	// strings of shared/bucketfix.Kind), or "" when it has none.
	Kind string `json:"kind,omitempty"`
	// Remediation says in words what a remediation changes, or why there is none.
	Remediation string `json:"remediation"`
	// Remediable: the type has a bucket change (AUTO and REVIEW run it); false: the message only
	// shows the finding (REVIEW offers no change, only acknowledgement).
	Remediable bool `json:"remediable"`
	// MayAuto: the validator accepts AUTO for the type.
	MayAuto bool `json:"mayAuto"`
}

// PolicyTypes is the table of the six documented policy-finding types.
var PolicyTypes = []PolicyType{
	{"Policy:IAMUser/S3BlockPublicAccessDisabled", KindBlockPublicAccess, "turn on all four bucket-level Block Public Access settings", true, true},
	{"Policy:IAMUser/S3BucketPublic", KindBlockPublicAccess, "turn on all four bucket-level Block Public Access settings (blocks public ACLs and policies without deleting them, so it is reversible)", true, true},
	{"Policy:IAMUser/S3BucketEncryptionDisabled", KindDefaultEncryption, "set default encryption to bucketFixes.encryption", true, true},
	{"Policy:IAMUser/S3BucketReplicatedExternally", KindExternalReplication, "disable only the replication rules whose destination is outside the organization", true, false},
	{"Policy:IAMUser/S3BucketSharedExternally", "", "none: the message shows who the bucket is shared with; remove the grant by hand", false, false},
	{"Policy:IAMUser/S3BucketSharedWithCloudFront", "", "none: the message shows who the bucket is shared with; review the CloudFront access by hand", false, false},
}

// PolicyTypeFor returns the table row of a policy-finding type; false for data findings and for
// Policy:* types this version does not know.
func PolicyTypeFor(findingType string) (PolicyType, bool) {
	for _, t := range PolicyTypes {
		if t.Type == findingType {
			return t, true
		}
	}
	return PolicyType{}, false
}

// The bucket-fix kinds: the strings of shared/bucketfix.Kind, which this package does not
// import (a test there checks that both name the same kinds for the same types).
const (
	KindBlockPublicAccess   = "block-public-access"
	KindDefaultEncryption   = "default-encryption"
	KindExternalReplication = "external-replication"
)

// BucketFixKindsFor returns the bucket-fix kinds an account's effective actions enable, sorted:
// the kind of each remediable Policy:* type whose action (the account's override over the
// defaults, exact types over patterns, as Decide chooses it) is AUTO or REVIEW. An account the
// file does not list gets the defaults' (the security account and members named only in the
// stack config are often not listed). The infra program deploys an account's bucket-settings
// role, with the permissions of exactly these kinds, only when the list is not empty.
func (p *Policy) BucketFixKindsFor(accountID string) []string {
	o, has := p.Accounts[accountID]
	var kinds []string
	for _, t := range PolicyTypes {
		if t.Kind == "" || slices.Contains(kinds, t.Kind) {
			continue
		}
		a, rule, _ := p.rule(t.Type, o, has, Account{ID: accountID})
		if rule != "" && (a == Auto || a == Review) {
			kinds = append(kinds, t.Kind)
		}
	}
	slices.Sort(kinds)
	return kinds
}

// EnablesBucketFixes reports whether the policy can ever run a bucket remediation: some listed
// account, or the defaults (what every unlisted account gets), enables a bucket-fix kind
// (BucketFixKindsFor).
func (p *Policy) EnablesBucketFixes() bool {
	// "" stands for an unlisted account: the defaults alone (the validator refuses it as an id).
	for _, id := range append([]string{""}, p.AccountIDs()...) {
		if len(p.BucketFixKindsFor(id)) > 0 {
			return true
		}
	}
	return false
}

// kmsKeyRef is a KMS key ARN, an alias ARN or "alias/name": what PutBucketEncryption accepts
// and a person can read. A bare key id is refused: it is easy to paste from the wrong account.
var kmsKeyRef = regexp.MustCompile(`^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)|alias/[A-Za-z0-9/_-]+)$`)

// policyAction refuses actions the policy-finding table does not allow for a type named
// exactly, and warns when a pattern's AUTO reaches types that may not be AUTO (Decide gives
// those REVIEW, so the pattern keeps working).
func (v *validator) policyAction(p []string, pattern string, action Action) {
	if pt, ok := PolicyTypeFor(pattern); ok {
		if action == Auto && !pt.MayAuto {
			if pt.Remediable {
				v.fail(p, "%s may not be AUTO: its remediation (%s) needs a person's approval; use REVIEW (or NOTIFY)", shortType(pattern), pt.Remediation)
			} else {
				v.fail(p, "%s may not be AUTO: it has no remediation (%s); use NOTIFY or REVIEW", shortType(pattern), pt.Remediation)
			}
		}
		return
	}
	if action != Auto || !strings.HasSuffix(pattern, "*") {
		return
	}
	var capped []string
	for _, pt := range PolicyTypes {
		if !pt.MayAuto && matchLen(pattern, pt.Type) >= 0 {
			capped = append(capped, shortType(pt.Type))
		}
	}
	if len(capped) > 0 {
		v.warn(p, "pattern %q: AUTO does not apply to %s (they may not be AUTO), which get REVIEW; name them with REVIEW or NOTIFY to say so", pattern, strings.Join(capped, ", "))
	}
}

func (v *validator) bucketFixes(p []string, b *BucketFixes) {
	if b == nil {
		return
	}
	at := func(k ...string) []string { return append(append([]string{}, p...), k...) }
	if e := b.Encryption; e != nil {
		switch e.Algorithm {
		case "", AlgorithmAES256, AlgorithmKMS:
		default:
			v.fail(at("encryption", "algorithm"), "%q is not an algorithm; choose AES256 (SSE-S3) or aws:kms (SSE-KMS, with kmsKeyId)", e.Algorithm)
		}
		if e.KMSKeyID != "" && !kmsKeyRef.MatchString(e.KMSKeyID) {
			v.fail(at("encryption", "kmsKeyId"), "%q is not a KMS key ARN, alias ARN or alias/name (e.g. \"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\" or \"alias/s3-default\")", e.KMSKeyID)
		}
		if e.Algorithm == AlgorithmAES256 && e.KMSKeyID != "" {
			v.fail(at("encryption", "kmsKeyId"), "a key is only used with algorithm aws:kms; remove kmsKeyId or set algorithm: aws:kms")
		}
	}
	if f := b.Flapping; f != nil {
		if f.Count != nil && *f.Count < 1 {
			v.fail(at("flapping", "count"), "%d: the count must be at least 1 (remediations of one bucket before the next goes to REVIEW)", *f.Count)
		}
		if f.WindowSeconds != nil && *f.WindowSeconds < 1 {
			v.fail(at("flapping", "windowSeconds"), "%d: the window must be at least 1 second (e.g. 86400 for a day)", *f.WindowSeconds)
		}
	}
}

// effectiveEncryption checks the encryption an account ends up with (its block over the
// defaults'): aws:kms needs a key from one of them.
func (v *validator) effectiveEncryption(p []string, defaults, own *BucketFixes) {
	if own == nil || own.Encryption == nil {
		return
	}
	alg, key := "", ""
	for _, b := range []*BucketFixes{defaults, own} {
		if b == nil || b.Encryption == nil {
			continue
		}
		if b.Encryption.Algorithm != "" {
			alg = b.Encryption.Algorithm
			if alg == AlgorithmAES256 {
				key = ""
			}
		}
		if b.Encryption.KMSKeyID != "" {
			key = b.Encryption.KMSKeyID
		}
	}
	at := append(append([]string{}, p...), "bucketFixes", "encryption")
	switch {
	case alg == AlgorithmKMS && key == "":
		v.fail(at, "algorithm aws:kms needs kmsKeyId (a key ARN, alias ARN or alias/name); without it S3 would use the AWS managed key aws/s3, which other accounts cannot be granted")
	case alg != AlgorithmKMS && own.Encryption.KMSKeyID != "" && own.Encryption.Algorithm != AlgorithmAES256:
		v.fail(append(at, "kmsKeyId"), "a key is only used with algorithm aws:kms; the effective algorithm here is AES256: remove kmsKeyId or set algorithm: aws:kms")
	}
}
