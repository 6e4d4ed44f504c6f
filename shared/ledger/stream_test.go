package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// tieClock moves one second every third reading, so several records share an UpdatedAt and
// paging and sorting must break ties by id.
type tieClock struct {
	mu  sync.Mutex
	n   int
	now time.Time
}

func (c *tieClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.n%3 == 0 {
		c.now = c.now.Add(time.Second)
	}
	return c.now
}

// listOnly hides Scan: ListPage and ExportAudit must also work on a store with List alone.
type listOnly struct{ Store }

func seedMany(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	for i := range 40 {
		acct := []string{"111122223333", "444455556666"}[i%2]
		if _, _, err := s.Create(ctx, Record{FindingID: fmt.Sprintf("f%02d", (i*7)%40), AccountID: acct, Bucket: "b", Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 40; i += 3 {
		id := fmt.Sprintf("f%02d", i)
		if _, err := s.Transition(ctx, id, Change{From: Received, To: Notified, Actor: ActorPolicy}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := s.Transition(ctx, id, Change{From: Notified, To: Dismissed, Actor: "U_BOB", Reason: "ok <fine> & done"}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// oldExport is ExportAudit as it was: every entry in memory, stable-sorted by time over List's
// order.
func oldExport(t *testing.T, s Store, since, until time.Time) string {
	recs, err := s.List(context.Background(), Filter{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	for _, r := range recs {
		for _, e := range r.History {
			if !e.At.Before(since) && (until.IsZero() || e.At.Before(until)) {
				es = append(es, e)
			}
		}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].At.Before(es[j].At) })
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range es {
		enc.Encode(e)
	}
	return b.String()
}

func ids(rs []Record) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.FindingID)
	}
	return strings.Join(out, " ")
}

func runStreaming(t *testing.T, s Store) {
	ctx := context.Background()
	seedMany(t, s)
	for _, st := range []Store{s, listOnly{s}} {
		for _, f := range []Filter{{}, {AccountID: "444455556666"}, {Status: Notified}, {AccountID: "111122223333", Status: Dismissed}} {
			all, err := st.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var paged []Record
			after, pages := "", 0
			for {
				f.Limit = 7
				page, next, err := ListPage(ctx, st, f, after)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				paged = append(paged, page...)
				if next == "" {
					break
				}
				if len(page) != 7 || pages > 10 {
					t.Fatalf("%+v: page %d has %d records and a next cursor", f, pages, len(page))
				}
				after = next
			}
			f.Limit = 0
			if ids(paged) != ids(all) || len(all) == 0 {
				t.Fatalf("%T %+v: pages give\n%s\nList gives\n%s", st, f, ids(paged), ids(all))
			}
		}
		if _, _, err := ListPage(ctx, st, Filter{Limit: 5}, "garbage"); err == nil || !strings.Contains(err.Error(), "--after") {
			t.Fatalf("bad cursor: %v", err)
		}

		recs, _ := st.List(ctx, Filter{})
		mid := recs[len(recs)/2].UpdatedAt
		for _, r := range []struct{ since, until time.Time }{{}, {mid, time.Time{}}, {time.Time{}, mid}} {
			want := oldExport(t, st, r.since, r.until)
			for _, run := range []int{1, 5, 1 << 20} {
				var b bytes.Buffer
				n, err := exportAudit(ctx, st, r.since, r.until, &b, run)
				if err != nil {
					t.Fatal(err)
				}
				if b.String() != want || n != strings.Count(want, "\n") || n == 0 {
					t.Fatalf("%T since %v until %v, runs of %d: %d entries\n%s\nwant\n%s", st, r.since, r.until, run, n, b.String(), want)
				}
			}
		}
	}
}

func TestStreamingBolt(t *testing.T) {
	c := &tieClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := OpenBolt(filepath.Join(t.TempDir(), "ledger.db"), c.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runStreaming(t, s)
}

func TestStreamingDynamo(t *testing.T) {
	srv := testenv.Dynalite(t)
	c := &tieClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	d := NewDynamo(DynaliteClient(srv.Endpoint), "ledger-stream", c.Now)
	if err := d.EnsureTable(testenv.Context(t)); err != nil {
		t.Fatal(err)
	}
	runStreaming(t, d)
}
