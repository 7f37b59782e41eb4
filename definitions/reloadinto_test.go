package definitions

import (
	"path/filepath"
	"testing"

	"github.com/pollen-hq/pollen/engine"
)

// ReloadInto hands the catalog to apply before Status or Catalog can show the new state: while
// apply runs, they wait; once ReloadInto returns, they show what apply was given.
func TestReloadIntoAppliesBeforeStatus(t *testing.T) {
	dir := t.TempDir()
	g := NewRegistry(RegistryOptions{Dir: dir})
	g.Reload()
	writeFile(t, filepath.Join(dir, "freshdeskv2", "resources", "teams.json"), groupsJSON(t, "/api/v2/teams"))
	var applied *engine.Catalog
	got := g.ReloadInto(func(cat *engine.Catalog) {
		applied = cat
		// Status and Catalog take this lock: a reader cannot see the new state before apply ends.
		if g.mu.TryLock() {
			g.mu.Unlock()
			t.Error("the registry is not locked while apply runs")
		}
	})
	if applied == nil || applied != got || g.Catalog() != got || resource(got, "freshdeskv2", "teams") == nil {
		t.Fatalf("apply got %p, ReloadInto returned %p, Catalog %p", applied, got, g.Catalog())
	}
	if st := statusOf(g, "teams.json"); st.State != "loaded" {
		t.Errorf("teams.json: %+v", st)
	}
}
