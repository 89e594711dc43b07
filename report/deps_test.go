package report

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// kernelImports are packages the pure report must not depend on: the
// firewall backends (enforce, and the netlink and x/sys they link). A path
// ending in "/" stands for its whole tree.
var kernelImports = []string{"github.com/natp2p/natp2p/enforce", "github.com/mdlayher/netlink/", "golang.org/x/sys/"}

// knownKernelImports are the dependencies on kernelImports report still
// has, through probe (whose Report it reads), as "importer imported":
// probe sets SO_REUSEPORT for its TCP tests, and stun reads getrandom(2)
// to keep crypto/rand out of the agent. A test fails when one is gone, so
// that the list only shrinks.
var knownKernelImports = map[string]bool{
	"github.com/natp2p/natp2p/probe golang.org/x/sys/unix":      true,
	"github.com/natp2p/natp2p/probe/stun golang.org/x/sys/unix": true,
}

// TestReportIsPure fails when report, as linked into the agent, comes to
// depend on a kernel package, naming the package that imports it.
func TestReportIsPure(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	list := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", ".")
	list.Env = append(os.Environ(), "GOOS=linux") // the router's: the same answer on any laptop
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		for _, imp := range strings.Fields(imports) {
			edge := pkg + " " + imp
			switch {
			case knownKernelImports[edge]:
				seen[edge] = true
			case isKernelImport(imp):
				t.Errorf("report depends on %s through %s", imp, pkg)
			}
		}
	}
	for edge := range knownKernelImports {
		if !seen[edge] {
			t.Errorf("%q is gone: drop it from knownKernelImports", edge)
		}
	}
}

func isKernelImport(path string) bool {
	for _, k := range kernelImports {
		if path == strings.TrimSuffix(k, "/") || strings.HasSuffix(k, "/") && strings.HasPrefix(path, k) {
			return true
		}
	}
	return false
}
