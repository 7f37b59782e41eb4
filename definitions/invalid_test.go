package definitions_test

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine/enginetest"
)

var update = flag.Bool("update", false, "rewrite expected.txt files")

// TestInvalid runs every case in testdata/invalid: definition files and instance bodies with
// planted faults; the problems found must be exactly those in the case's expected.txt, one
// FILE: /pointer: message per line, with FILE relative to the case folder, followed by the files
// not checked because a definition they depend on does not load (FILE: not checked: why). Add a
// case by adding a folder; run with -update to write expected.txt, then read it.
func TestInvalid(t *testing.T) {
	dirs, _ := filepath.Glob("../testdata/invalid/*")
	if len(dirs) == 0 {
		t.Fatal("no cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, probs := definitions.Validate(dir)
			if len(files) == 0 {
				t.Fatal("case has no files")
			}
			if len(probs) == 0 {
				t.Fatal("no problems found")
			}
			rel := func(name string) string {
				if r, err := filepath.Rel(dir, name); err == nil {
					return filepath.ToSlash(r)
				}
				return name
			}
			var lines []string
			for _, p := range probs {
				p.File = rel(p.File)
				lines = append(lines, p.Error())
			}
			for _, f := range files {
				if f.NotChecked != "" {
					lines = append(lines, rel(f.Name)+": not checked: "+strings.ReplaceAll(f.NotChecked, filepath.ToSlash(dir)+"/", ""))
				}
			}
			got := strings.Join(lines, "\n") + "\n"
			enginetest.Golden(t, filepath.Join(dir, "expected.txt"), got, *update)
		})
	}
}

// TestShippedDefinitionsValid checks that the embedded definitions and the files in the
// repository's definitions folder load without a problem.
func TestShippedDefinitionsValid(t *testing.T) {
	cat, probs := definitions.Compile(definitions.Builtin())
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	el, ok := cat.Element("freshdeskv2")
	if !ok || el.ID != 491 || el.Hub != "helpdesk" || el.Name != "Freshdesk V2" {
		t.Fatalf("freshdeskv2 element: %+v", el)
	}
	for _, r := range []string{"incidents", "contacts"} {
		if _, ok := el.Resources[r]; !ok {
			t.Errorf("resource %s missing", r)
		}
	}
	if _, probs := definitions.Validate("."); len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
}

// A broken file named by overlapping paths is read, and reported, once.
func TestOverlappingPathsReportOnce(t *testing.T) {
	files, probs := definitions.Validate("../testdata/invalid/malformed-json", "../testdata/invalid/malformed-json/freshdeskv2",
		"../testdata/invalid/malformed-json/freshdeskv2/resources/groups.json")
	if len(files) != 1 || len(probs) != 1 {
		t.Errorf("%d files, problems:\n%s", len(files), definitions.Describe(probs))
	}
}
