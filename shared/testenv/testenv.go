// Package testenv owns starting the real servers the tests run against (dynalite, versitygw) on
// 127.0.0.1, from the pinned tools `make tools` installs into .tools/. A missing tool fails the
// test with the command that installs it; nothing is ever skipped.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RepoRoot is the directory holding go.work.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.work above %s: run the tests from inside the repository", dir)
		}
	}
}

// ToolsDir is where `make tools` installs: $MACIE_CHATOPS_TOOLS or <repo>/.tools.
func ToolsDir(t testing.TB) string {
	if d := os.Getenv("MACIE_CHATOPS_TOOLS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), ".tools")
}

// Tool returns the path of an installed tool file, or fails the test saying how to install it.
func Tool(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(ToolsDir(t), rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (%v): run `make tools` in %s", rel, err, RepoRoot(t))
	}
	return p
}

// FreePort returns a port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Server is a started process listening on 127.0.0.1.
type Server struct {
	Endpoint string
	cmd      *exec.Cmd
	logMu    sync.Mutex
	log      strings.Builder
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Start runs a server command and waits until its port accepts connections. The process is
// killed when the test ends.
func Start(t testing.TB, name string, port int, cmdPath string, args ...string) *Server {
	t.Helper()
	return StartEnv(t, name, port, nil, cmdPath, args...)
}

// StartEnv is Start with an explicit environment (nil = inherit).
func StartEnv(t testing.TB, name string, port int, env []string, cmdPath string, args ...string) *Server {
	t.Helper()
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)}
	s.cmd = exec.Command(cmdPath, args...)
	s.cmd.Env = env
	pr, pw := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.logMu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.logMu.Unlock()
		}
	}()
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s (%s): %v", name, cmdPath, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("%s exited before listening: %v\n%s", name, err, s.Log())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not listen on port %d within 30s:\n%s", name, port, s.Log())
	return nil
}

// Dynalite starts an in-memory dynalite (the pinned npm package) and returns its endpoint.
func Dynalite(t testing.TB) *Server {
	t.Helper()
	cli := Tool(t, "node/node_modules/dynalite/cli.js")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: install Node.js 20 (apt-get install nodejs) and run `make tools`")
	}
	port := FreePort(t)
	return Start(t, "dynalite", port, node, cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
}

// Context is a test context that ends with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// S3 is a running versitygw with its root credentials.
type S3 struct {
	*Server
	AccessKey, SecretKey string
	Root                 string
}

// VersityGW starts the pinned versitygw with the posix backend and a versioning directory, so
// versioned buckets behave as on S3. Data lives in the test's temp dir.
func VersityGW(t testing.TB, extraArgs ...string) *S3 {
	t.Helper()
	bin := Tool(t, "bin/versitygw")
	dir := t.TempDir()
	root, vers := filepath.Join(dir, "data"), filepath.Join(dir, "versions")
	for _, d := range []string{root, vers} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := FreePort(t)
	s := &S3{AccessKey: "rootaccess", SecretKey: "rootsecret-local-only", Root: root}
	args := append([]string{"--access", s.AccessKey, "--secret", s.SecretKey, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet"}, extraArgs...)
	args = append(args, "posix", "--versioning-dir", vers, root)
	s.Server = Start(t, "versitygw", port, bin, args...)
	return s
}
