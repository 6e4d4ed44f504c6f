package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/macie-chatops/macie-chatops/shared/finding"
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
	Error     string        `json:"error,omitempty"`
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
	output := fs.String("output", "text", "output format: text or json")
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

	var rows []explained
	failed := false
	for _, input := range fs.Args() {
		data, err := readInput(env, input)
		if err != nil {
			rows = append(rows, explained{Source: input, Error: err.Error()})
			failed = true
			continue
		}
		for _, it := range finding.ReadAll(data) {
			row := explained{Source: input, Line: it.Line}
			if it.Err == nil {
				it.Err = it.Finding.Validate()
			}
			if it.Finding != nil {
				f := it.Finding
				row.FindingID, row.Account, row.Type = f.ID, f.AccountID, f.Type
				row.Severity = finding.LevelName(f.Severity.Level())
				row.Bucket, row.Key = f.BucketName(), f.ObjectKey()
			}
			if it.Err != nil {
				row.Error = it.Err.Error()
				failed = true
			} else {
				d := pol.Decide(it.Finding)
				row.Action, row.Reason, row.Account = d.Action, d.Reason, d.Account.String()
			}
			rows = append(rows, row)
		}
	}
	summary := summarize(rows)

	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Policy   string       `json:"policy"`
			Hash     string       `json:"policyHash"`
			Findings []explained  `json:"findings"`
			Summary  []summaryRow `json:"summary"`
			Failed   bool         `json:"failed"`
		}{*policyFile, pol.Hash, rows, summary, failed})
	} else {
		writeExplainText(env.Stdout, rows, summary)
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

func summarize(rows []explained) []summaryRow {
	counts := map[summaryRow]int{}
	for _, r := range rows {
		if r.Error != "" {
			continue
		}
		counts[summaryRow{Action: r.Action, Account: r.Account, Type: r.Type}]++
	}
	out := make([]summaryRow, 0, len(counts))
	for k, n := range counts {
		k.Count = n
		out = append(out, k)
	}
	order := map[policy.Action]int{}
	for i, a := range policy.Actions {
		order[a] = i
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Action != b.Action {
			return order[a.Action] < order[b.Action]
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		return a.Type < b.Type
	})
	return out
}

func writeExplainText(w io.Writer, rows []explained, summary []summaryRow) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INPUT\tFINDING\tACCOUNT\tTYPE\tSEVERITY\tACTION\tREASON")
	errs := 0
	for _, r := range rows {
		loc := r.Source
		if r.Line > 0 {
			loc = fmt.Sprintf("%s:%d", r.Source, r.Line)
		}
		if r.Error != "" {
			errs++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\tERROR\t%s\n", loc, dash(r.FindingID), dash(r.Account), dash(r.Type), dash(r.Severity), oneLine(r.Error))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", loc, r.FindingID, r.Account, r.Type, r.Severity, r.Action, r.Reason)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nSUMMARY")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tACCOUNT\tTYPE\tCOUNT")
	total := 0
	for _, s := range summary {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Action, s.Account, s.Type, s.Count)
		total += s.Count
	}
	tw.Flush()
	fmt.Fprintf(w, "%d findings decided, %d could not be read or validated\n", total, errs)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
