package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/shared/bucketfix"
	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/naming"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// This file is the flow of a policy finding (a bucket's settings, not an object's data): the
// finding-handler records what the message shows and decides flapping; the remediator, the only
// part with member credentials, inspects the bucket, stores the plan (the snapshot) in the
// ledger before anything changes, applies it, and undoes it from the stored snapshot.

// BucketFixer is the bucket-setting engine acting in one account (a *bucketfix.Fixer).
type BucketFixer interface {
	Inspect(ctx context.Context, kind bucketfix.Kind, bucket string, spec bucketfix.Spec) (bucketfix.Plan, error)
	Apply(ctx context.Context, p bucketfix.Plan) (bucketfix.Plan, error)
	Undo(ctx context.Context, p bucketfix.Plan) error
}

// BucketFixers gives the fixer acting as an account's bucket-settings role.
type BucketFixers interface {
	FixerFor(ctx context.Context, accountID, region, sessionName string) (BucketFixer, error)
}

// RoleFixers builds fixers on S3 clients from quarantine.Clients: RoleClients with the
// bucket-settings role's name in AWS, StaticClients in local mode and tests.
type RoleFixers struct{ Clients quarantine.Clients }

// FixerFor returns a fixer acting in the account.
func (r RoleFixers) FixerFor(ctx context.Context, accountID, region, sessionName string) (BucketFixer, error) {
	c, err := r.Clients.S3For(ctx, accountID, region, sessionName)
	if err != nil {
		return nil, err
	}
	api, ok := c.(bucketfix.API)
	if !ok {
		return nil, fmt.Errorf("the S3 client for account %s (%T) cannot change bucket settings", accountID, c)
	}
	return &bucketfix.Fixer{S3: api}, nil
}

// NotEnabled is the outcome of a bucket remediation on a stack that did not deploy the
// bucket-settings role (BUCKET_SETTINGS_ROLE_NAME is empty).
const NotEnabled = "bucket remediations are not enabled in this stack's policy (the bucket-settings role is not deployed): nothing was changed. Give the finding type AUTO or REVIEW in the policy file, run pulumi up, then press Retry"

// Outcomes shown in Slack.
const (
	OutcomeAlreadyFixed = "already fixed, nothing changed"
	OutcomeChanged      = "the bucket changed since the finding; nothing done"
)

var errPlanStored = errors.New("a plan is already stored")

// bucketSpec is what the policy says the fixed setting is, for the record's account.
func (h *Remediator) bucketSpec(rec ledger.Record) bucketfix.Spec {
	bf := h.Policy.BucketFixFor(rec.AccountID)
	inOrg := h.InOrg
	if inOrg == nil {
		// Without an organizations lookup, the accounts the policy names are the organization:
		// a destination elsewhere is treated as external (the fix is REVIEW only, and the
		// approver sees which rules it disables).
		known := h.Policy.AccountIDs()
		inOrg = func(_ context.Context, account string) (bool, error) {
			return account == rec.AccountID || slices.Contains(known, account), nil
		}
	}
	return bucketfix.Spec{Encryption: bucketfix.Encryption(bf.Encryption), InOrg: inOrg}
}

// fixer is the bucket-settings role's engine in the record's account, or NotEnabled.
func (h *Remediator) fixer(ctx context.Context, rec ledger.Record) (BucketFixer, error) {
	if h.Buckets == nil {
		return nil, errors.New(NotEnabled)
	}
	return h.Buckets.FixerFor(ctx, rec.AccountID, rec.Region, roleSessionName(rec.FindingID))
}

// roleSessionName names the role session after the finding, in the characters STS accepts
// ([\w+=,.@-], at most 64): an occurrence's record id has a "#", which AssumeRole refuses.
func roleSessionName(findingID string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_+=,.@-", r):
			return r
		}
		return '-'
	}, "macie-chatops-"+findingID)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// storedPlan decodes the record's stored plan.
func storedPlan(rec ledger.Record) (bucketfix.Plan, bool, error) {
	var p bucketfix.Plan
	if rec.BucketFix == nil || rec.BucketFix.Plan == "" {
		return p, false, nil
	}
	if err := json.Unmarshal([]byte(rec.BucketFix.Plan), &p); err != nil {
		return p, false, fmt.Errorf("the plan stored for finding %s is unreadable (%v); run `macie-chatops ledger show %s`", rec.FindingID, err, rec.FindingID)
	}
	return p, true, nil
}

// ensurePlan returns the record's stored plan, or inspects the bucket and stores the plan with a
// conditional write (only when none is stored), so a re-run never overwrites the snapshot: after a
// crash past Apply, a new Inspect would see the fixed state and record it as "before". A store
// that loses the race reads the winner's plan. inspectErr is a failure to read the bucket (shown
// to people); err is a ledger failure (retry the job).
func (h *Remediator) ensurePlan(ctx context.Context, rec ledger.Record) (next ledger.Record, p bucketfix.Plan, inspectErr, err error) {
	if p, ok, err := storedPlan(rec); ok || err != nil {
		return rec, p, err, nil
	}
	if q := h.Policy.QuarantineFor(rec.AccountID, rec.Region).Bucket; q != "" && rec.Bucket == q {
		// The quarantine bucket's settings are the stack's (its bucket policy denies the
		// bucket-settings role): say so, instead of an AccessDenied that blames the role.
		return rec, p, fmt.Errorf("bucket %s is this stack's quarantine bucket: its settings belong to the stack and the bucket-settings role may not change them, so nothing was changed. Restore them with pulumi up, and find out who changed them (the finding names the actor)", rec.Bucket), nil
	}
	if q := h.Policy.QuarantineFor(rec.AccountID, rec.Region).Bucket; q != "" && h.OrgBuckets != nil && h.OrgBuckets.IsOrgAccount(rec.AccountID) &&
		naming.IsOrgQuarantineBucket(q, rec.Bucket) {
		// Organization mode: the account's quarantine bucket is q plus a generation, the
		// current one or one retained from an earlier stack (it holds the only copies). Its
		// name says so; no lookup is needed, and none could be trusted to cover the retained.
		return rec, p, fmt.Errorf("bucket %s is a quarantine bucket of account %s (the organization StackSet's, current or retained from an earlier stack instance): its settings belong to the StackSet and the bucket-settings role may not change them, so nothing was changed. Restore them by updating the StackSet (pulumi up) or by hand for a retained bucket, and find out who changed them (the finding names the actor)", rec.Bucket, rec.AccountID), nil
	}
	fx, ferr := h.fixer(ctx, rec)
	if ferr != nil {
		return rec, p, ferr, nil
	}
	p, ierr := fx.Inspect(ctx, bucketfix.Kind(rec.BucketFix.Kind), rec.Bucket, h.bucketSpec(rec))
	if ierr != nil {
		return rec, p, fmt.Errorf("read the %s setting of bucket %s in account %s: %w", rec.BucketFix.Kind, rec.Bucket, rec.AccountID, ierr), nil
	}
	raw, jerr := json.Marshal(p)
	if jerr != nil {
		return rec, p, jerr, nil
	}
	now := time.Now().UTC()
	next, err = h.Ledger.Modify(ctx, rec.FindingID, func(r *ledger.Record) error {
		if r.BucketFix == nil {
			return fmt.Errorf("finding %s is not a bucket remediation", r.FindingID)
		}
		if r.BucketFix.Plan != "" {
			return errPlanStored
		}
		bf := *r.BucketFix
		bf.Plan, bf.PlannedAt, bf.BeforeText, bf.AfterText, bf.AlreadyFixed, bf.Notes = string(raw), now, p.BeforeText, p.AfterText, p.AlreadyFixed, p.Notes
		bf.Outcome = ""
		r.BucketFix = &bf
		r.ShownStatus, r.ShownSeq = "", r.ShownSeq+1 // the message must now show before → after
		return nil
	})
	if errors.Is(err, errPlanStored) {
		if next, err = h.Ledger.Get(ctx, rec.FindingID); err != nil {
			return rec, p, nil, err
		}
		p, _, perr := storedPlan(next)
		return next, p, perr, nil
	}
	if err != nil {
		return rec, p, nil, fmt.Errorf("store the snapshot of bucket %s: %w", rec.Bucket, err)
	}
	return next, p, nil, nil
}

// inspect makes and stores a REVIEW finding's plan, then shows before → after with Fix.
func (h *Remediator) inspect(ctx context.Context, log *slog.Logger, rec ledger.Record, j jobs.Job) error {
	if !rec.IsBucketFix() || rec.Status != ledger.Notified || rec.BucketFix.Plan != "" {
		log.Info("nothing to inspect")
		return nil
	}
	next, _, ierr, err := h.ensurePlan(ctx, rec)
	if err != nil {
		return err
	}
	if ierr != nil {
		log.Warn("bucket not inspected", "error", ierr.Error())
		next, err = h.Ledger.Annotate(ctx, rec.FindingID, func(r *ledger.Record) {
			if r.BucketFix != nil && r.BucketFix.Plan == "" {
				bf := *r.BucketFix
				bf.Outcome = "could not read the bucket's setting, so no fix is offered: " + ierr.Error()
				r.BucketFix = &bf
				r.ShownStatus, r.ShownSeq = "", r.ShownSeq+1
			}
		})
		if err != nil {
			return err
		}
	}
	return h.show(ctx, next, j)
}

// fixBucket runs a queued bucket remediation: re-check the approval, take the job, make sure
// the snapshot is stored, apply it, and record the outcome.
func (h *Remediator) fixBucket(ctx context.Context, log *slog.Logger, rec ledger.Record, j jobs.Job) error {
	switch rec.Status {
	case ledger.Queued:
		if by, err := h.approvalStands(ctx, rec); errors.Is(err, errApprovalWithdrawn) {
			log.Warn("bucket fix refused: its approver may no longer approve for this account", "by", by)
			return h.bucketOutcome(ctx, rec, j, ledger.Queued, ledger.Failed, "approval withdrawn", err.Error()+"; nothing was changed: an approver listed in the policy can press Retry", nil)
		} else if err != nil {
			return err
		}
		if h.Buckets == nil {
			log.Warn("bucket fix refused: the bucket-settings role is not deployed")
			return h.bucketOutcome(ctx, rec, j, ledger.Queued, ledger.Failed, "not enabled", NotEnabled, nil)
		}
		next, err := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator, Reason: "job started", Token: jobToken(j, ledger.InProgress)})
		if errors.Is(err, ledger.ErrConflict) {
			log.Info("another remediator took this job")
			return nil
		}
		if err != nil {
			return err
		}
		rec = next
	case ledger.InProgress:
		// Redelivered after a crash, or a duplicate running now: the stored plan and Apply's
		// re-read make the second run find what the first did.
		log.Info("resuming an interrupted bucket fix")
	default:
		log.Info("nothing to do: the finding is no longer queued")
		return nil
	}
	rec, plan, ierr, err := h.ensurePlan(ctx, rec)
	if err != nil {
		return err
	}
	if ierr != nil {
		return h.bucketOutcome(ctx, rec, j, ledger.InProgress, ledger.Failed, "inspect failed", ierr.Error(), nil)
	}
	if plan.AlreadyFixed {
		return h.bucketOutcome(ctx, rec, j, ledger.InProgress, ledger.Fixed, OutcomeAlreadyFixed, "", func(bf *ledger.BucketFix) {
			bf.Changed, bf.Outcome = false, OutcomeAlreadyFixed
		})
	}
	fx, err := h.fixer(ctx, rec)
	if err != nil {
		return h.bucketOutcome(ctx, rec, j, ledger.InProgress, ledger.Failed, "not enabled", err.Error(), nil)
	}
	res, err := fx.Apply(ctx, plan)
	switch {
	case err == nil:
		outcome := ""
		if res.AlreadyFixed {
			// The stored plan changes something, so this is our own earlier run (its answer was
			// lost) or someone fixed it meanwhile: either way the snapshot is the state before.
			outcome = "(it was already in the fixed state when this run looked: nothing changed now)"
		}
		h.Metrics.Count(ctx, obs.Quarantines, 1, "Kind", "bucket-fix")
		if err := h.bucketOutcome(ctx, rec, j, ledger.InProgress, ledger.Fixed, "bucket setting fixed: "+plan.AfterText, "", func(bf *ledger.BucketFix) {
			bf.Changed, bf.FixedAt, bf.Outcome = true, time.Now().UTC(), outcome
		}); err != nil || res.AlreadyFixed {
			return err
		}
		return h.afterLateApply(ctx, log, rec, fx, plan)
	case errors.Is(err, bucketfix.ErrUnverified):
		// Written, but the read-back did not show it yet: the documented answer is "run it
		// again" (the redelivery converges: already fixed, or ErrChanged), not a failure for a
		// person. The record stays IN_PROGRESS; the sweeper re-drives it if the queue gives up.
		log.Warn("bucket fix not verified yet; the job is retried", "error", err.Error())
		return fmt.Errorf("bucket fix of %s not verified yet (retried): %w", rec.Bucket, err)
	case errors.Is(err, bucketfix.ErrChanged):
		h.Metrics.Count(ctx, obs.Blocked, 1, "Reason", "bucket changed")
		return h.bucketOutcome(ctx, rec, j, ledger.InProgress, ledger.Blocked, "bucket changed", OutcomeChanged+" (the setting is neither the snapshot nor the fix). Look at the bucket and fix it by hand, then Dismiss; Retry applies the same approved plan, so it only succeeds once the bucket is back in the snapshot state", func(bf *ledger.BucketFix) {
			bf.Outcome = OutcomeChanged
		})
	default:
		h.Metrics.Count(ctx, obs.Failures, 1, "Kind", "bucket-fix")
		return h.bucketOutcome(ctx, rec, j, ledger.InProgress, ledger.Failed, "bucket fix failed", fmt.Sprintf("change the %s setting of bucket %s: %v", rec.BucketFix.Kind, rec.Bucket, err), nil)
	}
}

// afterLateApply runs after this job's Apply wrote: when the record is already being undone or
// undone, this was a late duplicate delivery (another delivery fixed it, and an approver undid
// that fix before this write landed, on a bucket back in the snapshot state). The write is taken
// back, so the bucket is what the ledger says: the snapshot. Undo writes only over the fixed
// state it finds, so a repeat or a concurrent undo job converges.
func (h *Remediator) afterLateApply(ctx context.Context, log *slog.Logger, rec ledger.Record, fx BucketFixer, plan bucketfix.Plan) error {
	cur, err := h.Ledger.Get(ctx, rec.FindingID)
	if err != nil {
		return fmt.Errorf("re-read finding %s after its fix: %w", rec.FindingID, err)
	}
	if cur.Status != ledger.Undoing && cur.Status != ledger.Undone {
		return nil
	}
	log.Warn("a late duplicate fix landed after the Undo: taking it back", "status", string(cur.Status))
	if err := fx.Undo(ctx, plan); err != nil && !errors.Is(err, bucketfix.ErrChanged) {
		// A redelivery would find the record UNDONE and do nothing, so there is no retry: the
		// bucket is left fixed (the safe side) and the log says so; look at the bucket.
		h.Metrics.Count(ctx, obs.Failures, 1, "Kind", "bucket-late-fix")
		log.Error("a late duplicate fix could not be taken back: the bucket is fixed although the ledger says the fix was undone", "bucket", rec.Bucket, "error", err.Error())
	}
	return nil
}

// bucketOutcome records a transition of a bucket remediation and shows it.
func (h *Remediator) bucketOutcome(ctx context.Context, rec ledger.Record, j jobs.Job, from, to ledger.Status, reason, errText string, mutate func(*ledger.BucketFix)) error {
	next, err := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: from, To: to, Actor: ActorRemediator, Reason: reason, Token: jobToken(j, to),
		Mutate: func(r *ledger.Record) {
			r.Error = errText
			if mutate != nil && r.BucketFix != nil {
				bf := *r.BucketFix
				mutate(&bf)
				r.BucketFix = &bf
			}
		}})
	if errors.Is(err, ledger.ErrConflict) {
		h.Log.Info("bucket fix outcome already recorded by another run", "findingId", rec.FindingID, "to", string(to))
		return nil
	}
	if err != nil {
		return fmt.Errorf("record the bucket fix outcome (%s): %w", to, err)
	}
	h.Log.Info("bucket fix", "findingId", rec.FindingID, "to", string(to), "reason", reason)
	return h.show(ctx, next, j)
}

// undoBucket restores the stored snapshot, after re-checking that the person who pressed Undo
// may still approve for the account.
func (h *Remediator) undoBucket(ctx context.Context, log *slog.Logger, rec ledger.Record, j jobs.Job) error {
	if rec.Status != ledger.Undoing || !rec.IsBucketFix() {
		log.Info("nothing to do: the fix is not being undone")
		return nil
	}
	back := func(msg string) error {
		return h.bucketOutcome(ctx, rec, j, ledger.Undoing, ledger.Fixed, "undo not done", msg, nil)
	}
	if by, err := h.approvalStands(ctx, rec); errors.Is(err, errApprovalWithdrawn) {
		log.Warn("undo refused: its approver may no longer approve for this account", "by", by)
		return back(err.Error() + "; nothing was changed")
	} else if err != nil {
		return err
	}
	plan, ok, err := storedPlan(rec)
	if err != nil || !ok {
		return back(fmt.Sprintf("no readable snapshot is stored for this fix (%v); nothing was changed", err))
	}
	if later, err := h.laterFix(ctx, rec); err != nil {
		return err
	} else if later != "" {
		return back(fmt.Sprintf("a later fix of this setting (finding %s) is in place over this one: undo that one first; nothing was changed", later))
	}
	fx, err := h.fixer(ctx, rec)
	if err != nil {
		return back(err.Error())
	}
	switch err := fx.Undo(ctx, plan); {
	case err == nil:
		h.Metrics.Count(ctx, obs.Releases, 1, "Kind", "bucket-undo")
		return h.bucketOutcome(ctx, rec, j, ledger.Undoing, ledger.Undone, "restored: "+plan.BeforeText, "", func(bf *ledger.BucketFix) {
			bf.Outcome = "restored: " + plan.BeforeText
			if bf.Undo != nil {
				u := *bf.Undo
				u.DoneAt = time.Now().UTC()
				bf.Undo = &u
			}
		})
	case errors.Is(err, bucketfix.ErrChanged):
		return back("the bucket changed since the fix; nothing done (Undo restores the snapshot only over the setting it made)")
	default:
		// The restore may have been written (a lost answer, or ErrUnverified: not visible yet),
		// so "the fix is still in place" (FIXED) could be a lie: retry instead. The redelivery
		// finds the snapshot restored (a no-op) or restores it; the sweeper re-drives a stale
		// UNDOING and, after its last try, puts it back to FIXED saying it may be restored.
		log.Warn("undo not finished; the job is retried", "error", err.Error())
		return fmt.Errorf("restore the %s setting of bucket %s (retried): %w", rec.BucketFix.Kind, rec.Bucket, err)
	}
}

// laterFix is another record's fix of the same setting of the same bucket, made after rec's and
// still in place (FIXED or being undone). Undoing rec would write rec's older snapshot over it:
// the bucket relaxed while that record still says FIXED.
func (h *Remediator) laterFix(ctx context.Context, rec ledger.Record) (string, error) {
	recs, err := h.Ledger.List(ctx, ledger.Filter{AccountID: rec.AccountID})
	if err != nil {
		return "", fmt.Errorf("look up later fixes of bucket %s: %w", rec.Bucket, err)
	}
	for _, r := range recs {
		if r.FindingID == rec.FindingID || r.Bucket != rec.Bucket || r.BucketFix == nil || r.BucketFix.Kind != rec.BucketFix.Kind || !r.BucketFix.Changed {
			continue
		}
		if (r.Status == ledger.Fixed || r.Status == ledger.Undoing) && r.BucketFix.FixedAt.After(rec.BucketFix.FixedAt) {
			return r.FindingID, nil
		}
	}
	return "", nil
}

// policyFacts is what a policy finding's messages show, from the finding.
func policyFacts(f *finding.Finding) *ledger.PolicyFacts {
	pf := &ledger.PolicyFacts{}
	if d := f.PolicyDetails; d != nil {
		pf.API, pf.APIService, pf.FirstSeen, pf.LastSeen = d.API, d.APIServiceName, d.FirstSeen, d.LastSeen
		if a := d.Actor; a != nil {
			pf.IP, pf.Domain = a.IPAddress, a.Domain
			if u := a.User; u != nil {
				pf.Actor, pf.ActorType, pf.ActorAccount = u.Who(), u.Type, u.AccountID
			}
		}
	}
	b := f.Bucket
	if b == nil {
		return pf
	}
	if b.EffectivePermission != "" {
		pf.Exposure = append(pf.Exposure, "public access: "+b.EffectivePermission)
	}
	if pa := b.PublicAccess; pa != nil {
		var open []string
		for _, x := range []struct {
			on   bool
			name string
		}{{pa.ACLAllowsPublicRead, "ACL allows public read"}, {pa.ACLAllowsPublicWrite, "ACL allows public write"},
			{pa.PolicyAllowsPublicRead, "policy allows public read"}, {pa.PolicyAllowsPublicWrite, "policy allows public write"}} {
			if x.on {
				open = append(open, x.name)
			}
		}
		if len(open) > 0 {
			pf.Exposure = append(pf.Exposure, strings.Join(open, ", "))
		}
		pf.Exposure = append(pf.Exposure, "bucket Block Public Access "+onOff(pa.BucketBlock.AllOn())+", account Block Public Access "+onOff(pa.AccountBlock.AllOn()))
	}
	if e := b.DefaultServerSideEncryption.EncryptionType; e != "" {
		pf.Exposure = append(pf.Exposure, "default encryption: "+e)
	}
	if b.AllowsUnencryptedObjectUploads != "" {
		pf.Exposure = append(pf.Exposure, "allows unencrypted uploads: "+b.AllowsUnencryptedObjectUploads)
	}
	if b.SharedAccess != "" {
		pf.Exposure = append(pf.Exposure, "shared access: "+b.SharedAccess)
	}
	if r := b.Replication; r != nil && r.Replicated {
		line := "replicated"
		if r.ReplicatedExternally {
			line += " outside the organization"
		}
		if len(r.Accounts) > 0 {
			line += " to " + strings.Join(r.Accounts, ", ")
		}
		pf.Exposure = append(pf.Exposure, line)
	}
	if strings.Contains(f.Type, "S3BucketShared") {
		// Macie names the grantee in the finding's description ("The bucket policy grants
		// access to account 444455556666"); the Finding model has no structured field for it.
		if f.Description != "" {
			pf.SharedWith = append(pf.SharedWith, f.Description)
		}
		if r := b.Replication; r != nil && len(r.Accounts) > 0 {
			pf.SharedWith = append(pf.SharedWith, "accounts "+strings.Join(r.Accounts, ", "))
		}
		if b.SharedAccess != "" {
			pf.SharedWith = append(pf.SharedWith, "sharedAccess "+b.SharedAccess+" (Macie's evaluation of the bucket policy and ACL)")
		}
		if pa := b.PublicAccess; pa != nil && (pa.PolicyAllowsPublicRead || pa.ACLAllowsPublicRead) {
			pf.SharedWith = append(pf.SharedWith, "everyone (public)")
		}
	}
	return pf
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// openStatuses are the states of a sensitive-data finding that still needs someone.
var openStatuses = []ledger.Status{ledger.Received, ledger.Notified, ledger.Queued, ledger.InProgress, ledger.Failed, ledger.Blocked}

// enrichPolicy fills a policy finding's record before it is created: the open data findings in
// its bucket and, for an AUTO fix of a bucket fixed Count times within Window, REVIEW with the
// reason (flapping) naming who keeps changing the setting.
func (h *Findings) enrichPolicy(ctx context.Context, f *finding.Finding, rec *ledger.Record, d *policy.Decision) error {
	if rec.PolicyFacts == nil {
		return nil
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	fl := h.Policy.BucketFixFor(rec.AccountID).Flapping
	recs, err := h.Ledger.List(ctx, ledger.Filter{AccountID: rec.AccountID})
	if err != nil {
		return fmt.Errorf("look up findings in bucket %s: %w", rec.Bucket, err)
	}
	fixes := 0
	for _, r := range recs {
		if r.Bucket != rec.Bucket {
			continue // (the record being created is not in the ledger yet; an earlier occurrence is)
		}
		if strings.HasPrefix(r.FindingType, "SensitiveData:") && slices.Contains(openStatuses, r.Status) {
			rec.PolicyFacts.OpenDataFindings++
		}
		if rec.BucketFix != nil && r.BucketFix != nil && r.BucketFix.Kind == rec.BucketFix.Kind && r.BucketFix.Changed &&
			!r.BucketFix.FixedAt.IsZero() && now.Sub(r.BucketFix.FixedAt) <= fl.Window {
			fixes++
		}
	}
	if rec.BucketFix != nil && d.Action == policy.Auto && fl.Count > 0 && fixes >= fl.Count {
		who := rec.PolicyFacts.Actor
		if who == "" {
			who = "an actor Macie did not name"
		}
		why := fmt.Sprintf("this bucket's %s was fixed %d times in the last %s and changed back again, this time by %s", rec.BucketFix.Kind, fixes, fl.Window, who)
		d.Action, d.Reason = policy.Review, "flapping: "+why+" (policy bucketFixes.flapping)"
		rec.Action, rec.Reason = string(d.Action), d.Reason
		rec.BucketFix.Flapping = why + ". It needs a person: ask them why, or fix it and keep it fixed."
	}
	return nil
}

// reoccurred: a Macie update of a policy finding whose occurrence is closed (FIXED, DISMISSED or
// UNDONE) reports the setting relaxed again after it was closed (Macie updates one finding per
// bucket and type, raising its count, instead of raising a new one). It returns the occurrence's
// record id, and whether a person closed the previous one (DISMISSED, UNDONE): the new occurrence
// then waits for a person too (REVIEW, never AUTO), but it is never silent, or an attacker would
// only need one Dismiss to relax the bucket for good. A change made by our own bucket-settings role
// (roleName, in the finding's account: our fix, our undo) is not a new occurrence.
func reoccurred(f *finding.Finding, rec ledger.Record, roleName string) (occurrence string, byPerson, ok bool) {
	closed := rec.Status == ledger.Fixed || rec.Status == ledger.Dismissed || rec.Status == ledger.Undone
	if !rec.IsBucketFix() || !closed || f.Count <= rec.FindingCount || f.PolicyDetails == nil {
		return "", false, false
	}
	var closedAt time.Time
	for _, e := range rec.History {
		if e.To == rec.Status {
			closedAt = e.At
		}
	}
	if !f.PolicyDetails.LastSeen.After(closedAt) {
		return "", false, false
	}
	if a := f.PolicyDetails.Actor; a != nil && a.User != nil && ownRole(a.User.ARN, rec.AccountID, roleName) {
		return "", false, false
	}
	base, _, _ := strings.Cut(rec.FindingID, "#")
	return fmt.Sprintf("%s#%d", base, f.Count), rec.Status != ledger.Fixed, true
}

// ownRole: the ARN is a session of exactly this stack's bucket-settings role in the account
// (arn:<partition>:sts::<account>:assumed-role/<roleName>/<session>). Only the role's exact name
// proves it: whoever calls AssumeRole chooses the session name, and anyone who may create roles
// chooses a look-alike role name, so an attacker relaxing the bucket again could otherwise pass
// for us, and the bucket would stay relaxed under a record that says FIXED.
func ownRole(arn, account, roleName string) bool {
	if roleName == "" {
		return false
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sts" || parts[4] != account {
		return false
	}
	rest, ok := strings.CutPrefix(parts[5], "assumed-role/")
	if !ok {
		return false
	}
	role, session, ok := strings.Cut(rest, "/")
	return ok && role == roleName && session != "" && !strings.Contains(session, "/")
}

// requestInspect sends a REVIEW bucket remediation's inspect job once: the remediator (the only
// part with member credentials) stores the plan and shows before → after with Fix.
func (h *Findings) requestInspect(ctx context.Context, rec ledger.Record) (ledger.Record, error) {
	if !needsInspect(rec) {
		return rec, nil
	}
	if err := h.Jobs.Send(ctx, jobs.Job{Kind: jobs.Inspect, FindingID: rec.FindingID, By: ledger.ActorPolicy}); err != nil {
		return rec, fmt.Errorf("queue the inspection of bucket %s: %w", rec.Bucket, err)
	}
	return h.Ledger.Annotate(ctx, rec.FindingID, markInspectSent(time.Now()))
}

func markInspectSent(at time.Time) func(*ledger.Record) {
	return func(r *ledger.Record) {
		if r.BucketFix != nil {
			bf := *r.BucketFix
			bf.InspectSentAt = at.UTC()
			r.BucketFix = &bf
		}
	}
}

// needsInspect: a REVIEW bucket remediation whose plan was never asked for.
func needsInspect(r ledger.Record) bool {
	return r.IsBucketFix() && r.Status == ledger.Notified && policy.Action(r.Action) == policy.Review &&
		r.BucketFix.Plan == "" && r.BucketFix.InspectSentAt.IsZero()
}
