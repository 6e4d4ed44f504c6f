package stack

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The organization's member template: a CloudFormation template built from Go structs and the
// same document functions the explicit-member components use (memberdocs.go). One template
// serves every account and region of the StackSet: account and region are CloudFormation
// pseudo parameters (Fn::Sub), what the central stack owns comes in as StackSet parameters.
//
// IAM names are global, so the account-wide quarantine role is created only by the stack
// instance in the home region (condition IsHomeRegion); the regional resources (bucket, key,
// forwarder) never name the role as a principal, so they deploy whichever region comes first.
//
// The quarantine bucket and key alias are retained when a stack is deleted (they hold, and
// decrypt, the only copies), so each stack instance names them with its own generation
// (VarGeneration): a returning account's new stack creates new ones beside the retained ones.

// Template is a CloudFormation template. Maps marshal with sorted keys, so the body is the same
// on every preview.
type Template struct {
	AWSTemplateFormatVersion string                       `json:"AWSTemplateFormatVersion"`
	Description              string                       `json:"Description"`
	Parameters               map[string]TemplateParameter `json:"Parameters,omitempty"`
	Conditions               map[string]any               `json:"Conditions,omitempty"`
	Resources                map[string]TemplateResource  `json:"Resources"`
	Outputs                  map[string]TemplateOutput    `json:"Outputs,omitempty"`
}

// TemplateParameter is a template parameter (all of ours are strings).
type TemplateParameter struct {
	Type           string `json:"Type"`
	Description    string `json:"Description"`
	AllowedPattern string `json:"AllowedPattern,omitempty"`
}

// TemplateResource is one resource of a template.
type TemplateResource struct {
	Type                string         `json:"Type"`
	Condition           string         `json:"Condition,omitempty"`
	DependsOn           []string       `json:"DependsOn,omitempty"`
	DeletionPolicy      string         `json:"DeletionPolicy,omitempty"`
	UpdateReplacePolicy string         `json:"UpdateReplacePolicy,omitempty"`
	Properties          map[string]any `json:"Properties"`
}

// TemplateOutput is one output of a template.
type TemplateOutput struct {
	Condition string `json:"Condition,omitempty"`
	Value     any    `json:"Value"`
}

// TemplateRole is a role of the member template: its name (empty: CloudFormation names it), its
// trust and its inline policies, and the condition that decides which stack instances create
// it (CondHomeRegion for a named role: one per account).
type TemplateRole struct {
	Name        string
	Description string
	Trust       Document
	Policies    []NamedDocument
	Condition   string
}

// NamedDocument is an inline policy.
type NamedDocument struct {
	Name     string
	Document Document
}

// Template parameters and conditions.
const (
	ParamRemediatorRoleArn = "RemediatorRoleArn"
	ParamCentralBusArn     = "CentralBusArn"
	CondHomeRegion         = "IsHomeRegion"
	CondForwards           = "Forwards"
	// Logical ids of the template's resources.
	LogicalQuarantineRole = "QuarantineRole"
	// LogicalBucketSettingsRole is there only when the policy enables a bucket-fix kind for the
	// organization's accounts (orgBucketFixKinds).
	LogicalBucketSettingsRole = "BucketSettingsRole"
	LogicalQuarantineKey      = "QuarantineKey"
	LogicalKeyAlias           = "QuarantineKeyAlias"
	LogicalBucket             = "QuarantineBucket"
	LogicalBucketPolicy       = "QuarantineBucketPolicy"
	LogicalForwarderRole      = "ForwarderRole"
	LogicalForwarderRule      = "ForwarderRule"
)

// TemplateBodyLimit is CloudFormation's limit on a template passed as TemplateBody (CreateStackSet
// and UpdateStackSet take the body inline; a larger one must go through S3 as TemplateURL).
const TemplateBodyLimit = 51200

// AddRole declares a role (and its inline policies) in the template: what another member role
// (e.g. the bucket-settings role) needs to join the organization's StackSet.
func (t *Template) AddRole(logical string, r TemplateRole) {
	props := map[string]any{"AssumeRolePolicyDocument": Sub(r.Trust), "MaxSessionDuration": 3600}
	if r.Name != "" {
		props["RoleName"] = r.Name
	}
	if r.Description != "" {
		props["Description"] = r.Description
	}
	var pols []any
	for _, p := range r.Policies {
		pols = append(pols, map[string]any{"PolicyName": p.Name, "PolicyDocument": Sub(p.Document)})
	}
	if len(pols) > 0 {
		props["Policies"] = pols
	}
	t.Resources[logical] = TemplateResource{Type: "AWS::IAM::Role", Condition: r.Condition, Properties: props}
}

// VarGeneration is the Fn::Sub variable that holds a stack instance's generation
// (naming.Generation): the first group of the UUID that ends its own AWS::StackId. A returning
// account's new stack has a new StackId, so its quarantine bucket and key alias get new names
// beside those its earlier stack retained, instead of failing on them.
const VarGeneration = "Generation"

// generationOfStack is VarGeneration's value: AWS::StackId is
// arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>; its third "/" field is
// the UUID, whose first "-" group is the generation.
func generationOfStack() map[string]any {
	split := func(sep string, v any) map[string]any { return map[string]any{"Fn::Split": []any{sep, v}} }
	sel := func(i int, v any) map[string]any { return map[string]any{"Fn::Select": []any{i, v}} }
	return sel(0, split("-", sel(2, split("/", map[string]any{"Ref": "AWS::StackId"}))))
}

// Sub turns a document (or any JSON value) into its template form: every string that names a
// pseudo parameter or a template parameter (${...}) becomes {"Fn::Sub": string}, and one that
// names the generation {"Fn::Sub": [string, {"Generation": <generationOfStack>}]}.
func Sub(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // documents are plain structs
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		panic(err)
	}
	return subTree(tree)
}

func subTree(v any) any {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "${"+VarGeneration+"}") {
			return map[string]any{"Fn::Sub": []any{x, map[string]any{VarGeneration: generationOfStack()}}}
		}
		if strings.Contains(x, "${") {
			return map[string]any{"Fn::Sub": x}
		}
		return x
	case []any:
		for i := range x {
			x[i] = subTree(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = subTree(x[k])
		}
		return x
	}
	return v
}

// templateForwards reports whether the member template carries a forwarder: only when each
// member runs Macie itself (standalone); in delegated-admin mode the findings already reach the
// security account (Forwarders).
func templateForwards(cfg *Config) bool { return cfg.MacieMode == MacieStandalone }

// MemberTemplate is the organization's member template.
func MemberTemplate(cfg *Config) (*Template, error) {
	o := cfg.Organization
	if o == nil {
		return nil, fmt.Errorf("%s:organization is not set", Namespace)
	}
	// Values from the config land inside Fn::Sub strings, where "${" would be read as a
	// reference.
	for k, v := range map[string]string{"externalId": cfg.ExternalID, "organizationId": cfg.OrganizationID, "breakGlassRoleArn": cfg.BreakGlassRoleArn} {
		if strings.Contains(v, "${") {
			return nil, fmt.Errorf("%s:%s contains \"${\", which CloudFormation would read as a reference in the organization's member template: choose a value without it", Namespace, k)
		}
	}
	s := TemplateSite
	home := o.HomeRegion(cfg.Region)
	kinds := orgBucketFixKinds(cfg)
	roles := "quarantine role"
	if len(kinds) > 0 {
		roles = "quarantine and bucket-settings roles"
	}
	t := &Template{
		AWSTemplateFormatVersion: "2010-09-09",
		Description:              fmt.Sprintf("macie-chatops %s member side (generated by the Pulumi program; do not edit): %s (in %s), quarantine bucket and key, forwarder", cfg.Slug, roles, home),
		Parameters: map[string]TemplateParameter{
			// Pinned to the security account: a per-account parameter override (made outside
			// Pulumi) cannot point one account's trust at a role of another account.
			ParamRemediatorRoleArn: {Type: "String", Description: "The central remediator's role, the only principal the quarantine and bucket-settings roles trust", AllowedPattern: `^arn:aws[a-z-]*:iam::` + cfg.SecurityAccountID + `:role/.+$`},
		},
		Conditions: map[string]any{
			CondHomeRegion: map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "AWS::Region"}, home}},
		},
		Resources: map[string]TemplateResource{},
		Outputs:   map[string]TemplateOutput{},
	}
	t.AddRole(LogicalQuarantineRole, TemplateRole{
		Name: QuarantineRoleName(cfg.Slug), Description: QuarantineRoleDescription(cfg.Slug), Condition: CondHomeRegion,
		Trust:    QuarantineTrust(cfg, "${"+ParamRemediatorRoleArn+"}"),
		Policies: []NamedDocument{{Name: "quarantine", Document: QuarantineRolePolicy(cfg, s, o.Regions, nil, nil)}},
	})
	// The bucket-settings role (issue 15), account-wide like the quarantine role, with the kinds
	// the policy gives every organization account, denied every org region's quarantine bucket.
	if len(kinds) > 0 {
		var quarantineNames []string
		for _, r := range o.Regions {
			// Every generation's bucket: the current one and those retained by earlier stacks
			// of the account (a deny may be wider than a generation: "*"), and the bucket of the
			// policy's name without a generation, which a stack from before generations created
			// and retained when an update replaced it.
			g := s.In(r)
			g.Generation = "*"
			pre := s.In(r)
			pre.Generation = ""
			quarantineNames = append(quarantineNames, QuarantineBucketFor(cfg, g).Name, QuarantineBucketFor(cfg, pre).Name)
		}
		t.AddRole(LogicalBucketSettingsRole, TemplateRole{
			Name: BucketSettingsRoleName(cfg.Slug), Description: BucketSettingsRoleDescription(cfg.Slug), Condition: CondHomeRegion,
			Trust:    BucketSettingsTrust("${"+ParamRemediatorRoleArn+"}", cfg.ExternalID, cfg.OrganizationID),
			Policies: []NamedDocument{{Name: "bucket-settings", Document: BucketSettingsRolePolicyAt(cfg, s, nil, kinds, quarantineNames)}},
		})
		t.Outputs["BucketSettingsRoleArn"] = TemplateOutput{Condition: CondHomeRegion, Value: map[string]any{"Fn::GetAtt": []string{LogicalBucketSettingsRole, "Arn"}}}
	}
	q := QuarantineBucketFor(cfg, s)
	retain := func(r TemplateResource) TemplateResource {
		// The quarantine bucket holds the only copy of quarantined objects: deleting the stack
		// (an account leaving the OUs) leaves it, its key and its policy.
		r.DeletionPolicy, r.UpdateReplacePolicy = "Retain", "Retain"
		return r
	}
	t.Resources[LogicalQuarantineKey] = retain(TemplateResource{Type: "AWS::KMS::Key", Properties: map[string]any{
		"Description": Sub("macie-chatops quarantine bucket " + q.Name), "EnableKeyRotation": true, "PendingWindowInDays": 30,
		"KeyPolicy": Sub(QuarantineKeyPolicy(cfg, s)),
	}})
	t.Resources[LogicalKeyAlias] = retain(TemplateResource{Type: "AWS::KMS::Alias", Properties: map[string]any{
		"AliasName": Sub(QuarantineKeyAliasAt(cfg, s)), "TargetKeyId": map[string]any{"Ref": LogicalQuarantineKey},
	}})
	t.Resources[LogicalBucket] = retain(TemplateResource{Type: "AWS::S3::Bucket", Properties: map[string]any{
		"BucketName":              Sub(q.Name),
		"VersioningConfiguration": map[string]any{"Status": "Enabled"},
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{map[string]any{
			"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": map[string]any{"Fn::GetAtt": []string{LogicalQuarantineKey, "Arn"}}},
			"BucketKeyEnabled":              true,
		}}},
		"LifecycleConfiguration": map[string]any{"Rules": []any{map[string]any{
			"Id": "retention", "Status": "Enabled", "Prefix": "", "ExpirationInDays": q.RetentionDays,
			"NoncurrentVersionExpiration":    map[string]any{"NoncurrentDays": q.RetentionDays},
			"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": q.AbortMultipartDays},
		}}},
		"PublicAccessBlockConfiguration": map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
		"OwnershipControls":              map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
	}})
	t.Resources[LogicalBucketPolicy] = retain(TemplateResource{Type: "AWS::S3::BucketPolicy", Properties: map[string]any{
		"Bucket": map[string]any{"Ref": LogicalBucket}, "PolicyDocument": Sub(QuarantineBucketPolicyAt(cfg, s)),
	}})
	t.Outputs["QuarantineBucket"] = TemplateOutput{Value: map[string]any{"Ref": LogicalBucket}}
	t.Outputs["QuarantineKeyArn"] = TemplateOutput{Value: map[string]any{"Fn::GetAtt": []string{LogicalQuarantineKey, "Arn"}}}
	t.Outputs["QuarantineRoleArn"] = TemplateOutput{Condition: CondHomeRegion, Value: map[string]any{"Fn::GetAtt": []string{LogicalQuarantineRole, "Arn"}}}

	if templateForwards(cfg) {
		t.Parameters[ParamCentralBusArn] = TemplateParameter{Type: "String", Description: "The central event bus the forwarder puts Macie findings on", AllowedPattern: `^arn:aws[a-z-]*:events:[a-z0-9-]+:` + cfg.SecurityAccountID + `:event-bus/.+$`}
		// The security account's home region is read by the central rule itself (Forwarders).
		t.Conditions[CondForwards] = map[string]any{"Fn::Not": []any{map[string]any{"Fn::And": []any{
			map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "AWS::AccountId"}, cfg.SecurityAccountID}},
			map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "AWS::Region"}, cfg.Region}},
		}}}}
		t.AddRole(LogicalForwarderRole, TemplateRole{Condition: CondForwards, Trust: ForwarderTrust(),
			Policies: []NamedDocument{{Name: "forward", Document: ForwarderPolicy("${" + ParamCentralBusArn + "}")}}})
		var pattern any
		if err := json.Unmarshal([]byte(MaciePattern), &pattern); err != nil {
			return nil, fmt.Errorf("MaciePattern: %w", err)
		}
		t.Resources[LogicalForwarderRule] = TemplateResource{Type: "AWS::Events::Rule", Condition: CondForwards, Properties: map[string]any{
			"Description": ForwarderDescription, "EventPattern": pattern, "State": "ENABLED",
			"Targets": []any{map[string]any{"Id": "central-bus", "Arn": map[string]any{"Ref": ParamCentralBusArn},
				"RoleArn": map[string]any{"Fn::GetAtt": []string{LogicalForwarderRole, "Arn"}}}},
		}}
	}
	return t, nil
}

// Body is the template as CloudFormation takes it: compact JSON, within TemplateBodyLimit.
func (t *Template) Body() (string, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	if len(b) > TemplateBodyLimit {
		return "", fmt.Errorf("the organization's member template is %d bytes; CloudFormation takes at most %d as TemplateBody: shorten the policy's protected bucket list or the stack name", len(b), TemplateBodyLimit)
	}
	return string(b), nil
}
