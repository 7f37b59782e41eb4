package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

func init() {
	register("Pending", testPending)
	register("PendingDueAtCommit", testPendingDueAtCommit)
	register("PendingMissesNothing", testPendingMissesNothing)
	register("NotificationBody", testNotificationBody)
	register("RecordAttempt", testRecordAttempt)
	register("RecordAttemptUnknown", testRecordAttemptUnknown)
	register("RecordAttemptsConcurrently", testRecordAttemptsConcurrently)
	register("QueuedHoldsLaterOnes", testQueuedHoldsLaterOnes)
	register("QueuedIsParked", testQueuedIsParked)
	register("QueuedMeanwhile", testQueuedMeanwhile)
	register("RequeueInstance", testRequeueInstance)
	register("RequeueTakesNewPlaces", testRequeueTakesNewPlaces)
	register("Stopped", testStopped)
}

// Pending returns PENDING notifications in outbox order, due or not, of any instance (disabled
// ones too), after a Seq and of one instance when asked, at most Limit, with what the deliverer
// holds of them.
func testPending(t *testing.T, e *env) {
	a, b, c := e.instance(t, "a"), e.instance(t, "b"), e.instance(t, "c")
	e.commit(t, MakeCommit(a, "tickets", "a1", 20, t0, CursorAt(t0)))                // a1-n000, a1-n001
	e.commit(t, MakeCommit(b, "tickets", "b1", 10, t0.Add(time.Hour), CursorAt(t0))) // due only an hour later
	e.commit(t, MakeCommit(c, "contacts", "c1", 7, t0, CursorAt(t0)))
	e.commit(t, MakeCommit(a, "contacts", "a2", 10, t0, CursorAt(t0)))
	e.commit(t, MakeCommit(c, "tickets", "c2", 10, t0, CursorAt(t0)))

	all := []string{"a1-n000", "a1-n001", "b1-n000", "c1-n000", "a2-n000", "c2-n000"}
	if got := e.pending(t, engine.PendingQuery{Limit: 10}); !reflect.DeepEqual(got, all) {
		t.Errorf("pending: %v, want %v", got, all)
	}
	if got := e.pending(t, engine.PendingQuery{Limit: 2}); !reflect.DeepEqual(got, all[:2]) {
		t.Errorf("pending, limit 2: %v, want %v", got, all[:2])
	}
	ds := e.deliveries(t, engine.PendingQuery{Limit: 10})
	for i := 1; i < len(ds); i++ {
		if ds[i].Seq <= ds[i-1].Seq {
			t.Errorf("seqs not increasing: %+v", ds)
		}
	}
	// Reading claims nothing: what was read and not recorded (a deliverer that crashed) is read
	// again, the same.
	if again := e.deliveries(t, engine.PendingQuery{Limit: 10}); !reflect.DeepEqual(again, ds) {
		t.Errorf("read again: %+v, want %+v", again, ds)
	}
	if got := e.pending(t, engine.PendingQuery{After: ds[2].Seq, Limit: 10}); !reflect.DeepEqual(got, all[3:]) {
		t.Errorf("pending after %s: %v, want %v", ds[2].ID, got, all[3:])
	}
	if got := e.pending(t, engine.PendingQuery{After: ds[5].Seq, Limit: 10}); len(got) != 0 {
		t.Errorf("pending after the last: %v", got)
	}
	if got, want := e.pending(t, engine.PendingQuery{InstanceID: a, Limit: 10}), []string{"a1-n000", "a1-n001", "a2-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending of a: %v, want %v", got, want)
	}
	if got, want := e.pending(t, engine.PendingQuery{InstanceID: a, After: ds[0].Seq, Limit: 1}), []string{"a1-n001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending of a after a1-n000, limit 1: %v, want %v", got, want)
	}
	if got := e.pending(t, engine.PendingQuery{InstanceID: c + 1000, Limit: 10}); len(got) != 0 {
		t.Errorf("pending of an unknown instance: %v", got)
	}
	for _, limit := range []int{0, -1} {
		if got := e.pending(t, engine.PendingQuery{Limit: limit}); len(got) != 0 {
			t.Errorf("limit %d: %v", limit, got)
		}
	}
	want := []engine.Delivery{
		{ID: "a1-n000", InstanceID: a, ObjectType: "tickets", Lanes: 1, Events: 10, Due: t0, Seq: ds[0].Seq},
		{ID: "a1-n001", InstanceID: a, ObjectType: "tickets", Lanes: 2, Events: 10, Due: t0, Seq: ds[1].Seq},
		{ID: "b1-n000", InstanceID: b, ObjectType: "tickets", Lanes: 1, Events: 10, Due: t0.Add(time.Hour), Seq: ds[2].Seq},
		{ID: "c1-n000", InstanceID: c, ObjectType: "contacts", Lanes: 1, Events: 7, Due: t0, Seq: ds[3].Seq},
	}
	if !reflect.DeepEqual(ds[:4], want) {
		t.Errorf("deliveries\n got %+v\nwant %+v", ds[:4], want)
	}

	// A failed attempt: due again later, its attempt counted. Delivered, or queued: not pending.
	e.record(t, engine.Attempt{NotificationID: "a1-n000", At: t0, HTTPStatus: 500, Status: engine.StatusPending, Next: t0.Add(time.Minute)})
	ds = e.deliveries(t, engine.PendingQuery{InstanceID: a, Limit: 1})
	if len(ds) != 1 || ds[0].Attempts != 1 || !ds[0].Due.Equal(t0.Add(time.Minute)) {
		t.Errorf("after a failure: %+v, want one attempt, due in a minute", ds)
	}
	e.deliver(t, "a1-n000", t0.Add(time.Minute))
	e.queue(t, "c1-n000", t0)
	if e.Instances != nil {
		// Disabled instances' notifications are pending all the same: the deliverer knows what
		// is live.
		rec, err := e.Instances.Instance(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		rec.Disabled = true
		if err := e.Instances.UpdateInstance(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := e.allPending(t), []string{"a1-n001", "b1-n000", "a2-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending: %v, want %v (c's queued behind c1-n000)", got, want)
	}
}

// A deliverer reading what is new (Pending after the last Seq it saw) while commits run
// concurrently misses nothing: a notification it has not been given never has a Seq at or below
// one it has.
func testPendingMissesNothing(t *testing.T, e *env) {
	const writers, commits = 6, 20
	ids := make([]int64, writers)
	for i := range ids {
		ids[i] = e.instance(t, fmt.Sprint("w", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*commits)
	for w, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range commits {
				if err := e.Store.CommitPoll(ctx, MakeCommit(id, "tickets", fmt.Sprintf("w%d-c%d", w, i), 15, t0, CursorAt(t0))); err != nil {
					errs <- err
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]bool{}
	var after int64
	read := func() {
		for {
			ds, err := e.Outbox.Pending(ctx, engine.PendingQuery{After: after, Limit: 7})
			if err != nil {
				t.Errorf("Pending: %v", err)
				return
			}
			for _, d := range ds {
				if seen[d.ID] {
					t.Errorf("%s returned twice", d.ID)
				}
				seen[d.ID] = true
				after = d.Seq
			}
			if len(ds) < 7 {
				return
			}
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		read() // after done: once more, with every commit finished
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if all := e.allPending(t); len(seen) != len(all) || len(all) != writers*commits*2 {
		t.Errorf("read %d notifications while they were committed, %d pending; want %d", len(seen), len(all), writers*commits*2)
	}
}

// A notification is due at its CreatedAt; one without, at its commit (the store's clock).
func testPendingDueAtCommit(t *testing.T, e *env) {
	id := e.instance(t, "a")
	c := MakeCommit(id, "tickets", "p", 3, t0, CursorAt(t0))
	c.Notifications[0].CreatedAt = time.Time{}
	e.clock.Set(t0.Add(5 * time.Minute))
	e.commit(t, c)
	if d, ok := e.delivery(t, "p-n000"); !ok || !d.Due.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("delivery %+v (%v), want due at the commit", d, ok)
	}
}

// A notification's body comes back byte for byte; ErrNotFound for one that does not exist.
func testNotificationBody(t *testing.T, e *env) {
	id := e.instance(t, "a")
	c := e.commitNew(t, id, "tickets", "p", 25)
	big := bytes.Repeat([]byte{0, 1, 0xff, 'x'}, 100_000)
	c2 := MakeCommit(id, "tickets", "big", 1, t0, CursorAt(t0))
	c2.Notifications[0].Body = big
	e.commit(t, c2)
	e.deliver(t, "p-n001", t0)
	for _, n := range append(c.Notifications, c2.Notifications...) {
		b, err := e.Outbox.NotificationBody(ctx, n.ID)
		if err != nil || !bytes.Equal(b, n.Body) {
			t.Errorf("body of %s: %d bytes %v; want %d bytes", n.ID, len(b), err, len(n.Body))
		}
	}
	if _, err := e.Outbox.NotificationBody(ctx, "no-such"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("body of a missing notification: %v, want ErrNotFound", err)
	}
}

// RecordAttempt: a.Next set, still PENDING and due then (whatever a.Status says but NOTIFIED);
// PENDING with a zero Next, due again at a.At; NOTIFIED settles; FAILED with a zero Next is given
// up. Attempts are counted and kept, oldest first; events are DISPATCHED while attempted and
// pending, then take their notification's status.
func testRecordAttempt(t *testing.T, e *env) {
	id := e.instance(t, "acme")
	e.commitNew(t, id, "tickets", "p", 30)

	at1 := t0.Add(1500 * time.Millisecond)
	e.record(t, engine.Attempt{NotificationID: "p-n000", At: at1, HTTPStatus: 502, Error: "bad gateway", Status: engine.StatusFailed, Next: t0.Add(time.Minute)})
	if d, ok := e.delivery(t, "p-n000"); !ok || d.Attempts != 1 || !d.Due.Equal(t0.Add(time.Minute)) {
		t.Errorf("after a failure to retry: %+v %v; want pending, one attempt, due at Next", d, ok)
	}
	e.wantStatus(t, map[string]string{"p-n000": engine.EventDispatched, "p-n001": engine.EventNew})

	e.record(t, engine.Attempt{NotificationID: "p-n000", At: t0.Add(2 * time.Minute), Error: "dial: refused", Status: engine.StatusPending})
	if d, ok := e.delivery(t, "p-n000"); !ok || d.Attempts != 2 || !d.Due.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after a pending attempt without Next: %+v %v; want pending, due at its At", d, ok)
	}
	e.record(t, engine.Attempt{NotificationID: "p-n000", At: t0.Add(3 * time.Minute), HTTPStatus: 200, Status: engine.StatusDelivered,
		Next: t0.Add(time.Hour)}) // a Next on a delivery means nothing
	if _, ok := e.delivery(t, "p-n000"); ok {
		t.Error("a delivered notification is pending")
	}
	e.wantStatus(t, map[string]string{"p-n000": "NOTIFIED", "p-n001": engine.EventNew})
	want := []engine.Attempt{
		{NotificationID: "p-n000", At: at1, HTTPStatus: 502, Error: "bad gateway", Status: engine.StatusFailed, Next: t0.Add(time.Minute)},
		{NotificationID: "p-n000", At: t0.Add(2 * time.Minute), Error: "dial: refused", Status: engine.StatusPending},
		{NotificationID: "p-n000", At: t0.Add(3 * time.Minute), HTTPStatus: 200, Status: engine.StatusDelivered, Next: t0.Add(time.Hour)},
	}
	if e.Events != nil {
		ev, atts, err := e.Events.Event(ctx, "p-e005")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(atts, want) {
			t.Errorf("attempts\n got %+v\nwant %+v", atts, want)
		}
		wantEv := engine.EventRecord{ID: "p-e005", InstanceID: id, ObjectType: "tickets", ObjectID: "5", EventType: "UPDATED",
			Date: t0.Add(-25 * time.Millisecond), PollDate: t0, Status: "NOTIFIED", NotificationID: "p-n000", Record: []byte(`{"id":5}`)}
		if !reflect.DeepEqual(*ev, wantEv) {
			t.Errorf("event\n got %+v\nwant %+v", *ev, wantEv)
		}
	}

	// Given up: FAILED, not pending; the next one is the instance's oldest pending.
	e.giveUp(t, "p-n001", t0)
	e.wantStatus(t, map[string]string{"p-n001": "FAILED"})
	if got, want := e.allPending(t), []string{"p-n002"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending after give-up: %v, want %v", got, want)
	}
}

// An attempt of a notification that does not exist is ErrNotFound and recorded nowhere.
func testRecordAttemptUnknown(t *testing.T, e *env) {
	id := e.instance(t, "acme")
	e.commitNew(t, id, "tickets", "p", 5)
	if err := e.Outbox.RecordAttempt(ctx, engine.Attempt{NotificationID: "nope", At: t0, Status: engine.StatusDelivered}); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("unknown notification: %v, want ErrNotFound", err)
	}
	if got := e.allPending(t); !reflect.DeepEqual(got, []string{"p-n000"}) {
		t.Errorf("pending %v", got)
	}
}

// Many attempts recorded at once each get their own outcome: the one of a notification that
// does not exist fails alone.
func testRecordAttemptsConcurrently(t *testing.T, e *env) {
	var ids []string
	for i := range 20 {
		c := MakeCommit(e.instance(t, fmt.Sprint("i", i)), "tickets", fmt.Sprint("c", i), 100, t0, CursorAt(t0, "1"))
		e.commit(t, c)
		for _, n := range c.Notifications {
			ids = append(ids, n.ID)
		}
	}
	ids = append(ids, "no-such-notification")
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := engine.Attempt{NotificationID: id, At: t0.Add(time.Minute), HTTPStatus: 200, Status: engine.StatusDelivered}
			if i%10 == 0 { // some fail, to be retried
				a = engine.Attempt{NotificationID: id, At: t0.Add(time.Minute), HTTPStatus: 503, Error: "HTTP 503",
					Status: engine.StatusPending, Next: t0.Add(2 * time.Minute)}
			}
			errs[i] = e.Outbox.RecordAttempt(ctx, a)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case ids[i] == "no-such-notification":
			if !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", ids[i], err)
			}
		case err != nil:
			t.Errorf("%s: %v", ids[i], err)
		}
	}
	ds := e.deliveries(t, engine.PendingQuery{Limit: 1000})
	if len(ds) != 20 {
		t.Errorf("%d pending, want 20", len(ds))
	}
	for _, d := range ds {
		if d.Attempts != 1 || !d.Due.Equal(t0.Add(2*time.Minute)) || d.ID[len(d.ID)-1] != '0' {
			t.Errorf("pending %+v; want the first notification of each instance, one attempt, due at its Next", d)
		}
	}
	if e.Events != nil {
		evs, _, err := e.Events.Events(ctx, engine.EventFilter{Status: "NOTIFIED"})
		if err != nil || len(evs) != 1800 {
			t.Errorf("%d events NOTIFIED (%v), want 1800", len(evs), err)
		}
	}
}

// A notification settled QUEUED holds its instance's later notifications: QUEUED too, those
// committed afterwards as well, until redelivery; other instances go on.
func testQueuedHoldsLaterOnes(t *testing.T, e *env) {
	a, b := e.instance(t, "a"), e.instance(t, "b")
	e.commitNew(t, a, "tickets", "a1", 30) // a1-n000..n002
	e.commitNew(t, b, "tickets", "b1", 10)

	e.retry(t, "a1-n000", t0, t0.Add(time.Minute))
	e.queue(t, "a1-n000", t0.Add(time.Minute))
	if got, want := e.allPending(t), []string{"b1-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending: %v, want %v", got, want)
	}
	e.wantStatus(t, map[string]string{"a1-n000": "QUEUED", "a1-n001": "QUEUED", "a1-n002": "QUEUED", "b1-n000": engine.EventNew})

	// A later poll of a queues behind too; b's do not.
	e.commit(t, MakeCommit(a, "contacts", "a2", 5, t0.Add(time.Hour), CursorAt(t0)))
	e.commit(t, MakeCommit(b, "contacts", "b2", 5, t0.Add(time.Hour), CursorAt(t0)))
	if got, want := e.allPending(t), []string{"b1-n000", "b2-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending after new polls: %v, want %v", got, want)
	}
	e.wantStatus(t, map[string]string{"a2-n000": "QUEUED", "b2-n000": engine.EventNew})

	if e.Events != nil {
		// The queue, oldest first, per instance or all.
		if got, want := e.queuedIDs(t, a, 0), []string{"a1-n000", "a1-n001", "a1-n002", "a2-n000"}; !reflect.DeepEqual(got, want) {
			t.Errorf("queued of a: %v, want %v", got, want)
		}
		if got, want := e.queuedIDs(t, 0, 2), []string{"a1-n000", "a1-n001"}; !reflect.DeepEqual(got, want) {
			t.Errorf("queued, limit 2: %v, want %v", got, want)
		}
		if got := e.queuedIDs(t, b, 0); len(got) != 0 {
			t.Errorf("queued of b: %v", got)
		}
		qs, err := e.Events.Queued(ctx, a, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := engine.QueuedNotification{ID: "a1-n000", InstanceID: a, ObjectType: "tickets", CreatedAt: t0, Attempts: 2,
			LastError: "down: a1-n000", EventIDs: []string{"a1-e000", "a1-e001", "a1-e002", "a1-e003", "a1-e004",
				"a1-e005", "a1-e006", "a1-e007", "a1-e008", "a1-e009"}}
		if !reflect.DeepEqual(qs, []engine.QueuedNotification{want}) {
			t.Errorf("queued\n got %+v\nwant %+v", qs, want)
		}
		if qs, err := e.Events.Queued(ctx, a, 0); err != nil || len(qs) != 4 || qs[1].Attempts != 0 || qs[1].LastError != "" {
			t.Errorf("queued behind: %+v %v; want never attempted", qs, err)
		}
	}
	// Redelivery sends them again in order, and new polls are pending again.
	if n, err := e.Outbox.RequeueInstance(ctx, a); err != nil || n != 4 {
		t.Errorf("RequeueInstance: %d %v, want 4", n, err)
	}
	e.commit(t, MakeCommit(a, "contacts", "a3", 5, t0.Add(time.Hour), CursorAt(t0)))
	if got, want := e.pending(t, engine.PendingQuery{InstanceID: a, Limit: 10}), []string{"a1-n000", "a1-n001", "a1-n002", "a2-n000", "a3-n000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending of a after redelivery: %v, want %v", got, want)
	}
}

// A queued notification is parked: never due again by itself, however late, so a dead receiver
// is not hammered. Re-sending it is an explicit act.
func testQueuedIsParked(t *testing.T, e *env) {
	id := e.instance(t, "acme")
	e.commitNew(t, id, "tickets", "q", 5)
	e.queue(t, "q-n000", t0.Add(time.Minute))
	e.clock.Set(t0.Add(365 * 24 * time.Hour))
	if got := e.allPending(t); len(got) != 0 {
		t.Errorf("pending: %v", got)
	}
	e.wantStatus(t, map[string]string{"q-n000": "QUEUED"})
}

// A notification queued behind another while it was being sent stays QUEUED when its attempt
// fails, whatever the attempt says, and is NOTIFIED when it was delivered.
func testQueuedMeanwhile(t *testing.T, e *env) {
	a := e.instance(t, "a")
	e.commitNew(t, a, "tickets", "a", 40)
	e.queue(t, "a-n000", t0) // a-n001..a-n003, in flight, queue behind it
	e.record(t, engine.Attempt{NotificationID: "a-n001", At: t0, HTTPStatus: 500, Status: engine.StatusPending, Next: t0.Add(time.Minute)})
	e.deliver(t, "a-n002", t0)
	e.giveUp(t, "a-n003", t0)
	if got := e.allPending(t); len(got) != 0 {
		t.Errorf("pending: %v", got)
	}
	e.wantStatus(t, map[string]string{"a-n001": "QUEUED", "a-n002": "NOTIFIED", "a-n003": "QUEUED"})
	if e.Events != nil {
		if qs, err := e.Events.Queued(ctx, a, 0); err != nil || len(qs) != 3 || qs[1].ID != "a-n001" || qs[1].Attempts != 1 {
			t.Errorf("queued: %+v %v; want a-n000, a-n001 (one attempt), a-n003", qs, err)
		}
	}
	if n, err := e.Outbox.RequeueInstance(ctx, a); err != nil || n != 3 {
		t.Errorf("RequeueInstance: %d %v, want 3", n, err)
	}
	if got, want := e.allPending(t), []string{"a-n000", "a-n001", "a-n003"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending after redelivery: %v, want %v", got, want)
	}
}

// RequeueInstance makes every QUEUED notification of the instance PENDING again: due now, no
// attempt counted, in their order, with new Seqs after every other notification; their past
// attempts stay in the history.
func testRequeueInstance(t *testing.T, e *env) {
	a, b := e.instance(t, "a"), e.instance(t, "b")
	e.commitNew(t, a, "tickets", "a", 30)
	e.retry(t, "a-n000", t0, t0.Add(time.Second))
	e.queue(t, "a-n000", t0.Add(time.Second))
	e.commitNew(t, b, "tickets", "b", 10)
	t1 := t0.Add(72 * time.Hour)
	e.clock.Set(t1)
	if n, err := e.Outbox.RequeueInstance(ctx, b); err != nil || n != 0 {
		t.Errorf("RequeueInstance of an instance with nothing queued: %d %v", n, err)
	}
	if n, err := e.Outbox.RequeueInstance(ctx, a); err != nil || n != 3 {
		t.Errorf("RequeueInstance: %d, %v; want 3", n, err)
	}
	ds := e.deliveries(t, engine.PendingQuery{Limit: 10})
	var got []string
	for _, d := range ds {
		got = append(got, d.ID)
		if d.InstanceID == a && (d.Attempts != 0 || !d.Due.Equal(t1)) {
			t.Errorf("requeued %+v; want no attempt, due now (%v)", d, t1)
		}
	}
	if want := []string{"b-n000", "a-n000", "a-n001", "a-n002"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending after requeue: %v, want %v", got, want)
	}
	// The attempted one's events were dispatched; those that queued behind were never sent.
	e.wantStatus(t, map[string]string{"a-n000": engine.EventDispatched, "a-n001": engine.EventNew})
	if e.Events != nil {
		if _, atts, _ := e.Events.Event(ctx, "a-e003"); len(atts) != 2 || atts[1].Status != engine.StatusQueued {
			t.Errorf("attempts after requeue: %+v", atts)
		}
	}
	if n, err := e.Outbox.RequeueInstance(ctx, a); err != nil || n != 0 {
		t.Errorf("RequeueInstance again: %d %v", n, err)
	}
	// The requeued one fails its first try: retried on the schedule from its start.
	e.retry(t, "a-n000", t1, t1.Add(8*time.Second))
	if d, ok := e.delivery(t, "a-n000"); !ok || d.Attempts != 1 || !d.Due.Equal(t1.Add(8*time.Second)) {
		t.Errorf("after a failed redelivery: %+v %v", d, ok)
	}
}

// A redelivery moves the requeued notifications, and their instance's QUEUED ones behind them,
// after every other notification, keeping their order, so that a deliverer reading what is new
// (Pending after the last Seq it saw) finds them; a Seq is never used twice, even once the
// notifications holding the highest ones are pruned.
func testRequeueTakesNewPlaces(t *testing.T, e *env) {
	a, b := e.instance(t, "a"), e.instance(t, "b")
	e.commitNew(t, a, "tickets", "a", 30) // a-n000..a-n002
	e.queue(t, "a-n000", t0)              // a-n001, a-n002 behind it
	e.commitNew(t, b, "tickets", "b", 10)
	seen := e.seq(t, "b-n000") // a deliverer has read up to here

	if e.Events != nil {
		// One notification: the older queued ones of its instance come along, in order.
		if n, err := e.Events.Requeue(ctx, engine.RequeueFilter{NotificationID: "a-n001"}); err != nil || n != 2 {
			t.Fatalf("requeue: %d, %v; want a-n000 and a-n001", n, err)
		}
		if got, want := e.pending(t, engine.PendingQuery{After: seen, Limit: 10}), []string{"a-n000", "a-n001"}; !reflect.DeepEqual(got, want) {
			t.Errorf("pending after what was seen: %v, want %v", got, want)
		}
		e.wantStatus(t, map[string]string{"a-n002": "QUEUED"})
		// New commits of a queue behind a-n002; b's take places after everything.
		e.commitNew(t, b, "tickets", "b2", 10)
		e.commitNew(t, a, "tickets", "a2", 10)
		if got := e.seq(t, "b2-n000"); got <= e.seq(t, "a-n001") {
			t.Errorf("b2-n000 at %d, not after the requeued notifications", got)
		}
		// The rest: a-n002 then a2-n000, after b2-n000.
		if n, err := e.Outbox.RequeueInstance(ctx, a); err != nil || n != 2 {
			t.Fatalf("RequeueInstance: %d %v", n, err)
		}
	} else {
		e.commitNew(t, b, "tickets", "b2", 10)
		e.commitNew(t, a, "tickets", "a2", 10)
		if n, err := e.Outbox.RequeueInstance(ctx, a); err != nil || n != 4 {
			t.Fatalf("RequeueInstance: %d %v", n, err)
		}
	}
	got := e.pending(t, engine.PendingQuery{After: seen, Limit: 10})
	want := []string{"b2-n000", "a-n002", "a2-n000"}
	if e.Events == nil {
		want = []string{"b2-n000", "a-n000", "a-n001", "a-n002", "a2-n000"}
	} else {
		want = append([]string{"a-n000", "a-n001"}, want...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pending after %d: %v, want %v", seen, got, want)
	}
	ds := e.deliveries(t, engine.PendingQuery{Limit: 10})
	for i := 1; i < len(ds); i++ {
		if ds[i].Seq <= ds[i-1].Seq {
			t.Errorf("seqs not increasing: %+v", ds)
		}
	}
	top := ds[len(ds)-1].Seq

	if e.Prune == nil {
		return
	}
	// The highest seqs pruned: a new notification still takes a new one.
	for _, d := range ds {
		e.deliver(t, d.ID, t0)
	}
	if _, err := e.Prune(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.commitNew(t, b, "tickets", "b3", 10)
	if got := e.seq(t, "b3-n000"); got <= top {
		t.Errorf("b3-n000 at %d after pruning, want above every seq used (%d)", got, top)
	}
}

// Stopped lists the instances whose QUEUED notification's last attempt was a 410, with the latest
// such notification; not those queued for other failures, nor once redelivered.
func testStopped(t *testing.T, e *env) {
	a, b, c := e.instance(t, "a"), e.instance(t, "b"), e.instance(t, "c")
	for _, x := range []struct {
		id     int64
		prefix string
	}{{a, "a"}, {b, "b"}, {c, "c"}} {
		e.commitNew(t, x.id, "tickets", x.prefix, 30)
	}
	seqA := e.seq(t, "a-n000")
	gone := func(id string, at time.Time) {
		e.record(t, engine.Attempt{NotificationID: id, At: at, HTTPStatus: 410, Error: "callback answered 410 Gone", Status: engine.StatusQueued})
	}
	if got, err := e.Outbox.Stopped(ctx); err != nil || len(got) != 0 {
		t.Errorf("stopped before any 410: %+v %v", got, err)
	}
	gone("a-n001", t0.Add(time.Minute))
	// a-n000, in flight meanwhile, answered 410 too: the latest is what counts.
	gone("a-n000", t0.Add(2*time.Minute))
	e.queue(t, "b-n000", t0) // a 503 after the last retry: queued, not stopped
	gone("c-n000", t0)
	if _, err := e.Outbox.RequeueInstance(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := e.Outbox.Stopped(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.DeliveryStop{{InstanceID: a, Seq: seqA, At: t0.Add(2 * time.Minute)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stopped: %+v, want %+v", got, want)
	}
	// Redelivered: no longer stopped.
	if _, err := e.Outbox.RequeueInstance(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Outbox.Stopped(ctx); err != nil || len(got) != 0 {
		t.Errorf("stopped after redelivery: %+v %v", got, err)
	}
}

// queuedIDs is the ids of Events.Queued.
func (e *env) queuedIDs(t *testing.T, instanceID int64, limit int) []string {
	t.Helper()
	qs, err := e.Events.Queued(ctx, instanceID, limit)
	if err != nil {
		t.Fatalf("Queued: %v", err)
	}
	ids := []string{}
	for _, q := range qs {
		ids = append(ids, q.ID)
	}
	return ids
}
