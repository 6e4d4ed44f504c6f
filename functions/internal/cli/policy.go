package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/policy"
)

func policyValidate(env Env, args []string) int {
	fs := newFlags(env, "policy validate", "FILE...")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return ExitUsage
	}
	code := ExitOK
	for _, file := range fs.Args() {
		p, err := policy.LoadFile(file)
		if err != nil {
			code = ExitProblem
			for _, pr := range policy.Problems(err, file) {
				fmt.Fprintln(env.Stdout, pr.String())
			}
			continue
		}
		for _, w := range p.Warnings {
			fmt.Fprintln(env.Stdout, w.String())
		}
		fmt.Fprintf(env.Stdout, "%s: ok (%d account overrides, %d warnings, hash %s)\n", file, len(p.Accounts), len(p.Warnings), p.Hash)
	}
	return code
}

// explained is one row of `policy explain`: a decision, or why an item could not be decided.
type explained struct {
	Source    string        `json:"source"`
	Line      int           `json:"line"`
	FindingID string        `json:"findingId,omitempty"`
	Account   string        `json:"account,omitempty"`
	Type      string        `json:"type,omitempty"`
	Severity  string        `json:"severity,omitempty"`
	Bucket    string        `json:"bucket,omitempty"`
	Key       string        `json:"key,omitempty"`
	Action    policy.Action `json:"action,omitempty"`
	Reason    string        `json:"reason,omitempty"`
	// Remediation is, for a policy finding, the bucket change the decision would run (and
	// when), or why there is none.
	Remediation string `json:"remediation,omitempty"`
	Error       string `json:"error,omitempty"`
}

type summaryRow struct {
	Action  policy.Action `json:"action"`
	Account string        `json:"account"`
	Type    string        `json:"type"`
	Count   int           `json:"count"`
}

func policyExplain(env Env, args []string) int {
	fs := newFlags(env, "policy explain", "INPUT... (event or finding files, JSON Lines exports, or - for stdin)")
	policyFile := fs.String("policy", "", "policy file to apply (required), e.g. policies/dev.yaml")
	output := fs.String("output", "text", "output format: text, or json (one document, written as it goes)")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if *policyFile == "" || fs.NArg() == 0 || (*output != "text" && *output != "json") {
		if *output != "text" && *output != "json" {
			fmt.Fprintf(env.Stderr, "--output %q: choose text or json\n", *output)
		}
		fs.Usage()
		return ExitUsage
	}
	pol, err := policy.LoadFile(*policyFile)
	if err != nil {
		for _, pr := range policy.Problems(err, *policyFile) {
			fmt.Fprintln(env.Stderr, pr.String())
		}
		return ExitProblem
	}

	out := bufio.NewWriterSize(env.Stdout, 64<<10)
	var sink rowSink
	if *output == "json" {
		sink = newJSONSink(out, *policyFile, pol.Hash)
	} else {
		sink = newTextSink(out)
	}
	sum := summary{}
	prog := newProgress(env.Stderr, isTerminal(env.Stderr), time.Now)
	failed := false
	explainInputs(env, fs.Args(), pol, runtime.GOMAXPROCS(0), func(r *explained) {
		if r.Error != "" {
			failed = true
		}
		sum.add(r)
		sink.row(r)
		prog.add(1)
	})
	prog.done()
	sink.finish(sum.rows(), failed)
	if err := out.Flush(); err != nil {
		fmt.Fprintf(env.Stderr, "writing the output: %v\n", err)
		return ExitProblem
	}
	if failed {
		return ExitProblem
	}
	return ExitOK
}

func readInput(env Env, input string) ([]byte, error) {
	if input == "-" {
		return io.ReadAll(env.Stdin)
	}
	data, err := os.ReadFile(input)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cannot read %s: no such file", input)
		}
		return nil, fmt.Errorf("cannot read %s: %w", input, err)
	}
	return data, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
