package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/cmd/internal/server"
)

// GET /definitions says a file is loaded only once the runtime serves it, so that a client that
// sees "loaded" and at once adds the resource to an instance (as TestHotReload does) is never
// told that the resource does not exist. The registry used to publish a reloaded file's state
// before the runtime had swapped in the catalog that holds it.
func TestDefinitionsLoadedMeansServed(t *testing.T) {
	dir := t.TempDir()
	srv := rig.Start(t, server.Config{DefinitionsDir: dir})
	src, err := os.ReadFile("../../definitions/freshdeskv2/resources/incidents.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		name := fmt.Sprintf("copy%02d", i)
		rig.WriteFile(t, filepath.Join(dir, "freshdeskv2", "resources", name+".json"),
			strings.Replace(string(src), "/hubs/helpdesk/incidents?", "/hubs/helpdesk/"+name+"?", 1))
		// Asked back to back (each answer is a round trip), to see "loaded" as early as possible.
		deadline := time.Now().Add(rig.Patience)
		for definitionState(srv.API, "/"+name+".json") != "loaded" {
			if time.Now().After(deadline) {
				t.Fatalf("%s.json never loaded", name)
			}
		}
		el, _ := srv.Runtime().Catalog().Element("freshdeskv2")
		if _, ok := el.Resources[name]; !ok {
			t.Fatalf("GET /definitions says %s.json is loaded, but the runtime's catalog has no %s (iteration %d)", name, name, i)
		}
	}
}
