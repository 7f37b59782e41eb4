package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	neturl "net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/storetest"
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
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	want := u.Query().Get("search_path")
	var there bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'notifications')`,
		want).Scan(&there); err != nil || !there || s.Schema() != want {
		t.Errorf("the store's schema is %q, the tables in the URL's schema %q: %v (%v)", s.Schema(), want, there, err)
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
