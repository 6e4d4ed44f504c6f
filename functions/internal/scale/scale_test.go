package scale

import (
	"time"

	"bytes"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// TestSmallBurst runs the harness on a small burst, with the latency probes, so `make test`
// proves it works; the 10,000 run is in `make bench`. The probes measure every AUTO finding of
// the burst and click at least one REVIEW message during it without changing the burst's counts.
func TestSmallBurst(t *testing.T) {
	var log bytes.Buffer
	rep, err := RunWith(testenv.Context(t), 400, Options{Probe: true, Clicks: 3}, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if miss := rep.Goals(); len(miss) > 0 {
		t.Fatalf("goals missed: %v\n%+v", miss, rep)
	}
	if rep.Auto != 114 || rep.Duplicates != 20 || rep.Messages < 6 {
		t.Fatalf("%+v", rep)
	}
	l := rep.Latency
	if len(l.AutoQuarantine) != rep.Auto || len(l.ReviewShown) < 1 || len(l.ClickAck) != len(l.ReviewShown) || len(l.ReviewShown) > 3 {
		t.Fatalf("samples: %d AUTO (want %d), %d shown, %d acks", len(l.AutoQuarantine), rep.Auto, len(l.ReviewShown), len(l.ClickAck))
	}
	for _, d := range append(append(l.AutoQuarantine, l.ReviewShown...), l.ClickAck...) {
		if d <= 0 {
			t.Fatalf("a sample of %s: %+v", d, l)
		}
	}
	t.Logf("%+v", rep)
}

func TestIdleLatency(t *testing.T) {
	l, err := Idle(testenv.Context(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.AutoQuarantine) != 2 || len(l.ReviewShown) != 2 || len(l.ClickAck) != 2 {
		t.Fatalf("%+v", l)
	}
}

func TestQuantile(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- { // descending: Quantile sorts a copy
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.95, 95}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := Quantile(s, c.q); got != c.want {
			t.Errorf("Quantile(1..100, %v) = %d, want %d", c.q, got, c.want)
		}
	}
	if s[0] != 100 {
		t.Fatal("Quantile sorted its input")
	}
	if Quantile(nil, 0.5) != 0 || Quantile([]time.Duration{7}, 0.99) != 7 {
		t.Fatal("edge cases")
	}
}
