package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/adapters/metrics"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/engine"
)

// The per-callback limits are serve flags with the deliverer's defaults, reach its options, and
// values it would silently replace are refused.
func TestServeCallbackFlags(t *testing.T) {
	fs, cfg, _ := serveFlags(io.Discard)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cfg.CallbackConcurrency != 4 || cfg.CallbackRate != 0 {
		t.Errorf("defaults: concurrency %d, rate %v; want 4 and 0 (no bound)", cfg.CallbackConcurrency, cfg.CallbackRate)
	}
	fs, cfg, _ = serveFlags(io.Discard)
	if err := fs.Parse([]string{"--callback-concurrency", "2", "--callback-rate", "0.5"}); err != nil {
		t.Fatal(err)
	}
	if err := checkLimits(*cfg); err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	do := cfg.Delivery(m)
	if do.PerCallback != 2 || do.RatePerCallback != 0.5 || do.OnAttempt == nil {
		t.Errorf("deliverer options: per callback %d, rate %v, OnAttempt set %v", do.PerCallback, do.RatePerCallback, do.OnAttempt != nil)
	}

	for _, args := range [][]string{
		{"--callback-concurrency", "0"},
		{"--callback-concurrency", "-1"},
		{"--callback-rate", "-3"},
		{"--callback-rate", "NaN"},
		{"--callback-rate", "+Inf"},
	} {
		var stderr bytes.Buffer
		code := runServe(context.Background(), append(args, "--data-dir", t.TempDir()), io.Discard, &stderr)
		if code != cli.ExitUsage || !strings.Contains(stderr.String(), args[0]) {
			t.Errorf("serve %v: exit %d, %q; want a usage error naming the flag", args, code, stderr.String())
		}
	}
}

// GET /metrics answers without the platform's secrets, and counts what a real poll and delivery
// did, with no instance data or secret in it.
func TestMetricsEndpoint(t *testing.T) {
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	srv := w.Start()
	id := w.CreateInstance(srv.API, nil)
	c := w.Desk.CreateContact(map[string]any{"name": "Metrics", "email": "metrics@example.com"})
	w.WaitFor(srv.API, id, "CREATED contacts "+idOf(c))

	var body string
	var got map[string]float64
	// The receiver has the event before the deliverer records the attempt.
	rig.Until(t, "the delivery counted", func() bool {
		body, got = scrapeMetrics(t, srv.URL()+"/metrics")
		return got["pollen_delivered_events_total"] >= 1
	})
	for series, min := range map[string]float64{
		`pollen_polls_total{result="ok"}`:             2,
		`pollen_poll_events_total`:                    1,
		`pollen_poll_records_total`:                   1,
		`pollen_poll_pages_total`:                     2,
		`pollen_poll_lag_seconds_count`:               2,
		`pollen_poll_duration_seconds_count`:          2,
		`pollen_vendor_requests_total{code="200"}`:    2,
		`pollen_deliveries_total{result="delivered"}`: 1,
		`pollen_delivered_events_total`:               1,
		`pollen_delivery_duration_seconds_count`:      1,
		`pollen_jobs`:                                 2,
		`pollen_instances`:                            1,
	} {
		if v, ok := got[series]; !ok || v < min {
			t.Errorf("%s = %v (present %v), want at least %v", series, v, ok, min)
		}
	}
	if got[`pollen_jobs`] != 2 || got[`pollen_instances`] != 1 {
		t.Errorf("jobs %v, instances %v; want 2 and 1", got[`pollen_jobs`], got[`pollen_instances`])
	}
	for _, secret := range []string{rig.APIKey, rig.SignatureKey, rig.UserSecret, rig.OrgSecret, w.Recv.URL, w.Desk.URL} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics carries %q", secret)
		}
	}
}

// scrapeMetrics GETs url without credentials and returns the body and its samples.
func scrapeMetrics(t *testing.T, url string) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %s %s\n%s", url, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	samples := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); i > 0 && err == nil {
			samples[line[:i]] = v
		}
	}
	return string(b), samples
}

// --node and --lease-period: a default name of this host and process, the engine's period, and a
// period too short to renew within refused.
func TestServeClusterFlags(t *testing.T) {
	fs, cfg, _ := serveFlags(io.Discard)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cfg.Node != "" || cfg.LeasePeriod != engine.DefaultLeasePeriod {
		t.Errorf("defaults: node %q, lease period %v", cfg.Node, cfg.LeasePeriod)
	}
	if err := checkLimits(*cfg); err != nil {
		t.Fatal(err)
	}
	fs, cfg, _ = serveFlags(io.Discard)
	if err := fs.Parse([]string{"--lease-period", "100ms"}); err != nil {
		t.Fatal(err)
	}
	if err := checkLimits(*cfg); err == nil {
		t.Error("a lease period of 100ms accepted")
	}
}
