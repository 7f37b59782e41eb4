package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/server"
)

// GET /definitions says a file is loaded only once the runtime serves it, so that a client that
// sees "loaded" and at once adds the resource to an instance (as TestHotReload does) is never
// told that the resource does not exist. The registry used to publish a reloaded file's state
// before the runtime had swapped in the catalog that holds it.
func TestDefinitionsLoadedMeansServed(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), DefinitionsDir: dir,
		UserSecret: testUserSecret, OrgSecret: testOrgSecret, AllowPrivateNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	rs := &runningServer{Server: srv}
	src, err := os.ReadFile("../../definitions/freshdeskv2/resources/incidents.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		name := fmt.Sprintf("copy%02d", i)
		writeAtomically(t, filepath.Join(dir, "freshdeskv2", "resources", name+".json"),
			strings.Replace(string(src), "/hubs/helpdesk/incidents?", "/hubs/helpdesk/"+name+"?", 1))
		deadline := time.Now().Add(20 * time.Second)
		for definitionState(t, rs, "/"+name+".json") != "loaded" {
			if time.Now().After(deadline) {
				t.Fatalf("%s.json never loaded", name)
			}
			time.Sleep(time.Millisecond)
		}
		el, _ := srv.Runtime().Catalog().Element("freshdeskv2")
		if _, ok := el.Resources[name]; !ok {
			t.Fatalf("GET /definitions says %s.json is loaded, but the runtime's catalog has no %s (iteration %d)", name, name, i)
		}
	}
}
