package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

// TestBenchLoad runs the load harness small: a few accounts, a short interval. Every change
// must reach the receiver (bench fails otherwise), and the table must carry every figure.
func TestBenchLoad(t *testing.T) {
	var out bytes.Buffer
	bc := benchConfig{instances: 4, resources: 2, interval: 2 * time.Second, changes: 240, duration: 5 * time.Second,
		timeout: time.Minute, pollWorkers: 4, deliveryWorkers: 8, seed: 7, binary: rig.BuildPollen(t)}
	if err := bench(context.Background(), bc, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"instances created", "vendor requests per poll", "polls/s", "schedule lag p50 / p99",
		"change to delivery p50 / p99", "events/s delivered", "vendor requests per change", "vendor 429s",
		"server CPU per 1,000 polls", " 0 missing"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the report:\n%s", want, out.String())
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(out.String(), "server peak RSS") {
		t.Errorf("no peak RSS in the report:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}

// TestBenchBurst runs the burst mode small: every changed ticket must be delivered once.
func TestBenchBurst(t *testing.T) {
	var out bytes.Buffer
	bc := benchConfig{instances: 3, resources: 1, interval: time.Second, burst: 1500, timeout: time.Minute,
		pollWorkers: 4, deliveryWorkers: 8, seed: 7, binary: rig.BuildPollen(t)}
	if err := bench(context.Background(), bc, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"all delivered after", "(1500 of 1500, 0 missing)", "events/s, change to last delivery", "(0 duplicate events, 0 bad signatures)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the report:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}

// TestBenchBurstBeyondReach refuses, before starting anything, a burst that puts more tickets in
// one account's second than Freshdesk lets a query page through from both ends.
func TestBenchBurstBeyondReach(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runBench(context.Background(), []string{"--burst", "100000", "--instances", "1"}, &stdout, &stderr)
	if code != cli.ExitUsage {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr.String())
	}
	if want := "use --instances 2 or more"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
}

// TestBenchNodes runs the load harness small over two nodes on PostgreSQL, one killed halfway:
// every change must still arrive, and the table must carry the store's and the failover's rows.
func TestBenchNodes(t *testing.T) {
	var out bytes.Buffer
	bc := benchConfig{instances: 6, resources: 2, interval: 2 * time.Second, changes: 240, duration: 8 * time.Second,
		timeout: time.Minute, pollWorkers: 4, deliveryWorkers: 8, seed: 7, binary: rig.BuildPollen(t),
		nodes: 2, store: pgtest.URL(t), leasePeriod: time.Second, kill: true}
	if err := bench(context.Background(), bc, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"2 pollen serve nodes on one PostgreSQL", "polls/s", " 0 missing", "PostgreSQL transactions per poll",
		"PostgreSQL rows written per poll", "failover", "node2 killed at 4s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the report:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}
