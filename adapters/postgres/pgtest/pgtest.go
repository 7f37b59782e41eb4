// Package pgtest gives tests a PostgreSQL database of their own: URL creates a schema with a
// random name in the test database and returns a connection URL that selects it (search_path),
// and drops the schema when the test ends. Any package's tests may use it (adapters/postgres's,
// cmd/pollen's end-to-end tests).
//
// The database is POLLEN_TEST_POSTGRES's, by default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. When it cannot be reached the test is
// skipped, unless POLLEN_POSTGRES_TESTS=require (CI sets it), where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the test database when POLLEN_TEST_POSTGRES is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL is the test database's URL: POLLEN_TEST_POSTGRES, or DefaultURL.
func BaseURL() string {
	if u := os.Getenv("POLLEN_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultURL
}

// Required reports whether PostgreSQL tests must run (POLLEN_POSTGRES_TESTS=require): fail, not
// skip, when the database cannot be reached.
func Required() bool { return os.Getenv("POLLEN_POSTGRES_TESTS") == "require" }

// URL creates a fresh schema in the test database, and returns a URL of that database whose
// search_path is the schema: what Open creates lands there. The schema is dropped, with all it
// holds, when the test and its cleanups registered after this call have finished.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if Required() {
			t.Fatalf("pgtest: PostgreSQL at POLLEN_TEST_POSTGRES (or %s) is required (POLLEN_POSTGRES_TESTS=require) but cannot be reached: %v", DefaultURL, err)
		}
		t.Skipf("pgtest: PostgreSQL cannot be reached (%v); set POLLEN_TEST_POSTGRES, or POLLEN_POSTGRES_TESTS=require to fail instead", err)
	}
	defer conn.Close(context.Background())
	schema := NewSchemaName()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() { drop(t, base, schema) })
	return WithSearchPath(base, schema)
}

// NewSchemaName returns a fresh schema name: pollen_test_ and 16 random hex digits.
func NewSchemaName() string {
	var b [8]byte
	rand.Read(b[:])
	return "pollen_test_" + hex.EncodeToString(b[:])
}

// WithSearchPath returns base, a postgres:// URL or a keyword/value connection string, with its
// search_path set to schema (pgx sends parameters it does not know itself as run-time
// parameters).
func WithSearchPath(base, schema string) string {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		if u, err := url.Parse(base); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return base + " search_path=" + schema
}

func drop(t testing.TB, base, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
	}
}
