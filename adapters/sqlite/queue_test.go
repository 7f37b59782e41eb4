package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

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
	var next sql.NullInt64
	if err := s.r.QueryRowContext(context.Background(), `SELECT status, attempts, next_attempt FROM notifications WHERE id = ?`, id).
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

// Should a pending notification be left behind a queued one (a database from before queueing
// behind), it is still not handed out: nothing overtakes a queued notification. One older than
// every queued one is.
func TestDueNeverOvertakesQueued(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a := mkInstance(t, s, "a")
	mustCommit(t, s, mkCommit(a.ID, "tickets", "a", 30, t0, cursorAt(t0)))
	if _, err := s.w.ExecContext(ctx, `UPDATE notifications SET status = 'QUEUED', next_attempt = NULL WHERE id = 'a-n001'`); err != nil {
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

// A version-1 database migrates: events get their own statuses, pending notifications behind a
// queued one queue behind it, and a deleted instance's queued notifications are cancelled.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", fileURI(path))
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{migrations[0], `PRAGMA user_version = 1`,
		`INSERT INTO instances (id, name, element_key) VALUES (1, 'a', 'x'), (2, 'b', 'x')`}
	// Instance 1: n1 queued, n2 pending behind it, n0 delivered. Instance 2: m1 attempted and
	// pending, m2 never attempted. Instance 3 (deleted): g1 queued.
	for i, n := range []struct {
		id     string
		inst   int
		status string
		tries  int
	}{{"n0", 1, "NOTIFIED", 1}, {"n1", 1, "QUEUED", 6}, {"m1", 2, "PENDING", 1}, {"n2", 1, "PENDING", 0}, {"m2", 2, "PENDING", 0}, {"g1", 3, "QUEUED", 6}} {
		evStatus := n.status // version 1: PENDING until the notification settled, then its status
		stmts = append(stmts,
			fmt.Sprintf(`INSERT INTO notifications (seq, id, instance_id, object_type, event_ids, created_at, body, status, attempts, next_attempt)
				VALUES (%d, '%s', %d, 't', '["e-%s"]', %d, x'00', '%s', %d, %d)`, i+1, n.id, n.inst, n.id, t0.UnixNano(), n.status, n.tries, t0.UnixNano()),
			fmt.Sprintf(`INSERT INTO events (id, instance_id, object_type, object_id, event_type, status, notification_id, poll_date)
				VALUES ('e-%s', %d, 't', '1', 'UPDATED', '%s', '%s', %d)`, n.id, n.inst, evStatus, n.id, t0.UnixNano()))
		for k := range n.tries {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO attempts (notification_id, at, http_status, error, status) VALUES ('%s', %d, 500, 'x', 'FAILED')`, n.id, k))
		}
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openTest(t, path)
	for id, want := range map[string][2]string{
		"n0": {"NOTIFIED", "NOTIFIED"}, "n1": {"QUEUED", "QUEUED"}, "n2": {"QUEUED", "QUEUED"},
		"m1": {"PENDING", "DISPATCHED"}, "m2": {"PENDING", "NEW"}, "g1": {"CANCELLED", "CANCELLED"},
	} {
		if got := [2]string{noteOf(t, s, id).Status, eventStatus(t, s, "e-"+id)}; got != want {
			t.Errorf("%s: notification, event %v, want %v", id, got, want)
		}
	}
	if got := due(t, s, t0, 10); !slices.Equal(got, []string{"m1"}) {
		t.Errorf("due after migration: %v", got)
	}
}
