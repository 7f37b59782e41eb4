package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pollen-hq/pollen/engine"
)

var (
	_ engine.Store  = (*Store)(nil)
	_ engine.Outbox = (*Store)(nil)
)

// Cursor returns the job's cursor; ok is false when the job has never committed.
func (s *Store) Cursor(ctx context.Context, key engine.JobKey) (engine.Cursor, bool, error) {
	var raw string
	err := s.pool.QueryRow(ctx, `SELECT cursor FROM cursors WHERE instance_id = $1 AND object_type = $2`,
		key.InstanceID, key.ObjectType).Scan(&raw)
	if isNoRows(err) {
		return engine.Cursor{}, false, nil
	}
	if err != nil {
		return engine.Cursor{}, false, fmt.Errorf("postgres: cursor %d/%s: %w", key.InstanceID, key.ObjectType, err)
	}
	var c engine.Cursor
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return engine.Cursor{}, false, fmt.Errorf("postgres: cursor %d/%s: %w", key.InstanceID, key.ObjectType, err)
	}
	return c, true, nil
}

// CommitPoll writes the poll's events (NEW), its notifications (PENDING, due at their CreatedAt)
// and the job's cursor in one transaction, as adapters/sqlite does: events notification by
// notification (eventOrder); QUEUED instead when the instance has a QUEUED notification; ids
// already stored left as they are; ErrNotFound when the instance does not exist.
//
// The notifications take their seqs from outbox_seq in the transaction's last statements (see
// the package doc), and the instance is held FOR KEY SHARE, so that an attempt parking one of its
// notifications, a redelivery or its deletion comes wholly before or after the commit.
func (s *Store) CommitPoll(ctx context.Context, c engine.Commit) error {
	fail := func(err error) error {
		return fmt.Errorf("postgres: commit poll %d/%s: %w", c.Key.InstanceID, c.Key.ObjectType, err)
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
	// Everything but the statuses is known before the transaction.
	type eventRow struct {
		e              *engine.Event
		date, pollDate *int64
	}
	events := make([]eventRow, 0, len(c.Events))
	for _, i := range eventOrder(c) {
		e := &c.Events[i]
		date, err := nanos(e.Date)
		if err != nil {
			return fail(fmt.Errorf("event %s: %w", e.ID, err))
		}
		pollDate, err := nanos(e.PollDate)
		if err != nil {
			return fail(fmt.Errorf("event %s: %w", e.ID, err))
		}
		events = append(events, eventRow{e, date, pollDate})
	}
	now := s.now()
	type noteRow struct {
		n       *engine.Notification
		ids     string
		created *int64
	}
	notes := make([]noteRow, 0, len(c.Notifications))
	for i := range c.Notifications {
		n := &c.Notifications[i]
		ids := n.EventIDs
		if ids == nil {
			ids = []string{}
		}
		idsJSON, err := json.Marshal(ids)
		if err != nil {
			return fail(err)
		}
		created, err := nanos(n.CreatedAt)
		if err != nil {
			return fail(fmt.Errorf("notification %s: %w", n.ID, err))
		}
		notes = append(notes, noteRow{n, string(idsJSON), created})
	}
	var newEvents, newNotes int64
	err = s.write(ctx, func(tx pgx.Tx) error {
		newEvents, newNotes = 0, 0
		if err := checkFence(ctx, tx, c.Fence); err != nil { // leases.go
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`SELECT 1 FROM instances WHERE id = $1 FOR KEY SHARE`, c.Key.InstanceID)
		// A statement of its own, so that it sees what committed while the lock was awaited.
		b.Queue(`SELECT EXISTS (SELECT 1 FROM notifications WHERE instance_id = $1 AND status = 'QUEUED')`, c.Key.InstanceID)
		br := tx.SendBatch(ctx, b)
		var one int
		var queued bool
		err := br.QueryRow().Scan(&one)
		if err == nil {
			err = br.QueryRow().Scan(&queued)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if isNoRows(err) {
			return fmt.Errorf("instance %d: %w", c.Key.InstanceID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		noteStatus, eventStatus := string(engine.StatusPending), EventNew
		if queued {
			noteStatus, eventStatus = string(engine.StatusQueued), string(engine.StatusQueued)
		}
		// One statement for the events, one for the cursor, one for the notifications (taking
		// their seqs last), in one round trip: arrays, not a statement per row.
		b = &pgx.Batch{}
		if len(events) > 0 {
			var ev eventArrays
			for _, r := range events {
				status := eventStatus
				if noteOf[r.e.ID] == "" {
					status = EventNew // carried by no notification: nothing to queue
				}
				ev.add(r.e, r.date, r.pollDate, status, noteOf[r.e.ID])
			}
			b.Queue(`INSERT INTO events
				(id, instance_id, object_type, object_id, event_type, date, poll_date, record, status, notification_id)
				SELECT id, instance_id, object_type, object_id, event_type, date, poll_date, record, status, notification_id
				FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bytea[], $9::text[], $10::text[])
					WITH ORDINALITY AS u(id, instance_id, object_type, object_id, event_type, date, poll_date, record, status, notification_id, ord)
				ORDER BY ord
				ON CONFLICT (id) DO NOTHING`,
				ev.id, ev.instance, ev.objectType, ev.objectID, ev.typ, ev.date, ev.pollDate, ev.record, ev.status, ev.note)
		}
		b.Queue(`INSERT INTO cursors (instance_id, object_type, cursor, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (instance_id, object_type) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
			c.Key.InstanceID, c.Key.ObjectType, string(cur), now.UnixNano())
		if len(notes) > 0 {
			var na noteArrays
			for _, r := range notes {
				var next *int64
				if !queued {
					next = r.created
					if next == nil {
						t := now.UnixNano()
						next = &t
					}
				}
				na.add(r.n, r.ids, r.created, next)
			}
			// Last: the counter's row lock is held from here to COMMIT (see the package doc).
			b.Queue(`WITH top AS (UPDATE outbox_seq SET last = last + $1 RETURNING last)
				INSERT INTO notifications
					(seq, id, instance_id, object_type, event_ids, event_count, created_at, body, status, attempts, next_attempt, updated_at, lanes)
				SELECT (SELECT last FROM top) - $1 + ord, id, instance_id, object_type, event_ids, event_count, created_at, body, $2, 0, next_attempt, $3, lanes
				FROM unnest($4::text[], $5::bigint[], $6::text[], $7::text[], $8::int[], $9::bigint[], $10::bytea[], $11::bigint[], $12::bigint[])
					WITH ORDINALITY AS u(id, instance_id, object_type, event_ids, event_count, created_at, body, next_attempt, lanes, ord)
				ORDER BY ord
				ON CONFLICT (id) DO NOTHING`,
				len(notes), noteStatus, now.UnixNano(),
				na.id, na.instance, na.objectType, na.eventIDs, na.count, na.created, na.body, na.next, na.lanes)
		}
		br = tx.SendBatch(ctx, b)
		defer br.Close()
		if len(events) > 0 {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("events: %w", err)
			}
			newEvents = tag.RowsAffected()
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("cursor: %w", err)
		}
		if len(notes) > 0 {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("notifications: %w", err)
			}
			newNotes = tag.RowsAffected()
		}
		return br.Close()
	})
	if err != nil {
		return fail(err)
	}
	s.log.Debug("poll committed", "instance", c.Key.InstanceID, "object_type", c.Key.ObjectType,
		"events", newEvents, "events_known", int64(len(c.Events))-newEvents,
		"notifications", newNotes, "notifications_known", int64(len(c.Notifications))-newNotes)
	return nil
}

// eventArrays are a commit's events, column by column, for one INSERT ... SELECT FROM unnest.
type eventArrays struct {
	id, objectType, objectID, typ, status, note []string
	instance                                    []int64
	date, pollDate                              []*int64
	record                                      [][]byte
}

func (a *eventArrays) add(e *engine.Event, date, pollDate *int64, status, note string) {
	a.id = append(a.id, e.ID)
	a.instance = append(a.instance, e.InstanceID)
	a.objectType = append(a.objectType, e.ObjectType)
	a.objectID = append(a.objectID, e.ObjectID)
	a.typ = append(a.typ, string(e.Type))
	a.date = append(a.date, date)
	a.pollDate = append(a.pollDate, pollDate)
	a.record = append(a.record, []byte(e.Record))
	a.status = append(a.status, status)
	a.note = append(a.note, note)
}

// noteArrays are a commit's notifications, column by column.
type noteArrays struct {
	id, objectType, eventIDs []string
	instance, lanes          []int64
	count                    []int32
	created, next            []*int64
	body                     [][]byte
}

func (a *noteArrays) add(n *engine.Notification, eventIDs string, created, next *int64) {
	a.id = append(a.id, n.ID)
	a.instance = append(a.instance, n.InstanceID)
	a.objectType = append(a.objectType, n.ObjectType)
	a.eventIDs = append(a.eventIDs, eventIDs)
	a.count = append(a.count, int32(len(n.EventIDs)))
	a.created = append(a.created, created)
	a.body = append(a.body, n.Body)
	a.next = append(a.next, next)
	a.lanes = append(a.lanes, int64(n.Lanes))
}

// eventOrder is the order CommitPoll stores a commit's events in: those of each notification
// together, notifications in order, then the events no notification carries (adapters/sqlite's
// order, so that both histories list a burst alike).
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
// instance, but none behind a QUEUED one of its instance, as adapters/sqlite's Pending. Seqs are
// handed out in commit order (outbox_seq, see the package doc), so a notification committed
// after this read never has a seq at or below one it returns.
func (s *Store) Pending(ctx context.Context, q engine.PendingQuery) ([]engine.Delivery, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	query := `SELECT id, instance_id, object_type, event_count, attempts, next_attempt, seq, lanes
		FROM notifications AS n WHERE status = 'PENDING' AND seq > $1
			AND NOT EXISTS (SELECT 1 FROM notifications AS q
				WHERE q.instance_id = n.instance_id AND q.status = 'QUEUED' AND q.seq < n.seq)`
	args := []any{q.After}
	if q.InstanceID != 0 {
		query += ` AND instance_id = $3`
	}
	args = append(args, q.Limit)
	if q.InstanceID != 0 {
		args = append(args, q.InstanceID)
	}
	rows, err := s.pool.Query(ctx, query+` ORDER BY seq LIMIT $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: pending notifications: %w", err)
	}
	defer rows.Close()
	out := make([]engine.Delivery, 0, min(q.Limit, 256))
	for rows.Next() {
		var d engine.Delivery
		var due *int64
		var lanes int64
		if err := rows.Scan(&d.ID, &d.InstanceID, &d.ObjectType, &d.Events, &d.Attempts, &due, &d.Seq, &lanes); err != nil {
			return nil, fmt.Errorf("postgres: pending notifications: %w", err)
		}
		d.Due, d.Lanes = fromNanos(due), engine.LaneSet(lanes)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: pending notifications: %w", err)
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
	rows, err := s.pool.Query(ctx, `SELECT n.instance_id, n.seq, a.at
		FROM notifications AS n JOIN attempts AS a
			ON a.seq = (SELECT MAX(seq) FROM attempts WHERE notification_id = n.id)
		WHERE n.status = 'QUEUED' AND a.http_status = 410 AND a.status = 'QUEUED'
		ORDER BY a.seq`)
	if err != nil {
		return nil, fmt.Errorf("postgres: stopped instances: %w", err)
	}
	defer rows.Close()
	latest := map[int64]int{}
	var out []engine.DeliveryStop
	for rows.Next() {
		var st engine.DeliveryStop
		var at *int64
		if err := rows.Scan(&st.InstanceID, &st.Seq, &at); err != nil {
			return nil, fmt.Errorf("postgres: stopped instances: %w", err)
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
		return nil, fmt.Errorf("postgres: stopped instances: %w", err)
	}
	return out, nil
}

// NotificationBody returns a notification's body; ErrNotFound when there is no such
// notification.
func (s *Store) NotificationBody(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT body FROM notifications WHERE id = $1`, id).Scan(&b)
	if isNoRows(err) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: notification %s: %w", id, err)
	}
	return b, nil
}

// RecordAttempt records one delivery attempt and moves the notification on, by the rules of
// adapters/sqlite's RecordAttempt: NOTIFIED settles it; a Next keeps it PENDING, due then; a zero
// Next settles it as a.Status (PENDING with a zero Next is due again at a.At); its events become
// DISPATCHED, then take its final status; settled as QUEUED, the instance's later PENDING
// notifications queue behind it; one cancelled or queued meanwhile stays so unless this attempt
// delivered it. ErrNotFound when the notification does not exist.
//
// Concurrent calls are committed together, in one transaction (a group commit), as in SQLite;
// an attempt that fails fails alone.
func (s *Store) RecordAttempt(ctx context.Context, a engine.Attempt) error {
	fail := func(err error) error {
		return fmt.Errorf("postgres: record attempt %s: %w", a.NotificationID, err)
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
			t := s.now().UnixNano()
			r.due = &t
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
	at, next, due *int64
	status        string
	done          chan error    // the outcome
	lead          chan struct{} // closed when this call is to commit the next group
}

// attemptGroup batches concurrent RecordAttempt calls: the first caller leads, commits every call
// pending (at most maxAttemptGroup), then hands the lead to the oldest call still pending.
type attemptGroup struct {
	mu      sync.Mutex
	pending []*attemptReq
	busy    bool
}

const maxAttemptGroup = 64

// record waits for r's group commit, leading one when it is r's turn. Once queued, r is recorded
// whatever happens to ctx (a later caller may depend on it to lead).
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

// attemptTimeout bounds a group commit, which runs without its callers' contexts.
const attemptTimeout = time.Minute

// recordAttempts commits a group of attempts in one transaction and tells each its outcome. When
// one of them fails the transaction, each is recorded again on its own, so that only it fails.
func (s *Store) recordAttempts(ctx context.Context, batch []*attemptReq) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	errs := make([]error, len(batch))
	err := s.write(ctx, func(tx pgx.Tx) error {
		clear(errs)
		if groupable(batch) {
			return s.recordGroupTx(ctx, tx, batch, errs)
		}
		for i, r := range batch {
			// ErrNotFound and ErrFenced are found before the attempt writes anything: the others
			// go on.
			if errs[i] = s.recordAttemptTx(ctx, tx, r); errs[i] != nil && !errors.Is(errs[i], ErrNotFound) && !errors.Is(errs[i], engine.ErrFenced) {
				return errs[i]
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.done <- s.write(ctx, func(tx pgx.Tx) error { return s.recordAttemptTx(ctx, tx, r) })
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

// groupable reports whether a group of attempts may be recorded by recordGroupTx: each of its own
// notification, none that may park its notification as QUEUED (those hold the instance first).
func groupable(batch []*attemptReq) bool {
	if len(batch) < 2 {
		return false
	}
	seen := make(map[string]bool, len(batch))
	for _, r := range batch {
		if seen[r.a.NotificationID] || r.status == string(engine.StatusQueued) {
			return false
		}
		seen[r.a.NotificationID] = true
	}
	return true
}

// recordGroupTx records a groupable group of attempts as recordAttemptTx records each, in two
// round trips: the notifications read and locked in one statement (in id order, as any group
// locks them), then every write in one pipeline. errs[i] is ErrNotFound for an attempt whose
// notification does not exist.
func (s *Store) recordGroupTx(ctx context.Context, tx pgx.Tx, batch []*attemptReq, errs []error) error {
	fenced, err := checkFences(ctx, tx, batch) // leases.go
	if err != nil {
		return err
	}
	ids := make([]string, len(batch))
	for i, r := range batch {
		ids[i] = r.a.NotificationID
	}
	rows, err := tx.Query(ctx, `SELECT id, status, instance_id FROM notifications WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return err
	}
	type state struct {
		status   string
		instance int64
	}
	cur := make(map[string]state, len(batch))
	for rows.Next() {
		var id string
		var st state
		if err := rows.Scan(&id, &st.status, &st.instance); err != nil {
			rows.Close()
			return err
		}
		cur[id] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now := s.now().UnixNano()
	b := &pgx.Batch{}
	for i, r := range batch {
		a := r.a
		if fenced[i] != nil {
			errs[i] = fenced[i]
			continue
		}
		st, ok := cur[a.NotificationID]
		if !ok {
			errs[i] = ErrNotFound
			continue
		}
		recordWrites(b, r, st.status, st.instance, now)
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// recordWrites queues the writes of one attempt on a notification whose status is cur.
func recordWrites(b *pgx.Batch, r *attemptReq, cur string, instanceID, now int64) {
	a := r.a
	newStatus, newDue := r.status, r.due
	if (cur == StatusCancelled || cur == string(engine.StatusQueued)) && a.Status != engine.StatusDelivered {
		newStatus, newDue = cur, nil
	}
	b.Queue(`INSERT INTO attempts (notification_id, at, http_status, error, status, next_attempt) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.NotificationID, r.at, a.HTTPStatus, a.Error, string(a.Status), r.next)
	b.Queue(`UPDATE notifications SET status = $1, next_attempt = $2, attempts = attempts + 1, last_error = $3, updated_at = $4
		WHERE id = $5`, newStatus, newDue, a.Error, now, a.NotificationID)
	switch {
	case newStatus == string(engine.StatusPending):
		b.Queue(`UPDATE events SET status = $1 WHERE notification_id = $2 AND status <> $1`, EventDispatched, a.NotificationID)
	case newStatus != cur:
		b.Queue(`UPDATE events SET status = $1 WHERE notification_id = $2`, newStatus, a.NotificationID)
	}
	if newStatus == string(engine.StatusQueued) {
		// Parked by this attempt (the instance is held: see recordAttemptTx), or queued behind
		// another meanwhile (the later ones are queued already, and commits see it QUEUED).
		queueBehind(b, instanceID, a.NotificationID, now)
	}
}

// recordAttemptTx records one attempt in its group's transaction (see RecordAttempt).
func (s *Store) recordAttemptTx(ctx context.Context, tx pgx.Tx, r *attemptReq) error {
	a := r.a
	if err := checkFence(ctx, tx, a.Fence); err != nil { // leases.go
		return err
	}
	var cur string
	var instanceID int64
	if r.status == string(engine.StatusQueued) {
		// It may park the notification and queue the instance's later ones behind it: hold the
		// instance first, as CommitPoll, Requeue and DeleteInstance do, so that no commit of the
		// instance lands in between. (No row: the instance is deleted, the notification cancelled.)
		err := tx.QueryRow(ctx, `SELECT instance_id FROM notifications WHERE id = $1`, a.NotificationID).Scan(&instanceID)
		if isNoRows(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM instances WHERE id = $1 FOR UPDATE`, instanceID); err != nil {
			return err
		}
	}
	err := tx.QueryRow(ctx, `SELECT status, instance_id FROM notifications WHERE id = $1 FOR UPDATE`, a.NotificationID).Scan(&cur, &instanceID)
	if isNoRows(err) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	recordWrites(b, r, cur, instanceID, s.now().UnixNano())
	return tx.SendBatch(ctx, b).Close()
}

// queueBehind queues the statements making the instance's PENDING notifications later than the
// queued notification id, and their events, QUEUED.
func queueBehind(b *pgx.Batch, instanceID int64, id string, now int64) {
	const behind = `SELECT id FROM notifications WHERE instance_id = $1 AND status = 'PENDING'
		AND seq > (SELECT seq FROM notifications WHERE id = $2)`
	b.Queue(`UPDATE events SET status = 'QUEUED' WHERE notification_id IN (`+behind+`)`, instanceID, id)
	b.Queue(`UPDATE notifications SET status = 'QUEUED', next_attempt = NULL, updated_at = $3
		WHERE id IN (`+behind+`)`, instanceID, id, now)
}
