// Package testenv owns starting the real servers the tests run against (dynalite, versitygw, moto) on
// 127.0.0.1, from the pinned tools `make tools` installs into .tools/. A missing tool fails the
// test with the command that installs it; nothing is ever skipped. It also owns what tests put
// around those servers: FaultProxy (S3 calls failed on purpose), RecordingSTS, EachServerWith.
package testenv

import (
	"context"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/localsrv"
)

// RepoRoot is the directory holding go.work.
func RepoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := localsrv.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Tool returns the path of an installed tool file, or fails the test saying how to install it.
func Tool(t testing.TB, rel string) string {
	t.Helper()
	p, err := localsrv.Tool(rel)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// FreePort returns a port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := localsrv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreePorts returns n distinct ports that were free on 127.0.0.1 a moment ago, for a server
// that needs more than one.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ps, err := localsrv.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// Server is a started process, stopped when the test ends.
type Server = localsrv.Proc

func started(t testing.TB, p *localsrv.Proc, err error) *Server {
	t.Helper()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Start runs a server command and waits until its port accepts connections.
func Start(t testing.TB, name string, port int, cmdPath string, args ...string) *Server {
	t.Helper()
	p, err := localsrv.Start(name, port, nil, cmdPath, args...)
	return started(t, p, err)
}

// StartEnv is Start with an explicit environment (nil = inherit).
func StartEnv(t testing.TB, name string, port int, env []string, cmdPath string, args ...string) *Server {
	t.Helper()
	p, err := localsrv.Start(name, port, env, cmdPath, args...)
	return started(t, p, err)
}

// Dynalite starts an in-memory dynalite (the pinned npm package).
func Dynalite(t testing.TB) *Server {
	t.Helper()
	p, err := localsrv.Dynalite()
	return started(t, p, err)
}

// Moto starts moto's server mode (S3 with KMS and Object Lock, STS, DynamoDB, SQS, in memory) on
// 127.0.0.1 from the machine's python3. A python3 without moto fails the test with how to
// install it. Any access key works on moto; MotoCredentials are the ones the tests use.
func Moto(t testing.TB) *Server {
	t.Helper()
	p, err := localsrv.Moto()
	return started(t, p, err)
}

// SharedMoto is one moto per test binary, its state reset (POST /moto-api/reset) on every call,
// for packages with many tests: moto takes seconds to start on a loaded machine. Tests using it
// must not run in parallel with each other, and the package's TestMain must call StopSharedMoto
// after m.Run (moto runs in its own process group and would outlive the test binary).
func SharedMoto(t testing.TB) *Server {
	t.Helper()
	sharedMoto.once.Do(func() { sharedMoto.p, sharedMoto.err = localsrv.Moto() })
	if sharedMoto.err != nil {
		t.Fatalf("%v", sharedMoto.err)
	}
	resp, err := http.Post(sharedMoto.p.Endpoint+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("reset moto at %s: %v", sharedMoto.p.Endpoint, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset moto at %s: HTTP %d", sharedMoto.p.Endpoint, resp.StatusCode)
	}
	return sharedMoto.p
}

// StopSharedMoto stops the moto SharedMoto started, if any.
func StopSharedMoto() {
	if sharedMoto.p != nil {
		sharedMoto.p.Stop()
	}
}

var sharedMoto struct {
	once sync.Once
	p    *localsrv.Proc
	err  error
}

// MotoAccount is the account moto puts everything created with MotoCredentials in.
const MotoAccount = "123456789012"

// MotoCredentials are the static credentials the tests use on moto.
var MotoCredentials = struct{ AccessKey, SecretKey string }{"testing", "testing"}

// S3 is a running versitygw with its root credentials.
type S3 = localsrv.S3

// VersityGW starts the pinned versitygw with the posix backend and a versioning directory, so
// versioned buckets behave as on S3. Data lives in the test's temp dir.
func VersityGW(t testing.TB) *S3 {
	t.Helper()
	s, err := localsrv.VersityGW(t.TempDir(), "rootaccess", "rootsecret-local-only", false)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Context is a test context that ends with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// EachServerWith runs f, as a subtest, on every server that has what a test needs (has says
// which), and only there: a server without it gets no subtest (nothing to skip), and the test
// logs the servers it left out. A need no server meets fails the test, so it can never pass by
// running nothing. what names the need in those messages ("the ReplicationConfiguration APIs").
func EachServerWith[E any](t *testing.T, servers []string, has func(server string) bool, what string, newEnv func(t testing.TB, server string) E, f func(t *testing.T, e E)) {
	t.Helper()
	ran := 0
	for _, name := range servers {
		if !has(name) {
			t.Logf("%s: not run on %s, which does not have %s", t.Name(), name, what)
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) { f(t, newEnv(t, name)) })
	}
	if ran == 0 {
		t.Fatalf("no test server has %s", what)
	}
}
