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
	cpu                                 float64            // CPU seconds: set by minus, from procs
	procs                               map[string]float64 // postgresCPU, for a store on this machine
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
		rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
		if err != nil {
			return pgStats{}, fmt.Errorf("reading PostgreSQL's backends: %w", err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return pgStats{}, fmt.Errorf("reading PostgreSQL's backends: %w", err)
		}
		s.procs = postgresCPU(pids)
	}
	return s, nil
}

func (a pgStats) minus(b pgStats) pgStats {
	d := pgStats{commits: a.commits - b.commits, inserted: a.inserted - b.inserted, updated: a.updated - b.updated, deleted: a.deleted - b.deleted}
	// What each process used since b; one started since, all it used; one that exited since
	// (a killed node's backends), nothing: its time since b is lost, so the figure is a floor.
	for pid, now := range a.procs {
		d.cpu += now - b.procs[pid]
	}
	return d
}

// writes is the rows written.
func (a pgStats) writes() float64 { return a.inserted + a.updated + a.deleted }

// postgresCPU is the CPU seconds used so far by each of the backends pids (those serving the
// store's database: not the server's shared processes, such as the WAL writer, nor other
// databases' clients), by process id and start time; nil where /proc is not.
func postgresCPU(pids []int32) map[string]float64 {
	out := map[string]float64{}
	for _, pid := range pids {
		name := strconv.Itoa(int(pid))
		b, err := os.ReadFile(filepath.Join("/proc", name, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15) ... starttime(22): comm may hold spaces,
		// so count the fields after ')'.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 20 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[name+"@"+f[19]] = (u + st) / 100 // USER_HZ
	}
	return out
}

// localStore reports whether a PostgreSQL URL names this machine.
func localStore(url string) bool {
	return strings.Contains(url, "@127.0.0.1") || strings.Contains(url, "@localhost") || strings.Contains(url, "@[::1]")
}
