package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/seal"
)

// beat records a node's heartbeat for ttl (0: it expires at once).
func beat(t *testing.T, s *Store, node string, ttl time.Duration) {
	t.Helper()
	if _, err := s.Heartbeat(context.Background(), engine.NodeInfo{Name: node}, ttl); err != nil {
		t.Fatal(err)
	}
}

// Two nodes, two Stores on one schema: heartbeats, one winner of concurrent acquisitions, the
// takeover of a lease whose node's heartbeat expired with a greater token, renewal by the
// node's heartbeat, release by the holder only.
func TestLeases(t *testing.T) {
	ctx := context.Background()
	a, url := newStore(t)
	b := openTest(t, url)
	const acct = "https://acme.freshdesk.com"

	if _, err := a.Heartbeat(ctx, engine.NodeInfo{Name: "a", Resources: []string{"freshdeskv2/contacts", "freshdeskv2/incidents"}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	nodes, err := b.Heartbeat(ctx, engine.NodeInfo{Name: "b"}, time.Minute)
	if err != nil || len(nodes) != 2 || nodes[0].Name != "a" || len(nodes[0].Resources) != 2 || nodes[1].Name != "b" {
		t.Fatalf("nodes %+v, %v", nodes, err)
	}
	// A node that stopped beating is not alive; one that left is gone.
	if _, err := b.Heartbeat(ctx, engine.NodeInfo{Name: "dead"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Leave(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := b.Heartbeat(ctx, engine.NodeInfo{Name: "b"}, time.Minute); len(nodes) != 1 || nodes[0].Name != "b" {
		t.Errorf("nodes %+v, want b alone", nodes)
	}

	// A node without a live heartbeat takes nothing.
	if _, ok, err := a.Acquire(ctx, acct, "dead"); ok || err != nil {
		t.Fatalf("a dead node acquired: %v %v", ok, err)
	}

	// Concurrent acquisitions of one account: exactly one wins.
	var names []string
	for i := range 16 {
		names = append(names, string(rune('a'+i%2))+string(rune('0'+i)))
		beat(t, a, names[i], time.Minute)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []engine.Lease
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		node := names[i]
		wg.Go(func() {
			l, ok, err := s.Acquire(ctx, acct, node)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won = append(won, l)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || won[0].Token != 1 || won[0].Expires.IsZero() {
		t.Fatalf("winners %+v, want one with token 1", won)
	}
	first := won[0]
	if _, ok, _ := a.Acquire(ctx, acct, "b"); ok {
		t.Fatal("a held lease whose node beats was taken")
	}
	// The holder's heartbeat renews it: Holders shows it with the heartbeat's expiry.
	beat(t, b, first.Node, 2*time.Minute)
	if hs, err := a.Holders(ctx); err != nil || len(hs) != 1 || hs[0].Token != 1 || !hs[0].Expires.After(first.Expires) {
		t.Fatalf("holders after the heartbeat: %+v, %v (acquired %+v)", hs, err, first)
	}

	// Its node's heartbeat expires: the lease lapses with it and is taken over, with a greater
	// token; the old holder cannot release it, nor get it back by beating again.
	beat(t, a, first.Node, 0)
	if hs, _ := a.Holders(ctx); len(hs) != 0 {
		t.Errorf("holders after the heartbeat expired: %+v", hs)
	}
	second, ok, err := b.Acquire(ctx, acct, "b")
	if err != nil || !ok || second.Token != 2 {
		t.Fatalf("takeover: %+v %v %v", second, ok, err)
	}
	beat(t, a, first.Node, time.Minute)
	if err := a.Release(ctx, first); err != nil {
		t.Fatal(err)
	}
	if hs, err := a.Holders(ctx); err != nil || len(hs) != 1 || hs[0].Node != "b" || hs[0].Token != 2 {
		t.Fatalf("holders %+v, %v", hs, err)
	}
	if _, ok, _ := a.Acquire(ctx, acct, first.Node); ok {
		t.Fatal("the old holder took the lease back from a live node")
	}
	// Released, it is free, and the next holder's token is greater still.
	if err := b.Release(ctx, second); err != nil {
		t.Fatal(err)
	}
	if hs, _ := a.Holders(ctx); len(hs) != 0 {
		t.Errorf("holders after release: %+v", hs)
	}
	beat(t, a, "a", time.Minute)
	if third, ok, _ := a.Acquire(ctx, acct, "a"); !ok || third.Token != 3 {
		t.Errorf("after release: %+v %v", third, ok)
	}
	// A node that leaves takes its leases with it.
	if err := a.Leave(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if hs, _ := b.Holders(ctx); len(hs) != 0 {
		t.Errorf("holders after the holder left: %+v", hs)
	}
	if fourth, ok, _ := b.Acquire(ctx, acct, "b"); !ok || fourth.Token != 4 {
		t.Errorf("after the holder left: %+v %v", fourth, ok)
	}
}

// A commit or a delivery attempt under a lease that moved on is refused with ErrFenced and
// writes nothing; under the current lease it goes through.
func TestFencedWrites(t *testing.T) {
	ctx := context.Background()
	a, url := newStore(t)
	b := openTest(t, url)
	in := mkInstance(t, a, "acme")
	const acct = "https://acme.freshdesk.com"
	beat(t, a, "a", time.Minute)
	old, _, _ := a.Acquire(ctx, acct, "a")
	beat(t, a, "a", 0) // a's heartbeat expires: b takes the lease over
	beat(t, b, "b", time.Minute)
	cur, ok, err := b.Acquire(ctx, acct, "b")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	at := time.Now()
	c := mkCommit(in.ID, "incidents", "x", 3, at, engine.Cursor{})
	c.Fence = old.Fence()
	if err := a.CommitPoll(ctx, c); !errors.Is(err, engine.ErrFenced) {
		t.Fatalf("commit under a lost lease: %v", err)
	}
	key := engine.JobKey{InstanceID: in.ID, ObjectType: "incidents"}
	if _, found, _ := a.Cursor(ctx, key); found {
		t.Error("a fenced commit wrote the cursor")
	}
	if p, _ := a.Pending(ctx, engine.PendingQuery{Limit: 10}); len(p) != 0 {
		t.Errorf("a fenced commit wrote notifications: %+v", p)
	}
	c.Fence = cur.Fence()
	if err := b.CommitPoll(ctx, c); err != nil {
		t.Fatalf("commit under the lease: %v", err)
	}
	p, _ := b.Pending(ctx, engine.PendingQuery{Limit: 10})
	if len(p) != 1 {
		t.Fatalf("pending %+v", p)
	}
	att := engine.Attempt{NotificationID: p[0].ID, At: at, HTTPStatus: 200, Status: engine.StatusDelivered, Fence: old.Fence()}
	if err := a.RecordAttempt(ctx, att); !errors.Is(err, engine.ErrFenced) {
		t.Fatalf("attempt under a lost lease: %v", err)
	}
	if p2, _ := b.Pending(ctx, engine.PendingQuery{Limit: 10}); len(p2) != 1 || p2[0].Attempts != 0 {
		t.Errorf("a fenced attempt was recorded: %+v", p2)
	}
	att.Fence = cur.Fence()
	if err := b.RecordAttempt(ctx, att); err != nil {
		t.Fatal(err)
	}
	if p2, _ := b.Pending(ctx, engine.PendingQuery{Limit: 10}); len(p2) != 0 {
		t.Errorf("delivered, still pending: %+v", p2)
	}
	// The holder's heartbeat expires: its token still matches, but its writes are refused.
	beat(t, b, "b", 0)
	c3 := mkCommit(in.ID, "incidents", "z", 1, at, engine.Cursor{})
	c3.Fence = cur.Fence()
	if err := b.CommitPoll(ctx, c3); !errors.Is(err, engine.ErrFenced) {
		t.Fatalf("commit under a lease whose node's heartbeat expired: %v", err)
	}
	// A write without a fence (one node, no leases) is not checked.
	c2 := mkCommit(in.ID, "contacts", "y", 1, at, engine.Cursor{})
	if err := a.CommitPoll(ctx, c2); err != nil {
		t.Fatal(err)
	}
}

// Notices reach every node listening on the schema, and no one on another.
func TestNotices(t *testing.T) {
	a, url := newStore(t)
	b := openTest(t, url)
	other, _ := newStore(t)
	if a.NoticeChannel() == other.NoticeChannel() {
		t.Fatal("two schemas share a channel")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listen := func(s *Store) (<-chan engine.Notice, <-chan struct{}) {
		got, ready := make(chan engine.Notice, 4), make(chan struct{})
		go func() {
			if err := s.Listen(ctx, func() { close(ready) }, func(n engine.Notice) { got <- n }); err != nil {
				t.Error(err)
			}
		}()
		return got, ready
	}
	gotB, readyB := listen(b)
	gotOther, readyOther := listen(other)
	<-readyB
	<-readyOther
	want := engine.Notice{Instance: 7, Node: "a", Skip: &engine.SkipNotice{ObjectType: "incidents", Record: "9"}}
	if err := a.Notify(ctx, want); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-gotB:
		if n.Instance != 7 || n.Node != "a" || n.Skip == nil || n.Skip.Record != "9" {
			t.Errorf("got %+v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notice within 10s")
	}
	// The other schema's listener heard nothing: a notice sent on its own channel arrives first.
	if err := other.Notify(ctx, engine.Notice{Instance: 8}); err != nil {
		t.Fatal(err)
	}
	if n := <-gotOther; n.Instance != 8 {
		t.Errorf("another schema heard %+v", n)
	}
}

// The seal check: the first node's key sets the rule; another key is refused; a keyring that
// holds the first key behind a new primary opens it, and seals it again with the primary.
func TestCheckSealKey(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := seal.GenerateKey(), seal.GenerateKey()
	open := func(keys ...[]byte) *Store {
		kr, err := seal.NewKeyring(SealPurpose, keys...)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, url, Options{Sealer: kr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	if err := open(a).CheckSealKey(ctx); err != nil {
		t.Fatalf("the first node: %v", err)
	}
	if err := open(b).CheckSealKey(ctx); !errors.Is(err, ErrOtherKey) {
		t.Fatalf("another key: %v", err)
	}
	rotated := open(b, a)
	if err := rotated.CheckSealKey(ctx); err != nil {
		t.Fatalf("rotated keyring: %v", err)
	}
	if err := open(b).CheckSealKey(ctx); err != nil {
		t.Fatalf("after the rotation, the new key alone: %v", err)
	}
	if err := open(a).CheckSealKey(ctx); !errors.Is(err, ErrOtherKey) {
		t.Fatalf("after the rotation, the old key alone: %v", err)
	}
}

// In a group of attempts recorded in one transaction, an attempt under a lease that moved on is
// refused alone; the others are recorded.
func TestFencedAttemptInAGroup(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	in := mkInstance(t, s, "acme")
	const acct = "https://acme.freshdesk.com"
	beat(t, s, "a", time.Minute)
	old, _, _ := s.Acquire(ctx, acct, "a")
	beat(t, s, "a", 0)
	beat(t, s, "b", time.Minute)
	cur, ok, err := s.Acquire(ctx, acct, "b")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	at := time.Now()
	c := mkCommit(in.ID, "incidents", "g", 30, at, engine.Cursor{}) // three notifications
	c.Fence = cur.Fence()
	if err := s.CommitPoll(ctx, c); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Pending(ctx, engine.PendingQuery{Limit: 10})
	if len(p) != 3 {
		t.Fatalf("pending %d", len(p))
	}
	fences := []*engine.Fence{old.Fence(), cur.Fence(), nil}
	var batch []*attemptReq
	for i, d := range p {
		ns := at.UnixNano()
		batch = append(batch, &attemptReq{a: engine.Attempt{NotificationID: d.ID, At: at, HTTPStatus: 200, Status: engine.StatusDelivered, Fence: fences[i]},
			at: &ns, status: string(engine.StatusDelivered), done: make(chan error, 1)})
	}
	if !groupable(batch) {
		t.Fatal("the batch would not be recorded as a group")
	}
	s.recordAttempts(ctx, batch)
	for i, r := range batch {
		err := <-r.done
		if want := i == 0; errors.Is(err, engine.ErrFenced) != want || (!want && err != nil) {
			t.Errorf("attempt %d (fence %+v): %v", i, fences[i], err)
		}
	}
	if left, _ := s.Pending(ctx, engine.PendingQuery{Limit: 10}); len(left) != 1 || left[0].ID != p[0].ID {
		t.Errorf("pending after the group: %+v, want only %s", left, p[0].ID)
	}
}
