package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

type runtimeFake struct{ jobs, instances int }

func (r runtimeFake) Jobs() int      { return r.jobs }
func (r runtimeFake) Instances() int { return r.instances }

// scrape GETs the handler over HTTP, as Prometheus does, and returns the body and its samples
// ("name{labels}" -> value).
func scrape(t *testing.T, h http.Handler) (string, map[string]float64) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("unparsable sample %q", line)
		}
		samples[line[:i]] = v
	}
	return string(body), samples
}

func TestScrape(t *testing.T) {
	const secret = "s3cr3t-api-key"
	m := mustNew(t, Options{})
	m.Runtime(runtimeFake{jobs: 7, instances: 3})
	m.Poll(engine.PollEvent{Key: engine.JobKey{InstanceID: 4242, ObjectType: "incidents"},
		Result: engine.PollResult{Pages: 2, Records: 150, Events: 12}, Lag: 3 * time.Millisecond, Duration: 200 * time.Millisecond})
	m.Poll(engine.PollEvent{Key: engine.JobKey{InstanceID: 4242, ObjectType: "contacts"},
		Result: engine.PollResult{Pages: 1, Records: 30}, Err: errors.New("vendor: GET https://apikey:" + secret + "@acme.example.com: 500"),
		Lag: 2 * time.Second, Duration: 40 * time.Second})
	m.Poll(engine.PollEvent{Lag: -time.Millisecond}) // started early: counted as no lag
	m.VendorResponse(200, nil)
	m.VendorResponse(200, nil)
	m.VendorResponse(429, nil)
	m.VendorResponse(0, errors.New("dial tcp: connection refused "+secret))
	m.VendorResponse(502, errors.New("unexpected EOF")) // body cut off: an error, not a 502
	m.Delivery(true, 10, 20*time.Millisecond)
	m.Delivery(true, 3, 30*time.Millisecond)
	m.Delivery(false, 5, 2*time.Second)

	body, got := scrape(t, m.Handler())
	want := map[string]float64{
		`pollen_polls_total{result="ok"}`:                     2,
		`pollen_polls_total{result="error"}`:                  1,
		`pollen_poll_events_total`:                            12,
		`pollen_poll_records_total`:                           180,
		`pollen_poll_pages_total`:                             3,
		`pollen_poll_lag_seconds_count`:                       3,
		`pollen_poll_lag_seconds_bucket{le="0.0005"}`:         1,
		`pollen_poll_lag_seconds_bucket{le="0.005"}`:          2,
		`pollen_poll_lag_seconds_bucket{le="2.5"}`:            3,
		`pollen_poll_lag_seconds_sum`:                         2.003,
		`pollen_poll_duration_seconds_count`:                  3,
		`pollen_poll_duration_seconds_bucket{le="0.25"}`:      2,
		`pollen_poll_duration_seconds_bucket{le="30"}`:        2,
		`pollen_poll_duration_seconds_bucket{le="60"}`:        3,
		`pollen_poll_duration_seconds_bucket{le="+Inf"}`:      3,
		`pollen_vendor_requests_total{code="200"}`:            2,
		`pollen_vendor_requests_total{code="429"}`:            1,
		`pollen_vendor_requests_total{code="error"}`:          2,
		`pollen_deliveries_total{result="delivered"}`:         2,
		`pollen_deliveries_total{result="failed"}`:            1,
		`pollen_delivered_events_total`:                       13,
		`pollen_delivery_duration_seconds_count`:              3,
		`pollen_delivery_duration_seconds_bucket{le="0.025"}`: 1,
		`pollen_delivery_duration_seconds_bucket{le="0.05"}`:  2,
		`pollen_delivery_duration_seconds_bucket{le="2.5"}`:   3,
		`pollen_jobs`:      7,
		`pollen_instances`: 3,
	}
	for series, v := range want {
		g, ok := got[series]
		if !ok {
			t.Errorf("%s missing", series)
		} else if diff := g - v; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s = %v, want %v", series, g, v)
		}
	}
	if _, ok := got[`pollen_vendor_requests_total{code="502"}`]; ok {
		t.Error("an attempt with an error counted under its status")
	}
	// The buckets are exactly the contract's.
	var les []string
	for series := range got {
		if le, ok := strings.CutPrefix(series, `pollen_poll_lag_seconds_bucket{le="`); ok {
			les = append(les, strings.TrimSuffix(le, `"}`))
		}
	}
	if len(les) != len(DefaultBuckets())+1 {
		t.Errorf("%d lag buckets %v, want %d and +Inf", len(les), les, len(DefaultBuckets()))
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(body, "\n"+name+" ") && !strings.HasPrefix(body, name+" ") {
			t.Errorf("%s missing: the Go and process collectors are not registered", name)
		}
	}
	for _, leak := range []string{secret, "4242", "incidents", "contacts", "acme"} {
		if strings.Contains(body, leak) {
			t.Errorf("scrape carries %q", leak)
		}
	}
}

// Before anything happened, the result series exist at 0, so that rate() over them works from
// the first scrape.
func TestScrapeEmpty(t *testing.T) {
	_, got := scrape(t, mustNew(t, Options{}).Handler())
	for _, series := range []string{`pollen_polls_total{result="ok"}`, `pollen_polls_total{result="error"}`,
		`pollen_deliveries_total{result="delivered"}`, `pollen_deliveries_total{result="failed"}`,
		`pollen_poll_events_total`, `pollen_poll_lag_seconds_count`, `pollen_delivery_duration_seconds_count`} {
		if v, ok := got[series]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", series, v, ok)
		}
	}
	if _, ok := got["pollen_jobs"]; ok {
		t.Error("pollen_jobs without a runtime")
	}
}

func mustNew(t *testing.T, o Options) *Metrics {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Options.Buckets sets the bounds of every *_seconds histogram; bounds that Prometheus would
// refuse (or panic on) are an error, not a panic.
func TestBuckets(t *testing.T) {
	m := mustNew(t, Options{Buckets: []float64{0.5, 2}})
	m.Poll(engine.PollEvent{Lag: time.Second, Duration: 3 * time.Second})
	m.Delivery(true, 1, 100*time.Millisecond)
	_, got := scrape(t, m.Handler())
	want := map[string]float64{
		`pollen_poll_lag_seconds_bucket{le="0.5"}`:           0,
		`pollen_poll_lag_seconds_bucket{le="2"}`:             1,
		`pollen_poll_lag_seconds_bucket{le="+Inf"}`:          1,
		`pollen_poll_duration_seconds_bucket{le="2"}`:        0,
		`pollen_poll_duration_seconds_bucket{le="+Inf"}`:     1,
		`pollen_delivery_duration_seconds_bucket{le="0.5"}`:  1,
		`pollen_delivery_duration_seconds_bucket{le="+Inf"}`: 1,
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
	for series := range got {
		if strings.Contains(series, `_seconds_bucket{le="0.0005"}`) {
			t.Errorf("%s: a default bucket beside the configured ones", series)
		}
	}
	for _, bad := range [][]float64{{1, 1}, {2, 1}, {0, 1}, {-1}, {math.NaN()}} {
		if _, err := New(Options{Buckets: bad}); err == nil {
			t.Errorf("buckets %v accepted", bad)
		}
	}
	if b := DefaultBuckets(); &b[0] == &DefaultBuckets()[0] {
		t.Error("DefaultBuckets returns a shared slice")
	}
}

type clusterFake struct{ s engine.ClusterStats }

func (c *clusterFake) Stats() engine.ClusterStats { return c.s }

// A node of a cluster reports its name, its leases and what happened to them.
func TestScrapeCluster(t *testing.T) {
	m := mustNew(t, Options{})
	c := &clusterFake{engine.ClusterStats{Node: "node-1", Nodes: 3, Leases: 7, Acquired: 9, Rebalanced: 2, Lost: 1, Fenced: 4}}
	m.Cluster(c)
	_, got := scrape(t, m.Handler())
	for series, want := range map[string]float64{
		`pollen_cluster_node_info{node="node-1"}`: 1,
		"pollen_cluster_nodes":                    3,
		"pollen_cluster_leases":                   7,
		"pollen_cluster_lease_acquisitions_total": 9,
		"pollen_cluster_rebalances_total":         2,
		"pollen_cluster_lease_losses_total":       1,
		"pollen_cluster_fenced_writes_total":      4,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
	c.s.Leases = 5
	if _, got := scrape(t, m.Handler()); got["pollen_cluster_leases"] != 5 {
		t.Errorf("leases not read at the scrape: %v", got["pollen_cluster_leases"])
	}
}
