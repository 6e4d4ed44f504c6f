// Package obs owns what the functions tell operators: JSON logs through log/slog with the
// finding id, account, status and request id, and CloudWatch metrics as Embedded Metric Format
// log lines (no API calls). Object contents and secrets are never passed to it.
package obs

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// NewLogger is the functions' JSON logger.
func NewLogger(w io.Writer, function string) *slog.Logger {
	if w == nil {
		w = os.Stdout
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("function", function)
}

// Namespace of every metric.
const Namespace = "MacieChatOps"

// Metric names.
const (
	FindingsByAction = "Findings"         // dimension Action
	Duplicates       = "Duplicates"       // duplicate events ignored
	Malformed        = "Malformed"        // sent to the DLQ
	Quarantines      = "Quarantines"      // objects moved
	Releases         = "Releases"         // objects restored
	Failures         = "Failures"         // remediation failures
	Blocked          = "Blocked"          // lock / changed / gone
	SlackRetries     = "SlackRetries"     // Slack calls retried (429, 5xx, timeouts)
	Unauthorized     = "Unauthorized"     // rejected clicks and requests
	Rejected         = "RejectedFindings" // findings refused at the trust boundary (dimension Reason)
	NotifyDeferred   = "NotifyDeferred"   // Slack notifications left to the sweeper (Slack down)
	SweeperFixed     = "SweeperFixed"     // records the sweeper re-drove or re-rendered; dimension Kind
	SweeperStuck     = "SweeperStuck"     // records the sweeper could not fix (needs a person)
)

// Metrics writes one EMF line per count. Lambda ships stdout to CloudWatch Logs, which turns
// the line into a metric.
type Metrics struct {
	W        io.Writer
	Function string
	Now      func() time.Time
	mu       sync.Mutex
}

// Count emits value for a metric, optionally with one extra dimension (e.g. Action=AUTO).
func (m *Metrics) Count(_ context.Context, name string, value float64, dims ...string) {
	if m == nil || m.W == nil {
		return
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	dimNames := []string{"Function"}
	doc := map[string]any{"Function": m.Function, name: value}
	for i := 0; i+1 < len(dims); i += 2 {
		dimNames = append(dimNames, dims[i])
		doc[dims[i]] = dims[i+1]
	}
	doc["_aws"] = map[string]any{
		"Timestamp": now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{dimNames},
			"Metrics":    []any{map[string]string{"Name": name, "Unit": "Count"}},
		}},
	}
	b, _ := json.Marshal(doc)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.W.Write(append(b, '\n'))
}
