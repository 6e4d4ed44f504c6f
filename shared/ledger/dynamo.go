package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB key design (one table):
//
//	partition key  findingId (S)          one item per finding; the audit trail is the item's
//	                                      "history" list, written in the same conditional put as
//	                                      the status, so the two can never disagree
//	GSI byAccount  accountId (S) + updatedKey (S, fixed-width UTC time)
//	                                      lists an account's findings by time; status is a filter
//	TTL attribute  expiresAt (N, epoch seconds), enabled on the table by the Pulumi program
//
// Conditions: create is attribute_not_exists(findingId); every later write is conditional on the
// status and version the writer read (optimistic concurrency, no transactions needed).
const (
	AttrKey        = "findingId"
	AttrAccount    = "accountId"
	AttrUpdatedKey = "updatedKey"
	AttrTTL        = "expiresAt"
	IndexByAccount = "byAccount"
)

// DynamoAPI is the part of the DynamoDB client the ledger uses.
type DynamoAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Dynamo is the DynamoDB store.
type Dynamo struct {
	api   DynamoAPI
	table string
	now   Clock
	ttl   time.Duration
}

// NewDynamo uses an existing table (see EnsureTable for tests and local runs).
func NewDynamo(api DynamoAPI, table string, now Clock) *Dynamo {
	if now == nil {
		now = time.Now
	}
	return &Dynamo{api: api, table: table, now: now, ttl: DefaultTTL}
}

// EnsureTable creates the table with the key design above unless it exists, and waits until it is
// active. In AWS the Pulumi program owns the table; this is for dynalite and local runs.
func (d *Dynamo) EnsureTable(ctx context.Context) error {
	_, err := d.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &d.table})
	var nf *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("describe table %s: %w", d.table, err)
	}
	if err != nil {
		_, err = d.api.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   &d.table,
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(AttrKey), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(AttrAccount), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(AttrUpdatedKey), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(AttrKey), KeyType: types.KeyTypeHash}},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName: aws.String(IndexByAccount),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String(AttrAccount), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String(AttrUpdatedKey), KeyType: types.KeyTypeRange},
				},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}},
		})
		if err != nil {
			return fmt.Errorf("create table %s: %w", d.table, err)
		}
	}
	for i := 0; i < 100; i++ {
		out, err := d.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &d.table})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("table %s did not become ACTIVE", d.table)
}

func updatedKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func toItem(r Record) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(r)
	if err != nil {
		return nil, fmt.Errorf("encode ledger record %s: %w", r.FindingID, err)
	}
	item[AttrUpdatedKey] = &types.AttributeValueMemberS{Value: updatedKey(r.UpdatedAt)}
	return item, nil
}

func fromItem(item map[string]types.AttributeValue) (Record, error) {
	var r Record
	err := attributevalue.UnmarshalMap(item, &r)
	return r, err
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

func (d *Dynamo) Create(ctx context.Context, r Record) (Record, bool, error) {
	if r.FindingID == "" {
		return Record{}, false, fmt.Errorf("ledger create: empty finding id")
	}
	token := NewToken()
	rec := newRecord(r, d.now().UTC(), d.ttl, token)
	item, err := toItem(rec)
	if err != nil {
		return Record{}, false, err
	}
	_, err = d.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &d.table,
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{
			"#k": AttrKey,
		},
	})
	if err != nil {
		// Either someone else created it, or our own put landed and its answer was lost (the
		// SDK's retry then fails the condition): the token says which.
		existing, gerr := d.Get(ctx, r.FindingID)
		switch {
		case gerr == nil:
			return existing, existing.Wrote(token), nil
		case isConditionFailed(err):
			return Record{}, false, gerr
		}
		return Record{}, false, fmt.Errorf("ledger create %s: %w", r.FindingID, err)
	}
	return rec, true, nil
}

func (d *Dynamo) Get(ctx context.Context, id string) (Record, error) {
	out, err := d.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &d.table,
		Key:            map[string]types.AttributeValue{AttrKey: &types.AttributeValueMemberS{Value: id}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Record{}, fmt.Errorf("ledger get %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return Record{}, fmt.Errorf("%w for finding %s", ErrNotFound, id)
	}
	return fromItem(out.Item)
}

// casPut writes next only if the stored record still has cur's status and version.
func (d *Dynamo) casPut(ctx context.Context, cur, next Record) (bool, error) {
	item, err := toItem(next)
	if err != nil {
		return false, err
	}
	_, err = d.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &d.table,
		Item:                     item,
		ConditionExpression:      aws.String("#s = :s AND #v = :v"),
		ExpressionAttributeNames: map[string]string{"#s": "status", "#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberS{Value: string(cur.Status)},
			":v": &types.AttributeValueMemberN{Value: fmt.Sprint(cur.Version)},
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger write %s: %w", cur.FindingID, err)
	}
	return true, nil
}

// modify is read, compute, conditional write; a version-only change by someone else (an
// annotation) is retried, a status change is the caller's conflict. fn returns errLanded when the
// record already holds this attempt's token: the write landed (its answer was lost and the SDK
// re-sent it, or the caller did), so the stored record is the result.
func (d *Dynamo) modify(ctx context.Context, id, token string, fn func(Record) (Record, error)) (Record, error) {
	for attempt := 0; attempt < 20; attempt++ {
		cur, err := d.Get(ctx, id)
		if err != nil {
			return Record{}, err
		}
		next, err := fn(cur)
		if errors.Is(err, errLanded) {
			return cur, nil
		}
		if err != nil {
			return Record{}, err
		}
		ok, err := d.casPut(ctx, cur, next)
		if err != nil {
			// The answer may be lost with the write landed: read back before reporting a failure.
			if back, gerr := d.Get(ctx, id); gerr == nil && back.Wrote(token) {
				return back, nil
			}
			return Record{}, err
		}
		if ok {
			return next, nil
		}
	}
	return Record{}, fmt.Errorf("ledger write %s: gave up after 20 concurrent modifications; retry", id)
}

func (d *Dynamo) Transition(ctx context.Context, id string, c Change) (Record, error) {
	if c.Token == "" {
		c.Token = NewToken()
	}
	return d.modify(ctx, id, c.Token, func(cur Record) (Record, error) { return apply(cur, c, d.now().UTC(), d.ttl) })
}

func (d *Dynamo) Annotate(ctx context.Context, id string, mutate func(*Record)) (Record, error) {
	return d.Modify(ctx, id, annotateFn(mutate))
}

func (d *Dynamo) Modify(ctx context.Context, id string, fn func(*Record) error) (Record, error) {
	token := NewToken()
	return d.modify(ctx, id, token, func(cur Record) (Record, error) { return modifyRecord(cur, fn, d.now().UTC(), token) })
}

// List queries the byAccount index when an account is given, and scans otherwise (org-wide
// listing is an operator's occasional question, not a hot path).
func (d *Dynamo) List(ctx context.Context, f Filter) ([]Record, error) {
	return listSorted(ctx, d, f)
}

// Scan reads one DynamoDB page at a time: a Query of the byAccount index when an account is
// given, a Scan of the table otherwise.
func (d *Dynamo) Scan(ctx context.Context, f Filter, fn func(Record) error) error {
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	var filter string
	if f.Status != "" {
		names["#s"] = "status"
		values[":st"] = &types.AttributeValueMemberS{Value: string(f.Status)}
		filter = "#s = :st"
	}
	var start map[string]types.AttributeValue
	for {
		var items []map[string]types.AttributeValue
		var err error
		if f.AccountID != "" {
			names["#a"], names["#u"] = AttrAccount, AttrUpdatedKey
			values[":a"] = &types.AttributeValueMemberS{Value: f.AccountID}
			values[":lo"] = &types.AttributeValueMemberS{Value: updatedKey(f.Since)}
			hi := f.Until
			if hi.IsZero() {
				hi = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
			}
			values[":hi"] = &types.AttributeValueMemberS{Value: updatedKey(hi)}
			in := &dynamodb.QueryInput{
				TableName: &d.table, IndexName: aws.String(IndexByAccount),
				KeyConditionExpression:    aws.String("#a = :a AND #u BETWEEN :lo AND :hi"),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
				ExclusiveStartKey:         start,
			}
			if filter != "" {
				in.FilterExpression = &filter
			}
			var res *dynamodb.QueryOutput
			res, err = d.api.Query(ctx, in)
			if err == nil {
				items, start = res.Items, res.LastEvaluatedKey
			}
		} else {
			in := &dynamodb.ScanInput{TableName: &d.table, ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)}
			if filter != "" {
				in.FilterExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = &filter, names, values
			}
			var res *dynamodb.ScanOutput
			res, err = d.api.Scan(ctx, in)
			if err == nil {
				items, start = res.Items, res.LastEvaluatedKey
			}
		}
		if err != nil {
			return fmt.Errorf("ledger list: %w", err)
		}
		for _, it := range items {
			r, err := fromItem(it)
			if err != nil {
				return err
			}
			if f.match(&r) {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		if len(start) == 0 {
			return nil
		}
	}
}

func (d *Dynamo) Close() error { return nil }

// OpenDynamo builds a store from the default AWS configuration (environment, profile, role). An
// endpoint overrides DynamoDB's, for dynalite.
func OpenDynamo(ctx context.Context, table, endpoint, region string) (*Dynamo, error) {
	if table == "" {
		return nil, fmt.Errorf("no DynamoDB table name given")
	}
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return NewDynamo(client, table, nil), nil
}

// DynaliteClient is a DynamoDB client for a local endpoint (dynalite) with dummy credentials.
func DynaliteClient(endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(endpoint),
	})
}
