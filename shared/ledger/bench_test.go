package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// benchTransitions measures full lifecycles: create + 4 conditional transitions per op, reported
// as transitions/s.
func benchTransitions(b *testing.B, s Store) {
	ctx := context.Background()
	steps := []Change{
		{From: Received, To: Notified, Actor: ActorPolicy},
		{From: Notified, To: Queued, Actor: "U1"},
		{From: Queued, To: InProgress, Actor: "remediator"},
		{From: InProgress, To: Quarantined, Actor: "remediator"},
	}
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("bench-%d", i)
		i++
		if _, _, err := s.Create(ctx, sample(id, "111122223333")); err != nil {
			b.Fatal(err)
		}
		for _, c := range steps {
			if _, err := s.Transition(ctx, id, c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(steps)*b.N)/b.Elapsed().Seconds(), "transitions/s")
}

func BenchmarkTransitionsBolt(b *testing.B) {
	s, err := OpenBolt(filepath.Join(b.TempDir(), "l.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchTransitions(b, s)
}

func BenchmarkTransitionsDynalite(b *testing.B) {
	srv := testenv.Dynalite(b)
	d := NewDynamo(DynaliteClient(srv.Endpoint), "bench", nil)
	if err := d.EnsureTable(context.Background()); err != nil {
		b.Fatal(err)
	}
	benchTransitions(b, d)
}
