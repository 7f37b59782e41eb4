package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/cmd/internal/server"
)

// The delivery tests: a receiver that goes down and comes back (TestReceiverOutage), retries
// exhausted into QUEUED and redelivered on request (TestQueuedThenRedeliver), a callback that is
// gone (TestCallbackGone), and, in kill_test.go, SIGKILL of the real binary
// (TestKillNineLosesNothing). They share the rig's receiver, which keeps every notification it
// accepts, and a driver that changes records in the simulator and knows what each record's events
// must end with (dlWorld).

// dlRecord is a record the test tracks in the simulator.
type dlRecord struct {
	objectType string // "incidents" or "contacts"
	id         int64
	created    bool // created after the instance: exactly one CREATED
	changed    bool // changed after the instance was created: its final state must arrive
	deleted    bool
	version    int
}

func (rec *dlRecord) key() string { return rec.objectType + " " + strconv.FormatInt(rec.id, 10) }

// markerField is the field the driver changes, so that the final record can be recognised.
func markerField(objectType string) string {
	if objectType == "incidents" {
		return "subject"
	}
	return "job_title"
}

// dlWorld changes tickets and contacts in the simulator and checks that the events received end
// in each record's final state. It never changes a record twice in one vendor second: the vendor
// stamps updated_at to the second, and two states with one (id, updated_at) cannot be told apart
// by any poller.
type dlWorld struct {
	t         *testing.T
	desk      *rig.Freshdesk
	rng       *rand.Rand
	requester int64
	recs      []*dlRecord
	seq       int
}

// newDLWorld creates, an hour back (before any instance), a requester, two tickets and two
// contacts, which the driver may update and delete.
func newDLWorld(t *testing.T, desk *rig.Freshdesk, seed uint64) *dlWorld {
	w := &dlWorld{t: t, desk: desk, rng: rand.New(rand.NewPCG(seed, seed))}
	desk.InThePast(func() {
		req := desk.CreateContact(map[string]any{"name": "Requester", "email": "requester@example.com"})
		w.requester = req["id"].(int64)
		w.recs = append(w.recs, &dlRecord{objectType: "contacts", id: w.requester})
		for i := range 2 {
			tk := desk.CreateTicket(map[string]any{"subject": fmt.Sprintf("old ticket %d", i), "requester_id": w.requester})
			w.recs = append(w.recs, &dlRecord{objectType: "incidents", id: tk["id"].(int64)})
			c := desk.CreateContact(map[string]any{"name": fmt.Sprintf("Old %d", i), "email": fmt.Sprintf("old%d@example.com", i)})
			w.recs = append(w.recs, &dlRecord{objectType: "contacts", id: c["id"].(int64)})
		}
	})
	return w
}

func (w *dlWorld) current(rec *dlRecord) map[string]any {
	if rec.objectType == "incidents" {
		tk, ok := w.desk.Ticket(rec.id)
		if !ok {
			w.t.Fatalf("ticket %d vanished", rec.id)
		}
		return tk
	}
	c, ok := w.desk.Contact(rec.id)
	if !ok {
		w.t.Fatalf("contact %d vanished", rec.id)
	}
	return c
}

// changeable reports whether rec may change now: not deleted, not the requester (tickets need
// it), and last changed in an earlier vendor second.
func (w *dlWorld) changeable(rec *dlRecord) bool {
	if rec.deleted || rec.id == w.requester && rec.objectType == "contacts" {
		return false
	}
	u, err := time.Parse(vendorTime, w.current(rec)["updated_at"].(string))
	if err != nil {
		w.t.Fatal(err)
	}
	return u.Before(w.desk.VendorNow().Truncate(time.Second))
}

func (w *dlWorld) pick(ok func(*dlRecord) bool) *dlRecord {
	var cands []*dlRecord
	for _, rec := range w.recs {
		if ok(rec) && w.changeable(rec) {
			cands = append(cands, rec)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[w.rng.IntN(len(cands))]
}

func (w *dlWorld) createTicket() *dlRecord {
	w.seq++
	tk := w.desk.CreateTicket(map[string]any{"subject": fmt.Sprintf("ticket %d v0", w.seq), "requester_id": w.requester})
	rec := &dlRecord{objectType: "incidents", id: tk["id"].(int64), created: true, changed: true}
	w.recs = append(w.recs, rec)
	return rec
}

func (w *dlWorld) createContact() *dlRecord {
	w.seq++
	c := w.desk.CreateContact(map[string]any{"name": fmt.Sprintf("Contact %d", w.seq),
		"email": fmt.Sprintf("contact%d@example.com", w.seq), "job_title": "v0"})
	rec := &dlRecord{objectType: "contacts", id: c["id"].(int64), created: true, changed: true}
	w.recs = append(w.recs, rec)
	return rec
}

// update changes the marker field of rec.
func (w *dlWorld) update(rec *dlRecord) {
	rec.version++
	rec.changed = true
	var err error
	if rec.objectType == "incidents" {
		_, err = w.desk.UpdateTicket(rec.id, map[string]any{"subject": fmt.Sprintf("ticket %d v%d", rec.id, rec.version)})
	} else {
		_, err = w.desk.UpdateContact(rec.id, map[string]any{"job_title": fmt.Sprintf("v%d", rec.version)})
	}
	must(w.t, err)
}

// step makes one change: in turn a new ticket, an update of a ticket, a new contact, an update
// of a contact (a creation when no record of the kind may change this second).
func (w *dlWorld) step(i int) {
	switch i % 4 {
	case 0:
		w.createTicket()
	case 2:
		w.createContact()
	default:
		ot := "incidents"
		if i%4 == 3 {
			ot = "contacts"
		}
		if rec := w.pick(func(r *dlRecord) bool { return r.objectType == ot }); rec != nil {
			w.update(rec)
		} else if ot == "incidents" {
			w.createTicket()
		} else {
			w.createContact()
		}
	}
}

// deleteOld deletes one record that predates the instance, if one may change now, and reports
// whether it did.
func (w *dlWorld) deleteOld() bool {
	rec := w.pick(func(r *dlRecord) bool { return !r.created })
	if rec == nil {
		return false
	}
	rec.deleted, rec.changed = true, true
	if rec.objectType == "incidents" {
		must(w.t, w.desk.DeleteTicket(rec.id))
	} else {
		must(w.t, w.desk.DeleteContact(rec.id))
	}
	return true
}

// problems checks the events received (one per eventId) against the simulator: each record
// changed after the instance was created has as its latest event its final state (DELETED when
// deleted, else CREATED or UPDATED carrying the final record); each record created after the
// instance exactly one CREATED, others none; records not changed no event; no event of a record
// the test does not know.
func (w *dlWorld) problems(evs []rig.Event) []string {
	byKey := map[string][]rig.Event{}
	for _, e := range evs {
		k := e.ObjectType + " " + e.ObjectID
		byKey[k] = append(byKey[k], e)
	}
	var out []string
	known := map[string]bool{}
	for _, rec := range w.recs {
		k := rec.key()
		known[k] = true
		got := byKey[k]
		if !rec.changed {
			if len(got) > 0 {
				out = append(out, fmt.Sprintf("%s: never changed after the instance was created, yet got %d events", k, len(got)))
			}
			continue
		}
		created := 0
		for _, e := range got {
			if e.EventType == "CREATED" {
				created++
			}
		}
		switch {
		case rec.created && created != 1:
			out = append(out, fmt.Sprintf("%s: %d CREATED, want 1", k, created))
		case !rec.created && created != 0:
			out = append(out, fmt.Sprintf("%s: existed before the instance, yet %d CREATED", k, created))
		}
		cur := w.current(rec)
		final := cur["updated_at"].(string)
		var last *rig.Event
		for i := range got {
			if last == nil || got[i].Date > last.Date { // vendorTime strings order as times
				last = &got[i]
			}
		}
		switch {
		case last == nil:
			out = append(out, fmt.Sprintf("%s: no event; final updated_at %s", k, final))
		case last.Date != final:
			out = append(out, fmt.Sprintf("%s: latest event %s dated %s, want its final updated_at %s", k, last.EventType, last.Date, final))
		case rec.deleted:
			if last.EventType != "DELETED" {
				out = append(out, fmt.Sprintf("%s: deleted, but its latest event is %s", k, last.EventType))
			}
		case last.EventType == "DELETED":
			out = append(out, fmt.Sprintf("%s: not deleted, but its latest event is DELETED", k))
		default:
			var r map[string]any
			if err := json.Unmarshal(last.Record, &r); err != nil {
				out = append(out, fmt.Sprintf("%s: latest event's record: %v", k, err))
				break
			}
			f := markerField(rec.objectType)
			if r[f] != cur[f] || r["updated_at"] != final {
				out = append(out, fmt.Sprintf("%s: latest record has %s=%v updated_at=%v, want %v %v", k, f, r[f], r["updated_at"], cur[f], final))
			}
		}
	}
	for k := range byKey {
		if !known[k] {
			out = append(out, fmt.Sprintf("%s: events for a record the test never touched", k))
		}
	}
	slices.Sort(out)
	return out
}

// dlSettle waits until check finds nothing wrong, then until the instance has settled (two
// more polls, nothing left to send) so that anything extra (a duplicate, a stray event) shows,
// and returns what check finds then.
func dlSettle(t *testing.T, api *rig.Client, id int64, check func() []string) []string {
	t.Helper()
	if !rig.Within(rig.Patience, func() bool { return len(check()) == 0 }) {
		return check()
	}
	api.Settle(id)
	return check()
}

// dlEventDetail is GET /instances/events/{eventId}.
type dlEventDetail struct {
	ID             string `json:"id"`
	ObjectType     string `json:"objectType"`
	ObjectID       string `json:"objectId"`
	EventType      string `json:"eventType"`
	Status         string `json:"status"`
	NotificationID string `json:"notificationId"`
	Attempts       []struct {
		HTTPStatus int    `json:"httpStatus"`
		Status     string `json:"status"`
	} `json:"attempts"`
}

func (d dlEventDetail) attempts() string {
	var parts []string
	for _, a := range d.Attempts {
		parts = append(parts, fmt.Sprintf("%d %s", a.HTTPStatus, a.Status))
	}
	return strings.Join(parts, ", ")
}

func dlEventByID(api *rig.Client, eventID string) dlEventDetail {
	api.T.Helper()
	var d dlEventDetail
	api.JSON("/instances/events/"+eventID, &d)
	return d
}

// TestReceiverOutage: the receiver answers 503 for a stretch while tickets and contacts keep
// changing, then recovers: every change arrives (the final state of each record; each new record
// CREATED once), each record's events in order, copies of an event (if any) share its eventId and
// are identical, and every signature verifies.
//
// The outage is the receiver's first 4 notifications, one fewer than the breaker's threshold
// (5 failures in a row open it for 30 s). Notifications of records in different order lanes go
// side by side, so the refusals may hit one notification or several: each is retried after 0.2,
// 0.4, 0.8 s (±20%) while the poller keeps committing new notifications, those sharing its lane
// waiting behind it; each finds the receiver up again within its retries, and the backlog
// drains. Letting the breaker open instead would add its 30 s cool-down to the run.
func TestReceiverOutage(t *testing.T) {
	world := rig.NewWorld(t, rig.FreshdeskOptions{})
	w := newDLWorld(t, world.Desk, 1)
	rcv := world.Recv
	const outage = 4
	rcv.RefuseNext(outage)
	world.Config = func(c *server.Config) {
		c.Retries = []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
			1600 * time.Millisecond, 3200 * time.Millisecond}
	}
	srv := world.Start()
	api := srv.API
	id := world.CreateInstance(api, nil)

	// 20 changes, two to each poll, during the outage and after it.
	for i := range 20 {
		w.step(i)
		if i%2 == 1 {
			api.Polled(id, time.Now())
		}
	}

	var dups int
	probs := dlSettle(t, api, id, func() []string {
		evs, d, probs := rcv.Received()
		dups = d
		return append(probs, w.problems(evs)...)
	})
	for _, p := range probs {
		t.Error(p)
	}
	if n := rcv.Refusals(); n != outage {
		t.Errorf("the receiver refused %d notifications, want %d (the outage)", n, outage)
	}
	notes := rcv.Accepted()
	t.Logf("20 changes, %d notifications accepted after %d refused, %d duplicate events", len(notes), rcv.Refusals(), dups)

	// Each notification refused was delivered after its refusals: 503 PENDING (one or more), then
	// 200 NOTIFIED; the refusals add up to the outage.
	refused := 0
	for _, n := range notes {
		if len(n.Events) == 0 {
			continue
		}
		d := dlEventByID(api, n.Events[0].EventID)
		got := d.attempts()
		k := strings.Count(got, "503 PENDING, ")
		if want := strings.Repeat("503 PENDING, ", k) + "200 NOTIFIED"; got != want || d.Status != "NOTIFIED" {
			t.Errorf("event %s: status %s, attempts %s; want NOTIFIED after its refusals", d.ID, d.Status, got)
		}
		refused += k
	}
	if refused != outage {
		t.Errorf("%d refused attempts recorded, want %d", refused, outage)
	}
	if body := api.Get("/instances/events/queued"); strings.TrimSpace(body) != "[]" {
		t.Errorf("queued notifications after the outage: %s", body)
	}
}

// dlQueued is one entry of GET /instances/events/queued.
type dlQueued struct {
	ID         string   `json:"id"`
	InstanceID int64    `json:"instanceId"`
	ObjectType string   `json:"objectType"`
	Attempts   int      `json:"attempts"`
	LastError  string   `json:"lastError"`
	EventIDs   []string `json:"eventIds"`
}

func dlQueuedList(api *rig.Client) []dlQueued {
	api.T.Helper()
	var out []dlQueued
	api.JSON("/instances/events/queued", &out)
	return out
}

// dlHistoryEvent is one entry of GET /instances/{id}/events.
type dlHistoryEvent struct {
	ID             string `json:"id"`
	ObjectType     string `json:"objectType"`
	ObjectID       string `json:"objectId"`
	EventType      string `json:"eventType"`
	Status         string `json:"status"`
	NotificationID string `json:"notificationId"`
}

func dlHistory(api *rig.Client, id int64) []dlHistoryEvent {
	api.T.Helper()
	var out []dlHistoryEvent
	api.JSON(fmt.Sprintf("/instances/%d/events?pageSize=500", id), &out)
	return out
}

// dlWaitHistory waits until the instance's history holds an event "TYPE objectType id" for each
// of want, and returns the history.
func dlWaitHistory(api *rig.Client, id int64, want ...string) []dlHistoryEvent {
	api.T.Helper()
	var hist []dlHistoryEvent
	rig.Until(api.T, fmt.Sprintf("events %v in the history", want), func() bool {
		hist = dlHistory(api, id)
		have := map[string]bool{}
		for _, e := range hist {
			have[e.EventType+" "+e.ObjectType+" "+e.ObjectID] = true
		}
		for _, w := range want {
			if !have[w] {
				return false
			}
		}
		return true
	})
	return hist
}

func dlEv(typ string, rec *dlRecord) string { return typ + " " + rec.key() }

// TestQueuedThenRedeliver: with a schedule of 2 short retries and the receiver down, the first
// notification is QUEUED after 3 attempts and GET /instances/events/queued lists it; changes
// made after it queue behind it, whether the receiver is down or back, and none is sent while it
// is queued (queued is parked: nothing arrives by itself). PUT /instances/events/redeliver
// {"all": true} sends them all, each once, each record's events in order (notifications about
// records in different order lanes may arrive in any order).
func TestQueuedThenRedeliver(t *testing.T) {
	world := rig.NewWorld(t, rig.FreshdeskOptions{})
	w := newDLWorld(t, world.Desk, 2)
	rcv := world.Recv
	rcv.SetDown(true)
	world.Config = func(c *server.Config) { c.Retries = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} }
	srv := world.Start()
	api := srv.API
	id := world.CreateInstance(api, nil)

	// Down: the first notification exhausts its retries and is queued.
	a := w.createTicket()
	var queued []dlQueued
	rig.Until(t, "a queued notification", func() bool {
		queued = dlQueuedList(api)
		return len(queued) > 0
	})
	hist := dlWaitHistory(api, id, dlEv("CREATED", a))
	if q := queued[0]; q.Attempts != 3 || q.InstanceID != id || !strings.Contains(q.LastError, "503") {
		t.Errorf("queued notification: %+v; want 3 attempts (1 + 2 retries) of instance %d, last error HTTP 503", q, id)
	}
	var aCreated string
	for _, e := range hist {
		if e.EventType == "CREATED" && e.ObjectID == strconv.FormatInt(a.id, 10) {
			aCreated = e.ID
		}
	}
	if d := dlEventByID(api, aCreated); d.Status != "QUEUED" || d.attempts() != "503 PENDING, 503 PENDING, 503 QUEUED" {
		t.Errorf("event %s: status %s, attempts %s; want QUEUED after 503 PENDING, 503 PENDING, 503 QUEUED", aCreated, d.Status, d.attempts())
	}

	// Still down: newer changes queue behind it.
	world.Desk.NextSecond()
	w.update(a)
	c := w.createContact()
	dlWaitHistory(api, id, dlEv("UPDATED", a), dlEv("CREATED", c))

	// Back up: still nothing is sent, and newer changes still queue behind.
	rcv.SetDown(false)
	world.Desk.NextSecond()
	w.update(c)
	d := w.createTicket()
	hist = dlWaitHistory(api, id, dlEv("UPDATED", c), dlEv("CREATED", d))
	api.Settle(id) // more polls, and no notification pending: nothing may have gone out
	if n := len(rcv.Accepted()); n != 0 {
		t.Errorf("%d notifications delivered while older ones were queued", n)
	}
	if n := rcv.Refusals(); n != 3 {
		t.Errorf("the receiver was sent %d notifications while down, want 3 (the first one's attempts)", n)
	}
	queued = dlQueuedList(api)
	inQueue := map[string]bool{}
	for _, q := range queued {
		for _, e := range q.EventIDs {
			inQueue[e] = true
		}
	}
	for _, e := range dlHistory(api, id) {
		if e.Status != "QUEUED" || !inQueue[e.ID] {
			t.Errorf("event %s %s %s: status %s, in the queued list: %v; want QUEUED, listed", e.EventType, e.ObjectType, e.ObjectID, e.Status, inQueue[e.ID])
		}
	}

	// Redeliver everything: it arrives in the order queued, each once.
	resp := api.Must(http.MethodPut, "/instances/events/redeliver", `{"all": true}`)
	var requeued struct{ Requeued int }
	must(t, json.Unmarshal([]byte(resp), &requeued))
	if requeued.Requeued != len(queued) {
		t.Errorf("redeliver: requeued %d, want %d (the queued list)", requeued.Requeued, len(queued))
	}
	var want []string
	for _, q := range queued {
		want = append(want, q.ID)
	}
	probs := dlSettle(t, api, id, func() []string {
		evs, _, probs := rcv.Received()
		return append(probs, w.problems(evs)...)
	})
	for _, p := range probs {
		t.Error(p)
	}
	var got []string
	events := 0
	for _, n := range rcv.Accepted() {
		got = append(got, n.ID)
		events += len(n.Events)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("notifications redelivered:\n got  %v\n want %v (the queued list, each once)", got, want)
	}
	if events != len(hist) {
		t.Errorf("%d events delivered, want %d (the history), each once", events, len(hist))
	}
	if q := dlQueuedList(api); len(q) != 0 {
		t.Errorf("still queued after redelivery: %+v", q)
	}
	if dd := dlEventByID(api, aCreated); dd.Status != "NOTIFIED" {
		t.Errorf("event %s after redelivery: %s, attempts %s; want NOTIFIED", aCreated, dd.Status, dd.attempts())
	}
	t.Logf("%d notifications (%d events) queued and redelivered", len(want), events)
}

// dlDelivery is the delivery field of GET /instances/{id}.
type dlDelivery struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	Since  string `json:"since"`
}

func dlInstanceDelivery(api *rig.Client, id int64) *dlDelivery {
	api.T.Helper()
	var v struct {
		Delivery *dlDelivery `json:"delivery"`
	}
	api.JSON(fmt.Sprintf("/instances/%d", id), &v)
	return v.Delivery
}

// TestCallbackGone: a callback that answers 410 Gone stops the instance's delivery at once: its
// notification is QUEUED after that one attempt, GET /instances/{id} says why and since when,
// changes made meanwhile queue behind it, and nothing more is sent to the gone callback, also
// across a restart. Pointing the instance at a new callback (PATCH) resumes delivery: every change
// arrives there, each record's events in order, and the instance no longer says stopped.
func TestCallbackGone(t *testing.T) {
	world := rig.NewWorld(t, rig.FreshdeskOptions{})
	w := newDLWorld(t, world.Desk, 4)
	var goneCalls atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		goneCalls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		rw.WriteHeader(http.StatusGone)
	}))
	t.Cleanup(gone.Close)
	rcv := world.Recv
	srv := world.Start()
	id := world.CreateInstance(srv.API, map[string]string{"event.notification.callback.url": gone.URL})

	a := w.createTicket()
	var st *dlDelivery
	rig.Until(t, "the instance to say its delivery stopped", func() bool {
		st = dlInstanceDelivery(srv.API, id)
		return st != nil
	})
	if since, err := time.Parse(time.RFC3339, st.Since); st.State != "stopped" || st.Reason != "callback answered 410 Gone" || err != nil {
		t.Errorf("delivery %+v (since: %v); want stopped, callback answered 410 Gone, since a time", st, err)
	} else if d := time.Since(since); d < -time.Minute || d > time.Minute {
		t.Errorf("stopped since %s, not about now", st.Since)
	}
	if q := dlQueuedList(srv.API); len(q) != 1 || q[0].Attempts != 1 || !strings.Contains(q[0].LastError, "410") {
		t.Errorf("queued %+v; want one notification, QUEUED after its one attempt (410)", q)
	}

	world.Desk.NextSecond()
	w.update(a)
	c := w.createContact()
	for _, e := range dlWaitHistory(srv.API, id, dlEv("CREATED", a), dlEv("UPDATED", a), dlEv("CREATED", c)) {
		if e.Status != "QUEUED" {
			t.Errorf("event %s %s %s: %s, want QUEUED (behind the gone one)", e.EventType, e.ObjectType, e.ObjectID, e.Status)
		}
	}

	srv.Stop()
	srv = world.Start()
	rig.Until(t, "the instance to say stopped after a restart", func() bool {
		st = dlInstanceDelivery(srv.API, id)
		return st != nil && st.State == "stopped"
	})

	srv.API.Must(http.MethodPatch, fmt.Sprintf("/instances/%d", id), `{"configuration": {"event.notification.callback.url": "`+rcv.URL+`"}}`)
	probs := dlSettle(t, srv.API, id, func() []string {
		evs, _, probs := rcv.Received()
		return append(probs, w.problems(evs)...)
	})
	for _, p := range probs {
		t.Error(p)
	}
	if st := dlInstanceDelivery(srv.API, id); st != nil {
		t.Errorf("delivery %+v after the new callback, want none", st)
	}
	if n := goneCalls.Load(); n != 1 {
		t.Errorf("the gone callback was called %d times, want once", n)
	}
}
