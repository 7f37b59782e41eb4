package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Queued returns up to limit (<= 0: all) QUEUED notifications of one instance (0: of every
// instance), oldest first: the order redelivery sends them in.
func (s *Store) Queued(ctx context.Context, instanceID int64, limit int) ([]QueuedNotification, error) {
	if limit <= 0 {
		limit = -1
	}
	q := `SELECT id, instance_id, object_type, created_at, attempts, last_error, event_ids
		FROM notifications WHERE status = 'QUEUED'`
	args := []any{}
	if instanceID != 0 {
		q += ` AND instance_id = ?`
		args = append(args, instanceID)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY seq LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: queued: %w", err)
	}
	defer rows.Close()
	out := []QueuedNotification{}
	for rows.Next() {
		var n QueuedNotification
		var created sql.NullInt64
		var ids []byte
		if err := rows.Scan(&n.ID, &n.InstanceID, &n.ObjectType, &created, &n.Attempts, &n.LastError, &ids); err != nil {
			return nil, fmt.Errorf("sqlite: queued: %w", err)
		}
		if err := json.Unmarshal(ids, &n.EventIDs); err != nil {
			return nil, fmt.Errorf("sqlite: queued: notification %s: %w", n.ID, err)
		}
		n.CreatedAt = fromNanos(created)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: queued: %w", err)
	}
	return out, nil
}

// validRequeue reports whether f selects exactly one way.
func validRequeue(f RequeueFilter) bool {
	n := 0
	for _, set := range []bool{f.NotificationID != "", f.EventID != "", f.InstanceID != 0, f.All} {
		if set {
			n++
		}
	}
	return n == 1
}

// Requeue sends the QUEUED notifications f selects again: they become PENDING, due now, with
// their attempt count reset so that they get the whole retry schedule again (their past attempts
// stay in the history). Their events become DISPATCHED, or NEW for a notification never attempted
// (one that queued behind another). It returns how many notifications it requeued: 0 when the
// selected notification is not QUEUED (pending, delivered, cancelled). ErrNotFound when the
// notification, event or instance f names does not exist; ErrBadFilter when f does not select
// exactly one way.
//
// The requeued notifications, and their instances' other QUEUED ones, take new places (seq) after
// every other notification, keeping their order: the deliverer finds them on its next look at
// what is new in the outbox (engine.Outbox).
func (s *Store) Requeue(ctx context.Context, f RequeueFilter) (int, error) {
	fail := func(err error) (int, error) { return 0, fmt.Errorf("sqlite: requeue: %w", err) }
	if !validRequeue(f) {
		return fail(ErrBadFilter)
	}
	now := s.now()
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		var where string
		var args []any
		switch {
		case f.All:
			where = `status = 'QUEUED'`
		case f.InstanceID != 0:
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM instances WHERE id = ?`, f.InstanceID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("instance %d: %w", f.InstanceID, ErrNotFound)
			}
			if err != nil {
				return err
			}
			where, args = `status = 'QUEUED' AND instance_id = ?`, []any{f.InstanceID}
		default:
			id := f.NotificationID
			if f.EventID != "" {
				err := tx.QueryRowContext(ctx, `SELECT notification_id FROM events WHERE id = ?`, f.EventID).Scan(&id)
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("event %s: %w", f.EventID, ErrNotFound)
				}
				if err != nil {
					return err
				}
			}
			var instanceID, seq int64
			var status string
			err := tx.QueryRowContext(ctx, `SELECT instance_id, seq, status FROM notifications WHERE id = ?`, id).
				Scan(&instanceID, &seq, &status)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("notification %q: %w", id, ErrNotFound)
			}
			if err != nil {
				return err
			}
			if status != "QUEUED" {
				return nil
			}
			where, args = `status = 'QUEUED' AND instance_id = ? AND seq <= ?`, []any{instanceID, seq}
		}
		offset, err := resequence(ctx, tx, where, args)
		if err != nil || offset == 0 {
			return err // nothing selected when offset is 0
		}
		if len(args) == 2 {
			args[1] = args[1].(int64) + offset
		}
		// Events first, while their notifications are still selected as QUEUED.
		if _, err := tx.ExecContext(ctx, `UPDATE events SET status = CASE
				WHEN EXISTS (SELECT 1 FROM attempts AS a WHERE a.notification_id = events.notification_id) THEN ?
				ELSE ? END
			WHERE notification_id IN (SELECT id FROM notifications WHERE `+where+`)`,
			append([]any{EventDispatched, EventNew}, args...)...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'PENDING', attempts = 0,
				next_attempt = ?, updated_at = ? WHERE `+where,
			append([]any{now.UnixNano(), now.UnixNano()}, args...)...)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	if err != nil {
		return fail(err)
	}
	s.log.Debug("notifications requeued", "notifications", n)
	return n, nil
}

// resequence moves the QUEUED notifications of the instances that the QUEUED notifications where
// selects belong to after every other notification, keeping their order, and returns by how much
// their seqs grew: 0 when where selects nothing. The table's AUTOINCREMENT counter is raised to
// match, so that no seq is ever used twice, even once these rows are pruned.
func resequence(ctx context.Context, tx *sql.Tx, where string, args []any) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT instance_id FROM notifications WHERE `+where, args...)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return 0, err
	}
	lowest := int64(math.MaxInt64)
	for _, id := range ids {
		var lo int64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM notifications WHERE status = 'QUEUED' AND instance_id = ?`, id).
			Scan(&lo); err != nil {
			return 0, err
		}
		lowest = min(lowest, lo)
	}
	var highest int64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM notifications`).Scan(&highest); err != nil {
		return 0, err
	}
	offset := highest - lowest + 1
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET seq = seq + ? WHERE status = 'QUEUED' AND instance_id = ?`,
			offset, id); err != nil {
			return 0, err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM notifications)
		WHERE name = 'notifications' AND seq < (SELECT MAX(seq) FROM notifications)`)
	return offset, err
}

// defaultPruneBatch is Options.PruneBatch's default.
const defaultPruneBatch = 500

// Prune deletes the history older than olderThan: settled notifications (NOTIFIED, FAILED,
// CANCELLED) created before it, with their events and delivery attempts, and events carried by no
// notification polled before it. PENDING and QUEUED notifications, and their events, are never
// deleted, however old. It returns how many events it deleted. It works in batches, each its own
// transaction, so that polls and deliveries go on meanwhile.
func (s *Store) Prune(ctx context.Context, olderThan time.Time) (int, error) {
	fail := func(n int, err error) (int, error) { return n, fmt.Errorf("sqlite: prune: %w", err) }
	cut := clampNanos(olderThan)
	var events, notes, attempts int64
	for {
		var batch [3]int64 // attempts, events, notifications
		err := s.write(ctx, func(tx *sql.Tx) error {
			// The same batch, the oldest settled notifications, for each statement.
			const batchIDs = `SELECT id FROM notifications
				WHERE status IN ('NOTIFIED', 'FAILED', 'CANCELLED') AND COALESCE(created_at, updated_at) < ?
				ORDER BY seq LIMIT ?`
			for i, q := range []string{
				`DELETE FROM attempts WHERE notification_id IN (` + batchIDs + `)`,
				`DELETE FROM events WHERE notification_id IN (` + batchIDs + `)`,
				`DELETE FROM notifications WHERE id IN (` + batchIDs + `)`,
			} {
				res, err := tx.ExecContext(ctx, q, cut, s.pruneBatch)
				if err != nil {
					return err
				}
				if batch[i], err = res.RowsAffected(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fail(int(events), err)
		}
		attempts, events, notes = attempts+batch[0], events+batch[1], notes+batch[2]
		if batch[2] < int64(s.pruneBatch) {
			break
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE notification_id = '' AND COALESCE(poll_date, date) < ?`, cut)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		events += k
		return err
	})
	if err != nil {
		return fail(int(events), err)
	}
	if events+notes > 0 {
		s.log.Info("history pruned", "before", olderThan.UTC().Format(time.RFC3339), "events", events,
			"notifications", notes, "attempts", attempts)
	}
	return int(events), nil
}
