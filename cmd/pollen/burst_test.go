package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

var burstFull = flag.Bool("burst.full", false, "TestBurstThirtyFiveThousandInOneSecond: 35,000 tickets with the shipped incidents.json "+
	"(about 3 min; about 6 min with -race, so -timeout 20m) instead of 6,000 with a page cap of 50")

// TestBurstThirtyFiveThousandInOneSecond: more tickets created in one second of the vendor's clock
// than one query can page through all arrive as CREATED, once each, without a gap: the second is
// read oldest first up to the page cap, and the rest newest first. Then all of them updated in one
// second: as many UPDATED, once each.
//
// With -burst.full: 35,000 tickets and the shipped incidents.json (100 per page, 300 pages: 30,000
// reachable from one end). By default, to stay under a minute with -race: 6,000 tickets with a page
// cap of 50 (definitions override and fakedesk PageCap), the same two-ended walk at the same ratio
// (1.2 times what one end reaches). The time goes mostly to delivery, which sends at most 50
// notifications of 10 events a second to one callback: 12,000 tickets would need 48 s of delivery
// alone (measured: 85 s with -race), 35,000 140 s.
func TestBurstThirtyFiveThousandInOneSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("about 45 s; skipped with -short")
	}
	n, desk, incidents := 6000, freshdesk.Options{Seed: 35, RatePerMinute: 1_000_000, PageCap: 50}, map[string]any{"maxPages": 50}
	if *burstFull {
		n, desk, incidents = 35000, freshdesk.Options{Seed: 35, RatePerMinute: 1_000_000}, nil
	}
	w := newSimWorld(t, desk, incidents)
	var requester int64
	w.Desk.InThePast(func() {
		requester = w.Desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	srv := w.Start()
	// Every 3 s: polls re-reading the overfull second would slow the delivery down.
	id := w.createInstance(srv.API, "", "0.05")

	start, before := time.Now(), len(w.Recv.Events())
	ids := w.Desk.BurstCreateTickets(n, map[string]any{"requester_id": requester})
	t.Logf("BurstCreateTickets(%d): %s", n, time.Since(start).Round(time.Millisecond))
	w.awaitBurst(t, srv, id, ids, "CREATED", start, before)

	start, before = time.Now(), len(w.Recv.Events())
	if err := w.Desk.BurstUpdateTickets(ids, map[string]any{"priority": 4}); err != nil {
		t.Fatal(err)
	}
	t.Logf("BurstUpdateTickets(%d): %s", n, time.Since(start).Round(time.Millisecond))
	w.awaitBurst(t, srv, id, ids, "UPDATED", start, before)
}

// awaitBurst waits (120 s at most for 6,000) until every ticket of ids has an event of type typ,
// lets the instance settle (two more polls, nothing left to send), and checks each got exactly
// one, that no other ticket event came with them, and that no gap was reported for the burst's
// second. Events before index before are not the burst's. The times it logs are for reading,
// never checked.
func (w *simWorld) awaitBurst(t *testing.T, srv *rig.Pollen, id int64, ids []int64, typ string, start time.Time, before int) {
	t.Helper()
	tk, _ := w.Desk.Ticket(ids[0])
	second := tk["updated_at"].(string)
	w.Desk.ResetStats()
	count := func() int {
		n := 0
		for _, e := range w.Recv.Events()[before:] {
			if e.ObjectType == "incidents" && e.EventType == typ {
				n++
			}
		}
		return n
	}
	// 120 s for 6,000; delivery runs at most 500 events a second (50 notifications of 10 per
	// callback), far fewer with -race.
	first := time.Duration(0)
	rig.Within(60*time.Second+time.Duration(len(ids)/100)*time.Second, func() bool {
		n := count()
		if first == 0 && n > 0 {
			first = time.Since(start)
		}
		return n >= len(ids)
	})
	t.Logf("first event after %s", first)
	took := time.Since(start)
	st := w.Desk.Stats()
	w.Desk.ResetStats()
	srv.API.Settle(id) // more polls: anything extra would show
	idle := w.Desk.Stats()
	evs := w.Recv.Events()[before:]
	t.Logf("%d %s events in %s; vendor requests %d (GET /api/v2/tickets: %d); while settling: %d ticket list requests",
		count(), typ, took.Round(time.Millisecond), st.Requests, st.ByEndpoint["GET /api/v2/tickets"], idle.ByEndpoint["GET /api/v2/tickets"])

	want := make(map[string]bool, len(ids))
	for _, tid := range ids {
		want[strconv.FormatInt(tid, 10)] = true
	}
	got := map[string]int{}
	eventIDs := map[string]int{}
	var other []string
	for _, e := range evs {
		eventIDs[e.EventID]++
		if e.ObjectType == "incidents" && e.EventType == typ && want[e.ObjectID] {
			got[e.ObjectID]++
			continue
		}
		if len(other) < 10 {
			other = append(other, e.String())
		}
	}
	missing, twice := 0, 0
	var examples []string
	for oid := range want {
		switch got[oid] {
		case 0:
			missing++
			if len(examples) < 10 {
				examples = append(examples, oid)
			}
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(got) != len(ids) {
		defer t.FailNow() // what comes next would only repeat it
		t.Errorf("%s: %d distinct tickets of %d, %d missing (e.g. %v), %d more than once", typ, len(got), len(ids), missing, examples, twice)
	}
	if len(other) > 0 {
		t.Errorf("unexpected events besides the burst's %s: %v", typ, other)
	}
	for eid, n := range eventIDs {
		if n > 1 {
			t.Errorf("eventId %s delivered %d times", eid, n)
			break
		}
	}
	if rej := w.Recv.Rejected(); len(rej) > 0 {
		t.Errorf("%d notifications rejected by the receiver: %v", len(rej), rej[:min(len(rej), 5)])
	}
	// The gap as GET /instances/{id} shows it (pollers[].lastGap), and as the runtime holds it.
	// A gap for the create burst's second reported while the update burst moves its tickets out
	// from under the newest-first read is a false alarm (every ticket was read, as checked
	// above): logged, not failed.
	gap := func(where, objectType, gap string) {
		switch {
		case gap == "":
		case strings.Contains(gap, "second "+second):
			t.Errorf("%s: poller %s reports a gap in the burst's second: %s", where, objectType, gap)
		default:
			t.Logf("%s: poller %s reports a gap elsewhere: %s", where, objectType, gap)
		}
	}
	for _, p := range srv.API.Pollers(id) {
		if p.LastError != "" {
			t.Logf("poller %s: lastError %s", p.ObjectType, p.LastError)
		}
		gap(fmt.Sprintf("GET /instances/%d", id), p.ObjectType, p.LastGap)
	}
	for _, st := range srv.Runtime().Status(id) {
		gap("runtime", st.ObjectType, st.LastGap)
	}
}

// TestBurstGapShownInPollers: 25 tickets in one second, pages of 10, one page per query: the walk
// reads 10 oldest first and 10 newest first and reports the 5 in between as a gap. The README
// says the gap is shown in the instance's pollers (lastGap); the runtime has it, GET
// /instances/{id} must show it.
func TestBurstGapShownInPollers(t *testing.T) {
	w := newSimWorld(t, freshdesk.Options{Seed: 25, RatePerMinute: 1_000_000, PageCap: 1}, map[string]any{"pageSize": 10, "maxPages": 1})
	var requester int64
	w.Desk.InThePast(func() {
		requester = w.Desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	srv := w.Start()
	id := w.createInstance(srv.API, "", "")
	w.Desk.BurstCreateTickets(25, map[string]any{"requester_id": requester})
	var runtimeGap string
	rig.Until(t, "the runtime reports a gap", func() bool {
		for _, st := range srv.Runtime().Status(id) {
			if st.ObjectType == "incidents" && st.LastGap != "" {
				runtimeGap = st.LastGap
				return true
			}
		}
		return false
	})
	body := srv.API.Get(fmt.Sprintf("/instances/%d", id))
	for _, p := range srv.API.Pollers(id) {
		if p.ObjectType == "incidents" && p.LastGap != "" {
			return
		}
	}
	t.Errorf("the runtime has the gap %q; GET /instances/%d shows none: %s", runtimeGap, id, body)
}

// TestBurstShiftedDuringPageWalk: 15 tickets share one second, more than one page of 10. Pollen
// reads that second by page number; a ticket of page 1 updated just before page 2 is read moves
// to the tail, so the ticket that was first on page 2 moves up onto page 1 and page 2 starts after
// it. With the shipped definition (no lookback) and no replication lag, the moved ticket is read
// at the tail in the same poll, the cursor passes the second, and the skipped ticket is never
// reported.
func TestBurstShiftedDuringPageWalk(t *testing.T) {
	w := newSimWorld(t, freshdesk.Options{Seed: 15, RatePerMinute: 1_000_000}, map[string]any{"pageSize": 10})
	var requester int64
	w.Desk.InThePast(func() {
		requester = w.Desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	srv := w.Start()
	id := w.createInstance(srv.API, "", "")

	// The burst's second T; every ticket list request waits until T has passed, so that an
	// update during the walk moves a ticket out of T; the first request for page 2 updates the
	// burst's first ticket (on page 1).
	var second atomic.Int64
	var ids []int64
	var shifted atomic.Bool
	w.Desk.OnListPage(func(resource string, page int) {
		T := second.Load()
		if resource != "tickets" || T == 0 {
			return
		}
		if w.Desk.VendorNow().Unix() <= T {
			w.Desk.NextSecond()
		}
		if page == 2 && shifted.CompareAndSwap(false, true) {
			if _, err := w.Desk.UpdateTicket(ids[0], map[string]any{"priority": 4}); err != nil {
				t.Error(err)
			}
		}
	})
	T := w.Desk.VendorNow().Truncate(time.Second)
	ids = w.Desk.BurstCreateTickets(15, map[string]any{"requester_id": requester, "created_at": T, "updated_at": T})
	second.Store(T.Unix())

	want := make([]string, 0, len(ids)+1)
	for _, tid := range ids {
		want = append(want, "CREATED incidents "+strconv.FormatInt(tid, 10))
	}
	want = append(want, "UPDATED incidents "+strconv.FormatInt(ids[0], 10))
	rig.Within(rig.Patience, func() bool { return len(w.Recv.Events()) >= len(want) })
	got := w.Recv.Keys()
	if !shifted.Load() {
		t.Fatal("Pollen never asked for page 2")
	}
	var missing []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		t.Errorf("missing %v (burst ids %d..%d, second %s); got %v; pollers %+v", missing, ids[0], ids[len(ids)-1],
			T.Format(vendorTime), got, srv.API.Pollers(id))
	}
}
