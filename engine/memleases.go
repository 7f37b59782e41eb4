package engine

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// MemLeases is an in-memory Leases (and Notices) for tests: several Runtimes in one process
// share it as nodes share PostgreSQL. Its clock is the one it is given.
type MemLeases struct {
	Clock Clock

	mu        sync.Mutex
	nodes     map[string]NodeInfo
	leases    map[string]Lease
	listeners map[int]func(Notice)
	next      int
	// Fenced counts the writes Check refused.
	fenced int
}

// NewMemLeases returns an empty MemLeases reading the time from clock (nil = SystemClock).
func NewMemLeases(clock Clock) *MemLeases {
	if clock == nil {
		clock = SystemClock{}
	}
	return &MemLeases{Clock: clock, nodes: map[string]NodeInfo{}, leases: map[string]Lease{}, listeners: map[int]func(Notice){}}
}

// Heartbeat implements Leases.
func (m *MemLeases) Heartbeat(_ context.Context, n NodeInfo, ttl time.Duration) ([]NodeInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Clock.Now()
	n.Resources = slices.Clone(n.Resources)
	n.Expires = now.Add(ttl)
	m.nodes[n.Name] = n
	var out []NodeInfo
	for _, x := range m.nodes {
		if x.Expires.After(now) {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Leave implements Leases.
func (m *MemLeases) Leave(_ context.Context, node string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.nodes, node)
	return nil
}

// alive reports whether a node's heartbeat is unexpired at now. m.mu is held.
func (m *MemLeases) alive(node string, now time.Time) bool {
	n, ok := m.nodes[node]
	return ok && n.Expires.After(now)
}

// valid reports whether a lease is held and its node alive at now, and returns it with its
// node's expiry. m.mu is held.
func (m *MemLeases) valid(account string, now time.Time) (Lease, bool) {
	l, ok := m.leases[account]
	if !ok || l.Node == "" || !m.alive(l.Node, now) {
		return Lease{}, false
	}
	l.Expires = m.nodes[l.Node].Expires
	return l, true
}

// Acquire implements Leases.
func (m *MemLeases) Acquire(_ context.Context, account, node string) (Lease, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Clock.Now()
	if !m.alive(node, now) {
		return Lease{}, false, nil
	}
	if cur, ok := m.valid(account, now); ok && cur.Node != node {
		return Lease{}, false, nil
	}
	l := Lease{Account: account, Node: node, Token: m.leases[account].Token + 1}
	m.leases[account] = l
	l.Expires = m.nodes[node].Expires
	return l, true, nil
}

// Release implements Leases.
func (m *MemLeases) Release(_ context.Context, l Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.leases[l.Account]; ok && cur.Node == l.Node && cur.Token == l.Token {
		cur.Node = ""
		m.leases[l.Account] = cur
	}
	return nil
}

// Holders implements Leases.
func (m *MemLeases) Holders(context.Context) ([]Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Clock.Now()
	var out []Lease
	for a := range m.leases {
		if l, ok := m.valid(a, now); ok {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out, nil
}

// Check is what a shared store does in a fenced write's transaction: nil when the fence's lease
// is still held with its token and its node's heartbeat is unexpired, ErrFenced otherwise. A nil
// fence passes.
func (m *MemLeases) Check(f *Fence) error {
	if f == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.valid(f.Account, m.Clock.Now())
	if !ok || l.Node != f.Node || l.Token != f.Token {
		m.fenced++
		return ErrFenced
	}
	return nil
}

// Refused returns how many writes Check refused.
func (m *MemLeases) Refused() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fenced
}

// Notify implements Notices: every listener is called, in its own goroutine.
func (m *MemLeases) Notify(_ context.Context, n Notice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.listeners {
		go f(n)
	}
	return nil
}

// Listen implements Notices.
func (m *MemLeases) Listen(ctx context.Context, ready func(), f func(Notice)) error {
	m.mu.Lock()
	id := m.next
	m.next++
	m.listeners[id] = f
	m.mu.Unlock()
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	m.mu.Lock()
	delete(m.listeners, id)
	m.mu.Unlock()
	return nil
}

var (
	_ Leases  = (*MemLeases)(nil)
	_ Notices = (*MemLeases)(nil)
)
