// Command remediation-handler is the Lambda behind the HTTP API's POST /slack/actions: Slack's
// interactivity endpoint.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/macie-chatops/macie-chatops/functions/internal/config"
)

func main() {
	h, err := config.RemediationHandler(context.Background())
	if err != nil {
		slog.Error("remediation-handler cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.HandleAPIGateway)
}
