// Command macie-chatops is the operator's CLI: policy validation and dry runs, and (as later
// issues land) the ledger and local mode. All logic lives in internal/cli.
package main

import (
	"os"

	"github.com/macie-chatops/macie-chatops/functions/internal/cli"
)

func main() {
	os.Exit(cli.Run(cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}
