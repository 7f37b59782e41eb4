package server

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/definitions"
)

// GET /readyz is wired to the store and the definitions: ready while the server runs, and not
// ready, naming the store, once the store is closed.
func TestReadiness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := New(ctx, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), UserSecret: "user-secret-0f3e-49ab-a8c1-5d72e6", OrgSecret: "org-secret-7b21-4c9d-9e05-a3f86b"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	resp, err := http.Get(srv.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ready"}` {
		t.Errorf("GET /readyz: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Run closed the store.
	if err := srv.Ready(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "store: ") {
		t.Errorf("closed store: %v", err)
	}

	// Definitions not loaded yet: a registry that has not been reloaded.
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "pollen.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := &Server{store: store, defs: definitions.NewRegistry(definitions.RegistryOptions{})}
	if err := s.Ready(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "definitions: ") {
		t.Errorf("no definitions: %v", err)
	}
	s.defs.Reload()
	if err := s.Ready(context.Background()); err != nil {
		t.Errorf("loaded: %v", err)
	}
}
