package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/seal"
)

// t0 is the suite's time: whole microseconds, UTC.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)

// SealPurpose is what the suite's sealer seals for: adapters/sqlite's purpose, so that a store
// can share it.
const SealPurpose = "pollen instance configuration"

func newSealer(t testing.TB) engine.Sealer {
	t.Helper()
	k, err := seal.NewKeyring(SealPurpose, seal.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var ctx = context.Background()

// instance creates an instance named name (its token "tok-"+name, a secret in its
// configuration) and returns its id; without Instances, a new made-up id.
func (e *env) instance(t testing.TB, name string) int64 {
	t.Helper()
	if e.Instances == nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.lastID++
		return e.lastID
	}
	in := &engine.InstanceRecord{Name: name, ElementKey: "examplev1", Token: "tok-" + name,
		UserID: 1, OrganizationID: 1, Configuration: map[string]any{"username": "secret-" + name}}
	if err := e.Instances.CreateInstance(ctx, in); err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	return in.ID
}

// MakeCommit builds a commit of n events of instance id, packed in notifications of up to 10, all
// created at `at`, each in one order lane. prefix makes the ids unique: events prefix-e000...,
// notifications prefix-n000...
func MakeCommit(id int64, objectType, prefix string, n int, at time.Time, cur engine.Cursor) engine.Commit {
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

// CursorAt is a cursor of the changes stream at since, with the records seen at that instant.
func CursorAt(since time.Time, seen ...string) engine.Cursor {
	m := &engine.Mark{Since: since}
	for _, id := range seen {
		m.Seen = append(m.Seen, engine.SeenRecord{ID: id, Updated: since.UnixNano()})
	}
	return engine.Cursor{Streams: map[string]*engine.Mark{engine.StreamChanges: m}}
}

func (e *env) commit(t testing.TB, c engine.Commit) {
	t.Helper()
	if err := e.Store.CommitPoll(ctx, c); err != nil {
		t.Fatalf("CommitPoll: %v", err)
	}
}

// commitNew commits n events of a new poll of instance id: MakeCommit at t0.
func (e *env) commitNew(t *testing.T, id int64, objectType, prefix string, n int) engine.Commit {
	t.Helper()
	c := MakeCommit(id, objectType, prefix, n, t0, CursorAt(t0))
	e.commit(t, c)
	return c
}

func (e *env) record(t *testing.T, a engine.Attempt) {
	t.Helper()
	if err := e.Outbox.RecordAttempt(ctx, a); err != nil {
		t.Fatalf("RecordAttempt(%+v): %v", a, err)
	}
}

// deliver records a successful attempt.
func (e *env) deliver(t *testing.T, id string, at time.Time) {
	t.Helper()
	e.record(t, engine.Attempt{NotificationID: id, At: at, HTTPStatus: 200, Status: engine.StatusDelivered})
}

// retry records a failed attempt to be retried at next.
func (e *env) retry(t *testing.T, id string, at, next time.Time) {
	t.Helper()
	e.record(t, engine.Attempt{NotificationID: id, At: at, HTTPStatus: 502, Error: "bad gateway: " + id,
		Status: engine.StatusFailed, Next: next})
}

// queue fails a notification's last retry: it becomes QUEUED.
func (e *env) queue(t *testing.T, id string, at time.Time) {
	t.Helper()
	e.record(t, engine.Attempt{NotificationID: id, At: at, HTTPStatus: 503, Error: "down: " + id, Status: engine.StatusQueued})
}

// giveUp settles a notification as FAILED.
func (e *env) giveUp(t *testing.T, id string, at time.Time) {
	t.Helper()
	e.record(t, engine.Attempt{NotificationID: id, At: at, HTTPStatus: 400, Error: "rejected", Status: engine.StatusFailed})
}

func (e *env) deliveries(t *testing.T, q engine.PendingQuery) []engine.Delivery {
	t.Helper()
	ds, err := e.Outbox.Pending(ctx, q)
	if err != nil {
		t.Fatalf("Pending(%+v): %v", q, err)
	}
	return ds
}

// pending returns the ids of the PENDING notifications q selects, in order.
func (e *env) pending(t *testing.T, q engine.PendingQuery) []string {
	t.Helper()
	ids := []string{}
	for _, d := range e.deliveries(t, q) {
		ids = append(ids, d.ID)
	}
	return ids
}

// allPending is every PENDING notification's id, in order.
func (e *env) allPending(t *testing.T) []string {
	t.Helper()
	return e.pending(t, engine.PendingQuery{Limit: 1 << 20})
}

// delivery returns the PENDING notification id; ok false when it is not PENDING.
func (e *env) delivery(t *testing.T, id string) (engine.Delivery, bool) {
	t.Helper()
	for _, d := range e.deliveries(t, engine.PendingQuery{Limit: 1 << 20}) {
		if d.ID == id {
			return d, true
		}
	}
	return engine.Delivery{}, false
}

// seq returns a PENDING notification's Seq.
func (e *env) seq(t *testing.T, id string) int64 {
	t.Helper()
	d, ok := e.delivery(t, id)
	if !ok {
		t.Fatalf("%s is not pending", id)
	}
	return d.Seq
}

// noteStatus is a notification's status in the history (NEW, DISPATCHED, NOTIFIED, FAILED, QUEUED,
// CANCELLED); "" without Events.
func (e *env) noteStatus(t *testing.T, id string) string {
	t.Helper()
	if e.Events == nil {
		return ""
	}
	n, err := e.Events.Notification(ctx, id)
	if err != nil {
		t.Fatalf("Notification(%s): %v", id, err)
	}
	return n.Status
}

// eventStatus is an event's status; "" without Events.
func (e *env) eventStatus(t *testing.T, id string) string {
	t.Helper()
	if e.Events == nil {
		return ""
	}
	ev, _, err := e.Events.Event(ctx, id)
	if err != nil {
		t.Fatalf("Event(%s): %v", id, err)
	}
	return ev.Status
}

// wantStatus checks notifications' and their events' statuses in the history, when there is one:
// want maps a notification id to its status, and checks the first and last events it carries too
// (the events of notification p-nXXX are p-e(XXX*10)...).
func (e *env) wantStatus(t *testing.T, want map[string]string) {
	t.Helper()
	if e.Events == nil {
		return
	}
	for id, st := range want {
		if got := e.noteStatus(t, id); got != st {
			t.Errorf("notification %s: %s, want %s", id, got, st)
		}
		n, err := e.Events.Notification(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range n.Events {
			if ev.Status != st {
				t.Errorf("event %s of %s: %s, want %s", ev.ID, id, ev.Status, st)
			}
		}
	}
}

func (e *env) needs(t *testing.T, what string, have bool) {
	t.Helper()
	if !have {
		t.Skipf("the store has no %s", what)
	}
}
