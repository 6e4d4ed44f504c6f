package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestMetricsAreEmbeddedMetricFormat(t *testing.T) {
	var buf bytes.Buffer
	m := &Metrics{W: &buf, Function: "remediator", Now: func() time.Time { return time.UnixMilli(1700000000000) }}
	m.Count(context.Background(), Failures, 1, "Kind", "release")
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	aws := doc["_aws"].(map[string]any)
	cw := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	dims := cw["Dimensions"].([]any)[0].([]any)
	metric := cw["Metrics"].([]any)[0].(map[string]any)
	if aws["Timestamp"].(float64) != 1700000000000 || cw["Namespace"] != Namespace || len(dims) != 2 || dims[1] != "Kind" ||
		metric["Name"] != Failures || doc[Failures].(float64) != 1 || doc["Function"] != "remediator" || doc["Kind"] != "release" {
		t.Fatalf("not EMF: %s", buf.String())
	}
	var nilMetrics *Metrics
	nilMetrics.Count(context.Background(), Failures, 1) // a handler without metrics must not crash
}
