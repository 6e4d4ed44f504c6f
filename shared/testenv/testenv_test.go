package testenv

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder captures a Fatalf instead of failing the real test.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func TestMissingToolFailsLoudlyWithInstallCommand(t *testing.T) {
	t.Setenv("MACIE_CHATOPS_TOOLS", t.TempDir())
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != r {
				t.Fatalf("Tool did not fail the test: %v", v)
			}
		}()
		Tool(r, "node/node_modules/dynalite/cli.js")
	}()
	if !strings.Contains(r.msg, "make tools") || !strings.Contains(r.msg, "dynalite") {
		t.Fatalf("message %q does not name the tool and `make tools`", r.msg)
	}
}

func TestMissingMotoFailsLoudlyWithInstallCommand(t *testing.T) {
	// A python3 that cannot import moto.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'moto'\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != r {
				t.Fatalf("Moto did not fail the test: %v", v)
			}
		}()
		Moto(r)
	}()
	if !strings.Contains(r.msg, "moto") || !strings.Contains(r.msg, "pip install") || !strings.Contains(r.msg, "make tools") {
		t.Fatalf("message %q does not say how to install moto", r.msg)
	}
}

func TestMotoAnswersS3(t *testing.T) {
	m := Moto(t)
	resp, err := http.Get(m.Endpoint + "/moto-api/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("moto answered %d", resp.StatusCode)
	}
}
