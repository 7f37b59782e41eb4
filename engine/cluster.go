package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultLeasePeriod is how long a node's heartbeat, and with it every vendor account lease the
// node holds, lasts unless the node beats again. A node beats every fifth of it (one write, for
// all its leases); a node that dies has its accounts taken over once its heartbeat expires:
// within about one period and a fifth.
const DefaultLeasePeriod = 10 * time.Second

// Cluster shares the instances of one store among several nodes (pollen serve processes). It
// stands between the instance service and the node's Runtime, with the Runtime's methods: every
// instance is handed to it (Apply, Remove), and it runs on the node's Runtime only the instances
// whose vendor account's lease the node holds, fenced by that lease (Instance.Fence), so that
// their polls and deliveries happen here and nowhere else.
//
// Every fifth of the lease period the node beats (Leases.Heartbeat, advertising the resources its
// definitions can poll; the beat renews every lease it holds), and assigns every account it
// knows to a live node:
// among the nodes that have every resource the account's instances use, the one that ranks first
// for the account by rendezvous (highest random weight) hashing. So every node computes the same
// owner from the same nodes, and a node joining or leaving moves only the accounts it wins or
// held. An account assigned here is acquired when its lease is free or its holder's heartbeat
// expired; an account assigned elsewhere is released once this node's polls and deliveries of it
// have ended. When the node's heartbeat could not be renewed for 7/10 of the period, every lease
// it holds is given up at once, before the store may let another node take them; a lease that a
// write found fenced, or that the store shows taken over, is given up alone. A node killed
// outright has its heartbeat expire after one period, and the others take its accounts at their
// next step.
//
// Changes made through another node arrive as Notices: the instance is read again from the store
// (ClusterOptions.Refresh). Every instance is also read again every lease period
// (ClusterOptions.Resync), for notices missed.
type Cluster struct {
	o      ClusterOptions
	rt     *Runtime
	clock  Clock
	log    hclog.Logger
	period time.Duration
	wake   chan struct{}
	wg     sync.WaitGroup // hand-overs under way

	mu      sync.Mutex
	all     map[int64]*Instance // every instance, as applied (without a fence)
	unknown map[int64]string    // instances whose element this node lacks, with the element's key
	local   map[int64]string    // the instances running here, with their accounts
	held    map[string]*held    // the leases held here, by account
	leaving map[string]*held    // leases being handed over: held until released
	// until is when, by this node's clock, its heartbeat (and every lease it holds) is taken for
	// lost unless it beats again first: well before the store expires it, so that this node
	// stops before another starts.
	until   time.Time
	holders map[string]string // who holds each account's lease, as last read
	nodes   []NodeInfo        // the live nodes, as last read
	// seen is when each node was last seen alive (its last heartbeat, as last read); last names
	// the last node seen holding each account's lease: a take-over from a dead node resumes the
	// slots it missed since its last heartbeat (Instance.PolledUntil).
	seen  map[string]time.Time
	last  map[string]string
	stats ClusterStats
}

// held is a lease held by this node.
type held struct {
	lease Lease
}

// ClusterOptions configure a Cluster.
type ClusterOptions struct {
	// Node names this node; it must be unique among the nodes sharing the store.
	Node    string
	Leases  Leases
	Runtime *Runtime
	// Notices, when set, carries changes between nodes (Changed, SkipRecord).
	Notices Notices
	// Period is the lease period; 0 = DefaultLeasePeriod.
	Period time.Duration
	// Clock paces the steps and dates local deadlines; nil = the Runtime's.
	Clock  Clock
	Logger hclog.Logger
	// Refresh reads an instance again from the store and applies it through the Cluster (or
	// removes it when it is gone): instances.Service.Refresh. Called for notices of other nodes.
	Refresh func(ctx context.Context, id int64) error
	// Resync reads every instance again and applies those that changed: instances.Service.Sync.
	// Called every lease period, and whenever listening for notices (re)starts.
	Resync func(ctx context.Context) error
}

// ClusterStats is what a node's cluster has done, for metrics and health.
type ClusterStats struct {
	Node   string
	Nodes  int // live nodes, this one included
	Leases int // vendor accounts leased here
	// Acquired counts leases taken; Rebalanced leases handed over because their account was
	// assigned to another node; Lost leases lost (not renewed in time, taken over, or fenced);
	// Fenced the writes (commits, delivery attempts) the store refused for a lease that moved on.
	Acquired, Rebalanced, Lost, Fenced uint64
}

// NewCluster returns a cluster node over a runtime. Run takes part in the cluster.
func NewCluster(o ClusterOptions) (*Cluster, error) {
	if o.Node == "" || o.Leases == nil || o.Runtime == nil {
		return nil, fmt.Errorf("cluster: Node, Leases and Runtime are required")
	}
	if o.Period <= 0 {
		o.Period = DefaultLeasePeriod
	}
	if o.Clock == nil {
		o.Clock = o.Runtime.clock
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	c := &Cluster{o: o, rt: o.Runtime, clock: o.Clock, log: o.Logger, period: o.Period, wake: make(chan struct{}, 1),
		all: map[int64]*Instance{}, unknown: map[int64]string{}, local: map[int64]string{}, held: map[string]*held{}, leaving: map[string]*held{},
		holders: map[string]string{}, seen: map[string]time.Time{}, last: map[string]string{}}
	c.stats.Node = o.Node
	f := c.fenced
	c.rt.fenced.Store(&f)
	return c, nil
}

// Node is this node's name.
func (c *Cluster) Node() string { return c.o.Node }

// Period is the lease period.
func (c *Cluster) Period() time.Duration { return c.period }

// Catalog returns the runtime's catalog.
func (c *Cluster) Catalog() *Catalog { return c.rt.Catalog() }

// Apply records an instance, and runs it here when its account is leased here (stops it here
// otherwise).
func (c *Cluster) Apply(in *Instance) {
	c.mu.Lock()
	c.all[in.ID] = in
	delete(c.unknown, in.ID)
	c.place(in, time.Time{})
	c.mu.Unlock()
	c.poke()
}

// Remove forgets an instance, and stops it here.
func (c *Cluster) Remove(id int64) {
	c.mu.Lock()
	delete(c.all, id)
	delete(c.unknown, id)
	if _, ok := c.local[id]; ok {
		c.rt.Remove(id)
		delete(c.local, id)
	}
	c.mu.Unlock()
}

// Unloadable records an instance that does not load on this node (its element is one this
// node's definitions lack, or its configuration no longer fits them): it runs elsewhere, and
// Lacking names its element when the element is missing here.
func (c *Cluster) Unloadable(id int64, element string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.all, id)
	if _, ok := c.local[id]; ok {
		c.rt.Remove(id)
		delete(c.local, id)
	}
	c.unknown[id] = element
}

// Reload swaps in a new catalog: the runtime's instances are compiled again by the runtime, the
// others here, so that the resources they use stay known.
func (c *Cluster) Reload(cat *Catalog) {
	c.rt.Reload(cat)
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, in := range c.all {
		if affected(in, cat) {
			c.all[id] = c.recompiled(in, cat)
		}
	}
	c.poke()
}

// recompiled is an instance compiled against cat, every job paused when its element no longer
// loads.
func (c *Cluster) recompiled(in *Instance, cat *Catalog) *Instance {
	next, err := in.Recompile(cat)
	if err != nil {
		return in.pauseAll(err.Error())
	}
	return next
}

// place runs an instance here, fenced by its account's lease, when the lease is held here, and
// stops it here otherwise. polledUntil, when set, is until when another node polled it (a
// take-over). c.mu is held.
func (c *Cluster) place(in *Instance, polledUntil time.Time) {
	acct := accountKey(in)
	if h := c.held[acct]; h != nil {
		if cat := c.rt.Catalog(); affected(in, cat) {
			in = c.recompiled(in, cat)
			c.all[in.ID] = in
		}
		cp := *in
		cp.Fence, cp.PolledUntil = h.lease.Fence(), polledUntil
		c.rt.Apply(&cp)
		c.local[in.ID] = acct
		return
	}
	if _, ok := c.local[in.ID]; ok {
		c.rt.Remove(in.ID)
		delete(c.local, in.ID)
	}
}

// Status returns where each job of an instance stands: the runtime's status when it runs here;
// otherwise "remote", with the node that polls it.
func (c *Cluster) Status(id int64) []JobStatus {
	c.mu.Lock()
	_, here := c.local[id]
	in := c.all[id]
	var node string
	if in != nil {
		node = c.holders[accountKey(in)]
	}
	c.mu.Unlock()
	if here {
		st := c.rt.Status(id)
		for i := range st {
			st[i].Node = c.o.Node
		}
		return st
	}
	if in == nil {
		return nil
	}
	var out []JobStatus
	for _, j := range in.Jobs {
		st := JobStatus{ObjectType: j.ObjectType, State: "remote", Node: node}
		switch {
		case !in.EventsEnabled || in.Disabled:
			st.State = "idle"
		case node == "":
			st.Reason = "waiting for a node to take the lease of its vendor account"
		default:
			st.Reason = "polled by node " + node
		}
		out = append(out, st)
	}
	for _, p := range in.Paused {
		out = append(out, JobStatus{ObjectType: p.ObjectType, State: "paused", Reason: p.Reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ObjectType < out[j].ObjectType })
	return out
}

// PolledBy returns the node that polls an instance: this one, another, or "" when its account's
// lease is held by none.
func (c *Cluster) PolledBy(id int64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.local[id]; ok {
		return c.o.Node
	}
	if in := c.all[id]; in != nil {
		return c.holders[accountKey(in)]
	}
	return ""
}

// Valid reports whether the instance works, as the runtime that polls it knows; an instance
// polled by another node is taken to work.
func (c *Cluster) Valid(id int64) (bool, string) {
	c.mu.Lock()
	_, here := c.local[id]
	in := c.all[id]
	c.mu.Unlock()
	if here || in == nil {
		return c.rt.Valid(id)
	}
	if in.Invalid != "" {
		return false, in.Invalid
	}
	return true, ""
}

// Delivery returns how an instance's delivery stands on this node.
func (c *Cluster) Delivery(id int64) *DeliveryState { return c.rt.Delivery(id) }

// SkipRecord lets a job read past a record: here when the instance runs here, and by a notice to
// the node that polls it otherwise.
func (c *Cluster) SkipRecord(id int64, objectType, recordID string) bool {
	c.mu.Lock()
	_, here := c.local[id]
	in := c.all[id]
	c.mu.Unlock()
	if here {
		return c.rt.SkipRecord(id, objectType, recordID)
	}
	if in == nil || c.o.Notices == nil {
		return false
	}
	if _, ok := in.Job(objectType); !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.o.Notices.Notify(ctx, Notice{Instance: id, Node: c.o.Node, Skip: &SkipNotice{ObjectType: objectType, Record: recordID}})
	if err != nil {
		c.log.Error("an operator's skip could not be sent to the node polling the instance", "instance", id, "error", err)
		return false
	}
	return true
}

// Changed tells the other nodes that an instance changed through this one (created, updated,
// enabled or disabled, deleted): the node polling it applies the change within moments.
func (c *Cluster) Changed(id int64) {
	if c.o.Notices == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.o.Notices.Notify(ctx, Notice{Instance: id, Node: c.o.Node}); err != nil {
		c.log.Warn("a change could not be announced to the other nodes; they read it at their next re-read", "instance", id, "error", err)
	}
}

// Stats returns what the node's cluster has done.
func (c *Cluster) Stats() ClusterStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Nodes, s.Leases = len(c.nodes), len(c.held)
	return s
}

// Leased returns the vendor accounts leased here, sorted.
func (c *Cluster) Leased() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.held))
	for a := range c.held {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Lacking returns the resources that instances use and this node's definitions lack
// ("element/resource", sorted; "element/*" for an element it lacks altogether): those instances
// are left to nodes that have them.
func (c *Cluster) Lacking() []string {
	have := map[string]bool{}
	for _, r := range catalogResources(c.rt.Catalog()) {
		have[r] = true
	}
	seen := map[string]bool{}
	cat := c.rt.Catalog()
	c.mu.Lock()
	for _, el := range c.unknown {
		if _, ok := cat.Element(el); !ok {
			seen[el+"/*"] = true
		}
	}
	for _, in := range c.all {
		for _, r := range needs(in) {
			if !have[r] {
				seen[r] = true
			}
		}
	}
	c.mu.Unlock()
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (c *Cluster) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run takes part in the cluster until ctx ends; then it stops the instances running here, lets
// their polls and deliveries end, releases its leases and leaves, so that the other nodes take
// its accounts at once.
func (c *Cluster) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if c.o.Notices != nil {
		wg.Add(1)
		go func() { defer wg.Done(); c.listen(ctx) }()
	}
	// The leases are given up by the heartbeat's deadline even while a step hangs on an
	// unreachable store.
	wg.Add(1)
	go func() { defer wg.Done(); c.watchDeadlines(ctx) }()
	step := c.period / 5
	t := c.clock.NewTimer(0)
	defer t.Stop()
	resync := c.clock.Now().Add(c.period)
	for {
		select {
		case <-ctx.Done():
			c.leave()
			c.wg.Wait()
			return nil
		case <-t.C():
			t.Reset(step)
		case <-c.wake:
		}
		// The step (and its heartbeat) first: the re-read may take a while.
		sctx, cancel := context.WithTimeout(ctx, c.period/2)
		c.step(sctx)
		cancel()
		if now := c.clock.Now(); c.o.Resync != nil && !now.Before(resync) {
			if err := c.o.Resync(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("re-reading the instances failed", "error", err)
			}
			resync = now.Add(c.period)
		}
	}
}

// watchDeadlines gives up the leases once the heartbeat's deadline passed, looking every tenth
// of a period, until ctx ends.
func (c *Cluster) watchDeadlines(ctx context.Context) {
	for {
		t := c.clock.NewTimer(c.period / 10)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		c.expire()
	}
}

// listen applies the notices of other nodes until ctx ends, listening again after a failure.
func (c *Cluster) listen(ctx context.Context) {
	ready := func() {
		if c.o.Resync == nil {
			return
		}
		go func() {
			if err := c.o.Resync(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("re-reading the instances failed", "error", err)
			}
		}()
	}
	for ctx.Err() == nil {
		err := c.o.Notices.Listen(ctx, ready, func(n Notice) { c.notice(ctx, n) })
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("listening for changes made through other nodes failed; listening again", "error", err)
		t := c.clock.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// notice applies another node's notice.
func (c *Cluster) notice(ctx context.Context, n Notice) {
	if n.Node == c.o.Node {
		return
	}
	if n.Skip != nil {
		c.mu.Lock()
		_, here := c.local[n.Instance]
		c.mu.Unlock()
		if here {
			c.rt.SkipRecord(n.Instance, n.Skip.ObjectType, n.Skip.Record)
		}
		return
	}
	if c.o.Refresh == nil {
		return
	}
	if err := c.o.Refresh(ctx, n.Instance); err != nil && ctx.Err() == nil {
		c.log.Warn("reading a changed instance failed; it is read again at the next re-read", "instance", n.Instance, "error", err)
	}
}

// step beats (renewing the leases held), and acquires and releases accounts as they are
// assigned.
func (c *Cluster) step(ctx context.Context) {
	beat := c.clock.Now()
	nodes, err := c.beat(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("heartbeat failed", "error", err)
		}
		c.expire()
		return
	}
	c.expire()
	holders, err := c.o.Leases.Holders(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("reading the leases failed", "error", err)
		}
		return
	}

	c.mu.Lock()
	if c.changedNodes(nodes) {
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.Name
		}
		c.log.Info("live nodes", "nodes", names)
	}
	c.nodes = nodes
	for _, n := range nodes {
		c.seen[n.Name] = n.Expires.Add(-c.period) // when it beat
	}
	for name, at := range c.seen {
		if at.Before(c.clock.Now().Add(-time.Hour)) {
			delete(c.seen, name)
		}
	}
	c.holders = map[string]string{}
	tokens := map[string]int64{}
	for _, l := range holders {
		c.holders[l.Account] = l.Node
		c.last[l.Account] = l.Node
		if l.Node == c.o.Node {
			tokens[l.Account] = l.Token
		}
	}
	// A lease held here that the store no longer shows held here with its token was taken over
	// (this node's heartbeat expired in the store's eyes, say).
	for a, h := range c.held {
		if tokens[a] != h.lease.Token {
			c.lose(a, "its lease was taken over")
		}
	}
	want := map[string][]string{}
	for _, in := range c.all {
		a := accountKey(in)
		want[a] = append(want[a], needs(in)...)
	}
	var acquire, release []string
	for a, ns := range want {
		owner := Assign(a, ns, nodes)
		switch {
		case owner == c.o.Node && c.held[a] == nil && c.leaving[a] == nil:
			if h := c.holders[a]; h == "" || h == c.o.Node {
				acquire = append(acquire, a)
			}
		case owner != c.o.Node && c.held[a] != nil:
			release = append(release, a)
		}
	}
	for a := range c.held {
		if _, ok := want[a]; !ok {
			release = append(release, a)
		}
	}
	// Leases the store shows held by this node that it does not know it holds: an earlier run
	// of this node (restarted under the same name) took them, or they were given up here when
	// the heartbeat was late. They stay valid while this node beats, so they are released here
	// unless the account is this node's to take again.
	var stale []Lease
	for _, l := range holders {
		if l.Node == c.o.Node && c.held[l.Account] == nil && c.leaving[l.Account] == nil && !slices.Contains(acquire, l.Account) {
			stale = append(stale, l)
		}
	}
	c.mu.Unlock()

	for _, l := range stale {
		if err := c.o.Leases.Release(ctx, l); err != nil && ctx.Err() == nil {
			c.log.Warn("releasing a lease this node no longer uses failed", "account", l.Account, "error", err)
		}
	}
	for _, a := range release {
		c.release(ctx, a)
	}
	for _, a := range acquire {
		// Taking many accounts (a dead node's share) may take a while: the heartbeat, which
		// every lease held here hangs on, is not left to lapse meanwhile.
		if now := c.clock.Now(); now.Sub(beat) >= c.period/5 {
			if _, err := c.beat(ctx); err != nil {
				return
			}
			beat = now
		}
		c.acquire(ctx, a)
	}
}

// beat records this node's heartbeat, which renews every lease it holds, and returns the live
// nodes.
func (c *Cluster) beat(ctx context.Context) ([]NodeInfo, error) {
	sent := c.clock.Now()
	nodes, err := c.o.Leases.Heartbeat(ctx, NodeInfo{Name: c.o.Node, Resources: catalogResources(c.rt.Catalog())}, c.period)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.until = c.deadline(sent)
	c.mu.Unlock()
	return nodes, nil
}

// alive reports whether a node is among the live nodes, as last read. c.mu is held.
func (c *Cluster) alive(node string) bool {
	for _, n := range c.nodes {
		if n.Name == node {
			return true
		}
	}
	return false
}

func (c *Cluster) changedNodes(nodes []NodeInfo) bool {
	if len(nodes) != len(c.nodes) {
		return true
	}
	for i := range nodes {
		if nodes[i].Name != c.nodes[i].Name {
			return true
		}
	}
	return false
}

// deadline is when a heartbeat sent at sent is taken for lost, with every lease held here,
// unless the node beats again.
func (c *Cluster) deadline(sent time.Time) time.Time { return sent.Add(c.period * 7 / 10) }

// expire gives up every lease held here when the heartbeat was not renewed in time. c.mu is not
// held.
func (c *Cluster) expire() {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !now.After(c.until) {
		return
	}
	for a := range c.held {
		c.lose(a, "this node's heartbeat could not be renewed in time")
	}
}

// lose stops the instances of an account whose lease is lost. c.mu is held.
func (c *Cluster) lose(account, why string) {
	if c.held[account] == nil {
		return
	}
	delete(c.held, account)
	n := c.stop(account)
	c.stats.Lost++
	c.log.Warn("lease lost: the account's instances stop here", "account", account, "reason", why, "instances", n)
}

// stop stops the instances of an account running here and returns them. c.mu is held.
func (c *Cluster) stop(account string) []int64 {
	var ids []int64
	for id, a := range c.local {
		if a == account {
			c.rt.Remove(id)
			delete(c.local, id)
			ids = append(ids, id)
		}
	}
	return ids
}

// fenced hears of a write of an instance that the store refused: its lease is lost.
func (c *Cluster) fenced(in *Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Fenced++
	if in.Fence == nil {
		return
	}
	if h := c.held[in.Fence.Account]; h != nil && h.lease.Token == in.Fence.Token {
		c.lose(in.Fence.Account, "a write under it was refused (fenced)")
	}
}

// acquire takes an account's lease when it is free, and runs its instances here.
func (c *Cluster) acquire(ctx context.Context, account string) {
	l, ok, err := c.o.Leases.Acquire(ctx, account, c.o.Node)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("acquiring a lease failed", "account", account, "error", err)
		}
		return
	}
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held[account] = &held{lease: l}
	c.holders[account] = c.o.Node
	c.stats.Acquired++
	// Taken over from a node that died: its jobs were polled until its last heartbeat, and those
	// whose slot fell after it poll at once rather than at their next slot.
	var polledUntil time.Time
	if prev := c.last[account]; prev != "" && prev != c.o.Node && !c.alive(prev) {
		polledUntil = c.seen[prev]
	}
	c.last[account] = c.o.Node
	n := 0
	for _, in := range c.all {
		if accountKey(in) == account {
			c.place(in, polledUntil)
			n++
		}
	}
	// What another node recorded of these instances' deliveries (a callback's 410 Gone) is read.
	c.rt.deliver.RereadStops()
	c.log.Info("lease taken: the account's instances run here", "account", account, "token", l.Token, "instances", n)
}

// release hands an account over: its instances stop here, and once their polls and deliveries
// have ended (or a lease period has passed) the lease is released. Meanwhile the heartbeat keeps
// it.
func (c *Cluster) release(ctx context.Context, account string) {
	c.mu.Lock()
	h := c.held[account]
	if h == nil {
		c.mu.Unlock()
		return
	}
	delete(c.held, account)
	c.leaving[account] = h
	ids := c.stop(account)
	c.stats.Rebalanced++
	c.mu.Unlock()
	c.log.Info("account assigned to another node: its instances stop here", "account", account, "instances", len(ids))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		give := c.clock.Now().Add(c.period)
		for c.rt.Busy(ids) && c.clock.Now().Before(give) && ctx.Err() == nil {
			t := c.clock.NewTimer(20 * time.Millisecond)
			<-t.C()
		}
		c.mu.Lock()
		h := c.leaving[account]
		delete(c.leaving, account)
		c.mu.Unlock()
		if h == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := c.o.Leases.Release(rctx, h.lease); err != nil {
			c.log.Warn("releasing a lease failed; it expires by itself", "account", account, "error", err)
		}
		c.poke()
	}()
}

// leave stops every instance running here, lets their polls and deliveries end, releases the
// leases and leaves the cluster.
func (c *Cluster) leave() {
	c.mu.Lock()
	var ids []int64
	var leases []Lease
	for a, h := range c.held {
		ids = append(ids, c.stop(a)...)
		leases = append(leases, h.lease)
	}
	c.held = map[string]*held{}
	c.mu.Unlock()
	give := c.clock.Now().Add(c.period)
	for c.rt.Busy(ids) && c.clock.Now().Before(give) {
		t := c.clock.NewTimer(20 * time.Millisecond)
		<-t.C()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range leases {
		if err := c.o.Leases.Release(ctx, l); err != nil {
			c.log.Warn("releasing a lease failed; it expires by itself", "account", l.Account, "error", err)
		}
	}
	if err := c.o.Leases.Leave(ctx, c.o.Node); err != nil {
		c.log.Warn("leaving the cluster failed; this node is taken for dead when its heartbeat expires", "error", err)
	}
}

// Assign returns the node that should hold an account's lease: among the nodes that have the
// most of the resources its instances use (all of them, when some node has them all), the one
// that ranks first for the account by rendezvous hashing. "" when there is no node.
func Assign(account string, uses []string, nodes []NodeInfo) string {
	best, bestCover := "", -1
	var bestScore uint64
	for _, n := range nodes {
		cover := 0
		for _, r := range uses {
			if _, ok := slices.BinarySearch(n.Resources, r); ok {
				cover++
			}
		}
		score := rendezvous(account, n.Name)
		if cover > bestCover || cover == bestCover && (score > bestScore || score == bestScore && n.Name < best) {
			best, bestCover, bestScore = n.Name, cover, score
		}
	}
	return best
}

// rendezvous is a node's weight for an account: FNV-1a of both, mixed (splitmix64's finalizer)
// so that similar names spread.
func rendezvous(account, node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(account))
	h.Write([]byte{0})
	h.Write([]byte(node))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// needs returns the resources an instance uses ("element/resource"): those of its jobs, running
// or paused.
func needs(in *Instance) []string {
	if in.Element == nil {
		return nil
	}
	var out []string
	for _, j := range in.Jobs {
		out = append(out, in.Element.Key+"/"+j.Resource.Name)
	}
	for _, p := range in.Paused {
		if p.Resource != "" {
			out = append(out, in.Element.Key+"/"+p.Resource)
		}
	}
	return out
}

// catalogResources returns what a catalog can poll ("element/resource"), sorted.
func catalogResources(cat *Catalog) []string {
	if cat == nil {
		return nil
	}
	var out []string
	for _, el := range cat.Elements() {
		for _, r := range el.ResourceNames() {
			out = append(out, el.Key+"/"+r)
		}
	}
	sort.Strings(out)
	return out
}
