// Command remediation-handler is the Lambda behind the HTTP API's POST /slack/actions: Slack's
// interactivity endpoint.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/macie-chatops/macie-chatops/functions/internal/config"
)

func main() {
	lambda.Start(config.Must("remediation-handler", config.RemediationHandler).HandleAPIGateway)
}
