package rig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/engine"
)

// Receiver is a callback on loopback that checks every notification's signature
// (webhook.Receiver) and keeps every notification it accepts, in arrival order. It can be taken
// down (503s), told to refuse the next few notifications, and made slow.
type Receiver struct {
	URL string
	Key string // the signature key it checks

	mu        sync.Mutex
	down      bool
	refuseN   int           // refuse this many more notifications
	refused   int           // notifications answered 503
	delay     time.Duration // taken over a notification after keeping it, before answering
	notes     []Note
	events    []Event
	rejected  []string // refused by webhook.Receiver: bad signature, bad body
	malformed []string // accepted, but not a well-formed notification
}

// Note is one notification accepted.
type Note struct {
	ID         string // message.eventId
	Header     string // Elements-Webhook-Id
	InstanceID int64  // message.instanceId
	Events     []Event
}

// Event is one event as received, with the record the notification carried for it; Seq is its
// arrival order over all notifications.
type Event struct {
	engine.EventBody
	Record     json.RawMessage
	Seq        int
	InstanceID int64 // of the notification that carried it
}

// Key is "EVENTTYPE objectType objectId", as tests name the events they want.
func (e Event) Key() string { return e.EventType + " " + e.ObjectType + " " + e.ObjectID }

func (e Event) String() string {
	return fmt.Sprintf("#%d %s %s %s date=%s eventId=%s", e.Seq, e.EventType, e.ObjectType, e.ObjectID, e.Date, e.EventID)
}

// NewReceiver serves a receiver checking signatures with SignatureKey until the test ends.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{Key: SignatureKey}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// ServeHTTP answers 503 while the receiver is down or has refusals left, and otherwise checks
// the notification and keeps it.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	refuse, delay := r.down || r.refuseN > 0, r.delay
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
		Key: r.Key,
		Handle: func(n *webhook.Notification, _ []byte) {
			r.add(header, n)
			if delay > 0 {
				time.Sleep(delay) // a slow receiver, on purpose
			}
		},
		Rejected: func(reason string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.rejected = append(r.rejected, reason)
		},
	}
	rc.ServeHTTP(w, req)
}

func (r *Receiver) add(header string, n *webhook.Notification) {
	note := Note{ID: n.Message.EventID, Header: header, InstanceID: n.Message.InstanceID}
	recs := n.Message.Records()
	var bad []string
	if len(recs) != len(n.Message.Events) {
		bad = append(bad, fmt.Sprintf("notification %s: %d events but %d records", note.ID, len(n.Message.Events), len(recs)))
	}
	if header != note.ID {
		bad = append(bad, fmt.Sprintf("notification %s came with %s %q", note.ID, webhook.HeaderID, header))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range n.Message.Events {
		ev := Event{EventBody: e, Seq: len(r.events), InstanceID: note.InstanceID}
		if i < len(recs) {
			var buf bytes.Buffer
			if err := json.Compact(&buf, recs[i]); err == nil {
				ev.Record = buf.Bytes()
			}
		}
		note.Events = append(note.Events, ev)
		r.events = append(r.events, ev)
	}
	r.notes = append(r.notes, note)
	r.malformed = append(r.malformed, bad...)
}

// SetDown takes the receiver down (every notification answered 503) or brings it back.
func (r *Receiver) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// RefuseNext makes the receiver answer the next n notifications 503.
func (r *Receiver) RefuseNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuseN = n
}

// SetDelay makes the receiver take d over each notification it accepts before answering.
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay = d
}

// Refusals is how many notifications were answered 503.
func (r *Receiver) Refusals() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// Accepted returns the notifications accepted, in arrival order.
func (r *Receiver) Accepted() []Note {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notes)
}

// Events returns every event accepted, copies included, in arrival order.
func (r *Receiver) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Keys returns every event accepted as its Key, in arrival order.
func (r *Receiver) Keys() []string {
	var out []string
	for _, e := range r.Events() {
		out = append(out, e.Key())
	}
	return out
}

// Has reports whether an event of each key in want has arrived.
func (r *Receiver) Has(want ...string) bool {
	have := map[string]bool{}
	for _, e := range r.Events() {
		have[e.Key()] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

// Rejected returns why notifications were refused: a bad signature, a body that is not a
// notification.
func (r *Receiver) Rejected() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.rejected)
}

// Received returns every event accepted, once per eventId (the first copy), in arrival order;
// how many copies beyond the first arrived; and the problems with them: copies of one eventId
// that differ, events of one record out of the order of their dates, notifications malformed or
// refused for a bad signature. Receivers de-duplicate on eventId, so copies must be the same
// event. A record is one object of one instance.
func (r *Receiver) Received() (evs []Event, dups int, problems []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := map[string]Event{}
	latest := map[string]Event{} // by record
	for _, e := range r.events {
		f, seen := first[e.EventID]
		if !seen {
			first[e.EventID] = e
			evs = append(evs, e)
			k := e.ObjectType + " " + e.ObjectID
			if l, ok := latest[fmt.Sprint(e.InstanceID, " ", k)]; ok && e.Date < l.Date { // ISO 8601 UTC strings order as times
				problems = append(problems, fmt.Sprintf("%s: %s dated %s arrived after %s dated %s", k, e.EventType, e.Date, l.EventType, l.Date))
			}
			latest[fmt.Sprint(e.InstanceID, " ", k)] = e
			continue
		}
		dups++
		if f.EventBody != e.EventBody || !bytes.Equal(f.Record, e.Record) {
			problems = append(problems, fmt.Sprintf("eventId %s delivered as two different events: %+v %s / %+v %s",
				e.EventID, f.EventBody, f.Record, e.EventBody, e.Record))
		}
	}
	problems = append(problems, r.malformed...)
	for _, reason := range r.rejected {
		problems = append(problems, "notification rejected by the receiver: "+reason)
	}
	return evs, dups, problems
}

// ExpectExactly checks that exactly the events of want arrived (by Key, in any order), each
// eventId once, and that no notification was refused or malformed.
func (r *Receiver) ExpectExactly(t testing.TB, want ...string) {
	t.Helper()
	got := r.Keys()
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got  %v\n want %v", got, want)
	}
	_, dups, problems := r.Received()
	if dups > 0 {
		t.Errorf("%d events delivered more than once", dups)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
