package cli

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/testenv"
)

// processesMentioning lists the pids whose command line contains s.
func processesMentioning(s string) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Issue 12 item 12: `make demo | tee log` stopped with Ctrl-C. tee is gone, so stdout is a broken
// pipe when local mode stops; the S3 server it started must be stopped all the same.
func TestCtrlCWithStdoutClosedStopsTheServers(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "macie-chatops")
	build := exec.Command("go", "build", "-o", bin, "./functions/cmd/macie-chatops")
	build.Dir = testenv.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	work, tmp := t.TempDir(), t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "local", "--port", "0", "--work", work)
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp) // its state file stays out of a real demo's way
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for _, pid := range processesMentioning(work) {
			syscall.Kill(pid, syscall.SIGKILL) // what the fix failed to stop
		}
	})
	sc := bufio.NewScanner(r)
	ready := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Ctrl-C stops everything") {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatal("local mode did not come up")
	}
	if len(processesMentioning(work)) == 0 {
		t.Fatal("no S3 server found for this run: the test cannot see what it checks")
	}
	r.Close() // tee is gone
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("local mode did not stop within 60 s of Ctrl-C")
	}
	if left := processesMentioning(work); len(left) != 0 {
		t.Fatalf("processes left running after Ctrl-C with a closed stdout: %v", left)
	}
}
