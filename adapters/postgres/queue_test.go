package postgres

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/engine"
)

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
