package handlers

import (
	"context"
	"sync"
	"testing"
	"time"

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
