package postgres

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/engine"
)

// noteState is a notification's status, attempt count and due time (zero when not due).
type noteState struct {
	Status   string
	Attempts int
	Next     time.Time
}

func noteOf(t testing.TB, s *Store, id string) noteState {
	t.Helper()
	var st noteState
	var next *int64
	if err := s.pool.QueryRow(context.Background(), `SELECT status, attempts, next_attempt FROM notifications WHERE id = $1`, id).
		Scan(&st.Status, &st.Attempts, &next); err != nil {
		t.Fatalf("notification %s: %v", id, err)
	}
	st.Next = fromNanos(next)
	return st
}

func eventStatus(t testing.TB, s *Store, id string) string {
	t.Helper()
	ev, _, err := s.Event(context.Background(), id)
	if err != nil {
		t.Fatalf("event %s: %v", id, err)
	}
	return ev.Status
}

// queueOf fails the notification after its last retry: it becomes QUEUED.
func queueOf(t testing.TB, s *Store, id string, at time.Time) {
	t.Helper()
	record(t, s, engine.Attempt{NotificationID: id, At: at, HTTPStatus: 503, Error: "down: " + id, Status: engine.StatusQueued})
}

func queuedIDs(t testing.TB, s *Store, instanceID int64, limit int) []string {
	t.Helper()
	qs, err := s.Queued(context.Background(), instanceID, limit)
	if err != nil {
		t.Fatalf("Queued: %v", err)
	}
	ids := []string{}
	for _, q := range qs {
		ids = append(ids, q.ID)
	}
	return ids
}

func TestQueueBehind(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a, b := mkInstance(t, s, "a"), mkInstance(t, s, "b")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a1", 30, t0, cursorAt(t0))) // a1-n000..n002
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b1", 10, t0, cursorAt(t0)))

	// a1-n000 is retried, then fails its last retry: queued, and a's later ones queue behind it.
	record(t, s, engine.Attempt{NotificationID: "a1-n000", At: t0, HTTPStatus: 500, Error: "e1", Status: engine.StatusFailed, Next: t0.Add(time.Minute)})
	queueOf(t, s, "a1-n000", t0.Add(time.Minute))
	for id, want := range map[string]noteState{
		"a1-n000": {Status: "QUEUED", Attempts: 2},
		"a1-n001": {Status: "QUEUED"},
		"a1-n002": {Status: "QUEUED"},
		"b1-n000": {Status: "PENDING", Next: t0},
	} {
		if got := noteOf(t, s, id); got != want {
			t.Errorf("%s: %+v, want %+v", id, got, want)
		}
	}
	for _, id := range []string{"a1-e000", "a1-e015", "a1-e029"} {
		if st := eventStatus(t, s, id); st != "QUEUED" {
			t.Errorf("event %s: %s, want QUEUED", id, st)
		}
	}
	if got, want := due(t, s, t0.Add(48*time.Hour), 10), []string{"b1-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("due: %v, want %v", got, want)
	}

	// A later poll of a queues behind too; b's do not.
	mustCommit(t, s, mkCommit(a.ID, "contacts", "a2", 5, t0.Add(time.Hour), cursorAt(t0)))
	mustCommit(t, s, mkCommit(b.ID, "contacts", "b2", 5, t0.Add(time.Hour), cursorAt(t0)))
	if got := noteOf(t, s, "a2-n000"); got != (noteState{Status: "QUEUED"}) {
		t.Errorf("a's new notification: %+v", got)
	}
	if st := eventStatus(t, s, "a2-e004"); st != "QUEUED" {
		t.Errorf("a's new event: %s", st)
	}
	if got := noteOf(t, s, "b2-n000"); got.Status != "PENDING" || eventStatus(t, s, "b2-e000") != "NEW" {
		t.Errorf("b's new notification: %+v", got)
	}

	// The queue, oldest first, per instance or all.
	if got, want := queuedIDs(t, s, a.ID, 0), []string{"a1-n000", "a1-n001", "a1-n002", "a2-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("queued of a: %v, want %v", got, want)
	}
	if got, want := queuedIDs(t, s, 0, 2), []string{"a1-n000", "a1-n001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("queued, limit 2: %v, want %v", got, want)
	}
	if got := queuedIDs(t, s, b.ID, 0); len(got) != 0 {
		t.Errorf("queued of b: %v", got)
	}
	qs, err := s.Queued(ctx, a.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := QueuedNotification{ID: "a1-n000", InstanceID: a.ID, ObjectType: "tickets", CreatedAt: t0, Attempts: 2,
		LastError: "down: a1-n000", EventIDs: []string{"a1-e000", "a1-e001", "a1-e002", "a1-e003", "a1-e004",
			"a1-e005", "a1-e006", "a1-e007", "a1-e008", "a1-e009"}}
	if !reflect.DeepEqual(qs, []QueuedNotification{want}) {
		t.Errorf("queued\n got %+v\nwant %+v", qs, want)
	}
	if st := mustStats(t, s); st.Notifications["QUEUED"] != 4 || st.Notifications["PENDING"] != 2 {
		t.Errorf("stats %+v", st)
	}
}

// Should a pending notification be left behind a queued one (a database from before queueing
// behind), it is still not handed out: nothing overtakes a queued notification. One older than
// every queued one is.
func TestDueNeverOvertakesQueued(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a := mkInstance(t, s, "a")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a", 30, t0, cursorAt(t0)))
	if _, err := s.pool.Exec(ctx, `UPDATE notifications SET status = 'QUEUED', next_attempt = NULL WHERE id = 'a-n001'`); err != nil {
		t.Fatal(err)
	}
	if got, want := due(t, s, t0, 10), []string{"a-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("due: %v, want %v", got, want)
	}
	record(t, s, engine.Attempt{NotificationID: "a-n000", At: t0, HTTPStatus: 200, Status: engine.StatusDelivered})
	if got := due(t, s, t0.Add(time.Hour), 10); len(got) != 0 {
		t.Errorf("a-n002 overtook the queued a-n001: due %v", got)
	}
}

func TestRequeue(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	t1 := t0.Add(72 * time.Hour)
	s.now = func() time.Time { return t1 }
	a, b, c := mkInstance(t, s, "a"), mkInstance(t, s, "b"), mkInstance(t, s, "c")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a", 30, t0, cursorAt(t0)))
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b", 20, t0, cursorAt(t0)))
	mustCommit(t, s, mkCommit(c.ID, "tickets", "c", 20, t0, cursorAt(t0)))
	for _, id := range []string{"a-n000", "b-n000", "c-n000"} {
		record(t, s, engine.Attempt{NotificationID: id, At: t0, HTTPStatus: 502, Error: "retry", Status: engine.StatusFailed, Next: t0.Add(time.Second)})
		queueOf(t, s, id, t0.Add(time.Second))
	}
	requeue := func(f RequeueFilter) int {
		t.Helper()
		n, err := s.Requeue(ctx, f)
		if err != nil {
			t.Fatalf("Requeue(%+v): %v", f, err)
		}
		return n
	}

	// One notification, by id: the older queued ones of its instance come along, in order.
	if n := requeue(RequeueFilter{NotificationID: "a-n001"}); n != 2 {
		t.Errorf("requeue a-n001: %d, want 2", n)
	}
	for id, want := range map[string]noteState{
		"a-n000": {Status: "PENDING", Next: t1},
		"a-n001": {Status: "PENDING", Next: t1},
		"a-n002": {Status: "QUEUED"},
	} {
		if got := noteOf(t, s, id); got != want {
			t.Errorf("%s: %+v, want %+v", id, got, want)
		}
	}
	// The attempted one's events were dispatched; the one that queued behind was never sent.
	if st, st2 := eventStatus(t, s, "a-e000"), eventStatus(t, s, "a-e010"); st != "DISPATCHED" || st2 != "NEW" {
		t.Errorf("events after requeue: %s %s", st, st2)
	}
	// Due now, with the whole retry schedule ahead; the past attempts stay in the history.
	ds, err := s.Pending(ctx, engine.PendingQuery{Limit: 10})
	if err != nil || len(ds) != 2 || ds[0].ID != "a-n000" || ds[0].Attempts != 0 || !ds[0].Due.Equal(t1) {
		t.Errorf("pending after requeue: %+v %v", ds, err)
	}
	if _, atts, _ := s.Event(ctx, "a-e003"); len(atts) != 2 || atts[1].Status != engine.StatusQueued {
		t.Errorf("attempts after requeue: %+v", atts)
	}
	// A notification that is not queued: nothing to do.
	if n := requeue(RequeueFilter{NotificationID: "a-n000"}); n != 0 {
		t.Errorf("requeue of a pending notification: %d", n)
	}

	// By event id: the notification carrying it (b-n001), and b-n000 before it.
	if n := requeue(RequeueFilter{EventID: "b-e012"}); n != 2 {
		t.Errorf("requeue by event: %d, want 2", n)
	}
	if got := queuedIDs(t, s, b.ID, 0); len(got) != 0 {
		t.Errorf("b still queued: %v", got)
	}

	// By instance.
	if n := requeue(RequeueFilter{InstanceID: c.ID}); n != 2 {
		t.Errorf("requeue c: %d, want 2", n)
	}
	if n := requeue(RequeueFilter{InstanceID: c.ID}); n != 0 {
		t.Errorf("requeue c again: %d", n)
	}
	if got, want := due(t, s, t1, 10), []string{"a-n000", "b-n000", "c-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("due: %v, want %v", got, want)
	}

	// All: what is left (a-n002).
	if n := requeue(RequeueFilter{All: true}); n != 1 {
		t.Errorf("requeue all: %d, want 1", n)
	}
	if got := queuedIDs(t, s, 0, 0); len(got) != 0 {
		t.Errorf("still queued: %v", got)
	}
	// Nothing queued any more: new polls are pending again.
	mustCommit(t, s, mkCommit(a.ID, "contacts", "a2", 3, t0, cursorAt(t0)))
	if got := noteOf(t, s, "a2-n000"); got.Status != "PENDING" || eventStatus(t, s, "a2-e000") != "NEW" {
		t.Errorf("new poll after redelivery: %+v", got)
	}
	// The requeued one fails its first try: retried, on the schedule from its start.
	record(t, s, engine.Attempt{NotificationID: "a-n000", At: t1, HTTPStatus: 500, Status: engine.StatusFailed, Next: t1.Add(8 * time.Second)})
	if got := noteOf(t, s, "a-n000"); got != (noteState{Status: "PENDING", Attempts: 1, Next: t1.Add(8 * time.Second)}) {
		t.Errorf("after a failed redelivery: %+v", got)
	}

	// Errors.
	for _, f := range []RequeueFilter{{NotificationID: "nope"}, {EventID: "nope"}, {InstanceID: 999}} {
		if _, err := s.Requeue(ctx, f); !errors.Is(err, ErrNotFound) {
			t.Errorf("Requeue(%+v): %v, want ErrNotFound", f, err)
		}
	}
	for _, f := range []RequeueFilter{{}, {All: true, InstanceID: a.ID}, {NotificationID: "a-n000", EventID: "a-e000"}} {
		if _, err := s.Requeue(ctx, f); !errors.Is(err, ErrBadFilter) {
			t.Errorf("Requeue(%+v): %v, want ErrBadFilter", f, err)
		}
	}
}

func TestDeleteInstanceCancelsQueued(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a := mkInstance(t, s, "a")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a", 20, t0, cursorAt(t0)))
	queueOf(t, s, "a-n000", t0)
	if err := s.DeleteInstance(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); !reflect.DeepEqual(st.Notifications, map[string]int{"CANCELLED": 2}) {
		t.Errorf("after delete: %+v", st.Notifications)
	}
	if st := eventStatus(t, s, "a-e000"); st != "CANCELLED" {
		t.Errorf("event: %s", st)
	}
	if n, err := s.Requeue(ctx, RequeueFilter{All: true}); n != 0 || err != nil {
		t.Errorf("requeue after delete: %d %v", n, err)
	}
}

func TestEventsFilters(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a, b := mkInstance(t, s, "a"), mkInstance(t, s, "b")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a1", 12, t0, cursorAt(t0)))                  // a1-n000 (10), a1-n001 (2)
	mustCommit(t, s, mkCommit(b.ID, "tickets", "b1", 3, t0.Add(time.Hour), cursorAt(t0)))    // b1-n000
	mustCommit(t, s, mkCommit(a.ID, "contacts", "a2", 4, t0.Add(2*time.Hour), cursorAt(t0))) // a2-n000
	mustCommit(t, s, mkCommit(b.ID, "contacts", "b2", 2, t0.Add(3*time.Hour), cursorAt(t0))) // b2-n000
	record(t, s, engine.Attempt{NotificationID: "a1-n000", At: t0, HTTPStatus: 200, Status: engine.StatusDelivered})
	record(t, s, engine.Attempt{NotificationID: "a1-n001", At: t0, HTTPStatus: 500, Status: engine.StatusFailed, Next: t0.Add(time.Hour)})
	queueOf(t, s, "b1-n000", t0.Add(time.Hour)) // b2-n000 queues behind it

	list := func(f EventFilter) (string, string) {
		t.Helper()
		evs, next, err := s.Events(ctx, f)
		if err != nil {
			t.Fatalf("Events(%+v): %v", f, err)
		}
		var ids []string
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		return strings.Join(ids, " "), next
	}
	for _, tt := range []struct {
		f    EventFilter
		want string
	}{
		{EventFilter{Status: "NOTIFIED", Limit: 3}, "a1-e009 a1-e008 a1-e007"},
		{EventFilter{Status: "DISPATCHED"}, "a1-e011 a1-e010"},
		{EventFilter{Status: "QUEUED"}, "b2-e001 b2-e000 b1-e002 b1-e001 b1-e000"},
		{EventFilter{Status: "NEW"}, "a2-e003 a2-e002 a2-e001 a2-e000"},
		{EventFilter{Status: "CANCELLED"}, ""},
		{EventFilter{ObjectType: "contacts"}, "b2-e001 b2-e000 a2-e003 a2-e002 a2-e001 a2-e000"},
		{EventFilter{InstanceID: b.ID, ObjectType: "tickets"}, "b1-e002 b1-e001 b1-e000"},
		{EventFilter{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, "a2-e003 a2-e002 a2-e001 a2-e000 b1-e002 b1-e001 b1-e000"},
		{EventFilter{Since: t0.Add(3 * time.Hour)}, "b2-e001 b2-e000"},
		{EventFilter{Until: t0.Add(time.Nanosecond), Status: "DISPATCHED"}, "a1-e011 a1-e010"},
		{EventFilter{Since: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), InstanceID: b.ID, ObjectType: "contacts"}, "b2-e001 b2-e000"},
	} {
		if got, _ := list(tt.f); got != tt.want {
			t.Errorf("Events(%+v):\n got %s\nwant %s", tt.f, got, tt.want)
		}
	}

	// Paging, newest first, every event once, the last page without a token.
	all, next := list(EventFilter{})
	if next != "" {
		t.Errorf("token without a limit: %q", next)
	}
	for _, size := range []int{1, 4, 7, 21, 22} {
		var pages []string
		f := EventFilter{Limit: size}
		for range 30 {
			got, next := list(f)
			pages = append(pages, got)
			if next == "" {
				break
			}
			f.PageToken = next
		}
		if got := strings.Join(pages, " "); got != all {
			t.Errorf("pages of %d: %s, want %s", size, got, all)
		}
		if want := (21 + size - 1) / size; len(pages) != want {
			t.Errorf("pages of %d: %d pages", size, len(pages))
		}
	}
	// A page token with a filter: the filter holds on the next page.
	first, tok := list(EventFilter{InstanceID: a.ID, ObjectType: "tickets", Limit: 10})
	rest, tok2 := list(EventFilter{InstanceID: a.ID, ObjectType: "tickets", Limit: 10, PageToken: tok})
	if first+" "+rest != "a1-e011 a1-e010 a1-e009 a1-e008 a1-e007 a1-e006 a1-e005 a1-e004 a1-e003 a1-e002 a1-e001 a1-e000" || tok2 != "" {
		t.Errorf("filtered pages: %s | %s (%q)", first, rest, tok2)
	}
	for _, tok := range []string{"x!", "-1", "0", "zzzzzzzzzzzzzzzzzz"} {
		if _, _, err := s.Events(ctx, EventFilter{PageToken: tok}); !errors.Is(err, ErrBadPageToken) {
			t.Errorf("page token %q: %v", tok, err)
		}
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s, err := Open(context.Background(), pgtest.URL(t), Options{PruneBatch: 2}) // several batches
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, b := mkInstance(t, s, "a"), mkInstance(t, s, "b")
	cut := t0.Add(24 * time.Hour)
	// Old: a's 7 notifications: delivered, failed, cancelled (b's), pending, queued...
	mustCommit(t, s, mkCommit(a.ID, "tickets", "old", 70, t0, cursorAt(t0))) // old-n000..n006
	mustCommit(t, s, mkCommit(b.ID, "tickets", "oldb", 20, t0, cursorAt(t0)))
	for _, id := range []string{"old-n000", "old-n001", "old-n002", "old-n003"} {
		record(t, s, engine.Attempt{NotificationID: id, At: t0, HTTPStatus: 500, Status: engine.StatusFailed, Next: t0.Add(time.Second)})
		record(t, s, engine.Attempt{NotificationID: id, At: t0.Add(time.Second), HTTPStatus: 200, Status: engine.StatusDelivered})
	}
	record(t, s, engine.Attempt{NotificationID: "old-n004", At: t0, HTTPStatus: 410, Status: engine.StatusFailed}) // given up
	queueOf(t, s, "old-n005", t0)                                                                                  // old-n006 queues behind
	record(t, s, engine.Attempt{NotificationID: "oldb-n000", At: t0, HTTPStatus: 200, Status: engine.StatusDelivered})
	// oldb-n001 stays pending (in backoff)
	record(t, s, engine.Attempt{NotificationID: "oldb-n001", At: t0, HTTPStatus: 500, Status: engine.StatusFailed, Next: cut.Add(time.Hour)})
	// New: delivered after the cut-off.
	mustCommit(t, s, mkCommit(b.ID, "contacts", "new", 10, cut, cursorAt(cut)))
	record(t, s, engine.Attempt{NotificationID: "new-n000", At: cut, HTTPStatus: 200, Status: engine.StatusDelivered})
	// Cancelled and old: a deleted instance's.
	c := mkInstance(t, s, "c")
	mustCommit(t, s, mkCommit(c.ID, "tickets", "gone", 10, t0, cursorAt(t0)))
	if err := s.DeleteInstance(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// An event in no notification.
	orphan := mkCommit(b.ID, "agents", "orphan", 1, t0, cursorAt(t0))
	orphan.Notifications = nil
	mustCommit(t, s, orphan)

	before := mustStats(t, s)
	n, err := s.Prune(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	// Pruned: old-n000..n004 (50 events, 9 attempts), oldb-n000 (10, 1), gone-n000 (10, 0), the orphan (1).
	if n != 71 {
		t.Errorf("pruned %d events, want 71", n)
	}
	st := mustStats(t, s)
	wantNotes := map[string]int{"QUEUED": 2, "PENDING": 1, "NOTIFIED": 1}
	if !reflect.DeepEqual(st.Notifications, wantNotes) || st.Events != before.Events-71 || st.Attempts != before.Attempts-10 {
		t.Errorf("after prune: %+v (before %+v)", st, before)
	}
	for _, id := range []string{"old-e000", "old-e049", "oldb-e000", "gone-e000", "orphan-e000"} {
		if _, _, err := s.Event(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("event %s kept: %v", id, err)
		}
	}
	for id, status := range map[string]string{"old-e050": "QUEUED", "old-e069": "QUEUED", "oldb-e010": "DISPATCHED", "new-e000": "NOTIFIED"} {
		if got := eventStatus(t, s, id); got != status {
			t.Errorf("event %s: %s, want %s", id, got, status)
		}
	}
	if _, atts, _ := s.Event(ctx, "oldb-e015"); len(atts) != 1 {
		t.Errorf("attempts of a pending notification: %+v", atts)
	}
	if got := queuedIDs(t, s, a.ID, 0); !slices.Equal(got, []string{"old-n005", "old-n006"}) {
		t.Errorf("queued after prune: %v", got)
	}
	if got := due(t, s, cut.Add(time.Hour), 10); !slices.Equal(got, []string{"oldb-n001"}) {
		t.Errorf("due after prune: %v", got)
	}
	// Again: nothing left to prune.
	if n, err := s.Prune(ctx, cut); n != 0 || err != nil {
		t.Errorf("second prune: %d %v", n, err)
	}
	// A cut-off far in the future still spares pending and queued notifications.
	if _, err := s.Prune(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); !reflect.DeepEqual(st.Notifications, map[string]int{"QUEUED": 2, "PENDING": 1}) || st.Events != 30 {
		t.Errorf("after prune of everything: %+v", st)
	}
}
