package testenv

import (
	"fmt"
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
