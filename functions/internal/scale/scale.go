// Package scale owns the burst test of the benchmark harness: it generates N realistic findings
// (built from the fixture shapes, across accounts, buckets and types, with duplicates mixed in),
// runs them through local mode (versitygw, the embedded ledger, the Slack stand-in, the three
// handlers) and reports throughput, Slack traffic and whether every finding is accounted for.
package scale

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/macie-chatops/macie-chatops/functions/internal/awscount"
	"github.com/macie-chatops/macie-chatops/functions/internal/jobs"
	"github.com/macie-chatops/macie-chatops/functions/internal/local"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
)

// Report is what one run measured.
type Report struct {
	N, Unique, Duplicates, Auto int
	Setup, Findings, Quarantine time.Duration
	Total                       time.Duration // findings in → last quarantine done
	FindingsPerSec              float64
	QuarantinesPerSec           float64
	Messages, Updates           int
	PeakPerChannel              int // most messages posted to one channel within any 1 s
	Accounted                   int // ledger records
	DoubleQuarantines           int
	DoubleKeys                  []string
	NotQuarantined              int
	PeakRSSMiB                  float64
	// Latency under the burst (with Probe): every AUTO finding of the burst, and REVIEW probes
	// clicked one after another while it runs.
	Latency *Latencies
	Work    Work
}

// Options of a burst run.
type Options struct {
	// Probe measures latencies during the burst (see Latencies): every AUTO finding, and this
	// many REVIEW messages, posted before the burst, clicked one after another while it runs.
	Probe  bool
	Clicks int
	// Count, when set, counts the AWS calls of the run: the remediator's S3 clients and, with
	// DynamoEndpoint, the ledger on that DynamoDB server instead of the embedded one.
	Count          *awscount.Counter
	DynamoEndpoint string
}

// Work is what the run asked of each function, for the cost rows: SQS batches handed to the
// finding-handler and the time it took on them, and remediator jobs and their time (both
// stamped by the harness around the handler calls).
type Work struct {
	Batches     int
	FindingTime time.Duration
	Jobs        int
	JobTime     time.Duration
}

// Goals checks the report against the goals and lists what is missed.
func (r *Report) Goals() []string {
	var miss []string
	if r.Accounted != r.Unique {
		miss = append(miss, fmt.Sprintf("%d of %d findings in the ledger", r.Accounted, r.Unique))
	}
	if r.DoubleQuarantines != 0 {
		miss = append(miss, fmt.Sprintf("%d double quarantines", r.DoubleQuarantines))
	}
	if r.NotQuarantined != 0 {
		miss = append(miss, fmt.Sprintf("%d AUTO findings not quarantined", r.NotQuarantined))
	}
	if r.PeakPerChannel > 1 {
		miss = append(miss, fmt.Sprintf("%d messages within one second in one channel", r.PeakPerChannel))
	}
	if r.Messages > 30 {
		miss = append(miss, fmt.Sprintf("%d Slack messages (goal: at most 30)", r.Messages))
	}
	if r.Total > 2*time.Minute {
		miss = append(miss, fmt.Sprintf("run took %s (goal: under 2 min)", r.Total.Round(time.Second)))
	}
	return miss
}

type gen struct {
	id, account, bucket, key, typ, severity string
	auto                                    bool
	version, etag                           string
}

var buckets = []struct{ account, bucket string }{
	{local.AccountA, local.BucketA}, {local.AccountA, "workshop-archive"}, {local.AccountB, local.BucketB},
}

// Run generates n findings (30% AUTO, 5% duplicates) and pushes them through local mode.
func Run(ctx context.Context, n int, log io.Writer) (*Report, error) {
	return RunWith(ctx, n, Options{}, log)
}

// RunWith is Run with options.
func RunWith(ctx context.Context, n int, opts Options, log io.Writer) (*Report, error) {
	t0 := time.Now()
	w := newWatcher()
	lo := w.options()
	var view ledger.Store // what the harness reads the ledger through
	var ran Work
	var ranMu sync.Mutex
	lo.OnJobDone = func(_ jobs.Job, took time.Duration, _ error) {
		ranMu.Lock()
		ran.Jobs++
		ran.JobTime += took
		ranMu.Unlock()
	}
	if opts.Count != nil {
		// The sweeper runs on its own schedule in AWS (minutes apart), not per finding: keep its
		// ledger scans out of the burst's count.
		lo.SweepEvery = time.Hour
		lo.S3APIOptions = []func(*middleware.Stack) error{opts.Count.APIOption}
		if opts.DynamoEndpoint != "" {
			d, table, err := countedLedger(ctx, opts.DynamoEndpoint, opts.Count)
			if err != nil {
				return nil, err
			}
			lo.Ledger = d
			// The harness's own reads (waiting for the quarantines, the final count) go through
			// a client that is not counted: they are not what a finding costs.
			view = ledger.NewDynamo(ledger.DynaliteClient(opts.DynamoEndpoint), table, nil)
		}
	}
	env, err := local.Start(ctx, lo)
	if err != nil {
		return nil, err
	}
	defer env.Stop()
	if view == nil {
		view = env.Ledger
	}
	c := env.Client(local.AccountA)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("workshop-archive")}); err != nil {
		return nil, err
	}
	c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("workshop-archive"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})

	rep := &Report{N: n}
	rep.Duplicates = n / 20
	rep.Unique = n - rep.Duplicates
	gens := make([]*gen, rep.Unique)
	autoTypes := []string{"SensitiveData:S3Object/Credentials", "SensitiveData:S3Object/Financial"}
	reviewTypes := []string{"SensitiveData:S3Object/Multiple", "SensitiveData:S3Object/Personal", "SensitiveData:S3Object/CustomIdentifier"}
	for i := range gens {
		b := buckets[i%len(buckets)]
		g := &gen{id: fmt.Sprintf("scale-%05d", i), account: b.account, bucket: b.bucket, key: fmt.Sprintf("job-42/part-%05d.csv", i),
			severity: []string{"High", "Medium"}[i%2]}
		if i%10 < 3 {
			g.auto, g.typ = true, autoTypes[i%2]
			rep.Auto++
		} else {
			g.typ = reviewTypes[i%3]
		}
		gens[i] = g
	}
	// Objects for the AUTO findings (the others are never moved unless approved).
	body := bytes.Repeat([]byte("name,card\nAlice,4111111111111111\n"), 32)
	var wg sync.WaitGroup
	var upErr error
	var mu sync.Mutex
	work := make(chan *gen)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				out, err := env.Client(g.account).PutObject(ctx, &s3.PutObjectInput{Bucket: &g.bucket, Key: &g.key, Body: bytes.NewReader(body)})
				if err != nil {
					mu.Lock()
					upErr = err
					mu.Unlock()
					continue
				}
				g.version, g.etag = aws.ToString(out.VersionId), strings.Trim(aws.ToString(out.ETag), `"`)
			}
		}()
	}
	for _, g := range gens {
		if g.auto {
			work <- g
		}
	}
	close(work)
	wg.Wait()
	if upErr != nil {
		return nil, fmt.Errorf("upload: %w", upErr)
	}
	tmpl, err := os.ReadFile(filepath.Join(env.Repo, "shared/testdata/macie/event-eventbridge-csv.json"))
	if err != nil {
		return nil, err
	}
	bodies := make([]string, 0, n)
	byBody := make([]*gen, 0, n) // the finding each body is about
	for i, g := range gens {
		b, err := event(tmpl, g, int64(len(body)))
		if err != nil {
			return nil, err
		}
		bodies, byBody = append(bodies, b), append(byBody, g)
		if i%19 == 18 && len(bodies) < n && rep.Duplicates > len(bodies)-i-1 {
			k := len(bodies) / 2
			bodies, byBody = append(bodies, bodies[k]), append(byBody, byBody[k]) // EventBridge delivers at least once
		}
	}
	for len(bodies) < n {
		k := len(bodies) % rep.Unique
		bodies, byBody = append(bodies, bodies[k]), append(byBody, byBody[k])
	}
	rep.Setup = time.Since(t0)
	fmt.Fprintf(log, "scale: %d findings (%d unique, %d AUTO) generated in %s\n", n, rep.Unique, rep.Auto, rep.Setup.Round(time.Millisecond))

	// Latency probes run beside the burst until every AUTO finding is quarantined.
	stopProbes := make(chan struct{})
	type probeResult struct {
		lat *Latencies
		err error
	}
	probed := make(chan probeResult, 1)
	if opts.Probe {
		p, err := newProber(env, w)
		if err != nil {
			return nil, err
		}
		targets, err := p.post(ctx, opts.Clicks)
		if err != nil {
			return nil, err
		}
		go func() {
			lat, err := p.clickUntil(ctx, targets, stopProbes)
			probed <- probeResult{lat, err}
		}()
	}

	// Findings in, as SQS batches of 10.
	start := time.Now()
	for i := 0; i < len(bodies); i += 10 {
		var ev events.SQSEvent
		var autos []string
		for j := i; j < min(i+10, len(bodies)); j++ {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: strconv.Itoa(j), Body: bodies[j]})
			if g := byBody[j]; g != nil && g.auto {
				autos = append(autos, g.id)
			}
		}
		t := time.Now()
		w.handedIn(autos, t)
		resp, err := env.Findings.HandleSQS(ctx, ev)
		rep.Work.Batches++
		rep.Work.FindingTime += time.Since(t)
		if err != nil {
			return nil, err
		}
		if len(resp.BatchItemFailures) > 0 {
			return nil, fmt.Errorf("batch at %d: %d failures", i, len(resp.BatchItemFailures))
		}
	}
	rep.Findings = time.Since(start)
	rep.FindingsPerSec = float64(n) / rep.Findings.Seconds()
	fmt.Fprintf(log, "scale: finding-handler done in %s\n", rep.Findings.Round(time.Millisecond))

	// Wait for every AUTO quarantine.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		recs, err := view.List(ctx, ledger.Filter{Status: ledger.Quarantined})
		if err != nil {
			return nil, err
		}
		recs = withoutProbes(recs)
		if len(recs) >= rep.Auto || time.Now().After(deadline) {
			var first, last time.Time
			for _, r := range recs {
				for _, e := range r.History {
					if e.To == ledger.InProgress && (first.IsZero() || e.At.Before(first)) {
						first = e.At
					}
				}
				if r.UpdatedAt.After(last) {
					last = r.UpdatedAt
				}
			}
			rep.Quarantine = last.Sub(first)
			if rep.Quarantine > 0 {
				rep.QuarantinesPerSec = float64(len(recs)) / rep.Quarantine.Seconds()
			}
			rep.NotQuarantined = rep.Auto - len(recs)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	rep.Total = time.Since(start)
	ranMu.Lock()
	rep.Work.Jobs, rep.Work.JobTime = ran.Jobs, ran.JobTime
	ranMu.Unlock()
	close(stopProbes)
	if opts.Probe {
		r := <-probed
		if r.err != nil {
			return nil, r.err
		}
		r.lat.AutoQuarantine = w.autoSamples()
		rep.Latency = r.lat
	}
	env.Findings.Digest.Flush(ctx, true)

	all, err := view.List(ctx, ledger.Filter{})
	if err != nil {
		return nil, err
	}
	all = withoutProbes(all)
	for _, r := range all {
		if r.Status != ledger.DigestStatus { // a digest's own record is not a finding
			rep.Accounted++
		}
	}
	msgs := env.StandIn.Messages()
	byChannel := map[string][]time.Time{}
	for _, m := range msgs {
		if strings.Contains(m.Text, "s3://"+ProbePrefix) {
			// A latency probe's message is not the burst's traffic, but it does share the
			// channel's pace, so it counts towards the per-second peak.
			byChannel[m.Channel] = append(byChannel[m.Channel], m.PostedAt)
			continue
		}
		rep.Messages++
		rep.Updates += m.Updated
		byChannel[m.Channel] = append(byChannel[m.Channel], m.PostedAt)
	}
	for _, ts := range byChannel {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		for i := range ts {
			k := i
			for k+1 < len(ts) && ts[k+1].Sub(ts[i]) < time.Second {
				k++
			}
			rep.PeakPerChannel = max(rep.PeakPerChannel, k-i+1)
		}
	}
	rep.DoubleKeys, err = doubles(ctx, env)
	if err != nil {
		return nil, err
	}
	rep.DoubleQuarantines = len(rep.DoubleKeys)
	for _, k := range rep.DoubleKeys {
		for _, r := range all {
			if strings.HasSuffix(k, "/"+r.Bucket+"/"+r.Key) {
				b, _ := json.Marshal(r.History)
				fmt.Fprintf(log, "scale: double quarantine of %s: %s\n", r.FindingID, b)
			}
		}
	}
	rep.PeakRSSMiB = peakRSS()
	return rep, nil
}

func withoutProbes(recs []ledger.Record) []ledger.Record {
	out := recs[:0:0]
	for _, r := range recs {
		if !strings.HasPrefix(r.FindingID, ProbePrefix) {
			out = append(out, r)
		}
	}
	return out
}

// countedLedger is a new ledger table on a local DynamoDB server, through a counted client.
func countedLedger(ctx context.Context, endpoint string, count *awscount.Counter) (*ledger.Dynamo, string, error) {
	c := ledger.DynaliteClient(endpoint)
	ddb := dynamodb.New(c.Options(), func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, count.APIOption) })
	table := fmt.Sprintf("bench-ledger-%d", time.Now().UnixNano())
	d := ledger.NewDynamo(ddb, table, nil)
	if err := d.EnsureTable(ctx); err != nil {
		return nil, "", fmt.Errorf("ledger table on %s: %w", endpoint, err)
	}
	return d, table, nil
}

// doubles lists quarantine keys holding more than one copy.
func doubles(ctx context.Context, env *local.Env) ([]string, error) {
	var out []string
	for _, acct := range []string{local.AccountA, local.AccountB} {
		q := env.Policy.QuarantineFor(acct, local.Region).Bucket
		// Count distinct version ids: versitygw repeats the boundary version when a listing is
		// paged with a version-id marker, which is not a second copy.
		counts := map[string]int{}
		seen := map[string]bool{}
		in := &s3.ListObjectVersionsInput{Bucket: &q}
		for {
			page, err := env.Client(acct).ListObjectVersions(ctx, in)
			if err != nil {
				return nil, err
			}
			for _, v := range page.Versions {
				id := aws.ToString(v.Key) + "?" + aws.ToString(v.VersionId)
				if !seen[id] {
					seen[id] = true
					counts[aws.ToString(v.Key)]++
				}
			}
			if !aws.ToBool(page.IsTruncated) {
				break
			}
			in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
		}
		for k, c := range counts {
			if c > 1 {
				out = append(out, q+"/"+k)
			}
		}
	}
	return out, nil
}

func event(tmpl []byte, g *gen, size int64) (string, error) {
	var ev map[string]any
	if err := json.Unmarshal(tmpl, &ev); err != nil {
		return "", err
	}
	d := ev["detail"].(map[string]any)
	d["id"], d["accountId"], d["type"] = g.id, g.account, g.typ
	ev["account"] = g.account // sent by the account it is about, as the finding-handler requires
	d["severity"] = map[string]any{"description": g.severity}
	ra := d["resourcesAffected"].(map[string]any)
	ra["s3Bucket"].(map[string]any)["name"] = g.bucket
	o := ra["s3Object"].(map[string]any)
	o["key"], o["versionId"], o["eTag"], o["size"] = g.key, g.version, g.etag, size
	b, err := json.Marshal(ev)
	return string(b), err
}

func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func debugLog() io.Writer {
	if os.Getenv("MACIE_CHATOPS_SCALE_DEBUG") != "" {
		return os.Stderr
	}
	return nil
}
