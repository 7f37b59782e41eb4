package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/adapters/postgres"
	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/seal"
)

// TestPostgresStore: the real binary, pollen serve --store on a PostgreSQL schema of its own,
// against the simulated Freshdesk and a signature-checking receiver. Changes arrive signed;
// after a restart the cursors come back from PostgreSQL: changes made while it was down arrive,
// and nothing delivered before is delivered again. Nothing is kept in the data directory's SQLite
// file: it is never created.
func TestPostgresStore(t *testing.T) {
	url := pgtest.URL(t)
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	desk := w.Desk
	var old map[string]any
	desk.InThePast(func() {
		c := desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})
		old = desk.CreateTicket(map[string]any{"subject": "old", "requester_id": c["id"]})
	})
	dataDir := t.TempDir()
	p := rig.StartProcess(t, rig.ProcessOptions{DataDir: dataDir, Args: []string{"--store", url}})
	id := w.CreateInstance(p.API, nil)
	first := desk.CreateTicket(map[string]any{"subject": "before the restart", "requester_id": old["requester_id"]})
	w.WaitFor(p.API, id, "CREATED incidents "+idOf(first))
	p.Stop()

	// While Pollen is down.
	_, err := desk.UpdateTicket(old["id"].(int64), map[string]any{"status": 4})
	must(t, err)
	down := desk.CreateContact(map[string]any{"name": "Made While Down", "email": "down@example.com"})

	p.Start()
	want := []string{"CREATED incidents " + idOf(first), "UPDATED incidents " + idOf(old), "CREATED contacts " + idOf(down)}
	w.WaitFor(p.API, id, want...)
	w.Recv.ExpectExactly(t, want...)

	// The state is PostgreSQL's.
	entries, err := os.ReadDir(dataDir)
	must(t, err)
	for _, e := range entries {
		if matched, _ := filepath.Match("pollen.db*", e.Name()); matched {
			t.Errorf("the data directory holds %s: state went to SQLite", e.Name())
		}
	}
	conn, err := pgx.Connect(context.Background(), url)
	must(t, err)
	defer conn.Close(context.Background())
	var cursors, delivered int
	must(t, conn.QueryRow(context.Background(), `SELECT (SELECT COUNT(*) FROM cursors WHERE instance_id = $1),
		(SELECT COUNT(*) FROM notifications WHERE instance_id = $1 AND status = 'NOTIFIED')`, id).Scan(&cursors, &delivered))
	if cursors == 0 || delivered < 2 {
		t.Errorf("PostgreSQL holds %d cursors and %d delivered notifications of instance %d", cursors, delivered, id)
	}
}

// pollen users and pollen keys rotate work on the PostgreSQL store that --store names, as serve
// does, and leave the data directory's SQLite file alone.
func TestUsersAndKeysOnPostgres(t *testing.T) {
	ctx := context.Background()
	url, dir := pgtest.URL(t), t.TempDir()
	code, out, errOut := runCLI(t, "users", "create", "--store", url, "--data-dir", dir, "--org", "acme", "--email", "ops@acme.example", "--admin")
	if code != 0 || !strings.Contains(out, "User secret") {
		t.Fatalf("users create: %d\n%s%s", code, out, errOut)
	}
	t.Setenv("POLLEN_STORE", url)
	if code, out, errOut := runCLI(t, "users", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, "ops@acme.example") {
		t.Errorf("users list with POLLEN_STORE: %d\n%s%s", code, out, errOut)
	}

	keyFile := filepath.Join(dir, server.KeysFile)
	old := seal.GenerateKey()
	must(t, seal.WriteFile(keyFile, [][]byte{old}))
	k, err := seal.NewKeyring(postgres.SealPurpose, old)
	must(t, err)
	s, err := postgres.Open(ctx, url, postgres.Options{Sealer: k})
	must(t, err)
	in := &engine.InstanceRecord{Name: "a", ElementKey: "freshdeskv2", Configuration: map[string]any{"username": "api-key-1"}}
	must(t, s.CreateInstance(ctx, in))
	s.Close()
	if code, out, errOut := runCLI(t, "keys", "rotate", "--data-dir", dir, "--store", url); code != 0 || !strings.Contains(out, "1 instance configurations sealed") {
		t.Fatalf("keys rotate: %d\n%s%s", code, out, errOut)
	}
	keys, err := seal.ReadFile(keyFile)
	must(t, err)
	if len(keys) != 1 || bytes.Equal(keys[0], old) {
		t.Fatalf("the key file holds %d keys after the rotation, the old one among them: %v", len(keys), bytes.Equal(keys[0], old))
	}
	k, err = seal.NewKeyring(postgres.SealPurpose, keys...)
	must(t, err)
	s, err = postgres.Open(ctx, url, postgres.Options{Sealer: k})
	must(t, err)
	defer s.Close()
	if got, err := s.Instance(ctx, in.ID); err != nil || got.Configuration["username"] != "api-key-1" {
		t.Errorf("the instance under the new key alone: %+v %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, server.DBFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an SQLite file was made in the data directory: %v", err)
	}
}
