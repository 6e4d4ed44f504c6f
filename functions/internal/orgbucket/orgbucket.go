// Package orgbucket owns finding, at run time, an account's current quarantine bucket in
// organization mode. There the member side is a StackSet instance per account and region, and
// its quarantine bucket is the policy's name plus the instance's generation (naming.Generation
// of its StackId), so that an account that left the OUs (its bucket retained, holding the only
// copies) and came back gets a new bucket beside the old one. The generation is read from the
// StackSet (cloudformation:DescribeStackInstance, in the central account), which no member can
// change, and kept per container for a TTL: CloudFormation's API throttles, and a burst of findings from
// one account must cost one call, not one per finding.
package orgbucket

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	"github.com/macie-chatops/macie-chatops/shared/naming"
)

// Errors callers check with errors.Is. Both mean the account has no working member stack in
// that region yet: nothing was touched, and a later attempt may succeed (auto-deployment of a
// new account's instance takes minutes).
var (
	// ErrNoInstance: the StackSet has no instance for the account and region (an account
	// outside the OUs, or a finding that arrived before its stack).
	ErrNoInstance = errors.New("no StackSet instance for the account")
	// ErrBadInstance: the instance exists but has no usable StackId (its stack failed to create,
	// or is still being created).
	ErrBadInstance = errors.New("StackSet instance has no usable stack")
	// ErrLookupDenied: CloudFormation refused the lookup itself: the remediator's role lacks
	// cloudformation:DescribeStackInstance on the StackSet, or the security account is no
	// longer its delegated administrator, or the StackSet is not there as the remediator calls
	// it (a wrong ORG_STACKSET_NAME or ORG_STACKSET_CALL_AS, a deleted StackSet). Nothing was
	// touched; a retry as is will not help until someone fixes the setting or permission (or
	// IAM finishes propagating a new one).
	ErrLookupDenied = errors.New("the quarantine bucket lookup was denied")
)

// API is the part of CloudFormation used.
type API interface {
	DescribeStackInstance(ctx context.Context, in *cloudformation.DescribeStackInstanceInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStackInstanceOutput, error)
}

// Resolver names the quarantine bucket of (account, region). The zero value is not usable: set
// API and StackSet. Safe for concurrent use.
type Resolver struct {
	API API
	// StackSet is the member StackSet's name; CallAs is SELF or DELEGATED_ADMIN ("" = SELF).
	StackSet string
	CallAs   cftypes.CallAs
	// Explicit lists the explicit members: their quarantine bucket keeps the policy's name.
	Explicit map[string]bool
	// TTL bounds how long a container trusts what it looked up (0 = DefaultTTL). An account that
	// left the OUs and came back has a new bucket beside its retained one, which still exists:
	// a move to the retained one may succeed, so NoSuchBucket alone would not move the cache.
	TTL time.Duration
	// Now is the clock (nil = wall clock): tests move it instead of waiting.
	Now func() time.Time

	mu    sync.Mutex
	cache map[key]entry
}

// DefaultTTL is how long a looked-up generation is trusted: one DescribeStackInstance per
// account and region per container per DefaultTTL, however many findings.
const DefaultTTL = 15 * time.Minute

type entry struct {
	gen string
	at  time.Time
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Resolver) ttl() time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return DefaultTTL
}

type key struct{ account, region string }

// Bucket is the quarantine bucket of account in region, whose policy name is base. An explicit
// member's is base; an organization account's is base plus its current instance's generation,
// looked up once per container per TTL (Forget drops it). Errors: ErrNoInstance, ErrBadInstance, or the
// lookup's own failure (throttled, lost, denied: the caller retries the job).
func (r *Resolver) Bucket(ctx context.Context, account, region, base string) (string, error) {
	if r.Explicit[account] {
		return base, nil
	}
	k := key{account, region}
	now := r.now()
	r.mu.Lock()
	e, ok := r.cache[k]
	r.mu.Unlock()
	if !ok || now.Sub(e.at) >= r.ttl() || now.Before(e.at) {
		gen, err := r.lookup(ctx, account, region)
		if err != nil {
			return "", err
		}
		e = entry{gen: gen, at: now}
		r.mu.Lock()
		if r.cache == nil {
			r.cache = map[key]entry{}
		}
		r.cache[k] = e
		r.mu.Unlock()
	}
	return naming.OrgQuarantineBucket(base, e.gen), nil
}

// Forget drops what is known of (account, region): the next Bucket looks it up again. Called
// when the named bucket does not exist (the account's stack was replaced: a new generation).
func (r *Resolver) Forget(account, region string) {
	r.mu.Lock()
	delete(r.cache, key{account, region})
	r.mu.Unlock()
}

// IsOrgAccount reports whether account's quarantine bucket carries a generation (it is not an
// explicit member).
func (r *Resolver) IsOrgAccount(account string) bool { return !r.Explicit[account] }

func (r *Resolver) lookup(ctx context.Context, account, region string) (string, error) {
	in := &cloudformation.DescribeStackInstanceInput{StackSetName: aws.String(r.StackSet),
		StackInstanceAccount: aws.String(account), StackInstanceRegion: aws.String(region), CallAs: r.CallAs}
	if in.CallAs == "" {
		in.CallAs = cftypes.CallAsSelf
	}
	out, err := r.API.DescribeStackInstance(ctx, in)
	var nf *cftypes.StackInstanceNotFoundException
	if errors.As(err, &nf) {
		return "", fmt.Errorf("%w: StackSet %s has no instance for account %s in %s, so the account has no quarantine bucket or role there: it is outside the StackSet's OUs and regions, or its stack is still being deployed. Nothing was touched; the sweeper retries; if it persists, run `macie-chatops doctor` (organization view) and add the account to an OU or region of the StackSet, or list it as an explicit member",
			ErrNoInstance, r.StackSet, account, region)
	}
	var snf *cftypes.StackSetNotFoundException
	if errors.As(err, &snf) {
		return "", fmt.Errorf("%w: StackSet %s was not found calling as %s (looking up the quarantine bucket of account %s in %s): %v. Nothing was touched. The remediator's ORG_STACKSET_NAME or ORG_STACKSET_CALL_AS does not match the StackSet pulumi up deployed (DELEGATED_ADMIN from the security account), or the StackSet was deleted: run `macie-chatops doctor`, fix it with pulumi up, then press Retry",
			ErrLookupDenied, r.StackSet, in.CallAs, account, region, err)
	}
	if err != nil && isAccessDenied(err) {
		return "", fmt.Errorf("%w: the remediator may not call cloudformation:DescribeStackInstance on StackSet %s (call as %s) for account %s in %s: %v. Nothing was touched. Give the remediator's role that permission (pulumi up deploys it; as DELEGATED_ADMIN the security account must also still be the StackSets delegated administrator: run `macie-chatops doctor`), then press Retry",
			ErrLookupDenied, r.StackSet, in.CallAs, account, region, err)
	}
	if err != nil {
		return "", fmt.Errorf("look up the quarantine bucket of account %s in %s (cloudformation:DescribeStackInstance on StackSet %s, call as %s): %w",
			account, region, r.StackSet, in.CallAs, err)
	}
	if out.StackInstance == nil {
		return "", fmt.Errorf("%w: StackSet %s answered no instance for account %s in %s; run `macie-chatops doctor`", ErrBadInstance, r.StackSet, account, region)
	}
	si := out.StackInstance
	id := aws.ToString(si.StackId)
	gen, gerr := naming.Generation(id)
	if gerr != nil {
		return "", fmt.Errorf("%w: the instance of StackSet %s for account %s in %s has stack id %q (status %s), so its quarantine bucket cannot be named; its stack may have failed to create. Nothing was touched; fix the instance (run `macie-chatops doctor`, then retry the StackSet operation), and the sweeper or Retry finishes the quarantine",
			ErrBadInstance, r.StackSet, account, region, id, status(si))
	}
	return gen, nil
}

// isAccessDenied: CloudFormation's answer to a call the caller may not make (AccessDenied in
// its query protocol; AccessDeniedException as other services spell it).
func isAccessDenied(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AccessDenied", "AccessDeniedException":
		return true
	}
	return false
}

func status(si *cftypes.StackInstance) string {
	s := string(si.Status)
	if s == "" {
		s = "unknown"
	}
	if si.StackInstanceStatus != nil && si.StackInstanceStatus.DetailedStatus != "" {
		s += "/" + string(si.StackInstanceStatus.DetailedStatus)
	}
	if r := aws.ToString(si.StatusReason); r != "" {
		s += ": " + r
	}
	return s
}
