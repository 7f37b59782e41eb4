package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/egress"
)

const serveDoc = `Serve runs Pollen: the Cloud Elements-compatible API (POST /instances and
friends), the pollers of every events-enabled instance, and the delivery of signed
notifications to their callbacks. State (instances, cursors, the outbox, users)
lives in an SQLite file in --data-dir and survives restarts.

--store (POLLEN_STORE) keeps that state in PostgreSQL instead:
  --store 'postgres://pollen:PASSWORD@db.internal:5432/pollen?sslmode=verify-full'
The tables are created, and migrated at each start, in the URL's schema
(&search_path=SCHEMA; default: the user's). The data directory still holds the
generated secrets and key. Prefer POLLEN_STORE to the flag when the URL holds a
password: command lines are visible to other local users.

Several nodes may share one PostgreSQL store: start 'pollen serve' on each
machine with the same --store (and its own --data-dir, --listen and --node).
Any node answers any API call. Each vendor account (an instance's base URL)
is leased to one live node at a time, which polls its instances' jobs and
delivers their notifications; every commit carries the lease's fencing token,
and the store refuses one whose lease has moved on. Accounts are spread over
the live nodes by rendezvous hashing, among the nodes whose definitions have
every resource the account's instances use (GET /definitions on a node lists
those it lacks). A node that joins or leaves moves accounts within one
--lease-period (default 10s); a node that dies has its accounts resumed by
the others, from their cursors, within about 1.2 lease periods. A change made
through one node reaches the node polling the instance at once (LISTEN/NOTIFY),
and at the latest at the next re-read, every lease period. Every node must
seal secrets with the same key (the first node's DATA-DIR/pollen.key copied,
or POLLEN_KEY) and use the same bootstrap admin secrets
(POLLEN_USER_SECRET and POLLEN_ORGANIZATION_SECRET, or the first node's
secrets.json copied). GET /readyz names the node and counts its leases;
GET /metrics adds pollen_cluster_* series; the console shows which node polls
each instance.

Clients authenticate with 'Authorization: User <secret>, Organization <secret>':
each user of each organization has their own ('pollen users' manages them). The
first admin's secrets come from POLLEN_USER_SECRET and POLLEN_ORGANIZATION_SECRET
(at least 24 characters, random: 'pollen users secret' prints one); without them,
serve generates a pair on first start and keeps it in DATA-DIR/secrets.json (mode
0600).

Instances may point Pollen (base.url, subdomain, callback URLs) at public
addresses only: loopback, private, link-local and other internal addresses, and
this server's own listener, are refused when an instance is written and when a
connection is made. --allow-private-networks and --allow-hosts open that policy,
for vendors or receivers on the operator's own network.

Secrets at rest (vendor credentials, signature keys, URL credentials) are sealed
with AES-256-GCM. The key comes from POLLEN_KEY or --key-file, or is generated in
DATA-DIR/pollen.key (mode 0600) at the first start: back it up with the database.
'pollen keys rotate' replaces it.

Built-in element definitions are embedded; --definitions DIR adds or overrides
definition files (DIR/ELEMENT/element.json, DIR/ELEMENT/resources/NAME.json).

GET /metrics on the same address serves Prometheus metrics, without
authentication: aggregate counts of polls, vendor requests and deliveries, never
an instance's data or a secret. GET /healthz answers 200 while the process
serves; GET /readyz answers 200 when the store answers and the definitions are
loaded, 503 with the reason otherwise.

Every flag can also be set from a POLLEN_* environment variable (see the end).`

func runServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs, cfg, lf := serveFlags(stderr)
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pollen serve: unexpected arguments: %v\n", fs.Args())
		return cli.ExitUsage
	}
	if err := cli.SetFromEnv(fs, os.LookupEnv); err != nil {
		fmt.Fprintf(stderr, "pollen serve: %v\n", err)
		return cli.ExitUsage
	}
	if err := checkLimits(*cfg); err != nil {
		fmt.Fprintf(stderr, "pollen serve: %v\n", err)
		return cli.ExitUsage
	}
	log, err := lf.Logger("pollen", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pollen serve: %v\n", err)
		return cli.ExitUsage
	}
	cfg.Logger = log
	stopProfiles, err := startProfiles(ctx, cfg.CPUProfile, cfg.MemProfile)
	if err != nil {
		fmt.Fprintf(stderr, "pollen serve: %v\n", err)
		return cli.ExitFail
	}
	defer func() {
		if err := stopProfiles(); err != nil {
			log.Error("writing profiles", "error", err)
		}
	}()
	cfg.UserSecret = os.Getenv("POLLEN_USER_SECRET")
	cfg.OrgSecret = os.Getenv("POLLEN_ORGANIZATION_SECRET")
	cfg.Key = os.Getenv("POLLEN_KEY")
	srv, err := server.New(ctx, *cfg)
	if err != nil && ctx.Err() != nil {
		log.Info("stopped while starting")
		return cli.ExitOK
	}
	if err != nil {
		log.Error("cannot start", "error", err)
		return cli.ExitFail
	}
	if err := srv.Run(ctx); err != nil {
		log.Error("server failed", "error", err)
		return cli.ExitFail
	}
	return cli.ExitOK
}

// serveFlags returns serve's flag set, and the configuration and log flags it fills.
func serveFlags(stderr io.Writer) (*flag.FlagSet, *server.Config, *cli.LogFlags) {
	fs := cli.NewFlags("pollen serve", "[flags]", serveDoc, stderr)
	cfg := &server.Config{}
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "`address` to serve the API on")
	fs.StringVar(&cfg.DataDir, "data-dir", "pollen-data", "`directory` for the database (unless --store) and generated secrets and key")
	fs.StringVar(&cfg.Store, "store", "", "`URL` of a PostgreSQL database to keep state in (postgres://user@host:5432/db?sslmode=...); empty: the embedded SQLite file DATA-DIR/pollen.db")
	fs.StringVar(&cfg.Node, "node", "", "`name` of this node among the nodes sharing a PostgreSQL --store (unique; default HOSTNAME-PID)")
	fs.DurationVar(&cfg.LeasePeriod, "lease-period", server.LeasePeriodDefault, "with a PostgreSQL --store: how long a node's heartbeat, and with it every vendor account lease the node holds, lasts unless the node beats again (every fifth of it, one row per node); a dead node's accounts are taken over within about 1.2 periods")
	fs.StringVar(&cfg.DefinitionsDir, "definitions", "", "`directory` of definition files that add to or override the built-in ones")
	fs.IntVar(&cfg.PollWorkers, "poll-workers", engine.DefaultPollConcurrency, "polls under way at once, over all vendor accounts")
	fs.IntVar(&cfg.PollsPerAccount, "polls-per-account", engine.DefaultPollsPerAccount, "polls under way at once at one vendor account (one base URL): a slow vendor holds only these")
	fs.DurationVar(&cfg.PollDeadline, "poll-deadline", engine.DefaultPollDeadline, "longest one poll runs; it commits what it read and goes on at its next turn")
	fs.IntVar(&cfg.PollPages, "poll-pages", engine.DefaultPageBudget, "most vendor pages one poll reads; it commits what it read and goes on at its next turn")
	fs.IntVar(&cfg.DeliveryWorkers, "delivery-workers", 1024, "deliveries in flight at once, over all callbacks (each callback is also held to --callback-concurrency, so slow ones cannot take every place)")
	fs.IntVar(&cfg.CallbackConcurrency, "callback-concurrency", 4, "notifications in flight at once to one callback URL")
	fs.Float64Var(&cfg.CallbackRate, "callback-rate", 0, "notifications started per second to one callback URL, when bounded; 0.5 is one every 2s, 0 no bound beyond --callback-concurrency")
	fs.Var(cli.DurationList{D: &cfg.Retries}, "retry-schedule", "comma-separated `delays` between a failed delivery's retries, after which it is queued (default: the platform's 8s,64s,512s,1h8m16s,9h6m8s)")
	fs.DurationVar(&cfg.HistoryRetention, "history-retention", 7*24*time.Hour, "how long delivered event history is kept")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file` at exit (go tool pprof reads it)")
	fs.StringVar(&cfg.MemProfile, "memprofile", "", "write a heap profile to `file` at exit")
	fs.BoolVar(&cfg.AllowPrivateNetworks, "allow-private-networks", false, "let instances point at loopback, private (10/8, 172.16/12, 192.168/16), CGNAT and unique-local addresses")
	fs.Var(cli.StringList{S: &cfg.AllowHosts}, "allow-hosts", "comma-separated `hosts` instances may point at whatever their address: names (vendor.internal, *.corp.example), IP addresses or CIDR prefixes")
	fs.DurationVar(&cfg.MinInterval, "min-interval", time.Second, "the shortest event.poller.refresh_interval an instance may set")
	fs.Var(cli.StringList{S: &cfg.CORSOrigins}, "cors-origins", "comma-separated `origins` whose browser scripts may call the API (https://app.example.com, https://*.example.com; * for any origin, without credentials); none by default")
	fs.StringVar(&cfg.KeyFile, "key-file", "", "`file` of the keys sealing secrets at rest (default DATA-DIR/pollen.key, generated at the first start; POLLEN_KEY overrides it)")
	lf := &cli.LogFlags{}
	lf.Register(fs, "info")
	cli.WithEnv(fs)
	return fs, cfg, lf
}

// checkLimits refuses limits the runtime would silently replace by its defaults.
func checkLimits(cfg server.Config) error {
	switch {
	case cfg.PollWorkers < 1:
		return fmt.Errorf("--poll-workers must be at least 1, not %d", cfg.PollWorkers)
	case cfg.PollsPerAccount < 1:
		return fmt.Errorf("--polls-per-account must be at least 1, not %d", cfg.PollsPerAccount)
	case cfg.PollDeadline < time.Second:
		return fmt.Errorf("--poll-deadline must be at least 1s, not %v", cfg.PollDeadline)
	case cfg.PollPages < 1:
		return fmt.Errorf("--poll-pages must be at least 1, not %d", cfg.PollPages)
	}
	if err := server.CheckStore(cfg.Store); err != nil {
		return err
	}
	if cfg.LeasePeriod < 500*time.Millisecond {
		return fmt.Errorf("--lease-period must be at least 500ms, not %v", cfg.LeasePeriod)
	}
	if cfg.CallbackConcurrency < 1 {
		return fmt.Errorf("--callback-concurrency must be at least 1, not %d", cfg.CallbackConcurrency)
	}
	if !(cfg.CallbackRate >= 0) || math.IsInf(cfg.CallbackRate, 0) {
		return fmt.Errorf("--callback-rate must be 0 (no bound) or a positive number, not %v", cfg.CallbackRate)
	}
	if cfg.MinInterval <= 0 || cfg.MinInterval > engine.DefaultMaxInterval {
		return fmt.Errorf("--min-interval must be positive and at most %s, not %s", engine.DefaultMaxInterval, cfg.MinInterval)
	}
	if _, err := egress.New(egress.Options{AllowHosts: cfg.AllowHosts}); err != nil {
		return fmt.Errorf("--allow-hosts: %w", err)
	}
	return nil
}
