package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pgStats are PostgreSQL's counters of the store's database (pg_stat_database): transactions
// committed and rows written. They count every client of the database, so a run measures a
// database of its own.
type pgStats struct {
	commits, inserted, updated, deleted float64
}

// readPGStats reads the counters, on a connection of its own: a backend's statistics snapshot
// stays fixed within a transaction, and its pending counts are flushed at most once a second.
func readPGStats(ctx context.Context, url string) (pgStats, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return pgStats{}, fmt.Errorf("reading PostgreSQL's statistics: %w", err)
	}
	defer conn.Close(context.Background())
	var s pgStats
	err = conn.QueryRow(ctx, `SELECT xact_commit, tup_inserted, tup_updated, tup_deleted
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&s.commits, &s.inserted, &s.updated, &s.deleted)
	if err != nil {
		return pgStats{}, fmt.Errorf("reading PostgreSQL's statistics: %w", err)
	}
	return s, nil
}

func (a pgStats) minus(b pgStats) pgStats {
	return pgStats{commits: a.commits - b.commits, inserted: a.inserted - b.inserted, updated: a.updated - b.updated, deleted: a.deleted - b.deleted}
}

// writes is the rows written.
func (a pgStats) writes() float64 { return a.inserted + a.updated + a.deleted }
