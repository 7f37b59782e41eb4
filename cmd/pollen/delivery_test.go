package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/engine"
)

// The delivery tests: a receiver that goes down and comes back (TestReceiverOutage), retries
// exhausted into QUEUED and redelivered on request (TestQueuedThenRedeliver), and, in
// kill_test.go, SIGKILL of the real binary (TestKillNineLosesNothing). They share a receiver
// that keeps every notification it accepts (dlReceiver) and a driver that changes records in the
// simulator and knows what each record's events must end with (dlWorld).

// dlReceiver is a callback that checks signatures (webhook.Receiver with the e2e key) and keeps
// every notification it accepts, in arrival order. While it is down, or while it has refusals
// left, it answers 503 without reading the notification.
type dlReceiver struct {
	url   string
	delay time.Duration // how long to take over a notification after handling it, before answering

	mu        sync.Mutex
	down      bool
	refuseN   int // refuse this many more notifications
	refused   int // notifications answered 503
	notes     []dlNote
	rejected  []string // refused by webhook.Receiver (bad signature, bad body)
	malformed []string // accepted, but not a well-formed notification
}

// dlNote is one accepted notification.
type dlNote struct {
	id     string // message.eventId
	header string // Elements-Webhook-Id
	events []dlEvent
}

// dlEvent is one event as received, with the record the notification carried for it.
type dlEvent struct {
	engine.EventBody
	record json.RawMessage
}

func newDLReceiver(t *testing.T) *dlReceiver {
	r := &dlReceiver{}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *dlReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	refuse := r.down || r.refuseN > 0
	if refuse {
		r.refused++
		if r.refuseN > 0 {
			r.refuseN--
		}
	}
	r.mu.Unlock()
	if refuse {
		_, _ = io.Copy(io.Discard, req.Body)
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
		return
	}
	header := req.Header.Get(webhook.HeaderID)
	rc := &webhook.Receiver{
		Key: e2eSignatureKey,
		Handle: func(n *webhook.Notification, _ []byte) {
			r.add(header, n)
			time.Sleep(r.delay)
		},
		Rejected: func(reason string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.rejected = append(r.rejected, reason)
		},
	}
	rc.ServeHTTP(w, req)
}

func (r *dlReceiver) add(header string, n *webhook.Notification) {
	note := dlNote{id: n.Message.EventID, header: header}
	recs := n.Message.Records()
	var bad []string
	if len(recs) != len(n.Message.Events) {
		bad = append(bad, fmt.Sprintf("notification %s: %d events but %d records", note.id, len(n.Message.Events), len(recs)))
	}
	if header != note.id {
		bad = append(bad, fmt.Sprintf("notification %s came with %s %q", note.id, webhook.HeaderID, header))
	}
	for i, e := range n.Message.Events {
		ev := dlEvent{EventBody: e}
		if i < len(recs) {
			var buf bytes.Buffer
			if err := json.Compact(&buf, recs[i]); err == nil {
				ev.record = buf.Bytes()
			}
		}
		note.events = append(note.events, ev)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, note)
	r.malformed = append(r.malformed, bad...)
}

func (r *dlReceiver) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

func (r *dlReceiver) refusals() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

func (r *dlReceiver) accepted() []dlNote {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notes)
}

// received returns every event accepted, once per eventId (the first copy), in arrival order;
// how many copies beyond the first arrived; and the problems with them: copies of one eventId
// that differ, events of one record that arrived out of order (by their dates: each record's
// events happened in different vendor seconds), and notifications refused for a bad signature or
// malformed. Receivers de-duplicate on eventId, so copies must be the same event.
func (r *dlReceiver) received() (evs []dlEvent, dups int, problems []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := map[string]dlEvent{}
	latest := map[string]dlEvent{} // by record
	for _, n := range r.notes {
		for _, e := range n.events {
			f, seen := first[e.EventID]
			if !seen {
				first[e.EventID] = e
				evs = append(evs, e)
				k := e.ObjectType + " " + e.ObjectID
				if l, ok := latest[k]; ok && e.Date < l.Date { // vendorTime strings order as times
					problems = append(problems, fmt.Sprintf("%s: %s dated %s arrived after %s dated %s", k, e.EventType, e.Date, l.EventType, l.Date))
				}
				latest[k] = e
				continue
			}
			dups++
			if f.EventBody != e.EventBody || !bytes.Equal(f.record, e.record) {
				problems = append(problems, fmt.Sprintf("eventId %s delivered as two different events: %+v %s / %+v %s",
					e.EventID, f.EventBody, f.record, e.EventBody, e.record))
			}
		}
	}
	problems = append(problems, r.malformed...)
	for _, reason := range r.rejected {
		problems = append(problems, "notification rejected by the receiver: "+reason)
	}
	return evs, dups, problems
}

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
	desk      *freshdesk.Server
	rng       *rand.Rand
	requester int64
	recs      []*dlRecord
	seq       int
}

// newDLWorld creates, an hour back (before any instance), a requester, two tickets and two
// contacts, which the driver may update and delete.
func newDLWorld(t *testing.T, h *harness, seed uint64) *dlWorld {
	w := &dlWorld{t: t, desk: h.desk, rng: rand.New(rand.NewPCG(seed, seed))}
	h.inThePast(func() {
		req := h.desk.CreateContact(map[string]any{"name": "Requester", "email": "requester@example.com"})
		w.requester = req["id"].(int64)
		w.recs = append(w.recs, &dlRecord{objectType: "contacts", id: w.requester})
		for i := range 2 {
			tk := h.desk.CreateTicket(map[string]any{"subject": fmt.Sprintf("old ticket %d", i), "requester_id": w.requester})
			w.recs = append(w.recs, &dlRecord{objectType: "incidents", id: tk["id"].(int64)})
			c := h.desk.CreateContact(map[string]any{"name": fmt.Sprintf("Old %d", i), "email": fmt.Sprintf("old%d@example.com", i)})
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
func (w *dlWorld) problems(evs []dlEvent) []string {
	byKey := map[string][]dlEvent{}
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
		var last *dlEvent
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
			if err := json.Unmarshal(last.record, &r); err != nil {
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

// dlSettle waits (at most 30 s) until check finds nothing wrong, then a little longer so that
// anything extra (a duplicate, a stray event) shows, and returns what check finds then.
func dlSettle(t *testing.T, check func() []string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		probs := check()
		if len(probs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return probs
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a few more polls and deliveries
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

func dlEventByID(t *testing.T, base, eventID string) dlEventDetail {
	t.Helper()
	var d dlEventDetail
	if err := json.Unmarshal([]byte(get(t, base+"/instances/events/"+eventID)), &d); err != nil {
		t.Fatal(err)
	}
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
	h := newHarness(t)
	w := newDLWorld(t, h, 1)
	rcv := newDLReceiver(t)
	const outage = 4
	rcv.refuseN = outage
	h.retries = []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond}
	srv := h.start()
	h.createInstanceAt(srv.URL(), rcv.url)

	for i := range 20 { // about 4 s of changes, during the outage and after it
		w.step(i)
		time.Sleep(200 * time.Millisecond)
	}

	var dups int
	probs := dlSettle(t, func() []string {
		evs, d, probs := rcv.received()
		dups = d
		return append(probs, w.problems(evs)...)
	})
	for _, p := range probs {
		t.Error(p)
	}
	if n := rcv.refusals(); n != outage {
		t.Errorf("the receiver refused %d notifications, want %d (the outage)", n, outage)
	}
	notes := rcv.accepted()
	t.Logf("20 changes, %d notifications accepted after %d refused, %d duplicate events", len(notes), rcv.refusals(), dups)

	// Each notification refused was delivered after its refusals: 503 PENDING (one or more), then
	// 200 NOTIFIED; the refusals add up to the outage.
	refused := 0
	for _, n := range notes {
		if len(n.events) == 0 {
			continue
		}
		d := dlEventByID(t, srv.URL(), n.events[0].EventID)
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
	if body := get(t, srv.URL()+"/instances/events/queued"); strings.TrimSpace(body) != "[]" {
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

func dlQueuedList(t *testing.T, base string) []dlQueued {
	t.Helper()
	var out []dlQueued
	if err := json.Unmarshal([]byte(get(t, base+"/instances/events/queued")), &out); err != nil {
		t.Fatal(err)
	}
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

func dlHistory(t *testing.T, base string, id int64) []dlHistoryEvent {
	t.Helper()
	var out []dlHistoryEvent
	if err := json.Unmarshal([]byte(get(t, fmt.Sprintf("%s/instances/%d/events?pageSize=500", base, id))), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// dlWaitHistory waits until the instance's history holds an event "TYPE objectType id" for each
// of want, and returns the history.
func dlWaitHistory(t *testing.T, base string, id int64, want ...string) []dlHistoryEvent {
	t.Helper()
	var hist []dlHistoryEvent
	waitUntil(t, fmt.Sprintf("events %v in the history", want), func() bool {
		hist = dlHistory(t, base, id)
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

func dlNextVendorSecond(desk *freshdesk.Server) {
	s := desk.VendorNow().Truncate(time.Second)
	for desk.VendorNow().Truncate(time.Second).Equal(s) {
		time.Sleep(5 * time.Millisecond)
	}
}

func dlEv(typ string, rec *dlRecord) string { return typ + " " + rec.key() }

// TestQueuedThenRedeliver: with a schedule of 2 short retries and the receiver down, the first
// notification is QUEUED after 3 attempts and GET /instances/events/queued lists it; changes
// made after it queue behind it, whether the receiver is down or back, and none is sent while it
// is queued (queued is parked: nothing arrives by itself). PUT /instances/events/redeliver
// {"all": true} sends them all, each once, each record's events in order (notifications about
// records in different order lanes may arrive in any order).
func TestQueuedThenRedeliver(t *testing.T) {
	h := newHarness(t)
	w := newDLWorld(t, h, 2)
	rcv := newDLReceiver(t)
	rcv.setDown(true)
	h.retries = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}
	srv := h.start()
	base := srv.URL()
	id := h.createInstanceAt(base, rcv.url)

	// Down: the first notification exhausts its retries and is queued.
	a := w.createTicket()
	var queued []dlQueued
	waitUntil(t, "a queued notification", func() bool {
		queued = dlQueuedList(t, base)
		return len(queued) > 0
	})
	hist := dlWaitHistory(t, base, id, dlEv("CREATED", a))
	if q := queued[0]; q.Attempts != 3 || q.InstanceID != id || !strings.Contains(q.LastError, "503") {
		t.Errorf("queued notification: %+v; want 3 attempts (1 + 2 retries) of instance %d, last error HTTP 503", q, id)
	}
	var aCreated string
	for _, e := range hist {
		if e.EventType == "CREATED" && e.ObjectID == strconv.FormatInt(a.id, 10) {
			aCreated = e.ID
		}
	}
	if d := dlEventByID(t, base, aCreated); d.Status != "QUEUED" || d.attempts() != "503 PENDING, 503 PENDING, 503 QUEUED" {
		t.Errorf("event %s: status %s, attempts %s; want QUEUED after 503 PENDING, 503 PENDING, 503 QUEUED", aCreated, d.Status, d.attempts())
	}

	// Still down: newer changes queue behind it.
	dlNextVendorSecond(h.desk)
	w.update(a)
	c := w.createContact()
	dlWaitHistory(t, base, id, dlEv("UPDATED", a), dlEv("CREATED", c))

	// Back up: still nothing is sent, and newer changes still queue behind.
	rcv.setDown(false)
	dlNextVendorSecond(h.desk)
	w.update(c)
	d := w.createTicket()
	hist = dlWaitHistory(t, base, id, dlEv("UPDATED", c), dlEv("CREATED", d))
	time.Sleep(1500 * time.Millisecond) // several delivery rounds and polls: nothing may go out
	if n := len(rcv.accepted()); n != 0 {
		t.Errorf("%d notifications delivered while older ones were queued", n)
	}
	if n := rcv.refusals(); n != 3 {
		t.Errorf("the receiver was sent %d notifications while down, want 3 (the first one's attempts)", n)
	}
	queued = dlQueuedList(t, base)
	inQueue := map[string]bool{}
	for _, q := range queued {
		for _, e := range q.EventIDs {
			inQueue[e] = true
		}
	}
	for _, e := range dlHistory(t, base, id) {
		if e.Status != "QUEUED" || !inQueue[e.ID] {
			t.Errorf("event %s %s %s: status %s, in the queued list: %v; want QUEUED, listed", e.EventType, e.ObjectType, e.ObjectID, e.Status, inQueue[e.ID])
		}
	}

	// Redeliver everything: it arrives in the order queued, each once.
	resp := dlPut(t, base+"/instances/events/redeliver", `{"all": true}`)
	var requeued struct{ Requeued int }
	must(t, json.Unmarshal([]byte(resp), &requeued))
	if requeued.Requeued != len(queued) {
		t.Errorf("redeliver: requeued %d, want %d (the queued list)", requeued.Requeued, len(queued))
	}
	var want []string
	for _, q := range queued {
		want = append(want, q.ID)
	}
	probs := dlSettle(t, func() []string {
		evs, _, probs := rcv.received()
		return append(probs, w.problems(evs)...)
	})
	for _, p := range probs {
		t.Error(p)
	}
	var got []string
	events := 0
	for _, n := range rcv.accepted() {
		got = append(got, n.id)
		events += len(n.events)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("notifications redelivered:\n got  %v\n want %v (the queued list, each once)", got, want)
	}
	if events != len(hist) {
		t.Errorf("%d events delivered, want %d (the history), each once", events, len(hist))
	}
	if q := dlQueuedList(t, base); len(q) != 0 {
		t.Errorf("still queued after redelivery: %+v", q)
	}
	if dd := dlEventByID(t, base, aCreated); dd.Status != "NOTIFIED" {
		t.Errorf("event %s after redelivery: %s, attempts %s; want NOTIFIED", aCreated, dd.Status, dd.attempts())
	}
	t.Logf("%d notifications (%d events) queued and redelivered", len(want), events)
}

func dlPut(t *testing.T, url, body string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Authorization", "User user-secret-0f3e-49ab-a8c1-5d72e6, Organization org-secret-7b21-4c9d-9e05-a3f86b")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: %s %s", url, resp.Status, b)
	}
	return string(b)
}

// dlDelivery is the delivery field of GET /instances/{id}.
type dlDelivery struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	Since  string `json:"since"`
}

func dlInstanceDelivery(t *testing.T, base string, id int64) *dlDelivery {
	t.Helper()
	var v struct {
		Delivery *dlDelivery `json:"delivery"`
	}
	if err := json.Unmarshal([]byte(get(t, fmt.Sprintf("%s/instances/%d", base, id))), &v); err != nil {
		t.Fatal(err)
	}
	return v.Delivery
}

// TestCallbackGone: a callback that answers 410 Gone stops the instance's delivery at once: its
// notification is QUEUED after that one attempt, GET /instances/{id} says why and since when,
// changes made meanwhile queue behind it, and nothing more is sent to the gone callback, also
// across a restart. Pointing the instance at a new callback (PATCH) resumes delivery: every change
// arrives there, each record's events in order, and the instance no longer says stopped.
func TestCallbackGone(t *testing.T) {
	h := newHarness(t)
	w := newDLWorld(t, h, 4)
	var goneCalls atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		goneCalls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		rw.WriteHeader(http.StatusGone)
	}))
	t.Cleanup(gone.Close)
	rcv := newDLReceiver(t)
	srv := h.start()
	base := srv.URL()
	id := h.createInstanceAt(base, gone.URL)

	a := w.createTicket()
	var st *dlDelivery
	waitUntil(t, "the instance to say its delivery stopped", func() bool {
		st = dlInstanceDelivery(t, base, id)
		return st != nil
	})
	if since, err := time.Parse(time.RFC3339, st.Since); st.State != "stopped" || st.Reason != "callback answered 410 Gone" || err != nil {
		t.Errorf("delivery %+v (since: %v); want stopped, callback answered 410 Gone, since a time", st, err)
	} else if d := time.Since(since); d < -time.Minute || d > time.Minute {
		t.Errorf("stopped since %s, not about now", st.Since)
	}
	if q := dlQueuedList(t, base); len(q) != 1 || q[0].Attempts != 1 || !strings.Contains(q[0].LastError, "410") {
		t.Errorf("queued %+v; want one notification, QUEUED after its one attempt (410)", q)
	}

	dlNextVendorSecond(h.desk)
	w.update(a)
	c := w.createContact()
	for _, e := range dlWaitHistory(t, base, id, dlEv("CREATED", a), dlEv("UPDATED", a), dlEv("CREATED", c)) {
		if e.Status != "QUEUED" {
			t.Errorf("event %s %s %s: %s, want QUEUED (behind the gone one)", e.EventType, e.ObjectType, e.ObjectID, e.Status)
		}
	}

	srv.stop()
	srv = h.start()
	base = srv.URL()
	waitUntil(t, "the instance to say stopped after a restart", func() bool {
		st = dlInstanceDelivery(t, base, id)
		return st != nil && st.State == "stopped"
	})

	patch(t, srv, id, `{"configuration": {"event.notification.callback.url": "`+rcv.url+`"}}`)
	probs := dlSettle(t, func() []string {
		evs, _, probs := rcv.received()
		return append(probs, w.problems(evs)...)
	})
	for _, p := range probs {
		t.Error(p)
	}
	if st := dlInstanceDelivery(t, base, id); st != nil {
		t.Errorf("delivery %+v after the new callback, want none", st)
	}
	if n := goneCalls.Load(); n != 1 {
		t.Errorf("the gone callback was called %d times, want once", n)
	}
}
