// Command sweeper is the Lambda an EventBridge schedule invokes (with an empty event) to re-drive
// stuck findings and bring Slack messages back in step with the ledger.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/macie-chatops/macie-chatops/functions/internal/config"
)

func main() { lambda.Start(config.Must("sweeper", config.Sweeper).Handle) }
