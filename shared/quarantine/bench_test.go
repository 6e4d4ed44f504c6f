package quarantine

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkQuarantineVsBare measures the engine's Move (precondition HEAD, copy with tags and
// metadata, verification, exact-version delete) against a bare CopyObject + DeleteObject(versionId)
// loop on the same versitygw, in the same run, interleaved in rounds so drift hits both alike.
// It reports both rates and ratio = engine/bare (goal ≥ 0.6). Run with -benchtime=Nx.
func BenchmarkQuarantineVsBare(b *testing.B) {
	e := newEnv(b)
	e.bucket("data", true)
	e.bucket("quarantine", true)
	for _, size := range []int{1 << 10, 1 << 20} {
		for _, workers := range []int{1, 4} {
			name := fmt.Sprintf("%dKiB/workers=%d", size>>10, workers)
			b.Run(name, func(b *testing.B) {
				body := bytes.Repeat([]byte("x"), size)
				const rounds = 4
				per := max(b.N/rounds, workers)
				var engineTime, bareTime time.Duration
				n := 0
				for r := 0; r < rounds; r++ {
					engineTime += timeWorkers(b, e, body, per, workers, fmt.Sprintf("%s/e%d", name, r), func(ctx context.Context, key, v, etag string) error {
						rq := req("bench-"+key, "data", key, v, etag, int64(len(body)))
						rq.FirstAttempt = true
						res, err := e.eng.Move(ctx, rq)
						if err == nil && res.Outcome != Moved {
							err = fmt.Errorf("outcome %s", res.Outcome)
						}
						return err
					})
					bareTime += timeWorkers(b, e, body, per, workers, fmt.Sprintf("%s/b%d", name, r), func(ctx context.Context, key, v, etag string) error {
						_, err := e.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("quarantine"), Key: aws.String("bare/" + key),
							CopySource: aws.String(CopySource("data", key, v))})
						if err != nil {
							return err
						}
						_, err = e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("data"), Key: &key, VersionId: &v})
						return err
					})
					n += per
				}
				engineRate := float64(n) / engineTime.Seconds()
				bareRate := float64(n) / bareTime.Seconds()
				b.ReportMetric(engineRate, "engine-moves/s")
				b.ReportMetric(bareRate, "bare-moves/s")
				b.ReportMetric(engineRate/bareRate, "ratio")
			})
		}
	}
}

// timeWorkers puts n objects (untimed), then times fn over them with the given workers.
func timeWorkers(b *testing.B, e *env, body []byte, n, workers int, prefix string, fn func(ctx context.Context, key, v, etag string) error) time.Duration {
	type obj struct{ key, v, etag string }
	objs := make([]obj, n)
	for i := range objs {
		key := fmt.Sprintf("%s/%d", prefix, i)
		v, etag := e.put("data", key, body, "")
		objs[i] = obj{key, v, etag}
	}
	work := make(chan obj)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if err := fn(e.ctx, o.key, o.v, o.etag); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	d := time.Since(start)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return d
}
