package cli

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Attack on doctor's organization view: can it say "all checks passed" while an account of the
// OUs has no instance, when every list answers one item per page and the account is on a later
// page, under a child OU found on a later page, or created after the instances?

// onePerPage is Organizations answering one item per page: ListAccountsForParent through moto's
// own pagination (MaxResults 1), ListChildren paged here (moto 5.2.1 answers it in one page).
type onePerPage struct {
	asManagement
	accountPages, childPages *atomic.Int32
}

func (o onePerPage) ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, opt ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	cp := *in
	cp.MaxResults = aws.Int32(1)
	o.accountPages.Add(1)
	return o.asManagement.ListAccountsForParent(ctx, &cp, opt...)
}

func (o onePerPage) ListChildren(ctx context.Context, in *organizations.ListChildrenInput, opt ...func(*organizations.Options)) (*organizations.ListChildrenOutput, error) {
	cp := *in
	cp.NextToken = nil
	all, err := o.asManagement.ListChildren(ctx, &cp, opt...)
	if err != nil {
		return nil, err
	}
	o.childPages.Add(1)
	return &organizations.ListChildrenOutput{Children: pageOf(all.Children, in.NextToken, func(n *string) { all.NextToken = n }), NextToken: all.NextToken}, nil
}

// pageOf is the one item of items at token (an index; nil is 0), and sets the next token.
func pageOf[T any](items []T, token *string, next func(*string)) []T {
	i := 0
	if token != nil {
		i, _ = strconv.Atoi(*token)
	}
	next(nil)
	if i >= len(items) {
		return nil
	}
	if i+1 < len(items) {
		next(aws.String(strconv.Itoa(i + 1)))
	}
	return items[i : i+1]
}

// instancesOnePerPage is ListStackInstances one instance per page (moto 5.2.1 does not page it).
type instancesOnePerPage struct {
	cfnAsManagement
	pages *atomic.Int32
}

func (c instancesOnePerPage) ListStackInstances(ctx context.Context, in *cloudformation.ListStackInstancesInput, opt ...func(*cloudformation.Options)) (*cloudformation.ListStackInstancesOutput, error) {
	cp := *in
	cp.NextToken = nil
	all, err := c.cfnAsManagement.ListStackInstances(ctx, &cp, opt...)
	if err != nil {
		return nil, err
	}
	c.pages.Add(1)
	return &cloudformation.ListStackInstancesOutput{Summaries: pageOf(all.Summaries, in.NextToken, func(n *string) { all.NextToken = n }), NextToken: all.NextToken}, nil
}

func TestAttackDoctorOrganizationPagedNestedAndLater(t *testing.T) {
	endpoint := startMoto(t)
	var member, noScope atomic.Bool
	member.Store(true)
	slackURL := fakeSlack(t, &member, &noScope)
	w := newOrgWorld(t, endpoint, true, true)
	// After the instances were made: a second child OU below workloads with an account two
	// levels down, and an account in sandbox. Neither has an instance.
	team := w.ou("team", w.workloads)
	deep := w.account("deep", w.ou("deep", team))
	later := w.account("later", w.sandbox)
	cfgFile := w.writeConfig(t.TempDir(), []string{w.workloads, w.sandbox}, "", "")
	secCreds := w.cfg("arn:aws:iam::" + w.sec + ":role/security-engineer")
	var accountPages, childPages, instancePages atomic.Int32
	var mu sync.Mutex
	var callAs []cfntypes.CallAs
	env := map[string]string{"SLACK_BOT_TOKEN": docToken, "SLACK_SIGNING_SECRET": docSecret}
	deps := doctorDeps{
		getenv: func(k string) string { return env[k] },
		loadAWS: func(context.Context, string) (aws.Config, error) {
			c := secCreds.Copy()
			c.BaseEndpoint = nil
			return c, nil
		},
		sts:    func(cfg aws.Config) stsAPI { return sts.NewFromConfig(cfg) },
		lambda: func(aws.Config) lambdaAPI { return fakeLambda{limit: 1000, unreserved: 1000} },
		orgs: func(aws.Config) orgsAPI {
			return onePerPage{asManagement{organizations.NewFromConfig(w.mgmt), []string{w.sec}}, &accountPages, &childPages}
		},
		cfn: func(aws.Config) cfnAPI {
			return instancesOnePerPage{cfnAsManagement{Client: cloudformation.NewFromConfig(w.mgmt), mu: &mu, callAs: &callAs}, &instancePages}
		},
	}
	var out, errb bytes.Buffer
	code := runDoctor(Env{Stdout: &out, Stderr: &errb}, []string{"--stack", "test", "--config", cfgFile, "--endpoint", endpoint, "--slack-api", slackURL}, deps)
	got := out.String()
	for _, s := range []string{
		"✓ OU " + w.workloads + ": 4 accounts (3 OUs below it walked)",
		"✗ StackSet " + w.workloads + " in us-east-1: account " + deep + " (deep) has no stack instance",
		"✗ StackSet " + w.workloads + " in eu-west-1: account " + deep + " (deep) has no stack instance",
		"✗ StackSet " + w.sandbox + " in us-east-1: account " + later + " (later) has no stack instance",
		"✗ StackSet " + w.sandbox + " in eu-west-1: account " + later + " (later) has no stack instance",
		"- StackSet " + w.workloads + " in us-east-1: 3 of 4 active accounts CURRENT",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if strings.Contains(got, "all checks passed") || code != ExitProblem {
		t.Errorf("exit %d: doctor passed with two accounts of the OUs uncovered", code)
	}
	if n := strings.Count(got, "✗"); n != 4 {
		t.Errorf("%d ✗ lines, want 4", n)
	}
	// The lists really were paged: every account and child OU on a page of its own, and each of
	// the 10 instances (workloads' 3 first accounts and sandbox's 2, in 2 regions).
	if accountPages.Load() < 8 || childPages.Load() < 6 || instancePages.Load() < 10 {
		t.Errorf("pages: %d ListAccountsForParent, %d ListChildren, %d ListStackInstances: the lists were not paged", accountPages.Load(), childPages.Load(), instancePages.Load())
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s\nstderr:\n%s", got, errb.String())
	}
}
