package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres"
	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/seal"
)

var ctx = context.Background()

// t0 is whole microseconds: PostgreSQL and SQLite keep nanoseconds alike, but the comparison
// need not depend on it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fill makes an installation through the SQLite store's own methods: organizations and users,
// instances (one deleted), cursors, and an outbox with notifications delivered, pending, retried,
// queued and failed.
func fill(t *testing.T, s *sqlite.Store) []int64 {
	t.Helper()
	org := &engine.Organization{Name: "acme", SecretDigest: []byte("org-digest"), CreatedAt: t0}
	must(t, s.CreateOrganization(ctx, org))
	for i, u := range []*engine.User{
		{OrganizationID: org.ID, Email: "ann@acme.example", FirstName: "Ann", Role: engine.RoleOrgAdmin, Active: true, SecretDigest: []byte("ann-digest"), CreatedAt: t0, UpdatedAt: t0},
		{OrganizationID: org.ID, Email: "bo@acme.example", Role: engine.RoleUser, Active: false, CreatedAt: t0, UpdatedAt: t0},
	} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
	}
	var ids []int64
	for i := range 3 {
		in := &engine.InstanceRecord{Name: fmt.Sprintf("desk-%d", i), ElementKey: "freshdeskv2", Token: fmt.Sprintf("tok-%d", i),
			Tags: []string{"t"}, Disabled: i == 1, UserID: 1, OrganizationID: 1, CreatedAt: t0, UpdatedAt: t0,
			Configuration: map[string]any{"username": fmt.Sprintf("secret-key-%d", i), "subdomain": "acme"}}
		must(t, s.CreateInstance(ctx, in))
		ids = append(ids, in.ID)
	}
	for i, id := range ids {
		for _, ot := range []string{"incidents", "contacts"} {
			c := engine.Commit{Key: engine.JobKey{InstanceID: id, ObjectType: ot},
				Cursor: engine.Cursor{Streams: map[string]*engine.Mark{"changes": {Since: t0.Add(time.Duration(i) * time.Minute), Seen: []engine.SeenRecord{{ID: "7", Updated: t0.UnixNano()}}}}}}
			for n := range 4 {
				prefix := fmt.Sprintf("%d-%s-%d", id, ot, n)
				c.Events = append(c.Events, engine.Event{ID: prefix + "-e", InstanceID: id, ObjectType: ot, ObjectID: fmt.Sprint(n),
					Type: engine.Updated, Date: t0.Add(time.Duration(n) * time.Second), PollDate: t0, Record: json.RawMessage(fmt.Sprintf(`{"id":%d}`, n))})
				c.Notifications = append(c.Notifications, engine.Notification{ID: prefix + "-n", InstanceID: id, ObjectType: ot,
					EventIDs: []string{prefix + "-e"}, CreatedAt: t0, Lanes: engine.LaneSet(1 << n), Body: []byte(`{"n":"` + prefix + `"}` + "\x00\xff")})
			}
			must(t, s.CommitPoll(ctx, c))
		}
	}
	// Outcomes: delivered, retried (pending with a next attempt), queued, failed; the rest pending.
	first := fmt.Sprintf("%d-incidents-", ids[0])
	must(t, s.RecordAttempt(ctx, engine.Attempt{NotificationID: first + "0-n", At: t0, HTTPStatus: 200, Status: engine.StatusDelivered}))
	must(t, s.RecordAttempt(ctx, engine.Attempt{NotificationID: first + "1-n", At: t0, HTTPStatus: 502, Error: "bad gateway", Status: engine.StatusFailed, Next: t0.Add(time.Minute)}))
	must(t, s.RecordAttempt(ctx, engine.Attempt{NotificationID: first + "2-n", At: t0, HTTPStatus: 503, Error: "down", Status: engine.StatusQueued}))
	must(t, s.RecordAttempt(ctx, engine.Attempt{NotificationID: fmt.Sprintf("%d-contacts-0-n", ids[1]), At: t0, HTTPStatus: 400, Error: "rejected", Status: engine.StatusFailed}))
	must(t, s.DeleteInstance(ctx, ids[2])) // its history stays, its notifications cancelled
	return ids
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newSealer(t *testing.T) *seal.Keyring {
	t.Helper()
	k, err := seal.NewKeyring(sqlite.SealPurpose, seal.GenerateKey())
	must(t, err)
	return k
}

// TestMigrate: an installation made through the SQLite store reads the same, through the
// PostgreSQL store, after the copy: every call the engine and the API make, compared.
func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	key := newSealer(t)
	src, err := sqlite.Open(filepath.Join(dir, DBFile), sqlite.Options{Sealer: key})
	must(t, err)
	ids := fill(t, src)

	url := pgtest.URL(t)
	counts, err := Run(ctx, Options{From: dir, To: url})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"organizations": 2, "users": 3, "instances": 2, "instance_owners": 3, "cursors": 4,
		"notifications": 24, "events": 24, "attempts": 4}
	for _, c := range counts {
		if c.Rows != want[c.Table] {
			t.Errorf("%s: %d rows copied, want %d", c.Table, c.Rows, want[c.Table])
		}
	}

	dst, err := postgres.Open(ctx, url, postgres.Options{Sealer: key})
	must(t, err)
	defer dst.Close()
	defer src.Close()

	same := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differ:\nsqlite   %+v\npostgres %+v", what, a, b)
		}
	}
	call := func(what string, fa, fb func() (any, error)) {
		t.Helper()
		a, errA := fa()
		b, errB := fb()
		if errA != nil || errB != nil {
			t.Fatalf("%s: sqlite %v, postgres %v", what, errA, errB)
		}
		same(what, a, b)
	}
	call("instances", func() (any, error) { return src.Instances(ctx, engine.Scope{}) }, func() (any, error) { return dst.Instances(ctx, engine.Scope{}) })
	call("organizations", func() (any, error) { return src.Organizations(ctx) }, func() (any, error) { return dst.Organizations(ctx) })
	for _, org := range []int64{1, 2} {
		call(fmt.Sprint("users of ", org), func() (any, error) { return src.Users(ctx, org) }, func() (any, error) { return dst.Users(ctx, org) })
	}
	for _, id := range ids {
		for _, ot := range []string{"incidents", "contacts"} {
			k := engine.JobKey{InstanceID: id, ObjectType: ot}
			call(fmt.Sprint("cursor ", k), func() (any, error) { c, ok, err := src.Cursor(ctx, k); return []any{c, ok}, err },
				func() (any, error) { c, ok, err := dst.Cursor(ctx, k); return []any{c, ok}, err })
		}
		call(fmt.Sprint("owner of ", id), func() (any, error) { u, o, err := src.InstanceOwner(ctx, id); return []int64{u, o}, err },
			func() (any, error) { u, o, err := dst.InstanceOwner(ctx, id); return []int64{u, o}, err })
		call(fmt.Sprint("queued of ", id), func() (any, error) { return src.Queued(ctx, id, 0) }, func() (any, error) { return dst.Queued(ctx, id, 0) })
	}
	q := engine.PendingQuery{Limit: 100}
	call("pending", func() (any, error) { return src.Pending(ctx, q) }, func() (any, error) { return dst.Pending(ctx, q) })
	call("history", func() (any, error) { e, tok, err := src.Events(ctx, engine.EventFilter{}); return []any{e, tok}, err },
		func() (any, error) { e, tok, err := dst.Events(ctx, engine.EventFilter{}); return []any{e, tok}, err })
	ev := fmt.Sprintf("%d-incidents-1-e", ids[0])
	call("an event with its attempts", func() (any, error) { e, at, err := src.Event(ctx, ev); return []any{e, at}, err },
		func() (any, error) { e, at, err := dst.Event(ctx, ev); return []any{e, at}, err })
	call("stats", func() (any, error) { st, err := src.Stats(ctx); return fmt.Sprintf("%+v", st), err },
		func() (any, error) { st, err := dst.Stats(ctx); return fmt.Sprintf("%+v", st), err })
	for _, digest := range []string{"ann-digest", "org-digest"} {
		u, err := dst.UserBySecret(ctx, []byte(digest))
		if digest == "ann-digest" && (err != nil || u.Email != "ann@acme.example") {
			t.Errorf("user by secret after the copy: %+v %v", u, err)
		}
	}

	// What the nodes add next comes after what was copied: a new instance, a new poll's
	// notification at the end of the outbox.
	in := &engine.InstanceRecord{Name: "new", ElementKey: "freshdeskv2", UserID: 1, OrganizationID: 1, Configuration: map[string]any{}}
	must(t, dst.CreateInstance(ctx, in))
	if in.ID <= ids[2] {
		t.Errorf("a new instance got id %d, not after the copied %v", in.ID, ids)
	}
	c := engine.Commit{Key: engine.JobKey{InstanceID: in.ID, ObjectType: "incidents"},
		Events:        []engine.Event{{ID: "new-e", InstanceID: in.ID, ObjectType: "incidents", ObjectID: "1", Type: engine.Created, Date: t0, PollDate: t0}},
		Notifications: []engine.Notification{{ID: "new-n", InstanceID: in.ID, ObjectType: "incidents", EventIDs: []string{"new-e"}, CreatedAt: t0, Body: []byte("{}")}}}
	must(t, dst.CommitPoll(ctx, c))
	ds, err := dst.Pending(ctx, q)
	must(t, err)
	if len(ds) == 0 || ds[len(ds)-1].ID != "new-n" {
		t.Errorf("the new notification is not last in the outbox: %+v", ds)
	}
}

// TestMigrateRefusesNonEmpty: a target holding data is refused, unless Replace; a source that
// is no database is named.
func TestMigrateRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	src, err := sqlite.Open(filepath.Join(dir, DBFile), sqlite.Options{})
	must(t, err)
	fill(t, src)
	src.Close()
	url := pgtest.URL(t)
	if _, err := Run(ctx, Options{From: dir, To: url}); err != nil {
		t.Fatal(err)
	}
	_, err = Run(ctx, Options{From: dir, To: url})
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "2 instances") {
		t.Errorf("a second copy: %v, want ErrNotEmpty naming what the target holds", err)
	}
	counts, err := Run(ctx, Options{From: filepath.Join(dir, DBFile), To: url, Replace: true})
	if err != nil || len(counts) == 0 {
		t.Errorf("a copy with Replace: %v %v", counts, err)
	}
	if _, err := Run(ctx, Options{From: t.TempDir(), To: url}); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("a source without a database: %v", err)
	}
}
