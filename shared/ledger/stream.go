package ledger

// Listing and exporting a ledger of any size in bounded memory: stores that implement Scanner
// hand records over one page at a time; ListPage keeps only one page of results (a bounded
// heap), and ExportAudit sorts the audit trail with sorted runs spilled to temporary files.

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// Scanner is a Store that can visit every record matching a filter without holding them all.
type Scanner interface {
	// Scan calls fn for every record that matches f (f.Limit is ignored), in no particular
	// order, holding at most one page of the store in memory. An error from fn stops the scan
	// and is returned.
	Scan(ctx context.Context, f Filter, fn func(Record) error) error
}

// scanAll visits the records of any store: page by page when it is a Scanner, else through List.
func scanAll(ctx context.Context, s Store, f Filter, fn func(Record) error) error {
	f.Limit = 0
	if sc, ok := s.(Scanner); ok {
		return sc.Scan(ctx, f, fn)
	}
	recs, err := s.List(ctx, f)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// listSorted is List on top of Scan: every match, newest first, cut at f.Limit.
func listSorted(ctx context.Context, s Scanner, f Filter) ([]Record, error) {
	var out []Record
	err := s.Scan(ctx, f, func(r Record) error { out = append(out, r); return nil })
	if err != nil {
		return nil, err
	}
	sortRecords(out)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// cursor is the position of the last record of a page in List's order (newest first, then id).
type cursor struct {
	UpdatedAt time.Time `json:"u"`
	FindingID string    `json:"id"`
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ErrBadCursor is returned by ListPage for a cursor it did not make.
var ErrBadCursor = errors.New("bad page cursor")

func parseCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.FindingID == "" {
		return cursor{}, fmt.Errorf("%w %q: it is not one this tool printed; copy it from the previous page's \"--after\" hint", ErrBadCursor, s)
	}
	return c, nil
}

// before reports whether a comes before b in List's order.
func before(a, b *Record) bool {
	if !a.UpdatedAt.Equal(b.UpdatedAt) {
		return a.UpdatedAt.After(b.UpdatedAt)
	}
	return a.FindingID < b.FindingID
}

// ListPage returns the next f.Limit records (newest first, then id) after the position of
// cursor ("" for the first page), and the cursor of the page after it ("" when there is none).
// Memory holds one page whatever the ledger's size. Pages are positions, not a snapshot: a
// record updated between two pages moves to the front and is not shown again.
func ListPage(ctx context.Context, s Store, f Filter, after string) ([]Record, string, error) {
	if f.Limit <= 0 {
		return nil, "", errors.New("ListPage: the page size (Filter.Limit) must be positive")
	}
	var cur *Record
	if after != "" {
		c, err := parseCursor(after)
		if err != nil {
			return nil, "", err
		}
		cur = &Record{UpdatedAt: c.UpdatedAt, FindingID: c.FindingID}
		// Nothing after the cursor was updated later than it: narrow the store's range.
		if end := c.UpdatedAt.Add(time.Nanosecond); f.Until.IsZero() || end.Before(f.Until) {
			f.Until = end
		}
	}
	limit := f.Limit
	h := &pageHeap{}
	more := false
	err := scanAll(ctx, s, f, func(r Record) error {
		if cur != nil && !before(cur, &r) {
			return nil
		}
		if h.Len() < limit {
			heap.Push(h, r)
			return nil
		}
		more = true
		if before(&r, &h.recs[0]) { // better than the worst kept
			h.recs[0] = r
			heap.Fix(h, 0)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	page := h.recs
	sort.Slice(page, func(i, j int) bool { return before(&page[i], &page[j]) })
	next := ""
	if more {
		last := page[len(page)-1]
		next = cursor{UpdatedAt: last.UpdatedAt, FindingID: last.FindingID}.String()
	}
	return page, next, nil
}

// pageHeap keeps the best records seen; its root is the worst of them (the one to drop).
type pageHeap struct{ recs []Record }

func (h *pageHeap) Len() int           { return len(h.recs) }
func (h *pageHeap) Less(i, j int) bool { return before(&h.recs[j], &h.recs[i]) }
func (h *pageHeap) Swap(i, j int)      { h.recs[i], h.recs[j] = h.recs[j], h.recs[i] }
func (h *pageHeap) Push(x any)         { h.recs = append(h.recs, x.(Record)) }
func (h *pageHeap) Pop() any {
	r := h.recs[len(h.recs)-1]
	h.recs = h.recs[:len(h.recs)-1]
	return r
}

// exportRun is how many audit entries ExportAudit sorts in memory before spilling a sorted run
// to a temporary file (about 200 bytes each).
const exportRun = 50_000

// ExportAudit writes every audit entry with since <= At < until (zero until = no bound) as JSON
// Lines, oldest first; entries at the same instant keep the order of List (newest record first,
// then id) and of each record's history. Records are found with Scan, whose Since bound is safe:
// a record with an entry at t has UpdatedAt >= t. Memory is bounded: beyond exportRun entries,
// sorted runs go to temporary files that are merged at the end and removed.
func ExportAudit(ctx context.Context, s Store, since, until time.Time, w io.Writer) (int, error) {
	return exportAudit(ctx, s, since, until, w, exportRun)
}

// auditLine is one entry ready to write, with its sort key.
type auditLine struct {
	at, updated int64 // entry time, its record's UpdatedAt (Unix ns)
	id          string
	idx         int
	line        []byte // the JSON line, newline included
}

func (a *auditLine) less(b *auditLine) bool {
	switch {
	case a.at != b.at:
		return a.at < b.at
	case a.updated != b.updated:
		return a.updated > b.updated
	case a.id != b.id:
		return a.id < b.id
	}
	return a.idx < b.idx
}

func exportAudit(ctx context.Context, s Store, since, until time.Time, w io.Writer, run int) (n int, err error) {
	var buf []auditLine
	var runs []*os.File
	defer func() {
		for _, f := range runs {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	spill := func() error {
		sortLines(buf)
		f, err := os.CreateTemp("", "macie-chatops-export-*")
		if err != nil {
			return fmt.Errorf("ledger export: a temporary file for sorting: %w", err)
		}
		runs = append(runs, f)
		bw := bufio.NewWriter(f)
		var b []byte
		for i := range buf {
			b = appendLine(b[:0], &buf[i])
			bw.Write(b)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("ledger export: writing %s: %w", f.Name(), err)
		}
		buf = buf[:0]
		return nil
	}
	err = scanAll(ctx, s, Filter{Since: since}, func(r Record) error {
		for i, e := range r.History {
			if e.At.Before(since) || (!until.IsZero() && !e.At.Before(until)) {
				continue
			}
			line, err := json.Marshal(e)
			if err != nil {
				return err
			}
			buf = append(buf, auditLine{at: e.At.UnixNano(), updated: r.UpdatedAt.UnixNano(), id: r.FindingID, idx: i, line: append(line, '\n')})
			if len(buf) >= run {
				if err := spill(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if len(runs) == 0 {
		sortLines(buf)
		for i := range buf {
			if _, err := bw.Write(buf[i].line); err != nil {
				return n, err
			}
			n++
		}
		return n, bw.Flush()
	}
	if len(buf) > 0 {
		if err := spill(); err != nil {
			return 0, err
		}
	}
	m := &mergeHeap{}
	for _, f := range runs {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		src := bufio.NewReader(f)
		var l auditLine
		if err := readLine(src, &l); err != nil {
			return 0, fmt.Errorf("ledger export: reading back %s: %w", f.Name(), err)
		}
		m.items = append(m.items, mergeItem{l, src})
	}
	heap.Init(m)
	for m.Len() > 0 {
		top := &m.items[0]
		if _, err := bw.Write(top.line); err != nil {
			return n, err
		}
		n++
		switch err := readLine(top.src, &top.auditLine); {
		case err == io.EOF:
			heap.Pop(m)
		case err != nil:
			return n, fmt.Errorf("ledger export: reading back a sorted run: %w", err)
		default:
			heap.Fix(m, 0)
		}
	}
	return n, bw.Flush()
}

func sortLines(ls []auditLine) { sort.Slice(ls, func(i, j int) bool { return ls[i].less(&ls[j]) }) }

func appendLine(b []byte, l *auditLine) []byte {
	b = binary.AppendVarint(b, l.at)
	b = binary.AppendVarint(b, l.updated)
	b = binary.AppendUvarint(b, uint64(len(l.id)))
	b = append(b, l.id...)
	b = binary.AppendUvarint(b, uint64(l.idx))
	b = binary.AppendUvarint(b, uint64(len(l.line)))
	return append(b, l.line...)
}

// readLine reads what appendLine wrote; io.EOF at a clean end.
func readLine(r *bufio.Reader, l *auditLine) error {
	at, err := binary.ReadVarint(r)
	if err != nil {
		return err
	}
	bad := func(err error) error {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if l.updated, err = binary.ReadVarint(r); err != nil {
		return bad(err)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return bad(err)
	}
	id := make([]byte, n)
	if _, err := io.ReadFull(r, id); err != nil {
		return bad(err)
	}
	idx, err := binary.ReadUvarint(r)
	if err != nil {
		return bad(err)
	}
	if n, err = binary.ReadUvarint(r); err != nil {
		return bad(err)
	}
	line := make([]byte, n)
	if _, err := io.ReadFull(r, line); err != nil {
		return bad(err)
	}
	l.at, l.id, l.idx, l.line = at, string(id), int(idx), line
	return nil
}

type mergeItem struct {
	auditLine
	src *bufio.Reader
}

type mergeHeap struct{ items []mergeItem }

func (h *mergeHeap) Len() int           { return len(h.items) }
func (h *mergeHeap) Less(i, j int) bool { return h.items[i].less(&h.items[j].auditLine) }
func (h *mergeHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap) Push(x any)         { h.items = append(h.items, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}
