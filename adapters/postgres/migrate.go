package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema's migrations: migrations/NNNN_name.sql, applied in the order of NNNN. Append only:
// never edit a migration that has shipped; add the next file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/.
type migration struct {
	version int
	name    string // the file's name
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads the embedded migrations, in version order. Versions start at 1 and
// follow each other without a gap, so that a file lost in a merge is found at once.
func loadMigrations(files fs.FS) ([]migration, error) {
	names, err := fs.Glob(files, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, p := range names {
		name := path.Base(p)
		m := migrationName.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("migrations/%s: not named NNNN_name.sql", name)
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	// The store's own migrations start at 1 and follow each other without a gap, so that a file
	// lost in a merge is found at once; those from clusterMigrations on (the cluster's tables,
	// leases.go) likewise form a series of their own.
	next := 1
	for _, m := range out {
		if m.version >= clusterMigrations && next < clusterMigrations {
			next = clusterMigrations
		}
		if m.version != next {
			return nil, fmt.Errorf("migrations/%s: version %d where %d was expected (versions start at 1, and at %d for the cluster's, without gaps or duplicates)", m.name, m.version, next, clusterMigrations)
		}
		next++
	}
	return out, nil
}

// clusterMigrations is the first version of the cluster's series of migrations.
const clusterMigrations = 100

// migrationLock is the key of the transaction-level advisory lock every migration takes,
// combined with the schema's name: nodes starting at once on one schema migrate one after the
// other; nodes (or tests) on different schemas do not wait for each other.
const migrationLock = "pollen schema migrations"

// migrate brings the schema (the connection's current_schema) to the latest version, one
// migration per transaction, each under pg_advisory_xact_lock and recorded in schema_migrations.
// A schema newer than this build knows is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool, ms []migration, log hclog.Logger) error {
	for _, m := range ms {
		applied, err := applyMigration(ctx, pool, m, ms[len(ms)-1].version)
		if err != nil {
			return err
		}
		if applied {
			log.Info("store schema migrated", "version", m.version, "migration", m.name)
		}
	}
	return nil
}

// applyMigration applies m unless schema_migrations records it, in one transaction, and returns
// whether it did.
func applyMigration(ctx context.Context, pool *pgxpool.Pool, m migration, latest int) (applied bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var schema *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return err
		}
		if schema == nil {
			return fmt.Errorf("no schema selected: the search_path names no existing schema; create it or fix search_path")
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1 || ' ' || $2))`, migrationLock, *schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    int PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if current > latest {
			return fmt.Errorf("schema version %d is newer than this build supports (%d)", current, latest)
		}
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
			return err
		}
		applied = true
		return nil
	})
	return applied, err
}
