package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

// EventRecord is one stored event, for the API's event history.
type EventRecord struct {
	ID             string
	InstanceID     int64
	ObjectType     string
	ObjectID       string
	EventType      string
	Date           time.Time
	PollDate       time.Time
	Status         string // PENDING, then its notification's final status (NOTIFIED, FAILED, CANCELLED)
	NotificationID string // the notification that first carried it
}

const eventColumns = `id, instance_id, object_type, object_id, event_type, date, poll_date, status, notification_id`

func scanEvent(r scanner) (EventRecord, error) {
	var e EventRecord
	var date, poll sql.NullInt64
	err := r.Scan(&e.ID, &e.InstanceID, &e.ObjectType, &e.ObjectID, &e.EventType, &date, &poll, &e.Status, &e.NotificationID)
	e.Date, e.PollDate = fromNanos(date), fromNanos(poll)
	return e, err
}

// Events returns up to limit events (limit <= 0: all) of one instance (0: of all instances),
// newest (last committed) first.
func (s *Store) Events(ctx context.Context, instanceID int64, limit int) ([]EventRecord, error) {
	if limit <= 0 {
		limit = -1
	}
	q := `SELECT ` + eventColumns + ` FROM events ORDER BY seq DESC LIMIT ?`
	args := []any{limit}
	if instanceID != 0 {
		q = `SELECT ` + eventColumns + ` FROM events WHERE instance_id = ? ORDER BY seq DESC LIMIT ?`
		args = []any{instanceID, limit}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	defer rows.Close()
	var out []EventRecord
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	return out, nil
}

// Event returns one event and the delivery attempts of its notification, oldest first.
// ErrNotFound when there is no such event.
func (s *Store) Event(ctx context.Context, id string) (*EventRecord, []engine.Attempt, error) {
	fail := func(err error) (*EventRecord, []engine.Attempt, error) {
		return nil, nil, fmt.Errorf("sqlite: event %s: %w", id, err)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	e, err := scanEvent(tx.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return fail(ErrNotFound)
	}
	if err != nil {
		return fail(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT notification_id, at, http_status, error, status, next_attempt
		FROM attempts WHERE notification_id = ? ORDER BY seq`, e.NotificationID)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var atts []engine.Attempt
	for rows.Next() {
		var a engine.Attempt
		var at, next sql.NullInt64
		var status string
		if err := rows.Scan(&a.NotificationID, &at, &a.HTTPStatus, &a.Error, &status, &next); err != nil {
			return fail(err)
		}
		a.At, a.Next, a.Status = fromNanos(at), fromNanos(next), engine.DeliveryStatus(status)
		atts = append(atts, a)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return &e, atts, nil
}

// Stats counts what the store holds.
type Stats struct {
	Instances     int
	Events        int
	Notifications map[string]int // by status: PENDING, NOTIFIED, FAILED, CANCELLED
	Attempts      int
}

// Stats returns the store's counts, from one snapshot.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Notifications: map[string]int{}}
	fail := func(err error) (Stats, error) { return Stats{}, fmt.Errorf("sqlite: stats: %w", err) }
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM instances), (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM attempts)`).
		Scan(&st.Instances, &st.Events, &st.Attempts); err != nil {
		return fail(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT status, COUNT(*) FROM notifications GROUP BY status`)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return fail(err)
		}
		st.Notifications[status] = n
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return st, nil
}
