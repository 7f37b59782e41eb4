package rig

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/pollen-hq/pollen/engine/seal"
)

// Cluster is several pollen serve processes on one shared store (a PostgreSQL URL), each with
// its own node name (node1, node2, ...) and data directory, and the secrets they must share: the
// bootstrap admin's (UserSecret, OrgSecret) and the key sealing secrets at rest (POLLEN_KEY).
type Cluster struct {
	Store string
	Nodes []*Process
}

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	Nodes int      // how many; 0 means 3
	Store string   // the --store URL every node shares
	Args  []string // more serve flags of every node (--lease-period 2s, ...)
	Env   []string // more environment of every node
}

// StartCluster starts the nodes one after another, each ready (GET /readyz) before the next
// starts. Each is killed when the test ends; Process.Kill and Process.Start kill and restart
// one, on its own data directory, with its own name.
func StartCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	key := "POLLEN_KEY=" + base64.StdEncoding.EncodeToString(seal.GenerateKey())
	c := &Cluster{Store: o.Store}
	for i := range o.Nodes {
		args := append([]string{"--store", o.Store, "--node", NodeName(i)}, o.Args...)
		env := append([]string{key}, o.Env...)
		c.Nodes = append(c.Nodes, StartProcess(t, ProcessOptions{Args: args, Env: env}))
	}
	return c
}

// NodeName is the --node name of the Cluster's node i: node1, node2, ...
func NodeName(i int) string { return "node" + strconv.Itoa(i+1) }

// API is a client of the first node that runs.
func (c *Cluster) API() *Client {
	for _, p := range c.Nodes {
		if p.Running() {
			return p.API
		}
	}
	return nil
}

// Leases is how many vendor accounts the process's node holds (GET /readyz); -1 when it does
// not answer.
func (p *Process) Leases() int {
	resp, err := http.Get(p.URL + "/readyz")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var v struct {
		Leases *int `json:"leases"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Leases == nil {
		return -1
	}
	return *v.Leases
}
