package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/engine/seal"
)

// TestConsolePollingNode: with two nodes on one PostgreSQL store, the console of either node
// says which node polls each instance, in the list and on the instance's page, including an
// instance the node showing it does not poll.
func TestConsolePollingNode(t *testing.T) {
	needBrowser(t)
	url := pgtest.URL(t)
	recv := rig.NewReceiver(t)
	key := seal.FormatKeys([][]byte{seal.GenerateKey()})
	start := func(name string) *rig.Pollen {
		cfg := rig.Loopback(t.TempDir())
		cfg.Store, cfg.Node, cfg.LeasePeriod, cfg.Key = url, name, time.Second, key
		return rig.Start(t, cfg)
	}
	n1, n2 := start("n1"), start("n2")

	// Accounts until one is polled by n2: rendezvous hashing spreads them, so a few suffice.
	var remote int64
	for i := 0; remote == 0; i++ {
		if i == 16 {
			t.Fatal("16 accounts, none polled by n2")
		}
		d := rig.NewFreshdesk(t, rig.FreshdeskOptions{})
		id := n1.API.CreateInstance("freshdeskv2", d.Instance(recv))
		var node string
		rig.Until(t, fmt.Sprintf("instance %d polled by a node", id), func() bool {
			var v struct {
				Node string `json:"node"`
			}
			n1.API.JSON(fmt.Sprintf("/instances/%d", id), &v)
			node = v.Node
			return node != ""
		})
		if node == "n2" {
			remote = id
		}
	}

	b := newTab(t, n1.URL())
	b.signIn()
	b.waitText(".instances-table", "node n2")
	b.shot("cluster-instances")
	b.open(fmt.Sprintf("/#/instances/%d", remote))
	b.waitText("#instance-node", "n2")
	b.shot("cluster-instance")

	c := newTab(t, n2.URL())
	c.signIn()
	c.open(fmt.Sprintf("/#/instances/%d", remote))
	c.waitText("#instance-node", "n2")
}
