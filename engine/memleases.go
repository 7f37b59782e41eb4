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

// Acquire implements Leases.
func (m *MemLeases) Acquire(_ context.Context, account, node string, ttl time.Duration) (Lease, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Clock.Now()
	l := m.leases[account]
	if l.Node != "" && l.Node != node && l.Expires.After(now) {
		return Lease{}, false, nil
	}
	l = Lease{Account: account, Node: node, Token: l.Token + 1, Expires: now.Add(ttl)}
	m.leases[account] = l
	return l, true, nil
}

// Renew implements Leases.
func (m *MemLeases) Renew(_ context.Context, node string, held []Lease, ttl time.Duration) ([]Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Clock.Now()
	var out []Lease
	for _, h := range held {
		l, ok := m.leases[h.Account]
		if !ok || l.Node != node || l.Token != h.Token {
			continue
		}
		l.Expires = now.Add(ttl)
		m.leases[h.Account] = l
		out = append(out, l)
	}
	return out, nil
}

// Release implements Leases.
func (m *MemLeases) Release(_ context.Context, l Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.leases[l.Account]; ok && cur.Node == l.Node && cur.Token == l.Token {
		cur.Node, cur.Expires = "", m.Clock.Now()
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
	for _, l := range m.leases {
		if l.Node != "" && l.Expires.After(now) {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out, nil
}

// Check is what a shared store does in a fenced write's transaction: nil when the fence's lease
// is still held with its token and unexpired, ErrFenced otherwise. A nil fence passes.
func (m *MemLeases) Check(f *Fence) error {
	if f == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[f.Account]
	if !ok || l.Node != f.Node || l.Token != f.Token || !l.Expires.After(m.Clock.Now()) {
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
