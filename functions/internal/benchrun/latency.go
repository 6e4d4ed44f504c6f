package benchrun

import (
	"fmt"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/scale"
)

// idleSamples is how many AUTO findings, and how many REVIEW findings clicked, the idle
// latency rows measure one at a time.
const idleSamples = 20

// burstClicks is how many REVIEW messages are posted before the burst, to be clicked one after
// another while it runs (fewer are clicked if the burst ends first).
const burstClicks = 40

// ms prints a latency.
func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
}

// pcts is the value of a latency row: p50, p95, p99 and the number of samples.
func pcts(s []time.Duration) string {
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  (n=%d)", ms(scale.Quantile(s, .5)), ms(scale.Quantile(s, .95)), ms(scale.Quantile(s, .99)), len(s))
}

// latencyRows turns the idle and burst samples into rows with the goals. burst may be
// nil (not measured).
func latencyRows(idle, burst *scale.Latencies, n int) []Row {
	q := scale.Quantile
	rows := []Row{
		{"latency idle", "Slack click → HTTP 200 (approver, signed, real handler)", pcts(idle.ClickAck), "p50 < 100 ms", yes(len(idle.ClickAck) > 0 && q(idle.ClickAck, .5) < 100*time.Millisecond)},
		{"latency idle", "AUTO finding received → object quarantined", pcts(idle.AutoQuarantine), "p50 < 2 s", yes(len(idle.AutoQuarantine) > 0 && q(idle.AutoQuarantine, .5) < 2*time.Second)},
		{"latency idle", "REVIEW click → message shows Quarantined", pcts(idle.ReviewShown), "report p50/p99", nil},
	}
	if burst == nil {
		return rows
	}
	g := fmt.Sprintf("latency N=%d", n)
	return append(rows,
		Row{g, "Slack click → HTTP 200, during the burst", pcts(burst.ClickAck), "p99 < 1 s", yes(len(burst.ClickAck) > 0 && q(burst.ClickAck, .99) < time.Second)},
		Row{g, "AUTO finding received → object quarantined", pcts(burst.AutoQuarantine), "report p99", nil},
		Row{g, "REVIEW click → message shows Quarantined", pcts(burst.ReviewShown), "report p50/p99", nil},
	)
}
