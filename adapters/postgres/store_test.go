package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/engine"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) (*Store, string) {
	path := pgtest.URL(t)
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

// mkCommit builds a commit of n events of instance id, packed in notifications of up to 10,
// all created at `at`. prefix makes the ids unique per commit.
func mkCommit(id int64, objectType, prefix string, n int, at time.Time, cur engine.Cursor) engine.Commit {
	c := engine.Commit{Key: engine.JobKey{InstanceID: id, ObjectType: objectType}, Cursor: cur}
	for i := range n {
		c.Events = append(c.Events, engine.Event{
			ID: fmt.Sprintf("%s-e%03d", prefix, i), InstanceID: id, ObjectType: objectType,
			ObjectID: fmt.Sprint(i), Type: engine.Updated,
			Date: at.Add(-time.Duration(n-i) * time.Millisecond), PollDate: at,
			Record: json.RawMessage(fmt.Sprintf(`{"id":%d}`, i)),
		})
	}
	for i := 0; i < n; i += 10 {
		note := engine.Notification{ID: fmt.Sprintf("%s-n%03d", prefix, i/10), InstanceID: id,
			ObjectType: objectType, CreatedAt: at, Lanes: engine.LaneSet(1 << (i / 10 % engine.OrderLanes))}
		for _, e := range c.Events[i:min(n, i+10)] {
			note.EventIDs = append(note.EventIDs, e.ID)
		}
		// Bytes that are not UTF-8 or text: bodies must come back byte for byte.
		note.Body = append([]byte(`{"id":"`+note.ID+`"}`), 0, 0xff, 0xfe, '\n')
		c.Notifications = append(c.Notifications, note)
	}
	return c
}

func cursorAt(since time.Time, seen ...string) engine.Cursor {
	m := &engine.Mark{Since: since}
	for _, id := range seen {
		m.Seen = append(m.Seen, engine.SeenRecord{ID: id, Updated: since.UnixNano()})
	}
	return engine.Cursor{Streams: map[string]*engine.Mark{engine.StreamChanges: m}}
}

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

// pending returns the ids of the PENDING notifications q selects, in order.
func pending(t testing.TB, s *Store, q engine.PendingQuery) []string {
	t.Helper()
	ds, err := s.Pending(context.Background(), q)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
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

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	// Nodes starting at once on one new schema: each migration is applied once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(ctx, url, Options{})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	s := openTest(t, url)
	var versions []int
	rows, err := s.pool.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		rows.Scan(&v)
		versions = append(versions, v)
	}
	latest := ms[len(ms)-1].version
	if rows.Err() != nil || len(versions) != len(ms) || versions[0] != 1 || versions[len(versions)-1] != latest {
		t.Errorf("schema_migrations holds %v (%v), want the %d versions 1..%d", versions, rows.Err(), len(ms), latest)
	}
	var schema string
	if err := s.pool.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'notifications'`).Scan(&schema); err != nil || schema != s.Schema() {
		t.Errorf("tables in schema %q (%v), want the URL's %q", schema, err, s.Schema())
	}
	// A newer schema than this build knows is refused.
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, latest+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, url, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
	// A search_path naming no schema is said so.
	if _, err := Open(ctx, pgtest.WithSearchPath(pgtest.BaseURL(), "no_such_schema_here"), Options{}); err == nil || !strings.Contains(err.Error(), "no schema") {
		t.Errorf("Open without a schema: %v", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"gap":              {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"twice":            {"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}},
		"badname":          {"migrations/0001_a.sql": {}, "migrations/2_b.sql": {}},
		"not at 1":         {"migrations/0002_a.sql": {}},
		"cluster gap":      {"migrations/0001_a.sql": {}, "migrations/0101_c.sql": {}},
		"cluster gap only": {"migrations/0001_a.sql": {}, "migrations/0100_c.sql": {}, "migrations/0102_c.sql": {}},
	} {
		if ms, err := loadMigrations(files); err == nil {
			t.Errorf("%s: loaded %v", name, ms)
		}
	}
	if ms, err := loadMigrations(fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0002_b.sql": {}, "migrations/0100_c.sql": {}}); err != nil || len(ms) != 3 {
		t.Errorf("the cluster's series after the store's: %v, %v", ms, err)
	}
	ms, err := loadMigrations(fstest.MapFS{"migrations/0002_b.sql": {Data: []byte("B")}, "migrations/0001_a.sql": {Data: []byte("A")}})
	if err != nil || len(ms) != 2 || ms[0].sql != "A" || ms[1].version != 2 {
		t.Errorf("loaded %+v, %v", ms, err)
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

func TestCommitPollAtomic(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	in := mkInstance(t, s, "acme")
	first := mkCommit(in.ID, "tickets", "p1", 5, t0, cursorAt(t0, "x"))
	mustCommit(t, s, first)
	before := mustStats(t, s)

	check := func(name string, c engine.Commit, wantNotFound bool) {
		t.Helper()
		err := s.CommitPoll(ctx, c)
		if err == nil {
			t.Fatalf("%s: CommitPoll succeeded", name)
		}
		if errors.Is(err, ErrNotFound) != wantNotFound {
			t.Errorf("%s: err %v, ErrNotFound %v", name, err, wantNotFound)
		}
		if got := mustStats(t, s); !reflect.DeepEqual(got, before) {
			t.Errorf("%s: partial write: stats %+v, want %+v", name, got, before)
		}
		cur, _, _ := s.Cursor(ctx, first.Key)
		if !reflect.DeepEqual(cur, first.Cursor) {
			t.Errorf("%s: cursor moved to %+v", name, cur)
		}
		for _, e := range c.Events {
			if _, _, err := s.Event(ctx, e.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: event %s written (%v)", name, e.ID, err)
			}
		}
	}

	// The database refuses the second notification (empty id: CHECK constraint) after the events
	// and the first notification were inserted in the transaction.
	bad := mkCommit(in.ID, "tickets", "p2", 20, t0.Add(time.Minute), cursorAt(t0.Add(time.Minute), "y"))
	bad.Notifications[1].ID = ""
	check("empty notification id", bad, false)

	// Same with a NOT NULL body.
	bad = mkCommit(in.ID, "tickets", "p3", 20, t0.Add(time.Minute), cursorAt(t0.Add(time.Minute), "y"))
	bad.Notifications[1].Body = nil
	check("nil body", bad, false)

	// A poll of an instance that is gone.
	bad = mkCommit(in.ID+100, "tickets", "p4", 3, t0, cursorAt(t0))
	check("unknown instance", bad, true)

	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.CommitPoll(cctx, mkCommit(in.ID, "tickets", "p5", 3, t0, cursorAt(t0.Add(time.Hour)))); err == nil {
		t.Error("CommitPoll with a cancelled context succeeded")
	}
	if got := mustStats(t, s); !reflect.DeepEqual(got, before) {
		t.Errorf("cancelled: stats %+v, want %+v", got, before)
	}
}

func TestCommitPollIdempotent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	in := mkInstance(t, s, "acme")
	c := mkCommit(in.ID, "tickets", "p1", 15, t0, cursorAt(t0, "a"))
	mustCommit(t, s, c)
	record(t, s, engine.Attempt{NotificationID: "p1-n000", At: t0, HTTPStatus: 204, Status: engine.StatusDelivered})
	before := mustStats(t, s)
	if before.Events != 15 || before.Notifications["PENDING"] != 1 || before.Notifications["NOTIFIED"] != 1 {
		t.Fatalf("stats %+v", before)
	}

	// The same poll again (a crash after commit, a re-poll of the window), with a newer cursor.
	c.Cursor = cursorAt(t0.Add(time.Second), "b")
	mustCommit(t, s, c)
	if got := mustStats(t, s); !reflect.DeepEqual(got, before) {
		t.Errorf("re-commit changed stats: %+v, want %+v", got, before)
	}
	cur, _, _ := s.Cursor(ctx, c.Key)
	if !reflect.DeepEqual(cur, c.Cursor) {
		t.Errorf("cursor %+v, want %+v", cur, c.Cursor)
	}
	// The delivered notification stays delivered, its events too.
	if ids := due(t, s, t0, 10); !reflect.DeepEqual(ids, []string{"p1-n001"}) {
		t.Errorf("due %v", ids)
	}
	if ev, _, _ := s.Event(ctx, "p1-e003"); ev.Status != "NOTIFIED" || ev.NotificationID != "p1-n000" {
		t.Errorf("event %+v", ev)
	}
	// An overlapping poll: some known events, some new.
	c2 := mkCommit(in.ID, "tickets", "p1", 25, t0, cursorAt(t0.Add(2*time.Second)))
	mustCommit(t, s, c2)
	if got := mustStats(t, s); got.Events != 25 || got.Notifications["PENDING"] != 2 {
		t.Errorf("after overlap: %+v", got)
	}
}

func TestCursor(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	in := mkInstance(t, s, "acme")
	key := engine.JobKey{InstanceID: in.ID, ObjectType: "tickets"}
	if _, ok, err := s.Cursor(ctx, key); ok || err != nil {
		t.Fatalf("cursor before any commit: %v %v", ok, err)
	}
	cur := engine.Cursor{Streams: map[string]*engine.Mark{
		engine.StreamChanges: {Since: t0, Seen: []engine.SeenRecord{{ID: "1", Updated: t0.UnixNano()}, {ID: "2", Updated: t0.UnixNano() - 1}}},
		engine.StreamDeleted: {Since: t0.Add(-time.Hour)},
	}}
	mustCommit(t, s, engine.Commit{Key: key, Cursor: cur})
	got, ok, err := s.Cursor(ctx, key)
	if err != nil || !ok || !reflect.DeepEqual(got, cur) {
		t.Errorf("cursor %+v %v %v, want %+v", got, ok, err, cur)
	}
	if _, ok, _ := s.Cursor(ctx, engine.JobKey{InstanceID: in.ID, ObjectType: "contacts"}); ok {
		t.Error("other job has a cursor")
	}
}

// Pending returns PENDING notifications in outbox order, due or not, of any instance (disabled
// ones too), after a Seq and of one instance when asked, with what the deliverer holds of them.
func TestPending(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a, b, c := mkInstance(t, s, "a"), mkInstance(t, s, "b"), mkInstance(t, s, "c")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a1", 20, t0, cursorAt(t0)))                // a1-n000, a1-n001
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b1", 10, t0.Add(time.Hour), cursorAt(t0))) // due only an hour later
	mustCommit(t, s, mkCommit(c.ID, "contacts", "c1", 7, t0, cursorAt(t0)))
	mustCommit(t, s, mkCommit(a.ID, "contacts", "a2", 10, t0, cursorAt(t0)))
	mustCommit(t, s, mkCommit(c.ID, "tickets", "c2", 10, t0, cursorAt(t0)))

	all := []string{"a1-n000", "a1-n001", "b1-n000", "c1-n000", "a2-n000", "c2-n000"}
	if got := pending(t, s, engine.PendingQuery{Limit: 10}); !reflect.DeepEqual(got, all) {
		t.Errorf("pending: %v, want %v", got, all)
	}
	if got := pending(t, s, engine.PendingQuery{Limit: 2}); !reflect.DeepEqual(got, all[:2]) {
		t.Errorf("pending, limit 2: %v, want %v", got, all[:2])
	}
	ds, err := s.Pending(ctx, engine.PendingQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := pending(t, s, engine.PendingQuery{After: ds[2].Seq, Limit: 10}); !reflect.DeepEqual(got, all[3:]) {
		t.Errorf("pending after %s: %v, want %v", ds[2].ID, got, all[3:])
	}
	if got, want := pending(t, s, engine.PendingQuery{InstanceID: a.ID, Limit: 10}), []string{"a1-n000", "a1-n001", "a2-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending of a: %v, want %v", got, want)
	}
	if got, want := pending(t, s, engine.PendingQuery{InstanceID: a.ID, After: ds[0].Seq, Limit: 1}), []string{"a1-n001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending of a after a1-n000, limit 1: %v, want %v", got, want)
	}
	if got := pending(t, s, engine.PendingQuery{}); len(got) != 0 {
		t.Errorf("limit 0: %v", got)
	}
	want := []engine.Delivery{
		{ID: "a1-n000", InstanceID: a.ID, ObjectType: "tickets", Lanes: 1, Events: 10, Due: t0, Seq: ds[0].Seq},
		{ID: "a1-n001", InstanceID: a.ID, ObjectType: "tickets", Lanes: 2, Events: 10, Due: t0, Seq: ds[1].Seq},
		{ID: "b1-n000", InstanceID: b.ID, ObjectType: "tickets", Lanes: 1, Events: 10, Due: t0.Add(time.Hour), Seq: ds[2].Seq},
		{ID: "c1-n000", InstanceID: c.ID, ObjectType: "contacts", Lanes: 1, Events: 7, Due: t0, Seq: ds[3].Seq},
	}
	if !reflect.DeepEqual(ds[:4], want) {
		t.Errorf("deliveries\n got %+v\nwant %+v", ds[:4], want)
	}
	for i := 1; i < len(ds); i++ {
		if ds[i].Seq <= ds[i-1].Seq {
			t.Errorf("seqs not increasing: %+v", ds)
		}
	}

	// A failed attempt: due again later, its attempt counted. Delivered, or queued: not pending.
	record(t, s, engine.Attempt{NotificationID: "a1-n000", At: t0, HTTPStatus: 500, Status: engine.StatusPending, Next: t0.Add(time.Minute)})
	ds, _ = s.Pending(ctx, engine.PendingQuery{InstanceID: a.ID, Limit: 1})
	if len(ds) != 1 || ds[0].Attempts != 1 || !ds[0].Due.Equal(t0.Add(time.Minute)) {
		t.Errorf("after a failure: %+v, want one attempt, due in a minute", ds)
	}
	record(t, s, engine.Attempt{NotificationID: "a1-n000", At: t0.Add(time.Minute), HTTPStatus: 200, Status: engine.StatusDelivered})
	record(t, s, engine.Attempt{NotificationID: "c1-n000", At: t0, HTTPStatus: 503, Status: engine.StatusQueued})
	// Disabled instances' notifications are pending all the same: the deliverer knows what is live.
	b.Disabled = true
	if err := s.UpdateInstance(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, want := pending(t, s, engine.PendingQuery{Limit: 10}), []string{"a1-n001", "b1-n000", "a2-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending: %v, want %v (c's queued behind c1-n000)", got, want)
	}
}

func TestRecordAttempt(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	in := mkInstance(t, s, "acme")
	mustCommit(t, s, mkCommit(in.ID, "tickets", "p", 30, t0, cursorAt(t0)))

	status := func(id string) (string, int, string) {
		var st, lastErr string
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT status, attempts, last_error FROM notifications WHERE id = $1`, id).Scan(&st, &n, &lastErr); err != nil {
			t.Fatal(err)
		}
		return st, n, lastErr
	}

	// A failure to be retried: still pending, due at Next.
	at1 := t0.Add(1500 * time.Millisecond)
	record(t, s, engine.Attempt{NotificationID: "p-n000", At: at1, HTTPStatus: 502, Error: "bad gateway", Status: engine.StatusFailed, Next: t0.Add(time.Minute)})
	if st, n, e := status("p-n000"); st != "PENDING" || n != 1 || e != "bad gateway" {
		t.Errorf("after retryable failure: %s %d %q", st, n, e)
	}
	if ev, _, _ := s.Event(ctx, "p-e000"); ev.Status != "DISPATCHED" {
		t.Errorf("event of an attempted pending notification: %s", ev.Status)
	}
	// PENDING with a zero Next: due again right away.
	record(t, s, engine.Attempt{NotificationID: "p-n000", At: t0.Add(2 * time.Minute), Error: "dial: refused", Status: engine.StatusPending})
	if got := due(t, s, t0.Add(2*time.Minute), 1); !reflect.DeepEqual(got, []string{"p-n000"}) {
		t.Errorf("due after pending attempt: %v", got)
	}
	// Delivered.
	record(t, s, engine.Attempt{NotificationID: "p-n000", At: t0.Add(3 * time.Minute), HTTPStatus: 200, Status: engine.StatusDelivered})
	if st, n, _ := status("p-n000"); st != "NOTIFIED" || n != 3 {
		t.Errorf("after delivery: %s %d", st, n)
	}
	for _, id := range []string{"p-e000", "p-e009"} {
		if ev, _, _ := s.Event(ctx, id); ev.Status != "NOTIFIED" {
			t.Errorf("event %s: %s", id, ev.Status)
		}
	}
	if ev, _, _ := s.Event(ctx, "p-e010"); ev.Status != "NEW" {
		t.Errorf("event of the next notification: %s", ev.Status)
	}
	ev, atts, err := s.Event(ctx, "p-e005")
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.Attempt{
		{NotificationID: "p-n000", At: at1, HTTPStatus: 502, Error: "bad gateway", Status: engine.StatusFailed, Next: t0.Add(time.Minute)},
		{NotificationID: "p-n000", At: t0.Add(2 * time.Minute), Error: "dial: refused", Status: engine.StatusPending},
		{NotificationID: "p-n000", At: t0.Add(3 * time.Minute), HTTPStatus: 200, Status: engine.StatusDelivered},
	}
	if !reflect.DeepEqual(atts, want) {
		t.Errorf("attempts\n got %+v\nwant %+v", atts, want)
	}
	wantEv := EventRecord{ID: "p-e005", InstanceID: in.ID, ObjectType: "tickets", ObjectID: "5", EventType: "UPDATED",
		Date: t0.Add(-25 * time.Millisecond), PollDate: t0, Status: "NOTIFIED", NotificationID: "p-n000", Record: []byte(`{"id":5}`)}
	if !reflect.DeepEqual(*ev, wantEv) {
		t.Errorf("event\n got %+v\nwant %+v", *ev, wantEv)
	}

	// Given up: FAILED with no next attempt; its events too; the next one becomes due.
	record(t, s, engine.Attempt{NotificationID: "p-n001", At: t0, HTTPStatus: 410, Error: "gone", Status: engine.StatusFailed})
	if st, _, _ := status("p-n001"); st != "FAILED" {
		t.Errorf("after giving up: %s", st)
	}
	if ev, _, _ := s.Event(ctx, "p-e015"); ev.Status != "FAILED" {
		t.Errorf("event of a failed notification: %s", ev.Status)
	}
	if got := due(t, s, t0.Add(time.Hour), 10); !reflect.DeepEqual(got, []string{"p-n002"}) {
		t.Errorf("due after give-up: %v", got)
	}

	if err := s.RecordAttempt(ctx, engine.Attempt{NotificationID: "nope", At: t0, Status: engine.StatusDelivered}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown notification: %v", err)
	}
	if st := mustStats(t, s); st.Attempts != 4 {
		t.Errorf("attempts %d, want 4 (the unknown one not recorded)", st.Attempts)
	}
	if _, _, err := s.Event(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown event: %v", err)
	}
}

func TestInstances(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	if paris == nil {
		paris = time.FixedZone("CEST", 2*3600)
	}
	a := &engine.InstanceRecord{Name: "Acme", Tags: []string{"prod", "eu"}, Token: "abc=", ElementKey: "freshdeskv2",
		Configuration: map[string]any{
			"username": "apikey-secret", "event.notification.enabled": true,
			"event.poller.refresh_interval": 1, "big": json.Number("12345678901234567890"),
			"event.poller.configuration": map[string]any{"tickets": map[string]any{"url": "/hubs/x?a=<b>&c"}},
		},
		CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 6, paris)}
	if err := s.CreateInstance(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || !a.UpdatedAt.Equal(a.CreatedAt) {
		t.Errorf("created %+v", a)
	}
	b := &engine.InstanceRecord{Name: "Bolt", Token: "def", ElementKey: "zendesk"}
	if err := s.CreateInstance(ctx, b); err != nil {
		t.Fatal(err)
	}
	if b.ID <= a.ID || b.CreatedAt.IsZero() {
		t.Errorf("second instance %+v", b)
	}
	if err := s.CreateInstance(ctx, &engine.InstanceRecord{Name: "dup", Token: "abc=", ElementKey: "x"}); err == nil {
		t.Error("duplicate token accepted")
	}
	for _, x := range []*engine.InstanceRecord{{Name: "n1", ElementKey: "x"}, {Name: "n2", ElementKey: "x"}} {
		if err := s.CreateInstance(ctx, x); err != nil {
			t.Errorf("empty tokens must not collide: %v", err)
		}
	}

	got, err := s.Instance(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(got, instanceAsStored(a)) {
		t.Errorf("Instance\n got %#v (%v)\nwant %#v", got, err, instanceAsStored(a))
	}
	if got.Configuration["big"] != json.Number("12345678901234567890") {
		t.Errorf("big number %v", got.Configuration["big"])
	}
	if got, err := s.InstanceByToken(ctx, "def"); err != nil || got.ID != b.ID {
		t.Errorf("InstanceByToken %v %v", got, err)
	}
	for _, tok := range []string{"nope", ""} {
		if _, err := s.InstanceByToken(ctx, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("InstanceByToken(%q): %v", tok, err)
		}
	}
	if _, err := s.Instance(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Instance(999): %v", err)
	}
	all, err := s.Instances(ctx, engine.Scope{})
	if err != nil || len(all) != 4 || all[0].ID != a.ID || all[1].ID != b.ID || all[1].Name != "Bolt" {
		t.Errorf("Instances: %v %v", all, err)
	}

	upd := *got
	upd.Name, upd.Tags, upd.Disabled, upd.Token = "Acme 2", nil, true, "ghi"
	upd.Configuration = map[string]any{"username": "other"}
	upd.CreatedAt, upd.UpdatedAt = time.Time{}, t0
	if err := s.UpdateInstance(ctx, &upd); err != nil {
		t.Fatal(err)
	}
	if !upd.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("UpdateInstance did not report CreatedAt: %v", upd.CreatedAt)
	}
	got2, _ := s.Instance(ctx, a.ID)
	if !reflect.DeepEqual(got2, instanceAsStored(&upd)) {
		t.Errorf("after update\n got %#v\nwant %#v", got2, instanceAsStored(&upd))
	}
	if _, err := s.InstanceByToken(ctx, "abc="); !errors.Is(err, ErrNotFound) {
		t.Errorf("old token still found: %v", err)
	}
	if err := s.UpdateInstance(ctx, &engine.InstanceRecord{ID: 999, Name: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateInstance(999): %v", err)
	}
	if err := s.DeleteInstance(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Instance(ctx, b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted instance: %v", err)
	}
	if err := s.DeleteInstance(ctx, b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteInstance twice: %v", err)
	}
}

func TestDeleteInstanceCancelsPending(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a, b := mkInstance(t, s, "a"), mkInstance(t, s, "b")
	ca := mkCommit(a.ID, "tickets", "a", 30, t0, cursorAt(t0))
	mustCommit(t, s, ca)
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b", 10, t0, cursorAt(t0)))
	record(t, s, engine.Attempt{NotificationID: "a-n000", At: t0, HTTPStatus: 200, Status: engine.StatusDelivered})

	if err := s.DeleteInstance(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	st := mustStats(t, s)
	want := map[string]int{"NOTIFIED": 1, "CANCELLED": 2, "PENDING": 1}
	if !reflect.DeepEqual(st.Notifications, want) || st.Events != 40 || st.Instances != 1 {
		t.Errorf("stats after delete %+v", st)
	}
	if got := due(t, s, t0.Add(time.Hour), 10); !reflect.DeepEqual(got, []string{"b-n000"}) {
		t.Errorf("due after delete: %v", got)
	}
	if _, ok, _ := s.Cursor(ctx, ca.Key); ok {
		t.Error("cursor survived the instance")
	}
	evs, _, _ := s.Events(ctx, EventFilter{InstanceID: a.ID})
	if len(evs) != 30 || evs[0].Status != "CANCELLED" || evs[29].Status != "NOTIFIED" {
		t.Errorf("history after delete: %d events, %+v", len(evs), evs)
	}
	// A delivery that was in flight fails: it stays cancelled.
	record(t, s, engine.Attempt{NotificationID: "a-n001", At: t0, HTTPStatus: 500, Status: engine.StatusFailed, Next: t0.Add(time.Minute)})
	if st := mustStats(t, s); st.Notifications["CANCELLED"] != 2 {
		t.Errorf("in-flight failure resurrected a cancelled notification: %+v", st)
	}
	// A poll that was in flight commits nothing.
	if err := s.CommitPoll(ctx, mkCommit(a.ID, "tickets", "late", 5, t0, cursorAt(t0))); !errors.Is(err, ErrNotFound) {
		t.Errorf("late commit: %v", err)
	}
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a, b := mkInstance(t, s, "a"), mkInstance(t, s, "b")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a1", 3, t0, cursorAt(t0)))
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b1", 2, t0, cursorAt(t0)))
	mustCommit(t, s, mkCommit(a.ID, "contacts", "a2", 2, t0, cursorAt(t0)))
	ids := func(evs []EventRecord, _ string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return strings.Join(out, " ")
	}
	if got, want := ids(s.Events(ctx, EventFilter{})), "a2-e001 a2-e000 b1-e001 b1-e000 a1-e002 a1-e001 a1-e000"; got != want {
		t.Errorf("all events: %s, want %s", got, want)
	}
	if got, want := ids(s.Events(ctx, EventFilter{InstanceID: a.ID, Limit: 3})), "a2-e001 a2-e000 a1-e002"; got != want {
		t.Errorf("a's events: %s, want %s", got, want)
	}
	if got := ids(s.Events(ctx, EventFilter{InstanceID: 999, Limit: 10})); got != "" {
		t.Errorf("unknown instance: %s", got)
	}
}

func TestConcurrentCommitPoll(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	const workers, commits = 8, 15
	ins := make([]*engine.InstanceRecord, 4)
	for i := range ins {
		ins[i] = mkInstance(t, s, fmt.Sprint("i", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*commits*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := ins[w%len(ins)]
			for i := range commits {
				// Workers w and w+4 share an instance and commit the same polls: they overlap.
				c := mkCommit(in.ID, "tickets", fmt.Sprintf("i%d-c%d", in.ID, i), 12, t0.Add(time.Duration(i)*time.Second), cursorAt(t0))
				if err := s.CommitPoll(ctx, c); err != nil {
					errs <- err
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range commits {
				if _, err := s.Pending(ctx, engine.PendingQuery{Limit: 10}); err != nil {
					errs <- err
				}
				if _, _, err := s.Events(ctx, EventFilter{Limit: 20}); err != nil {
					errs <- err
				}
				if _, _, err := s.Cursor(ctx, engine.JobKey{InstanceID: ins[0].ID, ObjectType: "tickets"}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := mustStats(t, s)
	if st.Events != len(ins)*commits*12 || st.Notifications["PENDING"] != len(ins)*commits*2 {
		t.Errorf("stats %+v", st)
	}
	if got := due(t, s, t0.Add(time.Hour), 10); len(got) != len(ins) {
		t.Errorf("due %v", got)
	}
}

// A notification queued after its last retry is kept and parked: it is never due again by
// itself (re-sending it is an explicit act), so a dead receiver is not hammered.
func TestQueuedIsParked(t *testing.T) {
	s, _ := newStore(t)
	in := mkInstance(t, s, "acme")
	mustCommit(t, s, mkCommit(in.ID, "tickets", "q", 5, t0, cursorAt(t0)))
	record(t, s, engine.Attempt{NotificationID: "q-n000", At: t0.Add(time.Minute), HTTPStatus: 503, Error: "down", Status: engine.StatusQueued})
	var st string
	if err := s.pool.QueryRow(context.Background(), `SELECT status FROM notifications WHERE id = 'q-n000'`).Scan(&st); err != nil {
		t.Fatal(err)
	}
	if st != "QUEUED" {
		t.Errorf("status %s, want QUEUED", st)
	}
	for _, id := range due(t, s, t0.Add(24*time.Hour), 100) {
		if id == "q-n000" {
			t.Errorf("a queued notification is due again")
		}
	}
}

// A notification is found by its id (the message.eventId of its body), with its body byte for
// byte, its events in body order with their records, its attempts, and the status of its events.
func TestNotificationHistory(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	in := mkInstance(t, s, "acme")
	mustCommit(t, s, mkCommit(in.ID, "tickets", "p", 15, t0, cursorAt(t0)))

	n, err := s.Notification(ctx, "p-n001")
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != "p-n001" || n.InstanceID != in.ID || n.ObjectType != "tickets" || !n.CreatedAt.Equal(t0) || n.Status != EventNew {
		t.Errorf("notification %+v", n)
	}
	if want := append([]byte(`{"id":"p-n001"}`), 0, 0xff, 0xfe, '\n'); !bytes.Equal(n.Body, want) {
		t.Errorf("body %q", n.Body)
	}
	var ids []string
	for _, e := range n.Events {
		ids = append(ids, e.ID+"="+string(e.Record))
	}
	if got := strings.Join(ids, " "); got != `p-e010={"id":10} p-e011={"id":11} p-e012={"id":12} p-e013={"id":13} p-e014={"id":14}` {
		t.Errorf("events %s", got)
	}
	if len(n.Attempts) != 0 {
		t.Errorf("attempts %v", n.Attempts)
	}

	record(t, s, engine.Attempt{NotificationID: "p-n001", At: t0, HTTPStatus: 502, Error: "bad gateway", Status: engine.StatusFailed, Next: t0.Add(time.Minute)})
	if n, _ := s.Notification(ctx, "p-n001"); n.Status != EventDispatched || len(n.Attempts) != 1 {
		t.Errorf("after a failed attempt: %s %v", n.Status, n.Attempts)
	}
	record(t, s, engine.Attempt{NotificationID: "p-n001", At: t0.Add(time.Minute), HTTPStatus: 200, Status: engine.StatusDelivered})
	if n, _ := s.Notification(ctx, "p-n001"); n.Status != "NOTIFIED" || len(n.Attempts) != 2 {
		t.Errorf("after delivery: %s %v", n.Status, n.Attempts)
	}
	if _, err := s.Notification(ctx, "p-e010"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an event id is not a notification id: %v", err)
	}
}
