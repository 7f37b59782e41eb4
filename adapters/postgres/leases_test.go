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

// Two nodes, two Stores on one schema: heartbeats, one winner of concurrent acquisitions, the
// takeover of an expired lease with a greater token, renewal and release by the holder only.
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

	// Concurrent acquisitions of one account: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []engine.Lease
	for i := range 16 {
		s, node := a, "a"
		if i%2 == 1 {
			s, node = b, "b"
		}
		node += string(rune('0' + i))
		wg.Go(func() {
			l, ok, err := s.Acquire(ctx, acct, node, time.Minute)
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
	if len(won) != 1 || won[0].Token != 1 {
		t.Fatalf("winners %+v, want one with token 1", won)
	}
	first := won[0]
	if _, ok, _ := a.Acquire(ctx, acct, "other", time.Minute); ok {
		t.Fatal("a held, unexpired lease was taken")
	}
	// The holder renews; another node's renewal (or an old token's) renews nothing.
	if got, err := b.Renew(ctx, first.Node, []engine.Lease{first}, time.Minute); err != nil || len(got) != 1 || got[0].Token != 1 {
		t.Fatalf("renew by the holder: %+v, %v", got, err)
	}
	if got, _ := b.Renew(ctx, "other", []engine.Lease{first}, time.Minute); len(got) != 0 {
		t.Errorf("renewed by another node: %+v", got)
	}

	// An expired lease is taken over, with a greater token; the old holder can neither renew
	// nor release it.
	if _, err := a.Renew(ctx, first.Node, []engine.Lease{first}, 0); err != nil { // expires now
		t.Fatal(err)
	}
	second, ok, err := b.Acquire(ctx, acct, "b", time.Minute)
	if err != nil || !ok || second.Token != 2 {
		t.Fatalf("takeover: %+v %v %v", second, ok, err)
	}
	if got, _ := a.Renew(ctx, first.Node, []engine.Lease{first}, time.Minute); len(got) != 0 {
		t.Errorf("the old holder renewed: %+v", got)
	}
	if err := a.Release(ctx, first); err != nil {
		t.Fatal(err)
	}
	if hs, err := a.Holders(ctx); err != nil || len(hs) != 1 || hs[0].Node != "b" || hs[0].Token != 2 {
		t.Fatalf("holders %+v, %v", hs, err)
	}
	// Released, it is free, and the next holder's token is greater still.
	if err := b.Release(ctx, second); err != nil {
		t.Fatal(err)
	}
	if hs, _ := a.Holders(ctx); len(hs) != 0 {
		t.Errorf("holders after release: %+v", hs)
	}
	if third, ok, _ := a.Acquire(ctx, acct, "a", time.Minute); !ok || third.Token != 3 {
		t.Errorf("after release: %+v %v", third, ok)
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
	old, _, _ := a.Acquire(ctx, acct, "a", 0) // expires at once
	cur, ok, err := b.Acquire(ctx, acct, "b", time.Minute)
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
	old, _, _ := s.Acquire(ctx, acct, "a", 0)
	cur, ok, err := s.Acquire(ctx, acct, "b", time.Minute)
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
