package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/macie-chatops/macie-chatops/functions/internal/local"
	"github.com/macie-chatops/macie-chatops/functions/internal/standin"
)

func localRun(env Env, args []string) int {
	fs := newFlags(env, "local", "")
	policyFile := fs.String("policy", "", "policy file (default policies/dev.yaml)")
	headless := fs.Bool("headless", false, "run the scripted scenario without a browser, print the table, exit non-zero on any difference")
	port := fs.Int("port", 8765, "port of the Slack stand-in page on 127.0.0.1 (0 = any free port)")
	work := fs.String("work", "", "directory for S3 data and the ledger (default: a new temp dir)")
	verbose := fs.Bool("v", false, "print the handlers' JSON logs")
	if fs.Parse(args) != nil {
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// `make demo | tee log` stopped with Ctrl-C: tee is gone, so stdout is a broken pipe. A write
	// must then fail, not kill the process before it stops the servers it started.
	signal.Ignore(syscall.SIGPIPE)
	opts := local.Options{PolicyFile: *policyFile, WorkDir: *work, PagePort: *port}
	if *verbose {
		opts.Log = env.Stderr
	}
	if *headless && *port == 8765 {
		opts.PagePort = 0 // a scripted run never needs the well-known port
	}
	fmt.Fprintln(env.Stdout, "Starting local mode: S3 server (versitygw), bucket settings (moto), ledger, Slack stand-in, three handlers…")
	e, err := local.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(env.Stderr, "local mode could not start:", err)
		return ExitProblem
	}
	defer e.Stop()
	printWhere(env.Stdout, e)

	if *headless {
		if err := e.Headless(ctx, env.Stdout); err != nil {
			fmt.Fprintln(env.Stderr, err)
			return ExitProblem
		}
		return ExitOK
	}
	if err := e.WriteState(); err != nil {
		fmt.Fprintln(env.Stderr, "warning: `local send` will not find this run:", err)
	}
	defer os.Remove(local.StateFile())
	if err := e.Replay(ctx); err != nil {
		fmt.Fprintln(env.Stderr, "replaying the demo findings failed:", err)
		return ExitProblem
	}
	fmt.Fprintf(env.Stdout, "\nFour findings replayed (one AUTO, one REVIEW, one below the minimum severity, and one policy finding:\n"+
		"Block Public Access turned off on s3://"+local.PolicyBucket+"; press Fix, then Undo).\n"+
		"Open %s, pick a user, and press the buttons. Inject more with:\n  go run ./functions/cmd/macie-chatops local send FILE\nCtrl-C stops everything.\n", e.PageURL)
	<-ctx.Done()
	// Cleanup first, then the table: cleanup must not depend on stdout being writable.
	rows := e.Table(context.Background())
	e.Stop()
	os.Remove(local.StateFile())
	fmt.Fprintln(env.Stdout, "\nStopped.")
	local.PrintTable(env.Stdout, rows)
	return ExitOK
}

func printWhere(w io.Writer, e *local.Env) {
	fmt.Fprintf(w, "\n  Slack stand-in page   %s\n", e.PageURL)
	fmt.Fprintf(w, "  Interactivity URL     %s (accepts only Slack-signed requests)\n", e.ActionsURL)
	fmt.Fprintf(w, "  S3 endpoint           %s (versitygw, path-style)\n", e.S3.Endpoint)
	for _, acct := range []string{local.AccountA, local.AccountB} {
		c := e.Accounts[acct]
		fmt.Fprintf(w, "    account %s  access key %s  secret %s  bucket %s\n", acct, c.AccessKeyID, c.SecretAccessKey, local.DataBucket(acct))
	}
	fmt.Fprintf(w, "  Bucket settings       %s (moto: versitygw has no Block Public Access API)\n", e.Settings.Endpoint)
	fmt.Fprintf(w, "  Ledger                %s  (macie-chatops ledger list --ledger %s)\n", e.LedgerPath, e.LedgerPath)
	fmt.Fprintf(w, "  Policy                %s\n", e.Policy.Source)
}

func localSend(env Env, args []string) int {
	fs := newFlags(env, "local send", "FILE... (events, findings or JSON Lines; - for stdin)")
	if fs.Parse(args) != nil || fs.NArg() == 0 {
		fs.Usage()
		return ExitUsage
	}
	st, ok := readLocalState(env)
	if !ok {
		return ExitProblem
	}
	code := ExitOK
	for _, f := range fs.Args() {
		data, err := readInput(env, f)
		if err != nil {
			fmt.Fprintln(env.Stderr, err)
			code = ExitProblem
			continue
		}
		resp, err := st.post("/control/send", data)
		if err != nil {
			fmt.Fprintln(env.Stderr, "local mode unreachable:", err)
			return ExitProblem
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(env.Stdout, "%s: %s", f, body)
		if resp.StatusCode != http.StatusOK {
			code = ExitProblem
		}
	}
	return code
}

// localState is what a running local mode writes to its state file: where its page is, and the
// per-run token its control endpoints require.
type localState struct{ Page, Token string }

// post sends a control request to the running local mode as the stand-in's Guard requires it:
// the run's token and a JSON body (a cross-site form post can carry neither).
func (st localState) post(path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, st.Page+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("local mode state file is damaged (restart `make demo`): %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standin.TokenHeader, st.Token)
	return (&http.Client{Timeout: 30 * time.Second}).Do(req)
}

// readLocalState reads the running local mode's state file, or says none is running.
func readLocalState(env Env) (localState, bool) {
	var st localState
	raw, err := os.ReadFile(local.StateFile())
	if err != nil {
		fmt.Fprintln(env.Stderr, "no local mode is running (start it with `make demo`)")
		return st, false
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Page == "" {
		fmt.Fprintf(env.Stderr, "local mode state file %s is damaged (restart `make demo`)\n", local.StateFile())
		return st, false
	}
	return st, true
}
