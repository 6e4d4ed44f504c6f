package stack

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// What the central remediator needs to know, in organization mode, about the member StackSet:
// an organization account's quarantine bucket carries the generation of its stack instance
// (naming.Generation), which the remediator reads from the StackSet's instance
// (cloudformation:DescribeStackInstance, its StackId) at run time, because no member can change
// it and the account may have returned to the OUs since the last deploy.

// The remediator's environment in organization mode. functions/internal/config reads them
// (EnvOrgStackSet, EnvOrgCallAs, EnvExplicitMembers); infra cannot import functions, so
// TestOrgRemediatorEnvNamesAreTheFunctionsNames pins these literals to that file's.
const (
	EnvOrgStackSet     = "ORG_STACKSET_NAME"
	EnvOrgCallAs       = "ORG_STACKSET_CALL_AS"
	EnvExplicitMembers = "EXPLICIT_MEMBER_ACCOUNTS"
)

// orgRemediatorEnv is the remediator's organization-mode environment: the StackSet's name, how
// to call it (the organization's callAs: SELF from the management account, DELEGATED_ADMIN from
// the security account), and the explicit members (sorted, comma-separated), whose quarantine
// buckets keep the policy's name without a generation. Empty without organization mode.
func orgRemediatorEnv(cfg *Config) pulumi.StringMap {
	env := pulumi.StringMap{}
	if cfg.Organization == nil {
		return env
	}
	var accts []string
	for _, m := range cfg.Members {
		accts = append(accts, m.AccountID)
	}
	slices.Sort(accts)
	env[EnvOrgStackSet] = pulumi.String(StackSetName(cfg.Slug))
	env[EnvOrgCallAs] = pulumi.String(cfg.Organization.CallAs)
	env[EnvExplicitMembers] = pulumi.String(strings.Join(slices.Compact(accts), ","))
	return env
}

// StackSetArn is the IAM resource pattern of the organization's StackSet (any of its ids), as
// the remediator's policy names it: in the stack's region, by name, in any account. "Stack sets
// with service-managed permissions are created in the management account, including stack sets
// created by delegated administrators" (CloudFormation user guide, "Register a delegated
// administrator"), and the stack does not know the management account's id; pinning the
// security account would deny every lookup made as DELEGATED_ADMIN. The wildcard reaches no
// other StackSet of that name: CloudFormation serves a caller only its own account's StackSets
// and, as delegated administrator, its organization's management account's.
func StackSetArn(cfg *Config) string {
	return fmt.Sprintf("arn:aws:cloudformation:%s:*:stackset/%s:*", cfg.Region, StackSetName(cfg.Slug))
}

// remediatorStackSetStatements let the remediator read its own StackSet's instances (the
// generation of an account's member stack) and nothing else of CloudFormation: not another
// stack's StackSet (dev and prod in one security account), not the instances' templates or
// parameters (DescribeStackSet), and no change. Called as delegated administrator, StackSets
// also checks organizations:ListDelegatedAdministrators (CloudFormation user guide, "Register a
// delegated administrator": without it the call fails with "Account used is not a delegated
// administrator"); that action has no resource type, so it is granted on "*", and only with
// callAs DELEGATED_ADMIN. Without organization mode: none.
func remediatorStackSetStatements(cfg *Config) []Statement {
	if cfg.Organization == nil {
		return nil
	}
	st := []Statement{{Sid: "DescribeOwnStackSetInstances", Effect: "Allow", Action: "cloudformation:DescribeStackInstance", Resource: StackSetArn(cfg)}}
	if cfg.Organization.CallAs == CallAsDelegatedAdmin {
		st = append(st, Statement{Sid: "StackSetsDelegatedAdminCheck", Effect: "Allow", Action: "organizations:ListDelegatedAdministrators", Resource: "*"})
	}
	return st
}

// withEnv is env with more's variables added.
func withEnv(env, more pulumi.StringMap) pulumi.StringMap {
	for k, v := range more {
		env[k] = v
	}
	return env
}
