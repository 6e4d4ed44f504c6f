package testenv

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// RecordingSTS passes AssumeRole to a real STS (moto's) and keeps what was asked, so a test can
// check the role and the ExternalId a remediator asked for (moto records the ExternalId but does
// not check it).
type RecordingSTS struct {
	*sts.Client
	mu    sync.Mutex
	calls []sts.AssumeRoleInput
}

func (r *RecordingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, o ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	r.mu.Lock()
	r.calls = append(r.calls, *in)
	r.mu.Unlock()
	return r.Client.AssumeRole(ctx, in, o...)
}

// Calls are the AssumeRole requests so far, in order.
func (r *RecordingSTS) Calls() []sts.AssumeRoleInput {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sts.AssumeRoleInput(nil), r.calls...)
}
