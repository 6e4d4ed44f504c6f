package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

func seedLedger(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	st, err := ledger.OpenBolt(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	st.Create(ctx, ledger.Record{FindingID: "f1", AccountID: "111122223333", Bucket: "b", Key: "secret.csv", Action: "REVIEW"})
	st.Create(ctx, ledger.Record{FindingID: "f2", AccountID: "444455556666", Bucket: "c", Key: "x", Action: "AUTO"})
	st.Transition(ctx, "f1", ledger.Change{From: ledger.Received, To: ledger.Notified, Actor: ledger.ActorPolicy})
	st.Transition(ctx, "f1", ledger.Change{From: ledger.Notified, To: ledger.Queued, Actor: "U_ALICE", Reason: "approved in Slack"})
	return path
}

func TestLedgerCommands(t *testing.T) {
	path := seedLedger(t)
	code, out, errOut := run(t, "", "ledger", "show", "--ledger", path, "f1")
	if code != ExitOK || !strings.Contains(out, "by U_ALICE") || !strings.Contains(out, "NOTIFIED → QUEUED") || !strings.Contains(out, "s3://b/secret.csv") {
		t.Fatalf("show: %d %s %s", code, out, errOut)
	}
	code, out, _ = run(t, "", "ledger", "list", "--ledger", path, "--status", "QUEUED")
	if code != ExitOK || !strings.Contains(out, "f1") || strings.Contains(out, "f2") || !strings.Contains(out, "1 records") {
		t.Fatalf("list: %d %s", code, out)
	}
	code, out, _ = run(t, "", "ledger", "export", "--ledger", path, "--since", "1h")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 4 {
		t.Fatalf("export: %d %q", code, out)
	}
	var e ledger.Entry
	if err := json.Unmarshal([]byte(lines[3]), &e); err != nil || e.Actor != "U_ALICE" {
		t.Fatalf("last entry %q: %v", lines[3], err)
	}
	if code, _, errOut := run(t, "", "ledger", "show", "--ledger", path, "nope"); code != ExitProblem || !strings.Contains(errOut, "no ledger record") {
		t.Fatalf("missing id: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, "", "ledger", "list"); code != ExitUsage || !strings.Contains(errOut, "--ledger FILE") {
		t.Fatalf("no store: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, "", "ledger", "list", "--ledger", path, "--status", "DONE"); code != ExitUsage || !strings.Contains(errOut, "QUARANTINED") {
		t.Fatalf("bad status: %d %s", code, errOut)
	}
}

func TestLedgerCommandsOnDynamoDB(t *testing.T) {
	srv := testenv.Dynalite(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_REGION", "us-east-1")
	ctx := testenv.Context(t)
	d, err := ledger.OpenDynamo(ctx, "ledger", srv.Endpoint, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	d.Create(ctx, ledger.Record{FindingID: "d1", AccountID: "111122223333", Bucket: "b", Key: "k"})
	d.Transition(ctx, "d1", ledger.Change{From: ledger.Received, To: ledger.Dismissed, Actor: "U_BOB", Reason: "false positive"})
	code, out, errOut := run(t, "", "ledger", "show", "--table", "ledger", "--endpoint", srv.Endpoint, "d1")
	if code != ExitOK || !strings.Contains(out, "RECEIVED → DISMISSED") || !strings.Contains(out, "by U_BOB") {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	code, out, _ = run(t, "", "ledger", "list", "--table", "ledger", "--endpoint", srv.Endpoint, "--account", "111122223333")
	if code != ExitOK || !strings.Contains(out, "d1") {
		t.Fatalf("%d %s", code, out)
	}
}
