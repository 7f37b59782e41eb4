package engine

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// MemLeases keeps session leases as adapters/postgres does: a lease is valid while its node's
// heartbeat is unexpired and it is not released; one beat renews every lease of a node.
func TestMemLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := NewMemLeases(nil)
		const acct = "https://acme.example.com"
		beat := func(node string, ttl time.Duration) {
			t.Helper()
			if _, err := m.Heartbeat(ctx, NodeInfo{Name: node}, ttl); err != nil {
				t.Fatal(err)
			}
		}

		// A node without a live heartbeat takes nothing.
		if _, ok, _ := m.Acquire(ctx, acct, "ghost"); ok {
			t.Fatal("a node that never beat took a lease")
		}

		// Of nodes acquiring at once, exactly one wins.
		nodes := []string{"a", "b", "c", "d"}
		for _, n := range nodes {
			beat(n, time.Second)
		}
		var mu sync.Mutex
		var won []Lease
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if l, ok, _ := m.Acquire(ctx, acct, n); ok {
					mu.Lock()
					won = append(won, l)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(won) != 1 || won[0].Token != 1 {
			t.Fatalf("winners %+v, want one with token 1", won)
		}
		first := won[0]
		other := "a"
		if first.Node == "a" {
			other = "b"
		}

		// Beating keeps it: no one else takes it, and its writes pass.
		for range 5 {
			time.Sleep(200 * time.Millisecond)
			beat(first.Node, time.Second)
			beat(other, time.Second)
		}
		if _, ok, _ := m.Acquire(ctx, acct, other); ok {
			t.Fatal("a lease whose node beats was taken over")
		}
		if err := m.Check(first.Fence()); err != nil {
			t.Fatalf("a write under a held lease: %v", err)
		}
		if h, _ := m.Holders(ctx); len(h) != 1 || h[0].Node != first.Node {
			t.Fatalf("holders %+v", h)
		}

		// Its node stops beating: the lease lapses with the heartbeat, its writes are refused,
		// and another node takes it with a greater token.
		time.Sleep(1100 * time.Millisecond)
		beat(other, time.Second)
		if err := m.Check(first.Fence()); err == nil {
			t.Fatal("a write under a lease whose node's heartbeat expired passed")
		}
		if h, _ := m.Holders(ctx); len(h) != 0 {
			t.Fatalf("holders %+v after the heartbeat expired", h)
		}
		second, ok, _ := m.Acquire(ctx, acct, other)
		if !ok || second.Token != 2 {
			t.Fatalf("take-over: %+v %v, want token 2", second, ok)
		}
		// The old holder beats again: its old token stays fenced.
		beat(first.Node, time.Second)
		if err := m.Check(first.Fence()); err == nil {
			t.Fatal("a write under a token taken over passed")
		}
		if err := m.Check(second.Fence()); err != nil {
			t.Fatalf("a write under the new lease: %v", err)
		}

		// Released: free at once, and the token keeps growing.
		if err := m.Release(ctx, second); err != nil {
			t.Fatal(err)
		}
		if err := m.Check(second.Fence()); err == nil {
			t.Fatal("a write under a released lease passed")
		}
		if third, ok, _ := m.Acquire(ctx, acct, first.Node); !ok || third.Token != 3 {
			t.Fatalf("after the release: %+v %v, want token 3", third, ok)
		}
	})
}
