package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

var (
	simSeed     = flag.Uint64("sim.seed", 0, "run TestSimulation for this seed only (0: the default seeds)")
	simLookback = flag.Float64("sim.lookback", 3, "TestSimulation: the lookback, in seconds, of the instance's incidents and contacts")
)

// simDefaultSeeds are the seeds TestSimulation runs without -sim.seed.
var simDefaultSeeds = []uint64{1, 2, 3}

// TestSimulation drives a hostile simulated Freshdesk with seeded random changes while a real
// Pollen server polls it, then checks the events the receiver got against the simulator's change
// log (freshdesk.Changes, the ground truth).
//
// Faults: ShiftDuringWalk 0.3, VisibleAfter 1 s (the instance re-reads with lookback 3 s), 5% of
// requests answered 500, 503 or 429, the vendor's clock 3 s behind, and a create and an update
// burst of 31 to 42 tickets in one second, with tickets read 10 per page and at most 3 pages per
// query (definitions override, fakedesk PageCap): the bursts overfill their second. Changes:
// tickets and contacts created, updated, deleted, restored; tickets closed and archived.
//
// Checks: (a) every changed ticket and contact ends with an event dated its final updated_at,
// DELETED exactly when it ends deleted (archived tickets: never DELETED); (b) created during the
// run and never deleted: exactly one CREATED (deleted at some point: at most one, since a record
// deleted before Pollen saw it and restored later is, by the platform's rule, UPDATED); records
// from before the instance: none; (c) deleted at the end: a DELETED with its final updated_at;
// (d) no (object, date, type) and no eventId twice; (e) no event for a record the run did not
// change; (f) every notification signed.
//
// The driver never deletes or restores a record in the second of its previous change: two states
// under one (id, updated_at) cannot be told apart by any poller.
//
// Replay one seed: go test ./cmd/pollen -run 'TestSimulation$' -sim.seed N -v
func TestSimulation(t *testing.T) {
	seeds := simDefaultSeeds
	if *simSeed != 0 {
		seeds = []uint64{*simSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runSimulation(t, seed) })
	}
}

// simWorld is the rig's world for the simulations: a fakedesk built with the given options
// (faults included), counting the ticket list requests that read newest first (overfull seconds
// read from the top) and those for page 2 or later, and a --definitions folder overriding the
// shipped incidents.json's top-level fields (none when incidents is nil).
type simWorld struct {
	*rig.World
	descWalks atomic.Int64
	deepPages atomic.Int64
}

func newSimWorld(t *testing.T, desk freshdesk.Options, incidents map[string]any) *simWorld {
	sw := &simWorld{}
	sw.World = rig.NewWorld(t, rig.FreshdeskOptions{Desk: desk, Observe: func(req *http.Request) {
		if req.Method == http.MethodGet && req.URL.Path == "/api/v2/tickets" {
			q := req.URL.Query()
			if q.Get("order_type") == "desc" {
				sw.descWalks.Add(1)
			}
			if p, _ := strconv.Atoi(q.Get("page")); p >= 2 {
				sw.deepPages.Add(1)
			}
		}
	}})
	if incidents != nil {
		sw.Override("freshdeskv2", "incidents", incidents)
	}
	return sw
}

// createInstance creates seed 000's instance against the world, polling every 0.6 s, or
// every interval minutes when given, with the given event.poller.configuration ("" keeps the
// example's).
func (sw *simWorld) createInstance(api *rig.Client, pollerConfig, interval string) int64 {
	conf := map[string]string{}
	if pollerConfig != "" {
		conf["event.poller.configuration"] = pollerConfig
	}
	if interval != "" {
		conf["event.poller.refresh_interval"] = interval
	}
	return sw.CreateInstance(api, conf)
}

// simObjectTypes maps the simulator's resources to Pollen's object types.
var simObjectTypes = map[string]string{"tickets": "incidents", "contacts": "contacts"}

// vendorTime is how the simulator writes timestamps, and how events carry their dates.
// (delivery_test.go uses it too.)
const vendorTime = "2006-01-02T15:04:05Z"

// simChange is one change of a record; run: made after the instance was created.
type simChange struct {
	freshdesk.Change
	run bool
}

// simRecord is the ground truth for one ticket or contact, from the change log.
type simRecord struct {
	key        string // "incidents 123"
	history    []simChange
	changedRun bool // changed after the instance was created
	createdRun bool
	deletedRun bool // deleted at some point after the instance was created
	archived   bool
	deleted    bool      // deleted at the end
	final      time.Time // updated_at at the end
}

// simTruth folds the change log; changes from index run on were made after the instance existed.
func simTruth(changes []freshdesk.Change, run int) map[string]*simRecord {
	recs := map[string]*simRecord{}
	for i, c := range changes {
		ot, ok := simObjectTypes[c.Resource]
		if !ok {
			continue
		}
		key := ot + " " + strconv.FormatInt(c.ID, 10)
		rec := recs[key]
		if rec == nil {
			rec = &simRecord{key: key}
			recs[key] = rec
		}
		inRun := i >= run
		rec.history = append(rec.history, simChange{c, inRun})
		rec.final = c.UpdatedAt
		rec.changedRun = rec.changedRun || inRun
		switch c.Kind {
		case "created":
			rec.createdRun = inRun
			rec.deleted = false
		case "deleted":
			rec.deleted = true
			rec.deletedRun = rec.deletedRun || inRun
		case "restored":
			rec.deleted = false
		case "archived":
			rec.archived = true
		}
	}
	return recs
}

// settled reports whether the record's last event is its final state.
func (rec *simRecord) settled(evs []rig.Event) bool {
	if !rec.changedRun || rec.archived {
		return true
	}
	if len(evs) == 0 {
		return false
	}
	last := evs[len(evs)-1]
	return last.Date == rec.final.Format(vendorTime) && (last.EventType == "DELETED") == rec.deleted
}

// problems lists what the record's events get wrong.
func (rec *simRecord) problems(evs []rig.Event) []string {
	var out []string
	count := map[string]int{}
	for _, e := range evs {
		count[e.EventType]++
	}
	final := rec.final.Format(vendorTime)
	switch {
	case !rec.changedRun:
		if len(evs) > 0 {
			out = append(out, "(e) never changed after the instance was created, yet got events")
		}
		return out
	case rec.archived:
		if count["DELETED"] > 0 {
			out = append(out, "archived ticket got DELETED")
		}
	default:
		if !rec.settled(evs) {
			want := "CREATED or UPDATED"
			if rec.deleted {
				want = "DELETED"
			}
			out = append(out, fmt.Sprintf("(a) last event is not %s dated %s (its final updated_at)", want, final))
		}
		if rec.deleted && !slices.ContainsFunc(evs, func(e rig.Event) bool { return e.EventType == "DELETED" && e.Date == final }) {
			out = append(out, "(c) deleted at the end but no DELETED dated "+final)
		}
	}
	switch {
	case rec.createdRun && !rec.deletedRun && !rec.archived:
		if count["CREATED"] != 1 {
			out = append(out, fmt.Sprintf("(b) created during the run and never deleted: %d CREATED, want 1", count["CREATED"]))
		}
	case rec.createdRun:
		if count["CREATED"] > 1 {
			out = append(out, fmt.Sprintf("(b) %d CREATED, want at most 1", count["CREATED"]))
		}
	default:
		if count["CREATED"] > 0 {
			out = append(out, fmt.Sprintf("(b) existed before the instance: %d CREATED, want none", count["CREATED"]))
		}
	}
	return out
}

// simDriver makes the random changes of one run. Only it deletes, restores and archives, so its
// model of which records are live is exact; ShiftDuringWalk only moves updated_at.
type simDriver struct {
	t        *testing.T
	w        *simWorld
	rng      *rand.Rand
	tickets  []int64
	contacts []int64
	tDeleted map[int64]bool
	tEver    map[int64]bool // deleted at some point: never archived
	tArch    map[int64]bool
	cDeleted map[int64]bool
	bursts   []string
	maxBurst int
}

func (d *simDriver) pick(ids []int64, ok func(int64) bool) (int64, bool) {
	var cands []int64
	for _, id := range ids {
		if ok(id) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return 0, false
	}
	return cands[d.rng.IntN(len(cands))], true
}

// changedThisSecond reports whether a record's updated_at is the vendor's current second. Deleting
// or restoring it now would give two states one (id, updated_at): a poller can tell them apart
// by nothing, so the driver never does that.
func (d *simDriver) changedThisSecond(rec map[string]any) bool {
	u, _ := time.Parse(vendorTime, rec["updated_at"].(string))
	return !u.Before(d.w.Desk.VendorNow().Truncate(time.Second))
}

func (d *simDriver) liveTicket(id int64) bool { return !d.tDeleted[id] && !d.tArch[id] }

func (d *simDriver) liveContact(id int64) bool { return !d.cDeleted[id] }

func (d *simDriver) check(err error, what string, id int64) {
	if err != nil {
		d.t.Errorf("driver: %s %d: %v", what, id, err)
	}
}

// step makes one random change.
func (d *simDriver) step(i int) {
	desk := d.w.Desk
	switch n := d.rng.IntN(100); {
	case n < 16: // create a ticket
		fields := map[string]any{"subject": fmt.Sprintf("sim ticket %d", i)}
		if c, ok := d.pick(d.contacts, d.liveContact); ok {
			fields["requester_id"] = c
		}
		t := desk.CreateTicket(fields)
		d.tickets = append(d.tickets, t["id"].(int64))
	case n < 40: // update a ticket
		if id, ok := d.pick(d.tickets, d.liveTicket); ok {
			f := map[string]any{"priority": 1 + d.rng.IntN(4)}
			if d.rng.IntN(3) == 0 {
				f = map[string]any{"status": 2 + d.rng.IntN(4)} // 5: closed
			}
			_, err := desk.UpdateTicket(id, f)
			d.check(err, "update ticket", id)
		}
	case n < 48: // delete a ticket
		if id, ok := d.pick(d.tickets, d.liveTicket); ok {
			if t, _ := desk.Ticket(id); !d.changedThisSecond(t) {
				d.check(desk.DeleteTicket(id), "delete ticket", id)
				d.tDeleted[id], d.tEver[id] = true, true
			}
		}
	case n < 54: // restore a ticket
		if id, ok := d.pick(d.tickets, func(id int64) bool { return d.tDeleted[id] }); ok {
			if t, _ := desk.Ticket(id); !d.changedThisSecond(t) {
				d.check(desk.RestoreTicket(id), "restore ticket", id)
				d.tDeleted[id] = false
			}
		}
	case n < 58: // archive a closed ticket (never one that was deleted), or close one
		closed := func(id int64) bool {
			t, _ := desk.Ticket(id)
			return d.liveTicket(id) && !d.tEver[id] && t["status"] == int64(5)
		}
		if id, ok := d.pick(d.tickets, closed); ok {
			d.check(desk.ArchiveTicket(id), "archive ticket", id)
			d.tArch[id] = true
		} else if id, ok := d.pick(d.tickets, d.liveTicket); ok {
			_, err := desk.UpdateTicket(id, map[string]any{"status": 5})
			d.check(err, "close ticket", id)
		}
	case n < 70: // create a contact
		c := desk.CreateContact(map[string]any{"name": fmt.Sprintf("Sim Contact %d", i)})
		d.contacts = append(d.contacts, c["id"].(int64))
	case n < 88: // update a contact
		if id, ok := d.pick(d.contacts, d.liveContact); ok {
			_, err := desk.UpdateContact(id, map[string]any{"job_title": fmt.Sprintf("title %d", d.rng.IntN(1000))})
			d.check(err, "update contact", id)
		}
	case n < 95: // delete a contact, keeping a few live ones as requesters
		live := 0
		for _, id := range d.contacts {
			if d.liveContact(id) {
				live++
			}
		}
		if live < 5 {
			break
		}
		if id, ok := d.pick(d.contacts, d.liveContact); ok {
			if c, _ := desk.Contact(id); !d.changedThisSecond(c) {
				d.check(desk.DeleteContact(id), "delete contact", id)
				d.cDeleted[id] = true
			}
		}
	default: // restore a contact
		if id, ok := d.pick(d.contacts, func(id int64) bool { return d.cDeleted[id] }); ok {
			if c, _ := desk.Contact(id); !d.changedThisSecond(c) {
				d.check(desk.RestoreContact(id), "restore contact", id)
				d.cDeleted[id] = false
			}
		}
	}
}

// burst makes 31 to 42 ticket changes in one second of the vendor's clock: more than the 3 pages
// of 10 one query may read, fewer than the 60 that reading the second from both ends reaches. The
// second holds nothing else from the driver, and the driver waits until the burst's events have
// arrived (or 15 s), so that the newest-first read of the second starts at the second's top
// rather than below later changes (with pages of 10 and a cap of 3, 30 later changes would put
// the second out of its reach, a gap Pollen reports: a limit of the vendor's API, not a loss).
func (d *simDriver) burst(update bool) {
	n := 31 + d.rng.IntN(12)
	d.maxBurst = max(d.maxBurst, n)
	d.w.Desk.NextSecond()
	before := len(d.w.Recv.Events())
	var ids []int64
	typ := "CREATED"
	if update {
		typ = "UPDATED"
		live := slices.DeleteFunc(slices.Clone(d.tickets), func(id int64) bool { return !d.liveTicket(id) })
		d.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
		ids = live[:min(n, len(live))]
		d.check(d.w.Desk.BurstUpdateTickets(ids, map[string]any{"priority": 1 + d.rng.IntN(4)}), "burst update", 0)
	} else {
		ids = d.w.Desk.BurstCreateTickets(n, nil)
		d.tickets = append(d.tickets, ids...)
	}
	tk, _ := d.w.Desk.Ticket(ids[0])
	second := tk["updated_at"].(string)
	d.bursts = append(d.bursts, fmt.Sprintf("%s %d at %s", typ, len(ids), second))
	// No event can come before the burst's second has passed (VisibleAfter): the driver's next
	// change is in a later second.
	want := map[string]bool{}
	for _, id := range ids {
		want[strconv.FormatInt(id, 10)] = true
	}
	rig.Within(15*time.Second, func() bool {
		for _, e := range d.w.Recv.Events()[before:] {
			if e.ObjectType == "incidents" && e.Date == second {
				delete(want, e.ObjectID)
			}
		}
		return len(want) == 0
	})
}

func runSimulation(t *testing.T, seed uint64) {
	const (
		steps      = 80
		pageSize   = 10
		pageCap    = 3
		settleWait = 30 * time.Second
	)
	w := newSimWorld(t, freshdesk.Options{
		Seed:            int64(seed),
		RatePerMinute:   1_000_000,
		PageCap:         pageCap,
		Skew:            -3 * time.Second,
		VisibleAfter:    time.Second,
		ShiftDuringWalk: 0.3,
		FailRate:        0.05,
		FailStatuses:    []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests},
	}, map[string]any{"pageSize": pageSize, "maxPages": pageCap})
	rng := rand.New(rand.NewPCG(seed, seed^0x51a7))
	d := &simDriver{t: t, w: w, rng: rng, tDeleted: map[int64]bool{}, tEver: map[int64]bool{}, tArch: map[int64]bool{}, cDeleted: map[int64]bool{}}

	// Sample data from an hour ago: none of it may give an event unless the run changes it.
	w.Desk.InThePast(func() {
		for i := range 15 {
			c := w.Desk.CreateContact(map[string]any{"name": fmt.Sprintf("Old Contact %d", i)})
			d.contacts = append(d.contacts, c["id"].(int64))
		}
		for i := range 60 {
			tk := w.Desk.CreateTicket(map[string]any{"subject": fmt.Sprintf("old ticket %d", i), "requester_id": d.contacts[i%len(d.contacts)]})
			d.tickets = append(d.tickets, tk["id"].(int64))
		}
	})
	run := len(w.Desk.Changes())

	srv := w.Start()
	id := w.createInstance(srv.API, fmt.Sprintf(`{"incidents": {"lookback": %[1]g}, "contacts": {"lookback": %[1]g}}`, *simLookback), "")
	started := time.Now()

	// The driver: seeded random changes and two isolated bursts, sixteen changes to each poll.
	burstAt := map[int]bool{}
	for len(burstAt) < 2 {
		burstAt[10+rng.IntN(steps-20)] = true
	}
	for i := range steps {
		if burstAt[i] {
			d.burst(len(d.bursts) == 1) // the first creates, the second updates
		}
		d.step(i)
		if i%16 == 15 {
			srv.API.Polled(id, time.Now())
		}
	}
	driven := time.Since(started)
	// No more changes from here on: the change log is the final ground truth.
	w.Desk.SetShiftDuringWalk(0)
	changes := w.Desk.Changes()
	truth := simTruth(changes, run)

	byRecord := func(evs []rig.Event) map[string][]rig.Event {
		m := map[string][]rig.Event{}
		for _, e := range evs {
			k := e.ObjectType + " " + e.ObjectID
			m[k] = append(m[k], e)
		}
		return m
	}
	settled := rig.Within(settleWait, func() bool {
		evs := byRecord(w.Recv.Events())
		for k, rec := range truth {
			if !rec.settled(evs[k]) {
				return false
			}
		}
		return true
	})
	if settled {
		srv.API.Settle(id) // more polls: anything extra would show
	} else {
		t.Errorf("seed %d: not settled %s after the driver stopped", seed, settleWait)
	}
	settledIn := time.Since(started) - driven

	all := w.Recv.Events()
	evs := byRecord(all)
	stats := w.Desk.Stats()
	t.Logf("seed %d: %d changes made in %s (bursts: %s), settled %s later; %d events; vendor requests %d, injected %d (429: %d, 5xx: %d); ticket pages >1: %d, newest-first: %d",
		seed, len(changes)-run, driven.Round(time.Millisecond), strings.Join(d.bursts, ", "), settledIn.Round(time.Millisecond), len(all),
		stats.Requests, stats.Injected, stats.RateLimited, stats.ServerErrors, w.deepPages.Load(), w.descWalks.Load())
	kinds := map[string]int{}
	for _, c := range changes[run:] {
		kinds[c.Resource+" "+c.Kind]++
	}
	t.Logf("seed %d: changes by kind: %v", seed, kinds)
	// Gaps are logged, not failed: a second re-read after more than 30 later changes cannot be
	// reached newest first, which is reported even though an earlier poll read it whole. What
	// was missed shows below.
	for _, st := range srv.Runtime().Status(id) {
		if st.LastGap != "" || st.LastError != "" {
			t.Logf("seed %d: poller %s: lastGap %q, lastError %q", seed, st.ObjectType, st.LastGap, st.LastError)
		}
	}

	// The faults this test is about did happen.
	if stats.Injected == 0 {
		t.Errorf("seed %d: no fault was injected", seed)
	}
	if d.maxBurst > pageSize*pageCap && w.descWalks.Load() == 0 {
		t.Errorf("seed %d: a burst of %d in one second was never read from its newest end", seed, d.maxBurst)
	}

	// (f) every notification signed.
	if rej := w.Recv.Rejected(); len(rej) > 0 {
		t.Errorf("seed %d: %d notifications rejected by the receiver: %v", seed, len(rej), rej[:min(len(rej), 5)])
	}
	// (d) nothing twice.
	ids, changeKeys := map[string]int{}, map[string]int{}
	for _, e := range all {
		ids[e.EventID]++
		changeKeys[e.ObjectType+" "+e.ObjectID+" "+e.Date+" "+e.EventType]++
	}
	for k, n := range changeKeys {
		if n > 1 {
			t.Errorf("seed %d: (d) %s delivered %d times", seed, k, n)
		}
	}
	for k, n := range ids {
		if n > 1 {
			t.Errorf("seed %d: (d) eventId %s delivered %d times", seed, k, n)
		}
	}
	// (a), (b), (c), (e) per record, with its history for replay.
	var bad []string
	for k, e := range evs {
		if truth[k] == nil {
			bad = append(bad, fmt.Sprintf("%s: (e) events for a record the change log does not know:\n\t%s", k, joinEvents(e)))
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range truth {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		rec := truth[k]
		probs := rec.problems(evs[k])
		if len(probs) == 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %s\n\tchanges (updated_at / made at, Pollen's clock):", k, strings.Join(probs, "; "))
		for _, c := range rec.history {
			mark := ""
			if !c.run {
				mark = " (before the instance)"
			}
			fmt.Fprintf(&b, "\n\t  %-8s %s / %s%s", c.Kind, c.UpdatedAt.Format(vendorTime), c.At.Format("15:04:05.000"), mark)
		}
		fmt.Fprintf(&b, "\n\tevents:\n\t%s", joinEvents(evs[k]))
		bad = append(bad, b.String())
	}
	if len(bad) > 0 {
		t.Errorf("seed %d (replay: go test ./cmd/pollen -run 'TestSimulation$' -sim.seed %d -sim.lookback %g -v): %d records wrong:\n%s",
			seed, seed, *simLookback, len(bad), strings.Join(bad[:min(len(bad), 20)], "\n"))
	}
}

func joinEvents(evs []rig.Event) string {
	if len(evs) == 0 {
		return "  (none)"
	}
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = "  " + e.String()
	}
	return strings.Join(s, "\n\t")
}

// TestSimulationVendorClockBehind: the vendor's clock runs 3 s behind Pollen's. The instance's
// first poll finds nothing (nothing has changed yet); a ticket and a contact made right after it
// are stamped, in the vendor's clock, before the instance's creation in Pollen's clock, though
// they were made after it. Both must arrive as CREATED (README: windows are bounded by vendor
// time; changes from the instance's creation on).
func TestSimulationVendorClockBehind(t *testing.T) {
	w := newSimWorld(t, freshdesk.Options{Seed: 3, RatePerMinute: 1_000_000, Skew: -3 * time.Second}, nil)
	var requester int64
	w.Desk.InThePast(func() {
		requester = w.Desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	srv := w.Start()
	before := time.Now().Truncate(time.Second) // the instance's creation is this second or later
	id := w.createInstance(srv.API, "", "")
	// Both jobs have polled once, and found nothing.
	srv.API.Polled(id, time.Time{})
	ticket := w.Desk.CreateTicket(map[string]any{"subject": "made after the instance", "requester_id": requester})
	contact := w.Desk.CreateContact(map[string]any{"name": "Made After The Instance"})
	stamped, _ := time.Parse(vendorTime, contact["updated_at"].(string))
	if !stamped.Before(before) {
		t.Skipf("too slow to reproduce: the changes were stamped %s, not before the instance's creation (%s or later)",
			stamped.Format(vendorTime), before.Format(vendorTime))
	}
	want := []string{"CREATED incidents " + idOf(ticket), "CREATED contacts " + idOf(contact)}
	w.WaitFor(srv.API, id, want...)
	w.Recv.ExpectExactly(t, want...)
}
