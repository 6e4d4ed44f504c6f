package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/smithy-go"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/functions/internal/orgbucket"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Mover is the quarantine engine as the remediator uses it.
type Mover interface {
	Move(ctx context.Context, req quarantine.Request) (*quarantine.Result, error)
	Release(ctx context.Context, req quarantine.ReleaseRequest) (*quarantine.Result, error)
}

// Remediator runs remediation and release jobs.
type Remediator struct {
	Policy *policy.Policy
	Ledger ledger.Store
	// Jobs receives the per-finding jobs a digest job fans out to.
	Jobs    jobs.Queue
	Engine  Mover
	Slack   chatops.Sender
	Log     *slog.Logger
	Metrics *obs.Metrics
	// Authz re-checks, when a digest decision is applied, that its approver may still approve for
	// the digest's account (nil refuses every digest decision).
	Authz *chatops.Authorizer
	// Buckets acts as each account's bucket-settings role (policy findings); nil when the stack
	// did not deploy it: a bucket remediation then answers NotEnabled.
	Buckets BucketFixers
	// InOrg says whether a replication destination account is in the organization (nil: the
	// accounts the policy names).
	InOrg func(ctx context.Context, account string) (bool, error)
	// OrgBuckets names an organization account's current quarantine bucket (organization mode:
	// the policy's name plus its StackSet instance's generation); nil without organization
	// mode, where every account's quarantine bucket is the policy's name.
	OrgBuckets QuarantineBuckets
}

// QuarantineBuckets names the quarantine bucket of (account, region) at run time
// (orgbucket.Resolver). Bucket's errors wrapping orgbucket.ErrNoInstance or ErrBadInstance
// mean the account has no working member stack there, ErrLookupDenied that the lookup itself
// is not allowed; any other error is transient.
type QuarantineBuckets interface {
	Bucket(ctx context.Context, account, region, base string) (string, error)
	// Forget drops what is cached of (account, region), after its bucket proved not to exist.
	Forget(account, region string)
	// IsOrgAccount: the account's bucket carries a generation (not an explicit member).
	IsOrgAccount(account string) bool
}

// ActorRemediator is the audit actor of the remediator's own transitions.
const ActorRemediator = "remediator"

// HandleSQS runs a batch of jobs; a job that failed in a way a retry can fix is reported back.
func (h *Remediator) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		var j jobs.Job
		if err := json.Unmarshal([]byte(m.Body), &j); err != nil || j.Validate() != nil {
			h.Log.Error("malformed job dropped to the dead-letter queue", "messageId", m.MessageId, "error", fmt.Sprint(err, j.Validate()))
			h.Metrics.Count(ctx, obs.Malformed, 1)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			continue
		}
		if err := h.Run(ctx, j); err != nil {
			h.Log.Error("job will be retried", "messageId", m.MessageId, "findingId", j.FindingID, "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// Run executes one job. It returns an error only when the job should be retried as is (the
// ledger or Slack was unreachable, or a bucket setting was written but not seen yet: a fix's
// bucketfix.ErrUnverified, an Undo that may have restored the snapshot); an engine failure is
// recorded as FAILED and answered in Slack.
func (h *Remediator) Run(ctx context.Context, j jobs.Job) error {
	if j.Kind == jobs.Digest {
		return h.digest(ctx, j)
	}
	log := h.Log.With("findingId", j.FindingID, "kind", string(j.Kind))
	rec, err := h.Ledger.Get(ctx, j.FindingID)
	if err != nil {
		if errors.Is(err, ledger.ErrNotFound) {
			log.Warn("job for a finding not in the ledger: nothing to do")
			return nil
		}
		return err
	}
	log = log.With("account", rec.AccountID, "status", string(rec.Status))
	switch j.Kind {
	case jobs.Remediate:
		if rec.IsBucketFix() {
			return h.fixBucket(ctx, log, rec, j)
		}
		if rec.Key == "" {
			log.Warn("remediate job for a finding with no object: nothing to quarantine")
			return nil
		}
		return h.remediate(ctx, log, rec, j)
	case jobs.Inspect:
		return h.inspect(ctx, log, rec, j)
	case jobs.Undo:
		return h.undoBucket(ctx, log, rec, j)
	case jobs.Release:
		return h.release(ctx, log, rec, j)
	case jobs.Notify:
		return h.notifyOne(ctx, log, rec)
	}
	return nil
}

// notifyOne posts a digest member's own message, once.
func (h *Remediator) notifyOne(ctx context.Context, log *slog.Logger, rec ledger.Record) error {
	if rec.MessageTS != "" || rec.Status != ledger.Notified {
		return nil
	}
	build := slackmsg.Notify
	if policy.Action(rec.Action) == policy.Review {
		build = slackmsg.Review
	}
	ref, err := h.Slack.Post(ctx, h.Policy.SlackFor(rec.AccountID).Channel, build(rec))
	if err != nil {
		return err
	}
	_, err = h.Ledger.Annotate(ctx, rec.FindingID, func(r *ledger.Record) { r.Channel, r.MessageTS, r.NotifyStatus = ref.Channel, ref.TS, NotifyPosted })
	log.Info("posted individually from a digest")
	return err
}

func (h *Remediator) remediate(ctx context.Context, log *slog.Logger, rec ledger.Record, j jobs.Job) error {
	first := true
	switch rec.Status {
	case ledger.Queued:
		if by, err := h.approvalStands(ctx, rec); errors.Is(err, errApprovalWithdrawn) {
			log.Warn("remediation refused: its approver may no longer approve for this account", "by", by)
			msg := err.Error() + "; nothing was changed: an approver listed in the policy can press Retry"
			next, terr := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: ledger.Queued, To: ledger.Failed, Actor: ActorRemediator,
				Reason: "approval withdrawn", Token: jobToken(j, ledger.Failed), Mutate: func(r *ledger.Record) { r.Error = msg }})
			if terr != nil {
				return fmt.Errorf("record the refused approval: %w", terr)
			}
			return h.show(ctx, next, j)
		} else if err != nil {
			return err
		}
		for _, e := range rec.History {
			if e.To == ledger.InProgress {
				first = false // a retry after FAILED: an earlier attempt may have copied
			}
		}
		dest, err := h.destination(ctx, rec)
		if err != nil {
			return h.noDestination(ctx, log, rec, j, err, !first)
		}
		nonce := ledger.NewToken()
		next, err := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: ledger.Queued, To: ledger.InProgress, Actor: ActorRemediator, Reason: "job started", Token: jobToken(j, ledger.InProgress),
			Mutate: func(r *ledger.Record) {
				r.MoveStart = nonce
				if h.OrgBuckets != nil && r.QuarantineBucket == "" {
					// Pin the destination with the start: a resume (this job redelivered after a
					// crash, or Retry) copies to, and looks for its copy in, this bucket, even if
					// the account's generation changes meanwhile.
					r.QuarantineBucket = dest
				}
			}})
		if errors.Is(err, ledger.ErrConflict) {
			log.Info("another remediator took this job")
			return nil
		}
		if err != nil {
			return err
		}
		if next.MoveStart != nonce {
			// The job's token was already in the record: another delivery of this job (SQS
			// delivers at least once, maybe twice at once) started the move. It may be copying
			// now: run as a resume, which looks for its copy before making one.
			first = false
			log.Info("this job's move was already started by another delivery: resuming")
		}
		rec = next
	case ledger.InProgress:
		// Redelivered after a crash mid-move: resume; the engine finds what was done.
		first = false
		log.Info("resuming an interrupted move")
	default:
		log.Info("nothing to do: the finding is no longer queued")
		return nil
	}

	q := h.Policy.QuarantineFor(rec.AccountID, rec.Region)
	dest, err := h.destination(ctx, rec)
	if err != nil {
		return h.noDestination(ctx, log, rec, j, err, !first)
	}
	req := quarantine.Request{
		FindingID: rec.FindingID,
		Object: quarantine.Object{AccountID: rec.AccountID, Region: rec.Region, Bucket: rec.Bucket, Key: rec.Key,
			VersionID: rec.VersionID, ETag: rec.ETag, Size: rec.Size},
		Settings:     quarantine.Settings{Bucket: dest, DeleteMode: q.DeleteMode, Tombstone: q.Tombstone, KMSKeyID: q.KMSKeyID},
		DecidedBy:    slackmsg.ApprovedBy(rec),
		FirstAttempt: first,
	}
	res, err := h.Engine.Move(ctx, req)
	if err != nil && res == nil && ctx.Err() == nil && h.OrgBuckets != nil && h.OrgBuckets.IsOrgAccount(rec.AccountID) && !rec.HasCopy() &&
		(isNoSuchBucket(err) || (first && isAccessDenied(err) && errors.Is(err, quarantine.ErrQuarantineBucketRefused))) {
		// The destination is not the account's bucket any more: its stack was replaced (the
		// account left the OUs and came back) and the bucket this container knew is gone, or
		// is a retained one the new stack's role may not write. Look up once more. A bucket
		// that does not exist holds no copy, nor does one that refused a first attempt's first
		// call on it, so the pin may move; otherwise it stays (a copy may be in it: a first
		// attempt refused later, say at the source's delete, copied there first) and the move
		// fails as is. A recorded copy's bucket never moves: the failure is shown with where
		// the copy was.
		fresh, lerr := h.refreshDestination(ctx, rec, dest)
		switch {
		case lerr != nil && isNoMemberStack(lerr):
			return h.noDestination(ctx, log, rec, j, lerr, !first)
		case lerr != nil:
			return fmt.Errorf("quarantine bucket %s is gone and the account's current one could not be found (retried): %w", dest, lerr)
		case fresh != dest:
			log.Info("quarantine bucket replaced: the account's stack has a new generation", "was", dest, "now", fresh)
			dest, req.Settings.Bucket = fresh, fresh
			res, err = h.Engine.Move(ctx, req)
		case isNoSuchBucket(err):
			// The StackSet still names a bucket that does not exist: say where to look, not
			// only S3's answer (which blames the role's permissions).
			err = fmt.Errorf("%w. The account's StackSet instance still names quarantine bucket %s, which does not exist: its stack may have failed to create, or someone deleted the bucket. Run `macie-chatops doctor` (organization view), fix the instance (retry the StackSet operation, or pulumi up), then press Retry", err, dest)
		}
	}
	if err != nil && res == nil && (resumable(err) || errors.Is(err, quarantine.ErrObjectGone)) && ctx.Err() == nil {
		// A failure after the copy (say, the delete's answer was lost) must not leave a FAILED
		// record that does not know where the copy is: run the move once more, as a resume,
		// which finds what the first run did (the copy, the deleted source) and finishes.
		// "Object gone" too: another job for this finding (an SQS duplicate, a re-drive of a
		// slow job) may have copied and deleted it after this run looked for a copy; the
		// resume looks again, now that the source is gone, and records that copy.
		log.Warn("move failed; resuming once to find what it did", "error", err.Error())
		req.FirstAttempt = false
		if res2, err2 := h.Engine.Move(ctx, req); err2 == nil || res2 != nil {
			res, err = res2, err2
		}
	}
	var change ledger.Change
	switch {
	case err != nil && res != nil && (res.Outcome == quarantine.Moved || res.Outcome == quarantine.AlreadyDone):
		// Moved, but a finishing touch (the tombstone) failed: the data is quarantined, so say
		// so, with a warning, and keep Release available.
		warning := "Quarantined, but a finishing step failed: " + err.Error()
		change = ledger.Change{From: ledger.InProgress, To: ledger.Quarantined, Actor: ActorRemediator, Reason: res.Summary() + " (with a warning)",
			Mutate: func(r *ledger.Record) {
				setLocation(r, res)
				r.Error, r.MayHaveCopy = warning, false
			}}
		h.Metrics.Count(ctx, obs.Quarantines, 1)
		err = nil
	case err == nil && res.Outcome == quarantine.SourceLocked:
		change = ledger.Change{From: ledger.InProgress, To: ledger.Blocked, Actor: ActorRemediator, Reason: "object lock",
			Mutate: func(r *ledger.Record) {
				setLocation(r, res)
				r.MayHaveCopy = false
				r.Error = "Copied to quarantine, but the source is under " + res.SkippedBecause + lockedUntil(res) + "; it stays readable in its bucket until the lock ends. Retry then."
			}}
		h.Metrics.Count(ctx, obs.Blocked, 1, "Reason", "lock")
	case err == nil:
		change = ledger.Change{From: ledger.InProgress, To: ledger.Quarantined, Actor: ActorRemediator, Reason: res.Summary(),
			Mutate: func(r *ledger.Record) { setLocation(r, res); r.Error, r.MayHaveCopy = "", false }}
		h.Metrics.Count(ctx, obs.Quarantines, 1)
	case errors.Is(err, quarantine.ErrObjectChanged) || errors.Is(err, quarantine.ErrObjectGone):
		reason := "object changed"
		if errors.Is(err, quarantine.ErrObjectGone) {
			reason = "object gone"
		}
		change = ledger.Change{From: ledger.InProgress, To: ledger.Blocked, Actor: ActorRemediator, Reason: reason,
			Mutate: func(r *ledger.Record) { r.Error = err.Error() }}
		h.Metrics.Count(ctx, obs.Blocked, 1, "Reason", reason)
	default:
		change = ledger.Change{From: ledger.InProgress, To: ledger.Failed, Actor: ActorRemediator, Reason: "quarantine failed",
			Mutate: func(r *ledger.Record) {
				if res != nil && res.CopyKey != "" && res.CopyVersionID != "" {
					setLocation(r, res) // a copy exists: never forget where
				}
				r.Error = err.Error()
			}}
		h.Metrics.Count(ctx, obs.Failures, 1)
	}
	change.Token = jobToken(j, change.To)
	next, terr := h.Ledger.Transition(ctx, rec.FindingID, change)
	if terr != nil {
		// The move is idempotent: a retried job finishes the ledger write.
		return fmt.Errorf("record the outcome (%s): %w", change.To, terr)
	}
	if err != nil {
		log.Warn("remediation did not complete", "to", string(next.Status), "error", err.Error())
	} else {
		log.Info("remediation done", "to", string(next.Status), "outcome", string(res.Outcome))
	}
	return h.show(ctx, next, j)
}

// reasonNoMemberStack is the ledger reason of a FAILED whose account has no working member
// stack (orgbucket.ErrNoInstance, ErrBadInstance): the sweeper re-drives it (see redriveNoStack).
const reasonNoMemberStack = "no member stack"

// reasonLookupDenied is the ledger reason of a FAILED whose quarantine bucket could not be
// looked up because CloudFormation refused the remediator (orgbucket.ErrLookupDenied: not
// allowed, or no such StackSet as it calls it): a person must fix the permission or setting, so it is FAILED at once with the reason (not retried by SQS until
// the sweeper gives up with none); the sweeper re-drives it like a missing stack, bounded, which
// covers a permission that was still propagating.
const reasonLookupDenied = "quarantine bucket lookup refused"

// isNoMemberStack: the lookup answered for good (no working member stack, or the lookup is not
// allowed): FAILED with the reason, re-driven by the sweeper; anything else is retried as is.
func isNoMemberStack(err error) bool {
	return errors.Is(err, orgbucket.ErrNoInstance) || errors.Is(err, orgbucket.ErrBadInstance) || errors.Is(err, orgbucket.ErrLookupDenied)
}

func lookupReason(err error) string {
	if errors.Is(err, orgbucket.ErrLookupDenied) {
		return reasonLookupDenied
	}
	return reasonNoMemberStack
}

// destination is the bucket a move of rec copies to. Without organization mode: the policy's
// name, as always. In organization mode: the bucket pinned in the record when its move started
// (or where a copy was recorded), the policy's name for a move started before generations,
// else the account's current one.
func (h *Remediator) destination(ctx context.Context, rec ledger.Record) (string, error) {
	base := h.Policy.QuarantineFor(rec.AccountID, rec.Region).Bucket
	if h.OrgBuckets == nil {
		return base, nil
	}
	if rec.QuarantineBucket != "" {
		return rec.QuarantineBucket, nil
	}
	for _, e := range rec.History {
		if e.To == ledger.InProgress {
			// A move started without pinning its bucket: only the remediator from before
			// generations did that, and it copied to the policy's name (the bucket its stack
			// retained when the update replaced it). Its copy, if any, is there: resume there.
			return base, nil
		}
	}
	return h.OrgBuckets.Bucket(ctx, rec.AccountID, rec.Region, base)
}

var errPinMoved = errors.New("the record's quarantine bucket changed under this job")

// refreshDestination forgets the account's cached bucket, looks it up again and, when it
// changed, moves the record's pin from was to it (only if the record still pins was and has no
// recorded copy).
func (h *Remediator) refreshDestination(ctx context.Context, rec ledger.Record, was string) (string, error) {
	h.OrgBuckets.Forget(rec.AccountID, rec.Region)
	base := h.Policy.QuarantineFor(rec.AccountID, rec.Region).Bucket
	fresh, err := h.OrgBuckets.Bucket(ctx, rec.AccountID, rec.Region, base)
	if err != nil || fresh == was {
		return fresh, err
	}
	_, err = h.Ledger.Modify(ctx, rec.FindingID, func(r *ledger.Record) error {
		// Unpinned ("") is a move started before generations, whose destination was the
		// policy's name (was): the same as pinning was.
		if r.Status != ledger.InProgress || r.QuarantineKey != "" || (r.QuarantineBucket != was && r.QuarantineBucket != fresh && r.QuarantineBucket != "") {
			return errPinMoved
		}
		r.QuarantineBucket = fresh
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("pin the new quarantine bucket %s: %w", fresh, err)
	}
	return fresh, nil
}

// noDestination answers a move whose destination could not be named. No member stack for the
// account: FAILED with the reason (the message names the account, the StackSet and doctor,
// and offers Retry), and the sweeper re-drives it a bounded number of times, so an account
// whose stack is still being deployed is covered without a person. Any other failure (the
// lookup throttled, its answer lost): the job is retried as it is.
func (h *Remediator) noDestination(ctx context.Context, log *slog.Logger, rec ledger.Record, j jobs.Job, err error, mayHaveCopy bool) error {
	if !isNoMemberStack(err) {
		// Not counted as a Failure (that metric is for outcomes people act on): the job is
		// retried, and one that never succeeds reaches the sweeper's give-up, which counts.
		return fmt.Errorf("name the quarantine bucket (retried): %w", err)
	}
	next, terr := h.Ledger.Transition(ctx, rec.FindingID, ledger.Change{From: rec.Status, To: ledger.Failed, Actor: ActorRemediator,
		Reason: lookupReason(err), Token: jobToken(j, ledger.Failed),
		Mutate: func(r *ledger.Record) {
			r.Error = err.Error()
			if mayHaveCopy {
				r.MayHaveCopy = true // an earlier attempt may have copied: Dismiss stays refused
			}
		}})
	if errors.Is(terr, ledger.ErrConflict) {
		log.Info("the record moved on while its quarantine bucket was looked up")
		return nil
	}
	if terr != nil {
		return fmt.Errorf("record that the account has no member stack: %w", terr)
	}
	h.Metrics.Count(ctx, obs.Failures, 1, "Kind", "no-member-stack")
	log.Warn("no member stack for the account: FAILED, the sweeper re-drives it", "error", err.Error())
	return h.show(ctx, next, j)
}

func isNoSuchBucket(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket"
}

func isAccessDenied(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied" {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == 403
}

// jobToken is the attempt token of a job's transition: a redelivered job re-sends the same
// write, and a lost answer of the first send is recognised as this job's own write.
func jobToken(j jobs.Job, to ledger.Status) string {
	if j.Attempt == "" {
		return ""
	}
	return j.Attempt + ":" + string(to)
}

// resumable: a failure a resume may turn into an outcome. Not: the object changed or is gone, it
// needs a person, or a copy did not verify (a resume must never be the one to trust that copy).
func resumable(err error) bool {
	for _, e := range []error{quarantine.ErrObjectChanged, quarantine.ErrObjectGone, quarantine.ErrNeedsHuman, quarantine.ErrCopyMismatch} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

func lockedUntil(res *quarantine.Result) string {
	if res.LockedUntil.IsZero() {
		return ""
	}
	return " until " + res.LockedUntil.UTC().Format("2006-01-02 15:04 UTC")
}

func setLocation(r *ledger.Record, res *quarantine.Result) {
	r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion = res.CopyBucket, res.CopyKey, res.CopyVersionID
	if res.SourceVersionID != "" && r.VersionID == "" && res.Versioned {
		r.VersionID = res.SourceVersionID
	}
	r.TombstoneVersion = res.TombstoneVersion
	r.DroppedTags = res.DroppedTags
}

func (h *Remediator) release(ctx context.Context, log *slog.Logger, rec ledger.Record, j jobs.Job) error {
	if rec.Status != ledger.Releasing {
		log.Info("nothing to do: the finding is not being released")
		return nil
	}
	res, err := h.Engine.Release(ctx, quarantine.ReleaseRequest{
		FindingID:  rec.FindingID,
		Object:     quarantine.Object{AccountID: rec.AccountID, Region: rec.Region, Bucket: rec.Bucket, Key: rec.Key, VersionID: rec.VersionID},
		CopyBucket: rec.QuarantineBucket, CopyKey: rec.QuarantineKey, CopyVersionID: rec.QuarantineVersion,
		TombstoneVersion: rec.TombstoneVersion, DroppedTags: rec.DroppedTags, By: rec.LastActor(), // who moved it to RELEASING, per the ledger
	})
	var change ledger.Change
	if err == nil && res.Outcome != quarantine.SourceLocked {
		change = ledger.Change{From: ledger.Releasing, To: ledger.Released, Actor: ActorRemediator, Reason: res.Summary(),
			Mutate: func(r *ledger.Record) { r.Error = "" }}
		h.Metrics.Count(ctx, obs.Releases, 1)
	} else {
		msg := "release failed"
		if err != nil {
			msg = err.Error()
		} else {
			msg = "restored, but the quarantined copy is locked: " + res.SkippedBecause
		}
		change = ledger.Change{From: ledger.Releasing, To: ledger.Quarantined, Actor: ActorRemediator, Reason: "release failed",
			Mutate: func(r *ledger.Record) { r.Error = msg }}
		h.Metrics.Count(ctx, obs.Failures, 1, "Kind", "release")
	}
	change.Token = jobToken(j, change.To)
	next, terr := h.Ledger.Transition(ctx, rec.FindingID, change)
	if terr != nil {
		return fmt.Errorf("record the release outcome: %w", terr)
	}
	log.Info("release finished", "to", string(next.Status))
	return h.show(ctx, next, j)
}

// show updates the finding's message to its new state (see display). A Slack failure is logged,
// not returned: the ledger has the outcome, the record says what the message still shows, and
// the sweeper re-renders it; a retried job must not move the object again.
func (h *Remediator) show(ctx context.Context, rec ledger.Record, j jobs.Job) error {
	// Where to answer comes from the ledger (recorded at the click), never from the job.
	if _, err := (display{ledger: h.Ledger, slack: h.Slack, policy: h.Policy, log: h.Log, now: time.Now}).sync(ctx, rec, rec.ResponseURL); err != nil {
		h.Log.Error("could not show the outcome in Slack; the sweeper will", "findingId", rec.FindingID, "error", err.Error())
	}
	return nil
}

// digest applies the decision the remediation-handler recorded on a digest, and nothing else:
// the job names the digest only. It re-checks the approver against the policy for the digest's
// account, acts on the members the approver's message showed (DigestSeq <= cut-off), posts the
// ones that arrived later on their own, and answers where the ledger says the message is. One
// conditional transition (an audit entry naming the approver) per finding; a redelivered job
// finds the work done.
func (h *Remediator) digest(ctx context.Context, j jobs.Job) error {
	log := h.Log.With("digestId", j.DigestID)
	hdr, err := h.Ledger.Get(ctx, j.DigestID)
	if errors.Is(err, ledger.ErrNotFound) {
		log.Warn("digest job for a digest not in the ledger: nothing done")
		return nil
	}
	if err != nil {
		return err
	}
	if hdr.Digest == nil || hdr.Digest.Decision == nil {
		log.Warn("digest job without a decision recorded by the remediation-handler: nothing done")
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "unrecorded-decision")
		return nil
	}
	dec := *hdr.Digest.Decision
	log = log.With("action", dec.Action, "by", dec.By, "cutoff", dec.Cutoff)
	if dec.Applied {
		log.Info("digest decision already applied")
		return nil
	}
	ref := chatops.Ref{Channel: hdr.Channel, TS: hdr.MessageTS, ResponseURL: dec.ResponseURL}
	if hdr.MessageTS == "" && dec.ResponseURL == "" {
		ref.Channel = "" // webhook mode without a click's response_url: post the outcome anew
	}
	var ok bool
	if h.Authz != nil {
		var aerr error
		if ok, aerr = h.Authz.IsApprover(ctx, dec.By, h.Policy.ApproversFor(hdr.AccountID)); !ok && aerr != nil {
			return fmt.Errorf("re-check approver %s: %w", dec.By, aerr) // retried: the lookup may recover
		}
	}
	if !ok {
		log.Warn("digest decision refused: its approver may not approve for this account")
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "approver")
		outcome := fmt.Sprintf("⛔ Not applied: %s may not approve for account %s under the current policy. Nothing was changed.", slackmsg.Who(dec.By), slackmsg.Escape(hdr.AccountID))
		return h.finishDigest(ctx, log, hdr, ref, outcome, nil)
	}
	recs, err := h.Ledger.List(ctx, ledger.Filter{DigestID: j.DigestID})
	if err != nil {
		return err
	}
	done, lost, later := 0, 0, 0
	var shown []ledger.Record
	for _, r := range recs {
		if r.DigestSeq == 0 || r.DigestSeq > dec.Cutoff {
			// Not on the approver's screen: not theirs to decide. It gets its own message.
			if r.Status == ledger.Notified && r.MessageTS == "" {
				if err := h.Jobs.Send(ctx, jobs.Job{Kind: jobs.Notify, FindingID: r.FindingID}); err != nil {
					return err
				}
				later++
			}
			continue
		}
		shown = append(shown, r)
		if r.Status != ledger.Notified || policy.Action(r.Action) != policy.Review {
			continue
		}
		var c ledger.Change
		next := jobs.Job{FindingID: r.FindingID, By: dec.By}
		switch dec.Action {
		case slackmsg.ActionRemediateAll:
			c = ledger.Change{From: ledger.Notified, To: ledger.Queued, Actor: dec.By, Reason: "approved in Slack (digest " + j.DigestID + ")"}
			next.Kind = jobs.Remediate
		case slackmsg.ActionDismissAll:
			c = ledger.Change{From: ledger.Notified, To: ledger.Dismissed, Actor: dec.By, Reason: "dismissed in Slack (digest " + j.DigestID + ")"}
		case slackmsg.ActionReviewEach:
			next.Kind = jobs.Notify
		default:
			log.Warn("unknown digest action: nothing done")
			return nil
		}
		if c.To != "" {
			if _, err := h.Ledger.Transition(ctx, r.FindingID, c); err != nil {
				if errors.Is(err, ledger.ErrConflict) {
					lost++
					continue
				}
				return err
			}
		}
		if next.Kind != "" {
			if err := h.Jobs.Send(ctx, next); err != nil {
				if c.To == ledger.Queued {
					// Never leave a QUEUED record without a job: show it as failed, with Retry.
					h.Ledger.Transition(ctx, r.FindingID, ledger.Change{From: ledger.Queued, To: ledger.Failed, Actor: ActorRemediator,
						Reason: "queue unavailable", Mutate: func(x *ledger.Record) { x.Error = "could not queue the remediation job: " + err.Error() }})
				}
				return err
			}
		}
		done++
	}
	var outcome string
	switch dec.Action {
	case slackmsg.ActionRemediateAll:
		outcome = fmt.Sprintf("✅ Remediate all, by %s: %d findings queued for quarantine (a few at a time)", slackmsg.Who(dec.By), done)
	case slackmsg.ActionDismissAll:
		outcome = fmt.Sprintf("🚫 Dismiss all, by %s: %d findings dismissed", slackmsg.Who(dec.By), done)
	case slackmsg.ActionReviewEach:
		outcome = fmt.Sprintf("🔎 Review individually, by %s: posting %d findings one by one (paced)", slackmsg.Who(dec.By), done)
	}
	outcome += fmt.Sprintf(", of the %d this message showed.", dec.Cutoff)
	if lost > 0 {
		outcome += fmt.Sprintf(" %d were already being handled.", lost)
	}
	if later > 0 {
		outcome += fmt.Sprintf(" %d arrived after and get their own messages.", later)
	}
	log.Info("digest decision applied", "findings", done, "later", later)
	return h.finishDigest(ctx, log, hdr, ref, outcome, shown)
}

// finishDigest marks the decision applied in the ledger, then shows the outcome.
func (h *Remediator) finishDigest(ctx context.Context, log *slog.Logger, hdr ledger.Record, ref chatops.Ref, outcome string, shown []ledger.Record) error {
	if _, err := h.Ledger.Annotate(ctx, hdr.FindingID, func(r *ledger.Record) {
		if r.Digest == nil || r.Digest.Decision == nil {
			return
		}
		ds, dec := *r.Digest, *r.Digest.Decision
		dec.Applied, dec.Outcome = true, outcome
		ds.Decision = &dec
		r.Digest = &ds
	}); err != nil {
		return err
	}
	if len(shown) > 0 {
		// Re-read: the counts shown are the members' states after the decision.
		if recs, err := h.Ledger.List(ctx, ledger.Filter{DigestID: hdr.FindingID}); err == nil {
			shown = shownMembers(recs, hdr.Digest.Decision.Cutoff)
		}
	}
	view := DigestViewFrom(hdr.FindingID, shown, outcome)
	if len(shown) == 0 {
		view.AccountID, view.AccountName, view.Region, view.Bucket = hdr.AccountID, hdr.AccountName, hdr.Region, hdr.Bucket
	}
	var err error
	if ref.Channel == "" && ref.ResponseURL == "" {
		_, err = h.Slack.Post(ctx, h.Policy.SlackFor(hdr.AccountID).Channel, slackmsg.Digest(view))
	} else {
		err = h.Slack.Update(ctx, ref, slackmsg.Digest(view))
	}
	if err != nil {
		log.Warn("could not update the digest message", "error", err.Error())
	}
	return nil
}
