package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// TestMain stops the moto the policy-finding tests share (it runs in its own process group).
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedMoto()
	os.Exit(code)
}

const (
	policyFixtures = "../../../shared/testdata/macie-policy/"
	motoAccount    = testenv.MotoAccount
	// policyFlowPolicy gives each of the six policy types an action, as example-org.yaml does,
	// with S3BucketPublic REVIEW so both a REVIEW and an AUTO block-public-access fix run.
	policyFlowPolicy = `version: 1
defaults:
  minSeverity: LOW
  actions:
    Policy:IAMUser/S3BlockPublicAccessDisabled: AUTO
    Policy:IAMUser/S3BucketPublic: REVIEW
    Policy:IAMUser/S3BucketEncryptionDisabled: AUTO
    Policy:IAMUser/S3BucketReplicatedExternally: REVIEW
    Policy:IAMUser/S3BucketSharedExternally: REVIEW
    Policy:IAMUser/S3BucketSharedWithCloudFront: NOTIFY
    SensitiveData:*: REVIEW
  approvers:
    users: [U0ALICE]
  slack:
    channel: C0SEC
    teamId: T0TEAM
  quarantine:
    bucket: quarantine-{account}
  bucketFixes:
    flapping:
      count: 2
      windowSeconds: 3600
accounts:
  "123456789012":
    name: workshop
`
)

// fixerHook wraps the real fixer so a test can kill the job's goroutine (a crashed process) at
// a chosen point, or lose Apply's answer after S3 took the write.
type fixerHook struct {
	BucketFixer
	mu sync.Mutex
	// crash: "before-apply" (the snapshot is stored, nothing applied) or "after-apply" (S3
	// changed, nothing recorded): the job's goroutine ends there, like a process that died.
	crash string
	// loseAnswer: Apply's write lands but its answer is an error.
	loseAnswer bool
}

func (f *fixerHook) Apply(ctx context.Context, p bucketfix.Plan) (bucketfix.Plan, error) {
	f.mu.Lock()
	crash, lose := f.crash, f.loseAnswer
	f.crash, f.loseAnswer = "", false
	f.mu.Unlock()
	if crash == "before-apply" {
		runtime.Goexit()
	}
	res, err := f.BucketFixer.Apply(ctx, p)
	if crash == "after-apply" {
		runtime.Goexit()
	}
	if lose && err == nil {
		return bucketfix.Plan{}, errors.New("read tcp 127.0.0.1: connection reset by peer (the answer was lost)")
	}
	return res, err
}

type hookedFixers struct {
	inner BucketFixers
	hook  *fixerHook
}

func (h hookedFixers) FixerFor(ctx context.Context, account, region, session string) (BucketFixer, error) {
	fx, err := h.inner.FixerFor(ctx, account, region, session)
	if err != nil {
		return nil, err
	}
	h.hook.mu.Lock()
	defer h.hook.mu.Unlock()
	h.hook.BucketFixer = fx
	return h.hook, nil
}

// newPolicyStack is the handlers wired as in AWS, with moto as S3 (versitygw lacks the bucket
// setting APIs) and the bucket-settings role as moto's account credentials.
func newPolicyStack(t *testing.T, policyYAML string) (*stack, *fixerHook) {
	moto := testenv.SharedMoto(t)
	creds := aws.Credentials{AccessKeyID: testenv.MotoCredentials.AccessKey, SecretAccessKey: testenv.MotoCredentials.SecretKey}
	st, remed := baseStack(t, policyYAML, moto.Endpoint, creds)
	st.findings.BucketRoleName = "macie-chatops-dev-bucket-settings"
	hook := &fixerHook{}
	fixers := RoleFixers{Clients: &quarantine.StaticClients{Endpoint: moto.Endpoint, Accounts: map[string]aws.Credentials{motoAccount: creds}}}
	remed.Buckets = hookedFixers{inner: fixers, hook: hook}
	st.remed = remed
	return st, hook
}

// policyEvent is a policy-finding fixture rewritten to be about bucket, with its own id.
func (st *stack) policyEvent(file, bucket, id string) []byte {
	return st.policyEventWith(file, bucket, id, nil)
}

// policyEventWith is policyEvent with the detail changed by mutate.
func (st *stack) policyEventWith(file, bucket, id string, mutate func(detail map[string]any)) []byte {
	path := policyFixtures + file
	if !strings.HasPrefix(file, "constructed-") {
		path = fixtures + file
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		st.t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		st.t.Fatal(err)
	}
	d := ev["detail"].(map[string]any)
	d["id"] = id
	d["accountId"] = motoAccount
	d["resourcesAffected"].(map[string]any)["s3Bucket"].(map[string]any)["name"] = bucket
	ev["account"] = motoAccount
	if mutate != nil {
		mutate(d)
	}
	b, _ := json.Marshal(ev)
	return b
}

func (st *stack) mustBucket(name string, versioned bool) {
	if _, err := st.s3c.CreateBucket(st.ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		st.t.Fatal(err)
	}
	if versioned {
		if _, err := st.s3c.PutBucketVersioning(st.ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			st.t.Fatal(err)
		}
	}
}

// setting is a bucket's setting of a kind as S3 shows it, as JSON ("absent" when there is none):
// what the tests compare before, after the fix and after the undo.
func (st *stack) setting(kind bucketfix.Kind, bucket string) string {
	var v any
	var err error
	switch kind {
	case bucketfix.BlockPublicAccess:
		var out *s3.GetPublicAccessBlockOutput
		if out, err = st.s3c.GetPublicAccessBlock(st.ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket}); err == nil {
			v = out.PublicAccessBlockConfiguration
		}
	case bucketfix.DefaultEncryption:
		var out *s3.GetBucketEncryptionOutput
		if out, err = st.s3c.GetBucketEncryption(st.ctx, &s3.GetBucketEncryptionInput{Bucket: &bucket}); err == nil {
			v = out.ServerSideEncryptionConfiguration
		}
	case bucketfix.ExternalReplication:
		var out *s3.GetBucketReplicationOutput
		if out, err = st.s3c.GetBucketReplication(st.ctx, &s3.GetBucketReplicationInput{Bucket: &bucket}); err == nil {
			v = out.ReplicationConfiguration
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && strings.HasPrefix(ae.ErrorCode(), "NoSuch") || errors.As(err, &ae) && strings.Contains(ae.ErrorCode(), "NotFound") {
		return "absent"
	}
	if err != nil {
		st.t.Fatalf("read %s of %s: %v", kind, bucket, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (st *stack) process(body []byte) {
	st.t.Helper()
	if err := st.findings.Process(st.ctx, body); err != nil {
		st.t.Fatalf("finding-handler: %v\n%s", err, st.logs)
	}
}

func (st *stack) record(id string) ledger.Record {
	st.t.Helper()
	r, err := st.ledger.Get(st.ctx, id)
	if err != nil {
		st.t.Fatal(err)
	}
	return r
}

// message is the finding's own message as the fake Slack holds it now.
func (st *stack) message(id string) *slackMsg {
	st.t.Helper()
	r := st.record(id)
	st.slack.mu.Lock()
	defer st.slack.mu.Unlock()
	for _, m := range st.slack.msgs {
		if m.TS == r.MessageTS {
			return m
		}
	}
	st.t.Fatalf("no message for %s (ts %q)", id, r.MessageTS)
	return nil
}

// blocksText is every text of a message's blocks, one per line, for asserting what people
// read (buttons are asserted with button).
func (m *slackMsg) blocksText() string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if t, ok := x["text"].(string); ok {
				out = append(out, t)
			}
			for k, y := range x {
				if k != "text" || !isString(y) {
					walk(y)
				}
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	for _, b := range m.Blocks {
		walk(b)
	}
	return strings.Join(out, "\n")
}

func isString(v any) bool { _, ok := v.(string); return ok }

func (st *stack) clickOK(user, action, id string) {
	st.t.Helper()
	r := st.record(id)
	if resp := st.click(user, action, id, r.Channel, r.MessageTS); resp.Status != 200 {
		st.t.Fatalf("click %s: %+v", action, resp)
	}
}

// policyCase is one of the six policy-finding types end to end.
type policyCase struct {
	file   string
	kind   bucketfix.Kind // "" = no remediation
	action policy.Action
	// relax puts the bucket in the state the finding reports.
	relax func(st *stack, bucket string)
}

func bpaRelaxed(st *stack, bucket string) {
	// A partial setting, so the undo must restore exactly these four values, not "absent".
	if _, err := st.s3c.PutPublicAccessBlock(st.ctx, &s3.PutPublicAccessBlockInput{Bucket: &bucket,
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(false),
			IgnorePublicAcls: aws.Bool(false), RestrictPublicBuckets: aws.Bool(false)}}); err != nil {
		st.t.Fatal(err)
	}
}

func noEncryption(st *stack, bucket string) {
	if _, err := st.s3c.DeleteBucketEncryption(st.ctx, &s3.DeleteBucketEncryptionInput{Bucket: &bucket}); err != nil {
		st.t.Fatal(err)
	}
}

func externalReplication(st *stack, bucket string) {
	st.mustBucket(bucket+"-dest", true)
	role := "arn:aws:iam::" + motoAccount + ":role/replication"
	if _, err := st.s3c.PutBucketReplication(st.ctx, &s3.PutBucketReplicationInput{Bucket: &bucket, ReplicationConfiguration: &types.ReplicationConfiguration{
		Role: &role,
		Rules: []types.ReplicationRule{
			{ID: aws.String("inside"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled, Filter: &types.ReplicationRuleFilter{Prefix: aws.String("a/")},
				DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
				Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::" + bucket + "-dest"), Account: aws.String(motoAccount)}},
			{ID: aws.String("outside"), Priority: aws.Int32(2), Status: types.ReplicationRuleStatusEnabled, Filter: &types.ReplicationRuleFilter{Prefix: aws.String("b/")},
				DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
				Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::elsewhere"), Account: aws.String("210987654321")}},
		}}}); err != nil {
		st.t.Fatal(err)
	}
}

var policyCases = []policyCase{
	{"constructed-policy-S3BlockPublicAccessDisabled.json", bucketfix.BlockPublicAccess, policy.Auto, bpaRelaxed},
	{"constructed-policy-S3BucketPublic.json", bucketfix.BlockPublicAccess, policy.Review, func(*stack, string) {}},
	{"event-eventbridge-policy-encryption-disabled-COMPLETED.json", bucketfix.DefaultEncryption, policy.Auto, noEncryption},
	{"constructed-policy-S3BucketReplicatedExternally.json", bucketfix.ExternalReplication, policy.Review, externalReplication},
	{"constructed-policy-S3BucketSharedExternally.json", "", policy.Review, func(*stack, string) {}},
	{"constructed-policy-S3BucketSharedWithCloudFront.json", "", policy.Notify, func(*stack, string) {}},
}

// TestPolicyFindingsEndToEnd: each of the six policy-finding types, from the event to Slack to
// the click to the change (read back from S3) to the undo (the exact prior setting).
func TestPolicyFindingsEndToEnd(t *testing.T) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	for i, c := range policyCases {
		name := strings.TrimSuffix(strings.TrimPrefix(c.file, "constructed-policy-"), ".json")
		t.Run(name, func(t *testing.T) {
			st.t = t
			bucket := fmt.Sprintf("policy-flow-%d", i)
			id := fmt.Sprintf("policy-%d", i)
			st.mustBucket(bucket, true)
			c.relax(st, bucket)
			var before string
			if c.kind != "" {
				before = st.setting(c.kind, bucket)
			}
			st.process(st.policyEvent(c.file, bucket, id))
			st.drain()
			rec := st.record(id)
			if rec.Action != string(c.action) {
				t.Fatalf("decision %s, want %s (%s)", rec.Action, c.action, rec.Reason)
			}
			m := st.message(id)
			text := m.blocksText()
			for _, want := range []string{bucket, rec.PolicyFacts.API, rec.PolicyFacts.Actor} {
				if !strings.Contains(text, want) {
					t.Errorf("message lacks %q:\n%s", want, text)
				}
			}
			switch {
			case c.kind == "" && c.action == policy.Notify:
				if _, ok := m.button(slackmsg.ActionDismiss); ok {
					t.Fatalf("NOTIFY message has buttons: %s", text)
				}
				if !strings.Contains(text, "Shared with") {
					t.Fatalf("shared-with missing: %s", text)
				}
				return
			case c.kind == "":
				if _, ok := m.button(slackmsg.ActionFix); ok {
					t.Fatal("a type without a remediation offers Fix")
				}
				if !strings.Contains(text, "Shared with") {
					t.Fatalf("shared-with missing: %s", text)
				}
				st.clickOK("U0ALICE", slackmsg.ActionAcknowledge, id)
				if r := st.record(id); r.Status != ledger.Dismissed || r.LastActor() != "U0ALICE" || !strings.Contains(st.message(id).blocksText(), "Acknowledged by <@U0ALICE>") {
					t.Fatalf("acknowledge: %s %s", r.Status, st.message(id).blocksText())
				}
				return
			case c.action == policy.Review:
				if rec.Status != ledger.Notified || rec.BucketFix.Plan == "" {
					t.Fatalf("REVIEW: no plan stored before the message: %+v", rec.BucketFix)
				}
				if st.setting(c.kind, bucket) != before {
					t.Fatal("REVIEW changed the bucket before any click")
				}
				if !strings.Contains(text, "Before → after") || !strings.Contains(text, rec.BucketFix.AfterText) {
					t.Fatalf("before → after missing: %s", text)
				}
				if _, ok := m.button(slackmsg.ActionFix); !ok {
					t.Fatalf("no Fix button: %s", text)
				}
				st.clickOK("U0ALICE", slackmsg.ActionFix, id)
				st.drain()
			}
			rec = st.record(id)
			if rec.Status != ledger.Fixed || !rec.BucketFix.Changed {
				t.Fatalf("not fixed: %s %q %+v\n%s", rec.Status, rec.Error, rec.BucketFix, st.logs)
			}
			after := st.setting(c.kind, bucket)
			var plan bucketfix.Plan
			json.Unmarshal([]byte(rec.BucketFix.Plan), &plan)
			if after == before {
				t.Fatalf("S3 unchanged by the fix: %s", after)
			}
			assertFixed(t, c.kind, after)
			m = st.message(id)
			if _, ok := m.button(slackmsg.ActionUndo); !ok || !strings.Contains(m.Text, "Fixed") {
				t.Fatalf("fixed message: %s %s", m.Text, m.blocksText())
			}
			// Undo: the same approvers; a non-approver changes nothing.
			st.clickOK("U0MALLORY", slackmsg.ActionUndo, id)
			if r := st.record(id); r.Status != ledger.Fixed || !strings.Contains(st.slack.lastEphemeral(), "not an approver") {
				t.Fatalf("non-approver undo: %s %q", r.Status, st.slack.lastEphemeral())
			}
			st.clickOK("U0ALICE", slackmsg.ActionUndo, id)
			st.drain()
			rec = st.record(id)
			if rec.Status != ledger.Undone {
				t.Fatalf("undo: %s %q\n%s", rec.Status, rec.Error, st.logs)
			}
			if got := st.setting(c.kind, bucket); got != before {
				t.Fatalf("undo did not restore the exact prior setting:\nbefore %s\nnow    %s", before, got)
			}
			u := rec.BucketFix.Undo
			if u == nil || u.By != "U0ALICE" || u.At.IsZero() || u.DoneAt.IsZero() || u.Restored != plan.BeforeText {
				t.Fatalf("undo audit: %+v", u)
			}
			var audit bool
			for _, e := range rec.History {
				if e.To == ledger.Undoing && e.Actor == "U0ALICE" && strings.Contains(e.Reason, plan.BeforeText) {
					audit = true
				}
			}
			if !audit {
				t.Fatalf("no audit entry naming who undid and what was restored: %+v", rec.History)
			}
			if m := st.message(id); !strings.Contains(m.Text, "Fix undone") || !strings.Contains(m.blocksText(), "Undone by <@U0ALICE>") {
				t.Fatalf("undone message: %s", m.blocksText())
			}
		})
	}
}

// assertFixed checks the fixed setting from S3's side.
func assertFixed(t *testing.T, kind bucketfix.Kind, after string) {
	t.Helper()
	switch kind {
	case bucketfix.BlockPublicAccess:
		var c types.PublicAccessBlockConfiguration
		json.Unmarshal([]byte(after), &c)
		if !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.IgnorePublicAcls) || !aws.ToBool(c.RestrictPublicBuckets) {
			t.Fatalf("not all four on: %s", after)
		}
	case bucketfix.DefaultEncryption:
		if !strings.Contains(after, "AES256") {
			t.Fatalf("default encryption not AES256: %s", after)
		}
	case bucketfix.ExternalReplication:
		var c types.ReplicationConfiguration
		json.Unmarshal([]byte(after), &c)
		for _, r := range c.Rules {
			want := types.ReplicationRuleStatusEnabled
			if aws.ToString(r.ID) == "outside" {
				want = types.ReplicationRuleStatusDisabled
			}
			if r.Status != want {
				t.Fatalf("rule %s is %s, want %s: %s", aws.ToString(r.ID), r.Status, want, after)
			}
		}
	}
}
