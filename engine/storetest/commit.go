package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

func init() {
	register("Cursor", testCursor)
	register("CommitPollAtomic", testCommitPollAtomic)
	register("CommitPollIdempotent", testCommitPollIdempotent)
	register("CommitPollUnknownInstance", testCommitPollUnknownInstance)
	register("ConcurrentCommitPoll", testConcurrentCommitPoll)
}

// A job's cursor is absent until its first commit, then the last one committed, JSON-exact;
// each job has its own.
func testCursor(t *testing.T, e *env) {
	id := e.instance(t, "acme")
	key := engine.JobKey{InstanceID: id, ObjectType: "tickets"}
	if _, ok, err := e.Store.Cursor(ctx, key); ok || err != nil {
		t.Fatalf("cursor before any commit: %v %v", ok, err)
	}
	cur := engine.Cursor{Streams: map[string]*engine.Mark{
		engine.StreamChanges: {Since: t0, Seen: []engine.SeenRecord{{ID: "1", Updated: t0.UnixNano()}, {ID: "2", Updated: t0.UnixNano() - 1}}},
		engine.StreamDeleted: {Since: t0.Add(-time.Hour)},
	}}
	e.commit(t, engine.Commit{Key: key, Cursor: cur})
	got, ok, err := e.Store.Cursor(ctx, key)
	if err != nil || !ok || !reflect.DeepEqual(got, cur) {
		t.Errorf("cursor %+v %v %v, want %+v", got, ok, err, cur)
	}
	// Overwritten by the next commit, events or not.
	next := CursorAt(t0.Add(time.Minute), "3")
	e.commit(t, MakeCommit(id, "tickets", "p", 3, t0, next))
	if got, ok, err := e.Store.Cursor(ctx, key); err != nil || !ok || !reflect.DeepEqual(got, next) {
		t.Errorf("cursor after the next commit %+v %v %v, want %+v", got, ok, err, next)
	}
	if _, ok, _ := e.Store.Cursor(ctx, engine.JobKey{InstanceID: id, ObjectType: "contacts"}); ok {
		t.Error("another job of the instance has a cursor")
	}
	other := e.instance(t, "other")
	if _, ok, _ := e.Store.Cursor(ctx, engine.JobKey{InstanceID: other, ObjectType: "tickets"}); ok {
		t.Error("another instance's job has a cursor")
	}
}

// A commit that fails writes nothing: no event, no notification, the cursor where it was.
func testCommitPollAtomic(t *testing.T, e *env) {
	id := e.instance(t, "acme")
	first := MakeCommit(id, "tickets", "p1", 5, t0, CursorAt(t0, "x"))
	e.commit(t, first)
	before := e.allPending(t)

	check := func(name string, c engine.Commit) {
		t.Helper()
		if err := e.Store.CommitPoll(ctx, c); err == nil {
			t.Fatalf("%s: CommitPoll succeeded", name)
		}
		if got := e.allPending(t); !reflect.DeepEqual(got, before) {
			t.Errorf("%s: partial write: pending %v, want %v", name, got, before)
		}
		cur, _, _ := e.Store.Cursor(ctx, first.Key)
		if !reflect.DeepEqual(cur, first.Cursor) {
			t.Errorf("%s: cursor moved to %+v", name, cur)
		}
		for _, n := range c.Notifications {
			if n.ID == "" {
				continue
			}
			if _, err := e.Outbox.NotificationBody(ctx, n.ID); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("%s: notification %s written (%v)", name, n.ID, err)
			}
		}
		if e.Events != nil {
			for _, ev := range c.Events {
				if _, _, err := e.Events.Event(ctx, ev.ID); !errors.Is(err, engine.ErrNotFound) {
					t.Errorf("%s: event %s written (%v)", name, ev.ID, err)
				}
			}
			evs, _, err := e.Events.Events(ctx, engine.EventFilter{})
			if err != nil || len(evs) != 5 {
				t.Errorf("%s: %d events in the history (%v), want 5", name, len(evs), err)
			}
		}
	}

	// The second notification is refused (an empty id) after the events and the first
	// notification were written.
	bad := MakeCommit(id, "tickets", "p2", 20, t0.Add(time.Minute), CursorAt(t0.Add(time.Minute), "y"))
	bad.Notifications[1].ID = ""
	check("empty notification id", bad)

	// An event without an id, after others.
	bad = MakeCommit(id, "tickets", "p3", 20, t0.Add(time.Minute), CursorAt(t0.Add(time.Minute), "y"))
	bad.Events[15].ID = ""
	bad.Notifications[1].EventIDs[5] = ""
	check("empty event id", bad)

	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	c := MakeCommit(id, "tickets", "p5", 3, t0, CursorAt(t0.Add(time.Hour)))
	if err := e.Store.CommitPoll(cctx, c); err == nil {
		t.Error("CommitPoll with a cancelled context succeeded")
	}
	if got := e.allPending(t); !reflect.DeepEqual(got, before) {
		t.Errorf("cancelled: pending %v, want %v", got, before)
	}
	if cur, _, _ := e.Store.Cursor(ctx, first.Key); !reflect.DeepEqual(cur, first.Cursor) {
		t.Errorf("cancelled: cursor moved to %+v", cur)
	}
}

// Committing the same poll again (a crash after the commit, a re-poll of the window) changes
// nothing but the cursor: events and notifications whose id is stored are left as they are,
// delivered ones stay delivered.
func testCommitPollIdempotent(t *testing.T, e *env) {
	id := e.instance(t, "acme")
	c := MakeCommit(id, "tickets", "p1", 15, t0, CursorAt(t0, "a"))
	e.commit(t, c)
	e.deliver(t, "p1-n000", t0)
	before := e.deliveries(t, engine.PendingQuery{Limit: 100})

	c.Cursor = CursorAt(t0.Add(time.Second), "b")
	e.commit(t, c)
	if got := e.deliveries(t, engine.PendingQuery{Limit: 100}); !reflect.DeepEqual(got, before) {
		t.Errorf("re-commit changed the outbox: %+v, want %+v", got, before)
	}
	if cur, _, _ := e.Store.Cursor(ctx, c.Key); !reflect.DeepEqual(cur, c.Cursor) {
		t.Errorf("cursor %+v, want %+v", cur, c.Cursor)
	}
	e.wantStatus(t, map[string]string{"p1-n000": "NOTIFIED", "p1-n001": engine.EventNew})
	if e.Events != nil {
		if ev, _, _ := e.Events.Event(ctx, "p1-e003"); ev.NotificationID != "p1-n000" {
			t.Errorf("event %+v", ev)
		}
	}
	// An overlapping poll: some known events and notifications, some new.
	e.commit(t, MakeCommit(id, "tickets", "p1", 25, t0, CursorAt(t0.Add(2*time.Second))))
	if got, want := e.allPending(t), []string{"p1-n001", "p1-n002"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after an overlapping poll: pending %v, want %v", got, want)
	}
	if e.Events != nil {
		evs, _, err := e.Events.Events(ctx, engine.EventFilter{})
		if err != nil || len(evs) != 25 {
			t.Errorf("after an overlapping poll: %d events (%v), want 25", len(evs), err)
		}
	}
}

// A poll of an instance that is gone (deleted while it ran) commits nothing: ErrNotFound.
func testCommitPollUnknownInstance(t *testing.T, e *env) {
	e.needs(t, "instances", e.Instances != nil)
	id := e.instance(t, "acme")
	c := MakeCommit(id+100, "tickets", "p", 3, t0, CursorAt(t0))
	if err := e.Store.CommitPoll(ctx, c); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("commit of an unknown instance: %v, want ErrNotFound", err)
	}
	if got := e.allPending(t); len(got) != 0 {
		t.Errorf("pending %v", got)
	}
	if _, ok, _ := e.Store.Cursor(ctx, c.Key); ok {
		t.Error("cursor written")
	}
}

// Commits run concurrently, overlapping ones too, beside reads; each is whole.
func testConcurrentCommitPoll(t *testing.T, e *env) {
	const workers, commits = 8, 15
	ids := make([]int64, 4)
	for i := range ids {
		ids[i] = e.instance(t, fmt.Sprint("i", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*commits*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ids[w%len(ids)]
			for i := range commits {
				// Workers w and w+4 share an instance and commit the same polls: they overlap.
				c := MakeCommit(id, "tickets", fmt.Sprintf("i%d-c%d", id, i), 12, t0.Add(time.Duration(i)*time.Second), CursorAt(t0))
				if err := e.Store.CommitPoll(ctx, c); err != nil {
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
				if _, err := e.Outbox.Pending(ctx, engine.PendingQuery{Limit: 10}); err != nil {
					errs <- err
				}
				if _, _, err := e.Store.Cursor(ctx, engine.JobKey{InstanceID: ids[0], ObjectType: "tickets"}); err != nil {
					errs <- err
				}
				if e.Events != nil {
					if _, _, err := e.Events.Events(ctx, engine.EventFilter{Limit: 20}); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ds := e.deliveries(t, engine.PendingQuery{Limit: 1 << 20})
	if len(ds) != len(ids)*commits*2 {
		t.Errorf("%d pending, want %d", len(ds), len(ids)*commits*2)
	}
	for i := 1; i < len(ds); i++ {
		if ds[i].Seq <= ds[i-1].Seq {
			t.Fatalf("seqs not increasing: %d then %d", ds[i-1].Seq, ds[i].Seq)
		}
	}
	if e.Events != nil {
		evs, _, err := e.Events.Events(ctx, engine.EventFilter{})
		if err != nil || len(evs) != len(ids)*commits*12 {
			t.Errorf("%d events (%v), want %d", len(evs), err, len(ids)*commits*12)
		}
	}
}
