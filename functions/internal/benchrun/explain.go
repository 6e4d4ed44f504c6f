package benchrun

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/synth"
)

// explainRun is one `policy explain` over n generated findings.
type explainRun struct {
	n       int
	rssMiB  float64
	perSec  float64
	perCPU  float64 // findings per CPU-second (user + system) of the CLI
	elapsed time.Duration
}

// explainRows measures the streaming `policy explain` the way an operator runs it on last
// month's findings: the built CLI, JSON Lines on stdin (generated as it is read, 4 KB each), the
// text table to a file. Peak RSS is the child's getrusage ru_maxrss.
func explainRows(root string, sizes []int, errOut io.Writer) ([]Row, error) {
	tmp, err := os.MkdirTemp("", "bench-explain-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "macie-chatops")
	build := exec.Command("go", "build", "-o", bin, "./cmd/macie-chatops")
	build.Dir = filepath.Join(root, "functions")
	if b, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build macie-chatops: %v\n%s", err, b)
	}
	var runs []explainRun
	for _, n := range sizes {
		fmt.Fprintf(errOut, "bench: policy explain over %d findings…\n", n)
		r, err := explainOnce(bin, filepath.Join(root, "policies", "example-org.yaml"), filepath.Join(tmp, "out.txt"), n)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	var rows []Row
	for _, r := range runs {
		g := fmt.Sprintf("explain %s", count(r.n))
		rows = append(rows,
			Row{g, "findings/s, text output to a file", fmt.Sprintf("%.0f (%s)", r.perSec, r.elapsed.Round(100*time.Millisecond)), "≥ 20,000", yes(r.perSec >= 20000)},
			Row{g, "findings per CPU-second of the CLI (user+sys time)", fmt.Sprintf("%.0f", r.perCPU), "", nil},
			Row{g, "peak RSS of the CLI", fmt.Sprintf("%.0f MiB", r.rssMiB), "< 100 MB", yes(r.rssMiB*(1<<20) < 100e6)})
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		// Findings/s is wall-clock time on a machine others may be using: say how busy it was.
		rows = append(rows, Row{"explain", "load average while measured (1, 5, 15 min)", string(b[:len(b)-len(afterThird(b))]), "", nil})
	}
	first, last := runs[0], runs[len(runs)-1]
	ratio := last.rssMiB / first.rssMiB
	rows = append(rows, Row{"explain", fmt.Sprintf("peak RSS %s / %s findings", count(last.n), count(first.n)), fmt.Sprintf("%.2f", ratio), "flat (≤ 1.5)", yes(ratio <= 1.5)})
	return rows, nil
}

func count(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return fmt.Sprintf("%dM", n/1e6)
	case n >= 1e3 && n%1e3 == 0:
		return fmt.Sprintf("%dk", n/1e3)
	}
	return fmt.Sprint(n)
}

func explainOnce(bin, policyFile, outFile string, n int) (explainRun, error) {
	out, err := os.Create(outFile)
	if err != nil {
		return explainRun{}, err
	}
	defer out.Close()
	cmd := exec.Command(bin, "policy", "explain", "--policy", policyFile, "-")
	cmd.Stdout = out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return explainRun{}, err
	}
	var stderr limited
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return explainRun{}, err
	}
	fed := make(chan error, 1)
	go func() { fed <- synth.Write(stdin, n); stdin.Close() }()
	err = cmd.Wait()
	elapsed := time.Since(start)
	if ferr := <-fed; ferr != nil {
		return explainRun{}, fmt.Errorf("feeding %d findings to policy explain: %v\n%s", n, ferr, stderr.b)
	}
	if err != nil {
		return explainRun{}, fmt.Errorf("policy explain over %d findings: %v\n%s", n, err, stderr.b)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return explainRun{}, fmt.Errorf("no resource usage for the policy explain process")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return explainRun{n: n, rssMiB: float64(ru.Maxrss) / 1024, perSec: float64(n) / elapsed.Seconds(),
		perCPU: float64(n) / cpu.Seconds(), elapsed: elapsed}, nil
}

// limited keeps the first 64 KiB of a child's stderr for an error message.
type limited struct{ b []byte }

func (l *limited) Write(p []byte) (int, error) {
	if len(l.b) < 64<<10 {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}

// afterThird is what follows the third field of /proc/loadavg.
func afterThird(b []byte) []byte {
	for f := 0; f < 3; f++ {
		i := 0
		for i < len(b) && b[i] == ' ' {
			i++
		}
		for i < len(b) && b[i] != ' ' {
			i++
		}
		b = b[i:]
	}
	return b
}
