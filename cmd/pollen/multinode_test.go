package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/adapters/sim/kernel"
	"github.com/pollen-hq/pollen/cmd/internal/demo"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

// TestMultiNodeKills: three pollen serve processes share one PostgreSQL database and 300
// instances, each polling its own simulated Freshdesk account, while changes flow at random
// accounts. One node is SIGKILLed during steady load, a second during a burst (150 tickets at
// once in 20 accounts); the survivors take over their accounts; the first comes back and accounts
// move to it. Then:
//
//   - every change is delivered: each changed record's latest state, as an event of its date
//     (the vendor lists only a record's latest state, so a change followed by another before a
//     poll read it has no event of its own);
//   - duplicates only as copies of one event: an event delivered twice carries the same eventId
//     and is the same event (at-least-once), never one change as two events;
//   - no job polled by two nodes at once: no simulated account saw two walks of one resource
//     under way together (kernel.Stats.WalkOverlaps, pages in flight);
//   - the failover time, from a kill to the moment every account has been asked for a page
//     again, is measured and logged (never asserted: timings belong in benchmarks).
func TestMultiNodeKills(t *testing.T) {
	if testing.Short() {
		t.Skip("three pollen processes and PostgreSQL: not in -short")
	}
	store := pgtest.URL(t)
	const (
		accounts = 300
		interval = 2 * time.Second
		period   = 2 * time.Second
	)
	farm := rig.NewFarm(t, accounts, 17)
	// Pages that take a few milliseconds, as a vendor's do: two walks of one job would overlap on
	// them.
	farm.SetLatency(kernel.Latency{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond})
	recv := rig.NewReceiver(t)
	cl := rig.StartCluster(t, rig.ClusterOptions{Nodes: 3, Store: store, Args: []string{"--lease-period", period.String()}})

	// The instances, created through every node in turn: any node answers any API call.
	start := time.Now()
	createInstances(t, cl, farm, recv, interval)
	rig.Until(t, "every account polled", func() bool { _, ok := farm.Resumed(start); return ok })
	t.Logf("%d instances created and polled in %s", accounts, time.Since(start).Round(time.Millisecond))

	ctx, stop := context.WithCancel(context.Background())
	var made int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		made = farm.ChangeAtRate(ctx, 25, 17)
	}()
	defer func() { stop(); wg.Wait() }()

	steady := func(d time.Duration) {
		time.Sleep(d) // changes flow meanwhile: a length of load, not a synchronisation
	}
	failover := func(node int, burst bool) {
		t.Helper()
		steady(2 * interval)
		if burst {
			// 150 tickets at once in each of 20 accounts, polled over two pages each: the kill
			// comes while they are read and delivered.
			var some []int
			for i := range 20 {
				some = append(some, i*accounts/20)
			}
			farm.Burst(some, 150)
			time.Sleep(interval / 2) // into the polls that read it: a moment of the load, not a synchronisation
		}
		cl.Nodes[node].Kill()
		killed := time.Now()
		var took time.Duration
		rig.Until(t, fmt.Sprintf("every account polled after %s was killed", rig.NodeName(node)), func() bool {
			var ok bool
			took, ok = farm.Resumed(killed)
			return ok
		})
		t.Logf("%s killed: every account polled again within %s (lease period %s, interval %s)",
			rig.NodeName(node), took.Round(10*time.Millisecond), period, interval)
	}
	failover(1, false)
	failover(2, true)
	// The first node killed comes back: accounts move to it, handed over by the survivor.
	cl.Nodes[1].Start()
	rig.Until(t, "accounts moved to the node back", func() bool { return cl.Nodes[1].Leases() > 0 })
	steady(2 * period)
	t.Logf("after %s came back: %s holds %d accounts, %s %d", rig.NodeName(1),
		rig.NodeName(0), cl.Nodes[0].Leases(), rig.NodeName(1), cl.Nodes[1].Leases())
	stop()
	wg.Wait()

	// Every record's latest change, delivered.
	want := farm.Latest(start)
	got := func() map[string]bool {
		have := map[string]bool{}
		for _, n := range recv.Accepted() {
			for _, e := range n.Events {
				have[rig.EventKey(n.InstanceID, e)] = true
			}
		}
		return have
	}
	var missing []string
	if !rig.Within(rig.Patience, func() bool {
		have := got()
		missing = slices.DeleteFunc(slices.Clone(want), func(k string) bool { return have[k] })
		return len(missing) == 0
	}) {
		t.Errorf("%d of %d records' latest changes never delivered, e.g. %v", len(missing), len(want), missing[:min(len(missing), 10)])
	}

	// Copies only of one event: each change one eventId, copies of it identical.
	evs, dups, problems := recv.Received()
	byChange := map[string][]string{}
	for _, n := range recv.Accepted() {
		for _, e := range n.Events {
			k := rig.EventKey(n.InstanceID, e) + "/" + e.EventType
			if !slices.Contains(byChange[k], e.EventID) {
				byChange[k] = append(byChange[k], e.EventID)
			}
		}
	}
	for k, ids := range byChange {
		if len(ids) > 1 {
			t.Errorf("change %s delivered as %d events: %v", k, len(ids), ids)
		}
	}
	for _, p := range problems {
		// A notification whose sender was killed mid-body is refused as unreadable, and sent again
		// by the node that takes the account over; a bad signature is never excused.
		if !strings.HasPrefix(p, "notification rejected by the receiver: reading the body") {
			t.Error(p)
		}
	}

	// Never two walks of one job at once.
	for n, what := range farm.WalkOverlaps() {
		t.Errorf("account %d (instance %d) polled from two places at once: %s", n, farm.Accounts[n].Instance, what)
	}
	t.Logf("%d changes made, %d events delivered (%d records' latest), %d copies of events sent again; %d list pages served",
		made, len(evs), len(want), dups, farm.Pages())
}

// createInstances creates an instance per farm account, through the cluster's running nodes in
// turn, a few at a time.
func createInstances(t *testing.T, cl *rig.Cluster, farm *rig.Farm, recv *rig.Receiver, interval time.Duration) {
	t.Helper()
	var running []*rig.Process
	for _, p := range cl.Nodes {
		if p.Running() {
			running = append(running, p)
		}
	}
	jobs := make(chan int)
	errs := make(chan error, len(farm.Accounts))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				a, p := farm.Accounts[i], running[i%len(running)]
				id, err := demo.CreateInstance(context.Background(), p.URL, rig.UserSecret, rig.OrgSecret, "freshdeskv2", farm.Instance(a, recv, interval))
				if err != nil {
					errs <- fmt.Errorf("account %d through %s: %w", i, p.URL, err)
					continue
				}
				a.Instance = id
			}
		}()
	}
	for i := range farm.Accounts {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
