// Command finding-handler is the Lambda that receives Macie findings (an SQS batch from the
// findings queue, or an EventBridge event directly) and decides what happens to each.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/macie-chatops/macie-chatops/functions/internal/config"
)

func main() {
	h, err := config.FindingHandler(context.Background())
	if err != nil {
		slog.Error("finding-handler cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.HandleAny)
}
