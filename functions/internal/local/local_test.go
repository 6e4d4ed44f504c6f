package local

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/macie-chatops/macie-chatops/functions/internal/standin"
	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

func start(t *testing.T) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	e, err := Start(ctx, Options{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

func TestHeadlessScenario(t *testing.T) {
	e := start(t)
	var out bytes.Buffer
	if err := e.Headless(testenv.Context(t), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "All findings ended as expected") || strings.Count(out.String(), "local-") != 4 {
		t.Fatalf("table missing:\n%s", out.String())
	}
}

// TestAccountsAreSeparate: each account's credentials reach only its own buckets, so the
// remediator can only succeed by using the finding's account.
func TestAccountsAreSeparate(t *testing.T) {
	e := start(t)
	ctx := testenv.Context(t)
	if _, err := e.Client(AccountA).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(BucketB)}); err == nil {
		t.Fatal("account A can list account B's bucket")
	}
	if _, err := e.Client(AccountB).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(BucketB)}); err != nil {
		t.Fatalf("account B cannot list its own bucket: %v", err)
	}
}

// browser is what the browser scripts need: playwright-core and Chromium, from `make tools`.
type browser struct{ playwright, chromium string }

func browserTools(t *testing.T) browser {
	pw := testenv.Tool(t, "node/node_modules/playwright-core")
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: run `make tools` (it installs Debian's chromium)")
	}
	return browser{pw, chromium}
}

// run runs a browser script (see browser.cjs) against the stand-in page; its failure fails the test
// with the script's output.
func (b browser) run(t *testing.T, ctx context.Context, script, pageURL, shot string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", script, pageURL, shot, t.TempDir())
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+b.playwright, "CHROMIUM="+b.chromium)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("browser run failed: %v\n%s", err, out)
	}
}

// TestBrowserEndToEnd drives the stand-in page in headless Chromium with playwright-core.
func TestBrowserEndToEnd(t *testing.T) {
	b := browserTools(t)
	e := start(t)
	ctx := testenv.Context(t)
	if err := e.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	artifacts := filepath.Join(e.Repo, "artifacts")
	os.MkdirAll(artifacts, 0o755)
	shot := filepath.Join(artifacts, "local-mode-quarantined.png")
	os.Remove(shot)
	b.run(t, ctx, "e2e.cjs", e.PageURL, shot)
	review := Seeds[1]
	rec, err := e.WaitStatus(ctx, review.FindingID(), ledger.Quarantined, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rec.LastActor() != "remediator" || rec.History[len(rec.History)-3].Actor != Approver {
		t.Fatalf("not approved by the page's approver: %+v", rec.History)
	}
	c := e.Client(review.Account)
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(BucketA), Key: aws.String(review.Key)}); err == nil {
		t.Fatal("the object is still in its bucket")
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(rec.QuarantineBucket), Key: aws.String(rec.QuarantineKey), VersionId: aws.String(rec.QuarantineVersion)}); err != nil {
		t.Fatalf("the object is not in quarantine: %v", err)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Fatalf("screenshot missing or empty: %v", err)
	}
	t.Logf("screenshot saved: %s", shot)
}

// TestBrowserPolicyFixAndUndo: the approver fixes the replayed Block Public Access finding from
// the stand-in page and undoes it; S3 (moto) shows the fix, then the exact prior setting. The
// screenshot of the fixed message is the README's (artifacts/local-mode-policy-fixed.png).
func TestBrowserPolicyFixAndUndo(t *testing.T) {
	b := browserTools(t)
	e := start(t)
	ctx := testenv.Context(t)
	before, err := e.PublicAccessBlock(ctx)
	if err != nil || before != allOffJSON {
		t.Fatalf("seeded setting %s %v", before, err)
	}
	if err := e.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	artifacts := filepath.Join(e.Repo, "artifacts")
	os.MkdirAll(artifacts, 0o755)
	shot := filepath.Join(artifacts, "local-mode-policy-fixed.png")
	os.Remove(shot)
	b.run(t, ctx, "e2e-policy.cjs", e.PageURL, shot)
	rec, err := e.WaitStatus(ctx, PolicyFindingID, ledger.Undone, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rec.BucketFix.Undo == nil || rec.BucketFix.Undo.By != Approver {
		t.Fatalf("undo audit: %+v", rec.BucketFix.Undo)
	}
	if now, _ := e.PublicAccessBlock(ctx); now != before {
		t.Fatalf("after undo %s, want %s", now, before)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Fatalf("screenshot missing or empty: %v", err)
	}
	t.Logf("screenshot saved: %s", shot)
}

// TestSendWrapsBareFindingsAndRefusesForged: `local send` of a bare finding is wrapped in the
// envelope its own account would send, so it is accepted; an event about one account sent by
// another is refused by the finding-handler, as in AWS.
func TestSendWrapsBareFindingsAndRefusesForged(t *testing.T) {
	e := start(t)
	ctx := testenv.Context(t)
	bare, err := os.ReadFile(filepath.Join(e.Repo, "shared/testdata/macie/finding-getfindings-csv.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.Send(ctx, bare); err != nil || n != 1 {
		t.Fatalf("bare finding: %d %v", n, err)
	}
	if _, err := e.Ledger.Get(ctx, "00000000000000000000000000000001"); err != nil {
		t.Fatalf("the wrapped bare finding is not in the ledger: %v", err)
	}
	ev, _ := os.ReadFile(filepath.Join(e.Repo, "shared/testdata/macie/event-eventbridge-cdi.json"))
	forged := bytes.Replace(ev, []byte(`"account": "555555555555"`), []byte(`"account": "111122223333"`), 1)
	if bytes.Equal(forged, ev) {
		t.Fatal("fixture layout changed: envelope account not found")
	}
	if n, err := e.Send(ctx, forged); err != nil || n != 0 {
		t.Fatalf("forged: %d %v", n, err)
	}
	var f struct {
		Detail struct{ ID string } `json:"detail"`
	}
	json.Unmarshal(ev, &f)
	if _, err := e.Ledger.Get(ctx, f.Detail.ID); err == nil {
		t.Fatal("a forged event was written to the ledger")
	}
}

// TestStandInRefusesCrossSiteRequests: a web page open in the browser during `make demo` can
// POST to the stand-in, but the state-changing endpoints want this run's token, a JSON body
// and no foreign Origin; the page itself (which carries the token) and `local send` still work.
func TestStandInRefusesCrossSiteRequests(t *testing.T) {
	e := start(t)
	ctx := testenv.Context(t)
	if err := e.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	review := Seeds[1]
	var msgID string
	for _, m := range e.StandIn.Messages() {
		if strings.Contains(m.Text, review.Key) {
			msgID = m.ID
		}
	}
	if msgID == "" {
		t.Fatal("review message not found")
	}
	click, _ := json.Marshal(map[string]string{"messageId": msgID, "actionId": "remediate", "value": review.FindingID(), "user": Approver})
	ev, _ := os.ReadFile(filepath.Join(e.Repo, "shared/testdata/macie/event-eventbridge-cdi.json"))
	post := func(path, contentType, token, origin string, body []byte) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.PageURL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if token != "" {
			req.Header.Set(standin.TokenHeader, token)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	token := e.StandIn.Token
	for _, tc := range []struct{ name, ctype, token, origin string }{
		{"cross-site form post", "text/plain", "", "http://attacker.example"},
		{"text/plain with the token", "text/plain", token, ""},
		{"JSON without the token", "application/json", "", ""},
		{"JSON with a wrong token", "application/json", "0000", ""},
		{"foreign origin with the token", "application/json", token, "http://attacker.example"},
	} {
		for _, path := range []string{"/click", "/control/send"} {
			body := click
			if path == "/control/send" {
				body = ev
			}
			if code := post(path, tc.ctype, tc.token, tc.origin, body); code < 400 {
				t.Fatalf("%s to %s: %d", tc.name, path, code)
			}
		}
	}
	if rec, _ := e.Ledger.Get(ctx, review.FindingID()); rec.Status != ledger.Notified {
		t.Fatalf("a refused click changed the finding: %s", rec.Status)
	}
	if _, err := e.Ledger.Get(ctx, "00000000000000000000000000000005"); err == nil {
		t.Fatal("a refused send injected a finding")
	}
	// The page carries the token; the page's own request, and local send's, get through.
	resp, err := http.Get(e.PageURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), token) {
		t.Fatal("the page does not carry the token")
	}
	if code := post("/control/send", "application/json", token, "", ev); code != http.StatusOK {
		t.Fatalf("send with the token: %d", code)
	}
	if code := post("/click", "application/json", token, e.PageURL, click); code != http.StatusOK {
		t.Fatalf("the page's click: %d", code)
	}
	if _, err := e.WaitStatus(ctx, review.FindingID(), ledger.Quarantined, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
