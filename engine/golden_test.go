package engine_test

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/pollen-hq/pollen/definitions/golden"
	"github.com/pollen-hq/pollen/engine/enginetest"
)

var update = flag.Bool("update", false, "rewrite the golden files' expected output")

// TestGolden runs every case in testdata/golden (definitions/golden describes a case): a
// definition, an instance configuration and recorded vendor pages, polled in order; the vendor
// queries, events and notifications must match expected.txt. Add a case by adding a folder, or by
// recording one (pollen try --record); run with -update to write its expected.txt, then read it.
func TestGolden(t *testing.T) {
	dirs, _ := filepath.Glob("../testdata/golden/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c, err := golden.Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Run()
			if err != nil {
				t.Fatal(err)
			}
			enginetest.Golden(t, filepath.Join(dir, golden.ExpectedFile), got, *update)
		})
	}
}
