package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

var (
	_ engine.Store  = (*Store)(nil)
	_ engine.Outbox = (*Store)(nil)
)

// Cursor returns the job's cursor; ok is false when the job has never committed.
func (s *Store) Cursor(ctx context.Context, key engine.JobKey) (engine.Cursor, bool, error) {
	var raw []byte
	err := s.r.QueryRowContext(ctx,
		`SELECT cursor FROM cursors WHERE instance_id = ? AND object_type = ?`,
		key.InstanceID, key.ObjectType).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return engine.Cursor{}, false, nil
	}
	if err != nil {
		return engine.Cursor{}, false, fmt.Errorf("sqlite: cursor %d/%s: %w", key.InstanceID, key.ObjectType, err)
	}
	var c engine.Cursor
	if err := json.Unmarshal(raw, &c); err != nil {
		return engine.Cursor{}, false, fmt.Errorf("sqlite: cursor %d/%s: %w", key.InstanceID, key.ObjectType, err)
	}
	return c, true, nil
}

// CommitPoll writes the poll's events (NEW), its notifications (PENDING, due at their CreatedAt)
// and the job's cursor in one transaction. Events are stored notification by notification
// (eventOrder), so the history lists a burst's events in the order they were sent. When the instance has a QUEUED notification, the new
// notifications and their events are QUEUED instead: they queue behind it until redelivery
// (Requeue). Events and notifications whose id is already stored are left as they are, so
// committing the same poll again changes nothing but the cursor. The job's
// instance must exist (ErrNotFound otherwise): a poll that finishes after its instance was
// deleted writes nothing.
func (s *Store) CommitPoll(ctx context.Context, c engine.Commit) error {
	fail := func(err error) error {
		return fmt.Errorf("sqlite: commit poll %d/%s: %w", c.Key.InstanceID, c.Key.ObjectType, err)
	}
	cur, err := json.Marshal(c.Cursor)
	if err != nil {
		return fail(err)
	}
	noteOf := make(map[string]string, len(c.Events))
	for _, n := range c.Notifications {
		for _, id := range n.EventIDs {
			if _, dup := noteOf[id]; !dup {
				noteOf[id] = n.ID
			}
		}
	}
	now := s.now()
	var newEvents, newNotes int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM instances WHERE id = ?`, c.Key.InstanceID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("instance %d: %w", c.Key.InstanceID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var queued bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notifications
				WHERE instance_id = ? AND status = 'QUEUED')`, c.Key.InstanceID).Scan(&queued); err != nil {
			return err
		}
		noteStatus, eventStatus := string(engine.StatusPending), EventNew
		if queued {
			noteStatus, eventStatus = string(engine.StatusQueued), string(engine.StatusQueued)
		}
		if len(c.Events) > 0 {
			st, err := tx.PrepareContext(ctx, `INSERT INTO events
				(id, instance_id, object_type, object_id, event_type, date, poll_date, record, status, notification_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, i := range eventOrder(c) {
				e := &c.Events[i]
				date, err := nanos(e.Date)
				if err != nil {
					return fmt.Errorf("event %s: %w", e.ID, err)
				}
				pollDate, err := nanos(e.PollDate)
				if err != nil {
					return fmt.Errorf("event %s: %w", e.ID, err)
				}
				status := eventStatus
				if noteOf[e.ID] == "" {
					status = EventNew // carried by no notification: nothing to queue
				}
				res, err := st.ExecContext(ctx, e.ID, e.InstanceID, e.ObjectType, e.ObjectID, string(e.Type),
					date, pollDate, []byte(e.Record), status, noteOf[e.ID])
				if err != nil {
					return fmt.Errorf("event %q: %w", e.ID, err)
				}
				n, _ := res.RowsAffected()
				newEvents += n
			}
		}
		if len(c.Notifications) > 0 {
			st, err := tx.PrepareContext(ctx, `INSERT INTO notifications
				(id, instance_id, object_type, event_ids, created_at, body, status, attempts, next_attempt, updated_at, lanes)
				VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, n := range c.Notifications {
				ids := n.EventIDs
				if ids == nil {
					ids = []string{}
				}
				idsJSON, err := json.Marshal(ids)
				if err != nil {
					return err
				}
				created, err := nanos(n.CreatedAt)
				if err != nil {
					return fmt.Errorf("notification %s: %w", n.ID, err)
				}
				next := created
				if next == nil {
					next = now.UnixNano()
				}
				if queued {
					next = nil
				}
				res, err := st.ExecContext(ctx, n.ID, n.InstanceID, n.ObjectType, idsJSON, created, n.Body,
					noteStatus, next, now.UnixNano(), int64(n.Lanes))
				if err != nil {
					return fmt.Errorf("notification %q: %w", n.ID, err)
				}
				k, _ := res.RowsAffected()
				newNotes += k
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO cursors (instance_id, object_type, cursor, updated_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (instance_id, object_type) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
			c.Key.InstanceID, c.Key.ObjectType, cur, now.UnixNano())
		return err
	})
	if err != nil {
		return fail(err)
	}
	s.log.Debug("poll committed", "instance", c.Key.InstanceID, "object_type", c.Key.ObjectType,
		"events", newEvents, "events_known", int64(len(c.Events))-newEvents,
		"notifications", newNotes, "notifications_known", int64(len(c.Notifications))-newNotes)
	return nil
}

// eventOrder is the order CommitPoll stores a commit's events in: those of each notification
// together, notifications in order, then the events no notification carries. A burst's
// notifications each carry the events of one order lane, scattered over the poll; stored
// together, recording a notification's attempt updates a page or two of events instead of ten.
func eventOrder(c engine.Commit) []int {
	at := make(map[string]int, len(c.Events))
	for i, e := range c.Events {
		if _, dup := at[e.ID]; !dup {
			at[e.ID] = i
		}
	}
	order := make([]int, 0, len(c.Events))
	taken := make([]bool, len(c.Events))
	for _, n := range c.Notifications {
		for _, id := range n.EventIDs {
			if i, ok := at[id]; ok && !taken[i] {
				taken[i] = true
				order = append(order, i)
			}
		}
	}
	for i := range c.Events {
		if !taken[i] {
			order = append(order, i)
		}
	}
	return order
}

// Pending returns the PENDING notifications q selects, in outbox order (seq), due or not, of any
// instance (disabled ones too: the deliverer knows which are live), but none behind a QUEUED one
// of its instance: nothing overtakes a queued notification. (Once an instance has a QUEUED
// notification its later ones are stored QUEUED too, see RecordAttempt and CommitPoll; this check
// keeps the order should a pending one remain behind it all the same.) Seq is the table's
// AUTOINCREMENT key: the single writer assigns it in commit order and never reuses one, and
// Requeue moves requeued notifications after every other.
func (s *Store) Pending(ctx context.Context, q engine.PendingQuery) ([]engine.Delivery, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	query := `SELECT id, instance_id, object_type, json_array_length(event_ids), attempts, next_attempt, seq, lanes
		FROM notifications AS n WHERE status = 'PENDING' AND seq > ?
			AND NOT EXISTS (SELECT 1 FROM notifications AS q
				WHERE q.instance_id = n.instance_id AND q.status = 'QUEUED' AND q.seq < n.seq)`
	args := []any{q.After}
	if q.InstanceID != 0 {
		query += ` AND instance_id = ?`
		args = append(args, q.InstanceID)
	}
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY seq LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pending notifications: %w", err)
	}
	defer rows.Close()
	out := make([]engine.Delivery, 0, min(q.Limit, 256))
	for rows.Next() {
		var d engine.Delivery
		var due sql.NullInt64
		var lanes int64
		if err := rows.Scan(&d.ID, &d.InstanceID, &d.ObjectType, &d.Events, &d.Attempts, &due, &d.Seq, &lanes); err != nil {
			return nil, fmt.Errorf("sqlite: pending notifications: %w", err)
		}
		d.Due, d.Lanes = fromNanos(due), engine.LaneSet(lanes)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pending notifications: %w", err)
	}
	return out, nil
}

// RequeueInstance makes the instance's QUEUED notifications PENDING again, as Requeue does.
func (s *Store) RequeueInstance(ctx context.Context, instanceID int64) (int, error) {
	return s.Requeue(ctx, RequeueFilter{InstanceID: instanceID})
}

// Stopped returns the instances with a QUEUED notification whose last attempt was answered 410
// Gone, each with the latest such notification.
func (s *Store) Stopped(ctx context.Context) ([]engine.DeliveryStop, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT n.instance_id, n.seq, a.at
		FROM notifications AS n JOIN attempts AS a
			ON a.seq = (SELECT MAX(seq) FROM attempts WHERE notification_id = n.id)
		WHERE n.status = 'QUEUED' AND a.http_status = 410 AND a.status = 'QUEUED'
		ORDER BY a.seq`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stopped instances: %w", err)
	}
	defer rows.Close()
	latest := map[int64]int{}
	var out []engine.DeliveryStop
	for rows.Next() {
		var st engine.DeliveryStop
		var at sql.NullInt64
		if err := rows.Scan(&st.InstanceID, &st.Seq, &at); err != nil {
			return nil, fmt.Errorf("sqlite: stopped instances: %w", err)
		}
		st.At = fromNanos(at)
		if i, ok := latest[st.InstanceID]; ok {
			out[i] = st
			continue
		}
		latest[st.InstanceID] = len(out)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: stopped instances: %w", err)
	}
	return out, nil
}

// NotificationBody returns a notification's body; ErrNotFound when there is no such
// notification. Pending leaves bodies out: the deliverer holds many notifications that cannot go
// yet, and reads a body only to send it.
func (s *Store) NotificationBody(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := s.r.QueryRowContext(ctx, `SELECT body FROM notifications WHERE id = ?`, id).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: notification %s: %w", id, err)
	}
	return b, nil
}

// RecordAttempt records one delivery attempt (an attempts row with a.Status as its outcome) and
// moves the notification on:
//   - a.Status NOTIFIED: settled as NOTIFIED, whatever a.Next says;
//   - a.Next set: stays PENDING, due again at a.Next (so a FAILED attempt that will be retried
//     and a PENDING one read the same);
//   - a.Next zero: settled as a.Status (FAILED: given up; QUEUED: parked after the last retry,
//     kept until it is re-sent on request); but PENDING with a zero Next is not settled and is due
//     again at a.At.
//
// Its events become DISPATCHED while it stays PENDING, and take its status when it settles. When
// it settles as QUEUED, the instance's later PENDING notifications become QUEUED too, with their
// events: they queue behind it until redelivery (Requeue). A notification cancelled meanwhile (its
// instance deleted), or queued behind another while it was being sent, stays so unless this
// attempt delivered it. ErrNotFound when the notification does not exist.
//
// Attempts recorded concurrently are committed together, in one transaction (a group commit):
// deliveries end many at a time, and one commit each was most of a burst's write load. An
// attempt that fails (ErrNotFound, or a bad time) fails alone.
func (s *Store) RecordAttempt(ctx context.Context, a engine.Attempt) error {
	fail := func(err error) error {
		return fmt.Errorf("sqlite: record attempt %s: %w", a.NotificationID, err)
	}
	r := &attemptReq{a: a, done: make(chan error, 1), lead: make(chan struct{})}
	var err error
	if r.at, err = nanos(a.At); err != nil {
		return fail(err)
	}
	if r.next, err = nanos(a.Next); err != nil {
		return fail(err)
	}
	r.status, r.due = string(a.Status), r.next
	switch {
	case a.Status == engine.StatusDelivered:
		r.due = nil
	case r.next != nil:
		r.status = string(engine.StatusPending)
	case a.Status == engine.StatusPending || a.Status == "":
		r.status = string(engine.StatusPending)
		if r.due = r.at; r.due == nil {
			r.due = s.now().UnixNano()
		}
	}
	if err := s.attempts.record(ctx, s, r); err != nil {
		return fail(err)
	}
	return nil
}

// attemptReq is one RecordAttempt call waiting for its group commit.
type attemptReq struct {
	a             engine.Attempt
	at, next, due any
	status        string
	done          chan error    // the outcome
	lead          chan struct{} // closed when this call is to commit the next group
}

// attemptGroup batches concurrent RecordAttempt calls. The first caller leads: it commits every
// call pending (its own included, at most maxAttemptGroup), then hands the lead to the oldest
// call still pending, so no caller commits more than one group.
type attemptGroup struct {
	mu      sync.Mutex
	pending []*attemptReq
	busy    bool
}

const maxAttemptGroup = 64

// record waits for r's group commit, leading one when it is r's turn. Once queued, r is recorded
// whatever happens to ctx (a later caller may depend on it to lead); the commit itself is bounded
// by SQLite's busy timeout.
func (g *attemptGroup) record(ctx context.Context, s *Store, r *attemptReq) error {
	g.mu.Lock()
	g.pending = append(g.pending, r)
	leader := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !leader {
		select {
		case err := <-r.done:
			return err
		case <-r.lead:
		}
	}
	g.mu.Lock()
	n := min(len(g.pending), maxAttemptGroup)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	g.mu.Unlock()
	s.recordAttempts(context.WithoutCancel(ctx), batch)
	g.mu.Lock()
	if len(g.pending) > 0 {
		close(g.pending[0].lead)
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return <-r.done
}

// recordAttempts commits a group of attempts in one transaction and tells each its outcome. When
// one of them fails the transaction, each is recorded again on its own, so that only it fails.
func (s *Store) recordAttempts(ctx context.Context, batch []*attemptReq) {
	errs := make([]error, len(batch))
	err := s.write(ctx, func(tx *sql.Tx) error {
		st := newTxStmts(tx)
		defer st.close()
		for i, r := range batch {
			// ErrNotFound is found before the attempt writes anything: the others go on.
			if errs[i] = s.recordAttemptTx(ctx, st, r); errs[i] != nil && !errors.Is(errs[i], ErrNotFound) {
				return errs[i]
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.done <- s.write(ctx, func(tx *sql.Tx) error {
				st := newTxStmts(tx)
				defer st.close()
				return s.recordAttemptTx(ctx, st, r)
			})
		}
		return
	}
	for i, r := range batch {
		if err != nil {
			errs[i] = err
		}
		r.done <- errs[i]
	}
}

// txStmts prepares each statement of a transaction once, however often it runs: a group commit
// runs the same few statements for each of its attempts, and preparing (parsing) them was a good
// part of its cost.
type txStmts struct {
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

func newTxStmts(tx *sql.Tx) *txStmts { return &txStmts{tx: tx, m: map[string]*sql.Stmt{}} }

func (t *txStmts) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.m[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	t.m[q] = st
	return st, nil
}

func (t *txStmts) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// scanRow runs a query of one row into dest; sql.ErrNoRows when there is none.
func (t *txStmts) scanRow(ctx context.Context, q string, args []any, dest ...any) error {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}

func (t *txStmts) close() {
	for _, st := range t.m {
		st.Close()
	}
}

// recordAttemptTx records one attempt in its group's transaction (see RecordAttempt).
func (s *Store) recordAttemptTx(ctx context.Context, tx *txStmts, r *attemptReq) error {
	a := r.a
	var cur string
	var instanceID int64
	err := tx.scanRow(ctx, `SELECT status, instance_id FROM notifications WHERE id = ?`, []any{a.NotificationID}, &cur, &instanceID)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO attempts
			(notification_id, at, http_status, error, status, next_attempt) VALUES (?, ?, ?, ?, ?, ?)`,
		a.NotificationID, r.at, a.HTTPStatus, a.Error, string(a.Status), r.next); err != nil {
		return err
	}
	newStatus, newDue := r.status, r.due
	if (cur == StatusCancelled || cur == string(engine.StatusQueued)) && a.Status != engine.StatusDelivered {
		newStatus, newDue = cur, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET status = ?, next_attempt = ?,
			attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?`,
		newStatus, newDue, a.Error, s.now().UnixNano(), a.NotificationID); err != nil {
		return err
	}
	switch {
	case newStatus == string(engine.StatusPending):
		if _, err := tx.ExecContext(ctx, `UPDATE events SET status = ? WHERE notification_id = ? AND status <> ?`,
			EventDispatched, a.NotificationID, EventDispatched); err != nil {
			return err
		}
	case newStatus != cur:
		if _, err := tx.ExecContext(ctx, `UPDATE events SET status = ? WHERE notification_id = ?`,
			newStatus, a.NotificationID); err != nil {
			return err
		}
	}
	if newStatus == string(engine.StatusQueued) {
		return queueBehind(ctx, tx.tx, instanceID, a.NotificationID, s.now())
	}
	return nil
}

// queueBehind makes the instance's PENDING notifications later than the queued notification id,
// and their events, QUEUED.
func queueBehind(ctx context.Context, tx *sql.Tx, instanceID int64, id string, now time.Time) error {
	const behind = `SELECT id FROM notifications WHERE instance_id = ? AND status = 'PENDING'
		AND seq > (SELECT seq FROM notifications WHERE id = ?)`
	if _, err := tx.ExecContext(ctx, `UPDATE events SET status = 'QUEUED' WHERE notification_id IN (`+behind+`)`,
		instanceID, id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'QUEUED', next_attempt = NULL, updated_at = ?
		WHERE id IN (`+behind+`)`, now.UnixNano(), instanceID, id)
	return err
}
