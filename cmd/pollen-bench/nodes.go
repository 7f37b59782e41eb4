package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pollen-hq/pollen/engine/seal"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// benchNodes are the Pollen servers under test: one, or --nodes sharing one PostgreSQL store,
// each a child process with its own name and data directory, and the secrets they share (the
// bootstrap admin's, and the key sealing secrets at rest). Their counters are summed; a node that
// was killed counts with its last reading, taken just before the kill.
type benchNodes struct {
	nodes  []*benchServer
	mu     sync.Mutex
	last   []scrape // each node's latest reading
	killed []bool
}

func isPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// startBenchNodes starts bc.nodes servers, one after another.
func startBenchNodes(ctx context.Context, bc benchConfig, dataDir string) (*benchNodes, error) {
	bc.nodes = max(bc.nodes, 1)
	exe := bc.binary
	if exe == "" {
		var err error
		if exe, err = buildPollen(ctx, dataDir); err != nil {
			return nil, err
		}
	}
	bn := &benchNodes{last: make([]scrape, bc.nodes), killed: make([]bool, bc.nodes)}
	shared := sharedSecrets{user: tenants.NewSecret(), org: tenants.NewSecret(), key: base64.StdEncoding.EncodeToString(seal.GenerateKey())}
	for i := range bc.nodes {
		name, dir := "", dataDir
		if bc.nodes > 1 {
			name = fmt.Sprintf("node%d", i+1)
			dir = filepath.Join(dataDir, name)
		}
		s, err := startBenchServer(ctx, bc, exe, dir, name, shared)
		if err != nil {
			bn.stop()
			return nil, err
		}
		bn.nodes = append(bn.nodes, s)
	}
	return bn, nil
}

// sharedSecrets are what every node of a run shares.
type sharedSecrets struct{ user, org, key string }

// describe names the servers and their store.
func (bn *benchNodes) describe(bc benchConfig) string {
	store := "SQLite"
	if isPostgres(bc.store) {
		store = "PostgreSQL"
	}
	if bc.nodes == 1 {
		return "1 pollen serve, " + store
	}
	lease := "the default lease period"
	if bc.leasePeriod > 0 {
		lease = "lease period " + bc.leasePeriod.String()
	}
	return fmt.Sprintf("%d pollen serve nodes on one %s, %s", bc.nodes, store, lease)
}

// createInstance creates the i-th instance through node i modulo the nodes: any node answers
// any API call.
func (bn *benchNodes) createInstance(ctx context.Context, i int, body []byte) (int64, error) {
	return bn.nodes[i%len(bn.nodes)].createInstance(ctx, body)
}

// read takes a reading of every live node's metrics.
func (bn *benchNodes) read(ctx context.Context) ([]scrape, error) {
	for i, s := range bn.nodes {
		bn.mu.Lock()
		dead := bn.killed[i]
		bn.mu.Unlock()
		if dead {
			continue
		}
		m, err := s.metrics(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.nameOr(), err)
		}
		bn.mu.Lock()
		bn.last[i] = m
		bn.mu.Unlock()
	}
	bn.mu.Lock()
	defer bn.mu.Unlock()
	return append([]scrape(nil), bn.last...), nil
}

// waitPolls waits until the servers have finished at least n polls together.
func (bn *benchNodes) waitPolls(ctx context.Context, n float64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ms, err := bn.read(ctx)
		if err != nil {
			return err
		}
		polls := 0.0
		for _, m := range ms {
			polls += m.sum("pollen_polls_total")
		}
		if polls >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %.0f of %.0f first polls after %s", polls, n, limit)
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
	}
}

// snapshot is the servers' counters summed, and the simulator's.
func (bn *benchNodes) snapshot(ctx context.Context, farm *deskFarm) (benchSnapshot, error) {
	ms, err := bn.read(ctx)
	if err != nil {
		return benchSnapshot{}, err
	}
	var snap benchSnapshot
	for _, m := range ms {
		if m == nil {
			continue
		}
		snap = snap.plus(snapshotOf(m))
	}
	for _, a := range farm.accounts {
		st := a.desk.Stats()
		snap.requests += float64(st.Requests)
		snap.rateLimited += float64(st.RateLimited)
	}
	return snap, nil
}

// kill reads node i's metrics a last time, then SIGKILLs it.
func (bn *benchNodes) kill(ctx context.Context, i int) error {
	if _, err := bn.read(ctx); err != nil {
		return err
	}
	bn.mu.Lock()
	bn.killed[i] = true
	bn.mu.Unlock()
	return bn.nodes[i].kill()
}

// stop ends the live servers gracefully and returns the largest peak RSS among them.
func (bn *benchNodes) stop() (int64, error) {
	var peak int64
	var first error
	for i, s := range bn.nodes {
		bn.mu.Lock()
		dead := bn.killed[i]
		bn.mu.Unlock()
		p, err := s.stop()
		if dead {
			continue
		}
		peak = max(peak, p)
		if err != nil && first == nil {
			first = fmt.Errorf("%s: %w", s.nameOr(), err)
		}
	}
	return peak, first
}
