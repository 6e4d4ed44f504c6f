// Package benchrun owns the benchmark harness behind `make bench`: Go benchmarks (parse, decide,
// verify + parse an interaction, build a message, ledger transitions), the streaming policy
// explain (peak RSS and findings/s over 10k, 100k and 1M generated findings), the quarantine engine
// against a bare SDK loop on the same server, the 10,000-finding burst through local mode, the
// latencies a user feels (idle and during the burst, see scale.Latencies), the bootstrap zip
// sizes, the init time and the remediation-handler's cold start to first ack under the Lambda
// runtime emulator, printed as one table with each goal and whether this machine met it; then
// the AWS cost per 10,000 findings and of one Slack approval, counted (see cost.go, prices.go).
package benchrun

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/scale"
	"github.com/macie-chatops/macie-chatops/shared/localsrv"
)

// Row is one line of the table.
type Row struct {
	Group, Measure, Value, Goal string
	OK                          *bool
}

func yes(b bool) *bool { return &b }

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// goBench runs `go test -bench` in a module directory and returns metric → unit → value per
// benchmark name.
func goBench(dir, pattern, benchtime string, pkgs ...string) (map[string]map[string]float64, error) {
	args := append([]string{"test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-benchmem", "-count", "1"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	res := map[string]map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		vals := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				vals[f[i+1]] = v
			}
		}
		res[m[1]] = vals
	}
	return res, nil
}

func us(ns float64) string { return fmt.Sprintf("%.1f µs", ns/1000) }

// explainSizes are the generated inputs of the policy explain rows.
var explainSizes = []int{10_000, 100_000, 1_000_000}

// Main runs everything and prints the table; the exit code is 0 even when a goal is missed (the
// table says so), and 1 only when a measurement could not be made.
func Main(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("n", 10000, "findings in the burst test")
	only := fs.String("only", "", "run only this group of rows: explain, latency (idle, during the burst, cold start), cost")
	costN := fs.Int("cost-n", 2000, "findings in the counted burst on DynamoDB (dynalite) that the cost table is priced from, scaled to 10,000")
	if fs.Parse(args) != nil {
		return 2
	}
	if *only != "" && *only != "explain" && *only != "latency" && *only != "cost" {
		fmt.Fprintf(errOut, "bench: -only %q: the groups that run alone are explain, latency and cost\n", *only)
		return 2
	}
	if *costN <= 0 {
		fmt.Fprintf(errOut, "bench: -cost-n %d: give a number of findings above 0, e.g. -cost-n 2000\n", *costN)
		return 2
	}
	wd, _ := os.Getwd()
	root, err := localsrv.RepoRoot(wd)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return 1
	}
	shared, functions := filepath.Join(root, "shared"), filepath.Join(root, "functions")
	var rows []Row
	fail := func(err error) int { fmt.Fprintln(errOut, "bench:", err); return 1 }
	step := func(s string) { fmt.Fprintf(errOut, "bench: %s…\n", s) }

	if *only == "explain" {
		ex, err := explainRows(root, explainSizes, errOut)
		if err != nil {
			return fail(err)
		}
		Print(out, ex)
		return 0
	}
	approvalTitle := fmt.Sprintf("AWS cost of one Slack approval (click → quarantined; mean of %d, warm containers)", approvalsMeasured)
	costTitle := fmt.Sprintf("AWS cost per 10,000 findings (counted on a burst of %d, ×%g)", *costN, 10000/float64(*costN))
	if *only == "cost" {
		lines, approval, err := costRun(*costN, step, errOut)
		if err != nil {
			return fail(err)
		}
		PrintCost(out, costTitle, lines)
		PrintCost(out, approvalTitle, approval)
		return 0
	}
	if *only == "latency" {
		rows, err := latencyAndBurst(*n, step, errOut)
		if err != nil {
			return fail(err)
		}
		cold, err := coldRow(root, errOut)
		if err != nil {
			return fail(err)
		}
		Print(out, append(rows, cold))
		return 0
	}

	step("Go benchmarks (parse, decide, interaction, message)")
	core, err := goBench(shared, "ParseAndDecide|BenchmarkParse$|BenchmarkDecide$|VerifyAndParse|BuildReview", "2000x", "./finding", "./policy", "./chatops", "./slackmsg")
	if err != nil {
		return fail(err)
	}
	pd := core["BenchmarkParseAndDecide"]["ns/op"]
	rows = append(rows,
		Row{"core", "parse + validate + decide a typical event", us(pd), "< 50 µs", yes(pd < 50000)},
		Row{"core", "parse alone", us(core["BenchmarkParse"]["ns/op"]), "", nil},
		Row{"core", "decide alone", us(core["BenchmarkDecide"]["ns/op"]), "", nil},
	)
	vp := core["BenchmarkVerifyAndParse"]["ns/op"]
	rows = append(rows, Row{"core", "verify + parse one Slack interaction", us(vp), "< 30 µs", yes(vp < 30000)},
		Row{"core", "build + encode a review message", us(core["BenchmarkBuildReview"]["ns/op"]), "", nil})

	step("ledger transitions (bbolt and dynalite)")
	led, err := goBench(shared, "Transitions", "300x", "./ledger")
	if err != nil {
		return fail(err)
	}
	rows = append(rows,
		Row{"ledger", "transitions/s, embedded (bbolt, fsync)", fmt.Sprintf("%.0f", led["BenchmarkTransitionsBolt"]["transitions/s"]), "", nil},
		Row{"ledger", "transitions/s, DynamoDB (dynalite)", fmt.Sprintf("%.0f", led["BenchmarkTransitionsDynalite"]["transitions/s"]), "", nil})

	step("quarantine engine vs bare CopyObject + DeleteObject(versionId) on versitygw")
	q, err := goBench(shared, "QuarantineVsBare", "200x", "./quarantine")
	if err != nil {
		return fail(err)
	}
	for _, name := range []string{"1KiB/workers=1", "1KiB/workers=4", "1024KiB/workers=1", "1024KiB/workers=4"} {
		m := q["BenchmarkQuarantineVsBare/"+name]
		rows = append(rows, Row{"quarantine", fmt.Sprintf("%s: engine %.0f/s vs bare %.0f/s", name, m["engine-moves/s"], m["bare-moves/s"]),
			fmt.Sprintf("ratio %.2f", m["ratio"]), "ratio ≥ 0.6", yes(m["ratio"] >= 0.6)})
	}

	// Before the burst: a child's peak RSS (ru_maxrss) starts at this process's RSS when it is
	// forked, and the in-process burst grows this process to well over 100 MiB, which would then
	// be reported as the CLI's own peak.
	ex, err := explainRows(root, explainSizes, errOut)
	if err != nil {
		return fail(err)
	}

	burst, err := latencyAndBurst(*n, step, errOut)
	if err != nil {
		return fail(err)
	}
	rows = append(rows, burst...)
	rows = append(rows, ex...)

	step("bootstrap zip sizes")
	for _, f := range []string{"finding-handler", "remediation-handler", "remediator", "sweeper"} {
		st, err := os.Stat(filepath.Join(root, "build", f+".zip"))
		if err != nil {
			return fail(fmt.Errorf("%v (run make build first; make bench does)", err))
		}
		rows = append(rows, Row{"build", f + ".zip (linux/arm64)", fmt.Sprintf("%.1f MB", float64(st.Size())/1e6), "< 10 MB", yes(st.Size() < 10e6)})
	}

	step("init time under aws-lambda-rie")
	tmp, _ := os.MkdirTemp("", "bench-init-")
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "test", "-count=1", "-run", "Bootstraps", "./internal/smoke")
	cmd.Dir = functions
	cmd.Env = append(os.Environ(), "MACIE_CHATOPS_BENCH_OUT="+tmp)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("smoke test: %v\n%s", err, b))
	}
	for _, f := range []string{"finding-handler", "remediation-handler", "remediator", "sweeper"} {
		b, _ := os.ReadFile(filepath.Join(tmp, "init-"+f+".txt"))
		v, _ := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		rows = append(rows, Row{"lambda", f + " init (host arch, aws-lambda-rie)", fmt.Sprintf("%.0f ms", v), "", nil})
	}

	step(fmt.Sprintf("remediation-handler cold start to first ack under aws-lambda-rie, %d runs", coldRuns))
	cold, err := coldRow(root, errOut)
	if err != nil {
		return fail(err)
	}
	rows = append(rows, cold)

	lines, approval, err := costRun(*costN, step, errOut)
	if err != nil {
		return fail(err)
	}
	Print(out, rows)
	PrintCost(out, costTitle, lines)
	PrintCost(out, approvalTitle, approval)
	return 0
}

// coldRow is the cold start row: the median of coldRuns.
func coldRow(root string, errOut io.Writer) (Row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := coldStarts(ctx, root, coldRuns, errOut)
	if err != nil {
		return Row{}, err
	}
	m := median(s)
	return Row{"lambda", "remediation-handler cold start → first ack (host arch, aws-lambda-rie, secret from moto)",
		fmt.Sprintf("median %s of %d (max %s)", ms(m), len(s), ms(scale.Quantile(s, 1))), "< 1 s", yes(m < coldStartGoal)}, nil
}

// latencyAndBurst measures the idle latencies, then runs the burst with the latency probes
// beside it, and returns the burst's rows and the latency rows.
func latencyAndBurst(n int, step func(string), errOut io.Writer) ([]Row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	step(fmt.Sprintf("latency on an idle local stack (%d AUTO findings, %d REVIEW clicks)", idleSamples, idleSamples))
	idle, err := scale.Idle(ctx, idleSamples)
	if err != nil {
		return nil, err
	}
	step(fmt.Sprintf("burst of %d findings through local mode, REVIEW clicks beside it", n))
	rep, err := scale.RunWith(ctx, n, scale.Options{Probe: true, Clicks: burstClicks}, errOut)
	if err != nil {
		return nil, err
	}
	sg := fmt.Sprintf("N=%d", n)
	rows := []Row{
		{sg, "findings/s through the finding-handler", fmt.Sprintf("%.0f", rep.FindingsPerSec), "", nil},
		{sg, "quarantines/s (AUTO, 4 workers)", fmt.Sprintf("%.0f (%d objects)", rep.QuarantinesPerSec, rep.Auto-rep.NotQuarantined), "all AUTO quarantined", yes(rep.NotQuarantined == 0)},
		{sg, "findings accounted for in the ledger", fmt.Sprintf("%d of %d unique", rep.Accounted, rep.Unique), "all", yes(rep.Accounted == rep.Unique)},
		{sg, "duplicates suppressed", fmt.Sprintf("%d of %d sent", rep.N-rep.Accounted, rep.Duplicates), "all", yes(rep.N-rep.Accounted == rep.Duplicates)},
		{sg, "double quarantines", fmt.Sprint(rep.DoubleQuarantines), "0", yes(rep.DoubleQuarantines == 0)},
		{sg, "Slack messages posted (+ digest updates)", fmt.Sprintf("%d (+%d)", rep.Messages, rep.Updates), "≤ 30", yes(rep.Messages <= 30)},
		{sg, "peak messages per channel in any second", fmt.Sprint(rep.PeakPerChannel), "≤ 1", yes(rep.PeakPerChannel <= 1)},
		{sg, "whole run (findings in → last quarantine)", rep.Total.Round(100 * time.Millisecond).String(), "< 2 min", yes(rep.Total < 2*time.Minute)},
		{sg, "peak memory (RSS of the harness process)", fmt.Sprintf("%.0f MiB", rep.PeakRSSMiB), "", nil},
	}
	return append(rows, latencyRows(idle, rep.Latency, n)...), nil
}

// Machine describes where the table was measured.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf(", %.0f GiB", kb/1024/1024)
		}
	}
	return fmt.Sprintf("%s/%s, %d cores (%s)%s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, mem, runtime.Version())
}

// Print writes the table.
func Print(out io.Writer, rows []Row) {
	fmt.Fprintf(out, "\nmacie-chatops benchmarks — %s — %s\n\n", time.Now().UTC().Format("2006-01-02"), Machine())
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMEASURE\tVALUE\tGOAL\tMET")
	missed := 0
	for _, r := range rows {
		met := ""
		if r.OK != nil {
			met = "yes"
			if !*r.OK {
				met, missed = "NO", missed+1
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Group, r.Measure, r.Value, r.Goal, met)
	}
	tw.Flush()
	fmt.Fprintf(out, "\n%d goals missed on this machine.\n", missed)
}
