package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/seal"
)

func sealedStore(t *testing.T, path string, keys ...[]byte) *Store {
	t.Helper()
	k, err := seal.NewKeyring(SealPurpose, keys...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path, Options{Sealer: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tablesContain reports which of the store's tables hold b in clear: in a row's text, or in
// the bytes of a bytea column.
func tablesContain(t *testing.T, s *Store, b string) []string {
	t.Helper()
	var out []string
	for table, bytea := range map[string][]string{"instances": {"configuration"}, "cursors": nil,
		"events": {"record"}, "notifications": {"body"}, "attempts": nil, "organizations": nil, "users": nil} {
		cond := []string{"strpos(r::text, $1) > 0"}
		for _, col := range bytea {
			cond = append(cond, "position(convert_to($1, 'UTF8') in r."+col+") > 0")
		}
		var n int
		if err := s.pool.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table+` AS r WHERE `+strings.Join(cond, " OR "), b).
			Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out = append(out, table)
		}
	}
	return out
}

func TestConfigurationsSealedAtRest(t *testing.T) {
	path := pgtest.URL(t)
	k1, k2 := seal.GenerateKey(), seal.GenerateKey()
	s := sealedStore(t, path, k1)
	ctx := context.Background()
	const secret = "fd-API-key-SEALED-91c2"
	in := &engine.InstanceRecord{Name: "a", ElementKey: "freshdeskv2", Token: "t1", UserID: 1, OrganizationID: 1,
		Configuration: map[string]any{"username": secret, "event.notification.callback.url": "https://h.example.com/?token=cb-SEALED-77"}}
	if err := s.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Configuration["event.notification.signature.key"] = "sig-SEALED-55"
	if err := s.UpdateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instance(ctx, in.ID)
	if err != nil || got.Configuration["username"] != secret {
		t.Fatalf("read back: %v %v", got, err)
	}
	for _, sec := range []string{secret, "cb-SEALED-77", "sig-SEALED-55"} {
		if f := tablesContain(t, s, sec); len(f) > 0 {
			t.Errorf("%q in clear in %v", sec, f)
		}
	}
	s.Close()

	// Rotation: the new key first, the old one second; Reseal moves every value to the new key.
	s2 := sealedStore(t, path, k2, k1)
	if n, err := s2.Reseal(ctx); err != nil || n != 1 {
		t.Fatalf("Reseal: %d %v", n, err)
	}
	s2.Close()
	s3 := sealedStore(t, path, k2)
	if got, err := s3.Instance(ctx, in.ID); err != nil || got.Configuration["username"] != secret {
		t.Fatalf("read with the new key alone: %v %v", got, err)
	}
	s3.Close()
	k, _ := seal.NewKeyring(SealPurpose, k1)
	s4, err := Open(context.Background(), path, Options{Sealer: k})
	if err == nil {
		_, err = s4.Instance(ctx, in.ID)
		s4.Close()
	}
	if !errors.Is(err, seal.ErrUnknownKey) {
		t.Errorf("read with the old key alone: %v", err)
	}
}

func TestClearConfigurationsSealedAtOpen(t *testing.T) {
	path := pgtest.URL(t)
	s := openTest(t, path) // no key: stored in clear, as before sealing existed
	in := mkInstance(t, s, "legacy")
	if len(tablesContain(t, s, "secret-legacy")) == 0 {
		t.Fatal("the test's premise fails: the clear value is not in the table")
	}
	s.Close()
	s2 := sealedStore(t, path, seal.GenerateKey())
	if got, err := s2.Instance(context.Background(), in.ID); err != nil || got.Configuration["username"] != "secret-legacy" {
		t.Fatalf("read back: %v %v", got, err)
	}
	if f := tablesContain(t, s2, "secret-legacy"); len(f) > 0 {
		t.Errorf("clear value left in %v after sealing", f)
	}
}

// A database whose last run did not close it (a crash) opens with its write-ahead log replayed;
// without that log it is refused: opening would roll its latest changes back without a word. A
// clean close leaves nothing to check.

// A configuration sealed by the SQLite store opens in this one with the same keys: both seal
// for the same purpose, so that an installation moves from one to the other with its key.
func TestSealedBySQLiteOpensHere(t *testing.T) {
	ctx := context.Background()
	key := seal.GenerateKey()
	k, err := seal.NewKeyring(sqlite.SealPurpose, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pollen.db")
	lite, err := sqlite.Open(path, sqlite.Options{Sealer: k})
	if err != nil {
		t.Fatal(err)
	}
	in := &engine.InstanceRecord{Name: "moved", ElementKey: "freshdeskv2", Configuration: map[string]any{"username": "sealed-in-sqlite"}}
	if err := lite.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	lite.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var blob []byte
	if err := db.QueryRowContext(ctx, `SELECT configuration FROM instances WHERE id = ?`, in.ID).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("sealed-in-sqlite")) {
		t.Fatal("the test's premise fails: SQLite stored the configuration in clear")
	}

	s := sealedStore(t, pgtest.URL(t), key)
	var id int64
	if err := s.pool.QueryRow(ctx, `INSERT INTO instances (name, element_key, configuration) VALUES ('moved', 'freshdeskv2', $1) RETURNING id`, blob).
		Scan(&id); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instance(ctx, id)
	if err != nil || got.Configuration["username"] != "sealed-in-sqlite" {
		t.Errorf("the SQLite-sealed configuration in PostgreSQL: %+v, %v", got, err)
	}
	if SealPurpose != sqlite.SealPurpose {
		t.Errorf("SealPurpose %q, sqlite's %q", SealPurpose, sqlite.SealPurpose)
	}
}
