package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var recordsBucket = []byte("records")

// Bolt is the embedded store: one bbolt file, one JSON document per finding. bbolt serializes
// write transactions, so the compare-and-set of a transition is a read and a write in one tx.
type Bolt struct {
	db   *bolt.DB
	now  Clock
	ttl  time.Duration
	path string
}

// OpenBolt opens (or creates) the ledger file.
func OpenBolt(path string, now Clock) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open ledger file %s: %w (is another macie-chatops process using it?)", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(recordsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("init ledger file %s: %w", path, err)
	}
	if now == nil {
		now = time.Now
	}
	return &Bolt{db: db, now: now, ttl: DefaultTTL, path: path}, nil
}

// Path is the file the ledger lives in.
func (b *Bolt) Path() string { return b.path }

func (b *Bolt) Create(_ context.Context, r Record) (Record, bool, error) {
	if r.FindingID == "" {
		return Record{}, false, fmt.Errorf("ledger create: empty finding id")
	}
	var out Record
	created := false
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(recordsBucket)
		if v := bk.Get([]byte(r.FindingID)); v != nil {
			return json.Unmarshal(v, &out)
		}
		out = newRecord(r, b.now().UTC(), b.ttl, NewToken())
		created = true
		return put(bk, out)
	})
	return out, created, err
}

func put(bk *bolt.Bucket, r Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return bk.Put([]byte(r.FindingID), v)
}

func (b *Bolt) Get(_ context.Context, id string) (Record, error) {
	var out Record
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(recordsBucket).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w for finding %s", ErrNotFound, id)
		}
		return json.Unmarshal(v, &out)
	})
	return out, err
}

func (b *Bolt) modify(id string, fn func(Record) (Record, error)) (Record, error) {
	var out Record
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(recordsBucket)
		v := bk.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w for finding %s", ErrNotFound, id)
		}
		var cur Record
		if err := json.Unmarshal(v, &cur); err != nil {
			return fmt.Errorf("ledger record %s is corrupt: %w", id, err)
		}
		next, err := fn(cur)
		if errors.Is(err, errLanded) {
			out = cur // this attempt's write is already stored
			return nil
		}
		if err != nil {
			return err
		}
		out = next
		return put(bk, next)
	})
	return out, err
}

func (b *Bolt) Transition(_ context.Context, id string, c Change) (Record, error) {
	if c.Token == "" {
		c.Token = NewToken()
	}
	return b.modify(id, func(cur Record) (Record, error) { return apply(cur, c, b.now().UTC(), b.ttl) })
}

func (b *Bolt) Annotate(ctx context.Context, id string, mutate func(*Record)) (Record, error) {
	return b.Modify(ctx, id, annotateFn(mutate))
}

func (b *Bolt) Modify(_ context.Context, id string, fn func(*Record) error) (Record, error) {
	token := NewToken()
	return b.modify(id, func(cur Record) (Record, error) { return modifyRecord(cur, fn, b.now().UTC(), token) })
}

func (b *Bolt) List(ctx context.Context, f Filter) ([]Record, error) {
	return listSorted(ctx, b, f)
}

// boltScanPage is how many records Scan reads per read transaction: short transactions keep a
// slow reader (a CLI writing to a pipe) from holding the file's pages.
const boltScanPage = 512

// Scan walks the file in key order, one short read transaction per page.
func (b *Bolt) Scan(ctx context.Context, f Filter, fn func(Record) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var page []Record
		var last []byte
		err := b.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(recordsBucket).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && string(k) == string(after) {
					k, v = c.Next()
				}
			}
			for n := 0; k != nil && n < boltScanPage; k, v = c.Next() {
				n++
				last = append(last[:0], k...)
				var r Record
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("ledger record %q in %s: %w", k, b.path, err)
				}
				if f.match(&r) {
					page = append(page, r)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if last == nil {
			return nil
		}
		after = append(after[:0], last...)
	}
}

func (b *Bolt) Close() error {
	return b.db.Close()
}
