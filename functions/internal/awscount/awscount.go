// Package awscount owns the counting of AWS calls for the cost rows of `make bench`: a
// middleware added to any aws-sdk-go-v2 client's stack that counts every request sent (each
// attempt, as AWS bills a retried request again) by service and operation, and the DynamoDB
// capacity units each call consumed as the server reports them (it asks for
// ReturnConsumedCapacity=TOTAL on a copy of the caller's input).
package awscount

import (
	"context"
	"sort"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Key names one API operation: the SDK's service id ("S3", "DynamoDB") and operation name.
type Key struct{ Service, Operation string }

// Counter counts requests and DynamoDB capacity. The zero value is ready; it is safe for
// concurrent use by every client it is attached to.
type Counter struct {
	mu    sync.Mutex
	calls map[Key]int
	// RCU and WCU as reported by DynamoDB (ConsumedCapacity), summed.
	rcu, wcu float64
	// unreported counts DynamoDB calls that returned no ConsumedCapacity.
	unreported int
}

// Call is one counted operation.
type Call struct {
	Key
	N int
}

// APIOption adds the counter to a client: append it to the client's Options.APIOptions.
func (c *Counter) APIOption(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("awscount.capacity", c.capacity), middleware.Before); err != nil {
		return err
	}
	// After the retry middleware: one count per attempt sent.
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("awscount.requests", c.request), middleware.After)
}

func (c *Counter) request(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	k := Key{awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)}
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[Key]int{}
	}
	c.calls[k]++
	c.mu.Unlock()
	return next.HandleFinalize(ctx, in)
}

// withCapacity returns a copy of a DynamoDB input asking for the consumed capacity, or nil for
// any other input. A copy, so the caller's input is never changed under it.
func withCapacity(p any) any {
	total := ddbtypes.ReturnConsumedCapacityTotal
	switch v := p.(type) {
	case *dynamodb.GetItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.PutItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.UpdateItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.DeleteItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.QueryInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.ScanInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	}
	return nil
}

// consumed is the capacity an output reports, and whether it is a read.
func consumed(r any) (cc *ddbtypes.ConsumedCapacity, read, isDynamo bool) {
	switch v := r.(type) {
	case *dynamodb.GetItemOutput:
		return v.ConsumedCapacity, true, true
	case *dynamodb.QueryOutput:
		return v.ConsumedCapacity, true, true
	case *dynamodb.ScanOutput:
		return v.ConsumedCapacity, true, true
	case *dynamodb.PutItemOutput:
		return v.ConsumedCapacity, false, true
	case *dynamodb.UpdateItemOutput:
		return v.ConsumedCapacity, false, true
	case *dynamodb.DeleteItemOutput:
		return v.ConsumedCapacity, false, true
	}
	return nil, false, false
}

func (c *Counter) capacity(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	if cp := withCapacity(in.Parameters); cp != nil {
		in.Parameters = cp
	}
	out, md, err := next.HandleInitialize(ctx, in)
	if err != nil {
		// A refused conditional write still consumes write capacity, but the error carries no
		// ConsumedCapacity in this SDK: count it as unreported.
		if withCapacity(in.Parameters) != nil {
			c.mu.Lock()
			c.unreported++
			c.mu.Unlock()
		}
		return out, md, err
	}
	if cc, read, ok := consumed(out.Result); ok {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case cc == nil || cc.CapacityUnits == nil:
			c.unreported++
		case read:
			c.rcu += *cc.CapacityUnits
		default:
			c.wcu += *cc.CapacityUnits
		}
	}
	return out, md, err
}

// Calls returns the counted operations, sorted by service and operation.
func (c *Counter) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Call, 0, len(c.calls))
	for k, n := range c.calls {
		out = append(out, Call{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}

// Count of one operation.
func (c *Counter) Count(service, operation string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[Key{service, operation}]
}

// Capacity is the DynamoDB read and write capacity units the server reported, and how many
// DynamoDB calls reported none (a refused conditional write, or a server that does not report).
func (c *Counter) Capacity() (rcu, wcu float64, unreported int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rcu, c.wcu, c.unreported
}

// Reset forgets everything counted so far.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.rcu, c.wcu, c.unreported = nil, 0, 0, 0
}
