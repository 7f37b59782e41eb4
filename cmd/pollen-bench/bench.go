package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/sim/kernel"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
)

const benchDoc = `pollen-bench measures Pollen under load on this machine. It starts a simulated
Freshdesk that hosts one account per instance, a receiver that checks every
notification's signature, and a Pollen server: pollen serve, run as a child
process so that its CPU time and memory are measured alone (--pollen names the
binary; by default it is built from this module's cmd/pollen with the go tool). It creates
the instances through POST /instances (the documentation's example body, one
account and one callback URL each, or one callback URL for all with
--shared-callback), waits until every job has polled once, and
then measures two phases:

  idle  one interval without changes: vendor requests per poll, the idle cost;
  load  --duration with --changes per minute spread over the accounts: polls/s,
        schedule lag, change-to-delivery latency (from the change at the vendor
        to the receiver), events/s, vendor requests per poll and per change,
        429s, and the server's CPU seconds per 1,000 polls.

It prints a table, with the server's peak RSS. Every change must arrive: a change
that never reaches the receiver is reported, and fails the run.

With --burst N it measures a burst instead: N tickets, created before the
instances and spread over the accounts, all change at once; it reports how long
until the first and the last event are delivered, the events/s that makes, and
the vendor requests per page of changed tickets.

--latency 300ms-600ms makes every vendor list page take that long, as real
Freshdesk and Zendesk pages do: a design that works only when pages take a
millisecond shows it there.

--store postgres://... keeps the server's state in PostgreSQL; --nodes N runs N
pollen serve nodes on it (one shared key and admin), creates the instances
through each in turn, sums their figures, and kills one halfway through the load
phase (--kill=false keeps them): the failover row says how many accounts were
polled later than their schedule and how long after the kill a survivor polled
them. With PostgreSQL it adds the database's transactions and rows written per
poll (pg_stat_database: give it a database of its own) and, for a server on this
machine, the CPU of its processes.`

type benchConfig struct {
	instances       int
	resources       int
	interval        time.Duration
	changes         int
	duration        time.Duration
	burst           int
	timeout         time.Duration
	pollWorkers     int
	deliveryWorkers int
	seed            uint64
	callbackRate    float64 // the server's --callback-rate; 0 = its default
	sharedCallback  bool    // every instance posts to one callback URL, not one each
	dataDir         string
	binary          string // the pollen binary to run the server with; "" = built from cmd/pollen
	profile         bool   // write the server's CPU and heap profiles into the data directory
	latency         string // each vendor list page waits this long (a duration or a range); "" = none
	nodes           int    // pollen serve processes sharing the store
	store           string // the servers' --store; "" = SQLite in each data directory
	leasePeriod     time.Duration
	kill            bool // kill one node halfway through the load phase (with nodes > 1)
}

// benchResources are the freshdeskv2 resources --resources picks from, in order.
var benchResources = []string{"incidents", "contacts", "accounts", "agents", "groups"}

// runBench is the command; it returns the exit code.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("pollen-bench", "[flags]", benchDoc, stderr)
	var bc benchConfig
	fs.IntVar(&bc.instances, "instances", 10000, "instances to create, each polling its own simulated account")
	fs.IntVar(&bc.resources, "resources", 2, "resources each instance polls: the first `n` of "+strings.Join(benchResources, ", "))
	fs.DurationVar(&bc.interval, "interval", time.Minute, "the instances' polling interval (event.poller.refresh_interval)")
	fs.IntVar(&bc.changes, "changes", 1000, "changes per minute made at the vendor during the load phase, spread over the accounts")
	fs.DurationVar(&bc.duration, "duration", 3*time.Minute, "how long the load phase runs")
	fs.IntVar(&bc.burst, "burst", 0, "instead of the idle and load phases, change `n` tickets at once and time their delivery")
	fs.DurationVar(&bc.timeout, "timeout", 5*time.Minute, "how long to wait for a burst's or the load phase's last events before failing")
	fs.IntVar(&bc.pollWorkers, "poll-workers", engine.DefaultPollConcurrency, "the server's --poll-workers")
	fs.StringVar(&bc.latency, "latency", "", "each vendor list page takes this `duration` or range, as real vendors do (300ms-600ms)")
	fs.IntVar(&bc.deliveryWorkers, "delivery-workers", 1024, "the server's --delivery-workers")
	fs.Float64Var(&bc.callbackRate, "callback-rate", 0, "the server's --callback-rate (default: the server's own)")
	fs.BoolVar(&bc.sharedCallback, "shared-callback", false, "give every instance the same callback URL, as one receiver for many accounts has")
	fs.Uint64Var(&bc.seed, "seed", 1, "seed of the simulated data and of the changes")
	fs.StringVar(&bc.dataDir, "data-dir", "", "`directory` for the server's state and log (default: a temporary one, removed at exit)")
	fs.StringVar(&bc.binary, "pollen", "", "the pollen `binary` to measure (default: go build ./cmd/pollen of this module)")
	fs.BoolVar(&bc.profile, "profile", false, "write the server's CPU and heap profiles (cpu.pprof, heap.pprof) into --data-dir")
	fs.IntVar(&bc.nodes, "nodes", 1, "pollen serve processes sharing the instances (more than 1 needs --store postgres://...)")
	fs.StringVar(&bc.store, "store", "", "the servers' --store `URL` (postgres://...); default: SQLite in the data directory")
	fs.DurationVar(&bc.leasePeriod, "lease-period", 0, "the servers' --lease-period (default: the server's own)")
	fs.BoolVar(&bc.kill, "kill", true, "with --nodes > 1, SIGKILL one node halfway through the load phase and time the failover")
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	switch {
	case bc.nodes < 1:
		fmt.Fprintln(stderr, "pollen-bench: --nodes must be at least 1")
		return cli.ExitUsage
	case bc.nodes > 1 && !isPostgres(bc.store):
		fmt.Fprintln(stderr, "pollen-bench: --nodes > 1 share one store: give --store postgres://...")
		return cli.ExitUsage
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "pollen-bench: unexpected arguments: %v\n", fs.Args())
		return cli.ExitUsage
	case bc.instances < 1:
		fmt.Fprintln(stderr, "pollen-bench: --instances must be at least 1")
		return cli.ExitUsage
	case bc.resources < 1 || bc.resources > len(benchResources):
		fmt.Fprintf(stderr, "pollen-bench: --resources must be between 1 and %d\n", len(benchResources))
		return cli.ExitUsage
	case bc.interval < time.Second:
		fmt.Fprintln(stderr, "pollen-bench: --interval must be at least 1s")
		return cli.ExitUsage
	case bc.profile && bc.dataDir == "":
		fmt.Fprintln(stderr, "pollen-bench: --profile needs --data-dir, to keep the profiles")
		return cli.ExitUsage
	case bc.latency != "" && !validLatency(bc.latency):
		fmt.Fprintf(stderr, "pollen-bench: --latency %q: want a duration or a range such as 300ms-600ms\n", bc.latency)
		return cli.ExitUsage
	case bc.changes < 0 || bc.burst < 0:
		fmt.Fprintln(stderr, "pollen-bench: --changes and --burst cannot be negative")
		return cli.ExitUsage
	case bc.burst > 0 && ceilDiv(bc.burst, bc.instances) > burstReach:
		fmt.Fprintf(stderr, "pollen-bench: --burst %d over %d instances changes %d tickets of one account in one second; "+
			"Freshdesk lets a query page through 300 pages of 100 and Pollen reads such a second from both ends, "+
			"so at most %d can be read (the rest is reported as a gap): use --instances %d or more\n",
			bc.burst, bc.instances, ceilDiv(bc.burst, bc.instances), burstReach, ceilDiv(bc.burst, burstReach))
		return cli.ExitUsage
	}
	if err := bench(ctx, bc, stdout); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted: no figures")
		}
		fmt.Fprintf(stderr, "pollen-bench: %v\n", err)
		return cli.ExitFail
	}
	return cli.ExitOK
}

// burstReach is how many tickets updated in the same second one account can have read: the
// simulator, like Freshdesk, lets a query page through 300 pages of 100 tickets, and Pollen walks
// such a second from its oldest and its newest end.
const burstReach = 2 * 300 * 100

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func validLatency(s string) bool {
	_, err := kernel.ParseLatency(s)
	return err == nil
}

// bench runs one benchmark and prints its table.
func bench(ctx context.Context, bc benchConfig, stdout io.Writer) error {
	bc.nodes = max(bc.nodes, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	say := func(format string, args ...any) {
		fmt.Fprintf(stdout, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	resources := benchResources[:bc.resources]
	perPoll, err := idleRequestsPerPoll(resources)
	if err != nil {
		return err
	}

	// The vendor: one simulated Freshdesk account per instance, under /a/{n}.
	say("simulating %d Freshdesk accounts", bc.instances)
	farm := newDeskFarm(bc)
	deskURL, err := cli.ServeLocal(ctx, farm)
	if err != nil {
		return err
	}
	rc := newBenchReceiver(tenants.NewSecret())
	recvURL, err := cli.ServeLocal(ctx, rc)
	if err != nil {
		return err
	}

	dataDir, cleanup, err := cli.StateDir(bc.dataDir, "pollen-bench-")
	if err != nil {
		return err
	}
	defer cleanup()
	srv, err := startBenchNodes(ctx, bc, dataDir)
	if err != nil {
		return err
	}
	defer srv.stop()
	for _, n := range srv.nodes {
		say("Pollen: %s started (pid %d, log %s)", n.nameOr(), n.cmd.Process.Pid, n.logPath)
	}

	// Records made before the instances exist must not give events: start them a second later.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	start := time.Now()
	if err := farm.createInstances(ctx, srv, deskURL, recvURL, rc.key, bc, resources); err != nil {
		return err
	}
	created := time.Since(start)
	jobs := bc.instances * bc.resources
	say("%d instances created in %s (%.0f/s); waiting for each of their %d jobs to poll once", bc.instances, created.Round(time.Millisecond), float64(bc.instances)/created.Seconds(), jobs)
	if err := srv.waitPolls(ctx, float64(jobs), bc.interval+time.Minute); err != nil {
		return err
	}

	t := &benchTable{}
	t.head("pollen-bench: %d instances x %d resources (%s), interval %s", bc.instances, bc.resources, strings.Join(resources, ", "), bc.interval)
	t.head("servers: %s", srv.describe(bc))
	t.head("machine: %s", machine())
	t.row("instances created", "%d in %.1f s (%.0f/s)", bc.instances, created.Seconds(), float64(bc.instances)/created.Seconds())
	if bc.burst > 0 {
		err = benchBurst(ctx, bc, farm, rc, srv, t, say)
	} else {
		err = benchLoad(ctx, bc, farm, rc, srv, t, say, perPoll)
	}
	if err != nil && !errors.Is(err, errBenchMiss) {
		return err
	}
	peak, perr := srv.stop()
	if perr != nil {
		say("server: %v", perr)
	}
	if peak > 0 {
		t.row("server peak RSS", "%.0f MB%s", float64(peak)/(1<<20), map[bool]string{true: " (the largest node's)", false: ""}[bc.nodes > 1])
	}
	t.print(stdout)
	return err
}

// errBenchMiss is a run in which changes were never delivered.
var errBenchMiss = errors.New("some changes were never delivered")

// benchLoad runs the idle phase (one interval without changes) and the load phase.
func benchLoad(ctx context.Context, bc benchConfig, farm *deskFarm, rc *benchReceiver, srv *benchNodes, t *benchTable,
	say func(string, ...any), perPoll float64) error {
	say("idle phase: one interval (%s) without changes", bc.interval)
	s0, err := srv.snapshot(ctx, farm)
	if err != nil {
		return err
	}
	if err := sleepCtx(ctx, bc.interval); err != nil {
		return err
	}
	s1, err := srv.snapshot(ctx, farm)
	if err != nil {
		return err
	}
	idle := s1.minus(s0)
	jobs := float64(bc.instances * bc.resources)
	t.section("idle: %s without changes", bc.interval)
	t.row("polls", "%.0f (%.2f per job per interval)", idle.polls, idle.polls/jobs)
	t.row("vendor requests per poll", "%.3f (one per stream, the deleted query included: %.3f)", idle.requests/idle.polls, perPoll)
	t.row("events", "%d", rc.count())

	say("load phase: %s with %d changes per minute", bc.duration, bc.changes)
	var pg0 pgStats
	if isPostgres(bc.store) {
		if pg0, err = readPGStats(ctx, bc.store); err != nil {
			return err
		}
	}
	loadStart := time.Now()
	cctx, stopChanges := context.WithTimeout(ctx, bc.duration)
	madec := make(chan int, 1)
	go func() { madec <- farm.changeAtRate(cctx, bc.changes, bc.seed) }()
	victim := -1
	if bc.nodes > 1 && bc.kill {
		victim = bc.nodes - 1
		if err := sleepCtx(cctx, bc.duration/2); err != nil && ctx.Err() != nil {
			stopChanges()
			return ctx.Err()
		}
		if err := srv.kill(ctx, victim); err != nil {
			stopChanges()
			return err
		}
		farm.markKill(time.Now())
		say("%s killed (SIGKILL)", srv.nodes[victim].name)
	}
	made := <-madec
	stopChanges()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s2, err := srv.snapshot(ctx, farm)
	if err != nil {
		return err
	}
	elapsed := time.Since(loadStart)
	load := s2.minus(s1)
	var pg pgStats
	if isPostgres(bc.store) {
		pg1, err := readPGStats(ctx, bc.store)
		if err != nil {
			return err
		}
		pg = pg1.minus(pg0)
	}

	// The last changes arrive within an interval (and the delivery after it).
	say("waiting for the load phase's last events (%d changes made)", made)
	want := farm.expected(loadStart)
	missing := rc.waitFor(ctx, want, bc.timeout)

	t.section("load: %s, %d changes per minute", bc.duration, bc.changes)
	t.row("polls/s", "%.1f", load.polls/elapsed.Seconds())
	t.row("schedule lag p50 / p99", "%s / %s", fmtSeconds(load.lag.quantile(0.5)), fmtSeconds(load.lag.quantile(0.99)))
	t.row("poll duration p50 / p99", "%s / %s", fmtSeconds(load.pollTime.quantile(0.5)), fmtSeconds(load.pollTime.quantile(0.99)))
	lat := rc.latencies(want)
	t.row("change to delivery p50 / p99", "%s / %s (interval %s)", fmtSeconds(quantile(lat, 0.5)), fmtSeconds(quantile(lat, 0.99)), bc.interval)
	t.row("notification POST p50 / p99", "%s / %s", fmtSeconds(load.sendTime.quantile(0.5)), fmtSeconds(load.sendTime.quantile(0.99)))
	t.row("changes made / delivered", "%d / %d (%d superseded by a later change before a poll, %d missing)", want.changes, want.changes-want.superseded(rc)-len(missing), want.superseded(rc), len(missing))
	t.row("events/s delivered", "%.1f (%d events in %d notifications, %d duplicates, %d bad signatures)", load.delivered/elapsed.Seconds(), rc.count(), rc.notes.Load(), rc.dups.Load(), rc.rejected.Load())
	t.row("vendor requests per poll", "%.3f", load.requests/load.polls)
	if want.changes > 0 {
		t.row("vendor requests per change", "%.2f (%.3f beyond the idle cost)", load.requests/float64(want.changes), (load.requests-perPoll*load.polls)/float64(want.changes))
	}
	t.row("vendor 429s", "%.0f (simulator) / %.0f (server)", load.rateLimited, load.server429)
	if load.polls > 0 {
		t.row("server CPU per 1,000 polls", "%.2f s (%.1f%% of one core)", load.cpu/load.polls*1000, 100*load.cpu/elapsed.Seconds())
	}
	t.row("server RSS at the end", "%.0f MB", s2.rss/(1<<20))
	if isPostgres(bc.store) && load.polls > 0 {
		t.row("PostgreSQL transactions per poll", "%.3f (%.0f/s; reads included)", pg.commits/load.polls, pg.commits/elapsed.Seconds())
		t.row("PostgreSQL rows written per poll", "%.3f (%.0f inserted, %.0f updated, %.0f deleted; %.0f/s)",
			pg.writes()/load.polls, pg.inserted, pg.updated, pg.deleted, pg.writes()/elapsed.Seconds())
		if localStore(bc.store) {
			t.row("PostgreSQL CPU per 1,000 polls", "%.2f s (%.1f%% of one core; the backends serving its database)",
				pg.cpu/load.polls*1000, 100*pg.cpu/elapsed.Seconds())
		}
	}
	if victim >= 0 {
		fo := farm.failover(bc.interval)
		name := srv.nodes[victim].name
		if fo.late == 0 {
			t.row("failover", "%s killed at %s: no account polled later than its schedule (%d not polled since)", name, bc.duration/2, fo.waiting)
		} else {
			t.row("failover", "%s killed at %s: %d accounts polled late, by a survivor %s (p50) / %s (max) after the kill; %d not polled since",
				name, bc.duration/2, fo.late, fmtSeconds(fo.takeover[len(fo.takeover)/2].Seconds()), fmtSeconds(fo.takeover[len(fo.takeover)-1].Seconds()), fo.waiting)
		}
	}
	if len(missing) > 0 {
		for _, k := range missing[:min(len(missing), 5)] {
			say("never delivered: %s", k)
		}
		return fmt.Errorf("%w: %d", errBenchMiss, len(missing))
	}
	return nil
}

// benchBurst changes bc.burst tickets at once and times their delivery.
func benchBurst(ctx context.Context, bc benchConfig, farm *deskFarm, rc *benchReceiver, srv *benchNodes, t *benchTable,
	say func(string, ...any)) error {
	s0, err := srv.snapshot(ctx, farm)
	if err != nil {
		return err
	}
	say("burst: changing %d tickets at once", bc.burst)
	start := time.Now()
	farm.burstUpdate()
	changed := time.Since(start)
	want := farm.expected(start)
	done := make(chan []string, 1)
	go func() { done <- rc.waitFor(ctx, want, bc.timeout) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var missing []string
wait:
	for {
		select {
		case missing = <-done:
			break wait
		case <-tick.C:
			say("  %d of %d events delivered", rc.matched(want), len(want.keys))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s1, err := srv.snapshot(ctx, farm)
	if err != nil {
		return err
	}
	d := s1.minus(s0)
	lat := rc.latencies(want)
	first, last := rc.span(want)
	total := last.Sub(start)
	t.section("burst: %d tickets changed at once, over %d accounts", bc.burst, bc.instances)
	if bc.latency != "" {
		t.row("vendor latency", "%s a page", bc.latency)
	}
	t.row("changed at the vendor in", "%s", changed.Round(time.Millisecond))
	t.row("first event delivered after", "%s (interval %s)", fmtSeconds(first.Sub(start).Seconds()), bc.interval)
	t.row("all delivered after", "%s (%d of %d, %d missing)", fmtSeconds(total.Seconds()), len(want.keys)-len(missing), len(want.keys), len(missing))
	t.row("events/s, change to last delivery", "%.0f", float64(len(want.keys)-len(missing))/total.Seconds())
	t.row("events/s, first to last delivery", "%.0f", float64(len(want.keys)-len(missing))/last.Sub(first).Seconds())
	t.row("change to delivery p50 / p99", "%s / %s (interval %s)", fmtSeconds(quantile(lat, 0.5)), fmtSeconds(quantile(lat, 0.99)), bc.interval)
	t.row("poll duration p50 / p99", "%s / %s", fmtSeconds(d.pollTime.quantile(0.5)), fmtSeconds(d.pollTime.quantile(0.99)))
	t.row("notification POST p50 / p99", "%s / %s", fmtSeconds(d.sendTime.quantile(0.5)), fmtSeconds(d.sendTime.quantile(0.99)))
	t.row("notifications", "%d (%d duplicate events, %d bad signatures)", rc.notes.Load(), rc.dups.Load(), rc.rejected.Load())
	t.row("polls / vendor requests", "%.0f / %.0f (%.0f 429s)", d.polls, d.requests, d.rateLimited)
	need := 0 // the pages the changed tickets fill, per account
	for _, a := range farm.accounts {
		need += ceilDiv(len(a.tickets), 100)
	}
	idle := d.polls * perPollIdle(bc)
	t.row("requests per page of changed tickets", "%.2f (%.0f beyond one per stream per poll, for %d pages of 100)",
		(d.requests-idle)/float64(need), d.requests-idle, need)
	t.row("server CPU", "%.1f s (%.0f µs per event)", d.cpu, 1e6*d.cpu/float64(len(want.keys)))
	t.row("server RSS at the end", "%.0f MB", s1.rss/(1<<20))
	if len(missing) > 0 {
		return fmt.Errorf("%w: %d", errBenchMiss, len(missing))
	}
	return nil
}

// perPollIdle is the requests a poll makes when it finds nothing: one per stream.
func perPollIdle(bc benchConfig) float64 {
	n, err := idleRequestsPerPoll(benchResources[:bc.resources])
	if err != nil {
		return 1
	}
	return n
}

// idleRequestsPerPoll is the idle cost the definitions promise: one request per stream of a
// resource (its changes, and its deleted query when it declares one), averaged over resources.
func idleRequestsPerPoll(resources []string) (float64, error) {
	cat := definitions.NewRegistry(definitions.RegistryOptions{}).Reload()
	el, ok := cat.Element("freshdeskv2")
	if !ok {
		return 0, errors.New("the built-in freshdeskv2 element does not load")
	}
	n := 0
	for _, name := range resources {
		r, ok := el.Resources[name]
		if !ok {
			return 0, fmt.Errorf("freshdeskv2 has no resource %q", name)
		}
		n++
		if r.HasDeletedQuery() {
			n++
		}
	}
	return float64(n) / float64(len(resources)), nil
}

// deskFarm is the simulated vendor: one fakedesk account per instance, account n served under
// /a/{n}.
type deskFarm struct {
	accounts []*benchAccount
	killMark atomic.Int64 // unix nanoseconds of a node's kill; 0 before (failover.go)
}

// benchAccount is one simulated account and the records the harness changes in it.
type benchAccount struct {
	desk     *freshdesk.Server
	instance int64
	mu       sync.Mutex
	tickets  []int64
	contacts []int64

	lastPage   atomic.Int64 // unix nanoseconds of its latest page request
	firstAfter atomic.Int64 // of its first page request after the kill mark
	lastBefore int64        // lastPage at the kill mark
}

const (
	benchTickets  = 5 // tickets per account before the instances exist (without --burst)
	benchContacts = 2
)

func newDeskFarm(bc benchConfig) *deskFarm {
	f := &deskFarm{accounts: make([]*benchAccount, bc.instances)}
	for i := range f.accounts {
		lat, _ := kernel.ParseLatency(bc.latency) // checked by runBench
		a := &benchAccount{}
		desk := freshdesk.New(freshdesk.Options{APIKey: "key-" + strconv.Itoa(i), Seed: int64(bc.seed) + int64(i),
			PathPrefix: "/a/" + strconv.Itoa(i), RatePerMinute: 700, Latency: lat,
			OnListPage: func(string, int) { f.notePage(a) }})
		a.desk = desk
		for range benchContacts {
			a.contacts = append(a.contacts, recordID(desk.CreateContact(nil)))
		}
		n := benchTickets
		if bc.burst > 0 {
			n = bc.burst / bc.instances
			if i < bc.burst%bc.instances {
				n++
			}
		}
		a.tickets = desk.BurstCreateTickets(n, nil)
		f.accounts[i] = a
	}
	return f
}

func recordID(rec map[string]any) int64 {
	id, _ := rec["id"].(int64)
	return id
}

// ServeHTTP routes /a/{n}/... to account n.
func (f *deskFarm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/a/")
	i := strings.IndexByte(rest, '/')
	if !ok || i < 0 {
		http.NotFound(w, r)
		return
	}
	n, err := strconv.Atoi(rest[:i])
	if err != nil || n < 0 || n >= len(f.accounts) {
		http.NotFound(w, r)
		return
	}
	f.accounts[n].desk.ServeHTTP(w, r)
}

// createInstances posts one instance per account, a few at a time.
func (f *deskFarm) createInstances(ctx context.Context, srv *benchNodes, deskURL, recvURL, key string, bc benchConfig, resources []string) error {
	example, err := definitions.Example("freshdeskv2", "polling")
	if err != nil {
		return err
	}
	var body struct {
		Configuration map[string]json.RawMessage `json:"configuration"`
	}
	if err := json.Unmarshal(example, &body); err != nil {
		return err
	}
	var pollers map[string]json.RawMessage
	if err := json.Unmarshal(body.Configuration["event.poller.configuration"], &pollers); err != nil {
		return err
	}
	conf := map[string]json.RawMessage{}
	for _, name := range resources {
		if p, ok := pollers[name]; ok {
			conf[name] = p
		} else {
			conf[name] = json.RawMessage(`{}`) // the resource's default poller configuration
		}
	}
	minutes := strconv.FormatFloat(bc.interval.Minutes(), 'f', -1, 64)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(f.accounts) || ctx.Err() != nil {
					return
				}
				hook := recvURL + "/hook/" + strconv.Itoa(i)
				if bc.sharedCallback {
					hook = recvURL + "/hook"
				}
				b, _ := json.Marshal(map[string]any{
					"element": map[string]string{"key": "freshdeskv2"},
					"name":    "bench-" + strconv.Itoa(i),
					"tags":    []string{"bench"},
					"configuration": map[string]any{
						"subdomain":                        "bench" + strconv.Itoa(i),
						"username":                         "key-" + strconv.Itoa(i),
						"base.url":                         deskURL + "/a/" + strconv.Itoa(i),
						"event.notification.callback.url":  hook,
						"event.notification.signature.key": key,
						"event.poller.refresh_interval":    minutes,
						"event.poller.configuration":       conf,
					},
				})
				id, err := srv.createInstance(ctx, i, b)
				if err != nil {
					errc <- fmt.Errorf("creating instance %d: %w", i, err)
					return
				}
				f.accounts[i].instance = id // each worker its own accounts; read after wg.Wait
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// changeAtRate makes perMinute changes a minute, spread over random accounts, until ctx ends,
// and returns how many it made.
func (f *deskFarm) changeAtRate(ctx context.Context, perMinute int, seed uint64) int {
	if perMinute == 0 {
		<-ctx.Done()
		return 0
	}
	rng := rand.New(rand.NewPCG(seed, seed^0xbe7c4))
	const step = 50 * time.Millisecond
	tick := time.NewTicker(step)
	defer tick.Stop()
	made, owed := 0, 0.0
	for {
		select {
		case <-ctx.Done():
			return made
		case <-tick.C:
		}
		owed += float64(perMinute) * step.Seconds() / 60
		for ; owed >= 1; owed-- {
			f.accounts[rng.IntN(len(f.accounts))].change(rng)
			made++
		}
	}
}

// change makes one realistic change: create or update a ticket, update a contact, or delete a
// ticket.
func (a *benchAccount) change(rng *rand.Rand) {
	a.mu.Lock()
	defer a.mu.Unlock()
	roll := rng.IntN(100)
	switch {
	case roll < 30 || len(a.tickets) == 0:
		a.tickets = append(a.tickets, recordID(a.desk.CreateTicket(nil)))
	case roll < 75:
		_, _ = a.desk.UpdateTicket(a.tickets[rng.IntN(len(a.tickets))], map[string]any{"priority": int64(1 + rng.IntN(4))})
	case roll < 95:
		_, _ = a.desk.UpdateContact(a.contacts[rng.IntN(len(a.contacts))], map[string]any{"job_title": "Role " + strconv.Itoa(rng.IntN(1000))})
	default:
		i := rng.IntN(len(a.tickets))
		_ = a.desk.DeleteTicket(a.tickets[i])
		a.tickets = slices.Delete(a.tickets, i, i+1)
	}
}

// burstUpdate moves every ticket of every account to the current second.
func (f *deskFarm) burstUpdate() {
	var wg sync.WaitGroup
	for _, a := range f.accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.tickets) > 0 {
				_ = a.desk.BurstUpdateTickets(a.tickets, nil)
			}
		}()
	}
	wg.Wait()
}

// benchObjectTypes maps the simulator's change log resources to the instances' object types.
var benchObjectTypes = map[string]string{"tickets": "incidents", "contacts": "contacts"}

// benchWant is what the receiver must get for the changes made since a time: one event key per
// (object, updated second), with when the change was made.
type benchWant struct {
	keys    map[string]time.Time // event key -> when the change was made (the first, for a second changed twice)
	objects map[string][]string  // object -> its event keys, oldest first
	changes int
}

// expected reads the simulators' change logs for the changes made since from.
func (f *deskFarm) expected(from time.Time) *benchWant {
	w := &benchWant{keys: map[string]time.Time{}, objects: map[string][]string{}}
	for _, a := range f.accounts {
		for _, c := range a.desk.Changes() {
			ot, ok := benchObjectTypes[c.Resource]
			if !ok || c.At.Before(from) {
				continue
			}
			w.changes++
			obj := fmt.Sprintf("%d/%s/%d", a.instance, ot, c.ID)
			key := obj + "/" + c.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")
			if _, dup := w.keys[key]; dup {
				continue
			}
			w.keys[key] = c.At
			w.objects[obj] = append(w.objects[obj], key)
		}
	}
	return w
}

// superseded counts changes not delivered because a later change of the same object came before
// the next poll: the vendor only lists an object's latest state.
func (w *benchWant) superseded(rc *benchReceiver) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, keys := range w.objects {
		for i, k := range keys {
			if _, got := rc.got[k]; got {
				continue
			}
			for _, later := range keys[i+1:] {
				if _, got := rc.got[later]; got {
					n++
					break
				}
			}
		}
	}
	return n
}

// benchReceiver is the callback of every instance: it checks each notification's signature and
// notes when each event arrived.
type benchReceiver struct {
	key      string
	mu       sync.Mutex
	got      map[string]time.Time
	notes    atomic.Int64
	dups     atomic.Int64
	rejected atomic.Int64
}

func newBenchReceiver(key string) *benchReceiver {
	return &benchReceiver{key: key, got: map[string]time.Time{}}
}

func (rc *benchReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	now := time.Now()
	if err != nil || !webhook.Verify(rc.key, body, r.Header.Get(webhook.HeaderSignature)) {
		rc.rejected.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	msg := gjson.GetBytes(body, "message")
	inst := msg.Get("instanceId").Int()
	rc.notes.Add(1)
	rc.mu.Lock()
	for _, e := range msg.Get("events").Array() {
		key := fmt.Sprintf("%d/%s/%s/%s", inst, e.Get("objectType").Str, e.Get("objectId").Str, e.Get("date").Str)
		if _, dup := rc.got[key]; dup {
			rc.dups.Add(1)
			continue
		}
		rc.got[key] = now
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rc *benchReceiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func (rc *benchReceiver) matched(w *benchWant) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for k := range w.keys {
		if _, ok := rc.got[k]; ok {
			n++
		}
	}
	return n
}

// waitFor waits until every wanted change is delivered or superseded, or for at most limit, and
// returns the keys still missing. Each look checks only what the previous one still missed.
func (rc *benchReceiver) waitFor(ctx context.Context, w *benchWant, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	missing := make([]string, 0, len(w.objects))
	for _, keys := range w.objects {
		missing = append(missing, keys[len(keys)-1]) // an object's latest change
	}
	for {
		rc.mu.Lock()
		missing = slices.DeleteFunc(missing, func(k string) bool {
			_, ok := rc.got[k]
			return ok
		})
		rc.mu.Unlock()
		if len(missing) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			slices.Sort(missing)
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// latencies are the seconds from each delivered change to its arrival.
func (rc *benchReceiver) latencies(w *benchWant) []float64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []float64
	for k, at := range w.keys {
		if got, ok := rc.got[k]; ok {
			out = append(out, got.Sub(at).Seconds())
		}
	}
	slices.Sort(out)
	return out
}

// span is when the first and the last wanted event arrived.
func (rc *benchReceiver) span(w *benchWant) (first, last time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for k := range w.keys {
		got, ok := rc.got[k]
		if !ok {
			continue
		}
		if first.IsZero() || got.Before(first) {
			first = got
		}
		if got.After(last) {
			last = got
		}
	}
	return first, last
}

// quantile of sorted values, nearest rank; NaN when there are none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return -1
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func fmtSeconds(s float64) string {
	switch {
	case s < 0:
		return "-"
	case s < 1:
		return fmt.Sprintf("%.1f ms", s*1000)
	default:
		return fmt.Sprintf("%.2f s", s)
	}
}

// benchServer is the Pollen server under test, a child process.
type benchServer struct {
	name      string // --node; "" alone
	cmd       *exec.Cmd
	url       string
	user, org string
	logPath   string
	http      *http.Client
	once      sync.Once
	peak      int64
	stopErr   error
}

func startBenchServer(ctx context.Context, bc benchConfig, exe, dataDir, name string, shared sharedSecrets) (*benchServer, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &benchServer{name: name, url: "http://" + addr, user: shared.user, org: shared.org,
		logPath: filepath.Join(dataDir, "server.log"),
		http:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: time.Minute}}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	// The simulator and the receiver are on loopback: the bench opens the egress policy to them.
	args := []string{"serve", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn", "--poll-deadline", "30m",
		"--poll-workers", strconv.Itoa(bc.pollWorkers), "--delivery-workers", strconv.Itoa(bc.deliveryWorkers),
		"--allow-private-networks", "--min-interval", min(bc.interval, time.Second).String()}
	if bc.callbackRate > 0 {
		args = append(args, "--callback-rate", strconv.FormatFloat(bc.callbackRate, 'g', -1, 64))
	}
	if bc.store != "" {
		args = append(args, "--store", bc.store)
	}
	if name != "" {
		args = append(args, "--node", name)
	}
	if bc.leasePeriod > 0 {
		args = append(args, "--lease-period", bc.leasePeriod.String())
	}
	if bc.profile {
		args = append(args, "--cpuprofile", filepath.Join(dataDir, "cpu.pprof"), "--memprofile", filepath.Join(dataDir, "heap.pprof"))
	}
	s.cmd = exec.Command(exe, args...)
	s.cmd.Env = append(os.Environ(), "POLLEN_USER_SECRET="+s.user, "POLLEN_ORGANIZATION_SECRET="+s.org, "POLLEN_KEY="+shared.key)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	logf.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.http.Get(s.url + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("the server did not start (see %s)", s.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildPollen builds cmd/pollen of the module in the working directory into dir, for a run
// without --pollen, and returns the binary's path.
func buildPollen(ctx context.Context, dir string) (string, error) {
	exe := filepath.Join(dir, "pollen")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", exe, "github.com/pollen-hq/pollen/cmd/pollen").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building pollen (or give --pollen PATH): %v\n%s", err, out)
	}
	return exe, nil
}

// stop ends the server gracefully and returns its peak RSS in bytes.
func (s *benchServer) stop() (int64, error) {
	s.once.Do(func() {
		s.peak = peakRSS(s.cmd.Process.Pid)
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case s.stopErr = <-done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			s.stopErr = <-done
		}
	})
	return s.peak, s.stopErr
}

// kill SIGKILLs the server and reaps it.
func (s *benchServer) kill() error {
	var err error
	s.once.Do(func() {
		err = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.stopErr = errors.New("killed")
	})
	return err
}

// nameOr is the server's node name, or "the server" alone.
func (s *benchServer) nameOr() string {
	if s.name == "" {
		return "the server"
	}
	return s.name
}

// peakRSS is a process's peak resident set in bytes (VmHWM), 0 when unknown. Not the child's
// rusage: on Linux its ru_maxrss counts the parent's resident set when the child was started,
// since the child shares the parent's memory until it executes the program.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func (s *benchServer) createInstance(ctx context.Context, body []byte) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/instances", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "User "+s.user+", Organization "+s.org)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST /instances: %s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	return gjson.GetBytes(out, "id").Int(), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// benchSnapshot is the counters at one moment: the server's (from /metrics) and the
// simulator's.
type benchSnapshot struct {
	polls, delivered, cpu, rss, server429 float64
	requests, rateLimited                 float64
	lag, pollTime, sendTime               histogram
}

// snapshotOf is one server's counters in a reading of its metrics.
func snapshotOf(m scrape) benchSnapshot {
	return benchSnapshot{
		polls:     m.sum("pollen_polls_total"),
		delivered: m.sum("pollen_delivered_events_total"),
		cpu:       m.sum("process_cpu_seconds_total"),
		rss:       m.sum("process_resident_memory_bytes"),
		server429: m.sumWhere("pollen_vendor_requests_total", `code="429"`),
		lag:       m.histogram("pollen_poll_lag_seconds"),
		pollTime:  m.histogram("pollen_poll_duration_seconds"),
		sendTime:  m.histogram("pollen_delivery_duration_seconds"),
	}
}

// plus is the counters of two servers together (RSS: the larger).
func (a benchSnapshot) plus(b benchSnapshot) benchSnapshot {
	return benchSnapshot{polls: a.polls + b.polls, delivered: a.delivered + b.delivered, cpu: a.cpu + b.cpu, rss: max(a.rss, b.rss),
		server429: a.server429 + b.server429, requests: a.requests + b.requests, rateLimited: a.rateLimited + b.rateLimited,
		lag: a.lag.plus(b.lag), pollTime: a.pollTime.plus(b.pollTime), sendTime: a.sendTime.plus(b.sendTime)}
}

func (a benchSnapshot) minus(b benchSnapshot) benchSnapshot {
	return benchSnapshot{polls: a.polls - b.polls, delivered: a.delivered - b.delivered, cpu: a.cpu - b.cpu, rss: a.rss,
		server429: a.server429 - b.server429, requests: a.requests - b.requests, rateLimited: a.rateLimited - b.rateLimited,
		lag: a.lag.minus(b.lag), pollTime: a.pollTime.minus(b.pollTime), sendTime: a.sendTime.minus(b.sendTime)}
}

// benchTable is the printed report.
type benchTable struct {
	lines []string
}

func (t *benchTable) head(format string, args ...any) {
	t.lines = append(t.lines, fmt.Sprintf(format, args...))
}

func (t *benchTable) section(format string, args ...any) {
	t.lines = append(t.lines, "", fmt.Sprintf(format, args...))
}

func (t *benchTable) row(name, format string, args ...any) {
	t.lines = append(t.lines, fmt.Sprintf("  %-36s %s", name, fmt.Sprintf(format, args...)))
}

func (t *benchTable) print(w io.Writer) {
	fmt.Fprintln(w)
	for _, l := range t.lines {
		fmt.Fprintln(w, l)
	}
}

// machine describes this machine: OS, architecture, CPUs and their model, Go version.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = " (" + strings.TrimSpace(v) + ")"
				break
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d CPUs%s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, runtime.Version())
}
