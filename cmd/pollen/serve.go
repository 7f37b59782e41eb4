package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

const serveDoc = `Serve runs Pollen: the Cloud Elements-compatible API (POST /instances and
friends), the pollers of every events-enabled instance, and the delivery of signed
notifications to their callbacks. State (instances, cursors, the outbox) lives in
an SQLite file in --data-dir and survives restarts.

Clients authenticate with 'Authorization: User <secret>, Organization <secret>'.
The secrets come from POLLEN_USER_SECRET and POLLEN_ORGANIZATION_SECRET; without
them, serve generates a pair on first start and keeps it in DATA-DIR/secrets.json
(mode 0600).

Built-in element definitions are embedded; --definitions DIR adds or overrides
definition files (DIR/ELEMENT/element.json, DIR/ELEMENT/resources/NAME.json).`

func runServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlags("serve", "[flags]", serveDoc, stderr)
	var cfg serverConfig
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "`address` to serve the API on")
	fs.StringVar(&cfg.DataDir, "data-dir", "pollen-data", "`directory` for the database and generated secrets")
	fs.StringVar(&cfg.DefinitionsDir, "definitions", "", "`directory` of definition files that add to or override the built-in ones")
	fs.IntVar(&cfg.PollWorkers, "poll-workers", 8, "polls run at once")
	fs.IntVar(&cfg.DeliveryWorkers, "delivery-workers", 8, "deliveries run at once")
	var lf logFlags
	lf.register(fs, "info")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pollen serve: unexpected arguments: %v\n", fs.Args())
		return exitUsage
	}
	log, err := lf.logger("pollen", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pollen serve: %v\n", err)
		return exitUsage
	}
	cfg.Logger = log
	cfg.UserSecret = os.Getenv("POLLEN_USER_SECRET")
	cfg.OrgSecret = os.Getenv("POLLEN_ORGANIZATION_SECRET")
	srv, err := newServer(ctx, cfg)
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitFail
	}
	if err := srv.Run(ctx); err != nil {
		log.Error("server failed", "error", err)
		return exitFail
	}
	return exitOK
}
