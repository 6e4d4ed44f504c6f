package handlers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// hookLedger runs before once, just before the first transition to QUEUED made through it: a
// sweeper that read the ledger, then was overtaken by another sweeper and the remediator.
type hookLedger struct {
	ledger.Store
	once   sync.Once
	before func()
}

func (h *hookLedger) Transition(ctx context.Context, id string, c ledger.Change) (ledger.Record, error) {
	if c.To == ledger.Queued {
		h.once.Do(h.before)
	}
	return h.Store.Transition(ctx, id, c)
}

func (h *hookLedger) Modify(ctx context.Context, id string, fn func(*ledger.Record) error) (ledger.Record, error) {
	h.once.Do(h.before)
	return h.Store.Modify(ctx, id, fn)
}

// Two sweepers at once: sweeper B lists the ledger, sweeper A re-drives the record and the
// remediator fails it again (no member stack) before B acts on what it listed. B must not
// re-drive on its stale view: the bound (MaxRedrives) holds, and a re-drive still waits
// StaleAfter after the failure it answers.
func TestAttackOrgNoStackRedriveBoundWithTwoSweepers(t *testing.T) {
	st, _, _ := orgStack(t, "")
	id := st.autoFinding("attack/two-sweepers.txt")
	st.drain()
	for i := 1; i < MaxRedrives; i++ {
		st.sweepAt(time.Duration(i) * (StaleAfter + time.Minute))
		st.drain()
	}
	if r := st.rec(id); r.Status != ledger.Failed || noStackRedrives(r) != MaxRedrives-1 {
		t.Fatalf("setup: %s after %d re-drives", r.Status, noStackRedrives(r))
	}
	at := time.Duration(MaxRedrives) * (StaleAfter + time.Minute)
	b := *st.sweeper
	b.Ledger = &hookLedger{Store: st.ledger, before: func() {
		st.sweepAt(at) // sweeper A
		st.drain()     // the remediator: still no member stack
	}}
	b.Now = func() time.Time { return time.Now().Add(at) }
	if _, err := b.Run(st.ctx); err != nil {
		t.Fatal(err)
	}
	st.drain()
	for i := 1; i <= 2; i++ {
		st.sweepAt(at + time.Duration(i)*(StaleAfter+time.Minute))
		st.drain()
	}
	r := st.rec(id)
	if n := noStackRedrives(r); n != MaxRedrives || r.Status != ledger.Failed {
		t.Fatalf("%d sweeper re-drives (want %d), %s", n, MaxRedrives, r.Status)
	}
}

// dieBeforeQueued is a sweeper's ledger whose process dies at its first transition to QUEUED.
type dieBeforeQueued struct {
	ledger.Store
	died bool
}

func (d *dieBeforeQueued) Transition(ctx context.Context, id string, c ledger.Change) (ledger.Record, error) {
	if c.To == ledger.Queued && !d.died {
		d.died = true
		return ledger.Record{}, errors.New("process killed after the lease, before the transition (injected)")
	}
	return d.Store.Transition(ctx, id, c)
}

// A sweeper dies between its lease and its transition: another sweeper soon after leaves the
// lease alone (it may be a live sweeper about to transition), and StaleAfter later the failure
// is re-driven: the lease delays it, it never strands it.
func TestAttackOrgNoStackRedriveLeaseOfADeadSweeper(t *testing.T) {
	st, cf, _ := orgStack(t, "")
	id := st.autoFinding("attack/dead-lease.txt")
	st.drain()
	at := StaleAfter + time.Minute
	dying := *st.sweeper
	dying.Ledger = &dieBeforeQueued{Store: st.ledger}
	dying.Now = func() time.Time { return time.Now().Add(at) }
	dying.Run(st.ctx)
	if r := st.rec(id); r.Status != ledger.Failed {
		t.Fatalf("setup: %s", r.Status)
	}
	if rep := st.sweepAt(at + time.Minute); rep.Redriven != 0 {
		t.Fatalf("re-driven under another sweeper's fresh lease: %+v", rep)
	}
	cf.set(aws.String(stackID(genA)), nil)
	b := st.genBucket(genA)
	if rep := st.sweepAt(at + StaleAfter + time.Minute); rep.Redriven != 1 {
		t.Fatalf("the dead sweeper's lease stranded the failure: %+v", rep)
	}
	st.drain()
	if r := st.rec(id); r.Status != ledger.Quarantined || r.QuarantineBucket != b {
		t.Fatalf("%s in %q (%s)", r.Status, r.QuarantineBucket, r.Error)
	}
}
