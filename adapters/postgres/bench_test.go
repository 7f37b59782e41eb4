package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
