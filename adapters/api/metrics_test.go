package api

import (
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/metrics"
	"github.com/pollen-hq/pollen/engine"
)

// GET /metrics serves the Prometheus exposition without the platform's secrets, when configured.
func TestMetricsRoute(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 0, func(c *harnessConfig) { c.api.Metrics = m.Handler() })
	m.Poll(engine.PollEvent{Result: engine.PollResult{Pages: 1, Records: 4, Events: 3}, Duration: time.Millisecond})
	m.Delivery(true, 3, time.Millisecond)

	r := h.do("GET", "/metrics", nil, map[string]string{}) // no Authorization
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") || r.header.Get("X-Request-Id") == "" {
		t.Fatalf("GET /metrics: %d %q\n%s", r.status, r.header.Get("Content-Type"), r.body)
	}
	for _, want := range []string{"\npollen_polls_total{result=\"ok\"} 1\n", "\npollen_poll_events_total 3\n",
		"\npollen_deliveries_total{result=\"delivered\"} 1\n", "\npollen_delivered_events_total 3\n"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("scrape lacks %q", strings.TrimSpace(want))
		}
	}
	if r := h.do("HEAD", "/metrics", nil, map[string]string{}); r.status != 200 {
		t.Errorf("HEAD /metrics: %d", r.status)
	}
	r = h.do("POST", "/metrics", nil, map[string]string{})
	assertError(t, r, 405)
	if r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /metrics: Allow %q", r.header.Get("Allow"))
	}
	h.assertNoSecrets()

	// Without Options.Metrics there is no such route: it is an unknown path like any other.
	h = newHarness(t, 0)
	assertError(t, h.do("GET", "/metrics", nil, map[string]string{}), 401)
	assertError(t, h.do("GET", "/metrics", nil, nil), 404)
}
