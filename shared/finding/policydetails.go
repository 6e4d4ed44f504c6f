package finding

import (
	"strings"
	"time"
)

// PolicyDetails is policyDetails of a Policy:* finding: the API call that relaxed the bucket and
// who made it. Every field may be empty: Macie sends actor null for some calls (the published
// S3BucketEncryptionDisabled example has none), and older findings omit parts.
type PolicyDetails struct {
	// ActionType is action.actionType ("AWS_API_CALL").
	ActionType string `json:"actionType,omitempty"`
	// API, APIServiceName, FirstSeen and LastSeen are action.apiCallDetails: the operation that
	// changed the setting (e.g. "DeleteBucketEncryption", "s3.amazonaws.com") and when Macie
	// first and last saw it.
	API            string    `json:"api,omitempty"`
	APIServiceName string    `json:"apiServiceName,omitempty"`
	FirstSeen      time.Time `json:"firstSeen,omitempty"`
	LastSeen       time.Time `json:"lastSeen,omitempty"`
	// Actor is who made the call; nil when Macie sent none.
	Actor *Actor `json:"actor,omitempty"`
}

// Actor is policyDetails.actor: the identity, address and domain behind the API call.
type Actor struct {
	User *UserIdentity `json:"userIdentity,omitempty"`
	// IPAddress is ipAddressDetails.ipAddressV4; the other fields are its enrichment.
	IPAddress string `json:"ipAddressV4,omitempty"`
	IPCountry string `json:"ipCountry,omitempty"` // ipCountry.name (or .code)
	IPCity    string `json:"ipCity,omitempty"`
	IPOwner   string `json:"ipOwner,omitempty"` // ipOwner.org (or .asnOrg, .isp)
	// Domain is domainDetails.domainName.
	Domain string `json:"domain,omitempty"`
}

// The user identity types Macie documents (userIdentity.type).
const (
	IdentityIAMUser       = "IAMUser"
	IdentityAssumedRole   = "AssumedRole"
	IdentityFederatedUser = "FederatedUser"
	IdentityRoot          = "Root"
	IdentityAWSService    = "AWSService"
	IdentityAWSAccount    = "AWSAccount"
)

// UserIdentity is policyDetails.actor.userIdentity flattened: Macie nests the details under one
// key per type (iamUser, assumedRole, federatedUser, root, awsService, awsAccount); the fields
// here are the union, filled from whichever key is present.
type UserIdentity struct {
	// Type is userIdentity.type as Macie gives it, or, when missing, inferred from the nested
	// key that is present (one of the Identity* constants).
	Type        string `json:"type,omitempty"`
	ARN         string `json:"arn,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`    // iamUser
	AccessKeyID string `json:"accessKeyId,omitempty"` // assumedRole, federatedUser
	InvokedBy   string `json:"invokedBy,omitempty"`   // awsService, e.g. "cloudformation.amazonaws.com"
	// SessionIssuerARN and SessionIssuerName are sessionContext.sessionIssuer of an assumed role
	// or federated user: the role or user the session was issued from.
	SessionIssuerARN  string `json:"sessionIssuerArn,omitempty"`
	SessionIssuerName string `json:"sessionIssuerUserName,omitempty"`
	MFAAuthenticated  bool   `json:"mfaAuthenticated,omitempty"`
}

// Who is a short human name for the identity, the most specific one Macie gave: an ARN, else a
// user name, the invoking service, or an account; "" when there is nothing to show.
func (u *UserIdentity) Who() string {
	if u == nil {
		return ""
	}
	switch {
	case u.ARN != "":
		return u.ARN
	case u.UserName != "":
		return u.UserName
	case u.InvokedBy != "":
		return u.InvokedBy
	case u.PrincipalID != "" && u.AccountID != "":
		return u.PrincipalID + " in account " + u.AccountID
	case u.AccountID != "":
		return "account " + u.AccountID
	case u.PrincipalID != "":
		return u.PrincipalID
	}
	return ""
}

// Who names the actor for a message: the identity, else the IP address or domain; "" when Macie
// sent no actor.
func (a *Actor) Who() string {
	if a == nil {
		return ""
	}
	if w := a.User.Who(); w != "" {
		return w
	}
	if a.IPAddress != "" {
		return a.IPAddress
	}
	return a.Domain
}

// BucketPublicAccess is resourcesAffected.s3Bucket.publicAccess.permissionConfiguration: which
// setting makes the bucket public, and which Block Public Access settings are on.
type BucketPublicAccess struct {
	ACLAllowsPublicRead     bool              `json:"aclAllowsPublicRead,omitempty"`
	ACLAllowsPublicWrite    bool              `json:"aclAllowsPublicWrite,omitempty"`
	PolicyAllowsPublicRead  bool              `json:"policyAllowsPublicRead,omitempty"`
	PolicyAllowsPublicWrite bool              `json:"policyAllowsPublicWrite,omitempty"`
	BucketBlock             BlockPublicAccess `json:"bucketBlockPublicAccess"`
	AccountBlock            BlockPublicAccess `json:"accountBlockPublicAccess"`
}

// BlockPublicAccess is one level's (bucket or account) Block Public Access settings.
type BlockPublicAccess struct {
	BlockPublicAcls       bool `json:"blockPublicAcls"`
	BlockPublicPolicy     bool `json:"blockPublicPolicy"`
	IgnorePublicAcls      bool `json:"ignorePublicAcls"`
	RestrictPublicBuckets bool `json:"restrictPublicBuckets"`
}

// AllOn reports whether all four settings are on.
func (b BlockPublicAccess) AllOn() bool {
	return b.BlockPublicAcls && b.BlockPublicPolicy && b.IgnorePublicAcls && b.RestrictPublicBuckets
}

// Replication is replicationDetails when a finding carries it (Macie's bucket inventory has it;
// findings may not): whether the bucket replicates, to accounts outside the organization, and to
// which accounts.
type Replication struct {
	Replicated           bool     `json:"replicated"`
	ReplicatedExternally bool     `json:"replicatedExternally"`
	Accounts             []string `json:"accounts,omitempty"`
}

// IsPolicy reports whether the finding is a policy finding (about a bucket's settings, not an
// object's data): its type starts with "Policy:".
func (f *Finding) IsPolicy() bool {
	return strings.HasPrefix(f.Type, "Policy:")
}

// Actor is the finding's policyDetails.actor, or nil.
func (f *Finding) Actor() *Actor {
	if f.PolicyDetails == nil {
		return nil
	}
	return f.PolicyDetails.Actor
}
