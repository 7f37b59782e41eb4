package rig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var built struct {
	once sync.Once
	dir  string
	err  error
}

// BuildPollen builds the pollen binary once per test binary (without -race: it is the real
// program under test, run as a child process) and returns its path. Without the go tool on PATH
// the test is skipped.
func BuildPollen(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the pollen binary")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "pollen-bin-")
		if built.err != nil {
			return
		}
		out, err := exec.Command(goBin, "build", "-o", filepath.Join(built.dir, "pollen"), "github.com/pollen-hq/pollen/cmd/pollen").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return filepath.Join(built.dir, "pollen")
}

// RemoveBuilt removes what BuildPollen built. Call it from TestMain after m.Run.
func RemoveBuilt() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
