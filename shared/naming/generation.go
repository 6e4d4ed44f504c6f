package naming

import (
	"fmt"
	"regexp"
	"strings"
)

// An organization account's quarantine bucket and key alias carry the generation of the stack
// instance that created them. When an account leaves the OUs its stack is deleted but the
// bucket and alias are retained (they hold, and decrypt, the only copies); when it comes back
// its new stack must not meet them under the same names, or it fails and the account stays
// uncovered until a person cleans up. The generation changes with every new stack, so the new
// stack creates new names beside the retained ones, and the central side learns the current
// one from the StackSet's instance (DescribeStackInstance), which no member can change.

// GenerationLen is the length of a generation: the first group (8 hex digits) of the UUID that
// ends a CloudFormation stack id.
const GenerationLen = 8

// MaxOrgQuarantineBase is the longest rendered quarantine bucket name that still fits S3's 63
// characters with "-" and a generation appended.
const MaxOrgQuarantineBase = 63 - 1 - GenerationLen

var (
	stackIDRe    = regexp.MustCompile(`^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack/[^/]+/([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	generationRe = regexp.MustCompile(`^[0-9a-f]{8}$`)
)

// Generation is a stack's generation, read from its stack id
// (arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>).
func Generation(stackID string) (string, error) {
	m := stackIDRe.FindStringSubmatch(stackID)
	if m == nil {
		return "", fmt.Errorf("stack id %q is not arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>", stackID)
	}
	return m[1], nil
}

// OrgQuarantineBucket is the quarantine bucket of an organization account's stack instance of
// that generation: base is the policy's bucket name rendered for the account and region.
func OrgQuarantineBucket(base, generation string) string { return base + "-" + generation }

// IsOrgQuarantineBucket reports whether bucket is base's quarantine bucket of any generation
// (the current one or one retained from an earlier stack).
func IsOrgQuarantineBucket(base, bucket string) bool {
	g, ok := strings.CutPrefix(bucket, base+"-")
	return ok && generationRe.MatchString(g)
}
