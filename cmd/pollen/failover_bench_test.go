package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/engine/seal"
)

// BenchmarkFailover measures how long after a SIGKILL of the node polling an account a change
// made at that moment reaches its callback through another node: two pollen serve processes on
// one PostgreSQL schema, four simulated Freshdesk accounts, a lease period of 2s and the default
// 10s (failover scales with it), instances polling every 0.6s.
//
//	go test ./cmd/pollen -run XXX -bench Failover -benchtime 3x
func BenchmarkFailover(b *testing.B) {
	for _, period := range []time.Duration{2 * time.Second, 10 * time.Second} {
		b.Run("period="+period.String(), func(b *testing.B) { benchFailover(b, period) })
	}
}

func benchFailover(b *testing.B, period time.Duration) {
	for b.Loop() {
		b.StopTimer()
		url := pgtest.URL(b)
		recv := rig.NewReceiver(b)
		env := []string{"POLLEN_KEY=" + seal.FormatKeys([][]byte{seal.GenerateKey()})}
		procs := map[string]*rig.Process{}
		for _, name := range []string{"n1", "n2"} {
			procs[name] = rig.StartProcess(b, rig.ProcessOptions{Env: env,
				Args: []string{"--store", url, "--node", name, "--lease-period", period.String(), "--log-level", "warn"}})
		}
		var desks []*rig.Freshdesk
		var ids []int64
		for range 4 {
			d := rig.NewFreshdesk(b, rig.FreshdeskOptions{})
			desks = append(desks, d)
			ids = append(ids, procs["n1"].API.CreateInstance("freshdeskv2", d.Instance(recv)))
		}
		var want []string
		for _, d := range desks {
			want = append(want, "CREATED incidents "+idOf(d.CreateTicket(map[string]any{"subject": "before"})))
		}
		rig.Until(b, "first tickets delivered", func() bool { return recv.Has(want...) })
		// Once the accounts have settled (every lease held, both nodes naming the same holder),
		// kill the node polling the first account.
		var node string
		rig.Until(b, "the accounts settled", func() bool {
			leases, names := 0, map[string]bool{}
			for _, p := range procs {
				var r struct {
					Leases int `json:"leases"`
				}
				p.API.JSON("/readyz", &r)
				leases += r.Leases
				var v struct {
					Node string `json:"node"`
				}
				p.API.JSON(fmt.Sprintf("/instances/%d", ids[0]), &v)
				names[v.Node], node = true, v.Node
			}
			return leases == len(desks) && len(names) == 1 && node != ""
		})
		procs[node].Kill()
		killed := time.Now()
		ticket := "CREATED incidents " + idOf(desks[0].CreateTicket(map[string]any{"subject": "after the kill"}))
		rig.Until(b, "the ticket made at the kill delivered", func() bool { return recv.Has(ticket) })
		took := time.Since(killed)
		b.ReportMetric(took.Seconds(), "s/failover")
		b.ReportMetric(took.Seconds()/period.Seconds(), "periods/failover")
		b.StartTimer()
	}
}
