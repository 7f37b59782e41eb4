// Package postgres is Pollen's PostgreSQL store (github.com/jackc/pgx/v5, pgxpool), for
// installations that outgrow the embedded SQLite file (adapters/sqlite) or share one database
// between several nodes. *Store has the same methods, with the same rules, as adapters/sqlite's
// *Store: engine.Store, engine.Outbox, instances.Store and instances.EventStore, tenants.Store,
// Prune, Stats, Ping, Reseal and Close; the doc comments of adapters/sqlite state those rules,
// and the contract suite (engine/storetest) checks that both stores keep them.
//
// Open takes a connection URL (postgres://user@host:5432/db?sslmode=...). The tables live in the
// connection's current schema: the first schema of its search_path, which the URL may set
// (&search_path=pollen), so that one database can hold several installations, or tests.
//
// Schema: versioned migrations, the embedded files migrations/NNNN_name.sql, applied in order at
// Open, each in its own transaction under a transaction-level advisory lock of the schema
// (pg_advisory_xact_lock), so that nodes starting at once migrate it once; each applied version is
// recorded in schema_migrations (version, applied_at). A schema newer than the build is refused.
// (adapters/sqlite versions its schema too, in PRAGMA user_version.) Times are stored as in
// SQLite, bigint unix nanoseconds, so both stores keep the very same values.
//
// Order of the outbox. engine.Outbox asks that Pending never return a notification whose Seq is
// above one a transaction still under way will give another: SQLite's single writer gives that for
// free, PostgreSQL's concurrent transactions do not (a sequence hands out 7 to one transaction and
// 8 to another, 8 commits first, a reader sees 8 and moves past 7). Here a notification's seq comes
// from a counter row, outbox_seq, that the committing transaction updates as its last step before
// COMMIT: the row's lock is held until then, so seqs are taken in commit order and a reader never
// sees a seq while a smaller one is still on its way. Only commits that carry notifications (and
// redeliveries, which give notifications new seqs) take the counter; a poll that found nothing
// does not wait for it.
//
// Concurrency. Every write is one transaction at READ COMMITTED. What SQLite's single writer
// serialises, row locks on the instance serialise here: CommitPoll holds its instance FOR KEY
// SHARE (commits of one instance run side by side; updates of the instance's fields do not wait);
// DeleteInstance, Requeue and an attempt that parks a notification as QUEUED hold it FOR UPDATE,
// so that a commit sees the instance's QUEUED notification, or its deletion, either wholly before
// or wholly after. A transaction aborted by a deadlock or a serialisation failure is run again.
//
// Secrets: instance configurations are sealed with the Sealer exactly as adapters/sqlite seals
// them (the same SealPurpose), so a sealed configuration copied from one store opens in the other
// with the same keys. Reseal rewrites them; PostgreSQL keeps the old row versions until VACUUM
// reclaims them (VACUUM FULL instances rewrites the table at once).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pollen-hq/pollen/engine"
)

// Options configures Open.
type Options struct {
	// Logger receives the store's few log lines (migrations, commit summaries at debug level).
	// Nil means no logging. Instance configurations are never logged.
	Logger hclog.Logger
	// PruneBatch is how many notifications one Prune transaction deletes, so that no transaction
	// holds many rows for long; 0 = 500.
	PruneBatch int
	// Sealer seals instance configurations: an engine/seal Keyring of purpose SealPurpose. Open
	// seals any configuration still in clear. Nil keeps them in clear: for tests only.
	Sealer engine.Sealer
	// Clock is the store's now: the dates of new instances and users, the due time of a
	// notification committed without CreatedAt or requeued; nil = engine.SystemClock.
	Clock engine.Clock
}

// Store is the PostgreSQL store. It is safe for concurrent use, and several Stores (nodes) may
// share one database.
type Store struct {
	pool   *pgxpool.Pool
	log    hclog.Logger
	now    func() time.Time
	sealer engine.Sealer
	schema string // the current schema the tables live in

	pruneBatch int

	attempts attemptGroup // RecordAttempt's group commits
}

// Open connects to the database at url (a postgres:// URL or a keyword/value connection
// string, as pgx reads them; pool_max_conns and the like set the pool, of defaultMaxConns
// connections unless it says otherwise) and migrates the schema.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.PruneBatch < 0 {
		return nil, fmt.Errorf("postgres: Options.PruneBatch must not be negative, not %d", opts.PruneBatch)
	}
	if opts.PruneBatch == 0 {
		opts.PruneBatch = defaultPruneBatch
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("postgres: the store URL does not parse as a PostgreSQL connection URL")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	where := fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	now := time.Now
	if opts.Clock != nil {
		now = opts.Clock.Now
	}
	s := &Store{pool: pool, log: log, now: now, sealer: opts.Sealer, pruneBatch: opts.PruneBatch}
	fail := func(err error) (*Store, error) {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		return fail(err)
	}
	if err := migrate(ctx, pool, ms, log); err != nil {
		return fail(err)
	}
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&s.schema); err != nil {
		return fail(err)
	}
	if s.sealer != nil {
		n, err := s.resealClear(ctx)
		if err != nil {
			return fail(err)
		}
		if n > 0 {
			log.Info("instance configurations sealed", "instances", n)
		}
	}
	return s, nil
}

// defaultMaxConns is the pool's size when the URL does not set pool_max_conns: pgxpool's own
// default (4 on a small machine) would queue a busy node's polls and deliveries behind each
// other, where SQLite serves reads from 4 connections beside its writer.
const defaultMaxConns = 16

// Schema is the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// Pool is the store's connection pool, for what shares its database (leases, notifications
// between nodes).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers a read, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1 FROM outbox_seq`).Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool, after the calls in progress have finished.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// maxTries bounds how often write runs a transaction that a deadlock or a serialisation failure
// aborted.
const maxTries = 5

// write runs fn in one transaction, committed when fn returns nil, and runs it again (from the
// start) when PostgreSQL aborted it for a deadlock or a serialisation failure.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for try := 1; ; try++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || try == maxTries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		s.log.Debug("transaction run again", "try", try+1, "error", err)
	}
}

// retryable reports whether err is a transaction PostgreSQL aborted, to be run again:
// serialization_failure or deadlock_detected.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// uniqueViolation reports whether err is a unique constraint's.
func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// nanos is a time as stored: unix nanoseconds, or NULL for the zero time. The range is SQLite's
// (int64 nanoseconds), so that both stores accept the same times.
func nanos(t time.Time) (*int64, error) {
	if t.IsZero() {
		return nil, nil
	}
	if y := t.Year(); y < 1678 || y > 2261 {
		return nil, fmt.Errorf("time %s out of the storable range (years 1678-2261)", t.Format(time.RFC3339))
	}
	n := t.UnixNano()
	return &n, nil
}

// fromNanos is the inverse of nanos: UTC, or the zero time for NULL.
func fromNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// isNoRows reports whether err says a query found no row.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
