package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
)

// ExportTables are the tables Export reads, in an order in which each comes after the tables it
// refers to: what a copy into another store inserts, in that order.
var ExportTables = []string{
	"organizations", "users", "instances", "instance_owners", "cursors", "notifications", "events", "attempts",
}

// Export reads every row of ExportTables, in that order, in one read transaction: a consistent
// snapshot of the store, for copying it into another store (pollen migrate). For each table it
// calls fn with the table's column names and a function that returns its next row (nil and
// io.EOF after the last). Values are as the driver reads them: int64, float64, string, []byte or
// nil. Configurations are read as stored: sealed, or in clear when written without a key.
func (s *Store) Export(ctx context.Context, fn func(table string, columns []string, next func() ([]any, error)) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: export: %w", err)
	}
	defer tx.Rollback()
	for _, table := range ExportTables {
		if err := exportTable(ctx, tx, table, fn); err != nil {
			return fmt.Errorf("sqlite: export %s: %w", table, err)
		}
	}
	return tx.Commit()
}

func exportTable(ctx context.Context, tx *sql.Tx, table string, fn func(string, []string, func() ([]any, error)) error) error {
	rows, err := tx.QueryContext(ctx, `SELECT * FROM `+table) // table is one of ExportTables
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	next := func() ([]any, error) {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		return vals, nil
	}
	if err := fn(table, cols, next); err != nil {
		return err
	}
	return rows.Err()
}
