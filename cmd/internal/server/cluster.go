package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/postgres"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// Several nodes on one PostgreSQL store: each `pollen serve` with the same --store is a node of
// one cluster (engine.Cluster). The store is the cluster's Leases and Notices; the instance
// service hands every instance to the cluster, which runs on this node's runtime only those of
// the vendor accounts it holds the lease of. With SQLite there is one node and no lease.

// DefaultNodeName is a node's name unless --node gives one: the host's name and the process id,
// unique among the processes of a cluster.
func DefaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "pollen"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// clusterStore is what a store shared by several nodes offers: *postgres.Store.
type clusterStore interface {
	engine.Leases
	engine.Notices
}

// newCluster makes this node a node of the cluster of the nodes sharing store, or returns nil
// when the store is not shared (SQLite).
func (s *Server) newCluster(cfg Config, store Store, log hclog.Logger) (*engine.Cluster, error) {
	cs, ok := store.(clusterStore)
	if !ok {
		return nil, nil
	}
	node := cfg.Node
	if node == "" {
		node = DefaultNodeName()
	}
	c, err := engine.NewCluster(engine.ClusterOptions{Node: node, Leases: cs, Notices: cs, Runtime: s.runtime,
		Period: cfg.LeasePeriod, Logger: log.Named("cluster"),
		Refresh: func(ctx context.Context, id int64) error { return s.svc.Refresh(ctx, id) },
		Resync: func(ctx context.Context) error {
			n, err := s.svc.Sync(ctx)
			if n > 0 {
				log.Named("cluster").Info("instances changed through other nodes applied at the periodic re-read", "instances", n)
			}
			return err
		}})
	if err != nil {
		return nil, err
	}
	log.Info("node of a cluster sharing the store", "node", node, "lease_period", c.Period())
	return c, nil
}

// Cluster is the server's cluster node; nil with a store that is not shared (SQLite).
func (s *Server) Cluster() *engine.Cluster { return s.cluster }

// LeasePeriodDefault is --lease-period's default.
const LeasePeriodDefault = engine.DefaultLeasePeriod

// checkShared refuses to start a node of a shared store (PostgreSQL) that would not share the
// other nodes' secrets: a key that does not open what the store holds (each node has its own data
// directory, so a node given no key generates one of its own at its first start), or bootstrap
// admin secrets of its own data directory that differ from those the store was set up with (the
// first node's; a node would otherwise overwrite them at its start, and the other nodes' clients
// would be refused). Secrets given by the environment (POLLEN_USER_SECRET, ...) are the
// operator's choice: they are applied, as on a single node.
func checkShared(ctx context.Context, cfg Config, store Store, ts *tenants.Service, secretsGiven bool) error {
	pg, ok := store.(*postgres.Store)
	if !ok {
		return nil
	}
	if err := pg.CheckSealKey(ctx); err != nil {
		if errors.Is(err, postgres.ErrOtherKey) {
			keyFile := cfg.KeyFile
			if keyFile == "" {
				keyFile = filepath.Join(cfg.DataDir, KeysFile)
			}
			return fmt.Errorf("%w: every node sharing a PostgreSQL store must seal secrets with the same key: copy the key file of the node that first started on the store over this node's (%s), or give every node the same POLLEN_KEY", err, keyFile)
		}
		return err
	}
	if secretsGiven {
		return nil
	}
	set, match, err := ts.BootstrapState(ctx, cfg.UserSecret, cfg.OrgSecret)
	if err != nil {
		return err
	}
	if set && !match {
		return fmt.Errorf("the store's bootstrap admin has other secrets than %s: every node sharing a PostgreSQL store must use the same: copy the secrets file of the node that first started on the store into this node's data directory, or give every node the same POLLEN_USER_SECRET and POLLEN_ORGANIZATION_SECRET",
			filepath.Join(cfg.DataDir, SecretsFile))
	}
	return nil
}
