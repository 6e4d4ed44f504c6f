package chatops

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// Issue 12 item 10: five remediator containers post to one channel. Each has its own Pacer (as
// each Lambda container does); they share the ledger table. Every post must get its own slot, one
// interval apart, across containers: before, each container paced only itself, so all five
// posted in the same second.
func TestPaceIsSharedAcrossContainers(t *testing.T) {
	stores := map[string]func(t *testing.T) ledger.Store{
		"bbolt": func(t *testing.T) ledger.Store {
			s, err := ledger.OpenBolt(filepath.Join(t.TempDir(), "l.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"dynalite": func(t *testing.T) ledger.Store {
			d := ledger.NewDynamo(ledger.DynaliteClient(testenv.Dynalite(t).Endpoint), "pace", nil)
			if err := d.EnsureTable(testenv.Context(t)); err != nil {
				t.Fatal(err)
			}
			return d
		},
	}
	for _, name := range []string{"bbolt", "dynalite"} {
		t.Run(name, func(t *testing.T) {
			store := stores[name](t)
			at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // every container reads the same instant
			var mu sync.Mutex
			var slots []time.Duration
			start := make(chan struct{})
			var wg sync.WaitGroup
			for c := 0; c < 5; c++ {
				p := &Pacer{Interval: time.Second, Now: func() time.Time { return at }, Slots: ledger.PaceSlots{Store: store},
					Sleep: func(_ context.Context, d time.Duration) error {
						mu.Lock()
						slots = append(slots, d)
						mu.Unlock()
						return nil
					}}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for i := 0; i < 2; i++ {
						if err := p.Wait(context.Background(), "C0SEC"); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			close(start)
			wg.Wait()
			// 10 posts: one at once (no sleep), then 1 s, 2 s, … 9 s later.
			sort.Slice(slots, func(i, j int) bool { return slots[i] < slots[j] })
			if len(slots) != 9 || fmt.Sprint(slots) != "[1s 2s 3s 4s 5s 6s 7s 8s 9s]" {
				t.Fatalf("waits %v: want one post per second across the five containers", slots)
			}
			// Another channel has its own pace; pacing items never show as findings.
			p := &Pacer{Interval: time.Second, Now: func() time.Time { return at }, Slots: ledger.PaceSlots{Store: store},
				Sleep: func(context.Context, time.Duration) error { t.Fatal("other channel waited"); return nil }}
			if err := p.Wait(context.Background(), "C0OTHER"); err != nil {
				t.Fatal(err)
			}
			if recs, _ := store.List(context.Background(), ledger.Filter{}); len(recs) != 0 {
				t.Fatalf("pacing items listed as findings: %d", len(recs))
			}
		})
	}
}
