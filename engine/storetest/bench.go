package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

// The benchmarks every store runs, so that their figures compare: each adapter's bench_test.go
// names them (BenchmarkCommitPoll calls BenchCommitPoll with its Opener), and README quotes them.

// benchEnv opens a store for a benchmark, with the suite's sealer and clock.
func benchEnv(b *testing.B, open Opener) *env {
	b.Helper()
	clock := &Clock{T: t0.Add(time.Hour)}
	return &env{Stores: open(b, Options{Sealer: newSealer(b), Clock: clock}), clock: clock}
}

// benchCommit is a poll of 100 events of ~1 KB records in 10 notifications carrying them.
func benchCommit(id int64, prefix string, at time.Time) engine.Commit {
	c := MakeCommit(id, "tickets", prefix, 100, at, CursorAt(at, "1", "2", "3"))
	pad := strings.Repeat("x", 1000)
	for i := range c.Events {
		c.Events[i].Record = json.RawMessage(fmt.Sprintf(`{"id":%d,"description":%q}`, i, pad))
	}
	for i := range c.Notifications {
		body := []byte(`{"records":[`)
		for j, e := range c.Events[i*10 : i*10+10] {
			if j > 0 {
				body = append(body, ',')
			}
			body = append(body, e.Record...)
		}
		c.Notifications[i].Body = append(body, "]}"...)
	}
	return c
}

// BenchCommitPoll commits polls of 100 events in 10 notifications, one after another.
func BenchCommitPoll(b *testing.B, open Opener) {
	e := benchEnv(b, open)
	id := e.instance(b, "bench")
	commits := make([]engine.Commit, b.N)
	for i := range commits {
		commits[i] = benchCommit(id, fmt.Sprint("c", i), t0)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := e.Store.CommitPoll(ctx, commits[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchCommitPollParallel commits polls of 100 events in 10 notifications from 8 jobs at once,
// each of its own instance: a node's poll workers committing side by side.
func BenchCommitPollParallel(b *testing.B, open Opener) {
	e := benchEnv(b, open)
	const jobs = 8
	ids := make([]int64, jobs)
	for i := range ids {
		ids[i] = e.instance(b, fmt.Sprint("bench", i))
	}
	var next atomic.Int64
	b.SetParallelism(1) // GOMAXPROCS goroutines; each takes the next job in turn
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			if err := e.Store.CommitPoll(ctx, benchCommit(ids[n%jobs], fmt.Sprint("p", n), t0)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchRecordAttempt records deliveries from 64 goroutines at once, as a burst's deliveries end:
// each op is one notification of 10 events delivered.
func BenchRecordAttempt(b *testing.B, open Opener) {
	e := benchEnv(b, open)
	id := e.instance(b, "bench")
	var ids []string
	for c := 0; len(ids) < b.N; c++ {
		commit := benchCommit(id, fmt.Sprint("c", c), t0)
		e.commit(b, commit)
		for _, n := range commit.Notifications {
			ids = append(ids, n.ID)
		}
	}
	var next atomic.Int64
	b.SetParallelism(32) // 64 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[next.Add(1)-1]
			if err := e.Outbox.RecordAttempt(ctx, engine.Attempt{NotificationID: id, At: t0, HTTPStatus: 200, Status: engine.StatusDelivered}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
}

// BenchPending reads 100 pending notifications among 50 instances with 20 pending notifications
// each (1000 pending, 10000 events): the deliverer's read of an instance's window, or of what is
// new.
func BenchPending(b *testing.B, open Opener) {
	e := benchEnv(b, open)
	for i := range 50 {
		id := e.instance(b, fmt.Sprint("i", i))
		for j := range 2 {
			e.commit(b, benchCommit(id, fmt.Sprintf("i%d-c%d", i, j), t0))
		}
	}
	b.ResetTimer()
	for range b.N {
		ds, err := e.Outbox.Pending(ctx, engine.PendingQuery{Limit: 100})
		if err != nil || len(ds) != 100 {
			b.Fatal(len(ds), err)
		}
	}
}

// BenchCommitPollIdle is the commit of a poll that found nothing: the cursor alone, as it was
// (three seen pairs at its boundary). Every idle poll paid this write transaction until the
// engine learned to skip it (engine.Cursor.Equal); BenchCursor is what an idle poll still costs
// the store.
func BenchCommitPollIdle(b *testing.B, open Opener) {
	e := benchEnv(b, open)
	id := e.instance(b, "bench")
	c := engine.Commit{Key: engine.JobKey{InstanceID: id, ObjectType: "tickets"}, Cursor: CursorAt(t0, "1", "2", "3")}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Store.CommitPoll(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchCursor reads a job's cursor, as every poll does first.
func BenchCursor(b *testing.B, open Opener) {
	e := benchEnv(b, open)
	key := engine.JobKey{InstanceID: e.instance(b, "bench"), ObjectType: "tickets"}
	e.commit(b, engine.Commit{Key: key, Cursor: CursorAt(t0, "1", "2", "3")})
	b.ReportAllocs()
	for b.Loop() {
		c, found, err := e.Store.Cursor(ctx, key)
		if err != nil || !found || len(c.Streams[engine.StreamChanges].Seen) != 3 {
			b.Fatal(found, err)
		}
	}
}
