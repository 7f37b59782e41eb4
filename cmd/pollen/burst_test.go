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
	n, o := 6000, simRigOptions{
		desk:      freshdesk.Options{Seed: 35, RatePerMinute: 1_000_000, PageCap: 50},
		incidents: map[string]any{"maxPages": 50},
	}
	if *burstFull {
		n, o = 35000, simRigOptions{desk: freshdesk.Options{Seed: 35, RatePerMinute: 1_000_000}}
	}
	r := newSimRig(t, o)
	r.interval = "0.05" // 3 s: polls re-reading the overfull second would slow the delivery down
	var requester int64
	r.inThePast(func() {
		requester = r.desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	srv := r.h.start()
	id := r.createInstance(srv, "")

	start, before := time.Now(), len(r.got())
	ids := r.desk.BurstCreateTickets(n, map[string]any{"requester_id": requester})
	t.Logf("BurstCreateTickets(%d): %s", n, time.Since(start).Round(time.Millisecond))
	r.simAwaitBurst(t, srv, id, ids, "CREATED", start, before)

	start, before = time.Now(), len(r.got())
	if err := r.desk.BurstUpdateTickets(ids, map[string]any{"priority": 4}); err != nil {
		t.Fatal(err)
	}
	t.Logf("BurstUpdateTickets(%d): %s", n, time.Since(start).Round(time.Millisecond))
	r.simAwaitBurst(t, srv, id, ids, "UPDATED", start, before)
}

// simAwaitBurst waits (120 s at most for 6,000) until every ticket of ids has an event of type
// typ, waits a few polls longer, and checks each got exactly one, that no other ticket event came
// with them, and that no gap was reported for the burst's second. Events before index before are
// not the burst's.
func (r *simRig) simAwaitBurst(t *testing.T, srv *runningServer, id int64, ids []int64, typ string, start time.Time, before int) {
	t.Helper()
	tk, _ := r.desk.Ticket(ids[0])
	second := tk["updated_at"].(string)
	r.desk.ResetStats()
	count := func() int {
		n := 0
		for _, e := range r.got()[before:] {
			if e.ObjectType == "incidents" && e.Type == typ {
				n++
			}
		}
		return n
	}
	// 120 s for 6,000; delivery runs at most 500 events a second (50 notifications of 10 per
	// callback), far fewer with -race.
	deadline := time.Now().Add(60*time.Second + time.Duration(len(ids)/100)*time.Second)
	first := time.Duration(0)
	for count() < len(ids) && time.Now().Before(deadline) {
		if first == 0 && count() > 0 {
			first = time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("first event after %s", first)
	took := time.Since(start)
	st := r.desk.Stats()
	r.desk.ResetStats()
	time.Sleep(6 * time.Second) // two more polls: anything extra would show
	idle := r.desk.Stats()
	evs := r.got()[before:]
	t.Logf("%d %s events in %s; vendor requests %d (GET /api/v2/tickets: %d); in the 6 s after: %d ticket list requests",
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
		if e.ObjectType == "incidents" && e.Type == typ && want[e.ObjectID] {
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
	if rej := r.rejections(); len(rej) > 0 {
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
	for _, p := range r.pollers(srv, id) {
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
	r := newSimRig(t, simRigOptions{
		desk:      freshdesk.Options{Seed: 25, RatePerMinute: 1_000_000, PageCap: 1},
		incidents: map[string]any{"pageSize": 10, "maxPages": 1},
	})
	var requester int64
	r.inThePast(func() {
		requester = r.desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	srv := r.h.start()
	id := r.createInstance(srv, "")
	r.desk.BurstCreateTickets(25, map[string]any{"requester_id": requester})
	var runtimeGap string
	waitUntil(t, "the runtime reports a gap", func() bool {
		for _, st := range srv.Runtime().Status(id) {
			if st.ObjectType == "incidents" && st.LastGap != "" {
				runtimeGap = st.LastGap
				return true
			}
		}
		return false
	})
	body := get(t, srv.URL()+fmt.Sprintf("/instances/%d", id))
	for _, p := range r.pollers(srv, id) {
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
	r := newSimRig(t, simRigOptions{desk: freshdesk.Options{Seed: 15, RatePerMinute: 1_000_000}, incidents: map[string]any{"pageSize": 10}})
	var requester int64
	r.inThePast(func() {
		requester = r.desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	srv := r.h.start()
	id := r.createInstance(srv, "")

	// The burst's second T; every ticket list request waits until T has passed, so that an
	// update during the walk moves a ticket out of T; the first request for page 2 updates the
	// burst's first ticket (on page 1).
	var second atomic.Int64
	var ids []int64
	var shifted atomic.Bool
	r.desk.OnListPage(func(resource string, page int) {
		T := second.Load()
		if resource != "tickets" || T == 0 {
			return
		}
		for r.desk.VendorNow().Unix() <= T {
			time.Sleep(10 * time.Millisecond)
		}
		if page == 2 && shifted.CompareAndSwap(false, true) {
			if _, err := r.desk.UpdateTicket(ids[0], map[string]any{"priority": 4}); err != nil {
				t.Error(err)
			}
		}
	})
	T := r.desk.VendorNow().Truncate(time.Second)
	ids = r.desk.BurstCreateTickets(15, map[string]any{"requester_id": requester, "created_at": T, "updated_at": T})
	second.Store(T.Unix())

	want := make([]string, 0, len(ids)+1)
	for _, tid := range ids {
		want = append(want, "CREATED incidents "+strconv.FormatInt(tid, 10))
	}
	want = append(want, "UPDATED incidents "+strconv.FormatInt(ids[0], 10))
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		got = got[:0]
		for _, e := range r.got() {
			got = append(got, e.Type+" "+e.ObjectType+" "+e.ObjectID)
		}
		if len(got) >= len(want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
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
			T.Format(vendorTime), got, r.pollers(srv, id))
	}
}
