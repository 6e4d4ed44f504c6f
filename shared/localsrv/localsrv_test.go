package localsrv

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

var initLine = regexp.MustCompile(`INIT REPORT.*?durationMs:\s*([0-9.]+)`)

func TestWaitLogWaitsForTheLine(t *testing.T) {
	p := &Proc{Name: "emulator", grew: make(chan struct{})}
	pr, pw := io.Pipe()
	go p.capture(pr)
	got := make(chan []string, 1)
	errs := make(chan error, 1)
	go func() {
		m, err := p.WaitLog(context.Background(), initLine)
		got <- m
		errs <- err
	}()
	io.WriteString(pw, "starting\n")
	io.WriteString(pw, "INIT REPORT(durationMs: 12.50)\nmore\n")
	if m, err := <-got, <-errs; err != nil || len(m) != 2 || m[1] != "12.50" {
		t.Fatalf("WaitLog = %q, %v", m, err)
	}
	// The process ended without the line: an error naming it, not a wait until the deadline.
	pw.Close()
	if _, err := p.WaitLog(context.Background(), regexp.MustCompile("never printed")); err == nil || !strings.Contains(err.Error(), "emulator ended without printing") {
		t.Fatalf("ended log: %v", err)
	}
}

func TestWaitLogStopsWithTheContext(t *testing.T) {
	p := &Proc{Name: "emulator", grew: make(chan struct{})}
	pr, pw := io.Pipe()
	defer pw.Close()
	go p.capture(pr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.WaitLog(ctx, initLine); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ps, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: not 20 distinct ports", ps)
		}
		seen[p] = true
	}
}
