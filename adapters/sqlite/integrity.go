package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrDamaged is wrapped by Open's error for a database file it refuses to use.
var ErrDamaged = errors.New("database file damaged")

// prepareFile creates the database file with mode 0600 when it does not exist (SQLite gives its
// WAL and shared-memory files the same mode), makes existing files 0600, and refuses an empty
// file: a database that lost its content, never a fresh start.
func prepareFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, werr := os.Stat(path + "-wal"); werr == nil {
			return fmt.Errorf("sqlite: open %s: %w: the file is missing but its write-ahead log %s-wal is there; restore the database from a backup, or move the -wal file aside to start empty",
				path, ErrDamaged, path)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("sqlite: create %s: %w", path, err)
		}
		return f.Close()
	case err != nil:
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("sqlite: open %s: is a directory", path)
	case fi.Size() == 0:
		return fmt.Errorf("sqlite: open %s: %w: the file is empty (0 bytes) where a database was expected; restore it from a backup, or remove it to start with no instances",
			path, ErrDamaged)
	}
	if _, err := os.Stat(path + openSuffix); err == nil {
		// The last run did not close the database (a crash, a kill): its latest transactions are
		// in the write-ahead log, which SQLite replays now. Without that file they would be lost
		// without a word: the database would open as it was before them.
		if _, werr := os.Stat(path + "-wal"); errors.Is(werr, os.ErrNotExist) {
			return fmt.Errorf("sqlite: open %s: %w: the last run stopped without closing the database, and its write-ahead log %s-wal, "+
				"which holds the latest changes, is gone: opening would silently roll them back. Put the -wal file back beside the database, "+
				"or remove %s%s to accept losing them", path, ErrDamaged, path, path, openSuffix)
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("sqlite: %s: %w", p, err)
			}
		}
	}
	return nil
}

// checkIntegrity runs PRAGMA quick_check (every page, index and constraint but the slowest
// cross-checks) and refuses a damaged file with what to do.
func checkIntegrity(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return openError(path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlite: open %s: %w: %v", path, ErrDamaged, err)
		}
		if line != "ok" && len(problems) < 5 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: open %s: %w: quick_check found: %s; restore it from a backup, or try `sqlite3 %s .recover` into a new file; Pollen does not start on it",
			path, ErrDamaged, strings.Join(problems, "; "), path)
	}
	return nil
}

// resealClear seals the configurations still stored in clear (written before sealing, or
// without a key), then compacts the file so that no clear copy stays behind.
func (s *Store) resealClear(ctx context.Context) (int, error) {
	var clear int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM instances WHERE substr(configuration, 1, 1) = '{'`).Scan(&clear); err != nil {
		return 0, err
	}
	if clear == 0 {
		return 0, nil
	}
	return s.Reseal(ctx)
}

// openError is an error of Open: ErrDamaged, with what to do, when SQLite says the file is
// corrupt or not a database.
func openError(path string, err error) error {
	if errors.Is(err, ErrDamaged) {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "malformed") || strings.Contains(msg, "not a database") || strings.Contains(msg, "(11)") || strings.Contains(msg, "(26)") {
		return fmt.Errorf("sqlite: open %s: %w: %v; restore it from a backup, or move it aside to start with no instances; Pollen does not start on it",
			path, ErrDamaged, err)
	}
	return fmt.Errorf("sqlite: open %s: %w", path, err)
}

// openSuffix names the file that says the database is open: created when Open succeeds, removed
// by a clean Close, so that the next Open knows whether the last run closed it.
const openSuffix = "-open"

func markOpen(path string) error {
	f, err := os.OpenFile(path+openSuffix, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %s%s: %w", path, openSuffix, err)
	}
	return f.Close()
}

func markClosed(path string) error {
	if err := os.Remove(path + openSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sqlite: %s%s: %w", path, openSuffix, err)
	}
	return nil
}
