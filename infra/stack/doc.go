package stack

import (
	"encoding/json"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string         `json:"Sid,omitempty"`
	Effect    string         `json:"Effect"`
	Principal any            `json:"Principal,omitempty"`
	Action    any            `json:"Action"`
	Resource  any            `json:"Resource,omitempty"`
	Condition map[string]any `json:"Condition,omitempty"`
}

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// JSON renders a document whose statements depend on resource outputs. Build receives the
// resolved values of inputs, in order.
func JSON(build func(vals []string) Document, inputs ...pulumi.StringInput) pulumi.StringOutput {
	args := make([]interface{}, len(inputs))
	for i, in := range inputs {
		args[i] = in
	}
	if len(args) == 0 {
		b, _ := json.Marshal(build(nil))
		return pulumi.String(string(b)).ToStringOutput()
	}
	return pulumi.All(args...).ApplyT(func(xs []interface{}) (string, error) {
		vals := make([]string, len(xs))
		for i, x := range xs {
			vals[i], _ = x.(string)
		}
		b, err := json.Marshal(build(vals))
		return string(b), err
	}).(pulumi.StringOutput)
}

func doc(st ...Statement) Document { return Document{Version: "2012-10-17", Statement: st} }
