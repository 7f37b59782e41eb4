package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The cluster's tests run several nodes (a Runtime and a Cluster each) in one synctest bubble,
// sharing one MemLeases as nodes share PostgreSQL, one fake vendor, and one store that checks
// fences as PostgreSQL does.

const testPeriod = time.Second

// cutLeases is a node's view of the shared leases: once cut, every call fails, as for a node cut
// off from the database (or killed: its heartbeat and leases are no longer renewed).
type cutLeases struct {
	Leases
	cut  atomic.Bool
	hang atomic.Bool // once cut, calls hang until their context ends, as over a dead network
}

// fail is what a call of a cut-off node gets.
func (l *cutLeases) fail(ctx context.Context) error {
	if l.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return errCut
}

var errCut = errors.New("cut off from the store")

func (l *cutLeases) Heartbeat(ctx context.Context, n NodeInfo, ttl time.Duration) ([]NodeInfo, error) {
	if l.cut.Load() {
		return nil, l.fail(ctx)
	}
	return l.Leases.Heartbeat(ctx, n, ttl)
}

func (l *cutLeases) Acquire(ctx context.Context, a, n string) (Lease, bool, error) {
	if l.cut.Load() {
		return Lease{}, false, l.fail(ctx)
	}
	return l.Leases.Acquire(ctx, a, n)
}

func (l *cutLeases) Release(ctx context.Context, x Lease) error {
	if l.cut.Load() {
		return l.fail(ctx)
	}
	return l.Leases.Release(ctx, x)
}

func (l *cutLeases) Holders(ctx context.Context) ([]Lease, error) {
	if l.cut.Load() {
		return nil, l.fail(ctx)
	}
	return l.Leases.Holders(ctx)
}

func (l *cutLeases) Leave(ctx context.Context, n string) error {
	if l.cut.Load() {
		return l.fail(ctx)
	}
	return l.Leases.Leave(ctx, n)
}

// fencedStore is a pollStoreFake that checks each commit's fence against the shared leases, in
// the commit, as a shared store does.
type fencedStore struct {
	*pollStoreFake
	leases *MemLeases
}

func (s fencedStore) CommitPoll(ctx context.Context, c Commit) error {
	s.mu.Lock()
	err := s.leases.Check(c.Fence)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.pollStoreFake.CommitPoll(ctx, c)
}

type clusterRig struct {
	t      *testing.T
	cat    *Catalog
	leases *MemLeases
	src    *schedSourceFake
	store  fencedStore
	ins    []*Instance
	nodes  map[string]*testNode

	mu    sync.Mutex
	polls map[JobKey][]time.Time // when each job's polls started, on any node
}

type testNode struct {
	rt     *Runtime
	c      *Cluster
	leases *cutLeases
	stop   func()
}

func newClusterRig(t *testing.T, instances int) *clusterRig {
	cat := testCatalog(t)
	leases := NewMemLeases(nil)
	r := &clusterRig{t: t, cat: cat, leases: leases, src: newSchedSourceFake(20 * time.Millisecond),
		store: fencedStore{newPollStoreFake(), leases}, nodes: map[string]*testNode{}, polls: map[JobKey][]time.Time{}}
	for i := 1; i <= instances; i++ {
		in := schedInstance(t, cat, int64(i))
		in.Interval = 100 * time.Millisecond
		r.ins = append(r.ins, in)
	}
	return r
}

// start starts a node that knows every instance, as its instance service would have applied them.
func (r *clusterRig) start(name string) *testNode { return r.startWith(name, r.cat) }

// startWith starts a node whose definitions are cat.
func (r *clusterRig) startWith(name string, cat *Catalog) *testNode {
	rt := NewRuntime(RuntimeOptions{Catalog: cat, Source: r.src, Store: r.store, Outbox: &outboxFake{}, Sink: &sinkFake{status: 200}, Clock: SystemClock{},
		OnPoll: func(ev PollEvent) {
			r.mu.Lock()
			r.polls[ev.Key] = append(r.polls[ev.Key], ev.At)
			r.mu.Unlock()
		}})
	l := &cutLeases{Leases: r.leases}
	c, err := NewCluster(ClusterOptions{Node: name, Leases: l, Runtime: rt, Period: testPeriod})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, in := range r.ins {
		c.Apply(in)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = rt.Run(ctx) }()
	go func() { defer wg.Done(); _ = c.Run(ctx) }()
	n := &testNode{rt: rt, c: c, leases: l, stop: func() { cancel(); wg.Wait() }}
	r.nodes[name] = n
	return n
}

// owners returns, for each instance, the nodes running it.
func (r *clusterRig) owners() map[int64][]string {
	out := map[int64][]string{}
	for name, n := range r.nodes {
		for _, in := range r.ins {
			if _, ok := n.rt.Instance(in.ID); ok {
				out[in.ID] = append(out[in.ID], name)
			}
		}
	}
	return out
}

// exactlyOnce checks that each instance runs on exactly one of the nodes named, and returns how
// many each runs.
func (r *clusterRig) exactlyOnce(when string, live ...string) map[string]int {
	r.t.Helper()
	count := map[string]int{}
	own := r.owners()
	for _, in := range r.ins {
		o := own[in.ID]
		if len(o) != 1 {
			r.t.Errorf("%s: instance %d runs on %v, want exactly one node", when, in.ID, o)
			continue
		}
		count[o[0]]++
	}
	for name := range count {
		found := false
		for _, l := range live {
			found = found || l == name
		}
		if !found {
			r.t.Errorf("%s: node %s runs instances, want only %v", when, name, live)
		}
	}
	return count
}

// noOverlap checks that no job was ever polled by two nodes at once: the vendor never saw two
// requests of one job (one account's one path) in flight together.
func (r *clusterRig) noOverlap() {
	r.t.Helper()
	r.src.mu.Lock()
	defer r.src.mu.Unlock()
	for k, n := range r.src.maxRun {
		if n > 1 && len(k) > 0 && k[len(k)-1] != '/' && containsPath(k) {
			r.t.Errorf("%s: %d requests in flight at once", k, n)
		}
	}
}

func containsPath(k string) bool {
	for i := 0; i+4 <= len(k); i++ {
		if k[i:i+4] == "/api" {
			return true
		}
	}
	return false
}

func TestClusterAssignsRebalancesAndTakesOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newClusterRig(t, 24)
		r.start("a")
		r.start("b")
		r.start("c")
		run(3 * testPeriod)
		count := r.exactlyOnce("three nodes", "a", "b", "c")
		if len(count) != 3 {
			t.Errorf("three nodes share the accounts as %v, want each some", count)
		}
		for name, n := range r.nodes {
			if got := n.c.Stats().Leases; got != count[name] {
				t.Errorf("node %s holds %d leases, runs %d accounts", name, got, count[name])
			}
		}
		// Every node tells who polls each instance.
		for _, in := range r.ins {
			want := r.owners()[in.ID][0]
			for name, n := range r.nodes {
				if got := n.c.PolledBy(in.ID); got != want {
					t.Errorf("node %s says instance %d is polled by %q, want %q", name, in.ID, got, want)
				}
			}
		}

		// A node leaving cleanly hands its accounts over at once.
		r.nodes["c"].stop()
		delete(r.nodes, "c")
		run(testPeriod)
		r.exactlyOnce("after c left", "a", "b")

		// A node joining takes its share within a lease period; the others hand it over.
		before := r.nodes["a"].c.Stats().Rebalanced + r.nodes["b"].c.Stats().Rebalanced
		r.start("d")
		run(testPeriod)
		count = r.exactlyOnce("after d joined", "a", "b", "d")
		if count["d"] == 0 {
			t.Error("the joining node took no account")
		}
		rebalanced := r.nodes["a"].c.Stats().Rebalanced + r.nodes["b"].c.Stats().Rebalanced - before
		if rebalanced != uint64(count["d"]) {
			t.Errorf("a and b handed %d accounts over, d runs %d", rebalanced, count["d"])
		}

		// A node cut off (or killed) stops its polls before its leases expire; the others take
		// its accounts once they have, within about two lease periods.
		b := r.nodes["b"]
		held := b.c.Stats().Leases
		b.leases.cut.Store(true)
		start := time.Now()
		for len(r.owners()) < len(r.ins) || len(r.exactlyOnceQuiet("a", "d")) > 0 {
			run(testPeriod / 10)
			if time.Since(start) > 3*testPeriod {
				t.Fatalf("not taken over within 3 lease periods: %v", r.owners())
			}
		}
		t.Logf("%d accounts of a cut-off node taken over in %v (lease period %v)", held, time.Since(start), testPeriod)
		if took := time.Since(start); took > 2*testPeriod {
			t.Errorf("taken over in %v, want within two lease periods", took)
		}
		if st := b.c.Stats(); st.Lost != uint64(held) || st.Leases != 0 {
			t.Errorf("the cut-off node: %+v, want %d leases lost", st, held)
		}
		b.stop()
		delete(r.nodes, "b")
		r.exactlyOnce("after b was cut off", "a", "d")
		r.noOverlap()
		for _, n := range r.nodes {
			n.stop()
		}
		if n := r.leases.Refused(); n != 0 {
			t.Errorf("%d commits refused, want none: nodes stopped before their leases expired", n)
		}
	})
}

// exactlyOnceQuiet returns the problems exactlyOnce would report.
func (r *clusterRig) exactlyOnceQuiet(live ...string) []string {
	var out []string
	own := r.owners()
	for _, in := range r.ins {
		o := own[in.ID]
		if len(o) != 1 {
			out = append(out, fmt.Sprintf("instance %d on %v", in.ID, o))
			continue
		}
		ok := false
		for _, l := range live {
			ok = ok || o[0] == l
		}
		if !ok {
			out = append(out, fmt.Sprintf("instance %d on %v", in.ID, o))
		}
	}
	return out
}

// A node taking over the accounts of a dead node polls at once the jobs whose slot the dead node
// missed, instead of at their next slot: no job goes unpolled for much longer than its interval.
func TestClusterTakeOverPollsOverdueJobsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newClusterRig(t, 24)
		interval := 10 * testPeriod
		for _, in := range r.ins {
			in.Interval = interval
		}
		r.start("a")
		r.start("b")
		run(2 * interval)
		a := r.nodes["a"]
		if a.c.Stats().Leases == 0 {
			t.Fatal("a holds no lease")
		}
		cut := time.Now()
		a.leases.cut.Store(true)
		run(2 * interval)
		end := time.Now()
		a.stop()
		delete(r.nodes, "a")
		r.exactlyOnce("after a died", "b")

		// Every gap between two polls of a job that ends after the cut: the take-over (a heartbeat
		// expiring, about a lease period and a fifth) plus the catch-up's spread (a tenth of the
		// interval) at most, beyond the interval. Without the catch-up, up to two intervals.
		r.mu.Lock()
		defer r.mu.Unlock()
		bound := interval + 3*testPeriod
		var worst time.Duration
		for _, in := range r.ins {
			for _, j := range in.Jobs {
				at := append(r.polls[JobKey{InstanceID: in.ID, ObjectType: j.ObjectType}], end)
				for i := 1; i < len(at); i++ {
					if at[i].After(cut) {
						worst = max(worst, at[i].Sub(at[i-1]))
					}
				}
			}
		}
		t.Logf("longest time a job went unpolled across the take-over: %v (interval %v, lease period %v)", worst, interval, testPeriod)
		if worst > bound {
			t.Errorf("a job went unpolled for %v across the take-over, want at most %v", worst, bound)
		}
		r.noOverlap()
		for _, n := range r.nodes {
			n.stop()
		}
	})
}

// A lease the store shows held by a live node that does not know it holds it (an earlier run of
// the node, restarted under the same name, took it) is released by that node: it would
// otherwise stay valid as long as the node beats, and its account would run nowhere.
func TestClusterReleasesLeasesItDoesNotKnow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newClusterRig(t, 8)
		r.start("a")
		r.start("b")
		run(3 * testPeriod)
		count := r.exactlyOnce("two nodes", "a", "b")
		if count["a"] == 0 {
			t.Fatal("a runs nothing")
		}
		var in *Instance
		for _, x := range r.ins {
			if _, ok := r.nodes["a"].rt.Instance(x.ID); ok {
				in = x
				break
			}
		}
		ctx := context.Background()
		acct := accountKey(in)
		// b's earlier run took a's account: its lease names b, which beats, but b's cluster
		// knows nothing of it.
		hs, _ := r.leases.Holders(ctx)
		for _, l := range hs {
			if l.Account == acct {
				_ = r.leases.Release(ctx, l)
			}
		}
		if _, ok, _ := r.leases.Acquire(ctx, acct, "b"); !ok {
			t.Fatal("b could not take the lease")
		}
		run(3 * testPeriod)
		r.exactlyOnce("after the stray lease", "a", "b")
		if _, ok := r.nodes["a"].rt.Instance(in.ID); !ok {
			t.Errorf("instance %d of a's account does not run on a", in.ID)
		}
		for _, n := range r.nodes {
			n.stop()
		}
	})
}

// A commit under a lease that moved on is refused and writes nothing; the node gives the lease
// up at once, without retrying, and polls again only once it holds the lease anew.
func TestClusterFencedCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newClusterRig(t, 1)
		in := r.ins[0]
		rt := NewRuntime(RuntimeOptions{Catalog: r.cat, Source: r.src, Store: r.store, Outbox: &outboxFake{}, Sink: &sinkFake{status: 200}, Clock: SystemClock{}})
		c, err := NewCluster(ClusterOptions{Node: "a", Leases: r.leases, Runtime: rt, Period: testPeriod})
		if err != nil {
			t.Fatal(err)
		}
		c.Apply(in)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.step(ctx)
		if got := c.Leased(); len(got) != 1 {
			t.Fatalf("leased %v", got)
		}
		acct := accountKey(in)
		// Another node takes the lease (a's heartbeat expired while it was paused, say).
		old, _ := r.leases.Holders(ctx)
		_ = r.leases.Release(ctx, old[0])
		if _, err := r.leases.Heartbeat(ctx, NodeInfo{Name: "x"}, testPeriod); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := r.leases.Acquire(ctx, acct, "x"); !ok {
			t.Fatal("x could not take the lease")
		}
		// a's first poll commits (a new job's first poll always does): refused.
		done := make(chan struct{})
		go func() { defer close(done); _ = rt.Run(ctx) }()
		run(150 * time.Millisecond)
		if n := r.store.numCommits(); n != 0 {
			t.Fatalf("%d commits written under a fenced lease", n)
		}
		if _, ok, _ := r.store.Cursor(ctx, JobKey{InstanceID: in.ID, ObjectType: "incidents"}); ok {
			t.Fatal("a fenced commit moved the cursor")
		}
		st := c.Stats()
		if st.Fenced == 0 || st.Lost != 1 || st.Leases != 0 {
			t.Fatalf("after the fenced commit: %+v", st)
		}
		if _, ok := rt.Instance(in.ID); ok {
			t.Fatal("the instance still runs on the node that lost its lease")
		}
		refused := r.leases.Refused()
		if refused > 2 { // one per job at most: no retry storm
			t.Errorf("%d commits refused", refused)
		}
		if ok, why := rt.Valid(in.ID); !ok {
			t.Errorf("a fenced commit made the instance invalid: %s", why)
		}
		// Once x's heartbeat expires, a takes it anew (a greater token) and polls from its cursor.
		for range 12 {
			run(testPeriod / 5)
			c.step(ctx)
		}
		held, _ := r.leases.Holders(ctx)
		if len(held) != 1 || held[0].Node != "a" || held[0].Token != 3 {
			t.Fatalf("holders %+v, want a with token 3", held)
		}
		if r.store.numCommits() == 0 {
			t.Error("no commit under the new lease")
		}
		if r.leases.Refused() != refused {
			t.Error("commits refused under the new lease")
		}
		cancel()
		<-done
	})
}

func TestAssignIsStableAndPrefersCapableNodes(t *testing.T) {
	nodes := []NodeInfo{{Name: "a", Resources: []string{"x/1", "x/2"}}, {Name: "b", Resources: []string{"x/1"}}, {Name: "c", Resources: []string{"x/1", "x/2"}}}
	got := map[string]int{}
	for i := range 300 {
		acct := fmt.Sprintf("https://acct%d.example", i)
		o := Assign(acct, []string{"x/1", "x/2"}, nodes)
		if o == "b" {
			t.Fatalf("%s assigned to b, which lacks x/2", acct)
		}
		got[o]++
		// Removing a node that did not own it does not move it.
		for _, gone := range []string{"a", "b", "c"} {
			if gone == o {
				continue
			}
			var rest []NodeInfo
			for _, n := range nodes {
				if n.Name != gone {
					rest = append(rest, n)
				}
			}
			if o2 := Assign(acct, []string{"x/1", "x/2"}, rest); o2 != o {
				t.Fatalf("%s moved from %s to %s when %s left", acct, o, o2, gone)
			}
		}
		// Needing only what every node has, every node may get it.
		got["only x/1: "+Assign(acct, []string{"x/1"}, nodes)]++
	}
	if got["a"] < 100 || got["c"] < 100 || got["only x/1: b"] < 50 {
		t.Errorf("uneven: %v", got)
	}
	if Assign("x", nil, nil) != "" {
		t.Error("an owner without nodes")
	}
}

// An account is leased only to a node whose definitions have every resource its instances use,
// while one has; the node that lacks them says which. Alone, a node lacking them polls what it
// can rather than nothing.
func TestClusterPrefersCapableNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newClusterRig(t, 8)
		lacking := r.startWith("a", catalogWith(t, nil)) // no contacts resource
		r.start("b")
		run(3 * testPeriod)
		r.exactlyOnce("a lacks contacts", "b")
		if got := lacking.c.Lacking(); len(got) != 1 || got[0] != "freshdeskv2/contacts" {
			t.Errorf("a lacks %v, want freshdeskv2/contacts", got)
		}
		lacking.c.Unloadable(99, "nosuch")
		if got := lacking.c.Lacking(); len(got) != 2 || got[1] != "nosuch/*" {
			t.Errorf("with an instance of an unknown element, a lacks %v", got)
		}
		r.nodes["b"].stop()
		delete(r.nodes, "b")
		run(2 * testPeriod)
		r.exactlyOnce("b left", "a")
		for _, n := range r.nodes {
			n.stop()
		}
	})
}

// A change announced by one node is read again by the others (Refresh), and an operator's skip
// made through a node that does not poll the job reaches the node that does.
func TestClusterNotices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newClusterRig(t, 1)
		in := r.ins[0]
		var mu sync.Mutex
		refreshed := map[string][]int64{}
		nodes := map[string]*Cluster{}
		var rts = map[string]*Runtime{}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, name := range []string{"a", "b"} {
			rt := NewRuntime(RuntimeOptions{Catalog: r.cat, Source: r.src, Store: r.store, Outbox: &outboxFake{}, Sink: &sinkFake{status: 200}})
			c, err := NewCluster(ClusterOptions{Node: name, Leases: r.leases, Notices: r.leases, Runtime: rt, Period: testPeriod,
				Refresh: func(_ context.Context, id int64) error {
					mu.Lock()
					defer mu.Unlock()
					refreshed[name] = append(refreshed[name], id)
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			c.Apply(in)
			nodes[name], rts[name] = c, rt
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Run(ctx) }()
		}
		run(testPeriod)
		owner, other := "a", "b"
		if nodes["b"].PolledBy(in.ID) == "b" {
			owner, other = "b", "a"
		}
		if nodes[owner].PolledBy(in.ID) != owner || nodes[other].PolledBy(in.ID) != owner {
			t.Fatalf("polled by %q and %q", nodes["a"].PolledBy(in.ID), nodes["b"].PolledBy(in.ID))
		}
		if st := nodes[other].Status(in.ID); len(st) != 2 || st[0].State != "remote" || st[0].Node != owner {
			t.Errorf("the other node's status: %+v", st)
		}

		nodes[other].Changed(in.ID)
		synctest.Wait()
		mu.Lock()
		if len(refreshed[owner]) != 1 || len(refreshed[other]) != 0 {
			t.Errorf("refreshed %v: want the owner once, not the sender", refreshed)
		}
		mu.Unlock()

		if !nodes[other].SkipRecord(in.ID, "incidents", "rec-9") {
			t.Fatal("a skip through the other node refused")
		}
		synctest.Wait()
		if got := rts[owner].skipped(JobKey{InstanceID: in.ID, ObjectType: "incidents"}); len(got) != 1 || got[0] != "rec-9" {
			t.Errorf("the polling node's skips: %v", got)
		}
		if nodes[other].SkipRecord(in.ID, "nosuch", "x") {
			t.Error("a skip of a job the instance lacks accepted")
		}
		cancel()
		wg.Wait()
	})
}

// A node whose calls to the store hang (a dead network, no error) still stops its polls before
// its leases expire, and the other takes its accounts over.
func TestClusterHangingStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newClusterRig(t, 12)
		r.start("a")
		b := r.start("b")
		run(3 * testPeriod)
		r.exactlyOnce("two nodes", "a", "b")
		held := b.c.Stats().Leases
		b.leases.hang.Store(true)
		b.leases.cut.Store(true)
		run(3 * testPeriod)
		r.exactlyOnce("b hangs", "a")
		if st := b.c.Stats(); st.Lost != uint64(held) {
			t.Errorf("b lost %d leases, held %d", st.Lost, held)
		}
		r.noOverlap()
		for _, n := range r.nodes {
			n.stop()
		}
		if n := r.leases.Refused(); n != 0 {
			t.Errorf("%d commits refused, want none", n)
		}
	})
}
