package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/engine"
)

// TestMigrateCommand: pollen migrate prints what it copied, and exits non-zero naming the
// problem when the flags are missing, the source has no database, or the target is not empty.
func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(filepath.Join(dir, server.DBFile), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := &engine.InstanceRecord{Name: "one", ElementKey: "freshdeskv2", UserID: 1, OrganizationID: 1, Configuration: map[string]any{"username": "k"}}
	if err := s.CreateInstance(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	s.Close()
	url := pgtest.URL(t)

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runMigrate(context.Background(), args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, _, stderr := run("--from", dir); code != cli.ExitUsage || !strings.Contains(stderr, "--to") {
		t.Errorf("without --to: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run("--from", t.TempDir(), "--to", url); code != cli.ExitFail || !strings.Contains(stderr, "no database") {
		t.Errorf("an empty directory: exit %d, %q", code, stderr)
	}
	code, stdout, stderr := run("--from", dir, "--to", url)
	if code != cli.ExitOK || !strings.Contains(stdout, "instances") {
		t.Fatalf("the copy: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("pollen migrate printed:\n%s", stdout)
	if code, _, stderr := run("--from", dir, "--to", url); code != cli.ExitFail || !strings.Contains(stderr, "not empty") || !strings.Contains(stderr, "--replace") {
		t.Errorf("again into the same target: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run("--from", dir, "--to", url, "--replace"); code != cli.ExitOK {
		t.Errorf("again with --replace: exit %d, %q", code, stderr)
	}
}

// TestMigrateThenServe: an installation served from SQLite, stopped with a notification its
// receiver has not taken yet, copied by pollen migrate and served again from PostgreSQL on the
// same data directory (its key, its admin secrets): the instance polls on from its cursor, the
// pending notification is delivered, and nothing is delivered twice.
func TestMigrateThenServe(t *testing.T) {
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	desk := w.Desk
	var requester map[string]any
	desk.InThePast(func() {
		requester = desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})
	})
	dir := t.TempDir()
	args := []string{"--retry-schedule", "500ms,500ms,500ms,500ms,500ms"}
	p := rig.StartProcess(t, rig.ProcessOptions{DataDir: dir, Args: args})
	id := w.CreateInstance(p.API, nil)
	first := desk.CreateTicket(map[string]any{"subject": "before", "requester_id": requester["id"]})
	w.WaitFor(p.API, id, "CREATED incidents "+idOf(first))

	// A change found while the receiver is down: its notification waits in the outbox.
	w.Recv.SetDown(true)
	second := desk.CreateTicket(map[string]any{"subject": "while down", "requester_id": requester["id"]})
	p.API.Polled(id, time.Now())
	rig.Until(t, "a delivery attempt refused", func() bool { return w.Recv.Refusals() > 0 })
	p.Stop()

	url := pgtest.URL(t)
	var out, errOut bytes.Buffer
	if code := runMigrate(context.Background(), []string{"--from", dir, "--to", url}, &out, &errOut); code != cli.ExitOK {
		t.Fatalf("pollen migrate: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	w.Recv.SetDown(false)
	q := rig.StartProcess(t, rig.ProcessOptions{DataDir: dir, Args: append([]string{"--store", url}, args...)})
	third := desk.CreateTicket(map[string]any{"subject": "after", "requester_id": requester["id"]})
	want := []string{"CREATED incidents " + idOf(first), "CREATED incidents " + idOf(second), "CREATED incidents " + idOf(third)}
	w.WaitFor(q.API, id, want...)
	w.Recv.ExpectExactly(t, want...)
}
