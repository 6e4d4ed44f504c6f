// Command infra is the Pulumi program (Pulumi.yaml: main infra/): `pulumi up` per environment
// deploys the central stack and every member account from the stack's config and policy file.
package main

import (
	"github.com/macie-chatops/macie-chatops/infra/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() { pulumi.Run(stack.Run) }
