// Command infra is the Pulumi program (Pulumi.yaml: main infra/). Until the deployment issue lands
// it only validates the stack's policy file with the same parser the Lambdas use, so a policy
// that this program accepts is one the functions accept.
package main

import (
	"fmt"
	"os"

	"github.com/macie-chatops/macie-chatops/shared/policy"
)

func main() {
	file := "policies/dev.yaml"
	if len(os.Args) > 1 {
		file = os.Args[1]
	}
	p, err := policy.LoadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%s is valid; the Pulumi program itself is not written yet (see the deployment issue)\n", p)
	os.Exit(1)
}
