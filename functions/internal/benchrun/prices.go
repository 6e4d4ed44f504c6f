package benchrun

// Prices are the us-east-1 list prices the cost rows use, in US dollars, all in this one place.
//
// How they were read: this machine cannot browse, so the official pages (Source) were not
// opened. Each price was confirmed against public pages found by searching a stored copy of the
// web on 2026-11-30 (Confirmed, with what they say); none of those copies carries the date AWS
// published the price. Check the Source pages before relying on a figure; a price that changed
// is changed here only.
type Price struct {
	USD       float64 // per Per units
	Per       float64
	Unit      string
	Source    string // the official pricing page
	Confirmed string // where the figure was confirmed, and how
	Read      string // when it was read
}

const pricesRead = "2026-11-30 (search of stored pages; the official page was not opened)"

// Prices used by the cost rows.
var Prices = struct {
	S3Tier1, S3Tier2               Price // PUT/COPY/POST/LIST; GET/HEAD and other requests
	DynamoWrite, DynamoRead        Price // on-demand write and read request units
	SQS                            Price // standard queue requests (each 64 KB chunk)
	LambdaRequests, LambdaArmGBSec Price
	SecretsManagerAPI              Price
	KMSRequests                    Price
	STS                            Price
	APIGatewayHTTP                 Price // HTTP API requests (the Slack interactivity endpoint)
}{
	S3Tier1: Price{0.005, 1000, "PUT, COPY, POST, LIST requests (S3 Standard)", "https://aws.amazon.com/s3/pricing/",
		"https://c3x.dev/blog/s3-request-fees-explained (\"Tier 1 (PUT, COPY, POST, LIST: $0.005 per 1,000)\"); DELETE is free", pricesRead},
	S3Tier2: Price{0.0004, 1000, "GET, HEAD, SELECT and all other requests (S3 Standard)", "https://aws.amazon.com/s3/pricing/",
		"https://c3x.dev/blog/s3-request-fees-explained (\"Tier 2 (GET, HEAD, SELECT: $0.0004 per 1,000)\")", pricesRead},
	DynamoWrite: Price{0.625, 1e6, "write request units (on-demand)", "https://aws.amazon.com/dynamodb/pricing/on-demand/",
		"https://airbyte.com/data-engineering-resources/dynamodb-pricing (\"$0.625 per million write request units\", after AWS's November 2024 on-demand price cut; older pages say $1.25)", pricesRead},
	DynamoRead: Price{0.125, 1e6, "read request units (on-demand)", "https://aws.amazon.com/dynamodb/pricing/on-demand/",
		"https://airbyte.com/data-engineering-resources/dynamodb-pricing (\"$0.125 per million read request units\"; older pages say $0.25)", pricesRead},
	SQS: Price{0.40, 1e6, "standard queue requests, per 64 KB chunk (after the free million)", "https://aws.amazon.com/sqs/pricing/",
		"https://cloudburn.io/blog/amazon-sqs-pricing (\"as of March 2026\": Standard $0.40/M, first 100B)", pricesRead},
	LambdaRequests: Price{0.20, 1e6, "requests", "https://aws.amazon.com/lambda/pricing/",
		"https://git.mcrn.ar/mariano/lambda_local_runner (…/lambda-13-cost.md: \"Requests $0.20 / 1M\", x86 and arm64)", pricesRead},
	LambdaArmGBSec: Price{0.0000133334, 1, "GB-seconds, Arm (first 7.5 billion GB-s a month)", "https://aws.amazon.com/lambda/pricing/",
		"https://cloudchipr.com/blog/aws-lambda-pricing (\"ARM Pricing: First 7.5 Billion GB-seconds per month: $0.0000133334 per GB-second\")", pricesRead},
	SecretsManagerAPI: Price{0.05, 10000, "API calls", "https://aws.amazon.com/secrets-manager/pricing/",
		"https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms (\"$0.40 per secret per month + $0.05 per 10k API calls\")", pricesRead},
	KMSRequests: Price{0.03, 10000, "requests (symmetric keys)", "https://aws.amazon.com/kms/pricing/",
		"https://www.wring.co/blog/aws-kms-pricing-guide (March 2026: \"API requests are $0.03 per 10,000 after the 20,000 free monthly requests\"); https://www.factualminds.com/blog/aws-kms-pricing-keys-requests-multi-region/ (us-east-1, June 2026: \"$0.03 per 10K requests\")", pricesRead},
	STS: Price{0, 1, "AssumeRole calls", "https://docs.aws.amazon.com/STS/latest/APIReference/welcome.html",
		"NOT CONFIRMED here: AWS STS has no charge; the figure is 0", pricesRead},
	APIGatewayHTTP: Price{1.00, 1e6, "HTTP API requests (first 300 million a month)", "https://aws.amazon.com/api-gateway/pricing/",
		"https://www.apigatewaycost.com/aws (\"HTTP API ... First 300M requests/mo $1.00/million\"); https://awsforengineers.com/blog/aws-api-gateway-pricing-explained (May 2025: \"HTTP APIs: $1.00 per million requests (first 300M)\")", pricesRead},
}

// Cost of n units at p.
func (p Price) Cost(n float64) float64 { return n * p.USD / p.Per }
