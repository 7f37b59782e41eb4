package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/sim/kernel"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

// An ordinary account beside five whose vendors misbehave (four send one byte a second, one always
// offers another page) keeps its changes arriving: the hostile vendors hold only their own
// accounts' places.
func TestHostileVendorsDoNotStarveOthers(t *testing.T) {
	w := rig.NewWorld(t, rig.FreshdeskOptions{Desk: freshdesk.Options{Seed: 3}})
	var requester int64
	w.Desk.InThePast(func() {
		requester = w.Desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	// The vendors before Pollen, so that Pollen stops before them at the end (a vendor's Close
	// waits for the requests it is dripping).
	var hostile []*rig.Freshdesk
	for i := range 5 {
		opts := freshdesk.Options{Seed: int64(10 + i), Drip: kernel.Drip{Bytes: 1, Every: time.Second}}
		if i == 4 {
			opts = freshdesk.Options{Seed: 14, Paging: kernel.PagingFault{Kind: kernel.PagingEndless}}
		}
		h := rig.NewFreshdesk(t, rig.FreshdeskOptions{Desk: opts})
		c := h.CreateContact(map[string]any{"name": "Someone", "email": "someone@example.com"})
		h.CreateTicket(map[string]any{"subject": "x", "requester_id": c["id"]})
		hostile = append(hostile, h)
	}
	srv := w.Start()
	for _, h := range hostile {
		w.CreateInstance(srv.API, map[string]string{"subdomain": "hostile", "base.url": h.URL})
	}
	// Let the hostile accounts fill what they can.
	rig.Until(t, "the hostile vendors to be polled", func() bool {
		for _, h := range hostile {
			if h.Kernel().Stats().Requests == 0 {
				return false
			}
		}
		return true
	})
	id := w.CreateInstance(srv.API, nil)
	w.Desk.NextSecond()
	// One change after another, each arriving while the hostile vendors hold their places.
	for i := range 5 {
		tk := w.Desk.CreateTicket(map[string]any{"subject": "ordinary", "requester_id": requester})
		rig.Until(t, "the ordinary account's change "+strconv.Itoa(i+1), func() bool { return w.Recv.Has("CREATED incidents " + idOf(tk)) })
	}
	for _, p := range srv.API.Pollers(id) {
		if p.LastError != "" {
			t.Errorf("the ordinary instance's %s poller: %s", p.ObjectType, p.LastError)
		}
	}
	for i, h := range hostile {
		if st := h.Kernel().Stats(); st.MaxInFlight > 2 {
			t.Errorf("hostile account %d: %d requests at once, more than its 2 places", i+1, st.MaxInFlight)
		}
	}
}

// A page cut in the middle of a record (with an exact Content-Length), or before any record, is a
// failed request: asked again, and nothing is lost or reported twice.
func TestTruncatedPageLosesNothing(t *testing.T) {
	for _, kind := range []kernel.BodyKind{kernel.BodyTruncated, kernel.BodyNoRecords, kernel.BodyHTML} {
		t.Run(kind.String(), func(t *testing.T) {
			w := rig.NewWorld(t, rig.FreshdeskOptions{Desk: freshdesk.Options{Seed: 5}})
			var requester int64
			w.Desk.InThePast(func() {
				requester = w.Desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
			})
			srv := w.Start()
			id := w.CreateInstance(srv.API, nil)
			w.Desk.NextSecond()
			var want []string
			for range 5 {
				tk := w.Desk.CreateTicket(map[string]any{"subject": "older", "requester_id": requester})
				want = append(want, "CREATED incidents "+idOf(tk))
			}
			w.Desk.SetBody(kernel.BodyFault{Kind: kind, Scope: kernel.Scope{Resource: "tickets", Times: 2}})
			w.WaitFor(srv.API, id, want...)
			w.Recv.ExpectExactly(t, want...)
			if f := w.Desk.Kernel().Stats().Faults[kind.String()]; f != 2 {
				t.Errorf("the vendor spoiled %d pages, want 2", f)
			}
		})
	}
}

// Deleting an instance stops its polls at once, also one under way against a vendor that never
// stops offering pages.
func TestDeleteStopsRequests(t *testing.T) {
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	endless := rig.NewFreshdesk(t, rig.FreshdeskOptions{Desk: freshdesk.Options{Seed: 9, Paging: kernel.PagingFault{Kind: kernel.PagingEndless}}})
	srv := w.Start() // started after the vendor: stopped before it
	id := w.CreateInstance(srv.API, map[string]string{"base.url": endless.URL})
	witness := w.CreateInstance(srv.API, nil) // polls on, to show the scheduler at work
	rig.Until(t, "the endless walk", func() bool { return endless.Kernel().Stats().Requests > 20 })
	srv.API.Must(http.MethodDelete, "/instances/"+strconv.FormatInt(id, 10), nil)
	// The poll under way is cancelled: what it had on the wire ends (a request already sent may
	// still arrive while the other instance polls once)...
	rig.Until(t, "no request under way", func() bool { return endless.Kernel().Stats().InFlight == 0 })
	srv.API.Polled(witness, time.Now())
	// ...and while the other instance polls twice more, nothing more is asked.
	before := endless.Kernel().Stats().Requests
	srv.API.Polled(witness, time.Now())
	srv.API.Polled(witness, time.Now())
	if after := endless.Kernel().Stats().Requests; after != before {
		t.Errorf("%d requests long after the delete", after-before)
	}
	if n := endless.Kernel().Stats().InFlight; n != 0 {
		t.Errorf("%d requests under way", n)
	}
}
