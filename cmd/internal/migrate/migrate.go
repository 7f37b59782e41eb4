// Package migrate copies an embedded SQLite installation into PostgreSQL (pollen migrate): every
// organization and user (secrets as their digests), every instance with its configuration as
// stored (sealed: the PostgreSQL nodes must use the same key), its owner and its cursors, and the
// whole outbox (pending, queued and settled notifications, their events, the delivery attempts),
// with their ids and their order, so that polling resumes from the cursors and delivery from
// where it was.
//
// The copy is one PostgreSQL transaction: a failure leaves the target as it was. The source is
// read in one read transaction (a consistent snapshot); stop pollen serve on it first, or what it
// does afterwards is not copied. The target's schema is created or brought up to date by
// adapters/postgres first. A target that holds anything beyond the bootstrap admin that every new
// database has is refused, unless Replace says to replace what it holds.
//
// Adapters never import each other, so the copy lives here: adapters/sqlite exports its rows
// (Store.Export), and the rows go into PostgreSQL's tables of the same names and columns (the
// PostgreSQL schema keeps SQLite's column names and values: times as unix nanoseconds).
package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/adapters/postgres"
	"github.com/pollen-hq/pollen/adapters/sqlite"
)

// DBFile is the database file in a data directory (cmd/internal/server's DBFile).
const DBFile = "pollen.db"

// Options configure Run.
type Options struct {
	// From is the SQLite installation: its data directory (holding DBFile) or the database file.
	From string
	// To is the PostgreSQL URL.
	To string
	// Replace lets Run delete what the target holds before the copy, in the same transaction.
	Replace bool
}

// Count is how many rows of one table were copied.
type Count struct {
	Table string
	Rows  int
}

// ErrNotEmpty is returned for a target that holds data, without Options.Replace.
var ErrNotEmpty = errors.New("the target database is not empty")

// Run copies the installation and returns how many rows of each table it copied, in the order
// of the copy.
func Run(ctx context.Context, o Options) ([]Count, error) {
	path, err := sourceFile(o.From)
	if err != nil {
		return nil, err
	}
	// The target's schema first, by the store itself: the tables the rows go into.
	pg, err := postgres.Open(ctx, o.To, postgres.Options{})
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	pg.Close()
	src, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", path, err)
	}
	defer src.Close()

	conn, err := pgx.Connect(ctx, o.To)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer tx.Rollback(context.Background())

	if held, err := holds(ctx, tx); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	} else if held != "" && !o.Replace {
		return nil, fmt.Errorf("%w: it holds %s; copy into an empty database, or pass --replace to replace what it holds", ErrNotEmpty, held)
	}
	// Every table is emptied, the bootstrap admin's rows of a new database included: the
	// source's take their place, with their ids.
	if _, err := tx.Exec(ctx, `TRUNCATE `+strings.Join(sqlite.ExportTables, ", ")+` CASCADE`); err != nil {
		return nil, fmt.Errorf("target: emptying it: %w", err)
	}

	var counts []Count
	err = src.Export(ctx, func(table string, cols []string, next func() ([]any, error)) error {
		n, err := copyTable(ctx, tx, table, cols, next)
		counts = append(counts, Count{Table: table, Rows: n})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := renumber(ctx, tx); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("target: commit: %w", err)
	}
	return counts, nil
}

// sourceFile is the database file of from: from itself, or DBFile in the directory from.
func sourceFile(from string) (string, error) {
	if from == "" {
		return "", errors.New("no source: --from names a data directory or a SQLite file")
	}
	fi, err := os.Stat(from)
	if err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	if fi.IsDir() {
		from = filepath.Join(from, DBFile)
		if _, err := os.Stat(from); err != nil {
			return "", fmt.Errorf("source: no database in the data directory: %w", err)
		}
	}
	return from, nil
}

// holds names what the target holds beyond a new database's bootstrap admin; "" when nothing.
func holds(ctx context.Context, tx pgx.Tx) (string, error) {
	var parts []string
	for _, q := range []struct{ what, sql string }{
		{"instances", `SELECT count(*) FROM instances`},
		{"notifications", `SELECT count(*) FROM notifications`},
		{"events", `SELECT count(*) FROM events`},
		{"cursors", `SELECT count(*) FROM cursors`},
		{"organizations besides the default one", `SELECT count(*) FROM organizations WHERE id <> 1`},
		{"users besides the bootstrap admin", `SELECT count(*) FROM users WHERE id <> 1`},
		{"a bootstrap admin with secrets", `SELECT count(*) FROM users WHERE id = 1 AND secret_digest IS NOT NULL`},
	} {
		var n int64
		if err := tx.QueryRow(ctx, q.sql).Scan(&n); err != nil {
			return "", err
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, q.what))
		}
	}
	return strings.Join(parts, ", "), nil
}

// copyTable copies one table's rows into the target's table of the same name, converting each
// value to its target column's type, and returns how many it copied.
func copyTable(ctx context.Context, tx pgx.Tx, table string, cols []string, next func() ([]any, error)) (int, error) {
	types, err := columnTypes(ctx, tx, table)
	if err != nil {
		return 0, fmt.Errorf("target %s: %w", table, err)
	}
	var from []int // source column of each target column copied
	var names []string
	for i, c := range cols {
		if _, ok := types[c]; !ok {
			return 0, fmt.Errorf("target %s has no column %s: is it of an older Pollen than the source?", table, c)
		}
		from = append(from, i)
		names = append(names, c)
	}
	eventCount := table == "notifications" && types["event_count"] != "" && !contains(cols, "event_count")
	if eventCount {
		names = append(names, "event_count")
	}
	n := 0
	src := &rowSource{next: func() ([]any, error) {
		row, err := next()
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(names))
		for k, i := range from {
			v, err := convert(row[i], types[names[k]])
			if err != nil {
				return nil, fmt.Errorf("row %d, %s: %w", n+1, names[k], err)
			}
			out = append(out, v)
		}
		if eventCount {
			c, err := countIDs(row[indexOf(cols, "event_ids")])
			if err != nil {
				return nil, fmt.Errorf("row %d, event_ids: %w", n+1, err)
			}
			out = append(out, c)
		}
		n++
		return out, nil
	}}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, names, src); err != nil {
		return n, fmt.Errorf("copying %s: %w", table, err)
	}
	return n, nil
}

// columnTypes are the data types of a target table's columns, by name.
func columnTypes(ctx context.Context, tx pgx.Tx, table string) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		types[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(types) == 0 {
		return nil, errors.New("no such table")
	}
	return types, nil
}

// convert turns a value as SQLite's driver reads it into one for a PostgreSQL column of type typ.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "text":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		}
	default:
		return v, nil
	}
	return nil, fmt.Errorf("a %T where the target holds %s", v, typ)
}

// countIDs is the length of a JSON array of event ids.
func countIDs(v any) (int32, error) {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return 0, fmt.Errorf("a %T, not JSON text", v)
	}
	var ids []json.RawMessage
	if err := json.Unmarshal(b, &ids); err != nil {
		return 0, err
	}
	return int32(len(ids)), nil
}

// renumber moves the target's id sequences past the ids copied, and the outbox's last seq to the
// last notification's, so that what the nodes add next comes after what was copied.
func renumber(ctx context.Context, tx pgx.Tx) error {
	// The highest id each sequence has handed out. SQLite never hands an id out twice
	// (AUTOINCREMENT): a deleted instance's id lives on in its owner and its history, and no new
	// instance may take it.
	for _, r := range []struct{ table, col, max string }{
		{"organizations", "id", `SELECT max(id) FROM organizations`},
		{"users", "id", `SELECT max(id) FROM users`},
		{"instances", "id", `SELECT greatest((SELECT max(id) FROM instances), (SELECT max(instance_id) FROM instance_owners),
			(SELECT max(instance_id) FROM notifications), (SELECT max(instance_id) FROM events), (SELECT max(instance_id) FROM cursors))`},
		{"events", "seq", `SELECT max(seq) FROM events`},
		{"attempts", "seq", `SELECT max(seq) FROM attempts`},
	} {
		var last *int64
		if err := tx.QueryRow(ctx, r.max).Scan(&last); err != nil {
			return fmt.Errorf("renumbering %s: %w", r.table, err)
		}
		// setval(seq, n, true): the next id is n+1; setval(seq, 1, false): it is 1.
		n, called := int64(1), false
		if last != nil && *last > 0 {
			n, called = *last, true
		}
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)`, r.table, r.col, n, called); err != nil {
			return fmt.Errorf("renumbering %s: %w", r.table, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE outbox_seq SET last = (SELECT coalesce(max(seq), 0) FROM notifications)`); err != nil {
		return fmt.Errorf("renumbering the outbox: %w", err)
	}
	return nil
}

// rowSource is a pgx.CopyFromSource over a function returning rows until io.EOF.
type rowSource struct {
	next func() ([]any, error)
	row  []any
	err  error
}

func (s *rowSource) Next() bool {
	s.row, s.err = s.next()
	if errors.Is(s.err, io.EOF) {
		s.err = nil
		return false
	}
	return s.err == nil
}

func (s *rowSource) Values() ([]any, error) { return s.row, nil }
func (s *rowSource) Err() error             { return s.err }

func contains(ss []string, s string) bool { return indexOf(ss, s) >= 0 }

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}
