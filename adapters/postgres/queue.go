package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/engine"
)

// Queued returns up to limit (<= 0: all) QUEUED notifications of one instance (0: of every
// instance), oldest first: the order redelivery sends them in.
func (s *Store) Queued(ctx context.Context, instanceID int64, limit int) ([]QueuedNotification, error) {
	var a args
	q := `SELECT id, instance_id, object_type, created_at, attempts, last_error, event_ids
		FROM notifications WHERE status = 'QUEUED'`
	if instanceID != 0 {
		q += ` AND instance_id = ` + a.add(instanceID)
	}
	q += ` ORDER BY seq`
	if limit > 0 {
		q += ` LIMIT ` + a.add(limit)
	}
	rows, err := s.pool.Query(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: queued: %w", err)
	}
	defer rows.Close()
	out := []QueuedNotification{}
	for rows.Next() {
		var n QueuedNotification
		var created *int64
		var ids string
		if err := rows.Scan(&n.ID, &n.InstanceID, &n.ObjectType, &created, &n.Attempts, &n.LastError, &ids); err != nil {
			return nil, fmt.Errorf("postgres: queued: %w", err)
		}
		if err := json.Unmarshal([]byte(ids), &n.EventIDs); err != nil {
			return nil, fmt.Errorf("postgres: queued: notification %s: %w", n.ID, err)
		}
		n.CreatedAt = fromNanos(created)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: queued: %w", err)
	}
	return out, nil
}

// args collects a query's arguments and names their placeholders.
type args []any

// add appends v and returns its placeholder, $n.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
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

// Requeue sends the QUEUED notifications f selects again, by the rules of adapters/sqlite's
// Requeue: PENDING, due now, attempt count reset; their events DISPATCHED, or NEW for a
// notification never attempted; a notification selected with its instance's older QUEUED ones;
// 0 when the selected notification is not QUEUED; ErrNotFound for a notification, event or
// instance that does not exist; ErrBadFilter when f does not select exactly one way.
//
// The requeued notifications, and their instances' other QUEUED ones, take new seqs from
// outbox_seq, after every other notification, keeping their order. The instances are held FOR
// UPDATE, so that no commit of theirs lands between the requeue's reads and writes.
func (s *Store) Requeue(ctx context.Context, f RequeueFilter) (int, error) {
	fail := func(err error) (int, error) { return 0, fmt.Errorf("postgres: requeue: %w", err) }
	if !validRequeue(f) {
		return fail(ErrBadFilter)
	}
	now := s.now().UnixNano()
	var n int
	err := s.write(ctx, func(tx pgx.Tx) error {
		n = 0
		var instances []int64 // whose QUEUED notifications take new places
		var selected []string // the notifications requeued
		switch {
		case f.All:
			rows, err := tx.Query(ctx, `SELECT id FROM instances WHERE id IN
				(SELECT instance_id FROM notifications WHERE status = 'QUEUED') ORDER BY id FOR UPDATE`)
			if err != nil {
				return err
			}
			if _, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
				return err
			}
			// QUEUED notifications of instances that no longer exist (there should be none: a
			// deletion cancels them) are requeued too, as in SQLite.
			rows, err = tx.Query(ctx, `SELECT DISTINCT instance_id FROM notifications WHERE status = 'QUEUED'`)
			if err != nil {
				return err
			}
			if instances, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
				return err
			}
			rows, err = tx.Query(ctx, `SELECT id FROM notifications WHERE status = 'QUEUED'`)
			if err != nil {
				return err
			}
			if selected, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
		case f.InstanceID != 0:
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM instances WHERE id = $1 FOR UPDATE`, f.InstanceID).Scan(&one)
			if isNoRows(err) {
				return fmt.Errorf("instance %d: %w", f.InstanceID, ErrNotFound)
			}
			if err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT id FROM notifications WHERE status = 'QUEUED' AND instance_id = $1`, f.InstanceID)
			if err != nil {
				return err
			}
			if selected, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			instances = []int64{f.InstanceID}
		default:
			id := f.NotificationID
			if f.EventID != "" {
				err := tx.QueryRow(ctx, `SELECT notification_id FROM events WHERE id = $1`, f.EventID).Scan(&id)
				if isNoRows(err) {
					return fmt.Errorf("event %s: %w", f.EventID, ErrNotFound)
				}
				if err != nil {
					return err
				}
			}
			var instanceID int64
			err := tx.QueryRow(ctx, `SELECT instance_id FROM notifications WHERE id = $1`, id).Scan(&instanceID)
			if isNoRows(err) {
				return fmt.Errorf("notification %q: %w", id, ErrNotFound)
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT 1 FROM instances WHERE id = $1 FOR UPDATE`, instanceID); err != nil {
				return err
			}
			var seq int64
			var status string
			if err := tx.QueryRow(ctx, `SELECT seq, status FROM notifications WHERE id = $1`, id).Scan(&seq, &status); err != nil {
				return err
			}
			if status != string(engine.StatusQueued) {
				return nil
			}
			rows, err := tx.Query(ctx, `SELECT id FROM notifications WHERE status = 'QUEUED' AND instance_id = $1 AND seq <= $2`, instanceID, seq)
			if err != nil {
				return err
			}
			if selected, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			instances = []int64{instanceID}
		}
		if len(selected) == 0 {
			return nil
		}
		if err := resequence(ctx, tx, instances); err != nil {
			return err
		}
		b := &pgx.Batch{}
		// Events first, while their notifications are still QUEUED.
		b.Queue(`UPDATE events SET status = CASE
				WHEN EXISTS (SELECT 1 FROM attempts AS a WHERE a.notification_id = events.notification_id) THEN $1
				ELSE $2 END
			WHERE notification_id = ANY($3)`, EventDispatched, EventNew, selected)
		b.Queue(`UPDATE notifications SET status = 'PENDING', attempts = 0, next_attempt = $1, updated_at = $1
			WHERE id = ANY($2) AND status = 'QUEUED'`, now, selected)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		return br.Close()
	})
	if err != nil {
		return fail(err)
	}
	s.log.Debug("notifications requeued", "notifications", n)
	return n, nil
}

// resequence gives the QUEUED notifications of these instances new seqs from outbox_seq, after
// every other notification, keeping their order.
func resequence(ctx context.Context, tx pgx.Tx, instances []int64) error {
	var count int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE status = 'QUEUED' AND instance_id = ANY($1)`,
		instances).Scan(&count); err != nil || count == 0 {
		return err
	}
	_, err := tx.Exec(ctx, `WITH top AS (UPDATE outbox_seq SET last = last + $2 RETURNING last)
		UPDATE notifications AS n SET seq = (SELECT last FROM top) - $2 + r.rn
		FROM (SELECT id, row_number() OVER (ORDER BY seq) AS rn FROM notifications
			WHERE status = 'QUEUED' AND instance_id = ANY($1)) AS r
		WHERE n.id = r.id`, instances, count)
	return err
}

// defaultPruneBatch is Options.PruneBatch's default.
const defaultPruneBatch = 500

// Prune deletes the history older than olderThan, by the rules of adapters/sqlite's Prune:
// settled notifications (NOTIFIED, FAILED, CANCELLED) created before it, with their events and
// delivery attempts, and events carried by no notification polled before it; never a PENDING or
// QUEUED notification. It returns how many events it deleted, and works in batches, each its own
// transaction.
func (s *Store) Prune(ctx context.Context, olderThan time.Time) (int, error) {
	fail := func(n int, err error) (int, error) { return n, fmt.Errorf("postgres: prune: %w", err) }
	cut := clampNanos(olderThan)
	var events, notes, attempts int64
	for {
		var batch [3]int64 // attempts, events, notifications
		err := s.write(ctx, func(tx pgx.Tx) error {
			batch = [3]int64{}
			rows, err := tx.Query(ctx, `SELECT id FROM notifications
				WHERE status IN ('NOTIFIED', 'FAILED', 'CANCELLED') AND COALESCE(created_at, updated_at) < $1
				ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`, cut, s.pruneBatch)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil || len(ids) == 0 {
				return err
			}
			for i, q := range []string{
				`DELETE FROM attempts WHERE notification_id = ANY($1)`,
				`DELETE FROM events WHERE notification_id = ANY($1)`,
				`DELETE FROM notifications WHERE id = ANY($1)`,
			} {
				tag, err := tx.Exec(ctx, q, ids)
				if err != nil {
					return err
				}
				batch[i] = tag.RowsAffected()
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
	var loose int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM events WHERE notification_id = '' AND COALESCE(poll_date, date) < $1`, cut)
		if err != nil {
			return err
		}
		loose = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return fail(int(events), err)
	}
	events += loose
	if events+notes > 0 {
		s.log.Info("history pruned", "before", olderThan.UTC().Format(time.RFC3339), "events", events,
			"notifications", notes, "attempts", attempts)
	}
	return int(events), nil
}
