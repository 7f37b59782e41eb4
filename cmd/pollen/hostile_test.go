package main

import (
	"context"

	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/sim/kernel"
	"github.com/pollen-hq/pollen/cmd/internal/demo"
)

// hostileAccount is another customer's Freshdesk account, on its own simulated vendor.
type hostileAccount struct {
	desk *freshdesk.Server
	url  string
}

func newHostileAccount(t *testing.T, opts freshdesk.Options) *hostileAccount {
	t.Helper()
	opts.APIKey = e2eAPIKey
	desk := freshdesk.New(opts)
	srv := httptest.NewServer(desk)
	t.Cleanup(srv.Close)
	return &hostileAccount{desk: desk, url: srv.URL}
}

// createInstanceOn creates an instance polling the account's tickets and contacts every 0.6 s.
func createInstanceOn(t *testing.T, srv *runningServer, deskURL, callbackURL string) int64 {
	t.Helper()
	id, err := demo.CreateInstance(context.Background(), srv.URL(), testUserSecret, testOrgSecret, "freshdeskv2", map[string]string{
		"subdomain":                        "hostile",
		"username":                         e2eAPIKey,
		"base.url":                         deskURL,
		"event.notification.callback.url":  callbackURL,
		"event.notification.signature.key": e2eSignatureKey,
		"event.poller.refresh_interval":    "0.01",
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// An ordinary account beside five whose vendors misbehave (four send one byte a second, one always
// offers another page) keeps its changes arriving: the hostile vendors hold only their own
// accounts' places.
func TestHostileVendorsDoNotStarveOthers(t *testing.T) {
	r := newSimRig(t, simRigOptions{desk: freshdesk.Options{Seed: 3}})
	var requester int64
	r.inThePast(func() {
		requester = r.desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	// The vendors first, so that Pollen stops before them at the end (a vendor's Close waits for
	// the requests it is dripping).
	var hostile []*hostileAccount
	for i := range 5 {
		opts := freshdesk.Options{Seed: int64(10 + i), Drip: kernel.Drip{Bytes: 1, Every: time.Second}}
		if i == 4 {
			opts = freshdesk.Options{Seed: 14, Paging: kernel.PagingFault{Kind: kernel.PagingEndless}}
		}
		h := newHostileAccount(t, opts)
		c := h.desk.CreateContact(map[string]any{"name": "Someone", "email": "someone@example.com"})
		h.desk.CreateTicket(map[string]any{"subject": "x", "requester_id": c["id"]})
		hostile = append(hostile, h)
	}
	srv := r.h.start()
	for _, h := range hostile {
		createInstanceOn(t, srv, h.url, r.h.recvURL)
	}
	// Let the hostile accounts fill what they can.
	waitUntil(t, "the hostile vendors to be polled", func() bool {
		for _, h := range hostile {
			if h.desk.Kernel().Stats().Requests == 0 {
				return false
			}
		}
		return true
	})
	id := r.createInstance(srv, "")
	r.nextVendorSecond()
	var want []string
	for range 10 {
		tk := r.desk.CreateTicket(map[string]any{"subject": "ordinary", "requester_id": requester})
		want = append(want, "CREATED incidents "+idOf(tk))
		time.Sleep(200 * time.Millisecond)
	}
	waitUntil(t, "the ordinary account's 10 changes", func() bool {
		got := map[string]bool{}
		for _, e := range r.got() {
			got[e.Type+" "+e.ObjectType+" "+e.ObjectID] = true
		}
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	})
	for _, p := range r.pollers(srv, id) {
		if p.LastError != "" {
			t.Errorf("the ordinary instance's %s poller: %s", p.ObjectType, p.LastError)
		}
	}
	for i, h := range hostile {
		if st := h.desk.Kernel().Stats(); st.MaxInFlight > 2 {
			t.Errorf("hostile account %d: %d requests at once, more than its 2 places", i+1, st.MaxInFlight)
		}
	}
}

// A page cut in the middle of a record (with an exact Content-Length), or before any record, is a
// failed request: asked again, and nothing is lost or reported twice.
func TestTruncatedPageLosesNothing(t *testing.T) {
	for _, kind := range []kernel.BodyKind{kernel.BodyTruncated, kernel.BodyNoRecords, kernel.BodyHTML} {
		t.Run(kind.String(), func(t *testing.T) {
			r := newSimRig(t, simRigOptions{desk: freshdesk.Options{Seed: 5}})
			var requester int64
			r.inThePast(func() {
				requester = r.desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
			})
			srv := r.h.start()
			r.createInstance(srv, "")
			r.nextVendorSecond()
			var want []string
			for range 5 {
				tk := r.desk.CreateTicket(map[string]any{"subject": "older", "requester_id": requester})
				want = append(want, "CREATED incidents "+idOf(tk))
			}
			r.desk.SetBody(kernel.BodyFault{Kind: kind, Scope: kernel.Scope{Resource: "tickets", Times: 2}})
			waitUntil(t, "every ticket", func() bool { return len(r.got()) >= len(want) })
			time.Sleep(time.Second) // a few more polls: anything reported twice would show
			var got []string
			seen := map[string]int{}
			for _, e := range r.got() {
				got = append(got, e.Type+" "+e.ObjectType+" "+e.ObjectID)
				seen[e.EventID]++
			}
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %s; got %v", w, got)
				}
			}
			for id, n := range seen {
				if n > 1 {
					t.Errorf("event %s delivered %d times", id, n)
				}
			}
			if f := r.desk.Kernel().Stats().Faults[kind.String()]; f != 2 {
				t.Errorf("the vendor spoiled %d pages, want 2", f)
			}
		})
	}
}

// Deleting an instance stops its polls at once, also one under way against a vendor that never
// stops offering pages.
func TestDeleteStopsRequests(t *testing.T) {
	h := newHarness(t)
	endless := newHostileAccount(t, freshdesk.Options{Seed: 9, Paging: kernel.PagingFault{Kind: kernel.PagingEndless}})
	srv := h.start() // started after the vendor: stopped before it
	id := createInstanceOn(t, srv, endless.url, h.recvURL)
	waitUntil(t, "the endless walk", func() bool { return endless.desk.Kernel().Stats().Requests > 20 })
	req, _ := http.NewRequest(http.MethodDelete, srv.URL()+"/instances/"+strconv.FormatInt(id, 10), nil)
	req.Header.Set("Authorization", "User "+testUserSecret+", Organization "+testOrgSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	// Within a second the polls are cancelled (a request already on the wire may still arrive);
	// from then on nothing is asked.
	time.Sleep(time.Second)
	before := endless.desk.Kernel().Stats().Requests
	time.Sleep(time.Second)
	if after := endless.desk.Kernel().Stats().Requests; after != before {
		t.Errorf("%d requests in the second after the first second after the delete", after-before)
	}
	if n := endless.desk.Kernel().Stats().InFlight; n != 0 {
		t.Errorf("%d requests under way", n)
	}
}
