// Package naming owns the names of the AWS resources the stack creates that code outside infra/
// must also know (doctor looks them up): one rule, so infra and functions cannot drift apart.
// functions/ does not import infra/, but both import shared/.
package naming

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// AWSName joins parts with "-" and keeps the result within max characters (IAM role names 64,
// Lambda function names 64, StackSet names 128): a name too long keeps its end (what the
// resource is) and replaces the middle with a short hash, so two long stack names still get
// different names.
func AWSName(max int, parts ...string) string {
	n := strings.Join(parts, "-")
	if len(n) <= max {
		return n
	}
	f := fnv.New32a()
	f.Write([]byte(n))
	h := fmt.Sprintf("%08x", f.Sum32())
	tail := parts[len(parts)-1]
	keep := max - len(tail) - len(h) - 2
	if keep < 1 {
		return n[:max-len(h)-1] + "-" + h
	}
	return strings.TrimRight(n[:keep], "-") + "-" + h + "-" + tail
}

// QuarantineRoleName is the role the remediator assumes in each member account (IAM role
// names: 64 characters). slug is the stack's name as infra/stack.Slug makes it.
func QuarantineRoleName(slug string) string { return AWSName(64, "macie-chatops", slug, "quarantine") }

// StackSetName is the organization StackSet's name (StackSet names: 128 characters).
func StackSetName(slug string) string { return AWSName(128, "macie-chatops", slug, "members") }
