package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/chatops"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/policy"
	"github.com/macie-chatops/macie-chatops/shared/slackmsg"
)

// Digester collapses bursts: when more than the policy's threshold of findings for one account
// and bucket arrive within its window, the rest go into one digest message, updated as more
// arrive (at most once per UpdateEvery), instead of one message each. Every finding keeps its
// own ledger record, marked with the digest id and IN_DIGEST, so nothing is lost.
//
// Each digest has its own ledger record (status DIGEST): its member count, where its message is,
// and the one decision an approver takes on it. The burst counters (arrival times) still live in
// the finding-handler's memory: in AWS its reserved concurrency of 1 keeps them in one warm
// process; a cold start begins counting afresh (at worst a few more single messages and a new
// digest, never a lost finding).
type Digester struct {
	Slack       chatops.Sender
	Ledger      ledger.Store
	Now         func() time.Time
	UpdateEvery time.Duration
	// Sleep waits for the next update slot (tests inject a fake clock's).
	Sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	bursts map[string]*burst
}

type burst struct {
	arrivals []time.Time
	digest   *openDigest
}

type openDigest struct {
	view       slackmsg.DigestView
	ref        chatops.Ref
	lastSeen   time.Time
	lastUpdate time.Time
	dirty      bool
	// seqs are the positions this view shows. Another container may add members to the same
	// digest that this one never shows, so the view's cut-off is the longest run 1..n it
	// shows, never its highest position: a click then decides only findings its message showed.
	seqs map[int]bool
}

// show records that the view shows position seq and moves the cut-off over every position
// now shown without a gap.
func (od *openDigest) show(seq int) {
	if od.seqs == nil {
		od.seqs = map[int]bool{}
	}
	od.seqs[seq] = true
	for od.seqs[od.view.Cutoff+1] {
		od.view.Cutoff++
	}
}

func (g *Digester) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Add absorbs a finding into a digest when its burst is over the threshold. It returns false
// when the finding should get its own message.
//
// Each member gets its position (DigestSeq) from the digest's own ledger record, and is shown
// only once its mark is written, so a rendering's cut-off covers exactly what it displays. A
// digest an approver has decided is closed: the next finding of the burst opens a new one.
func (g *Digester) Add(ctx context.Context, rec ledger.Record, d policy.Decision) (bool, error) {
	if d.Digest.Threshold <= 0 {
		return false, nil
	}
	window := time.Duration(d.Digest.WindowSeconds) * time.Second
	key := rec.AccountID + "|" + rec.Region + "|" + rec.Bucket
	now := g.now()

	g.mu.Lock()
	if g.bursts == nil {
		g.bursts = map[string]*burst{}
	}
	b := g.bursts[key]
	if b == nil {
		b = &burst{}
		g.bursts[key] = b
		g.mu.Unlock()
		// First sight of this bucket in this process (a cold start, or a new burst): a digest a
		// previous process left open in the ledger keeps absorbing, so a cold start neither
		// splits a burst nor loses the updates that process had not shown yet.
		od, err := g.restore(ctx, rec, window, now)
		if err != nil {
			return false, fmt.Errorf("look up open digests for s3://%s: %w", rec.Bucket, err)
		}
		g.mu.Lock()
		if od != nil && b.digest == nil {
			b.digest = od
		}
	}
	kept := b.arrivals[:0]
	for _, t := range b.arrivals {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	b.arrivals = append(kept, now)
	if b.digest != nil && now.Sub(b.digest.lastSeen) >= window {
		b.digest = nil // the burst is over; a new one starts counting from here
	}
	switch {
	case b.digest != nil:
		// Absorbed; the message is updated by Flush (end of batch, or the background loop),
		// never inline, so a burst is not slowed to Slack's pace.
		od := b.digest
		id := od.view.ID
		g.mu.Unlock()
		seq, open, err := g.join(ctx, id, now)
		if err != nil {
			return false, fmt.Errorf("join digest %s: %w", id, err)
		}
		if !open {
			g.drop(b, od) // decided: later findings open a new digest
			return g.open(ctx, b, rec, d, now)
		}
		if err := g.mark(ctx, rec, id, seq); err != nil {
			return false, err
		}
		if hdr, err := g.Ledger.Get(ctx, id); err == nil && decided(hdr) && seq > hdr.Digest.Decision.Cutoff {
			// Decided between join and mark: no message showed it, so it gets its own.
			g.drop(b, od)
			return false, nil
		}
		g.mu.Lock()
		addToView(&od.view, rec)
		od.show(seq)
		od.lastSeen, od.dirty = now, true
		g.mu.Unlock()
		return true, nil
	case len(b.arrivals) > d.Digest.Threshold:
		g.mu.Unlock()
		return g.open(ctx, b, rec, d, now)
	}
	g.mu.Unlock()
	return false, nil
}

// open starts a digest with rec as its first member: its ledger record, then its message.
func (g *Digester) open(ctx context.Context, b *burst, rec ledger.Record, d policy.Decision, now time.Time) (bool, error) {
	id := fmt.Sprintf("digest-%s-%s-%d", rec.AccountID, rec.Bucket, now.UnixMilli())
	if _, created, err := g.Ledger.Create(ctx, ledger.Record{FindingID: id, AccountID: rec.AccountID, AccountName: rec.AccountName, Region: rec.Region,
		Partition: rec.Partition, Bucket: rec.Bucket, FindingType: "digest", Digest: &ledger.DigestState{Members: 1, LastSeen: now}}); err != nil {
		return false, fmt.Errorf("record digest for s3://%s: %w", rec.Bucket, err)
	} else if !created {
		return false, fmt.Errorf("digest id %s is taken; the finding will be retried", id)
	}
	view := slackmsg.DigestView{ID: id, AccountID: rec.AccountID, AccountName: rec.AccountName, Region: rec.Region, Bucket: rec.Bucket,
		ByType: map[string]int{}, BySeverity: map[string]int{}, Cutoff: 1}
	addToView(&view, rec)
	ref, err := g.Slack.Post(ctx, d.Channel, slackmsg.Digest(view))
	if err != nil {
		return false, fmt.Errorf("post digest for s3://%s: %w", rec.Bucket, err)
	}
	// Where the digest's message is lives in the ledger: the remediator updates it from there.
	if _, err := g.Ledger.Annotate(ctx, id, func(r *ledger.Record) { r.Channel, r.MessageTS = ref.Channel, ref.TS }); err != nil {
		return false, err
	}
	if err := g.mark(ctx, rec, id, 1); err != nil {
		return false, err
	}
	g.mu.Lock()
	b.digest = &openDigest{view: view, ref: ref, lastSeen: now, lastUpdate: now, seqs: map[int]bool{1: true}}
	g.mu.Unlock()
	return true, nil
}

// join takes the next position in an open digest; open is false once it has been decided.
func (g *Digester) join(ctx context.Context, id string, now time.Time) (seq int, open bool, err error) {
	_, err = g.Ledger.Annotate(ctx, id, func(r *ledger.Record) {
		seq, open = 0, false
		if r.Digest == nil || r.Digest.Decision != nil {
			return
		}
		ds := *r.Digest
		ds.Members++
		ds.LastSeen = now
		r.Digest = &ds
		seq, open = ds.Members, true
	})
	if errors.Is(err, ledger.ErrNotFound) {
		return 0, false, nil
	}
	return seq, open, err
}

// restore finds the digest for rec's bucket that a previous process left open (undecided, a
// member seen within the window) and rebuilds its view from the ledger, marked for an update.
func (g *Digester) restore(ctx context.Context, rec ledger.Record, window time.Duration, now time.Time) (*openDigest, error) {
	hdrs, err := g.Ledger.List(ctx, ledger.Filter{AccountID: rec.AccountID, Status: ledger.DigestStatus, Since: now.Add(-window)})
	if err != nil {
		return nil, err
	}
	var best *ledger.Record
	for i := range hdrs {
		h := &hdrs[i]
		if h.Digest == nil || h.Digest.Decision != nil || h.Bucket != rec.Bucket || h.Region != rec.Region || now.Sub(h.Digest.LastSeen) >= window {
			continue
		}
		if best == nil || h.Digest.LastSeen.After(best.Digest.LastSeen) {
			best = h
		}
	}
	if best == nil {
		return nil, nil
	}
	members, err := g.Ledger.List(ctx, ledger.Filter{DigestID: best.FindingID})
	if err != nil {
		return nil, err
	}
	od := &openDigest{view: DigestViewFrom(best.FindingID, members, ""), ref: chatops.Ref{Channel: best.Channel, TS: best.MessageTS}, lastSeen: best.Digest.LastSeen, dirty: true}
	for _, m := range members {
		if m.DigestSeq > 0 {
			od.show(m.DigestSeq)
		}
	}
	return od, nil
}

func decided(hdr ledger.Record) bool { return hdr.Digest != nil && hdr.Digest.Decision != nil }

// drop forgets a digest that was closed, unless a newer one already replaced it.
func (g *Digester) drop(b *burst, od *openDigest) {
	g.mu.Lock()
	if b.digest == od {
		b.digest = nil
	}
	g.mu.Unlock()
}

func (g *Digester) every() time.Duration {
	if g.UpdateEvery > 0 {
		return g.UpdateEvery
	}
	return time.Second
}

// Run flushes due digests every update interval until ctx ends (local mode; in Lambda the
// finding-handler flushes at the end of each batch).
func (g *Digester) Run(ctx context.Context) {
	t := time.NewTicker(g.every())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.Flush(ctx, false)
		}
	}
}

func (g *Digester) mark(ctx context.Context, rec ledger.Record, id string, seq int) error {
	_, err := g.Ledger.Annotate(ctx, rec.FindingID, func(r *ledger.Record) { r.DigestID, r.NotifyStatus, r.DigestSeq = id, NotifyDigest, seq })
	return err
}

// Flush sends the digests whose last changes are not shown yet. With force it ignores the
// update interval (end of a run); otherwise only digests due for an update are sent.
func (g *Digester) Flush(ctx context.Context, force bool) error {
	now := g.now()
	type pending struct {
		view slackmsg.DigestView
		ref  chatops.Ref
	}
	var todo []pending
	g.mu.Lock()
	for _, b := range g.bursts {
		if od := b.digest; od != nil && od.dirty && (force || now.Sub(od.lastUpdate) >= g.every()) {
			od.dirty, od.lastUpdate = false, now
			todo = append(todo, pending{od.view, od.ref})
		}
	}
	g.mu.Unlock()
	var firstErr error
	for _, p := range todo {
		if hdr, err := g.Ledger.Get(ctx, p.view.ID); err == nil && decided(hdr) {
			// An approver decided it: the message shows their decision now, never buttons again.
			g.forget(p.view.ID)
			continue
		}
		if err := g.Slack.Update(ctx, p.ref, slackmsg.Digest(p.view)); err != nil {
			g.redirty(p.view.ID)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// Settle brings every digest up to date before a batch ends, waiting at most one update interval
// for the next allowed update, so a burst's last findings are never left unshown.
func (g *Digester) Settle(ctx context.Context) error {
	for i := 0; i < 3; i++ {
		if err := g.Flush(ctx, false); err != nil {
			return err
		}
		wait := time.Duration(-1)
		now := g.now()
		g.mu.Lock()
		for _, b := range g.bursts {
			if od := b.digest; od != nil && od.dirty {
				if w := g.every() - now.Sub(od.lastUpdate); wait < 0 || w < wait {
					wait = w
				}
			}
		}
		g.mu.Unlock()
		if wait < 0 {
			return nil
		}
		sleep := g.Sleep
		if sleep == nil {
			sleep = func(ctx context.Context, d time.Duration) error {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(d):
					return nil
				}
			}
		}
		if err := sleep(ctx, max(wait, 0)); err != nil {
			return err
		}
	}
	return nil
}

func addToView(v *slackmsg.DigestView, rec ledger.Record) {
	v.Total++
	switch policy.Action(rec.Action) {
	case policy.Auto:
		v.Auto++
	case policy.Review:
		v.Review++
	}
	v.ByType[shortType(rec.FindingType)]++
	v.BySeverity[rec.Severity]++
	v.TotalSize += rec.Size
	v.ShowKeys = rec.ShowKeys
	if len(v.Keys) < slackmsg.MaxDigestKeys {
		v.Keys = append(v.Keys, rec.Key)
	}
}

func shortType(t string) string {
	for i := len(t) - 1; i >= 0; i-- {
		if t[i] == '/' {
			return t[i+1:]
		}
	}
	return t
}

// DigestViewFrom rebuilds a digest's view from its ledger records (after a bulk action, where
// the digest's memory may be in another process).
func DigestViewFrom(id string, recs []ledger.Record, outcome string) slackmsg.DigestView {
	sort.Slice(recs, func(i, j int) bool { return recs[i].CreatedAt.Before(recs[j].CreatedAt) })
	v := slackmsg.DigestView{ID: id, ByType: map[string]int{}, BySeverity: map[string]int{}, Outcome: outcome}
	for _, r := range recs {
		v.AccountID, v.AccountName, v.Region, v.Bucket = r.AccountID, r.AccountName, r.Region, r.Bucket
		addToView(&v, r)
		if r.Status != ledger.Notified && policy.Action(r.Action) == policy.Review {
			v.Review--
		}
	}
	return v
}

func (g *Digester) forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.bursts {
		if b.digest != nil && b.digest.view.ID == id {
			b.digest = nil
		}
	}
}

func (g *Digester) redirty(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.bursts {
		if b.digest != nil && b.digest.view.ID == id {
			b.digest.dirty = true
		}
	}
}
