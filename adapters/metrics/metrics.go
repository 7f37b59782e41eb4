// Package metrics exposes Pollen's Prometheus metrics: polls, vendor requests, deliveries and the
// size of the runtime. The engine knows nothing of Prometheus; it reports through hooks
// (engine.RuntimeOptions.OnPoll, engine.DelivererOptions.OnAttempt, vendor.Options.OnResponse)
// that a Metrics turns into series of its own registry, served by Handler.
//
// The series are aggregates over every instance: no metric carries an instance, a job, a URL or
// any configuration value, so that 10,000 instances cost no more series than one, and so that no
// secret can reach a scrape. The names are a contract (dashboards and `pollen bench` read them):
//
//	pollen_polls_total{result="ok"|"error"}     counter: polls finished
//	pollen_poll_lag_seconds                     histogram: how late polls started against their slot
//	pollen_poll_duration_seconds                histogram: poll wall time
//	pollen_poll_events_total                    counter: events committed by polls
//	pollen_poll_records_total                   counter: records read from vendors (failed polls included)
//	pollen_poll_pages_total                     counter: pages read from vendors (failed polls included)
//	pollen_vendor_requests_total{code}          counter: vendor HTTP attempts, retries included, by
//	                                            status ("200", "429", ...) or "error" (no response)
//	pollen_deliveries_total{result="delivered"|"failed"}  counter: notification delivery attempts
//	pollen_delivered_events_total               counter: events in delivered notifications
//	pollen_delivery_duration_seconds            histogram: time to send one notification
//	pollen_jobs                                 gauge: jobs scheduled
//	pollen_instances                            gauge: instances held by the runtime
//
// and, on a node sharing its store with others (engine.Cluster; see Cluster):
//
//	pollen_cluster_node_info{node}              gauge, always 1: this node's name
//	pollen_cluster_nodes                        gauge: live nodes, this one included
//	pollen_cluster_leases                       gauge: vendor accounts leased by this node
//	pollen_cluster_lease_acquisitions_total     counter: leases this node took
//	pollen_cluster_rebalances_total             counter: leases this node handed over because
//	                                            their account was assigned to another node
//	pollen_cluster_lease_losses_total           counter: leases this node lost (not renewed in
//	                                            time, taken over, or fenced)
//	pollen_cluster_fenced_writes_total          counter: commits and delivery attempts the store
//	                                            refused because their lease had moved on
//
// plus the Go runtime (go_*) and process (process_*) collectors.
package metrics

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pollen-hq/pollen/engine"
)

// DefaultBuckets returns the default bounds, in seconds, of every *_seconds histogram: from half a
// millisecond (a poll that found nothing) to a minute (a long backfill, or a callback that times
// out). Each call returns a new slice.
func DefaultBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
}

// Options configure New.
type Options struct {
	// Buckets are the upper bounds, in seconds and strictly increasing, of every *_seconds
	// histogram (+Inf is implied); nil = DefaultBuckets().
	Buckets []float64
}

// Runtime is what the gauges read at each scrape. *engine.Runtime implements it.
type Runtime interface {
	Jobs() int
	Instances() int
}

// Metrics holds Pollen's collectors in a registry of its own (never the global one, so that
// several servers in one process, as in tests, do not collide). Its methods are safe for
// concurrent use and do not block.
type Metrics struct {
	reg *prometheus.Registry

	pollsOK, pollsFailed prometheus.Counter
	pollLag, pollTime    prometheus.Histogram
	pollEvents           prometheus.Counter
	pollRecords          prometheus.Counter
	pollPages            prometheus.Counter

	vendorRequests *prometheus.CounterVec

	delivered, failed prometheus.Counter
	deliveredEvents   prometheus.Counter
	deliveryTime      prometheus.Histogram
}

// New returns Metrics with every series but the runtime gauges registered (see Runtime).
func New(opts Options) (*Metrics, error) {
	buckets := slices.Clone(opts.Buckets)
	if buckets == nil {
		buckets = DefaultBuckets()
	}
	for i, b := range buckets {
		if !(b > 0) || (i > 0 && b <= buckets[i-1]) {
			return nil, fmt.Errorf("metrics: Options.Buckets must be positive and strictly increasing: %v", opts.Buckets)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
		reg.MustRegister(h)
		return h
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
		reg.MustRegister(c)
		return c
	}

	m := &Metrics{reg: reg}
	polls := counterVec("pollen_polls_total", "Polls finished, by result (ok or error).", "result")
	m.pollsOK, m.pollsFailed = polls.WithLabelValues("ok"), polls.WithLabelValues("error")
	m.pollLag = histogram("pollen_poll_lag_seconds", "How late polls started against their scheduled slot.")
	m.pollTime = histogram("pollen_poll_duration_seconds", "Wall time of polls, vendor requests and commit included.")
	m.pollEvents = counter("pollen_poll_events_total", "Events committed by polls.")
	m.pollRecords = counter("pollen_poll_records_total", "Records read from vendors by polls, failed polls included.")
	m.pollPages = counter("pollen_poll_pages_total", "Pages read from vendors by polls, failed polls included.")

	m.vendorRequests = counterVec("pollen_vendor_requests_total",
		"Vendor HTTP attempts, retries included, by status code, or \"error\" when no response arrived.", "code")

	deliveries := counterVec("pollen_deliveries_total", "Notification delivery attempts, by result (delivered or failed).", "result")
	m.delivered, m.failed = deliveries.WithLabelValues("delivered"), deliveries.WithLabelValues("failed")
	m.deliveredEvents = counter("pollen_delivered_events_total", "Events in notifications their callback accepted.")
	m.deliveryTime = histogram("pollen_delivery_duration_seconds", "Time to send one notification to its callback, failed attempts included.")
	return m, nil
}

// Runtime registers the pollen_jobs and pollen_instances gauges, read from rt at each scrape.
// Call it once.
func (m *Metrics) Runtime(rt Runtime) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pollen_jobs", Help: "Jobs (instance, resource) scheduled for polling."},
			func() float64 { return float64(rt.Jobs()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pollen_instances", Help: "Instances held by the runtime, disabled ones included."},
			func() float64 { return float64(rt.Instances()) }),
	)
}

// Cluster is what the cluster series read at each scrape. *engine.Cluster implements it.
type Cluster interface {
	Stats() engine.ClusterStats
}

// Cluster registers the pollen_cluster_* series, read from c at each scrape. Call it once, on a
// node that shares its store with others.
func (m *Metrics) Cluster(c Cluster) {
	gauge := func(name, help string, f func(engine.ClusterStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(c.Stats()) })
	}
	counter := func(name, help string, f func(engine.ClusterStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(c.Stats())) })
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pollen_cluster_node_info", Help: "Always 1: the node's name, as a label.",
			ConstLabels: prometheus.Labels{"node": c.Stats().Node}}, func() float64 { return 1 }),
		gauge("pollen_cluster_nodes", "Live nodes sharing the store, this one included.", func(s engine.ClusterStats) float64 { return float64(s.Nodes) }),
		gauge("pollen_cluster_leases", "Vendor accounts leased by this node: it polls their jobs and delivers their notifications.",
			func(s engine.ClusterStats) float64 { return float64(s.Leases) }),
		counter("pollen_cluster_lease_acquisitions_total", "Leases this node took.", func(s engine.ClusterStats) uint64 { return s.Acquired }),
		counter("pollen_cluster_rebalances_total", "Leases this node handed over because their account was assigned to another node.",
			func(s engine.ClusterStats) uint64 { return s.Rebalanced }),
		counter("pollen_cluster_lease_losses_total", "Leases this node lost: not renewed in time, taken over, or fenced.",
			func(s engine.ClusterStats) uint64 { return s.Lost }),
		counter("pollen_cluster_fenced_writes_total", "Commits and delivery attempts the store refused because their lease had moved on.",
			func(s engine.ClusterStats) uint64 { return s.Fenced }),
	)
}

// Poll records one finished poll; it is an engine.RuntimeOptions.OnPoll.
func (m *Metrics) Poll(ev engine.PollEvent) {
	if ev.Err != nil {
		m.pollsFailed.Inc()
	} else {
		m.pollsOK.Inc()
	}
	m.pollLag.Observe(max(ev.Lag, 0).Seconds())
	m.pollTime.Observe(ev.Duration.Seconds())
	m.pollEvents.Add(float64(ev.Result.Events))
	m.pollRecords.Add(float64(ev.Result.Records))
	m.pollPages.Add(float64(ev.Result.Pages))
}

// VendorResponse records one vendor HTTP attempt; it is a vendor.Options.OnResponse.
func (m *Metrics) VendorResponse(status int, err error) {
	code := "error"
	if err == nil {
		code = strconv.Itoa(status)
	}
	m.vendorRequests.WithLabelValues(code).Inc()
}

// Delivery records one delivery attempt; it is an engine.DelivererOptions.OnAttempt.
func (m *Metrics) Delivery(delivered bool, events int, took time.Duration) {
	if delivered {
		m.delivered.Inc()
		m.deliveredEvents.Add(float64(events))
	} else {
		m.failed.Inc()
	}
	m.deliveryTime.Observe(took.Seconds())
}

// Handler serves the registry in the Prometheus exposition formats (text by default, the others
// by content negotiation).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
