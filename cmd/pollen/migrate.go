package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/migrate"
)

const migrateDoc = `Migrate copies an embedded SQLite installation into PostgreSQL, so that one
node outgrows the embedded default, or several share the jobs, without losing state:
organizations and users (secrets as digests: the same secrets keep working), instances
with their configurations as stored (sealed: run the PostgreSQL nodes with the same
key, the installation's DATA-DIR/pollen.key as --key-file or POLLEN_KEY), owners,
cursors (polling resumes where it was), and the outbox: pending and queued
notifications, their events, the history and the delivery attempts.

  pollen migrate --from DATA-DIR|FILE --to postgres://... [--replace]

Stop 'pollen serve' on the source first. The copy is one transaction: on any error
the target is left as it was. A target holding anything beyond a new database's
bootstrap admin is refused, unless --replace says to replace what it holds.`

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("pollen migrate", "--from DATA-DIR|FILE --to postgres://...", migrateDoc, stderr)
	var o migrate.Options
	fs.StringVar(&o.From, "from", "", "the SQLite installation: its data `directory`, or its database file")
	fs.StringVar(&o.To, "to", "", "the PostgreSQL `URL` (postgres://user@host:5432/db)")
	fs.BoolVar(&o.Replace, "replace", false, "replace what the target database holds")
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if o.From == "" || o.To == "" {
		fmt.Fprintln(stderr, "pollen migrate: --from and --to are required")
		return cli.ExitUsage
	}
	counts, err := migrate.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "pollen migrate: %v\n", err)
		return cli.ExitFail
	}
	fmt.Fprintf(stdout, "%-16s %8s\n", "table", "rows")
	for _, c := range counts {
		fmt.Fprintf(stdout, "%-16s %8d\n", c.Table, c.Rows)
	}
	fmt.Fprintln(stdout, "copied; run pollen serve --store with the target and the installation's key")
	return cli.ExitOK
}
