package definitions

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/engine"
)

// groupsJSON is incidents.json copied, renamed "teams" and pointed at another vendor path, as a
// user would.
func groupsJSON(t testing.TB, vendorPath string) string {
	t.Helper()
	b, err := os.ReadFile("freshdeskv2/resources/incidents.json")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"/api/v2/tickets"`, fmt.Sprintf("%q", vendorPath), 1)
	return strings.Replace(s, "/hubs/helpdesk/incidents", "/hubs/helpdesk/teams", 1)
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func resource(cat *engine.Catalog, el, name string) *engine.Resource {
	e, ok := cat.Element(el)
	if !ok {
		return nil
	}
	return e.Resources[name]
}

func statusOf(g *Registry, suffix string) FileStatus {
	for _, st := range g.Status() {
		if strings.HasSuffix(st.File, suffix) {
			return st
		}
	}
	return FileStatus{}
}

func TestRegistryLifecycle(t *testing.T) {
	dir := t.TempDir()
	g := NewRegistry(RegistryOptions{Dir: dir})
	cat := g.Reload()
	if resource(cat, "freshdeskv2", "incidents") == nil || resource(cat, "freshdeskv2", "teams") != nil {
		t.Fatal("built-ins only expected")
	}

	// Added.
	path := filepath.Join(dir, "freshdeskv2", "resources", "teams.json")
	writeFile(t, path, groupsJSON(t, "/api/v2/groups"))
	cat = g.Reload()
	first := resource(cat, "freshdeskv2", "teams")
	if first == nil || first.VendorPath != "/api/v2/groups" {
		t.Fatalf("groups not added: %+v", first)
	}
	if st := statusOf(g, "teams.json"); st.State != "loaded" || st.LoadedAt.IsZero() {
		t.Fatalf("status %+v", st)
	}
	// Unchanged: the very same compiled resource is served (nothing recompiled, jobs untouched).
	if again := resource(g.Reload(), "freshdeskv2", "teams"); again != first {
		t.Fatal("an unchanged file was compiled again")
	}

	// Broken: the last good version keeps serving, and the problem names file and pointer.
	for _, garbage := range []string{`{"vendorPath": `, `{"vendorPath": "/x", "polling": {"url": "/hubs/helpdesk/teams", "idField": "id", "datesConfiguration": {"updatedDateField": "u", "updatedDateFormat": "yyyy-qq"}}}`} {
		writeFile(t, path, garbage)
		cat = g.Reload()
		if r := resource(cat, "freshdeskv2", "teams"); r != first {
			t.Fatalf("broken file: served %v, want the last good version", r)
		}
		st := statusOf(g, "teams.json")
		if st.State != "failed" || len(st.Problems) == 0 || !strings.Contains(st.Serving, "last good") {
			t.Fatalf("status %+v", st)
		}
		if p := st.Problems[0]; p.File != path {
			t.Errorf("problem names %q, want %q", p.File, path)
		}
	}

	// Fixed, with a change: the new version serves and the error is cleared.
	writeFile(t, path, groupsJSON(t, "/api/v2/groups?v=2"))
	cat = g.Reload()
	if r := resource(cat, "freshdeskv2", "teams"); r == nil || r == first || r.VendorPath != "/api/v2/groups?v=2" {
		t.Fatalf("fixed file not served: %+v", r)
	}
	if st := statusOf(g, "teams.json"); st.State != "loaded" || len(st.Problems) != 0 {
		t.Fatalf("status %+v", st)
	}

	// Removed: gone (no built-in groups).
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if r := resource(g.Reload(), "freshdeskv2", "teams"); r != nil {
		t.Fatal("removed resource still served")
	}
}

func TestRegistryOverrideFallsBackToBuiltin(t *testing.T) {
	dir := t.TempDir()
	g := NewRegistry(RegistryOptions{Dir: dir})
	builtin := resource(g.Reload(), "freshdeskv2", "contacts")
	path := filepath.Join(dir, "freshdeskv2", "resources", "contacts.json")

	// A broken override that never loaded: the built-in keeps serving.
	writeFile(t, path, `not json`)
	if r := resource(g.Reload(), "freshdeskv2", "contacts"); r == nil || r.Digest != builtin.Digest {
		t.Fatal("built-in contacts not serving under a broken override")
	}
	if st := statusOf(g, "builtin:freshdeskv2/resources/contacts.json"); st.State != "loaded" {
		t.Errorf("built-in status %+v", st)
	}
	// A good override replaces it; removing the override brings the built-in back.
	b, _ := os.ReadFile("freshdeskv2/resources/contacts.json")
	writeFile(t, path, strings.Replace(string(b), `"createdCheckTolerance": 5`, `"createdCheckTolerance": 9`, 1))
	if r := resource(g.Reload(), "freshdeskv2", "contacts"); r == nil || r.Digest == builtin.Digest {
		t.Fatal("override not serving")
	}
	if st := statusOf(g, "builtin:freshdeskv2/resources/contacts.json"); st.State != "overridden" {
		t.Errorf("built-in status %+v", st)
	}
	os.Remove(path)
	if r := resource(g.Reload(), "freshdeskv2", "contacts"); r == nil || r.Digest != builtin.Digest {
		t.Fatal("built-in not back after the override was removed")
	}
}

func TestRegistryNewElementFolder(t *testing.T) {
	dir := t.TempDir()
	g := NewRegistry(RegistryOptions{Dir: dir})
	g.Reload()
	src := "../testdata/golden/nested-id-epoch/definitions/acmedesk"
	for _, f := range []string{"element.json", "resources/incidents.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "acmedesk", f), string(b))
	}
	if r := resource(g.Reload(), "acmedesk", "incidents"); r == nil {
		t.Fatal("new element not loaded")
	}
	// Breaking the element keeps its last good version and its resources.
	writeFile(t, filepath.Join(dir, "acmedesk", "element.json"), `{"key": "acmedesk"}`)
	if r := resource(g.Reload(), "acmedesk", "incidents"); r == nil {
		t.Fatal("a broken element file took its resources down")
	}
}

// BenchmarkReload1000 reloads a folder of 1,000 resource files: cold (everything compiled) and
// warm (one file changed).
func BenchmarkReload1000(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		name := fmt.Sprintf("res%04d", i)
		s := groupsJSON(b, "/api/v2/"+name)
		s = strings.Replace(s, "/hubs/helpdesk/teams", "/hubs/helpdesk/"+name, 1)
		writeFile(b, filepath.Join(dir, "freshdeskv2", "resources", name+".json"), s)
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			g := NewRegistry(RegistryOptions{Dir: dir})
			if el, _ := g.Reload().Element("freshdeskv2"); len(el.Resources) != 1005 {
				b.Fatalf("%d resources", len(el.Resources))
			}
		}
	})
	b.Run("one-changed", func(b *testing.B) {
		g := NewRegistry(RegistryOptions{Dir: dir})
		g.Reload()
		path := filepath.Join(dir, "freshdeskv2", "resources", "res0000.json")
		base := groupsJSON(b, "/api/v2/res0000")
		base = strings.Replace(base, "/hubs/helpdesk/teams", "/hubs/helpdesk/res0000", 1)
		i := 0
		for b.Loop() {
			i++
			writeFile(b, path, strings.Replace(base, `"pageSize": 100`, fmt.Sprintf(`"pageSize": %d`, 1+i%100), 1))
			g.Reload()
		}
	})
}
