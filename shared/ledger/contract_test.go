package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// fakeClock ticks one second per reading, so every write has a distinct, known time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

type storeFactory func(t *testing.T, clock Clock) Store

func TestContractBolt(t *testing.T) {
	runContract(t, "", func(t *testing.T, clock Clock) Store {
		s, err := OpenBolt(filepath.Join(t.TempDir(), "ledger.db"), clock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// The DynamoDB store runs the same contract on two servers, dynalite and moto: a test that
// passes on one server only proves that server's quirks.
// racy names what a server cannot express: moto's DynamoDB backend holds no lock, so two
// concurrent conditional writes can both pass their condition (seen: "2 winners" of 20).
func dynamoServers() []struct {
	name  string
	start func(t *testing.T) (endpoint, access, secret string)
	racy  string
} {
	return []struct {
		name  string
		start func(t *testing.T) (endpoint, access, secret string)
		racy  string
	}{
		{"dynalite", func(t *testing.T) (string, string, string) { return testenv.Dynalite(t).Endpoint, "local", "local" }, ""},
		{"moto", func(t *testing.T) (string, string, string) {
			return testenv.Moto(t).Endpoint, testenv.MotoCredentials.AccessKey, testenv.MotoCredentials.SecretKey
		}, "moto's conditional writes are not atomic across concurrent requests (its DynamoDB backend has no lock); dynalite and bbolt prove the race"},
	}
}

func TestContractDynamo(t *testing.T) {
	for _, srv := range dynamoServers() {
		t.Run(srv.name, func(t *testing.T) {
			endpoint, access, secret := srv.start(t)
			client, _ := lossyDynamo(endpoint, access, secret)
			var n atomic.Int64
			runContract(t, srv.racy, func(t *testing.T, clock Clock) Store {
				d := NewDynamo(client, fmt.Sprintf("ledger-%d", n.Add(1)), clock)
				if err := d.EnsureTable(testenv.Context(t)); err != nil {
					t.Fatal(err)
				}
				return d
			})
			runLostAnswer(t, dynamoLossy(endpoint, access, secret))
		})
	}
}

func sample(id, account string) Record {
	return Record{FindingID: id, AccountID: account, Region: "us-east-1", Bucket: "b", Key: "k",
		FindingType: "SensitiveData:S3Object/Personal", Severity: "HIGH", Action: "REVIEW", Reason: "test", PolicyHash: "h"}
}

// pathTo is the shortest chain of legal transitions from RECEIVED to s.
func pathTo(s Status) []Status {
	prev := map[Status]Status{Received: ""}
	queue := []Status{Received}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, n := range transitions[cur] {
			if _, seen := prev[n]; !seen {
				prev[n] = cur
				queue = append(queue, n)
			}
		}
	}
	var path []Status
	for x := s; x != Received; x = prev[x] {
		path = append([]Status{x}, path...)
	}
	return path
}

// runContract runs the store contract. racy, when set, says why the server cannot hold a race
// between concurrent writers: the race cases are then not run on it, and the log says so.
func runContract(t *testing.T, racy string, newStore storeFactory) {
	t.Run("digest record", func(t *testing.T) {
		s := newStore(t, newClock().Now)
		ctx := testenv.Context(t)
		rec, created, err := s.Create(ctx, Record{FindingID: "digest-111122223333-b-1", AccountID: "111122223333", Digest: &DigestState{Members: 1}})
		if err != nil || !created || rec.Status != DigestStatus {
			t.Fatalf("%v %v %s", err, created, rec.Status)
		}
		if _, err := s.Transition(ctx, rec.FindingID, Change{From: DigestStatus, To: Queued, Actor: "U1"}); !errors.Is(err, ErrIllegalTransition) {
			t.Fatalf("a digest record moved like a finding: %v", err)
		}
		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		if _, err := s.Annotate(ctx, rec.FindingID, func(r *Record) {
			ds := *r.Digest
			ds.Members = 7
			ds.Decision = &DigestDecision{Action: "dismiss_all", By: "U1", Cutoff: 5, At: at, Nonce: "n1", ResponseURL: "https://hooks.slack.com/x"}
			r.Digest = &ds
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, rec.FindingID)
		if err != nil || got.Digest == nil || got.Digest.Members != 7 || got.Digest.Decision == nil {
			t.Fatalf("%v %+v", err, got.Digest)
		}
		if d := got.Digest.Decision; d.By != "U1" || d.Cutoff != 5 || !d.At.Equal(at) || d.Nonce != "n1" || d.ResponseURL != "https://hooks.slack.com/x" {
			t.Fatalf("decision round trip: %+v", d)
		}
	})
	t.Run("bucket fix round trip", func(t *testing.T) {
		s := newStore(t, newClock().Now)
		ctx := testenv.Context(t)
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		r := sample("bf1", "111122223333")
		r.BucketFix = &BucketFix{Kind: "block-public-access", Plan: `{"Before":{"Raw":{"a":1}}}`, PlannedAt: at, BeforeText: "off", AfterText: "on",
			Notes: []string{"n"}, Changed: true, Undo: &UndoAudit{By: "U1", At: at, Restored: "off"}}
		r.PolicyFacts = &PolicyFacts{API: "PutBucketPublicAccessBlock", FirstSeen: at, Actor: "arn:aws:iam::111122223333:user/x", Exposure: []string{"public"}, OpenDataFindings: 3}
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "bf1")
		if err != nil || got.BucketFix == nil || got.PolicyFacts == nil {
			t.Fatalf("%v %+v", err, got)
		}
		if b := got.BucketFix; b.Plan != r.BucketFix.Plan || !b.PlannedAt.Equal(at) || !b.Changed || b.Undo == nil || b.Undo.By != "U1" || len(b.Notes) != 1 {
			t.Fatalf("bucket fix round trip: %+v", b)
		}
		if p := got.PolicyFacts; p.API != "PutBucketPublicAccessBlock" || !p.FirstSeen.Equal(at) || p.OpenDataFindings != 3 || len(p.Exposure) != 1 {
			t.Fatalf("policy facts round trip: %+v", p)
		}
	})
	t.Run("every transition", func(t *testing.T) {
		s := newStore(t, newClock().Now)
		ctx := testenv.Context(t)
		legal, illegal := 0, 0
		for _, from := range Statuses {
			for _, to := range Statuses {
				id := fmt.Sprintf("f-%s-%s", from, to)
				if _, _, err := s.Create(ctx, sample(id, "111122223333")); err != nil {
					t.Fatal(err)
				}
				cur := Received
				for _, step := range pathTo(from) {
					if _, err := s.Transition(ctx, id, Change{From: cur, To: step, Actor: "setup"}); err != nil {
						t.Fatalf("setup %s→%s: %v", cur, step, err)
					}
					cur = step
				}
				before, _ := s.Get(ctx, id)
				rec, err := s.Transition(ctx, id, Change{From: from, To: to, Actor: "U1", Reason: "test"})
				if CanTransition(from, to) {
					legal++
					if err != nil || rec.Status != to {
						t.Errorf("%s→%s should succeed: %v", from, to, err)
					}
					after, _ := s.Get(ctx, id)
					if after.Status != to || after.Version != before.Version+1 || after.LastActor() != "U1" {
						t.Errorf("%s→%s stored %+v", from, to, after)
					}
				} else {
					illegal++
					if !errors.Is(err, ErrIllegalTransition) {
						t.Errorf("%s→%s should be illegal, got %v", from, to, err)
					}
					after, _ := s.Get(ctx, id)
					if after.Status != from || after.Version != before.Version {
						t.Errorf("%s→%s illegal but record changed", from, to)
					}
				}
			}
		}
		if legal != 24 || illegal != len(Statuses)*len(Statuses)-24 {
			t.Errorf("legal %d illegal %d", legal, illegal)
		}
	})

	t.Run("stale status is a conflict naming the winner", func(t *testing.T) {
		s := newStore(t, newClock().Now)
		ctx := testenv.Context(t)
		s.Create(ctx, sample("c1", "111122223333"))
		s.Transition(ctx, "c1", Change{From: Received, To: Notified, Actor: ActorPolicy})
		s.Transition(ctx, "c1", Change{From: Notified, To: Dismissed, Actor: "U_ALICE"})
		_, err := s.Transition(ctx, "c1", Change{From: Notified, To: Queued, Actor: "U_BOB"})
		var ce *ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) || ce.Current != Dismissed || ce.By != "U_ALICE" {
			t.Fatalf("got %v", err)
		}
		if _, err := s.Transition(ctx, "missing", Change{From: Received, To: Notified}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing record: %v", err)
		}
	})

	runUnlessRacy(t, racy, "20 concurrent approvals, exactly one wins", func(t *testing.T) {
		s := newStore(t, newClock().Now)
		ctx := testenv.Context(t)
		s.Create(ctx, sample("race", "111122223333"))
		s.Transition(ctx, "race", Change{From: Received, To: Notified, Actor: ActorPolicy})
		var wg sync.WaitGroup
		var wins atomic.Int32
		winner := make(chan string, 20)
		losers := make(chan *ConflictError, 20)
		start := make(chan struct{})
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				actor := fmt.Sprintf("U%02d", i)
				_, err := s.Transition(ctx, "race", Change{From: Notified, To: Queued, Actor: actor})
				var ce *ConflictError
				switch {
				case err == nil:
					wins.Add(1)
					winner <- actor
				case errors.As(err, &ce):
					losers <- ce
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}(i)
		}
		close(start)
		wg.Wait()
		close(winner)
		close(losers)
		if wins.Load() != 1 {
			t.Fatalf("%d winners", wins.Load())
		}
		w := <-winner
		n := 0
		for ce := range losers {
			n++
			if ce.Current != Queued || ce.By != w {
				t.Errorf("loser told %s by %s, want QUEUED by %s", ce.Current, ce.By, w)
			}
		}
		rec, _ := s.Get(ctx, "race")
		if n != 19 || len(rec.History) != 3 || rec.LastActor() != w {
			t.Fatalf("losers %d, history %+v", n, rec.History)
		}
	})

	t.Run("duplicate create returns the existing record", func(t *testing.T) {
		clock := newClock()
		s := newStore(t, clock.Now)
		ctx := testenv.Context(t)
		first, created, err := s.Create(ctx, sample("dup", "111122223333"))
		if err != nil || !created || first.Status != Received || first.Version != 1 {
			t.Fatalf("%v %v %+v", err, created, first)
		}
		s.Transition(ctx, "dup", Change{From: Received, To: Notified, Actor: ActorPolicy, Mutate: func(r *Record) {
			r.Channel, r.MessageTS = "C1", "123.456"
		}})
		again := sample("dup", "999999999999")
		again.Action = "AUTO"
		rec, created, err := s.Create(ctx, again)
		if err != nil || created || rec.Status != Notified || rec.AccountID != "111122223333" || rec.MessageTS != "123.456" {
			t.Fatalf("%v %v %+v", err, created, rec)
		}
	})

	t.Run("a refused modification writes nothing", func(t *testing.T) {
		s := newStore(t, newClock().Now)
		ctx := testenv.Context(t)
		s.Create(ctx, sample("mod", "111122223333"))
		refused := errors.New("already claimed")
		if _, err := s.Modify(ctx, "mod", func(r *Record) error { r.PostClaim = "a"; return nil }); err != nil {
			t.Fatal(err)
		}
		before, _ := s.Get(ctx, "mod")
		_, err := s.Modify(ctx, "mod", func(r *Record) error {
			if r.PostClaim != "" {
				return refused
			}
			r.PostClaim = "b"
			return nil
		})
		after, _ := s.Get(ctx, "mod")
		if !errors.Is(err, refused) || after.PostClaim != "a" || after.Version != before.Version {
			t.Fatalf("refused modify: %v, claim %q, version %d→%d", err, after.PostClaim, before.Version, after.Version)
		}
	})

	t.Run("TTL, timestamps and annotations", func(t *testing.T) {
		clock := newClock()
		s := newStore(t, clock.Now)
		ctx := testenv.Context(t)
		rec, _, _ := s.Create(ctx, sample("ttl", "111122223333"))
		if rec.ExpiresAt != rec.CreatedAt.Add(DefaultTTL).Unix() || rec.ExpiresAt == 0 {
			t.Fatalf("ttl %d created %v", rec.ExpiresAt, rec.CreatedAt)
		}
		got, _ := s.Get(ctx, "ttl")
		if got.ExpiresAt != rec.ExpiresAt || !got.CreatedAt.Equal(rec.CreatedAt) {
			t.Fatalf("stored ttl %d vs %d", got.ExpiresAt, rec.ExpiresAt)
		}
		moved, _ := s.Transition(ctx, "ttl", Change{From: Received, To: Queued, Actor: ActorPolicy})
		if moved.ExpiresAt <= rec.ExpiresAt || !moved.UpdatedAt.After(rec.UpdatedAt) {
			t.Fatal("a transition must push the TTL and updatedAt")
		}
		ann, err := s.Annotate(ctx, "ttl", func(r *Record) { r.NotifyStatus = "POSTED"; r.Status = Released })
		if err != nil || ann.Status != Queued || ann.NotifyStatus != "POSTED" || len(ann.History) != 2 {
			t.Fatalf("annotate: %v %+v", err, ann)
		}
		// A transition after an annotation (version moved, status same) still succeeds.
		if _, err := s.Transition(ctx, "ttl", Change{From: Queued, To: InProgress, Actor: "remediator"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("audit order, list and export", func(t *testing.T) {
		clock := newClock()
		s := newStore(t, clock.Now)
		ctx := testenv.Context(t)
		s.Create(ctx, sample("a1", "111122223333"))
		mid := clock.Now()
		s.Create(ctx, sample("a2", "444455556666"))
		for _, c := range []Change{
			{From: Received, To: Notified, Actor: ActorPolicy, Reason: "posted"},
			{From: Notified, To: Queued, Actor: "U_ALICE", Reason: "approved in Slack"},
			{From: Queued, To: InProgress, Actor: "remediator"},
			{From: InProgress, To: Quarantined, Actor: "remediator", Mutate: func(r *Record) { r.QuarantineBucket = "q" }},
		} {
			if _, err := s.Transition(ctx, "a1", c); err != nil {
				t.Fatal(err)
			}
		}
		rec, _ := s.Get(ctx, "a1")
		want := []Status{Received, Notified, Queued, InProgress, Quarantined}
		if len(rec.History) != len(want) || rec.QuarantineBucket != "q" {
			t.Fatalf("history %+v", rec.History)
		}
		for i, e := range rec.History {
			if e.To != want[i] || (i > 0 && (e.From != want[i-1] || !e.At.After(rec.History[i-1].At))) {
				t.Errorf("entry %d: %+v", i, e)
			}
		}
		if rec.History[2].Actor != "U_ALICE" || rec.History[2].Reason != "approved in Slack" {
			t.Errorf("approver not recorded: %+v", rec.History[2])
		}

		byAcct, _ := s.List(ctx, Filter{AccountID: "111122223333"})
		if len(byAcct) != 1 || byAcct[0].FindingID != "a1" {
			t.Errorf("by account: %+v", byAcct)
		}
		byStatus, _ := s.List(ctx, Filter{Status: Received})
		if len(byStatus) != 1 || byStatus[0].FindingID != "a2" {
			t.Errorf("by status: %+v", byStatus)
		}
		acctStatus, _ := s.List(ctx, Filter{AccountID: "444455556666", Status: Quarantined})
		if len(acctStatus) != 0 {
			t.Errorf("account+status: %+v", acctStatus)
		}
		all, _ := s.List(ctx, Filter{})
		if len(all) != 2 || all[0].FindingID != "a1" {
			t.Errorf("all, newest first: %+v", all)
		}

		var buf bytes.Buffer
		n, err := ExportAudit(ctx, s, mid, time.Time{}, &buf)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		// a2 created after mid (1) + a1's four transitions (4); a1's creation is before mid.
		if n != 5 || len(lines) != 5 {
			t.Fatalf("exported %d:\n%s", n, buf.String())
		}
		var prev time.Time
		for _, l := range lines {
			var e Entry
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			if e.At.Before(mid) || e.At.Before(prev) {
				t.Errorf("out of range or order: %s", l)
			}
			prev = e.At
		}
		buf.Reset()
		until := rec.History[2].At // exclusive
		n, _ = ExportAudit(ctx, s, time.Time{}, until, &buf)
		if n != 3 { // a1 RECEIVED, a2 RECEIVED, a1 NOTIFIED
			t.Fatalf("bounded export %d:\n%s", n, buf.String())
		}
	})
}

// runUnlessRacy runs a race case, or logs by name why this server cannot express it.
func runUnlessRacy(t *testing.T, racy, name string, f func(t *testing.T)) {
	if racy != "" {
		t.Logf("%s: not run on this server: %s", name, racy)
		return
	}
	t.Run(name, f)
}
