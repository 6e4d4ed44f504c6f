package finding

import "time"

// The wire shapes of policyDetails and of the bucket's permission configuration, with the same
// lenient field types as the rest of the finding: null, a missing key or a value of another
// shape leaves the field empty instead of rejecting the finding.

type rawPolicy struct {
	Action *rawPolicyAction `json:"action"`
	Actor  *rawActor        `json:"actor"`
}

type rawPolicyAction struct {
	ActionType     flexString  `json:"actionType"`
	APICallDetails *rawAPICall `json:"apiCallDetails"`
}

type rawAPICall struct {
	API            flexString `json:"api"`
	APIServiceName flexString `json:"apiServiceName"`
	FirstSeen      flexTime   `json:"firstSeen"`
	LastSeen       flexTime   `json:"lastSeen"`
}

type rawActor struct {
	UserIdentity     *rawUserIdentity `json:"userIdentity"`
	IPAddressDetails *rawIPAddress    `json:"ipAddressDetails"`
	DomainDetails    *struct {
		DomainName flexString `json:"domainName"`
	} `json:"domainDetails"`
}

type rawIPAddress struct {
	IPAddressV4 flexString `json:"ipAddressV4"`
	IPCity      *struct {
		Name flexString `json:"name"`
	} `json:"ipCity"`
	IPCountry *struct {
		Code flexString `json:"code"`
		Name flexString `json:"name"`
	} `json:"ipCountry"`
	IPOwner *struct {
		Asn    flexString `json:"asn"`
		AsnOrg flexString `json:"asnOrg"`
		Isp    flexString `json:"isp"`
		Org    flexString `json:"org"`
	} `json:"ipOwner"`
}

// rawIdentity is the union of the per-type identity objects Macie nests under userIdentity.
type rawIdentity struct {
	AccessKeyID    flexString  `json:"accessKeyId"`
	AccountID      flexString  `json:"accountId"`
	Arn            flexString  `json:"arn"`
	PrincipalID    flexString  `json:"principalId"`
	UserName       flexString  `json:"userName"`
	InvokedBy      flexString  `json:"invokedBy"`
	SessionContext *rawSession `json:"sessionContext"`
}

type rawSession struct {
	Attributes *struct {
		MFAAuthenticated flexBool `json:"mfaAuthenticated"`
	} `json:"attributes"`
	SessionIssuer *struct {
		Arn      flexString `json:"arn"`
		UserName flexString `json:"userName"`
	} `json:"sessionIssuer"`
}

type rawUserIdentity struct {
	Type          flexString   `json:"type"`
	IAMUser       *rawIdentity `json:"iamUser"`
	AssumedRole   *rawIdentity `json:"assumedRole"`
	FederatedUser *rawIdentity `json:"federatedUser"`
	Root          *rawIdentity `json:"root"`
	AWSService    *rawIdentity `json:"awsService"`
	AWSAccount    *rawIdentity `json:"awsAccount"`
}

type rawPermissionCfg struct {
	BucketLevelPermissions *struct {
		AccessControlList *rawPublicRW `json:"accessControlList"`
		BucketPolicy      *rawPublicRW `json:"bucketPolicy"`
		BlockPublicAccess *rawBlockPA  `json:"blockPublicAccess"`
	} `json:"bucketLevelPermissions"`
	AccountLevelPermissions *struct {
		BlockPublicAccess *rawBlockPA `json:"blockPublicAccess"`
	} `json:"accountLevelPermissions"`
}

type rawPublicRW struct {
	AllowsPublicReadAccess  flexBool `json:"allowsPublicReadAccess"`
	AllowsPublicWriteAccess flexBool `json:"allowsPublicWriteAccess"`
}

type rawBlockPA struct {
	BlockPublicAcls       flexBool `json:"blockPublicAcls"`
	BlockPublicPolicy     flexBool `json:"blockPublicPolicy"`
	IgnorePublicAcls      flexBool `json:"ignorePublicAcls"`
	RestrictPublicBuckets flexBool `json:"restrictPublicBuckets"`
}

type rawReplication struct {
	Replicated           flexBool     `json:"replicated"`
	ReplicatedExternally flexBool     `json:"replicatedExternally"`
	ReplicationAccounts  []flexString `json:"replicationAccounts"`
}

func (b *rawBlockPA) value() BlockPublicAccess {
	if b == nil {
		return BlockPublicAccess{}
	}
	return BlockPublicAccess{BlockPublicAcls: bool(b.BlockPublicAcls), BlockPublicPolicy: bool(b.BlockPublicPolicy),
		IgnorePublicAcls: bool(b.IgnorePublicAcls), RestrictPublicBuckets: bool(b.RestrictPublicBuckets)}
}

func (c *rawPermissionCfg) value() *BucketPublicAccess {
	if c == nil || (c.BucketLevelPermissions == nil && c.AccountLevelPermissions == nil) {
		return nil
	}
	pa := &BucketPublicAccess{}
	if bl := c.BucketLevelPermissions; bl != nil {
		if a := bl.AccessControlList; a != nil {
			pa.ACLAllowsPublicRead, pa.ACLAllowsPublicWrite = bool(a.AllowsPublicReadAccess), bool(a.AllowsPublicWriteAccess)
		}
		if p := bl.BucketPolicy; p != nil {
			pa.PolicyAllowsPublicRead, pa.PolicyAllowsPublicWrite = bool(p.AllowsPublicReadAccess), bool(p.AllowsPublicWriteAccess)
		}
		pa.BucketBlock = bl.BlockPublicAccess.value()
	}
	if al := c.AccountLevelPermissions; al != nil {
		pa.AccountBlock = al.BlockPublicAccess.value()
	}
	return pa
}

func (r *rawPolicy) value() *PolicyDetails {
	if r == nil || (r.Action == nil && r.Actor == nil) {
		return nil
	}
	pd := &PolicyDetails{}
	if a := r.Action; a != nil {
		pd.ActionType = string(a.ActionType)
		if c := a.APICallDetails; c != nil {
			pd.API, pd.APIServiceName = string(c.API), string(c.APIServiceName)
			pd.FirstSeen, pd.LastSeen = time.Time(c.FirstSeen), time.Time(c.LastSeen)
		}
	}
	pd.Actor = r.Actor.value()
	return pd
}

func (a *rawActor) value() *Actor {
	if a == nil {
		return nil
	}
	out := &Actor{User: a.UserIdentity.value()}
	if ip := a.IPAddressDetails; ip != nil {
		out.IPAddress = string(ip.IPAddressV4)
		if c := ip.IPCity; c != nil {
			out.IPCity = string(c.Name)
		}
		if c := ip.IPCountry; c != nil {
			out.IPCountry = firstNonEmpty(string(c.Name), string(c.Code))
		}
		if o := ip.IPOwner; o != nil {
			out.IPOwner = firstNonEmpty(string(o.Org), string(o.AsnOrg), string(o.Isp))
		}
	}
	if d := a.DomainDetails; d != nil {
		out.Domain = string(d.DomainName)
	}
	if *out == (Actor{}) {
		return nil
	}
	return out
}

func (u *rawUserIdentity) value() *UserIdentity {
	if u == nil {
		return nil
	}
	// Macie sets type and fills the matching key; take the key type names, else the first
	// present key (and name the type after it), so a finding without type still says who.
	keys := []struct {
		typ string
		id  *rawIdentity
	}{
		{IdentityIAMUser, u.IAMUser}, {IdentityAssumedRole, u.AssumedRole}, {IdentityFederatedUser, u.FederatedUser},
		{IdentityRoot, u.Root}, {IdentityAWSService, u.AWSService}, {IdentityAWSAccount, u.AWSAccount},
	}
	out := &UserIdentity{Type: string(u.Type)}
	var id *rawIdentity
	for _, k := range keys {
		if k.id != nil && (out.Type == "" || k.typ == out.Type) {
			id = k.id
			if out.Type == "" {
				out.Type = k.typ
			}
			break
		}
	}
	if id == nil {
		for _, k := range keys {
			if k.id != nil {
				id = k.id
				break
			}
		}
	}
	if id != nil {
		out.ARN, out.PrincipalID, out.AccountID = string(id.Arn), string(id.PrincipalID), string(id.AccountID)
		out.UserName, out.AccessKeyID, out.InvokedBy = string(id.UserName), string(id.AccessKeyID), string(id.InvokedBy)
		if s := id.SessionContext; s != nil {
			if si := s.SessionIssuer; si != nil {
				out.SessionIssuerARN, out.SessionIssuerName = string(si.Arn), string(si.UserName)
			}
			if at := s.Attributes; at != nil {
				out.MFAAuthenticated = bool(at.MFAAuthenticated)
			}
		}
	}
	if *out == (UserIdentity{}) {
		return nil
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
