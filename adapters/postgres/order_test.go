package postgres

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

// seqOf returns a notification's place in the outbox's order.
func seqOf(t testing.TB, s *Store, id string) int64 {
	t.Helper()
	var seq int64
	if err := s.pool.QueryRow(context.Background(), `SELECT seq FROM notifications WHERE id = $1`, id).Scan(&seq); err != nil {
		t.Fatalf("notification %s: %v", id, err)
	}
	return seq
}

// A redelivery moves the requeued notifications, and their instance's QUEUED ones behind them,
// after every other notification, keeping their order, so that a deliverer reading what is new
// (Pending after the last Seq it saw) finds them; a seq is never used twice, even once the rows
// holding the highest ones are pruned.
func TestRequeueTakesNewPlaces(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a, b := mkInstance(t, s, "a"), mkInstance(t, s, "b")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a", 30, t0, cursorAt(t0))) // a-n000..a-n002
	queueOf(t, s, "a-n000", t0)                                            // a-n001, a-n002 behind it
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b", 10, t0, cursorAt(t0)))
	seen := seqOf(t, s, "b-n000") // a deliverer has read up to here

	if n, err := s.Requeue(ctx, RequeueFilter{NotificationID: "a-n001"}); err != nil || n != 2 {
		t.Fatalf("requeue: %d, %v; want a-n000 and a-n001", n, err)
	}
	if got, want := pending(t, s, engine.PendingQuery{After: seen, Limit: 10}), []string{"a-n000", "a-n001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending after what was seen: %v, want %v", got, want)
	}
	s0, s1, s2 := seqOf(t, s, "a-n000"), seqOf(t, s, "a-n001"), seqOf(t, s, "a-n002")
	if !(seen < s0 && s0 < s1 && s1 < s2) {
		t.Errorf("seqs: b-n000 %d, a-n000 %d, a-n001 %d, a-n002 (still queued) %d; want increasing", seen, s0, s1, s2)
	}
	if got := noteOf(t, s, "a-n002").Status; got != "QUEUED" {
		t.Errorf("a-n002 is %s, want QUEUED", got)
	}
	// New commits of a queue behind a-n002; b's take places after everything.
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b2", 10, t0, cursorAt(t0)))
	if got := seqOf(t, s, "b2-n000"); got <= s2 {
		t.Errorf("b2-n000 at %d, not after the requeued notifications (%d)", got, s2)
	}

	// The highest seqs pruned: a new notification still takes a new one.
	if _, err := s.Requeue(ctx, RequeueFilter{All: true}); err != nil {
		t.Fatal(err)
	}
	top := seqOf(t, s, "a-n002")
	for _, id := range []string{"a-n000", "a-n001", "a-n002", "b-n000", "b2-n000"} {
		record(t, s, engine.Attempt{NotificationID: id, At: t0, HTTPStatus: 200, Status: engine.StatusDelivered})
	}
	if _, err := s.Prune(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b3", 10, t0, cursorAt(t0)))
	if got := seqOf(t, s, "b3-n000"); got <= top {
		t.Errorf("b3-n000 at %d after pruning, want above every seq used (%d)", got, top)
	}
}

// A notification queued behind another while it was being sent stays QUEUED when its attempt
// fails (whatever the attempt says), and is NOTIFIED when it was delivered.
func TestRecordAttemptQueuedMeanwhile(t *testing.T) {
	s, _ := newStore(t)
	a := mkInstance(t, s, "a")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a", 30, t0, cursorAt(t0)))
	queueOf(t, s, "a-n000", t0) // a-n001 and a-n002, in flight, queue behind it
	record(t, s, engine.Attempt{NotificationID: "a-n001", At: t0, HTTPStatus: 500, Status: engine.StatusPending, Next: t0.Add(time.Minute)})
	record(t, s, engine.Attempt{NotificationID: "a-n002", At: t0, HTTPStatus: 200, Status: engine.StatusDelivered})
	if got, want := noteOf(t, s, "a-n001"), (noteState{Status: "QUEUED", Attempts: 1}); got != want {
		t.Errorf("a-n001: %+v, want %+v", got, want)
	}
	if got := noteOf(t, s, "a-n002").Status; got != "NOTIFIED" {
		t.Errorf("a-n002: %s, want NOTIFIED", got)
	}
	if got := pending(t, s, engine.PendingQuery{Limit: 10}); len(got) != 0 {
		t.Errorf("pending: %v", got)
	}
}

// Stopped lists the instances whose QUEUED notification's last attempt was a 410, with the latest
// such notification; not those queued for other failures, nor once redelivered.
func TestStopped(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a, b, c := mkInstance(t, s, "a"), mkInstance(t, s, "b"), mkInstance(t, s, "c")
	for _, in := range []*engine.InstanceRecord{a, b, c} {
		mustCommit(t, s, mkCommit(in.ID, "tickets", in.Name, 30, t0, cursorAt(t0)))
	}
	gone := func(id string, at time.Time) {
		record(t, s, engine.Attempt{NotificationID: id, At: at, HTTPStatus: 410, Error: "callback answered 410 Gone", Status: engine.StatusQueued})
	}
	gone("a-n001", t0.Add(time.Minute))
	// a-n000, in flight meanwhile, answered 410 too: the latest is what counts.
	gone("a-n000", t0.Add(2*time.Minute))
	queueOf(t, s, "b-n000", t0) // a 503 after the last retry: queued, not stopped
	gone("c-n000", t0)
	if _, err := s.Requeue(ctx, RequeueFilter{InstanceID: c.ID}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Stopped(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.DeliveryStop{{InstanceID: a.ID, Seq: seqOf(t, s, "a-n000"), At: t0.Add(2 * time.Minute)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stopped: %+v, want %+v", got, want)
	}
}

// RequeueInstance is Requeue of one instance.
func TestRequeueInstance(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a := mkInstance(t, s, "a")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a", 30, t0, cursorAt(t0)))
	queueOf(t, s, "a-n000", t0)
	if n, err := s.RequeueInstance(ctx, a.ID); err != nil || n != 3 {
		t.Errorf("RequeueInstance: %d, %v; want 3", n, err)
	}
	if got := pending(t, s, engine.PendingQuery{Limit: 10}); len(got) != 3 {
		t.Errorf("pending: %v", got)
	}
}

// A commit's events are stored notification by notification (then those no notification
// carries), so that recording a notification's attempt updates its events where they lie together.
func TestCommitPollStoresEventsByNotification(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a := mkInstance(t, s, "a")
	c := mkCommit(a.ID, "tickets", "a", 5, t0, cursorAt(t0)) // a-e000..a-e004 in a-n000
	c.Notifications[0].EventIDs = []string{"a-e003", "a-e000"}
	c.Notifications = append(c.Notifications, engine.Notification{ID: "a-n001", InstanceID: a.ID, ObjectType: "tickets",
		EventIDs: []string{"a-e004", "a-e001"}, CreatedAt: t0, Body: []byte(`{}`)})
	mustCommit(t, s, c)
	evs, _, err := s.Events(ctx, EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(evs) - 1; i >= 0; i-- { // Events lists newest first
		got = append(got, evs[i].ID)
	}
	if want := []string{"a-e003", "a-e000", "a-e004", "a-e001", "a-e002"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events stored in the order %v, want %v", got, want)
	}
}
