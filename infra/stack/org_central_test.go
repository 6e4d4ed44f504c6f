package stack

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// In organization mode the remediator learns from its environment which StackSet holds the
// organization accounts' member stacks, how to call it, and which accounts are explicit members
// (their quarantine buckets carry no generation); without organization mode it gets none of
// them. The explicit members come sorted and once each, whatever order the config lists them in.
func TestOrgRemediatorEnvNamesTheStackSetCallAsAndExplicitMembers(t *testing.T) {
	reversed := []Member{defaultMembers[2], defaultMembers[0], defaultMembers[1]}
	for _, c := range []struct {
		name    string
		org     string
		members []Member
		want    map[string]string // nil: the variable is absent
	}{
		{"delegated admin", orgSetting, reversed, map[string]string{EnvOrgStackSet: "macie-chatops-dev-members", EnvOrgCallAs: CallAsDelegatedAdmin, EnvExplicitMembers: "111122223333,444455556666,999988887777"}},
		{"self", `{"organizationalUnits": ["r-ab12"], "regions": ["us-east-1"], "callAs": "SELF"}`, defaultMembers[:1], map[string]string{EnvOrgStackSet: "macie-chatops-dev-members", EnvOrgCallAs: CallAsSelf, EnvExplicitMembers: "111122223333"}},
		{"no explicit member", orgSetting, nil, map[string]string{EnvOrgStackSet: "macie-chatops-dev-members", EnvOrgCallAs: CallAsDelegatedAdmin, EnvExplicitMembers: ""}},
		{"explicit members only", "", defaultMembers, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			over := map[string]string{}
			if c.org != "" {
				over["macie-chatops:organization"] = c.org
			}
			if c.members == nil {
				dev, _ := filepath.Abs(filepath.Join("..", "..", "policies", "dev.yaml"))
				over["macie-chatops:policyFile"] = dev // no per-account quarantine override
			}
			m, err := deploy(t, over, c.members)
			if err != nil {
				t.Fatal(err)
			}
			env, _ := remediatorOf(t, m)
			for _, k := range []string{EnvOrgStackSet, EnvOrgCallAs, EnvExplicitMembers} {
				got, ok := env[k]
				want, wantOK := c.want[k]
				if ok != wantOK || got != want {
					t.Errorf("remediator %s = %q (set: %v), want %q (set: %v)", k, got, ok, want, wantOK)
				}
			}
		})
	}
}

// The remediator may describe the instances of exactly its own StackSet (in the stack's region,
// by name: the management account stores it, see StackSetArn), and, as delegated administrator, list the delegated administrators
// (StackSets checks it); nothing else of CloudFormation or Organizations, and nothing of either
// without organization mode.
func TestRemediatorDescribesOnlyItsOwnStackSetInstances(t *testing.T) {
	own := Statement{Sid: "DescribeOwnStackSetInstances", Effect: "Allow", Action: "cloudformation:DescribeStackInstance",
		Resource: "arn:aws:cloudformation:us-east-1:*:stackset/macie-chatops-dev-members:*"}
	delegated := Statement{Sid: "StackSetsDelegatedAdminCheck", Effect: "Allow", Action: "organizations:ListDelegatedAdministrators", Resource: "*"}
	for _, c := range []struct {
		name string
		org  string
		want []Statement
	}{
		{"delegated admin", orgSetting, []Statement{own, delegated}},
		{"self", `{"organizationalUnits": ["r-ab12"], "regions": ["us-east-1"], "callAs": "SELF"}`, []Statement{own}},
		{"explicit members only", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			over := map[string]string{}
			members := defaultMembers
			if c.org != "" {
				over["macie-chatops:organization"] = c.org
				members = defaultMembers[:1]
			}
			m, err := deploy(t, over, members)
			if err != nil {
				t.Fatal(err)
			}
			_, pol := remediatorOf(t, m)
			var got []Statement
			for _, st := range pol.Statement {
				for _, a := range list(st.Action) {
					if strings.HasPrefix(a, "cloudformation:") || strings.HasPrefix(a, "organizations:") || a == "*" {
						got = append(got, st)
						break
					}
				}
			}
			g, _ := json.MarshalIndent(got, "", "  ")
			w, _ := json.MarshalIndent(c.want, "", "  ")
			if string(g) != string(w) {
				t.Errorf("the remediator's CloudFormation and Organizations statements:\n%s\nwant exactly:\n%s", g, w)
			}
		})
	}
}

// infra cannot import functions (a Lambda binary must not pull in Pulumi, and the other way
// round), so the names the remediator reads are written twice: here they are read from
// functions/internal/config/config.go's source and must be the same literals.
func TestOrgRemediatorEnvNamesAreTheFunctionsNames(t *testing.T) {
	file := filepath.Join("..", "..", "functions", "internal", "config", "config.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("read the functions' environment names: %v", err)
	}
	consts := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[n.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
	}
	for name, ours := range map[string]string{"EnvOrgStackSet": EnvOrgStackSet, "EnvOrgCallAs": EnvOrgCallAs, "EnvExplicitMembers": EnvExplicitMembers} {
		theirs, ok := consts[name]
		if !ok {
			t.Errorf("%s declares no string constant %s: rename it here too", file, name)
		} else if theirs != ours {
			t.Errorf("%s: functions read %q, infra sets %q", name, theirs, ours)
		}
	}
}

// orgCentralDecisions are the IAM decision table's rows for the remediator's reading of the
// organization's StackSet: its own StackSet's instances, not another stack's StackSet in the
// same account, not a StackSet of that name in another account, and no change to its own.
func orgCentralDecisions(t *testing.T) []decision {
	t.Helper()
	m, err := deploy(t, map[string]string{"macie-chatops:organization": orgSetting}, defaultMembers)
	if err != nil {
		t.Fatal(err)
	}
	cw := extract(t, m)
	remediator := cw.roleArn["remediator-role"]
	pol := cw.inline[remediator]
	stackSet := func(account, name string) string {
		return "arn:aws:cloudformation:us-east-1:" + account + ":stackset/" + name + ":4b1f6c0e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"
	}
	ctx := map[string]any{"aws:SecureTransport": "true", "aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": security, "aws:PrincipalArn": remediator}
	w := "remediator (org) "
	return []decision{
		{who: w + "own StackSet", principal: remediator, action: "cloudformation:DescribeStackInstance", resource: stackSet(security, StackSetName("dev")), account: security, context: ctx, identity: pol, want: "Allowed",
			guard: []mut{{"identity", "DescribeOwnStackSetInstances", "drop"}}},
		// prod's StackSet in the same security account: denied because the grant names dev's.
		{who: w + "another stack's StackSet", principal: remediator, action: "cloudformation:DescribeStackInstance", resource: stackSet(security, StackSetName("prod")), account: security, context: ctx, identity: pol, want: "Denied",
			guard: []mut{{"identity", "DescribeOwnStackSetInstances", "anyResource"}}},
		// The grant names any account (the management account stores a delegated
		// administrator's StackSet: StackSetArn), so another account's StackSet of that name is
		// refused by the account boundary (a StackSet has no resource policy), and in AWS by
		// CloudFormation itself; no guard flips it.
		{who: w + "same name, other account", principal: remediator, action: "cloudformation:DescribeStackInstance", resource: stackSet(outsider, StackSetName("dev")), account: outsider, context: ctx, identity: pol, want: "Denied"},
		// Reading only: never a change to the member stacks.
		{who: w + "own StackSet", principal: remediator, action: "cloudformation:UpdateStackInstances", resource: stackSet(security, StackSetName("dev")), account: security, context: ctx, identity: pol, want: "Denied",
			guard: []mut{{"identity", "DescribeOwnStackSetInstances", "widen"}}},
		{who: w + "own StackSet", principal: remediator, action: "cloudformation:DescribeStackSet", resource: stackSet(security, StackSetName("dev")), account: security, context: ctx, identity: pol, want: "Denied",
			guard: []mut{{"identity", "DescribeOwnStackSetInstances", "widen"}}},
		{who: w + "delegated admin check", principal: remediator, action: "organizations:ListDelegatedAdministrators", resource: "*", account: security, context: ctx, identity: pol, want: "Allowed",
			guard: []mut{{"identity", "StackSetsDelegatedAdminCheck", "drop"}}},
	}
}
