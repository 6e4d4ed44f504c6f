package handlers

import (
	"context"
	"fmt"
	"regexp"

	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// slackUserID is the shape of a Slack user id, which is what a person's transition records as
// its actor; the policy, our functions and operators record other names.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// errApprovalWithdrawn: the person whose click queued the job may no longer approve for the
// finding's account under the current policy.
var errApprovalWithdrawn = fmt.Errorf("approval withdrawn")

// approvalStands re-checks, before a queued remediation touches S3, that the person whose
// click put the record in its current state may still approve for the finding's account. The
// remediation-handler checked it at click time; the policy may have changed since, and a job
// must never carry more authority than the ledger and the current policy give it. Transitions
// by the policy or by our own functions are not a person's and pass. A failed lookup is
// returned (the job is retried), never taken as a yes.
func (h *Remediator) approvalStands(ctx context.Context, rec ledger.Record) (string, error) {
	if h.Authz == nil {
		return "", nil
	}
	by := ""
	for i := len(rec.History) - 1; i >= 0; i-- {
		if rec.History[i].To == rec.Status && rec.History[i].Actor != ledger.ActorSweeper {
			// The sweeper re-queues (a FAILED for lack of a member stack) but never approves:
			// the approval to re-check is the one before it.
			by = rec.History[i].Actor
			break
		}
	}
	if !slackUserID.MatchString(by) {
		return by, nil
	}
	ok, err := h.Authz.IsApprover(ctx, by, h.Policy.ApproversFor(rec.AccountID))
	if err != nil && !ok {
		return by, fmt.Errorf("re-check approver %s for account %s: %w", by, rec.AccountID, err)
	}
	if !ok {
		h.Metrics.Count(ctx, obs.Unauthorized, 1, "Reason", "approver")
		return by, fmt.Errorf("%w: %s may not approve for account %s under the current policy", errApprovalWithdrawn, by, rec.AccountID)
	}
	return by, nil
}
