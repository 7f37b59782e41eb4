// Package adapters_test checks the import rules of CONTRIBUTING.md over the whole module, so that
// CI keeps them rather than habit:
//
//   - engine, and every package under it, imports nothing from adapters/ or cmd/ (its tests
//     included), and its non-test files do not import definitions/, but for engine/instances, the
//     instance service, which loads instance bodies through the one load path;
//   - an adapter's non-test files import no other adapter: adapters/X/... may import
//     adapters/X/... only (so the simulators under adapters/sim/ share their kernel), and nothing
//     from cmd/; tests may import another adapter, to run against the real thing;
//   - no non-test Go file under engine/ names a vendor, in code or comments. The vendors are the
//     elements the definitions ship, by key without a version suffix (freshdeskv2 -> freshdesk).
package adapters_test

import (
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/pollen-hq/pollen"

// pendingImports are adapter imports that break the rules today, kept only until the code that
// has them is rewritten; each is "from -> to" with module-relative package paths. An entry that
// no longer occurs fails the test, so the list only shrinks. Remove entries, never add them.
var pendingImports = []string{}

// goFile is one Go file of the module.
type goFile struct {
	pkg     string   // module-relative package path: "engine/javadate"
	name    string   // module-relative file path
	test    bool     // a _test.go file
	imports []string // module-relative paths of the module's packages it imports
	text    string   // the whole file
}

func TestBoundaries(t *testing.T) {
	files := moduleFiles(t, "..")
	pkgs := map[string]bool{}
	for _, f := range files {
		pkgs[f.pkg] = true
	}
	// The scan must see the module, or the rules would pass on nothing.
	for _, want := range []string{"engine", "engine/javadate", "definitions", "adapters/api", "adapters/sqlite", "cmd/pollen"} {
		if !pkgs[want] {
			t.Fatalf("the scan misses package %s; it found %v", want, slices.Sorted(maps.Keys(pkgs)))
		}
	}
	vendors := vendorNames(t, "../definitions")
	if !slices.Contains(vendors, "freshdesk") || !slices.Contains(vendors, "zendesk") {
		t.Fatalf("vendor names %v", vendors)
	}

	found := violations(files, vendors)
	seen := map[string]bool{}
	for _, v := range found {
		if slices.Contains(pendingImports, v.rule) {
			seen[v.rule] = true
			continue
		}
		t.Errorf("%s: %s", v.file, v.msg)
	}
	for _, p := range pendingImports {
		if !seen[p] {
			t.Errorf("pendingImports lists %q, which no longer occurs: remove it from the list", p)
		}
	}
}

// The rules themselves, on made-up files: each kind of violation is found, and what is allowed
// passes.
func TestBoundaryRules(t *testing.T) {
	files := []goFile{
		{pkg: "engine", name: "engine/a.go", imports: []string{"engine/javadate", "schemas"}},
		{pkg: "engine", name: "engine/b.go", imports: []string{"adapters/sqlite"}},
		{pkg: "engine/ceql", name: "engine/ceql/x_test.go", test: true, imports: []string{"adapters/webhook"}},
		{pkg: "engine", name: "engine/c.go", imports: []string{"definitions"}},
		{pkg: "engine", name: "engine/c_test.go", test: true, imports: []string{"definitions"}},
		{pkg: "engine", name: "engine/d.go", text: "// as Zendesk does"},
		{pkg: "engine", name: "engine/d_test.go", test: true, text: "zendesk fixture"},
		{pkg: "adapters/api", name: "adapters/api/a.go", imports: []string{"engine", "definitions", "adapters/sqlite"}},
		{pkg: "adapters/api", name: "adapters/api/a_test.go", test: true, imports: []string{"adapters/sqlite"}},
		{pkg: "adapters/sim/freshdesk", name: "adapters/sim/freshdesk/s.go", imports: []string{"adapters/sim/kernel"}},
		{pkg: "adapters/sim/freshdesk", name: "adapters/sim/freshdesk/t.go", imports: []string{"adapters/webhook"}},
		{pkg: "adapters/webhook", name: "adapters/webhook/w.go", imports: []string{"cmd/internal/rig"}},
		{pkg: "cmd/pollen", name: "cmd/pollen/main.go", imports: []string{"adapters/api", "adapters/sqlite"}},
	}
	var got []string
	for _, v := range violations(files, []string{"zendesk"}) {
		got = append(got, v.file+": "+v.rule)
	}
	want := []string{
		"engine/b.go: engine -> adapters/sqlite",
		"engine/ceql/x_test.go: engine/ceql -> adapters/webhook",
		"engine/c.go: engine -> definitions",
		"engine/d.go: engine names zendesk",
		"adapters/api/a.go: adapters/api -> adapters/sqlite",
		"adapters/sim/freshdesk/t.go: adapters/sim/freshdesk -> adapters/webhook",
		"adapters/webhook/w.go: adapters/webhook -> cmd/internal/rig",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// violation is one broken rule: rule is "from -> to" for an import, "pkg names vendor" otherwise.
type violation struct {
	file, rule, msg string
}

// violations applies the rules to files, in order.
func violations(files []goFile, vendors []string) []violation {
	var out []violation
	imports := func(f goFile, to, why string) {
		rule := f.pkg + " -> " + to
		out = append(out, violation{f.name, rule, fmt.Sprintf("imports %s: %s", to, why)})
	}
	for _, f := range files {
		switch {
		case under(f.pkg, "engine"):
			for _, imp := range f.imports {
				switch {
				case under(imp, "adapters"), under(imp, "cmd"):
					imports(f, imp, "engine never imports adapters or cmd; talk through the ports in engine/ports.go")
				case !f.test && under(imp, "definitions") && f.pkg != "engine/instances":
					imports(f, imp, "engine never imports definitions (its tests may)")
				}
			}
			if f.test {
				continue
			}
			lower := strings.ToLower(f.text)
			for _, v := range vendors {
				if strings.Contains(lower, v) {
					out = append(out, violation{f.name, f.pkg + " names " + v,
						fmt.Sprintf("names the vendor %q: the engine is generic; say it in the definitions, or add a general schema feature", v)})
				}
			}
		case under(f.pkg, "adapters") && !f.test:
			for _, imp := range f.imports {
				switch {
				case under(imp, "adapters") && adapterOf(imp) != adapterOf(f.pkg):
					imports(f, imp, "adapters never import each other (packages of one adapter, such as adapters/sim/..., may)")
				case under(imp, "cmd"):
					imports(f, imp, "adapters never import cmd")
				}
			}
		}
	}
	return out
}

// under reports whether module-relative package p is dir or below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// adapterOf returns the adapter a package belongs to: "adapters/sim" for adapters/sim/kernel.
func adapterOf(p string) string {
	parts := strings.SplitN(p, "/", 3)
	if len(parts) < 2 {
		return p
	}
	return parts[0] + "/" + parts[1]
}

// moduleFiles parses every Go file under root (the module), skipping testdata and dot-folders.
func moduleFiles(t *testing.T, root string) []goFile {
	t.Helper()
	var out []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		af, err := parser.ParseFile(fset, p, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		f := goFile{pkg: path.Dir(rel), name: rel, test: strings.HasSuffix(rel, "_test.go"), text: string(src)}
		for _, is := range af.Imports {
			imp, err := strconv.Unquote(is.Path.Value)
			if err != nil {
				return err
			}
			if ours, ok := strings.CutPrefix(imp, module+"/"); ok {
				f.imports = append(f.imports, ours)
			}
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var versionSuffix = regexp.MustCompile(`v[0-9]+$`)

// vendorNames returns the vendors the shipped definitions name, lower case: each element's key
// without a version suffix.
func vendorNames(t *testing.T, defs string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(defs, "*", "element.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no element definitions in %s: %v", defs, err)
	}
	set := map[string]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var el struct{ Key string }
		if err := json.Unmarshal(b, &el); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if n := strings.ToLower(versionSuffix.ReplaceAllString(el.Key, "")); len(n) >= 4 {
			set[n] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}
