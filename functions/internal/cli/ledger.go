package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/macie-chatops/macie-chatops/functions/internal/handlers"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/obs"
	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// storeFlags selects the ledger: --ledger FILE (embedded) or --table NAME (DynamoDB).
type storeFlags struct {
	file, table, endpoint, region string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.file, "ledger", "", "embedded ledger file (local mode), e.g. .local/ledger.db")
	fs.StringVar(&s.table, "table", "", "DynamoDB ledger table (the stack output ledgerTable)")
	fs.StringVar(&s.endpoint, "endpoint", "", "DynamoDB endpoint override (e.g. a local dynalite)")
	fs.StringVar(&s.region, "region", "", "AWS region of the table (default: from the AWS configuration)")
}

func (s *storeFlags) open(ctx context.Context) (ledger.Store, error) {
	switch {
	case s.file != "" && s.table != "":
		return nil, errors.New("give either --ledger FILE or --table NAME, not both")
	case s.file != "":
		return ledger.OpenBolt(s.file, nil)
	case s.table != "":
		return ledger.OpenDynamo(ctx, s.table, s.endpoint, s.region)
	}
	return nil, errors.New("no ledger given: pass --ledger FILE (local mode) or --table NAME (DynamoDB)")
}

// openOrSay opens the selected store, or prints why not.
func (s *storeFlags) openOrSay(env Env) (ledger.Store, bool) {
	st, err := s.open(context.Background())
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return nil, false
	}
	return st, true
}

func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: use RFC 3339 (2026-03-01T12:00:00Z), a date (2026-03-01) or a duration ago (24h)", name, v)
}

func ledgerList(env Env, args []string) int {
	fs := newFlags(env, "ledger list", "")
	var sf storeFlags
	sf.register(fs)
	account := fs.String("account", "", "only this account id")
	status := fs.String("status", "", "only this status (e.g. QUARANTINED)")
	since := fs.String("since", "", "updated at or after (RFC 3339, date, or duration ago like 24h)")
	limit := fs.Int("limit", 100, "records per page, newest first; 0 lists every page")
	after := fs.String("after", "", "continue after the page that printed this cursor")
	output := fs.String("output", "text", "text or json")
	if fs.Parse(args) != nil {
		return ExitUsage
	}
	if *limit < 0 {
		fmt.Fprintf(env.Stderr, "--limit %d: give a page size, or 0 for every page\n", *limit)
		return ExitUsage
	}
	ctx := context.Background()
	st, ok := sf.openOrSay(env)
	if !ok {
		return ExitUsage
	}
	defer st.Close()
	t, err := parseTime("since", *since)
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	if *status != "" && !validStatus(ledger.Status(*status)) {
		fmt.Fprintf(env.Stderr, "--status %q: choose one of %v\n", *status, ledger.Statuses)
		return ExitUsage
	}
	// One page of --limit records, or with --limit 0 every page in turn; memory holds one page.
	f := ledger.Filter{AccountID: *account, Status: ledger.Status(*status), Since: t, Limit: *limit}
	if *limit == 0 {
		f.Limit = listAllPage
	}
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	n, cur := 0, *after
	if *output == "json" {
		io.WriteString(out, "[")
	}
	for first := true; first || (*limit == 0 && cur != ""); first = false {
		page, next, err := ledger.ListPage(ctx, st, f, cur)
		if err != nil {
			out.Flush()
			fmt.Fprintln(env.Stderr, err)
			if errors.Is(err, ledger.ErrBadCursor) {
				return ExitUsage
			}
			return ExitProblem
		}
		if *output == "json" {
			if err := writeRecordsJSON(out, page, n); err != nil {
				out.Flush()
				fmt.Fprintln(env.Stderr, err)
				return ExitProblem
			}
		} else {
			writeRecordsText(out, page, first)
		}
		n += len(page)
		cur = next
	}
	if *output == "json" {
		if n > 0 {
			io.WriteString(out, "\n")
		}
		io.WriteString(out, "]\n")
		if cur != "" {
			fmt.Fprintf(env.Stderr, "more records: add --after %s\n", cur)
		}
		return ExitOK
	}
	fmt.Fprintf(out, "%d records\n", n)
	if cur != "" {
		fmt.Fprintf(out, "more records: add --after %s\n", cur)
	}
	return ExitOK
}

// listAllPage is the page size of `ledger list --limit 0`.
const listAllPage = 1000

// writeRecordsText writes one page of the table, aligned on its own.
func writeRecordsText(w io.Writer, recs []ledger.Record, header bool) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "FINDING\tACCOUNT\tSTATUS\tACTION\tBY\tUPDATED\tOBJECT")
	}
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\ts3://%s/%s\n", r.FindingID, r.AccountID, r.Status, r.Action, r.LastActor(),
			r.UpdatedAt.Format(time.RFC3339), r.Bucket, r.Key)
	}
	tw.Flush()
}

// writeRecordsJSON writes one page of the array's elements, indented as json.Encoder indents a
// whole array; n is how many were written before.
func writeRecordsJSON(w io.Writer, recs []ledger.Record, n int) error {
	for i := range recs {
		b, err := json.MarshalIndent(&recs[i], "  ", "  ")
		if err != nil {
			return fmt.Errorf("record %s: %w", recs[i].FindingID, err)
		}
		if n+i > 0 {
			io.WriteString(w, ",")
		}
		io.WriteString(w, "\n  ")
		w.Write(b)
	}
	return nil
}

func validStatus(s ledger.Status) bool {
	for _, x := range ledger.Statuses {
		if x == s {
			return true
		}
	}
	return false
}

func ledgerShow(env Env, args []string) int {
	fs := newFlags(env, "ledger show", "FINDING-ID...")
	var sf storeFlags
	sf.register(fs)
	output := fs.String("output", "text", "text or json")
	if fs.Parse(args) != nil || fs.NArg() == 0 {
		fs.Usage()
		return ExitUsage
	}
	ctx := context.Background()
	st, ok := sf.openOrSay(env)
	if !ok {
		return ExitUsage
	}
	defer st.Close()
	code := ExitOK
	var recs []ledger.Record
	for _, id := range fs.Args() {
		r, err := st.Get(ctx, id)
		if err != nil {
			fmt.Fprintln(env.Stderr, err)
			code = ExitProblem
			continue
		}
		recs = append(recs, r)
	}
	if *output == "json" {
		writeJSON(env, recs)
		return code
	}
	for _, r := range recs {
		fmt.Fprintf(env.Stdout, "finding   %s\naccount   %s  region %s\nobject    s3://%s/%s  version %q\ntype      %s  severity %s\n",
			r.FindingID, r.AccountID, r.Region, r.Bucket, r.Key, r.VersionID, r.FindingType, r.Severity)
		fmt.Fprintf(env.Stdout, "decision  %s: %s (policy %s)\nstatus    %s\n", r.Action, r.Reason, r.PolicyHash, r.Status)
		if r.QuarantineBucket != "" {
			fmt.Fprintf(env.Stdout, "quarantine s3://%s/%s  version %q\n", r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion)
		}
		if r.Error != "" {
			fmt.Fprintf(env.Stdout, "error     %s\n", r.Error)
		}
		if r.MessageTS != "" {
			fmt.Fprintf(env.Stdout, "slack     %s %s\n", r.Channel, r.MessageTS)
		}
		fmt.Fprintln(env.Stdout, "history:")
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		for _, e := range r.History {
			from := string(e.From)
			if from == "" {
				from = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s → %s\tby %s\t%s\n", e.At.Format(time.RFC3339), from, e.To, e.Actor, e.Reason)
		}
		tw.Flush()
		fmt.Fprintln(env.Stdout)
	}
	return code
}

func ledgerExport(env Env, args []string) int {
	fs := newFlags(env, "ledger export", "")
	var sf storeFlags
	sf.register(fs)
	since := fs.String("since", "", "entries at or after (RFC 3339, date, or duration ago like 720h)")
	until := fs.String("until", "", "entries before (default: now)")
	if fs.Parse(args) != nil {
		return ExitUsage
	}
	s, err1 := parseTime("since", *since)
	u, err2 := parseTime("until", *until)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	ctx := context.Background()
	st, ok := sf.openOrSay(env)
	if !ok {
		return ExitUsage
	}
	defer st.Close()
	n, err := ledger.ExportAudit(ctx, st, s, u, env.Stdout)
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitProblem
	}
	fmt.Fprintf(env.Stderr, "%d audit entries exported\n", n)
	return ExitOK
}

func writeJSON(env Env, v any) int {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitProblem
	}
	return ExitOK
}

// noSlack is the CLI's Slack: it has no token, so a message is left to the sweeper.
type noSlack struct{}

var errNoSlack = errors.New("the CLI does not post to Slack; the sweeper brings the message in step on its next run")

func (noSlack) Post(context.Context, string, slackmsg.Message) (chatops.Ref, error) {
	return chatops.Ref{}, errNoSlack
}
func (noSlack) Update(context.Context, chatops.Ref, slackmsg.Message) error  { return errNoSlack }
func (noSlack) Ephemeral(context.Context, chatops.Ref, string, string) error { return errNoSlack }

func ledgerRedrive(env Env, args []string) int {
	fs := newFlags(env, "ledger redrive", "FINDING-ID...")
	var sf storeFlags
	sf.register(fs)
	queueURL := fs.String("queue-url", "", "the remediation jobs queue (the stack output jobsQueueUrl)")
	policyFile := fs.String("policy", "", "the stack's policy file (channels for a finding never posted)")
	localMode := fs.Bool("local", false, "re-drive in the running local mode (make demo)")
	if fs.Parse(args) != nil || fs.NArg() == 0 {
		fs.Usage()
		return ExitUsage
	}
	if *localMode {
		return redriveLocal(env, fs.Args())
	}
	if sf.table == "" || *queueURL == "" {
		fmt.Fprintln(env.Stderr, "ledger redrive needs --table NAME and --queue-url URL (AWS), or --local while `make demo` runs")
		return ExitUsage
	}
	ctx := context.Background()
	st, ok := sf.openOrSay(env)
	if !ok {
		return ExitUsage
	}
	defer st.Close()
	pol := &policy.Policy{}
	if *policyFile != "" {
		p, err := policy.LoadFile(*policyFile)
		if err != nil {
			fmt.Fprintln(env.Stderr, err)
			return ExitUsage
		}
		pol = p
	}
	var opts []func(*awsconfig.LoadOptions) error
	if sf.region != "" {
		opts = append(opts, awsconfig.WithRegion(sf.region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		fmt.Fprintln(env.Stderr, "AWS configuration:", err)
		return ExitProblem
	}
	sw := &handlers.Sweeper{Policy: pol, Ledger: st, Jobs: &jobs.SQS{API: sqs.NewFromConfig(cfg), URL: *queueURL}, Slack: noSlack{},
		Log: obs.NewLogger(io.Discard, "cli")}
	return redriveAll(env, fs.Args(), func(id string) (string, error) { return sw.Redrive(ctx, id, operator()) })
}

// operator names the person in the audit trail.
func operator() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func redriveAll(env Env, ids []string, redrive func(id string) (string, error)) int {
	code := ExitOK
	for _, id := range ids {
		out, err := redrive(id)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", id, err)
			code = ExitProblem
			continue
		}
		fmt.Fprintf(env.Stdout, "%s: %s\n", id, out)
	}
	return code
}

func redriveLocal(env Env, ids []string) int {
	st, ok := readLocalState(env)
	if !ok {
		return ExitProblem
	}
	return redriveAll(env, ids, func(id string) (string, error) {
		resp, err := st.post("/control/redrive?id="+url.QueryEscape(id), []byte("{}"))
		if err != nil {
			return "", fmt.Errorf("local mode unreachable: %w", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", errors.New(strings.TrimSpace(string(body)))
		}
		return strings.TrimSpace(strings.TrimPrefix(string(body), id+": ")), nil
	})
}
