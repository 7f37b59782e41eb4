package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// outboxFake is an in-memory Store and Outbox for the deliverer's tests. It passes the outbox
// part of the store contract (engine/storetest, run on it by outbox_contract_test.go), so that
// what the deliverer is tested against is what SQLite and PostgreSQL do: Pending in Seq order; an
// attempt with a Next is retried then, one without is settled as its Status says; a QUEUED one
// holds the instance's later ones (and commits are QUEUED while the instance has one);
// RequeueInstance gives the requeued ones new Seqs after every other.
//
// Beyond the contract, a test may make it fail (err, bodyErr, recordErr) or watch it (readHook,
// pendingCalls, attempts).
type outboxFake struct {
	mu           sync.Mutex
	now          func() time.Time // the store's clock; nil = the zero time
	items        []*outboxItem    // in Seq order
	seq          int64
	events       map[string]bool // the ids of the events committed
	cursors      map[JobKey][]byte
	attempts     []Attempt
	pendingCalls int
	err          error
	readHook     func() // when set, called once by the next Pending, after it has read
	bodyErr      error  // when set, NotificationBody fails with it
	recordErr    error  // when set, RecordAttempt fails with it (and records nothing)
}

type outboxItem struct {
	d      Delivery
	body   []byte
	status DeliveryStatus
	last   Attempt // the last attempt recorded
	lastN  int     // its place in attempts
}

var (
	_ Store  = (*outboxFake)(nil)
	_ Outbox = (*outboxFake)(nil)
)

func (o *outboxFake) clock() time.Time {
	if o.now == nil {
		return time.Time{}
	}
	return o.now()
}

// add commits a notification of one event with every lane (so that an instance's notifications
// go one at a time, oldest first).
func (o *outboxFake) add(instanceID int64, id string, body string) {
	o.addLanes(instanceID, id, body, 0)
}

// addLanes commits a notification of one event with the given lanes.
func (o *outboxFake) addLanes(instanceID int64, id string, body string, lanes LaneSet) {
	key := JobKey{InstanceID: instanceID, ObjectType: "incidents"}
	ev := Event{ID: id + "-e", InstanceID: instanceID, ObjectType: key.ObjectType, ObjectID: id, Type: Updated}
	err := o.CommitPoll(context.Background(), Commit{Key: key, Events: []Event{ev},
		Notifications: []Notification{{ID: id, InstanceID: instanceID, ObjectType: key.ObjectType,
			EventIDs: []string{ev.ID}, Body: []byte(body), Lanes: lanes}}})
	if err != nil {
		panic(err)
	}
}

// Cursor returns the job's last committed cursor.
func (o *outboxFake) Cursor(_ context.Context, key JobKey) (Cursor, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, ok := o.cursors[key]
	if !ok {
		return Cursor{}, false, nil
	}
	var c Cursor
	err := json.Unmarshal(b, &c)
	return c, true, err
}

// CommitPoll stores the commit's notifications PENDING (QUEUED while the instance has a QUEUED
// one), due at their CreatedAt or now, and its cursor; ids already stored are left as they are.
// It checks everything before writing anything.
func (o *outboxFake) CommitPoll(ctx context.Context, c Commit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cur, err := json.Marshal(c.Cursor)
	if err != nil {
		return err
	}
	for _, e := range c.Events {
		if e.ID == "" {
			return errors.New("an event without an id")
		}
	}
	for _, n := range c.Notifications {
		if n.ID == "" {
			return errors.New("a notification without an id")
		}
		for _, id := range n.EventIDs {
			if id == "" {
				return fmt.Errorf("notification %s: an event without an id", n.ID)
			}
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.events == nil {
		o.events, o.cursors = map[string]bool{}, map[JobKey][]byte{}
	}
	status := StatusPending
	for _, it := range o.items {
		if it.d.InstanceID == c.Key.InstanceID && it.status == StatusQueued {
			status = StatusQueued
		}
	}
	for _, e := range c.Events {
		o.events[e.ID] = true
	}
	for _, n := range c.Notifications {
		if o.item(n.ID) != nil {
			continue
		}
		due := n.CreatedAt
		if due.IsZero() {
			due = o.clock()
		}
		o.seq++
		o.items = append(o.items, &outboxItem{
			d: Delivery{ID: n.ID, InstanceID: n.InstanceID, ObjectType: n.ObjectType, Lanes: n.Lanes,
				Events: len(n.EventIDs), Due: due, Seq: o.seq},
			body: append([]byte(nil), n.Body...), status: status,
		})
	}
	o.cursors[c.Key] = cur
	return nil
}

func (o *outboxFake) item(id string) *outboxItem {
	for _, it := range o.items {
		if it.d.ID == id {
			return it
		}
	}
	return nil
}

func (o *outboxFake) statusOf(id string) DeliveryStatus {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.item(id).status
}

func (o *outboxFake) Pending(_ context.Context, q PendingQuery) ([]Delivery, error) {
	o.mu.Lock()
	o.pendingCalls++
	if o.err != nil {
		o.mu.Unlock()
		return nil, o.err
	}
	var out []Delivery
	for _, it := range o.items {
		if it.status == StatusPending && it.d.Seq > q.After && (q.InstanceID == 0 || it.d.InstanceID == q.InstanceID) && len(out) < q.Limit {
			out = append(out, it.d)
		}
	}
	hook := o.readHook
	o.readHook = nil
	o.mu.Unlock()
	if hook != nil {
		hook()
	}
	return out, nil
}

func (o *outboxFake) NotificationBody(_ context.Context, id string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bodyErr != nil {
		return nil, o.bodyErr
	}
	if it := o.item(id); it != nil {
		return it.body, nil
	}
	return nil, fmt.Errorf("notification %s: %w", id, ErrNotFound)
}

func (o *outboxFake) RecordAttempt(_ context.Context, a Attempt) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.recordErr != nil {
		return o.recordErr
	}
	it := o.item(a.NotificationID)
	if it == nil {
		return fmt.Errorf("notification %s: %w", a.NotificationID, ErrNotFound)
	}
	o.attempts = append(o.attempts, a)
	it.d.Attempts++
	it.last, it.lastN = a, len(o.attempts)
	switch {
	case a.Status == StatusDelivered:
		it.status = StatusDelivered
	case it.status == StatusQueued: // queued behind another while it was being sent
	case !a.Next.IsZero():
		it.status, it.d.Due = StatusPending, a.Next
	case a.Status == StatusPending || a.Status == "": // not settled: due again at once
		it.status, it.d.Due = StatusPending, a.At
	default:
		it.status = a.Status
	}
	if it.status == StatusQueued {
		for _, later := range o.items {
			if later.d.InstanceID == it.d.InstanceID && later.d.Seq > it.d.Seq && later.status == StatusPending {
				later.status = StatusQueued
			}
		}
	}
	return nil
}

// RequeueInstance makes the instance's QUEUED notifications PENDING again, due now, with new
// Seqs after every other, in their order.
func (o *outboxFake) RequeueInstance(_ context.Context, instanceID int64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var queued, rest []*outboxItem
	for _, it := range o.items {
		if it.d.InstanceID == instanceID && it.status == StatusQueued {
			queued = append(queued, it)
		} else {
			rest = append(rest, it)
		}
	}
	now := o.clock()
	for _, it := range queued {
		o.seq++
		it.d.Seq = o.seq
		it.status, it.d.Attempts, it.d.Due = StatusPending, 0, now
	}
	o.items = append(rest, queued...)
	return len(queued), nil
}

// requeue is RequeueInstance for tests.
func (o *outboxFake) requeue(instanceID int64) int {
	n, _ := o.RequeueInstance(context.Background(), instanceID)
	return n
}

// Stopped returns, per instance, the QUEUED notification whose last attempt, a 410 recorded as
// QUEUED, was recorded last.
func (o *outboxFake) Stopped(context.Context) ([]DeliveryStop, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	latest := map[int64]*outboxItem{}
	for _, it := range o.items {
		if it.status != StatusQueued || it.last.HTTPStatus != 410 || it.last.Status != StatusQueued {
			continue
		}
		if l, ok := latest[it.d.InstanceID]; !ok || it.lastN > l.lastN {
			latest[it.d.InstanceID] = it
		}
	}
	its := slices.Collect(maps.Values(latest))
	slices.SortFunc(its, func(a, b *outboxItem) int { return cmp.Compare(a.lastN, b.lastN) })
	var out []DeliveryStop
	for _, it := range its {
		out = append(out, DeliveryStop{InstanceID: it.d.InstanceID, Seq: it.d.Seq, At: it.last.At})
	}
	return out, nil
}

func (o *outboxFake) recorded() []Attempt {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Attempt(nil), o.attempts...)
}

// recordedFor returns the attempts recorded for one notification.
func (o *outboxFake) recordedFor(id string) []Attempt {
	var out []Attempt
	for _, a := range o.recorded() {
		if a.NotificationID == id {
			out = append(out, a)
		}
	}
	return out
}

func (o *outboxFake) setReadHook(f func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.readHook = f
}
