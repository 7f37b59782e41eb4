package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/engine/seal"
)

// TestClusterTwoNodes: two pollen servers sharing one PostgreSQL schema, four simulated
// Freshdesk accounts, one receiver. Each instance is polled by exactly one node, and both nodes
// say which; a change made through the other node reaches the polling node; when a node leaves,
// the other takes its accounts over from their cursors; every change arrives exactly once.
func TestClusterTwoNodes(t *testing.T) {
	url := pgtest.URL(t)
	recv := rig.NewReceiver(t)
	key := seal.FormatKeys([][]byte{seal.GenerateKey()}) // every node seals with the same key
	start := func(name string) *rig.Pollen {
		cfg := rig.Loopback(t.TempDir())
		cfg.Store, cfg.Node, cfg.LeasePeriod, cfg.Key = url, name, time.Second, key
		return rig.Start(t, cfg)
	}
	n1, n2 := start("n1"), start("n2")
	nodes := map[string]*rig.Pollen{"n1": n1, "n2": n2}

	var desks []*rig.Freshdesk
	var ids []int64
	requester := map[*rig.Freshdesk]any{}
	for i := range 4 {
		d := rig.NewFreshdesk(t, rig.FreshdeskOptions{})
		d.InThePast(func() {
			requester[d] = d.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"]
		})
		desks = append(desks, d)
		api := n1.API
		if i%2 == 1 {
			api = n2.API // any node answers any call
		}
		ids = append(ids, api.CreateInstance("freshdeskv2", d.Instance(recv)))
	}

	// Each instance runs on exactly one node, and both nodes name it.
	polledBy := func(id int64) string {
		var v1, v2 struct {
			Node string `json:"node"`
		}
		n1.API.JSON(fmt.Sprintf("/instances/%d", id), &v1)
		n2.API.JSON(fmt.Sprintf("/instances/%d", id), &v2)
		if v1.Node == "" || v1.Node != v2.Node {
			return ""
		}
		_, on1 := n1.Runtime().Instance(id)
		_, on2 := n2.Runtime().Instance(id)
		if on1 == on2 || (on1 && v1.Node != "n1") || (on2 && v1.Node != "n2") {
			return ""
		}
		return v1.Node
	}
	for _, id := range ids {
		rig.Until(t, fmt.Sprintf("instance %d polled by one node, named by both", id), func() bool { return polledBy(id) != "" })
	}

	var want []string
	for _, d := range desks {
		want = append(want, "CREATED incidents "+idOf(d.CreateTicket(map[string]any{"subject": "first", "requester_id": requester[d]})))
	}
	rig.Until(t, "first tickets delivered", func() bool { return recv.Has(want...) })

	// A change made through the node that does not poll the instance reaches the one that does.
	// Which node polls it is read again at every look: under load a node's heartbeat may be late,
	// and the account move to the other node and back meanwhile; wherever it runs, it must run
	// as changed (a node taking the account over with a stale copy would be a bug).
	id := ids[0]
	other := n1
	if polledBy(id) == "n1" {
		other = n2
	}
	other.API.Must("PATCH", fmt.Sprintf("/instances/%d", id), map[string]any{"name": "renamed elsewhere"})
	rig.Until(t, "the rename applied on the polling node", func() bool {
		running := 0
		for _, n := range nodes {
			if in, ok := n.Runtime().Instance(id); ok {
				if in.Name != "renamed elsewhere" {
					return false
				}
				running++
			}
		}
		return running == 1
	})
	other.API.Must("DELETE", fmt.Sprintf("/instances/%d/enabled", id), nil)
	rig.Until(t, "the disable applied on both nodes", func() bool {
		for _, n := range nodes {
			if _, live := n.Runtime().Instance(id); live { // a disabled instance is not live
				return false
			}
			// The node's own view of the instance, whether it polls it or not.
			for _, st := range n.Cluster().Status(id) {
				if st.State != "idle" {
					return false
				}
			}
		}
		return true
	})
	other.API.Must("PUT", fmt.Sprintf("/instances/%d/enabled", id), nil)

	// n1 leaves: n2 polls everything, from the cursors.
	n1.Stop()
	for _, id := range ids {
		rig.Until(t, fmt.Sprintf("instance %d on n2", id), func() bool {
			_, ok := n2.Runtime().Instance(id)
			return ok
		})
	}
	for _, d := range desks {
		want = append(want, "CREATED incidents "+idOf(d.CreateTicket(map[string]any{"subject": "after n1 left", "requester_id": requester[d]})))
	}
	rig.Until(t, "tickets made after n1 left delivered", func() bool { return recv.Has(want...) })
	for _, id := range ids {
		n2.API.Settle(id)
	}
	recv.ExpectExactly(t, want...)
	// Waited for, not read once: under load a late heartbeat makes n2 give its leases up and
	// take them again a moment later.
	rig.Until(t, "n2 alone, holding every lease", func() bool {
		st := n2.Cluster().Stats()
		return st.Leases == len(ids) && st.Nodes == 1
	})
}
