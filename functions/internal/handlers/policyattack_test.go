package handlers

// Attacks on the policy-finding remediations (issue 15): forged inputs, lost answers, stale
// jobs and clicks that must not leave a bucket relaxed while the ledger or the message says it
// is fixed, must not make Undo restore the wrong state, and must not let anyone but an approver
// act. Every test runs the real handlers on moto (bucket settings), bbolt (ledger) and the fake
// Slack server, like policyflow_fail_test.go.

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// attackFixer wraps the real fixer: each hook, when set, runs instead of the call once (and is
// then cleared), so a test can lose an answer after S3 took the write, or fail a read.
type attackFixer struct {
	BucketFixer
	mu      sync.Mutex
	inspect func(inner BucketFixer, ctx context.Context, kind bucketfix.Kind, bucket string, spec bucketfix.Spec) (bucketfix.Plan, error)
	apply   func(inner BucketFixer, ctx context.Context, p bucketfix.Plan) (bucketfix.Plan, error)
	undo    func(inner BucketFixer, ctx context.Context, p bucketfix.Plan) error
	// sessions are the role session names the remediator asked for.
	sessions []string
}

func (a *attackFixer) take() (func(BucketFixer, context.Context, bucketfix.Kind, string, bucketfix.Spec) (bucketfix.Plan, error),
	func(BucketFixer, context.Context, bucketfix.Plan) (bucketfix.Plan, error), func(BucketFixer, context.Context, bucketfix.Plan) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inspect, a.apply, a.undo
}

func (a *attackFixer) Inspect(ctx context.Context, kind bucketfix.Kind, bucket string, spec bucketfix.Spec) (bucketfix.Plan, error) {
	if h, _, _ := a.take(); h != nil {
		a.mu.Lock()
		a.inspect = nil
		a.mu.Unlock()
		return h(a.BucketFixer, ctx, kind, bucket, spec)
	}
	return a.BucketFixer.Inspect(ctx, kind, bucket, spec)
}

func (a *attackFixer) Apply(ctx context.Context, p bucketfix.Plan) (bucketfix.Plan, error) {
	if _, h, _ := a.take(); h != nil {
		a.mu.Lock()
		a.apply = nil
		a.mu.Unlock()
		return h(a.BucketFixer, ctx, p)
	}
	return a.BucketFixer.Apply(ctx, p)
}

func (a *attackFixer) Undo(ctx context.Context, p bucketfix.Plan) error {
	if _, _, h := a.take(); h != nil {
		a.mu.Lock()
		a.undo = nil
		a.mu.Unlock()
		return h(a.BucketFixer, ctx, p)
	}
	return a.BucketFixer.Undo(ctx, p)
}

type attackFixers struct {
	inner BucketFixers
	hook  *attackFixer
}

// stsSessionPattern is the RoleSessionName constraint of STS AssumeRole (AWS API reference:
// [\w+=,.@-]*, 2 to 64 characters). moto does not check the characters, so the test does.
var stsSessionPattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (h attackFixers) FixerFor(ctx context.Context, account, region, session string) (BucketFixer, error) {
	h.hook.mu.Lock()
	h.hook.sessions = append(h.hook.sessions, session)
	h.hook.mu.Unlock()
	if !stsSessionPattern.MatchString(session) {
		return nil, fmt.Errorf("operation error STS: AssumeRole, api error ValidationError: 1 validation error detected: Value '%s' at 'stsSessionPattern' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
	}
	fx, err := h.inner.FixerFor(ctx, account, region, session)
	if err != nil {
		return nil, err
	}
	h.hook.mu.Lock()
	defer h.hook.mu.Unlock()
	h.hook.BucketFixer = fx
	return h.hook, nil
}

// newAttackStack is newPolicyStack with the attack hooks on the remediator's fixers.
func newAttackStack(t *testing.T) (*stack, *attackFixer) {
	st, _ := newPolicyStack(t, policyFlowPolicy)
	hook := &attackFixer{}
	st.remed.Buckets = attackFixers{inner: st.remed.Buckets, hook: hook}
	return st, hook
}

// fixedAuto runs an AUTO block-public-access finding to FIXED and returns the relaxed setting
// from before the fix.
func fixedAuto(t *testing.T, st *stack, bucket, id string) string {
	t.Helper()
	j, before := startAuto(t, st, bucket, id)
	if err := st.remed.Run(st.ctx, j); err != nil {
		t.Fatal(err)
	}
	if r := st.record(id); r.Status != ledger.Fixed || !r.BucketFix.Changed {
		t.Fatalf("%s: %s %q", id, r.Status, r.Error)
	}
	return before
}

// isFixedBPA: all four Block Public Access settings are on, as S3 shows them.
func isFixedBPA(st *stack, bucket string) bool {
	var c types.PublicAccessBlockConfiguration
	s := st.setting(bucketfix.BlockPublicAccess, bucket)
	if s == "absent" || json.Unmarshal([]byte(s), &c) != nil {
		return false
	}
	return aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
}

// ledgerMatchesBucket fails when the record (and its message) says FIXED while S3 shows the
// bucket relaxed: the one lie this feature must never tell.
func ledgerMatchesBucket(t *testing.T, st *stack, id, bucket string) {
	t.Helper()
	r := st.record(id)
	if r.Status == ledger.Fixed && !isFixedBPA(st, bucket) {
		t.Fatalf("%s is FIXED in the ledger (message: %q) but S3 shows %s", id, firstLine(st.message(id).blocksText()), st.setting(bucketfix.BlockPublicAccess, bucket))
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

const ownRoleName = "macie-chatops-dev-bucket-settings"

func drainQueue(st *stack) []jobs.Job {
	var out []jobs.Job
	for {
		select {
		case j := <-st.queue:
			out = append(out, j)
		default:
			return out
		}
	}
}

// --- Who may press what -----------------------------------------------------------------------

// A non-approver cannot Fix, Undo or Acknowledge; a click carrying another message's channel is
// refused; a replayed Fix or Undo click after the Undo changes nothing; a late remediate job
// after the Undo does not re-apply the fix.
func TestAttackClicksOnPolicyFindings(t *testing.T) {
	st, _ := newAttackStack(t)
	// REVIEW with a plan: a stranger presses Fix, then Acknowledge.
	st.mustBucket("clicks", false)
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "clicks", "clicks-1"))
	st.drain()
	before := st.setting(bucketfix.BlockPublicAccess, "clicks")
	r := st.record("clicks-1")
	for _, a := range []string{slackmsg.ActionFix, slackmsg.ActionAcknowledge, slackmsg.ActionDismiss, slackmsg.ActionRetry} {
		st.click("U0MALLORY", a, "clicks-1", r.Channel, r.MessageTS)
		st.drain()
		if got := st.record("clicks-1"); got.Status != ledger.Notified {
			t.Fatalf("non-approver %s moved it to %s", a, got.Status)
		}
	}
	// An approver's click from another channel.
	st.click("U0ALICE", slackmsg.ActionFix, "clicks-1", "C0OTHER", r.MessageTS)
	st.drain()
	if got := st.record("clicks-1"); got.Status != ledger.Notified || st.setting(bucketfix.BlockPublicAccess, "clicks") != before {
		t.Fatalf("a click from another channel acted: %s", got.Status)
	}

	// FIXED: a stranger presses Undo.
	fixedAuto(t, st, "clicks-undo", "clicks-undo-1")
	ru := st.record("clicks-undo-1")
	st.click("U0MALLORY", slackmsg.ActionUndo, "clicks-undo-1", ru.Channel, ru.MessageTS)
	st.drain()
	if got := st.record("clicks-undo-1"); got.Status != ledger.Fixed || !isFixedBPA(st, "clicks-undo") {
		t.Fatalf("non-approver Undo: %s", got.Status)
	}
	// The approver undoes; then the Undo and Fix clicks are replayed, and the original remediate
	// job is delivered late.
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "clicks-undo-1")
	st.drain()
	relaxed := st.setting(bucketfix.BlockPublicAccess, "clicks-undo")
	if st.record("clicks-undo-1").Status != ledger.Undone || isFixedBPA(st, "clicks-undo") {
		t.Fatal("undo did not run")
	}
	for _, a := range []string{slackmsg.ActionUndo, slackmsg.ActionFix, slackmsg.ActionRetry, slackmsg.ActionDismiss} {
		st.click("U0ALICE", a, "clicks-undo-1", ru.Channel, ru.MessageTS)
	}
	st.drain()
	if err := st.remed.Run(st.ctx, jobs.Job{Kind: jobs.Remediate, FindingID: "clicks-undo-1", By: ledger.ActorPolicy}); err != nil {
		t.Fatal(err)
	}
	if err := st.remed.Run(st.ctx, jobs.Job{Kind: jobs.Undo, FindingID: "clicks-undo-1", By: "U0ALICE"}); err != nil {
		t.Fatal(err)
	}
	if got := st.record("clicks-undo-1"); got.Status != ledger.Undone || st.setting(bucketfix.BlockPublicAccess, "clicks-undo") != relaxed {
		t.Fatalf("after replays and a late job: %s, bucket %s (want %s)", got.Status, st.setting(bucketfix.BlockPublicAccess, "clicks-undo"), relaxed)
	}
}

// The approver pressed Undo, then was removed from the account's approvers before the job ran:
// the job refuses, the fix stays and the message says why.
func TestAttackUndoApproverRecheckedAtJobTime(t *testing.T) {
	st, _ := newAttackStack(t)
	fixedAuto(t, st, "recheck", "recheck-1")
	st.clickOK("U0ALICE", slackmsg.ActionUndo, "recheck-1")
	pol, err := policy.Parse([]byte(strings.Replace(policyFlowPolicy, "users: [U0ALICE]", "users: [U0BOB]", 1)), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.remed.Policy = pol
	st.drain()
	r := st.record("recheck-1")
	if r.Status != ledger.Fixed || !isFixedBPA(st, "recheck") || !strings.Contains(r.Error, "may not approve") {
		t.Fatalf("%s %q fixed=%v", r.Status, r.Error, isFixedBPA(st, "recheck"))
	}
}

// Buttons are per record kind: a data finding's record refuses Fix/Undo/Acknowledge (a click
// crafted with a bucket-fix action on a data finding's value), and a policy finding's record
// refuses Remediate and Release (which would run the object quarantine).
func TestAttackCrossKindActions(t *testing.T) {
	st, _ := newAttackStack(t)
	if _, _, err := st.ledger.Create(st.ctx, ledger.Record{FindingID: "data-1", AccountID: motoAccount, Bucket: "x", Key: "k", FindingType: "SensitiveData:S3Object/Personal",
		Action: "REVIEW", Channel: "C0SEC", MessageTS: "1.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ledger.Transition(st.ctx, "data-1", ledger.Change{From: ledger.Received, To: ledger.Notified, Actor: ledger.ActorPolicy}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{slackmsg.ActionFix, slackmsg.ActionUndo} {
		st.click("U0ALICE", a, "data-1", "C0SEC", "1.1")
	}
	if n := len(drainQueue(st)); n != 0 || st.record("data-1").Status != ledger.Notified {
		t.Fatalf("a bucket-fix action on a data finding: %d jobs, %s", n, st.record("data-1").Status)
	}
	st.mustBucket("cross", false)
	st.process(st.policyEvent("constructed-policy-S3BucketPublic.json", "cross", "cross-1"))
	st.drain()
	r := st.record("cross-1")
	for _, a := range []string{slackmsg.ActionRemediate, slackmsg.ActionRelease} {
		st.click("U0ALICE", a, "cross-1", r.Channel, r.MessageTS)
	}
	if n := len(drainQueue(st)); n != 0 || st.record("cross-1").Status != ledger.Notified {
		t.Fatalf("an object action on a policy finding: %d jobs, %s", n, st.record("cross-1").Status)
	}
}

// --- What Slack shows -------------------------------------------------------------------------

// The finding's actor, API, IP, domain and description are attacker-controlled: none of it may
// become a mention, a link or markup in the message.
func TestAttackPolicyMessageEscapesFindingText(t *testing.T) {
	st, _ := newAttackStack(t)
	st.mustBucket("inject", false)
	hostile := "<!channel> <https://evil.example|click me> *bold* `code` @here"
	st.process(st.policyEventWith("constructed-policy-S3BucketSharedExternally.json", "inject", "inject-1", func(d map[string]any) {
		d["description"] = hostile
		d["title"] = hostile
		pd := d["policyDetails"].(map[string]any)
		pd["action"].(map[string]any)["apiCallDetails"].(map[string]any)["api"] = hostile
		pd["action"].(map[string]any)["apiCallDetails"].(map[string]any)["apiServiceName"] = hostile
		pd["actor"] = map[string]any{
			"userIdentity":     map[string]any{"type": "IAMUser", "iamUser": map[string]any{"arn": hostile, "userName": hostile, "accountId": motoAccount}},
			"ipAddressDetails": map[string]any{"ipAddressV4": hostile},
			"domainDetails":    map[string]any{"domainName": hostile},
		}
	}))
	st.drain()
	m := st.message("inject-1")
	text := m.blocksText() + "\n" + m.Text
	for _, bad := range []string{"<!channel>", "<https://evil", "@here", "`code`"} {
		if strings.Contains(text, bad) {
			t.Fatalf("hostile text %q reached the message unescaped:\n%s", bad, text)
		}
	}
	if !strings.Contains(text, "&lt;!channel&gt;") {
		t.Fatalf("the hostile actor is not shown at all:\n%s", text)
	}
}

// A malformed or hostile policyDetails (wrong JSON types, absurd dates, a huge actor) never
// crashes the finding-handler: the finding is recorded with what could be read, or refused
// with an error naming the field.
func TestAttackMalformedPolicyDetails(t *testing.T) {
	st, _ := newAttackStack(t)
	st.mustBucket("malformed", false)
	for i, mutate := range []func(pd map[string]any){
		func(pd map[string]any) { pd["actor"] = "root" },
		func(pd map[string]any) { pd["action"] = []any{1, 2} },
		func(pd map[string]any) { pd["action"].(map[string]any)["apiCallDetails"] = "x" },
		func(pd map[string]any) {
			pd["action"].(map[string]any)["apiCallDetails"].(map[string]any)["lastSeen"] = "yesterday"
		},
		func(pd map[string]any) {
			pd["actor"] = map[string]any{"userIdentity": map[string]any{"type": "AssumedRole", "assumedRole": nil}}
		},
		func(pd map[string]any) {
			pd["actor"] = map[string]any{"userIdentity": map[string]any{"type": "Unknown", "x": strings.Repeat("A", 200000)}}
		},
		func(pd map[string]any) { pd["actor"] = map[string]any{"userIdentity": []any{}} },
		func(pd map[string]any) {
			for k := range pd {
				delete(pd, k)
			}
		},
	} {
		id := fmt.Sprintf("malformed-%d", i)
		body := st.policyEventWith(bpaFixture, "malformed", id, func(d map[string]any) { mutate(d["policyDetails"].(map[string]any)) })
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("case %d: the finding-handler panicked: %v", i, p)
				}
			}()
			if err := st.findings.Process(st.ctx, body); err != nil && !strings.Contains(err.Error(), "policyDetails") {
				t.Errorf("case %d: refused without naming the field: %v", i, err)
			}
		}()
		for _, j := range drainQueue(st) {
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("case %d: the remediator panicked: %v", i, p)
					}
				}()
				st.remed.Run(st.ctx, j)
			}()
		}
	}
}

// --- Flapping ---------------------------------------------------------------------------------

// Flapping counts fixes of the same bucket and the same setting in the same account: fixes of
// another bucket, or of another setting of this bucket, do not send this one to REVIEW. The
// count lives in the ledger, so a new finding-handler (a cold start) sees it.
func TestAttackFlappingIsPerBucketAndKind(t *testing.T) {
	st, _ := newAttackStack(t) // flapping: 2 fixes within an hour
	// Two fixes of other buckets, and two of this bucket's encryption.
	fixedAuto(t, st, "flap-other-a", "flap-other-a")
	fixedAuto(t, st, "flap-other-b", "flap-other-b")
	st.mustBucket("flap-mine", false)
	for _, id := range []string{"flap-enc-1", "flap-enc-2"} {
		noEncryption(st, "flap-mine")
		st.process(st.policyEvent("event-eventbridge-policy-encryption-disabled-COMPLETED.json", "flap-mine", id))
		st.drain()
		if r := st.record(id); r.Status != ledger.Fixed || !r.BucketFix.Changed {
			t.Fatalf("%s: %s %q", id, r.Status, r.Error)
		}
	}
	bpaRelaxed(st, "flap-mine")
	st.process(st.policyEvent(bpaFixture, "flap-mine", "flap-bpa-1"))
	st.drain()
	if r := st.record("flap-bpa-1"); r.Action != "AUTO" || r.Status != ledger.Fixed {
		t.Fatalf("other buckets' or kinds' fixes counted: %s %s %q", r.Action, r.Status, r.Reason)
	}
	bpaRelaxed(st, "flap-mine")
	st.process(st.policyEvent(bpaFixture, "flap-mine", "flap-bpa-2"))
	st.drain()
	// A cold start: a new finding-handler on the same ledger.
	cold := *st.findings
	st.findings = &cold
	bpaRelaxed(st, "flap-mine")
	st.process(st.policyEvent(bpaFixture, "flap-mine", "flap-bpa-3"))
	st.drain()
	if r := st.record("flap-bpa-3"); r.Action != "REVIEW" || !strings.Contains(r.Reason, "flapping") {
		t.Fatalf("third BPA fix after a cold start: %s %q", r.Action, r.Reason)
	}
}
