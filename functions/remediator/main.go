// Command remediator is the Lambda that runs remediation and release jobs from the queue.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/macie-chatops/macie-chatops/functions/internal/config"
)

func main() { lambda.Start(config.Must("remediator", config.Remediator).HandleSQS) }
