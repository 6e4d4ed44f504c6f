// Package testenv owns starting the real servers the tests run against (dynalite, versitygw) on
// 127.0.0.1, from the pinned tools `make tools` installs into .tools/. A missing tool fails the
// test with the command that installs it; nothing is ever skipped.
package testenv

import (
	"context"
	"os"
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
