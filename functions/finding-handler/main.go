// Command finding-handler is the Lambda that receives Macie findings (an SQS batch from the
// findings queue, or an EventBridge event directly) and decides what happens to each.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/macie-chatops/macie-chatops/functions/internal/config"
)

func main() { lambda.Start(config.Must("finding-handler", config.FindingHandler).HandleAny) }
