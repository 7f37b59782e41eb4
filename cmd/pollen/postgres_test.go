package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
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
