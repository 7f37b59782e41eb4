package postgres

import (
	"context"
	"testing"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/engine/storetest"
)

// The store passes the contract every store passes, each test on a schema of its own; what it
// holds at rest is a dump of every table, as text, and the raw bytes of its bytea columns.
func TestContract(t *testing.T) {
	storetest.Run(t, openContract)
}

// openContract opens a new store for one test or benchmark of the contract.
func openContract(t testing.TB, o storetest.Options) storetest.Stores {
	s, err := Open(context.Background(), pgtest.URL(t), Options{Sealer: o.Sealer, Clock: o.Clock, PruneBatch: 3}) // several batches
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return storetest.Stores{Store: s, Outbox: s, Instances: s, Events: s, Tenants: s, Prune: s.Prune,
		Raw: func(t *testing.T) []byte { return dump(t, s) }}
}

// dump returns every row of every table of the store's schema, as text, followed by the bytes of
// its bytea columns.
func dump(t *testing.T, s *Store) []byte {
	ctx := context.Background()
	rows, err := s.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, s.Schema())
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, table := range tables {
		rows, err := s.pool.Query(ctx, `SELECT r::text FROM `+table+` AS r`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			all = append(all, line...)
			all = append(all, '\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		cols, err := s.pool.Query(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = $2 AND data_type = 'bytea'`, s.Schema(), table)
		if err != nil {
			t.Fatal(err)
		}
		var bytea []string
		for cols.Next() {
			var c string
			cols.Scan(&c)
			bytea = append(bytea, c)
		}
		for _, c := range bytea {
			rows, err := s.pool.Query(ctx, `SELECT `+c+` FROM `+table+` WHERE `+c+` IS NOT NULL`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var b []byte
				if err := rows.Scan(&b); err != nil {
					t.Fatal(err)
				}
				all = append(all, b...)
				all = append(all, '\n')
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return all
}
