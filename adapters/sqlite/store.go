// Package sqlite is Pollen's embedded store: one SQLite file (pure-Go driver modernc.org/sqlite,
// WAL mode) holding instances, per (instance, object type) cursors, the outbox of notifications
// with the event history, and delivery attempts. *Store implements engine.Store and engine.Outbox
// and is safe for concurrent use.
//
// Writes go through a single connection (SQLite has one writer at a time; serialising them in the
// pool avoids SQLITE_BUSY between our own goroutines) and every write is one transaction. Reads
// use a small pool of read-only connections, which WAL lets run alongside the writer.
//
// Delivery: a notification that fails its last retry is QUEUED, and its instance's later
// notifications queue behind it (QUEUED too) until Requeue sends them again, in order. Events go
// NEW, DISPATCHED, then take their notification's final status; every delivery attempt is kept.
// Prune deletes settled history older than a cut-off, never a PENDING or QUEUED notification.
//
// Schema: versioned migrations (schema.go), each taking the schema one version up, applied at
// Open in one transaction; the version is kept in PRAGMA user_version, and a file of a newer
// version than the build knows is refused. adapters/postgres versions its schema the same way, in
// its schema_migrations table.
//
// Durability: synchronous=NORMAL. In WAL mode a process crash loses no committed transaction; a
// power loss may roll back the latest ones, but always whole transactions, so a poll's events and
// its cursor still move together, and a rolled-back delivery record only means a re-delivery
// (delivery is at-least-once).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hashicorp/go-hclog"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/pollen-hq/pollen/engine"
)

// Options configures Open.
type Options struct {
	// Logger receives the store's few log lines (migrations, commit summaries at debug level).
	// Nil means no logging. Instance configurations are never logged.
	Logger hclog.Logger
	// PruneBatch is how many notifications one Prune transaction deletes, so that the writer is
	// never held for long; 0 = 500.
	PruneBatch int
	// Sealer seals instance configurations (vendor credentials, signature keys, URLs with
	// credentials): an engine/seal Keyring of purpose SealPurpose. Open seals any configuration
	// still in clear. Nil keeps them in clear: for tests only.
	Sealer engine.Sealer
	// Clock is the store's now: the dates of new instances and users, the due time of a
	// notification committed without CreatedAt or requeued; nil = engine.SystemClock.
	Clock engine.Clock
}

// Store is the SQLite store.
type Store struct {
	w      *sql.DB // the writer: one connection
	r      *sql.DB // readers: read-only connections (== w for an in-memory database)
	log    hclog.Logger
	now    func() time.Time
	sealer engine.Sealer
	path   string // the database file; "" in memory
	memory bool

	pruneBatch int // Options.PruneBatch

	attempts attemptGroup // RecordAttempt's group commits
}

const (
	busyTimeoutMS = 5000
	maxReaders    = 4
)

// Open opens (creating if needed) the database at path and migrates its schema. path ":memory:"
// gives a private in-memory database, for tests.
//
// A file Open creates, and the WAL and shared-memory files SQLite creates beside it (which take
// its mode), are readable by their owner only, whatever the directory's mode; an existing
// database is made so. Before anything is written, the file is checked (PRAGMA quick_check): a
// damaged file, or an empty one where a database was expected, is refused with ErrDamaged and
// what to do, never replaced by an empty database.
func Open(path string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.PruneBatch < 0 {
		return nil, fmt.Errorf("sqlite: Options.PruneBatch must not be negative, not %d", opts.PruneBatch)
	}
	if opts.PruneBatch == 0 {
		opts.PruneBatch = defaultPruneBatch
	}
	memory := path == ":memory:" || path == ""
	now := time.Now
	if opts.Clock != nil {
		now = opts.Clock.Now
	}
	s := &Store{log: log, now: now, pruneBatch: opts.PruneBatch, sealer: opts.Sealer, memory: memory}
	if !memory {
		if err := prepareFile(path); err != nil {
			return nil, err
		}
	}

	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "secure_delete(1)") // deleted content is overwritten, not left in free pages
	var wdsn string
	if memory {
		wdsn = ":memory:?" + common.Encode()
	} else {
		wq := url.Values{}
		for k, v := range common {
			wq[k] = append([]string(nil), v...)
		}
		wq.Add("_pragma", "journal_mode(WAL)")
		wq.Add("_pragma", "synchronous(NORMAL)")
		wq.Set("_txlock", "immediate")
		wdsn = fileURI(path) + "?" + wq.Encode()
	}
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, openError(path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w = w

	ctx := context.Background()
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, openError(path, err)
	}
	if !memory {
		if err := checkIntegrity(ctx, w, path); err != nil {
			w.Close()
			return nil, err
		}
		var mode string
		if err := w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			w.Close()
			return nil, openError(path, fmt.Errorf("journal_mode is %q, not wal (%w)", mode, err))
		}
	}
	if err := migrate(ctx, w, log); err != nil {
		w.Close()
		return nil, openError(path, err)
	}
	if s.sealer != nil {
		n, err := s.resealClear(ctx)
		if err != nil {
			w.Close()
			return nil, openError(path, err)
		}
		if n > 0 {
			log.Info("instance configurations sealed", "instances", n)
		}
	}

	if memory {
		s.r = w
		return s, nil
	}
	rq := url.Values{}
	for k, v := range common {
		rq[k] = append([]string(nil), v...)
	}
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", fileURI(path)+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, openError(path, err)
	}
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, openError(path, err)
	}
	s.r = r
	if err := markOpen(path); err != nil {
		s.Close()
		return nil, err
	}
	s.path = path
	return s, nil
}

// fileURI turns a file path into an SQLite URI filename, escaping '?', '#' and '%'.
func fileURI(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath()
}

// Ping checks that the database answers a read, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	var version int
	if err := s.r.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&version); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database, after the calls in progress have finished.
func (s *Store) Close() error {
	var err error
	if s.r != s.w {
		err = s.r.Close()
	}
	err = errors.Join(err, s.w.Close())
	if err == nil && s.path != "" {
		err = markClosed(s.path)
	}
	return err
}

// write runs fn in one write transaction, committed when fn returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// nanos is a time as stored: unix nanoseconds, or NULL for the zero time.
func nanos(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if y := t.Year(); y < 1678 || y > 2261 {
		return nil, fmt.Errorf("time %s out of the storable range (years 1678-2261)", t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

// fromNanos is the inverse of nanos: UTC, or the zero time for NULL.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}
