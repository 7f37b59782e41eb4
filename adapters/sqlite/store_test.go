package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/storetest"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) (*Store, string) {
	path := filepath.Join(t.TempDir(), "pollen.db")
	return openTest(t, path), path
}

func mkInstance(t testing.TB, s *Store, name string) *engine.InstanceRecord {
	t.Helper()
	in := &engine.InstanceRecord{Name: name, ElementKey: "freshdeskv2", Token: "tok-" + name,
		Configuration: map[string]any{"username": "secret-" + name}}
	if err := s.CreateInstance(context.Background(), in); err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	return in
}

// The contract's commits and cursors (engine/storetest), for this store's own tests.
var (
	mkCommit = storetest.MakeCommit
	cursorAt = storetest.CursorAt
)

func mustCommit(t testing.TB, s *Store, c engine.Commit) {
	t.Helper()
	if err := s.CommitPoll(context.Background(), c); err != nil {
		t.Fatalf("CommitPoll: %v", err)
	}
}

func mustStats(t testing.TB, s *Store) Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// due returns, of up to limit instances, the oldest PENDING notification when it is due at now:
// what a deliverer sends first when notifications carry every lane.
func due(t testing.TB, s *Store, now time.Time, limit int) []string {
	t.Helper()
	ds, err := s.Pending(context.Background(), engine.PendingQuery{Limit: 1 << 30})
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	ids := []string{}
	seen := map[int64]bool{}
	for _, d := range ds {
		if seen[d.InstanceID] || len(ids) == limit {
			continue
		}
		seen[d.InstanceID] = true
		if !d.Due.After(now) {
			ids = append(ids, d.ID)
		}
	}
	return ids
}

func record(t testing.TB, s *Store, a engine.Attempt) {
	t.Helper()
	if err := s.RecordAttempt(context.Background(), a); err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
}

func TestOpenSettings(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "user_version": fmt.Sprint(schemaVersion)} {
		var got string
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if _, err := s.r.ExecContext(ctx, `DELETE FROM events`); err == nil {
		t.Error("reader pool accepted a write")
	}
	// A newer schema than this build knows is refused.
	path := filepath.Join(t.TempDir(), "x.db")
	s2 := openTest(t, path)
	s2.w.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+1))
	s2.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
	// Odd characters in the path survive the URI.
	odd := filepath.Join(t.TempDir(), "a dir?#%x", "p.db")
	if err := os.MkdirAll(filepath.Dir(odd), 0o755); err != nil {
		t.Fatal(err)
	}
	s3 := openTest(t, odd)
	mkInstance(t, s3, "odd")
	s3.Close()
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("database not created at %q", odd)
	}
	// In memory, for tests elsewhere.
	m := openTest(t, ":memory:")
	in := mkInstance(t, m, "mem")
	mustCommit(t, m, mkCommit(in.ID, "tickets", "m", 3, t0, cursorAt(t0)))
	if got := due(t, m, t0, 10); len(got) != 1 {
		t.Errorf("in-memory store: due %v", got)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	s, path := newStore(t)
	in := mkInstance(t, s, "acme")
	c := mkCommit(in.ID, "tickets", "p1", 25, t0, cursorAt(t0, "a", "b"))
	mustCommit(t, s, c)
	record(t, s, engine.Attempt{NotificationID: "p1-n000", At: t0.Add(time.Second), HTTPStatus: 200, Status: engine.StatusDelivered})
	record(t, s, engine.Attempt{NotificationID: "p1-n001", At: t0.Add(2 * time.Second), HTTPStatus: 503, Error: "boom",
		Status: engine.StatusFailed, Next: t0.Add(time.Minute)})
	before := mustStats(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path)
	if got := mustStats(t, s); !reflect.DeepEqual(got, before) {
		t.Errorf("stats after reopen %+v, want %+v", got, before)
	}
	got, err := s.Instance(ctx, in.ID)
	if err != nil || !reflect.DeepEqual(got, instanceAsStored(in)) {
		t.Errorf("instance after reopen %+v (%v), want %+v", got, err, in)
	}
	cur, ok, err := s.Cursor(ctx, c.Key)
	if err != nil || !ok || !reflect.DeepEqual(cur, c.Cursor) {
		t.Errorf("cursor after reopen %+v %v %v, want %+v", cur, ok, err, c.Cursor)
	}
	// n000 delivered, n001 waiting for its retry: n001 is the instance's oldest pending one.
	if ids := due(t, s, t0.Add(time.Minute-1), 10); len(ids) != 0 {
		t.Errorf("due before retry: %v", ids)
	}
	ds, err := s.Pending(ctx, engine.PendingQuery{Limit: 1})
	if err != nil || len(ds) != 1 {
		t.Fatalf("pending after reopen: %v %v", ds, err)
	}
	n1 := c.Notifications[1]
	want := engine.Delivery{ID: n1.ID, InstanceID: in.ID, ObjectType: "tickets", Lanes: n1.Lanes, Events: 10,
		Attempts: 1, Due: t0.Add(time.Minute), Seq: 2} // the second notification stored
	if !reflect.DeepEqual(ds[0], want) {
		t.Errorf("delivery after reopen\n got %+v\nwant %+v", ds[0], want)
	}
	if body, err := s.NotificationBody(ctx, ds[0].ID); err != nil || !bytes.Equal(body, c.Notifications[1].Body) {
		t.Errorf("body after reopen: %q, %v; want %q", body, err, c.Notifications[1].Body)
	}
	if _, err := s.NotificationBody(ctx, "no-such"); !errors.Is(err, ErrNotFound) {
		t.Errorf("body of a missing notification: %v, want ErrNotFound", err)
	}
	ev, atts, err := s.Event(ctx, "p1-e000")
	if err != nil || ev.Status != "NOTIFIED" || len(atts) != 1 || atts[0].HTTPStatus != 200 {
		t.Errorf("event after reopen %+v %+v %v", ev, atts, err)
	}
}

// instanceAsStored is in as it reads back: UTC times, non-nil tags, json.Number numbers.
func instanceAsStored(in *engine.InstanceRecord) *engine.InstanceRecord {
	out := *in
	if out.Tags == nil {
		out.Tags = []string{}
	}
	b, _ := json.Marshal(in.Configuration)
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	d.Decode(&out.Configuration)
	out.CreatedAt, out.UpdatedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC()
	return &out
}

// Prune works in batches, each its own transaction, and deletes the attempts of what it prunes
// (which the history no longer shows).
func TestPruneInBatches(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "pollen.db"), Options{PruneBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	in := mkInstance(t, s, "a")
	mustCommit(t, s, mkCommit(in.ID, "tickets", "p", 70, t0, cursorAt(t0))) // p-n000..p-n006
	for _, id := range []string{"p-n000", "p-n001", "p-n002", "p-n003", "p-n004"} {
		record(t, s, engine.Attempt{NotificationID: id, At: t0, HTTPStatus: 500, Status: engine.StatusFailed, Next: t0.Add(time.Second)})
		record(t, s, engine.Attempt{NotificationID: id, At: t0.Add(time.Second), HTTPStatus: 200, Status: engine.StatusDelivered})
	}
	record(t, s, engine.Attempt{NotificationID: "p-n005", At: t0, HTTPStatus: 500, Status: engine.StatusFailed, Next: t0.Add(time.Hour)})
	if n, err := s.Prune(ctx, t0.Add(time.Hour)); err != nil || n != 50 {
		t.Fatalf("Prune: %d %v, want 50 events", n, err)
	}
	want := Stats{Instances: 1, Events: 20, Notifications: map[string]int{"PENDING": 2}, Attempts: 1}
	if got := mustStats(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("after prune: %+v, want %+v", got, want)
	}
}
