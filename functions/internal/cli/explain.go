package cli

// policy explain streams: a reader goroutine cuts the inputs into chunks (finding.Reader), a
// worker per core decodes, validates and decides them, and the caller's goroutine writes the
// rows in input order. Memory is bounded by the batches in flight, not by the input: the ordered
// queue holds 2×workers batches of batchSize chunks, plus one being filled and one being written.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/macie-chatops/macie-chatops/shared/finding"
	"github.com/macie-chatops/macie-chatops/shared/policy"
)

const batchSize = 64

type explainBatch struct {
	source string
	chunks []finding.Chunk
	err    error // the input could not be opened: one error row
	rows   chan []explained
}

// explainInputs calls emit for every row of every input, in input order, decoding on workers
// goroutines.
func explainInputs(env Env, inputs []string, pol *policy.Policy, workers int, emit func(*explained)) {
	workers = max(workers, 1)
	work := make(chan *explainBatch, workers)
	ordered := make(chan *explainBatch, 2*workers)
	go func() {
		defer close(work)
		defer close(ordered)
		send := func(b *explainBatch) {
			b.rows = make(chan []explained, 1)
			ordered <- b
			work <- b
		}
		for _, input := range inputs {
			r, closeFn, err := openInput(env, input)
			if err != nil {
				send(&explainBatch{source: input, err: err})
				continue
			}
			rd := finding.NewReader(r)
			b := &explainBatch{source: input}
			for c, ok := rd.Next(); ok; c, ok = rd.Next() {
				b.chunks = append(b.chunks, c)
				if len(b.chunks) == batchSize {
					send(b)
					b = &explainBatch{source: input}
				}
			}
			if len(b.chunks) > 0 {
				send(b)
			}
			closeFn()
		}
	}()
	for range workers {
		go func() {
			for b := range work {
				b.rows <- explainBatchRows(b, pol)
			}
		}()
	}
	for b := range ordered {
		rows := <-b.rows
		for i := range rows {
			emit(&rows[i])
		}
	}
}

func explainBatchRows(b *explainBatch, pol *policy.Policy) []explained {
	if b.err != nil {
		return []explained{{Source: b.source, Error: b.err.Error()}}
	}
	rows := make([]explained, 0, len(b.chunks))
	for _, c := range b.chunks {
		for _, it := range c.Items() {
			rows = append(rows, explainItem(b.source, it, pol))
		}
	}
	return rows
}

func explainItem(source string, it finding.Item, pol *policy.Policy) explained {
	row := explained{Source: source, Line: it.Line}
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
	} else {
		d := pol.Decide(it.Finding)
		row.Action, row.Reason, row.Account = d.Action, d.Reason, d.Account.String()
		row.Remediation = remediation(it.Finding, d, pol)
	}
	return row
}

// remediation says what a policy finding's decision would change in the bucket, and when, or
// why nothing; "" for data findings (the action says it all) and IGNOREd findings.
func remediation(f *finding.Finding, d policy.Decision, pol *policy.Policy) string {
	if !f.IsPolicy() || d.Action == policy.Ignore {
		return ""
	}
	pt, known := policy.PolicyTypeFor(f.Type)
	switch {
	case !known:
		return "none: this version has no remediation for " + f.Type
	case !pt.Remediable:
		return pt.Remediation
	case d.Action == policy.Notify:
		return "none: NOTIFY posts the finding without buttons (REVIEW or AUTO would " + what(f, pt, pol) + ")"
	}
	bf := pol.BucketFixFor(f.AccountID)
	flap := fmt.Sprintf("; undo restores the snapshot taken before; after %d fixes of this bucket within %s the next goes to REVIEW",
		bf.Flapping.Count, shortDuration(bf.Flapping.Window))
	if d.Action == policy.Auto {
		return "runs at once: " + what(f, pt, pol) + flap
	}
	return "on approval: " + what(f, pt, pol) + flap
}

// what is the remediation of a remediable type, with the encryption the account would get.
func what(f *finding.Finding, pt policy.PolicyType, pol *policy.Policy) string {
	if f.Type != "Policy:IAMUser/S3BucketEncryptionDisabled" {
		return pt.Remediation
	}
	e := pol.BucketFixFor(f.AccountID).Encryption
	key := "off"
	if e.BucketKey {
		key = "on"
	}
	if e.Algorithm == policy.AlgorithmKMS {
		return fmt.Sprintf("set default encryption to SSE-KMS (aws:kms) with key %s, bucket key %s", e.KMSKeyID, key)
	}
	return fmt.Sprintf("set default encryption to SSE-S3 (%s), bucket key %s", e.Algorithm, key)
}

func shortDuration(d time.Duration) string {
	switch {
	case d > 0 && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d > 0 && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// openInput opens a file, or stdin for "-".
func openInput(env Env, input string) (io.Reader, func(), error) {
	if input == "-" {
		return env.Stdin, func() {}, nil
	}
	f, err := os.Open(input)
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.IsDir() {
			err = errors.New("is a directory")
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("cannot read %s: no such file", input)
		}
		return nil, nil, fmt.Errorf("cannot read %s: %w", input, err)
	}
	return f, func() { f.Close() }, nil
}

// summary counts decisions by action × account × type (bounded by the policy and the
// organization, not by the input).
type summary map[summaryRow]int

func (s summary) add(r *explained) {
	if r.Error == "" {
		s[summaryRow{Action: r.Action, Account: r.Account, Type: r.Type}]++
	}
}

func (s summary) rows() []summaryRow {
	out := make([]summaryRow, 0, len(s))
	for k, n := range s {
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

// rowSink writes rows as they come, then the summary.
type rowSink interface {
	row(r *explained)
	finish(summary []summaryRow, failed bool)
}

// jsonSink writes the same indented document json.Encoder wrote for the whole result,
// {"policy", "policyHash", "findings": [...], "summary": [...], "failed"}, one finding at a time.
type jsonSink struct {
	w   io.Writer
	n   int
	buf bytes.Buffer
}

func newJSONSink(w io.Writer, policyFile, hash string) *jsonSink {
	s := &jsonSink{w: w}
	fmt.Fprintf(w, "{\n  \"policy\": %s,\n  \"policyHash\": %s,\n  \"findings\": [", jsonString(policyFile), jsonString(hash))
	return s
}

func jsonString(v string) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (s *jsonSink) row(r *explained) {
	b, err := json.Marshal(r)
	if err != nil { // a struct of strings and ints: cannot happen
		b = []byte(`{"error":` + string(jsonString(err.Error())) + `}`)
	}
	s.buf.Reset()
	_ = json.Indent(&s.buf, b, "    ", "  ")
	if s.n == 0 {
		io.WriteString(s.w, "\n    ")
	} else {
		io.WriteString(s.w, ",\n    ")
	}
	s.w.Write(s.buf.Bytes())
	s.n++
}

func (s *jsonSink) finish(summary []summaryRow, failed bool) {
	if s.n > 0 {
		io.WriteString(s.w, "\n  ")
	}
	b, _ := json.MarshalIndent(summary, "  ", "  ")
	fmt.Fprintf(s.w, "],\n  \"summary\": %s,\n  \"failed\": %t\n}\n", b, failed)
}

// textSink writes the explain table. text/tabwriter would hold every row until the end to
// align the columns; this aligns each block of textBlock rows with the widest cell seen so far,
// which is byte for byte what tabwriter printed for inputs of up to textBlock rows and, after
// that, only ever widens a column.
type textSink struct {
	w      io.Writer
	widths [textCols]int
	block  [][textCols + 1]string
	errs   int
}

const (
	textCols  = 6 // aligned columns; the reason (or error) is the last, unaligned one
	textBlock = 1024
	// as tabwriter.NewWriter(w, 2, 4, 2, ' ', 0): minwidth 2, padding 2
	textMinWidth, textPadding = 2, 2
)

func newTextSink(w io.Writer) *textSink {
	s := &textSink{w: w}
	s.block = append(s.block, [textCols + 1]string{"INPUT", "FINDING", "ACCOUNT", "TYPE", "SEVERITY", "ACTION", "REASON"})
	return s
}

func (s *textSink) row(r *explained) {
	loc := r.Source
	if r.Line > 0 {
		loc = r.Source + ":" + strconv.Itoa(r.Line)
	}
	if r.Error != "" {
		s.errs++
		s.block = append(s.block, [textCols + 1]string{loc, dash(r.FindingID), dash(r.Account), dash(r.Type), dash(r.Severity), "ERROR", oneLine(r.Error)})
	} else {
		reason := r.Reason
		if r.Remediation != "" {
			reason += " | remediation: " + r.Remediation
		}
		s.block = append(s.block, [textCols + 1]string{loc, r.FindingID, r.Account, r.Type, r.Severity, string(r.Action), reason})
	}
	if len(s.block) == textBlock {
		s.flush()
	}
}

func (s *textSink) flush() {
	for i := range s.block {
		for c := range textCols {
			s.block[i][c] = cell(s.block[i][c])
			s.widths[c] = max(s.widths[c], textMinWidth, utf8.RuneCountInString(s.block[i][c])+textPadding)
		}
		s.block[i][textCols] = cell(s.block[i][textCols])
	}
	var line []byte
	for _, r := range s.block {
		line = line[:0]
		for c := range textCols {
			line = append(line, r[c]...)
			for n := s.widths[c] - utf8.RuneCountInString(r[c]); n > 0; n-- {
				line = append(line, ' ')
			}
		}
		line = append(line, r[textCols]...)
		line = append(line, '\n')
		s.w.Write(line)
	}
	s.block = s.block[:0]
}

// cell keeps attacker-controlled text (object keys, ids of broken findings) from adding cells
// or lines to the table.
func cell(s string) string {
	if strings.ContainsAny(s, "\t\n\v\f\xff") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '\t', '\n', '\v', '\f':
				return ' '
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
	}
	return s
}

func (s *textSink) finish(summary []summaryRow, _ bool) {
	s.flush()
	fmt.Fprintln(s.w, "\nSUMMARY")
	tw := tabwriter.NewWriter(s.w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tACCOUNT\tTYPE\tCOUNT")
	total := 0
	for _, r := range summary {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.Action, r.Account, r.Type, r.Count)
		total += r.Count
	}
	tw.Flush()
	fmt.Fprintf(s.w, "%d findings decided, %d could not be read or validated\n", total, s.errs)
}

// progress shows count, rate and elapsed time on a terminal, rewriting one line; on anything
// else it prints nothing. The clock is injected for tests.
type progress struct {
	w           io.Writer
	on, shown   bool
	now         func() time.Time
	start, last time.Time
	n           int
}

// progressEvery is how often the line is rewritten.
const progressEvery = 250 * time.Millisecond

func newProgress(w io.Writer, on bool, now func() time.Time) *progress {
	p := &progress{w: w, on: on, now: now}
	if on {
		p.start = now()
		p.last = p.start
	}
	return p
}

func (p *progress) add(n int) {
	if !p.on {
		return
	}
	before := p.n
	p.n += n
	if before/256 == p.n/256 { // look at the clock every 256 findings only
		return
	}
	if t := p.now(); t.Sub(p.last) >= progressEvery {
		p.last = t
		p.print(t)
	}
}

func (p *progress) print(t time.Time) {
	el := t.Sub(p.start)
	rate := 0.0
	if el > 0 {
		rate = float64(p.n) / el.Seconds()
	}
	fmt.Fprintf(p.w, "\r%d findings  %.0f/s  %s elapsed ", p.n, rate, el.Round(100*time.Millisecond))
	p.shown = true
}

// done prints the final count and ends the line, if a line was shown.
func (p *progress) done() {
	if p.on && p.shown {
		p.print(p.now())
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a terminal (a character device other than /dev/null).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}
