package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

// benchCommit is a poll of 100 events of ~1 KB records in 10 notifications carrying them.
func benchCommit(id int64, prefix string, at time.Time) engine.Commit {
	c := mkCommit(id, "tickets", prefix, 100, at, cursorAt(at, "1", "2", "3"))
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

func BenchmarkCommitPoll(b *testing.B) {
	s, _ := newStore(b)
	in := mkInstance(b, s, "bench")
	ctx := context.Background()
	commits := make([]engine.Commit, b.N)
	for i := range commits {
		commits[i] = benchCommit(in.ID, fmt.Sprint("c", i), t0)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.CommitPoll(ctx, commits[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCommitPollParallel commits polls of 100 events in 10 notifications from 8 jobs at
// once, each of its own instance: a node's poll workers committing side by side.
func BenchmarkCommitPollParallel(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	const jobs = 8
	ids := make([]int64, jobs)
	for i := range ids {
		ids[i] = mkInstance(b, s, fmt.Sprint("bench", i)).ID
	}
	var next atomic.Int64
	b.SetParallelism(1) // GOMAXPROCS goroutines; each takes the next job in turn
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			if err := s.CommitPoll(ctx, benchCommit(ids[n%jobs], fmt.Sprint("p", n), t0)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRecordAttempt records deliveries from 64 goroutines at once, as a burst's deliveries
// end: each op is one notification of 10 events delivered.
func BenchmarkRecordAttempt(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	in := mkInstance(b, s, "bench")
	var ids []string
	for c := 0; len(ids) < b.N; c++ {
		commit := benchCommit(in.ID, fmt.Sprint("c", c), t0)
		mustCommit(b, s, commit)
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
			if err := s.RecordAttempt(ctx, engine.Attempt{NotificationID: id, At: t0, HTTPStatus: 200, Status: engine.StatusDelivered}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
}

// BenchmarkPending reads 100 pending notifications among 50 instances with 20 pending
// notifications each (1000 pending, 10000 events): the deliverer's read of an instance's window,
// or of what is new.
func BenchmarkPending(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	for i := range 50 {
		in := mkInstance(b, s, fmt.Sprint("i", i))
		for j := range 2 {
			mustCommit(b, s, benchCommit(in.ID, fmt.Sprintf("i%d-c%d", i, j), t0))
		}
	}
	b.ResetTimer()
	for range b.N {
		ds, err := s.Pending(ctx, engine.PendingQuery{Limit: 100})
		if err != nil || len(ds) != 100 {
			b.Fatal(len(ds), err)
		}
	}
}

// BenchmarkCommitPollIdle is the commit of a poll that found nothing: the cursor alone, as it
// was (three seen pairs at its boundary). Every idle poll paid this write transaction until the
// engine learned to skip it (engine.Cursor.Equal); see BenchmarkCursor for what an idle poll
// still costs the store.
func BenchmarkCommitPollIdle(b *testing.B) {
	s, _ := newStore(b)
	in := mkInstance(b, s, "bench")
	ctx := context.Background()
	c := engine.Commit{Key: engine.JobKey{InstanceID: in.ID, ObjectType: "tickets"}, Cursor: cursorAt(t0, "1", "2", "3")}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.CommitPoll(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCursor reads a job's cursor, as every poll does first.
func BenchmarkCursor(b *testing.B) {
	s, _ := newStore(b)
	in := mkInstance(b, s, "bench")
	ctx := context.Background()
	key := engine.JobKey{InstanceID: in.ID, ObjectType: "tickets"}
	mustCommit(b, s, engine.Commit{Key: key, Cursor: cursorAt(t0, "1", "2", "3")})
	b.ReportAllocs()
	for b.Loop() {
		c, found, err := s.Cursor(ctx, key)
		if err != nil || !found || len(c.Streams[engine.StreamChanges].Seen) != 3 {
			b.Fatal(found, err)
		}
	}
}
