package handlers

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/quarantine"
)

// Helpers of the failure-engineering attacks (attackflow_*_test.go): they order two runs of the
// real handlers on the real servers with channels, never with sleeps.

type runKey struct{}

// withRun tags a context with the name of the run it belongs to (job A, job B, ...).
func withRun(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, runKey{}, name)
}

func runOf(ctx context.Context) string { s, _ := ctx.Value(runKey{}).(string); return s }

// gate holds one call until the test lets it go: reached is closed when the call arrives.
type gate struct {
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{reached: make(chan struct{}), release: make(chan struct{})} }

// hold blocks the first caller only.
func (g *gate) hold() {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.reached)
		<-g.release
	}
}

// holdS3 is the engine's S3 client with a hook: the first HeadObject of the source bucket made by
// the named run waits at the gate (the request has not been sent yet).
type holdS3 struct {
	quarantine.S3API
	run  string
	gate *gate
	// del, when set, holds the run's first DeleteObject of the source bucket instead.
	del bool
}

func (h holdS3) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if h.del && runOf(ctx) == h.run && aws.ToString(in.Bucket) == "data-bucket" {
		h.gate.hold()
	}
	return h.S3API.DeleteObject(ctx, in, o...)
}

func (h holdS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if !h.del && runOf(ctx) == h.run && aws.ToString(in.Bucket) == "data-bucket" {
		h.gate.hold()
	}
	return h.S3API.HeadObject(ctx, in, o...)
}

type holdClients struct {
	quarantine.Clients
	run  string
	gate *gate
	del  bool
}

func (c holdClients) S3For(ctx context.Context, account, region, session string) (quarantine.S3API, error) {
	api, err := c.Clients.S3For(ctx, account, region, session)
	if err != nil {
		return nil, err
	}
	return holdS3{S3API: api, run: c.run, gate: c.gate, del: c.del}, nil
}

// holdLedger is the real ledger; the first transition to `to` made by the named run waits at the gate.
type holdLedger struct {
	ledger.Store
	run  string
	to   ledger.Status
	gate *gate
}

func (l holdLedger) Transition(ctx context.Context, id string, c ledger.Change) (ledger.Record, error) {
	if runOf(ctx) == l.run && c.To == l.to {
		l.gate.hold()
	}
	return l.Store.Transition(ctx, id, c)
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

// failTo is the real ledger, except that every transition to `to` fails (the remediator dies
// after the move, before recording it, on every run).
type failTo struct {
	ledger.Store
	to ledger.Status
}

func (l failTo) Transition(ctx context.Context, id string, c ledger.Change) (ledger.Record, error) {
	if c.To == l.to {
		return ledger.Record{}, errors.New("process killed before the ledger write (injected)")
	}
	return l.Store.Transition(ctx, id, c)
}
