package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
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
