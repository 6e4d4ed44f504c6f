package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// loseAnswers makes the next n writes land and then lose their answer.
type loseAnswers func(n int)

type lossyFactory func(t *testing.T, clock Clock) (Store, loseAnswers)

// lossyTransport forwards every request to the real server; for an armed PutItem it lets the
// server do the write, reads the answer, and hands the client a connection reset instead, so the
// SDK's retry re-sends a write that already landed.
type lossyTransport struct {
	lose atomic.Int32
	lost atomic.Int32
}

func (l *lossyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.PutItem" {
		return resp, err
	}
	if l.lose.Add(-1) < 0 {
		l.lose.Add(1)
		return resp, nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.lost.Add(1)
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

// lossyDynamo is a DynamoDB client on the server at endpoint whose answers can be lost.
func lossyDynamo(endpoint, access, secret string) (*dynamodb.Client, *lossyTransport) {
	tr := &lossyTransport{}
	return dynamodb.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Transport: tr},
	}), tr
}

func dynamoLossy(endpoint, access, secret string) lossyFactory {
	client, tr := lossyDynamo(endpoint, access, secret)
	var n atomic.Int64
	return func(t *testing.T, clock Clock) (Store, loseAnswers) {
		d := NewDynamo(client, fmt.Sprintf("lossy-%d", n.Add(1)), clock)
		if err := d.EnsureTable(testenv.Context(t)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.lose.Store(0) })
		return d, func(n int) { tr.lose.Store(int32(n)) }
	}
}

// lossyStore wraps an in-process store: an armed write is done, then its answer is replaced by
// an error, as a crash of the connection after the commit would. The caller's retry re-sends.
type lossyStore struct {
	Store
	mu   sync.Mutex
	lose int
}

var errLostAnswer = errors.New("connection reset: the answer was lost")

func (l *lossyStore) lost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lose > 0 {
		l.lose--
		return true
	}
	return false
}

func (l *lossyStore) Transition(ctx context.Context, id string, c Change) (Record, error) {
	rec, err := l.Store.Transition(ctx, id, c)
	if err == nil && l.lost() {
		return Record{}, errLostAnswer
	}
	return rec, err
}

func boltLossy(t *testing.T, clock Clock) (Store, loseAnswers) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "ledger.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := &lossyStore{Store: s}
	return l, func(n int) { l.mu.Lock(); l.lose = n; l.mu.Unlock() }
}

// runLostAnswer is the contract for lost answers: a write that landed and is sent again (by the
// SDK or by the caller with the same token) is success, never a conflict, and is stored once.
func runLostAnswer(t *testing.T, newStore lossyFactory) {
	for _, n := range []int{1, 5} { // 1: one retry re-sends; 5: every retry's answer is lost too
		t.Run(fmt.Sprintf("transition, %d answers lost", n), func(t *testing.T) {
			s, lose := newStore(t, newClock().Now)
			ctx := testenv.Context(t)
			if _, _, err := s.Create(ctx, sample("lost", "111122223333")); err != nil {
				t.Fatal(err)
			}
			steps := []Change{
				{From: Received, To: Queued, Actor: ActorPolicy, Token: NewToken()},
				{From: Queued, To: InProgress, Actor: "remediator", Token: NewToken()},
				{From: InProgress, To: Quarantined, Actor: "remediator", Token: NewToken(), Mutate: func(r *Record) { r.QuarantineKey = "q/k" }},
			}
			for _, c := range steps {
				lose(n)
				rec, err := s.Transition(ctx, "lost", c)
				for i := 0; err != nil && !errors.Is(err, ErrConflict) && i < n; i++ {
					rec, err = s.Transition(ctx, "lost", c) // our retry: the same change, the same token
				}
				if err != nil {
					t.Fatalf("%s→%s with a lost answer: %v (our own write was read as a failure)", c.From, c.To, err)
				}
				if rec.Status != c.To {
					t.Fatalf("%s→%s returned %s", c.From, c.To, rec.Status)
				}
			}
			rec, _ := s.Get(ctx, "lost")
			if len(rec.History) != 4 || rec.Status != Quarantined || rec.QuarantineKey != "q/k" {
				t.Fatalf("want 4 history entries ending QUARANTINED, got %s with %+v", rec.Status, rec.History)
			}
			// A different attempt with a stale view is still a conflict.
			_, err := s.Transition(ctx, "lost", Change{From: InProgress, To: Failed, Actor: "other", Token: NewToken()})
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("another writer's stale change: %v, want a conflict", err)
			}
		})
	}
}

func TestLostAnswerBolt(t *testing.T) { runLostAnswer(t, boltLossy) }

// The DynamoDB lost-answer contract runs inside TestContractDynamo, on each server.

// Create and annotations go through the SDK's own retry: a lost answer must not turn our
// creation into "someone else created it" (which would skip the finding as a duplicate).
func TestLostAnswerCreateAndModifyDynamo(t *testing.T) {
	for _, srv := range dynamoServers() {
		t.Run(srv.name, func(t *testing.T) { lostCreateAndModify(t, srv.start) })
	}
}

func lostCreateAndModify(t *testing.T, start func(t *testing.T) (string, string, string)) {
	client, tr := lossyDynamo(start(t))
	ctx := testenv.Context(t)
	d := NewDynamo(client, "lossy-create", newClock().Now)
	if err := d.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int32{1, 5} {
		id := fmt.Sprintf("c%d", n)
		tr.lose.Store(n)
		rec, created, err := d.Create(ctx, sample(id, "111122223333"))
		if err != nil || !created || rec.Status != Received {
			t.Fatalf("create with %d lost answers: created=%v err=%v", n, created, err)
		}
		tr.lose.Store(n)
		rec, err = d.Annotate(ctx, id, func(r *Record) { r.MessageTS = "1.2" })
		if err != nil || rec.MessageTS != "1.2" {
			t.Fatalf("annotate with %d lost answers: %v %+v", n, err, rec)
		}
		if _, created, _ := d.Create(ctx, sample(id, "111122223333")); created {
			t.Fatal("a second create of the same id reported created")
		}
	}
	if tr.lost.Load() == 0 {
		t.Fatal("no answer was lost: the test did not test anything")
	}
}
