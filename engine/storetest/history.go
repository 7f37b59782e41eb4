package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

func init() {
	register("Events", testEvents)
	register("EventsFilters", testEventsFilters)
	register("EventsScope", testEventsScope)
	register("EventsInNotificationOrder", testEventsInNotificationOrder)
	register("NotificationHistory", testNotificationHistory)
	register("Requeue", testRequeue)
	register("DeleteInstanceCancels", testDeleteInstanceCancels)
	register("Prune", testPrune)
}

// eventIDs lists an Events page's ids, space-separated.
func (e *env) eventIDs(t *testing.T, f engine.EventFilter) (string, string) {
	t.Helper()
	evs, next, err := e.Events.Events(ctx, f)
	if err != nil {
		t.Fatalf("Events(%+v): %v", f, err)
	}
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return strings.Join(ids, " "), next
}

// Events lists events newest (last committed) first; Event finds one with its notification's
// attempts; ErrNotFound for an unknown one.
func testEvents(t *testing.T, e *env) {
	e.needs(t, "history", e.Events != nil)
	a, b := e.instance(t, "a"), e.instance(t, "b")
	e.commitNew(t, a, "tickets", "a1", 3)
	e.commitNew(t, b, "tickets", "b1", 2)
	e.commitNew(t, a, "contacts", "a2", 2)
	if got, _ := e.eventIDs(t, engine.EventFilter{}); got != "a2-e001 a2-e000 b1-e001 b1-e000 a1-e002 a1-e001 a1-e000" {
		t.Errorf("all events: %s", got)
	}
	if got, _ := e.eventIDs(t, engine.EventFilter{InstanceID: a, Limit: 3}); got != "a2-e001 a2-e000 a1-e002" {
		t.Errorf("a's events: %s", got)
	}
	if got, _ := e.eventIDs(t, engine.EventFilter{InstanceID: b + 1000, Limit: 10}); got != "" {
		t.Errorf("unknown instance: %s", got)
	}
	ev, atts, err := e.Events.Event(ctx, "a1-e001")
	want := engine.EventRecord{ID: "a1-e001", InstanceID: a, ObjectType: "tickets", ObjectID: "1", EventType: "UPDATED",
		Date: t0.Add(-2 * time.Millisecond), PollDate: t0, Status: engine.EventNew, NotificationID: "a1-n000", Record: []byte(`{"id":1}`)}
	if err != nil || !reflect.DeepEqual(*ev, want) || len(atts) != 0 {
		t.Errorf("Event\n got %+v %+v %v\nwant %+v", ev, atts, err, want)
	}
	if _, _, err := e.Events.Event(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("unknown event: %v", err)
	}
	// An event carried by no notification: NEW, with no notification.
	c := MakeCommit(a, "agents", "orphan", 1, t0, CursorAt(t0))
	c.Notifications = nil
	e.commit(t, c)
	if ev, _, err := e.Events.Event(ctx, "orphan-e000"); err != nil || ev.NotificationID != "" || ev.Status != engine.EventNew {
		t.Errorf("an event in no notification: %+v %v", ev, err)
	}
}

// Events filters by status, object type, instance and poll date, and pages through a listing,
// each event once, the filter holding on every page.
func testEventsFilters(t *testing.T, e *env) {
	e.needs(t, "history", e.Events != nil)
	a, b := e.instance(t, "a"), e.instance(t, "b")
	e.commit(t, MakeCommit(a, "tickets", "a1", 12, t0, CursorAt(t0)))                  // a1-n000 (10), a1-n001 (2)
	e.commit(t, MakeCommit(b, "tickets", "b1", 3, t0.Add(time.Hour), CursorAt(t0)))    // b1-n000
	e.commit(t, MakeCommit(a, "contacts", "a2", 4, t0.Add(2*time.Hour), CursorAt(t0))) // a2-n000
	e.commit(t, MakeCommit(b, "contacts", "b2", 2, t0.Add(3*time.Hour), CursorAt(t0))) // b2-n000
	e.deliver(t, "a1-n000", t0)
	e.record(t, engine.Attempt{NotificationID: "a1-n001", At: t0, HTTPStatus: 500, Status: engine.StatusFailed, Next: t0.Add(time.Hour)})
	e.queue(t, "b1-n000", t0.Add(time.Hour)) // b2-n000 queues behind it

	for _, tt := range []struct {
		f    engine.EventFilter
		want string
	}{
		{engine.EventFilter{Status: "NOTIFIED", Limit: 3}, "a1-e009 a1-e008 a1-e007"},
		{engine.EventFilter{Status: "DISPATCHED"}, "a1-e011 a1-e010"},
		{engine.EventFilter{Status: "QUEUED"}, "b2-e001 b2-e000 b1-e002 b1-e001 b1-e000"},
		{engine.EventFilter{Status: "NEW"}, "a2-e003 a2-e002 a2-e001 a2-e000"},
		{engine.EventFilter{Status: "CANCELLED"}, ""},
		{engine.EventFilter{ObjectType: "contacts"}, "b2-e001 b2-e000 a2-e003 a2-e002 a2-e001 a2-e000"},
		{engine.EventFilter{InstanceID: b, ObjectType: "tickets"}, "b1-e002 b1-e001 b1-e000"},
		{engine.EventFilter{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, "a2-e003 a2-e002 a2-e001 a2-e000 b1-e002 b1-e001 b1-e000"},
		{engine.EventFilter{Since: t0.Add(3 * time.Hour)}, "b2-e001 b2-e000"},
		{engine.EventFilter{Until: t0.Add(time.Microsecond), Status: "DISPATCHED"}, "a1-e011 a1-e010"},
		{engine.EventFilter{Since: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), InstanceID: b, ObjectType: "contacts"}, "b2-e001 b2-e000"},
	} {
		if got, _ := e.eventIDs(t, tt.f); got != tt.want {
			t.Errorf("Events(%+v):\n got %s\nwant %s", tt.f, got, tt.want)
		}
	}

	// Paging, newest first, every event once, the last page without a token.
	all, next := e.eventIDs(t, engine.EventFilter{})
	if next != "" {
		t.Errorf("token without a limit: %q", next)
	}
	for _, size := range []int{1, 4, 7, 21, 22} {
		var pages []string
		f := engine.EventFilter{Limit: size}
		for range 30 {
			got, next := e.eventIDs(t, f)
			pages = append(pages, got)
			if next == "" {
				break
			}
			f.PageToken = next
		}
		if got := strings.Join(pages, " "); got != all {
			t.Errorf("pages of %d: %s, want %s", size, got, all)
		}
		if want := (21 + size - 1) / size; len(pages) != want {
			t.Errorf("pages of %d: %d pages, want %d", size, len(pages), want)
		}
	}
	// A page token with a filter: the filter holds on the next page.
	first, tok := e.eventIDs(t, engine.EventFilter{InstanceID: a, ObjectType: "tickets", Limit: 10})
	rest, tok2 := e.eventIDs(t, engine.EventFilter{InstanceID: a, ObjectType: "tickets", Limit: 10, PageToken: tok})
	if first+" "+rest != "a1-e011 a1-e010 a1-e009 a1-e008 a1-e007 a1-e006 a1-e005 a1-e004 a1-e003 a1-e002 a1-e001 a1-e000" || tok2 != "" {
		t.Errorf("filtered pages: %s | %s (%q)", first, rest, tok2)
	}
	// Events committed after a page was read do not shift the next page.
	first, tok = e.eventIDs(t, engine.EventFilter{Limit: 5})
	e.commit(t, MakeCommit(a, "tickets", "late", 3, t0, CursorAt(t0)))
	rest, _ = e.eventIDs(t, engine.EventFilter{Limit: 100, PageToken: tok})
	if first+" "+rest != all {
		t.Errorf("pages around a commit: %s | %s, want %s", first, rest, all)
	}
	for _, tok := range []string{"x!", "-1", "0", "zzzzzzzzzzzzzzzzzz", "not a token"} {
		if _, _, err := e.Events.Events(ctx, engine.EventFilter{PageToken: tok}); !errors.Is(err, engine.ErrBadPageToken) {
			t.Errorf("page token %q: %v, want ErrBadPageToken", tok, err)
		}
	}
}

// EventFilter.Scope limits the events to those of the scope's instances, deleted ones included.
func testEventsScope(t *testing.T, e *env) {
	e.needs(t, "history", e.Events != nil)
	e.needs(t, "instances", e.Instances != nil)
	mk := func(name string, user, org int64) int64 {
		in := &engine.InstanceRecord{Name: name, ElementKey: "x", Token: "tok-" + name, UserID: user, OrganizationID: org}
		if err := e.Instances.CreateInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
		e.commitNew(t, in.ID, "tickets", name, 1)
		return in.ID
	}
	a1, _, b1 := mk("a1", 10, 1), mk("a2", 11, 1), mk("b1", 20, 2)
	if err := e.Instances.DeleteInstance(ctx, a1); err != nil {
		t.Fatal(err)
	}
	for sc, want := range map[engine.Scope]string{
		{}:                                  "b1-e000 a2-e000 a1-e000",
		{OrganizationID: 1}:                 "a2-e000 a1-e000",
		{OrganizationID: 1, UserID: 10}:     "a1-e000",
		{OrganizationID: 2}:                 "b1-e000",
		{OrganizationID: 1, InstanceID: b1}: "",
		{OrganizationID: 1, InstanceID: a1}: "a1-e000",
		{OrganizationID: 3, UserID: 10}:     "",
	} {
		if got, _ := e.eventIDs(t, engine.EventFilter{Scope: sc}); got != want {
			t.Errorf("%+v: %q, want %q", sc, got, want)
		}
	}
}

// A commit's events are listed notification by notification (then those no notification carries),
// so that the history lists a burst's events in the order they were sent.
func testEventsInNotificationOrder(t *testing.T, e *env) {
	e.needs(t, "history", e.Events != nil)
	a := e.instance(t, "a")
	c := MakeCommit(a, "tickets", "a", 5, t0, CursorAt(t0)) // a-e000..a-e004 in a-n000
	c.Notifications[0].EventIDs = []string{"a-e003", "a-e000"}
	c.Notifications = append(c.Notifications, engine.Notification{ID: "a-n001", InstanceID: a, ObjectType: "tickets",
		EventIDs: []string{"a-e004", "a-e001"}, CreatedAt: t0, Body: []byte(`{}`)})
	e.commit(t, c)
	evs, _, err := e.Events.Events(ctx, engine.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(evs) - 1; i >= 0; i-- { // newest first
		got = append(got, evs[i].ID)
	}
	if want := []string{"a-e003", "a-e000", "a-e004", "a-e001", "a-e002"}; !slices.Equal(got, want) {
		t.Errorf("events listed in the order %v, want %v", got, want)
	}
}

// A notification is found by its id (the message.eventId of its body), with its body byte for
// byte, its events in body order with their records, its attempts, and the status of its events;
// NotificationInstance names its instance.
func testNotificationHistory(t *testing.T, e *env) {
	e.needs(t, "history", e.Events != nil)
	id := e.instance(t, "acme")
	e.commitNew(t, id, "tickets", "p", 15)

	n, err := e.Events.Notification(ctx, "p-n001")
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != "p-n001" || n.InstanceID != id || n.ObjectType != "tickets" || !n.CreatedAt.Equal(t0) || n.Status != engine.EventNew {
		t.Errorf("notification %+v", n)
	}
	if want := append([]byte(`{"id":"p-n001"}`), 0, 0xff, 0xfe, '\n'); !bytes.Equal(n.Body, want) {
		t.Errorf("body %q", n.Body)
	}
	var ids []string
	for _, ev := range n.Events {
		ids = append(ids, ev.ID+"="+string(ev.Record))
	}
	if got := strings.Join(ids, " "); got != `p-e010={"id":10} p-e011={"id":11} p-e012={"id":12} p-e013={"id":13} p-e014={"id":14}` {
		t.Errorf("events %s", got)
	}
	if len(n.Attempts) != 0 {
		t.Errorf("attempts %v", n.Attempts)
	}
	e.retry(t, "p-n001", t0, t0.Add(time.Minute))
	if n, _ := e.Events.Notification(ctx, "p-n001"); n.Status != engine.EventDispatched || len(n.Attempts) != 1 {
		t.Errorf("after a failed attempt: %s %v", n.Status, n.Attempts)
	}
	e.deliver(t, "p-n001", t0.Add(time.Minute))
	if n, _ := e.Events.Notification(ctx, "p-n001"); n.Status != "NOTIFIED" || len(n.Attempts) != 2 || n.Attempts[1].HTTPStatus != 200 {
		t.Errorf("after delivery: %s %v", n.Status, n.Attempts)
	}
	if _, err := e.Events.Notification(ctx, "p-e010"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("an event id is not a notification id: %v", err)
	}
	// An event carried again keeps the notification that first carried it; the later
	// notification lists it all the same.
	c := MakeCommit(id, "tickets", "q", 1, t0, CursorAt(t0))
	c.Notifications[0].EventIDs = []string{"q-e000", "p-e000"}
	e.commit(t, c)
	if n, err := e.Events.Notification(ctx, "q-n000"); err != nil || len(n.Events) != 2 || n.Events[1].ID != "p-e000" || n.Events[1].NotificationID != "p-n000" {
		t.Errorf("notification carrying an older event: %+v %v", n, err)
	}
	if got, err := e.Events.NotificationInstance(ctx, "p-n000"); err != nil || got != id {
		t.Errorf("NotificationInstance: %d %v", got, err)
	}
	if _, err := e.Events.NotificationInstance(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("NotificationInstance of an unknown notification: %v", err)
	}
}

// Requeue selects the QUEUED notifications to send again by notification (with the older queued
// ones of its instance), by event, by instance or all; it counts what it requeued.
func testRequeue(t *testing.T, e *env) {
	e.needs(t, "history", e.Events != nil)
	t1 := t0.Add(72 * time.Hour)
	a, b, c := e.instance(t, "a"), e.instance(t, "b"), e.instance(t, "c")
	e.commitNew(t, a, "tickets", "a", 30)
	e.commitNew(t, b, "tickets", "b", 20)
	e.commitNew(t, c, "tickets", "c", 20)
	for _, id := range []string{"a-n000", "b-n000", "c-n000"} {
		e.retry(t, id, t0, t0.Add(time.Second))
		e.queue(t, id, t0.Add(time.Second))
	}
	e.clock.Set(t1)
	requeue := func(f engine.RequeueFilter) int {
		t.Helper()
		n, err := e.Events.Requeue(ctx, f)
		if err != nil {
			t.Fatalf("Requeue(%+v): %v", f, err)
		}
		return n
	}

	if n := requeue(engine.RequeueFilter{NotificationID: "a-n001"}); n != 2 {
		t.Errorf("requeue a-n001: %d, want 2", n)
	}
	e.wantStatus(t, map[string]string{"a-n000": engine.EventDispatched, "a-n001": engine.EventNew, "a-n002": "QUEUED"})
	ds := e.deliveries(t, engine.PendingQuery{Limit: 10})
	if len(ds) != 2 || ds[0].ID != "a-n000" || ds[0].Attempts != 0 || !ds[0].Due.Equal(t1) || !ds[1].Due.Equal(t1) {
		t.Errorf("pending after requeue: %+v", ds)
	}
	// A notification that is not queued: nothing to do.
	if n := requeue(engine.RequeueFilter{NotificationID: "a-n000"}); n != 0 {
		t.Errorf("requeue of a pending notification: %d", n)
	}
	// By event id: the notification carrying it (b-n001), and b-n000 before it.
	if n := requeue(engine.RequeueFilter{EventID: "b-e012"}); n != 2 {
		t.Errorf("requeue by event: %d, want 2", n)
	}
	if got := e.queuedIDs(t, b, 0); len(got) != 0 {
		t.Errorf("b still queued: %v", got)
	}
	// By instance.
	if n := requeue(engine.RequeueFilter{InstanceID: c}); n != 2 {
		t.Errorf("requeue c: %d, want 2", n)
	}
	if n := requeue(engine.RequeueFilter{InstanceID: c}); n != 0 {
		t.Errorf("requeue c again: %d", n)
	}
	// All: what is left (a-n002).
	if n := requeue(engine.RequeueFilter{All: true}); n != 1 {
		t.Errorf("requeue all: %d, want 1", n)
	}
	if got := e.queuedIDs(t, 0, 0); len(got) != 0 {
		t.Errorf("still queued: %v", got)
	}
	if got, want := e.allPending(t), []string{"a-n000", "a-n001", "b-n000", "b-n001", "c-n000", "c-n001", "a-n002"}; !slices.Equal(got, want) {
		t.Errorf("pending: %v, want %v", got, want)
	}
	// Nothing queued any more: new polls are pending again.
	e.commitNew(t, a, "contacts", "a2", 3)
	e.wantStatus(t, map[string]string{"a2-n000": engine.EventNew})

	// Errors.
	for _, f := range []engine.RequeueFilter{{NotificationID: "nope"}, {EventID: "nope"}, {InstanceID: c + 1000}} {
		if _, err := e.Events.Requeue(ctx, f); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Requeue(%+v): %v, want ErrNotFound", f, err)
		}
	}
	for _, f := range []engine.RequeueFilter{{}, {All: true, InstanceID: a}, {NotificationID: "a-n000", EventID: "a-e000"}} {
		if _, err := e.Events.Requeue(ctx, f); !errors.Is(err, engine.ErrBadFilter) {
			t.Errorf("Requeue(%+v): %v, want ErrBadFilter", f, err)
		}
	}
}

// Deleting an instance cancels its PENDING and QUEUED notifications and their events (kept in the
// history, never delivered), removes its cursors, and leaves other instances alone; an attempt in
// flight does not revive a cancelled notification, and a poll in flight commits nothing.
func testDeleteInstanceCancels(t *testing.T, e *env) {
	e.needs(t, "instances", e.Instances != nil)
	a, b, c := e.instance(t, "a"), e.instance(t, "b"), e.instance(t, "c")
	ca := e.commitNew(t, a, "tickets", "a", 30)
	e.commitNew(t, b, "tickets", "b", 10)
	e.commitNew(t, c, "tickets", "c", 20)
	e.deliver(t, "a-n000", t0)
	e.queue(t, "c-n000", t0) // c-n001 behind it

	for _, id := range []int64{a, c} {
		if err := e.Instances.DeleteInstance(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.allPending(t); !slices.Equal(got, []string{"b-n000"}) {
		t.Errorf("pending after delete: %v", got)
	}
	if _, ok, _ := e.Store.Cursor(ctx, ca.Key); ok {
		t.Error("cursor survived the instance")
	}
	e.wantStatus(t, map[string]string{"a-n000": "NOTIFIED", "a-n001": "CANCELLED", "a-n002": "CANCELLED",
		"c-n000": "CANCELLED", "c-n001": "CANCELLED", "b-n000": engine.EventNew})
	if e.Events != nil {
		evs, _, _ := e.Events.Events(ctx, engine.EventFilter{InstanceID: a})
		if len(evs) != 30 || evs[0].Status != "CANCELLED" || evs[29].Status != "NOTIFIED" {
			t.Errorf("history after delete: %d events", len(evs))
		}
		if got := e.queuedIDs(t, 0, 0); len(got) != 0 {
			t.Errorf("queued after delete: %v", got)
		}
		if n, err := e.Events.Requeue(ctx, engine.RequeueFilter{All: true}); n != 0 || err != nil {
			t.Errorf("requeue after delete: %d %v", n, err)
		}
	}
	// A delivery that was in flight fails: it stays cancelled.
	e.retry(t, "a-n001", t0, t0.Add(time.Minute))
	e.wantStatus(t, map[string]string{"a-n001": "CANCELLED"})
	if got := e.allPending(t); !slices.Equal(got, []string{"b-n000"}) {
		t.Errorf("pending after a late attempt: %v", got)
	}
	// A poll that was in flight commits nothing.
	if err := e.Store.CommitPoll(ctx, MakeCommit(a, "tickets", "late", 5, t0, CursorAt(t0))); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("late commit: %v, want ErrNotFound", err)
	}
}

// Prune deletes the settled history (NOTIFIED, FAILED, CANCELLED notifications, their events and
// attempts) created before the cut-off, and events in no notification polled before it; never a
// PENDING or QUEUED notification, however old.
func testPrune(t *testing.T, e *env) {
	e.needs(t, "retention", e.Prune != nil)
	e.needs(t, "history", e.Events != nil)
	e.needs(t, "instances", e.Instances != nil)
	a, b := e.instance(t, "a"), e.instance(t, "b")
	cut := t0.Add(24 * time.Hour)
	e.commitNew(t, a, "tickets", "old", 70) // old-n000..n006
	e.commitNew(t, b, "tickets", "oldb", 20)
	for _, id := range []string{"old-n000", "old-n001", "old-n002", "old-n003"} {
		e.retry(t, id, t0, t0.Add(time.Second))
		e.deliver(t, id, t0.Add(time.Second))
	}
	e.giveUp(t, "old-n004", t0)
	e.queue(t, "old-n005", t0) // old-n006 queues behind
	e.deliver(t, "oldb-n000", t0)
	e.retry(t, "oldb-n001", t0, cut.Add(time.Hour)) // pending, in backoff
	// New: delivered after the cut-off.
	e.commit(t, MakeCommit(b, "contacts", "new", 10, cut, CursorAt(cut)))
	e.deliver(t, "new-n000", cut)
	// Cancelled and old: a deleted instance's.
	c := e.instance(t, "c")
	e.commitNew(t, c, "tickets", "gone", 10)
	if err := e.Instances.DeleteInstance(ctx, c); err != nil {
		t.Fatal(err)
	}
	// An event in no notification.
	orphan := MakeCommit(b, "agents", "orphan", 1, t0, CursorAt(t0))
	orphan.Notifications = nil
	e.commit(t, orphan)

	n, err := e.Prune(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	// Pruned: old-n000..n004 (50 events), oldb-n000 (10), gone-n000 (10), the orphan (1).
	if n != 71 {
		t.Errorf("pruned %d events, want 71", n)
	}
	for _, id := range []string{"old-e000", "old-e049", "oldb-e000", "gone-e000", "orphan-e000"} {
		if _, _, err := e.Events.Event(ctx, id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("event %s kept: %v", id, err)
		}
	}
	for _, id := range []string{"old-n000", "old-n004", "oldb-n000", "gone-n000"} {
		if _, err := e.Events.Notification(ctx, id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("notification %s kept: %v", id, err)
		}
	}
	for id, status := range map[string]string{"old-e050": "QUEUED", "old-e069": "QUEUED", "oldb-e010": "DISPATCHED", "new-e000": "NOTIFIED"} {
		if got := e.eventStatus(t, id); got != status {
			t.Errorf("event %s: %s, want %s", id, got, status)
		}
	}
	if _, atts, _ := e.Events.Event(ctx, "oldb-e015"); len(atts) != 1 {
		t.Errorf("attempts of a pending notification: %+v", atts)
	}
	if got := e.queuedIDs(t, a, 0); !slices.Equal(got, []string{"old-n005", "old-n006"}) {
		t.Errorf("queued after prune: %v", got)
	}
	if got := e.allPending(t); !slices.Equal(got, []string{"oldb-n001"}) {
		t.Errorf("pending after prune: %v", got)
	}
	if evs, _, err := e.Events.Events(ctx, engine.EventFilter{}); err != nil || len(evs) != 40 {
		t.Errorf("%d events left (%v), want 40", len(evs), err)
	}
	// Again: nothing left to prune.
	if n, err := e.Prune(ctx, cut); n != 0 || err != nil {
		t.Errorf("second prune: %d %v", n, err)
	}
	// A cut-off far in the future still spares pending and queued notifications.
	if _, err := e.Prune(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if evs, _, err := e.Events.Events(ctx, engine.EventFilter{}); err != nil || len(evs) != 30 {
		t.Errorf("%d events left after pruning everything settled (%v), want 30", len(evs), err)
	}
	if got := e.allPending(t); !slices.Equal(got, []string{"oldb-n001"}) {
		t.Errorf("pending after prune: %v", got)
	}
	if got := e.queuedIDs(t, a, 0); !slices.Equal(got, []string{"old-n005", "old-n006"}) {
		t.Errorf("queued after prune: %v", got)
	}
}
