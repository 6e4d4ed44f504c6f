package config

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestMissingSettingsAreNamed(t *testing.T) {
	_, err := Load(env(map[string]string{EnvTable: "t"}), EnvTable, EnvJobsQueue, EnvSlackSecretARN)
	if err == nil || !strings.Contains(err.Error(), EnvJobsQueue) || !strings.Contains(err.Error(), EnvSlackSecretARN) || !strings.Contains(err.Error(), EnvPolicyParam) {
		t.Fatalf("got %v", err)
	}
	_, err = Load(env(map[string]string{EnvPolicyFile: "p.yaml", EnvSlackMode: "carrier-pigeon"}))
	if err == nil || !strings.Contains(err.Error(), "bot or webhook") {
		t.Fatalf("got %v", err)
	}
	s, err := Load(env(map[string]string{EnvPolicyFile: "p.yaml"}))
	if err != nil || s.SlackMode != "bot" || !s.CheckOwner {
		t.Fatalf("defaults: %+v %v", s, err)
	}
}

type fakeSSM struct{ value string }

func (f fakeSSM) GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return &ssm.GetParameterOutput{Parameter: &types.Parameter{Value: aws.String(f.value)}}, nil
}

func TestInvalidPolicyFailsColdStartWithTheValidationMessage(t *testing.T) {
	_, err := LoadPolicy(context.Background(), fakeSSM{"version: 1\ndefaults:\n  minSeverity: EXTREME\n"}, "/mc/policy", "")
	if err == nil || !strings.Contains(err.Error(), "ssm:/mc/policy:3") || !strings.Contains(err.Error(), "LOW, MEDIUM, HIGH") {
		t.Fatalf("got %v", err)
	}
	p, err := LoadPolicy(context.Background(), nil, "", "../../../policies/dev.yaml")
	if err != nil || p.Hash == "" {
		t.Fatalf("bundled file: %v", err)
	}
}

type fakeSecrets struct{ value string }

func (f fakeSecrets) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}

func TestSecrets(t *testing.T) {
	s, err := LoadSecrets(context.Background(), fakeSecrets{`{"signingSecret":"abc","botToken":"xoxb-1"}`}, "arn", "bot")
	if err != nil || s.SigningSecret != "abc" {
		t.Fatal(err)
	}
	if out := fmt.Sprintf("%v %+v %s", s, s, s); strings.Contains(out, "abc") || strings.Contains(out, "xoxb") {
		t.Fatalf("secret printed: %s", out)
	}
	for mode, doc := range map[string]string{"bot": `{"signingSecret":"a"}`, "webhook": `{"signingSecret":"a","botToken":"x"}`, "x": `nope`} {
		if _, err := LoadSecrets(context.Background(), fakeSecrets{doc}, "arn", mode); err == nil {
			t.Errorf("%s %s accepted", mode, doc)
		} else if strings.Contains(err.Error(), `"a"`) {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

func TestMacieAdminAccountSetting(t *testing.T) {
	s, err := Load(env(map[string]string{EnvPolicyFile: "p.yaml", EnvMacieAdmin: "999988887777"}), EnvMacieAdmin)
	if err != nil || s.MacieAdmin != "999988887777" {
		t.Fatal(s.MacieAdmin, err)
	}
	if _, err := Load(env(map[string]string{EnvPolicyFile: "p.yaml"}), EnvMacieAdmin); err == nil || !strings.Contains(err.Error(), EnvMacieAdmin) {
		t.Fatalf("missing admin account not named: %v", err)
	}
	if _, err := Load(env(map[string]string{EnvPolicyFile: "p.yaml", EnvMacieAdmin: "9999-8888-7777"})); err == nil || !strings.Contains(err.Error(), "12-digit") {
		t.Fatalf("bad admin account: %v", err)
	}
}

func TestOrganizationSettings(t *testing.T) {
	base := map[string]string{EnvPolicyFile: "p.yaml"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	// Without organization mode (local mode, the demo): no resolver, the policy's names.
	s, err := Load(env(base))
	if err != nil || s.OrgBuckets(nil) != nil {
		t.Fatalf("explicit mode: %+v %v", s, err)
	}
	s, err = Load(env(with(EnvOrgStackSet, "mc-dev-member", EnvOrgCallAs, "DELEGATED_ADMIN", EnvExplicitMembers, "111122223333, 444455556666")))
	if err != nil {
		t.Fatal(err)
	}
	r := s.OrgBuckets(nil)
	if r == nil || r.StackSet != "mc-dev-member" || r.CallAs != "DELEGATED_ADMIN" || r.IsOrgAccount("444455556666") || !r.IsOrgAccount("777788889999") {
		t.Fatalf("resolver %+v", r)
	}
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{with(EnvOrgStackSet, "s"), []string{EnvOrgCallAs, "SELF", "DELEGATED_ADMIN"}},
		{with(EnvOrgStackSet, "s", EnvOrgCallAs, "delegated_admin"), []string{EnvOrgCallAs, `"delegated_admin"`}},
		{with(EnvOrgCallAs, "SELF"), []string{EnvOrgStackSet, "set both"}},
		{with(EnvOrgStackSet, "s", EnvOrgCallAs, "SELF", EnvExplicitMembers, "111122223333,1111"), []string{EnvExplicitMembers, `"1111"`, "12-digit"}},
	} {
		_, err := Load(env(tc.env))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: got %v, want it to name %q", tc.env, err, w)
			}
		}
	}
}
