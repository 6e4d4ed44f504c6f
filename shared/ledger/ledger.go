// Package ledger owns the record of what happened to each finding: its state machine, the
// conditional writes that stop anything from happening twice, and the audit trail of who moved it
// and why. Two stores implement the same Store interface and pass the same contract tests:
// DynamoDB for AWS and an embedded bbolt file for local mode and the CLI.
//
// Every change is a compare-and-set on the status the caller read (plus a record version, so a
// concurrent annotation is never lost). The audit entry is written in the same atomic write as the
// status it records, so the trail can never disagree with the state.
//
// Every write carries an attempt token, kept in the record (Writes). When the answer of a write is
// lost and the write is sent again (by the SDK's retry or by the caller with the same token), the
// failed condition is checked against the stored tokens: a record that holds our token is our own
// write that landed, which is success, not someone else's conflict.
package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Status is where a finding is in its life.
type Status string

// The statuses. RECEIVED is the first sight of a finding id.
const (
	Received    Status = "RECEIVED"
	Ignored     Status = "IGNORED"
	Notified    Status = "NOTIFIED"
	Queued      Status = "QUEUED"
	InProgress  Status = "IN_PROGRESS"
	Quarantined Status = "QUARANTINED"
	Failed      Status = "FAILED"
	Blocked     Status = "BLOCKED"
	Dismissed   Status = "DISMISSED"
	Releasing   Status = "RELEASING"
	Released    Status = "RELEASED"
	// Fixed, Undoing and Undone are a bucket remediation's (policy findings, see BucketFix):
	// the setting was changed (or found already fixed), an Undo is restoring the snapshot, and
	// the snapshot was restored.
	Fixed   Status = "FIXED"
	Undoing Status = "UNDOING"
	Undone  Status = "UNDONE"
	// DigestStatus marks a digest's own record (its member count, its message and the decision
	// taken on it), not a finding's. It has no transitions: it changes only by Annotate.
	DigestStatus Status = "DIGEST"
)

// Statuses lists every status of a finding (DigestStatus, a digest's own record, is not one).
var Statuses = []Status{Received, Ignored, Notified, Queued, InProgress, Quarantined, Failed, Blocked, Dismissed, Releasing, Released, Fixed, Undoing, Undone}

// transitions is the state machine. Anything not listed is illegal.
var transitions = map[Status][]Status{
	Received: {Notified, Queued, Ignored, Dismissed},
	// A Macie finding update (higher severity) can lift an ignored finding over the minimum.
	Ignored:     {Notified, Queued},
	Notified:    {Queued, Dismissed},
	Queued:      {InProgress, Failed},
	InProgress:  {Quarantined, Failed, Blocked, Fixed},
	Failed:      {Queued, Dismissed},
	Blocked:     {Queued, Dismissed},
	Quarantined: {Releasing},
	// A failed release leaves the object in quarantine, so it goes back to QUARANTINED.
	Releasing: {Released, Quarantined},
	// A bucket remediation: Undo restores the snapshot; a failed Undo leaves the fix in place,
	// so it goes back to FIXED (with the reason), where Undo can be pressed again.
	Fixed:   {Undoing},
	Undoing: {Undone, Fixed},
}

// CanTransition reports whether from → to is legal.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether nothing can happen to a finding in this status any more.
func (s Status) Terminal() bool { return len(transitions[s]) == 0 }

// Record is one finding's entry.
type Record struct {
	FindingID   string `json:"findingId" dynamodbav:"findingId"`
	AccountID   string `json:"accountId" dynamodbav:"accountId"`
	Region      string `json:"region" dynamodbav:"region"`
	Bucket      string `json:"bucket,omitempty" dynamodbav:"bucket,omitempty"`
	Key         string `json:"key,omitempty" dynamodbav:"key,omitempty"`
	VersionID   string `json:"versionId,omitempty" dynamodbav:"versionId,omitempty"`
	ETag        string `json:"eTag,omitempty" dynamodbav:"eTag,omitempty"`
	Size        int64  `json:"size,omitempty" dynamodbav:"size,omitempty"`
	FindingType string `json:"findingType" dynamodbav:"findingType"`
	Severity    string `json:"severity" dynamodbav:"severity"`
	// FindingUpdatedAt and FindingCount are the finding's updatedAt and count as last seen: a
	// later updatedAt is a Macie finding update (same id), which refreshes the record.
	FindingUpdatedAt time.Time `json:"findingUpdatedAt,omitempty" dynamodbav:"findingUpdatedAt,omitempty"`
	FindingCount     int64     `json:"findingCount,omitempty" dynamodbav:"findingCount,omitempty"`

	// What the Slack messages show, kept so any later update can be rendered from the record
	// alone (the finding itself is not stored).
	AccountName string      `json:"accountName,omitempty" dynamodbav:"accountName,omitempty"`
	Partition   string      `json:"partition,omitempty" dynamodbav:"partition,omitempty"`
	Title       string      `json:"title,omitempty" dynamodbav:"title,omitempty"`
	DetectedAt  time.Time   `json:"detectedAt,omitempty" dynamodbav:"detectedAt,omitempty"`
	Detections  []Detection `json:"detections,omitempty" dynamodbav:"detections,omitempty"`

	// ShowKeys is the policy's slack.showKeys when the finding was decided: how every Slack
	// message about it shows its object key (full, masked or none).
	ShowKeys string `json:"showKeys,omitempty" dynamodbav:"showKeys,omitempty"`

	Action     string `json:"action,omitempty" dynamodbav:"action,omitempty"`
	Reason     string `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
	PolicyHash string `json:"policyHash,omitempty" dynamodbav:"policyHash,omitempty"`

	Channel      string `json:"channel,omitempty" dynamodbav:"channel,omitempty"`
	MessageTS    string `json:"messageTs,omitempty" dynamodbav:"messageTs,omitempty"`
	DigestID     string `json:"digestId,omitempty" dynamodbav:"digestId,omitempty"`
	NotifyStatus string `json:"notifyStatus,omitempty" dynamodbav:"notifyStatus,omitempty"`
	// DigestSeq is the finding's position in its digest (1, 2, …): a click on a digest covers the
	// members up to the position its message showed, never more.
	DigestSeq int `json:"digestSeq,omitempty" dynamodbav:"digestSeq,omitempty"`
	// ResponseURL is the response_url of the click that decided this finding, recorded by the
	// remediation-handler (already pinned to Slack's host): webhook mode's only handle on the
	// message. The remediator posts there, never where a job says.
	ResponseURL string `json:"responseUrl,omitempty" dynamodbav:"responseUrl,omitempty"`
	// Digest is set on a digest's own record only (status DIGEST).
	Digest *DigestState `json:"digest,omitempty" dynamodbav:"digest,omitempty"`

	Status            Status `json:"status" dynamodbav:"status"`
	QuarantineBucket  string `json:"quarantineBucket,omitempty" dynamodbav:"quarantineBucket,omitempty"`
	QuarantineKey     string `json:"quarantineKey,omitempty" dynamodbav:"quarantineKey,omitempty"`
	QuarantineVersion string `json:"quarantineVersion,omitempty" dynamodbav:"quarantineVersion,omitempty"`
	TombstoneVersion  string `json:"tombstoneVersion,omitempty" dynamodbav:"tombstoneVersion,omitempty"`
	// DroppedTags are source tags that did not fit on the quarantine copy; Release restores them.
	DroppedTags []string `json:"droppedTags,omitempty" dynamodbav:"droppedTags,omitempty"`
	Error       string   `json:"error,omitempty" dynamodbav:"error,omitempty"`

	// ShownStatus is the state the finding's Slack message last showed (written after a post or
	// update succeeded); the sweeper re-renders every message where it differs from Status.
	ShownStatus Status `json:"shownStatus,omitempty" dynamodbav:"shownStatus,omitempty"`
	// ShownError is the error or warning text the message last showed, for the same reason.
	ShownError string `json:"shownError,omitempty" dynamodbav:"shownError,omitempty"`
	// ShownSeq counts the recorded renderings of the message: a writer that finds it moved since
	// its read knows another writer updated the message at the same time.
	ShownSeq int64 `json:"shownSeq,omitempty" dynamodbav:"shownSeq,omitempty"`
	// JobSentAt is when the job for the current QUEUED or RELEASING state was last handed to the
	// queue; it is written only after the queue accepted the job, so a zero value means "send it".
	JobSentAt time.Time `json:"jobSentAt,omitempty" dynamodbav:"jobSentAt,omitempty"`
	// PostClaim and PostClaimAt: who is posting the finding's first message, since when. Only the
	// claimer posts, so one event processed twice at once gives one message.
	PostClaim   string    `json:"postClaim,omitempty" dynamodbav:"postClaim,omitempty"`
	PostClaimAt time.Time `json:"postClaimAt,omitempty" dynamodbav:"postClaimAt,omitempty"`
	// MoveStart is a nonce written by the remediator call whose QUEUED → IN_PROGRESS write
	// landed. A second delivery of the same job (same attempt token) finds its token already in
	// the record but not its own nonce: it knows another run started the move and resumes.
	MoveStart string `json:"moveStart,omitempty" dynamodbav:"moveStart,omitempty"`
	// MayHaveCopy says a move may have started and its outcome is unknown (the sweeper gave up
	// on an IN_PROGRESS record): a copy may exist, so the finding must not be dismissed; Retry
	// resumes the move, which finds the copy.
	MayHaveCopy bool `json:"mayHaveCopy,omitempty" dynamodbav:"mayHaveCopy,omitempty"`
	// Redrives counts the sweeper's re-drives of the current state (reset by every transition).
	Redrives int `json:"redrives,omitempty" dynamodbav:"redrives,omitempty"`

	CreatedAt time.Time `json:"createdAt" dynamodbav:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt" dynamodbav:"updatedAt"`
	// ExpiresAt is the TTL: DynamoDB deletes the record some time after it.
	ExpiresAt int64 `json:"expiresAt" dynamodbav:"expiresAt"`
	// Version increments on every write; it makes read-modify-write safe.
	Version int64 `json:"version" dynamodbav:"version"`
	// PaceNext is used by pacing items only (see PaceSlots): the channel's next free post slot.
	PaceNext time.Time `json:"paceNext,omitempty" dynamodbav:"paceNext,omitempty"`
	// Writes are the attempt tokens of the latest writes, newest last (at most MaxWrites).
	Writes []string `json:"writes,omitempty" dynamodbav:"writes,omitempty"`

	// BucketFix is set on a policy finding whose type has a bucket remediation: the snapshot
	// taken before any change, what was done and what an Undo restored.
	BucketFix *BucketFix `json:"bucketFix,omitempty" dynamodbav:"bucketFix,omitempty"`
	// PolicyFacts is what a policy finding's messages show, copied from the finding (which is not
	// stored): what changed, who did it, the bucket's exposure.
	PolicyFacts *PolicyFacts `json:"policyFacts,omitempty" dynamodbav:"policyFacts,omitempty"`

	History []Entry `json:"history" dynamodbav:"history"`
}

// BucketFix is a bucket remediation as the ledger knows it.
type BucketFix struct {
	// Kind is the remediation (bucketfix.Kind: block-public-access, default-encryption,
	// external-replication).
	Kind string `json:"kind" dynamodbav:"kind"`
	// Plan is the bucketfix.Plan, JSON-encoded, that the remediator stored before changing
	// anything: the setting exactly as S3 returned it (the snapshot Undo restores) and the
	// target. It is written once, by a conditional write, and never overwritten: a re-run after a
	// crash must not record the fixed state as "before".
	Plan      string    `json:"plan,omitempty" dynamodbav:"plan,omitempty"`
	PlannedAt time.Time `json:"plannedAt,omitempty" dynamodbav:"plannedAt,omitempty"`
	// BeforeText and AfterText are the plan's before → after, for people.
	BeforeText   string   `json:"beforeText,omitempty" dynamodbav:"beforeText,omitempty"`
	AfterText    string   `json:"afterText,omitempty" dynamodbav:"afterText,omitempty"`
	AlreadyFixed bool     `json:"alreadyFixed,omitempty" dynamodbav:"alreadyFixed,omitempty"`
	Notes        []string `json:"notes,omitempty" dynamodbav:"notes,omitempty"`
	// InspectSentAt is when the inspect job (a REVIEW finding's plan, made by the remediator) was
	// handed to the queue; zero means "send it".
	InspectSentAt time.Time `json:"inspectSentAt,omitempty" dynamodbav:"inspectSentAt,omitempty"`
	// Changed: the fix changed the bucket (false with FIXED: it was already fixed, nothing
	// changed, and there is nothing to undo).
	Changed bool      `json:"changed,omitempty" dynamodbav:"changed,omitempty"`
	FixedAt time.Time `json:"fixedAt,omitempty" dynamodbav:"fixedAt,omitempty"`
	// Flapping says why a fix the policy makes AUTO went to REVIEW: the bucket keeps being changed back.
	Flapping string `json:"flapping,omitempty" dynamodbav:"flapping,omitempty"`
	// Outcome is the last Apply or Undo outcome, for people.
	Outcome string `json:"outcome,omitempty" dynamodbav:"outcome,omitempty"`
	// Undo is the audit of the undo: who asked, when, what was restored.
	Undo *UndoAudit `json:"undo,omitempty" dynamodbav:"undo,omitempty"`
}

// UndoAudit records an Undo of a bucket remediation.
type UndoAudit struct {
	By       string    `json:"by" dynamodbav:"by"`
	At       time.Time `json:"at" dynamodbav:"at"`
	Restored string    `json:"restored,omitempty" dynamodbav:"restored,omitempty"`
	DoneAt   time.Time `json:"doneAt,omitempty" dynamodbav:"doneAt,omitempty"`
}

// PolicyFacts are a policy finding's details (Macie's policyDetails and the bucket's exposure),
// as plain text for messages. All of it is attacker-influenced text: escape it when shown.
type PolicyFacts struct {
	API        string    `json:"api,omitempty" dynamodbav:"api,omitempty"`
	APIService string    `json:"apiService,omitempty" dynamodbav:"apiService,omitempty"`
	FirstSeen  time.Time `json:"firstSeen,omitempty" dynamodbav:"firstSeen,omitempty"`
	LastSeen   time.Time `json:"lastSeen,omitempty" dynamodbav:"lastSeen,omitempty"`
	// Actor is who made the change: the identity as Macie gives it (ARN, user name or principal id).
	Actor        string `json:"actor,omitempty" dynamodbav:"actor,omitempty"`
	ActorType    string `json:"actorType,omitempty" dynamodbav:"actorType,omitempty"`
	ActorAccount string `json:"actorAccount,omitempty" dynamodbav:"actorAccount,omitempty"`
	IP           string `json:"ip,omitempty" dynamodbav:"ip,omitempty"`
	Domain       string `json:"domain,omitempty" dynamodbav:"domain,omitempty"`
	// Exposure lines describe the bucket as the finding saw it ("public access: NOT_PUBLIC").
	Exposure []string `json:"exposure,omitempty" dynamodbav:"exposure,omitempty"`
	// SharedWith is who the bucket is shared with, as the finding says (S3BucketShared*).
	SharedWith []string `json:"sharedWith,omitempty" dynamodbav:"sharedWith,omitempty"`
	// OpenDataFindings counts the open sensitive-data findings in the same bucket when the
	// finding was decided.
	OpenDataFindings int `json:"openDataFindings,omitempty" dynamodbav:"openDataFindings,omitempty"`
}

// IsBucketFix: the record is a bucket remediation, not an object quarantine.
func (r *Record) IsBucketFix() bool { return r.BucketFix != nil }

// DigestState is what the ledger knows of a digest: how many findings it has absorbed (the last
// DigestSeq handed out) and the one decision taken on it.
type DigestState struct {
	Members int `json:"members" dynamodbav:"members"`
	// LastSeen is when the last member joined (the finding-handler's clock): a digest seen
	// within the policy's window is still open to its burst, even after a cold start.
	LastSeen time.Time       `json:"lastSeen" dynamodbav:"lastSeen"`
	Decision *DigestDecision `json:"decision,omitempty" dynamodbav:"decision,omitempty"`
}

// DigestDecision is an approver's click on a digest, recorded by the remediation-handler at
// click time. It covers the members with DigestSeq <= Cutoff (what the message showed); the
// digest is closed by it, and a second click finds it and changes nothing.
type DigestDecision struct {
	Action string    `json:"action" dynamodbav:"action"`
	By     string    `json:"by" dynamodbav:"by"`
	Cutoff int       `json:"cutoff" dynamodbav:"cutoff"`
	At     time.Time `json:"at" dynamodbav:"at"`
	// Nonce tells the click that recorded the decision from any later one (a replay included).
	Nonce       string `json:"nonce" dynamodbav:"nonce"`
	ResponseURL string `json:"responseUrl,omitempty" dynamodbav:"responseUrl,omitempty"`
	// Applied is set by the remediator once every covered member has been moved.
	Applied bool   `json:"applied,omitempty" dynamodbav:"applied,omitempty"`
	Outcome string `json:"outcome,omitempty" dynamodbav:"outcome,omitempty"`
}

// Detection is one kind of sensitive data Macie found, and how often.
type Detection struct {
	Category string `json:"category,omitempty" dynamodbav:"category,omitempty"`
	Type     string `json:"type" dynamodbav:"type"`
	Count    int64  `json:"count" dynamodbav:"count"`
}

// Entry is one audit line: who moved the finding from what to what, when and why.
type Entry struct {
	FindingID string    `json:"findingId" dynamodbav:"findingId"`
	At        time.Time `json:"at" dynamodbav:"at"`
	Actor     string    `json:"actor" dynamodbav:"actor"`
	From      Status    `json:"from,omitempty" dynamodbav:"from,omitempty"`
	To        Status    `json:"to" dynamodbav:"to"`
	Reason    string    `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
}

// LastActor is who made the latest transition.
func (r *Record) LastActor() string {
	if len(r.History) == 0 {
		return ""
	}
	return r.History[len(r.History)-1].Actor
}

// HasCopy reports whether a quarantine copy of the object was recorded: such a finding must not
// be dismissed (the copy would expire with the bucket's retention), only released or finished.
func (r *Record) HasCopy() bool { return r.QuarantineKey != "" }

// CopyLocation is where the quarantine copy is, for people.
func (r *Record) CopyLocation() string {
	loc := "s3://" + r.QuarantineBucket + "/" + r.QuarantineKey
	if r.QuarantineVersion != "" {
		loc += " (version " + r.QuarantineVersion + ")"
	}
	return loc
}

// ActorPolicy is the actor of decisions made by the policy, not a person.
const ActorPolicy = "policy"

// ActorSweeper is the actor of the sweeper's transitions. It never decides: a record it queues
// again was decided by whoever queued it before (ApprovedBy looks past it).
const ActorSweeper = "sweeper"

// Errors callers check with errors.Is.
var (
	ErrNotFound          = errors.New("no ledger record")
	ErrIllegalTransition = errors.New("illegal status transition")
	ErrConflict          = errors.New("status changed by someone else")
)

// ConflictError is returned when the record is no longer in the status the caller read: someone
// else acted first. Callers turn it into "already being handled by <By>".
type ConflictError struct {
	FindingID string
	Want      Status
	Current   Status
	By        string
	At        time.Time
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("finding %s is %s (by %s at %s), not %s", e.FindingID, e.Current, e.By, e.At.Format(time.RFC3339), e.Want)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Change is one transition request.
type Change struct {
	From, To Status
	Actor    string
	Reason   string
	// Token identifies this attempt. A caller that re-sends a change after losing its answer
	// passes the same token and gets success if the first send landed. "" = a fresh token (which
	// still covers the store's own re-sends, such as the SDK's retries).
	Token string
	// Mutate sets the fields that go with the transition (message ts, quarantine location, error
	// text). It must not touch Status, Version or History.
	Mutate func(*Record)
}

// Filter selects records for List.
type Filter struct {
	AccountID string
	DigestID  string
	Status    Status
	Since     time.Time // updated at or after
	Until     time.Time // updated before; zero = no bound
	Limit     int
}

// Store is the ledger.
type Store interface {
	// Create records the first sight of a finding. When the id exists it returns the existing
	// record and created=false, and writes nothing.
	Create(ctx context.Context, r Record) (rec Record, created bool, err error)
	Get(ctx context.Context, findingID string) (Record, error)
	// Transition moves a record from c.From to c.To, appending one audit entry, only if it is
	// still in c.From. A lost race is a *ConflictError.
	Transition(ctx context.Context, findingID string, c Change) (Record, error)
	// Annotate changes fields without a status change (e.g. the Slack ts of a re-posted message).
	Annotate(ctx context.Context, findingID string, mutate func(*Record)) (Record, error)
	// Modify is Annotate with a precondition: when fn returns an error nothing is written and that
	// error is returned as is (the claim of a Slack post, the sweeper's lease).
	Modify(ctx context.Context, findingID string, fn func(*Record) error) (Record, error)
	List(ctx context.Context, f Filter) ([]Record, error)
	Close() error
}

// Clock is injected so TTLs and timestamps are testable.
type Clock func() time.Time

// DefaultTTL keeps records for a year after their last change.
const DefaultTTL = 365 * 24 * time.Hour

// MaxWrites is how many attempt tokens a record keeps: far more than the writes that can race
// with one lost answer.
const MaxWrites = 16

// NewToken returns a fresh attempt token.
func NewToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Wrote reports whether the record holds the write made with this attempt token.
func (r *Record) Wrote(token string) bool {
	return token != "" && slices.Contains(r.Writes, token)
}

func pushToken(ws []string, token string) []string {
	out := append(append([]string{}, ws...), token)
	if len(out) > MaxWrites {
		out = out[len(out)-MaxWrites:]
	}
	return out
}

// newRecord fills the bookkeeping fields of a first write.
func newRecord(r Record, now time.Time, ttl time.Duration, token string) Record {
	r.Writes = []string{token}
	r.Status = Received
	reason := "finding received"
	if r.Digest != nil {
		r.Status, reason = DigestStatus, "digest opened"
	}
	r.CreatedAt, r.UpdatedAt = now, now
	r.ExpiresAt = now.Add(ttl).Unix()
	r.Version = 1
	r.History = []Entry{{FindingID: r.FindingID, At: now, Actor: ActorPolicy, To: r.Status, Reason: reason}}
	return r
}

// errLanded says the change's token is already in the record: the write landed earlier.
var errLanded = errors.New("write already landed")

// apply computes the record after a change, or the error that forbids it. A change whose token
// the record already holds is errLanded: the store returns the record as it is.
func apply(cur Record, c Change, now time.Time, ttl time.Duration) (Record, error) {
	if cur.Wrote(c.Token) {
		if cur.Status == c.To {
			return cur, errLanded
		}
		return Record{}, conflict(cur, c.From) // ours landed, and someone moved it on since
	}
	if !CanTransition(c.From, c.To) {
		return Record{}, fmt.Errorf("%w: %s → %s for finding %s", ErrIllegalTransition, c.From, c.To, cur.FindingID)
	}
	if cur.Status != c.From {
		return Record{}, conflict(cur, c.From)
	}
	next := cur
	next.History = append(append([]Entry{}, cur.History...), Entry{
		FindingID: cur.FindingID, At: now, Actor: c.Actor, From: c.From, To: c.To, Reason: c.Reason,
	})
	next.Redrives = 0
	if c.Mutate != nil {
		c.Mutate(&next)
	}
	next.FindingID = cur.FindingID
	next.Status = c.To
	next.UpdatedAt = now
	next.ExpiresAt = now.Add(ttl).Unix()
	next.Version = cur.Version + 1
	next.Writes = pushToken(cur.Writes, c.Token)
	return next, nil
}

// modifyRecord applies fn to a copy of cur; the bookkeeping fields cannot be changed by fn.
func modifyRecord(cur Record, fn func(*Record) error, now time.Time, token string) (Record, error) {
	if cur.Wrote(token) {
		return cur, errLanded
	}
	next := cur
	next.History = cur.History
	if err := fn(&next); err != nil {
		return Record{}, err
	}
	next.FindingID, next.Status, next.History = cur.FindingID, cur.Status, cur.History
	next.UpdatedAt = now
	next.Version = cur.Version + 1
	next.Writes = pushToken(cur.Writes, token)
	return next, nil
}

func annotateFn(mutate func(*Record)) func(*Record) error {
	return func(r *Record) error { mutate(r); return nil }
}

func conflict(cur Record, want Status) error {
	e := &ConflictError{FindingID: cur.FindingID, Want: want, Current: cur.Status, By: cur.LastActor()}
	if n := len(cur.History); n > 0 {
		e.At = cur.History[n-1].At
	}
	return e
}

func (f Filter) match(r *Record) bool {
	if strings.HasPrefix(r.FindingID, PacePrefix) {
		return false // a pacing slot, not a finding
	}
	if f.AccountID != "" && r.AccountID != f.AccountID {
		return false
	}
	if f.Status != "" && r.Status != f.Status {
		return false
	}
	if f.DigestID != "" && r.DigestID != f.DigestID {
		return false
	}
	if !f.Since.IsZero() && r.UpdatedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.UpdatedAt.Before(f.Until) {
		return false
	}
	return true
}

// sortRecords orders by last update, newest first, then id.
func sortRecords(rs []Record) {
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].UpdatedAt.Equal(rs[j].UpdatedAt) {
			return rs[i].UpdatedAt.After(rs[j].UpdatedAt)
		}
		return rs[i].FindingID < rs[j].FindingID
	})
}

// PacePrefix marks the ledger items that hold a Slack channel's next posting slot; List never
// returns them.
const PacePrefix = "pace#"

// PaceSlots reserves Slack posting slots in the ledger table, so every container posting to a
// channel shares one pace (Slack allows about one message per second per channel). Each
// reservation is a conditional write on the channel's item.
type PaceSlots struct{ Store Store }

// Reserve returns the time the caller may post to key (a channel), at least interval after the
// previous reservation by anyone, and moves the channel's next slot past it.
func (p PaceSlots) Reserve(ctx context.Context, key string, now time.Time, interval time.Duration) (time.Time, error) {
	id := PacePrefix + key
	var slot time.Time
	reserve := func(r *Record) error {
		slot = r.PaceNext
		if slot.Before(now) {
			slot = now
		}
		r.PaceNext = slot.Add(interval).UTC()
		return nil
	}
	_, err := p.Store.Modify(ctx, id, reserve)
	if errors.Is(err, ErrNotFound) {
		if _, _, err = p.Store.Create(ctx, Record{FindingID: id, Reason: "Slack posting pace of " + key}); err == nil {
			_, err = p.Store.Modify(ctx, id, reserve)
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reserve a Slack slot for %s: %w", key, err)
	}
	return slot, nil
}
