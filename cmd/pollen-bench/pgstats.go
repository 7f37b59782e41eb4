package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgStats are PostgreSQL's counters of the store's database (pg_stat_database): transactions
// committed and rows written. They count every client of the database, so a run measures a
// database of its own.
type pgStats struct {
	commits, inserted, updated, deleted float64
	cpu                                 float64 // postgresCPU, for a store on this machine
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
	if localStore(url) {
		s.cpu = postgresCPU()
	}
	return s, nil
}

func (a pgStats) minus(b pgStats) pgStats {
	return pgStats{commits: a.commits - b.commits, inserted: a.inserted - b.inserted, updated: a.updated - b.updated, deleted: a.deleted - b.deleted,
		cpu: a.cpu - b.cpu}
}

// writes is the rows written.
func (a pgStats) writes() float64 { return a.inserted + a.updated + a.deleted }

// postgresCPU is the CPU seconds used so far by this machine's processes named postgres (the
// server and its backends), for a store on this machine; 0 where /proc is not. A backend that
// exits between two readings takes its time with it: the bench's connections live as long as
// the servers.
func postgresCPU() float64 {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	ticks := 0.0
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15): comm may hold spaces, so split after ')'.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		ticks += u + st
	}
	return ticks / 100 // USER_HZ
}

// localStore reports whether a PostgreSQL URL names this machine.
func localStore(url string) bool {
	return strings.Contains(url, "@127.0.0.1") || strings.Contains(url, "@localhost") || strings.Contains(url, "@[::1]")
}
