package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/engine"
)

const eventColumns = `seq, id, instance_id, object_type, object_id, event_type, date, poll_date, status, notification_id, record`

type scanner interface{ Scan(dest ...any) error }

func scanEvent(r scanner) (EventRecord, int64, error) {
	var e EventRecord
	var seq int64
	var date, poll *int64
	err := r.Scan(&seq, &e.ID, &e.InstanceID, &e.ObjectType, &e.ObjectID, &e.EventType, &date, &poll, &e.Status, &e.NotificationID, &e.Record)
	e.Date, e.PollDate = fromNanos(date), fromNanos(poll)
	return e, seq, err
}

// Events returns the events f selects, newest (last committed) first, at most f.Limit of them,
// and a token for the next page: empty when there are no more. ErrBadPageToken when f.PageToken
// is not one Events returned.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]EventRecord, string, error) {
	fail := func(err error) ([]EventRecord, string, error) {
		return nil, "", fmt.Errorf("postgres: events: %w", err)
	}
	var where []string
	var a args
	if f.PageToken != "" {
		before, err := strconv.ParseInt(f.PageToken, 36, 64)
		if err != nil || before <= 0 {
			return fail(ErrBadPageToken)
		}
		where = append(where, "seq < "+a.add(before))
	}
	if f.InstanceID != 0 {
		where = append(where, "instance_id = "+a.add(f.InstanceID))
	}
	if w := scopeWhere(f.Scope, "instance_id", &a); w != "" {
		where = append(where, w)
	}
	if f.Status != "" {
		where = append(where, "status = "+a.add(f.Status))
	}
	if f.ObjectType != "" {
		where = append(where, "object_type = "+a.add(f.ObjectType))
	}
	if !f.Since.IsZero() {
		where = append(where, "poll_date >= "+a.add(clampNanos(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "poll_date < "+a.add(clampNanos(f.Until)))
	}
	q := `SELECT ` + eventColumns + ` FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY seq DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + a.add(f.Limit+1) // one more tells whether there is a next page
	}
	rows, err := s.pool.Query(ctx, q, a...)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var out []EventRecord
	var seqs []int64
	for rows.Next() {
		e, seq, err := scanEvent(rows)
		if err != nil {
			return fail(err)
		}
		out, seqs = append(out, e), append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	var next string
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
		next = strconv.FormatInt(seqs[f.Limit-1], 36)
	}
	return out, next, nil
}

// clampNanos is t as stored, clamped to the storable range, for comparisons.
func clampNanos(t time.Time) int64 {
	switch {
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// readTx runs fn in a read-only transaction on one snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// Event returns one event and the delivery attempts of its notification, oldest first (all of
// them: a requeue resets the notification's count, not its history). ErrNotFound when there is
// no such event.
func (s *Store) Event(ctx context.Context, id string) (*EventRecord, []engine.Attempt, error) {
	var e EventRecord
	var atts []engine.Attempt
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		e, _, err = scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
		if isNoRows(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		atts, err = attemptsOf(ctx, tx, e.NotificationID)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: event %s: %w", id, err)
	}
	return &e, atts, nil
}

// attemptsOf returns the delivery attempts of a notification, oldest first.
func attemptsOf(ctx context.Context, tx pgx.Tx, notificationID string) ([]engine.Attempt, error) {
	rows, err := tx.Query(ctx, `SELECT notification_id, at, http_status, error, status, next_attempt
		FROM attempts WHERE notification_id = $1 ORDER BY seq`, notificationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var atts []engine.Attempt
	for rows.Next() {
		var a engine.Attempt
		var at, next *int64
		var status string
		if err := rows.Scan(&a.NotificationID, &at, &a.HTTPStatus, &a.Error, &status, &next); err != nil {
			return nil, err
		}
		a.At, a.Next, a.Status = fromNanos(at), fromNanos(next), engine.DeliveryStatus(status)
		atts = append(atts, a)
	}
	return atts, rows.Err()
}

// Notification returns one notification of the event history by its id (the message.eventId of
// its body): its body, its events in body order, their status, and its delivery attempts.
// ErrNotFound when there is no such notification.
func (s *Store) Notification(ctx context.Context, id string) (*engine.NotificationRecord, error) {
	n := engine.NotificationRecord{ID: id}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var created *int64
		var eventIDs, status string
		err := tx.QueryRow(ctx, `SELECT instance_id, object_type, created_at, body, event_ids, status FROM notifications WHERE id = $1`, id).
			Scan(&n.InstanceID, &n.ObjectType, &created, &n.Body, &eventIDs, &status)
		if isNoRows(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		n.CreatedAt = fromNanos(created)
		var order []string
		if err := json.Unmarshal([]byte(eventIDs), &order); err != nil {
			return fmt.Errorf("event ids: %w", err)
		}
		// By id, not by notification_id: an event carried again keeps the notification that first
		// carried it.
		if n.Events, err = eventsByID(ctx, tx, order); err != nil {
			return err
		}
		if n.Attempts, err = attemptsOf(ctx, tx, id); err != nil {
			return err
		}
		// A pending notification's events are NEW until it is attempted, DISPATCHED after; a
		// settled one's take its status.
		n.Status = status
		if status == string(engine.StatusPending) {
			n.Status = EventNew
			if len(n.Attempts) > 0 {
				n.Status = EventDispatched
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: notification %s: %w", id, err)
	}
	return &n, nil
}

// eventsByID returns the events of these ids that are stored, in the order of ids.
func eventsByID(ctx context.Context, tx pgx.Tx, ids []string) ([]EventRecord, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := map[string]EventRecord{}
	for rows.Next() {
		e, _, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		byID[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []EventRecord
	for _, id := range ids {
		if e, ok := byID[id]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// Stats counts what the store holds.
type Stats struct {
	Instances     int
	Events        int
	Notifications map[string]int // by status: PENDING, NOTIFIED, FAILED, QUEUED, CANCELLED
	Attempts      int
}

// Stats returns the store's counts, from one snapshot.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Notifications: map[string]int{}}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT
				(SELECT COUNT(*) FROM instances), (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM attempts)`).
			Scan(&st.Instances, &st.Events, &st.Attempts); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT status, COUNT(*) FROM notifications GROUP BY status`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var status string
			var n int
			if err := rows.Scan(&status, &n); err != nil {
				return err
			}
			st.Notifications[status] = n
		}
		return rows.Err()
	})
	if err != nil {
		return Stats{}, fmt.Errorf("postgres: stats: %w", err)
	}
	return st, nil
}
