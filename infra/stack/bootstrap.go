package stack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// DeployRoleName is the role the bootstrap stack creates in each member account, and the
// deployRole the main stack's members name.
const DeployRoleName = "macie-chatops-deploy"

// Bootstrap is the config of the one-time bootstrap stack (key macie-chatops:deployRoles). It
// runs from the organization's management account, the only one OrganizationAccountAccessRole
// trusts, and gives each member a deploy role that trusts the identity which runs the main
// stack from the security account.
type Bootstrap struct {
	// DeployerArn is the role or user in the security account that runs `pulumi up`.
	DeployerArn string `json:"deployerArn"`
	// Accounts get the deploy role.
	Accounts []string `json:"accounts"`
	// AccessRole is the role the management account may assume in each member
	// (default OrganizationAccountAccessRole).
	AccessRole string `json:"accessRole"`
	// RoleName is the deploy role's name (default macie-chatops-deploy).
	RoleName string `json:"roleName"`
	Region   string `json:"-"`
}

// UnmarshalJSON accepts account ids as strings or numbers, like Member.
func (b *Bootstrap) UnmarshalJSON(data []byte) error {
	type plain Bootstrap
	var raw struct {
		plain
		Accounts []json.RawMessage `json:"accounts"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*b = Bootstrap(raw.plain)
	b.Accounts = nil
	for _, a := range raw.Accounts {
		id, err := accountIDFromJSON(a)
		if err != nil {
			return err
		}
		b.Accounts = append(b.Accounts, id)
	}
	return nil
}

var principalArn = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):(role|user)/[\w+=,.@/-]+$`)

// LoadBootstrapConfig returns nil, nil when the stack is not a bootstrap stack.
func LoadBootstrapConfig(ctx *pulumi.Context) (*Bootstrap, error) {
	c := config.New(ctx, Namespace)
	if _, err := c.Try("deployRoles"); err != nil {
		return nil, nil
	}
	var b Bootstrap
	if err := c.TryObject("deployRoles", &b); err != nil {
		return nil, fmt.Errorf("%s:deployRoles: %w (an object {deployerArn, accounts, accessRole, roleName})", Namespace, err)
	}
	b.Region = config.New(ctx, "aws").Get("region")
	if b.Region == "" {
		b.Region = "us-east-1"
	}
	if b.AccessRole == "" {
		b.AccessRole = "OrganizationAccountAccessRole"
	}
	if b.RoleName == "" {
		b.RoleName = DeployRoleName
	}
	var probs []string
	if !principalArn.MatchString(b.DeployerArn) {
		probs = append(probs, fmt.Sprintf("%s:deployRoles.deployerArn %q is not an IAM role or user ARN (the identity that runs `pulumi up` in the security account, e.g. arn:aws:iam::999988887777:role/platform-deployer; for an SSO session, its role's ARN, not the assumed-role ARN)", Namespace, b.DeployerArn))
	}
	if len(b.Accounts) == 0 {
		probs = append(probs, fmt.Sprintf("%s:deployRoles.accounts is empty: list the member account ids", Namespace))
	}
	for i, a := range b.Accounts {
		if !finding.IsAccountID(a) {
			probs = append(probs, fmt.Sprintf("%s:deployRoles.accounts[%d] %q is not a 12-digit account id (quote it)", Namespace, i, a))
		}
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("bootstrap configuration is invalid:\n  %s", strings.Join(probs, "\n  "))
	}
	b.Accounts = sortedUnique(b.Accounts)
	return &b, nil
}

// NewDeployRoles declares, in each account through the organization's access role, the deploy
// role that trusts only the deployer. It has the access role's reach (AdministratorAccess):
// the main stack creates IAM roles, KMS keys, buckets and rules there.
func NewDeployRoles(ctx *pulumi.Context, b *Bootstrap) error {
	arns := pulumi.StringMap{}
	for _, a := range b.Accounts {
		p, err := aws.NewProvider(ctx, "bootstrap-"+a, ProviderArgs(a, fmt.Sprintf("arn:aws:iam::%s:role/%s", a, b.AccessRole), b.Region))
		if err != nil {
			return err
		}
		role, err := iam.NewRole(ctx, "deploy-role-"+a, &iam.RoleArgs{
			Name:        pulumi.String(b.RoleName),
			Description: pulumi.String("macie-chatops: assumed by " + b.DeployerArn + " to run pulumi up"),
			AssumeRolePolicy: pulumi.String(mustJSON(doc(Statement{Sid: "DeployerOnly", Effect: "Allow",
				Principal: map[string]string{"AWS": b.DeployerArn}, Action: "sts:AssumeRole"}))),
		}, pulumi.Provider(p))
		if err != nil {
			return err
		}
		if _, err := iam.NewRolePolicyAttachment(ctx, "deploy-role-"+a+"-admin", &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: pulumi.String("arn:aws:iam::aws:policy/AdministratorAccess"),
		}, pulumi.Provider(p)); err != nil {
			return err
		}
		arns[a] = role.Arn
	}
	ctx.Export("deployRoles", arns)
	return nil
}
