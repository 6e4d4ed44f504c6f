// Command bench is `make bench`: it runs every benchmark of the project side by side in one run
// and prints one table (see internal/benchrun).
package main

import (
	"os"

	"github.com/macie-chatops/macie-chatops/functions/internal/benchrun"
)

func main() { os.Exit(benchrun.Main(os.Args[1:], os.Stdout, os.Stderr)) }
