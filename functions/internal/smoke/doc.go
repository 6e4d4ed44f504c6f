// Package smoke holds the smoke test of the deployable artifacts: each function's bootstrap,
// built as for Lambda, started under aws-lambda-rie and invoked through the emulator's HTTP API,
// with a fake AWS JSON endpoint (SQS, Secrets Manager, SSM), dynalite and a fake Slack API.
package smoke
