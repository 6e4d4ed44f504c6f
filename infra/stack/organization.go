package stack

import (
	"fmt"

	"github.com/macie-chatops/macie-chatops/shared/naming"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudformation"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// OrganizationMembers is organization mode's member side: one service-managed StackSet of the
// member template (membertemplate.go) and its instances, one per OU and region. Organizations'
// trusted access deploys it into every account of the OUs, and (autoDeploy) into each account
// that joins them later; no deploy role in the members.
type OrganizationMembers struct {
	pulumi.ResourceState
	StackSet  *cloudformation.StackSet
	Instances []*cloudformation.StackSetInstance
}

// StackSetName is the organization StackSet's name (StackSet names: 128 characters).
func StackSetName(slug string) string { return naming.StackSetName(slug) }

// StackSetOperationPreferences are sized for an organization of hundreds of accounts: a quarter
// of the accounts of a region at once, every region in parallel (the template's regions do not
// depend on each other), and an operation that stops in a region once a tenth of its accounts
// failed, so a broken template does not roll over all 300 accounts.
var StackSetOperationPreferences = struct {
	MaxConcurrentPercentage, FailureTolerancePercentage int
	RegionConcurrencyType                               string
}{25, 10, "PARALLEL"}

// NewOrganizationMembers declares the StackSet and its instances through the central provider
// (opts), in OU then region order.
func NewOrganizationMembers(ctx *pulumi.Context, cfg *Config, remediatorRole, centralBus pulumi.StringInput, opts ...pulumi.ResourceOption) (*OrganizationMembers, error) {
	om := &OrganizationMembers{}
	if err := ctx.RegisterComponentResource("macie-chatops:organization:Members", "organization-members", om, opts...); err != nil {
		return nil, err
	}
	tmpl, err := MemberTemplate(cfg)
	if err != nil {
		return nil, err
	}
	body, err := tmpl.Body()
	if err != nil {
		return nil, err
	}
	params := pulumi.StringMap{ParamRemediatorRoleArn: remediatorRole}
	if _, ok := tmpl.Parameters[ParamCentralBusArn]; ok {
		params[ParamCentralBusArn] = centralBus
	}
	o := cfg.Organization
	prefs := StackSetOperationPreferences
	in := append([]pulumi.ResourceOption{pulumi.Parent(om)}, opts...)
	ss, err := cloudformation.NewStackSet(ctx, "organization-members", &cloudformation.StackSetArgs{
		Name:            pulumi.String(StackSetName(cfg.Slug)),
		Description:     pulumi.String("macie-chatops " + cfg.Slug + ": the member side (quarantine role, bucket and key, forwarder) in every account of the organization's OUs"),
		PermissionModel: pulumi.String("SERVICE_MANAGED"),
		AutoDeployment: &cloudformation.StackSetAutoDeploymentArgs{
			Enabled: pulumi.Bool(o.AutoDeployEnabled()),
			// An account that leaves the OUs loses its stack; the quarantine bucket, its key
			// and policy stay (DeletionPolicy Retain). If it comes back, its new stack's
			// generation names a new bucket and alias beside them (VarGeneration).
			RetainStacksOnAccountRemoval: pulumi.Bool(false),
		},
		CallAs:       pulumi.String(o.CallAs),
		Capabilities: pulumi.StringArray{pulumi.String("CAPABILITY_NAMED_IAM")},
		OperationPreferences: &cloudformation.StackSetOperationPreferencesArgs{
			MaxConcurrentPercentage:    pulumi.Int(prefs.MaxConcurrentPercentage),
			FailureTolerancePercentage: pulumi.Int(prefs.FailureTolerancePercentage),
			RegionConcurrencyType:      pulumi.String(prefs.RegionConcurrencyType),
		},
		Parameters:   params,
		TemplateBody: pulumi.String(body),
	}, in...)
	if err != nil {
		return nil, err
	}
	om.StackSet = ss
	for _, ou := range o.OrganizationalUnits {
		for _, region := range o.Regions {
			inst, err := cloudformation.NewStackSetInstance(ctx, fmt.Sprintf("organization-members-%s-%s", ou, region), &cloudformation.StackSetInstanceArgs{
				StackSetName:      ss.Name,
				CallAs:            pulumi.String(o.CallAs),
				Region:            pulumi.String(region),
				DeploymentTargets: &cloudformation.StackSetInstanceDeploymentTargetsArgs{OrganizationalUnitIds: pulumi.StringArray{pulumi.String(ou)}},
				OperationPreferences: &cloudformation.StackSetInstanceOperationPreferencesArgs{
					MaxConcurrentPercentage:    pulumi.Int(prefs.MaxConcurrentPercentage),
					FailureTolerancePercentage: pulumi.Int(prefs.FailureTolerancePercentage),
					RegionConcurrencyType:      pulumi.String(prefs.RegionConcurrencyType),
					ConcurrencyMode:            pulumi.String("SOFT_FAILURE_TOLERANCE"),
				},
				RetainStack: pulumi.Bool(false),
			}, in...)
			if err != nil {
				return nil, err
			}
			om.Instances = append(om.Instances, inst)
		}
	}
	return om, ctx.RegisterResourceOutputs(om, pulumi.Map{"stackSetName": ss.Name})
}
