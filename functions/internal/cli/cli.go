// Package cli owns the macie-chatops command line: the subcommands a security engineer runs
// before and after deploying (policy validate/explain, the doctor preflight, the ledger and local
// mode). Run is a plain function of args and streams so every command is tested without a process.
package cli

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitProblem = 1 // the input had problems (invalid policy, bad findings)
	ExitUsage   = 2
)

// Env is what a command sees of the outside world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

type command struct {
	name, summary string
	run           func(env Env, args []string) int
}

func commands() []command {
	return []command{
		{"policy validate", "check policy files; prints every problem, exits 1 on any error", policyValidate},
		{"policy explain", "dry-run a policy on findings (event/finding files, JSON Lines, or -)", policyExplain},
		{"ledger list", "list findings by account, status and time", ledgerList},
		{"ledger show", "what happened to a finding, and who approved it", ledgerShow},
		{"ledger export", "export the audit trail of a time range as JSON Lines", ledgerExport},
		{"ledger redrive", "send a stuck finding's job again now (what the sweeper does when it is stale)", ledgerRedrive},
		{"local send", "inject findings into a running local mode", localSend},
		{"doctor", "preflight: credentials, deploy roles, Macie, Lambda quota, policy, Slack", doctorCmd},
		{"local", "run the whole flow locally (make demo); --headless for the scripted scenario", localRun},
	}
}

// Run executes one command line (without the program name) and returns the exit code.
func Run(env Env, args []string) int {
	cmds := commands()
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(env, args[len(words):])
		}
	}
	if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
		fmt.Fprintf(env.Stderr, "unknown command %q\n\n", strings.Join(args, " "))
	}
	usage(env.Stderr, cmds)
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		return ExitOK
	}
	return ExitUsage
}

func usage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "usage: macie-chatops COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
}

func newFlags(env Env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: macie-chatops %s [flags] %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}
