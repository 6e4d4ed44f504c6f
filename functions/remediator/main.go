// Command remediator is the Lambda that runs remediation and release jobs from the queue.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/macie-chatops/macie-chatops/functions/internal/config"
)

func main() {
	h, err := config.Remediator(context.Background())
	if err != nil {
		slog.Error("remediator cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.HandleSQS)
}
