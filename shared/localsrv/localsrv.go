// Package localsrv owns starting the real local servers (versitygw, dynalite, moto) from the pinned
// tools that `make tools` installs into .tools/, on 127.0.0.1 only. Tests (through testenv) and
// local mode use it alike.
package localsrv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrMissingTool says a pinned tool is not installed.
var ErrMissingTool = errors.New("not installed")

// RepoRoot is the directory holding go.work, above dir.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s: run from inside the macie-chatops repository", dir)
		}
	}
}

// ToolsDir is $MACIE_CHATOPS_TOOLS, or <repo>/.tools.
func ToolsDir() (string, error) {
	if d := os.Getenv("MACIE_CHATOPS_TOOLS"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := RepoRoot(wd)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".tools"), nil
}

// Tool is the path of an installed tool file, or an error naming the install command.
func Tool(rel string) (string, error) {
	dir, err := ToolsDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is %w at %s: run `make tools` in the repository", rel, ErrMissingTool, p)
	}
	return p, nil
}

// FreePort returns a port that was free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// FreePorts returns n distinct ports that were free on 127.0.0.1 a moment ago. All n stay
// bound until the last is chosen: asked one at a time, the kernel may hand out the port it
// just got back, and a server given the same port twice fails to start.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Proc is a started server process.
type Proc struct {
	Name     string
	Endpoint string
	cmd      *exec.Cmd
	exited   chan error
	mu       sync.Mutex
	log      strings.Builder
	grew     chan struct{} // closed (and replaced) when the log grows or ends
	logEnded bool
}

// Log is what the process printed so far.
func (p *Proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// capture appends what the process prints to its log, line by line, until r ends.
func (p *Proc) capture(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.log.WriteString(sc.Text() + "\n")
		close(p.grew)
		p.grew = make(chan struct{})
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.logEnded = true
	close(p.grew)
	p.grew = make(chan struct{})
	p.mu.Unlock()
}

// WaitLog waits until the process has printed a line matching re, and returns the match. The
// log is read by a goroutine, so a line the process printed before answering a request may not
// be in Log() yet when the answer arrives: wait for it instead of reading once.
func (p *Proc) WaitLog(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	for {
		p.mu.Lock()
		m, ended, grew := re.FindStringSubmatch(p.log.String()), p.logEnded, p.grew
		p.mu.Unlock()
		switch {
		case m != nil:
			return m, nil
		case ended:
			return nil, fmt.Errorf("%s ended without printing %q", p.Name, re)
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s has not printed %q: %w", p.Name, re, ctx.Err())
		}
	}
}

// Stop kills the process and waits for it.
func (p *Proc) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Start runs a command (env nil = inherit) and waits until port accepts connections.
func Start(name string, port int, env []string, path string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan error, 1), grew: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	// Its own process group: a Ctrl-C at the terminal stops local mode, which then stops the
	// server itself after its last reads (the final table), instead of the server dying first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	go p.capture(pr)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, path, err)
	}
	go func() { p.exited <- p.cmd.Wait(); pw.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			p.exited <- err
			return nil, fmt.Errorf("%s exited before listening: %v\n%s", name, err, p.Log())
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond); err == nil {
			c.Close()
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Stop()
	return nil, fmt.Errorf("%s did not listen on port %d within 30s:\n%s", name, port, p.Log())
}

// S3 is a running versitygw.
type S3 struct {
	*Proc
	AccessKey, SecretKey string
	// Admin is the admin API endpoint when the internal IAM service is on.
	Admin string
	bin   string
}

// VersityGW starts the pinned versitygw (posix backend, with a versioning directory so versioned
// buckets work) with data under dir. With iam, it also runs the internal IAM service and the
// admin API, so more accounts can be added with AddUser.
func VersityGW(dir, accessKey, secretKey string, iam bool) (*S3, error) {
	bin, err := Tool("bin/versitygw")
	if err != nil {
		return nil, err
	}
	root, vers := filepath.Join(dir, "data"), filepath.Join(dir, "versions")
	for _, d := range []string{root, vers} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	ports, err := FreePorts(2) // the S3 port and, with iam, the admin port
	if err != nil {
		return nil, err
	}
	port, ap := ports[0], ports[1]
	s := &S3{AccessKey: accessKey, SecretKey: secretKey, bin: bin}
	args := []string{"--access", accessKey, "--secret", secretKey, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet"}
	if iam {
		if err := os.MkdirAll(filepath.Join(dir, "iam"), 0o700); err != nil {
			return nil, err
		}
		s.Admin = fmt.Sprintf("http://127.0.0.1:%d", ap)
		args = append(args, "--iam-dir", filepath.Join(dir, "iam"), "--admin-port", fmt.Sprintf("127.0.0.1:%d", ap))
	}
	args = append(args, "posix", "--versioning-dir", vers, root)
	s.Proc, err = Start("versitygw", port, nil, bin, args...)
	return s, err
}

// AddUser creates an account on the gateway (role userplus: may create its own buckets).
func (s *S3) AddUser(ctx context.Context, access, secret string) error {
	if s.Admin == "" {
		return errors.New("versitygw was started without IAM")
	}
	cmd := exec.CommandContext(ctx, s.bin, "admin", "--access", s.AccessKey, "--secret", s.SecretKey, "--endpoint-url", s.Admin,
		"create-user", "--access", access, "--secret", secret, "--role", "userplus")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("create versitygw user %s: %v: %s", access, err, out)
	}
	return nil
}

// Dynalite starts the pinned in-memory dynalite.
func Dynalite() (*Proc, error) {
	cli, err := Tool("node/node_modules/dynalite/cli.js")
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node is not on PATH: install Node.js 20 (apt-get install nodejs), then run `make tools`")
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return Start("dynalite", port, nil, node, cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
}

// MotoVersion is the moto the tests are written against (preinstalled in the machine image's
// python3; `make tools` checks it).
const MotoVersion = "5.2.1"

// Moto starts moto's server mode (`python3 -m moto.server`) on 127.0.0.1: S3 with KMS, Object
// Lock and multipart, STS, DynamoDB and SQS, all in memory. It returns once moto answers HTTP,
// not only once its port accepts connections.
func Moto() (*Proc, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, errors.New("python3 is not on PATH: moto runs under python3; install python3 with moto " + MotoVersion + " (`pip install 'moto[server]==" + MotoVersion + "'`), then run `make tools` to check")
	}
	if out, err := exec.Command(py, "-c", "import moto, flask; print(moto.__version__)").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("moto is %w for %s (`python3 -c 'import moto'` failed: %v: %s): install it with `pip install 'moto[server]==%s'`, then run `make tools` to check",
			ErrMissingTool, py, err, strings.TrimSpace(string(out)), MotoVersion)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	// Objects up to 64 MiB stay in memory instead of spooling to temp files: the multipart tests
	// copy 6-12 MiB objects, and moto is several times slower on disk.
	env := append(os.Environ(), "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=67108864")
	p, err := Start("moto", port, env, py, "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err != nil {
		return nil, err
	}
	// The port opens before the WSGI app is importable on a loaded machine: wait for an answer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := httpGet(p.Endpoint + "/moto-api/")
		if err == nil && resp == 200 {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("moto on %s did not answer /moto-api/ within 30s (last: %d %v):\n%s", p.Endpoint, resp, err, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(url string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
