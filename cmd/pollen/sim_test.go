package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/cmd/internal/demo"
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

// simEvent is one event as the receiver got it; seq is its arrival order.
type simEvent struct {
	seq                                       int
	Type, ObjectType, ObjectID, Date, EventID string
}

func (e simEvent) String() string {
	return fmt.Sprintf("#%d %s %s %s date=%s eventId=%s", e.seq, e.Type, e.ObjectType, e.ObjectID, e.Date, e.EventID)
}

// simRig is a harness variant: a fakedesk built with the given Options (faults included), a
// --definitions folder with optional overrides of the shipped incidents.json, and a receiver
// keeping every event whole. Its harness runs Pollen servers (start).
type simRig struct {
	t        *testing.T
	h        *harness
	desk     *freshdesk.Server
	offset   atomic.Int64 // the simulator's clock offset, nanoseconds
	interval string       // event.poller.refresh_interval of createInstance; "" means 0.01

	descWalks atomic.Int64 // ticket list requests newest first (overfull seconds read from the top)
	deepPages atomic.Int64 // ticket list requests for page 2 or later

	mu       sync.Mutex
	events   []simEvent
	rejected []string
}

type simRigOptions struct {
	desk      freshdesk.Options // APIKey and Now are set by newSimRig
	incidents map[string]any    // top-level fields replacing the shipped incidents.json's; nil: no override
}

func newSimRig(t *testing.T, o simRigOptions) *simRig {
	r := &simRig{t: t}
	o.desk.APIKey = e2eAPIKey
	o.desk.Now = func() time.Time { return time.Now().Add(time.Duration(r.offset.Load())) }
	r.desk = freshdesk.New(o.desk)
	ds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && req.URL.Path == "/api/v2/tickets" {
			q := req.URL.Query()
			if q.Get("order_type") == "desc" {
				r.descWalks.Add(1)
			}
			if p, _ := strconv.Atoi(q.Get("page")); p >= 2 {
				r.deepPages.Add(1)
			}
		}
		r.desk.ServeHTTP(w, req)
	}))
	t.Cleanup(ds.Close)
	rs := httptest.NewServer(&webhook.Receiver{
		Key: e2eSignatureKey,
		Handle: func(n *webhook.Notification, _ []byte) {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, e := range n.Message.Events {
				r.events = append(r.events, simEvent{seq: len(r.events), Type: e.EventType, ObjectType: e.ObjectType,
					ObjectID: e.ObjectID, Date: e.Date, EventID: e.EventID})
			}
		},
		Rejected: func(reason string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.rejected = append(r.rejected, reason)
		},
	})
	t.Cleanup(rs.Close)
	r.h = &harness{t: t, desk: r.desk, deskURL: ds.URL, recvURL: rs.URL, eventIDs: map[string]int{}, dataDir: t.TempDir()}
	if o.incidents != nil {
		r.h.defsDir = t.TempDir()
		src, err := os.ReadFile("../../definitions/freshdeskv2/resources/incidents.json")
		if err != nil {
			t.Fatal(err)
		}
		var def map[string]any
		if err := json.Unmarshal(src, &def); err != nil {
			t.Fatal(err)
		}
		for k, v := range o.incidents {
			def[k] = v
		}
		b, _ := json.MarshalIndent(def, "", "  ")
		writeAtomically(t, filepath.Join(r.h.defsDir, "freshdeskv2", "resources", "incidents.json"), string(b))
	}
	return r
}

// inThePast runs fn with the simulator's clock an hour back.
func (r *simRig) inThePast(fn func()) {
	r.offset.Store(int64(-time.Hour))
	defer r.offset.Store(0)
	fn()
}

// createInstance posts seed 000's body pointed at the simRig, polling every 0.01 min, with the
// given event.poller.configuration ("" keeps the example's).
func (r *simRig) createInstance(srv *runningServer, pollerConfig string) int64 {
	r.t.Helper()
	cfg := map[string]string{
		"subdomain":                        "e2e",
		"username":                         e2eAPIKey,
		"base.url":                         r.h.deskURL,
		"event.notification.callback.url":  r.h.recvURL,
		"event.notification.signature.key": e2eSignatureKey,
		"event.poller.refresh_interval":    cmp.Or(r.interval, "0.01"),
	}
	if pollerConfig != "" {
		cfg["event.poller.configuration"] = pollerConfig
	}
	id, err := demo.CreateInstance(context.Background(), srv.URL(), testUserSecret, testOrgSecret, "freshdeskv2", cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

func (r *simRig) got() []simEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *simRig) rejections() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.rejected)
}

// pollers returns the instance's pollers as GET /instances/{id} shows them.
func (r *simRig) pollers(srv *runningServer, id int64) []simPoller {
	var resp struct {
		Pollers []simPoller `json:"pollers"`
	}
	if err := json.Unmarshal([]byte(get(r.t, srv.URL()+fmt.Sprintf("/instances/%d", id))), &resp); err != nil {
		r.t.Fatal(err)
	}
	return resp.Pollers
}

type simPoller struct {
	ObjectType string    `json:"objectType"`
	State      string    `json:"state"`
	LastError  string    `json:"lastError"`
	LastGap    string    `json:"lastGap"`
	LastPoll   time.Time `json:"lastPoll"`
}

// nextVendorSecond waits until the simulator's clock enters a new second.
func (r *simRig) nextVendorSecond() {
	s := r.desk.VendorNow().Truncate(time.Second)
	for r.desk.VendorNow().Truncate(time.Second).Equal(s) {
		time.Sleep(5 * time.Millisecond)
	}
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
func (rec *simRecord) settled(evs []simEvent) bool {
	if !rec.changedRun || rec.archived {
		return true
	}
	if len(evs) == 0 {
		return false
	}
	last := evs[len(evs)-1]
	return last.Date == rec.final.Format(vendorTime) && (last.Type == "DELETED") == rec.deleted
}

// problems lists what the record's events get wrong.
func (rec *simRecord) problems(evs []simEvent) []string {
	var out []string
	count := map[string]int{}
	for _, e := range evs {
		count[e.Type]++
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
		if rec.deleted && !slices.ContainsFunc(evs, func(e simEvent) bool { return e.Type == "DELETED" && e.Date == final }) {
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
	r        *simRig
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
	return !u.Before(d.r.desk.VendorNow().Truncate(time.Second))
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
	desk := d.r.desk
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
	d.r.nextVendorSecond()
	before := len(d.r.got())
	var ids []int64
	typ := "CREATED"
	if update {
		typ = "UPDATED"
		live := slices.DeleteFunc(slices.Clone(d.tickets), func(id int64) bool { return !d.liveTicket(id) })
		d.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
		ids = live[:min(n, len(live))]
		d.check(d.r.desk.BurstUpdateTickets(ids, map[string]any{"priority": 1 + d.rng.IntN(4)}), "burst update", 0)
	} else {
		ids = d.r.desk.BurstCreateTickets(n, nil)
		d.tickets = append(d.tickets, ids...)
	}
	tk, _ := d.r.desk.Ticket(ids[0])
	second := tk["updated_at"].(string)
	d.bursts = append(d.bursts, fmt.Sprintf("%s %d at %s", typ, len(ids), second))
	// No event can come before the burst's second has passed (VisibleAfter): the driver's next
	// change is in a later second.
	want := map[string]bool{}
	for _, id := range ids {
		want[strconv.FormatInt(id, 10)] = true
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		for _, e := range d.r.got()[before:] {
			if e.ObjectType == "incidents" && e.Date == second {
				delete(want, e.ObjectID)
			}
		}
	}
}

func runSimulation(t *testing.T, seed uint64) {
	const (
		steps      = 80
		pageSize   = 10
		pageCap    = 3
		interval   = 600 * time.Millisecond // refresh_interval 0.01 min
		settleWait = 30 * time.Second
	)
	r := newSimRig(t, simRigOptions{
		desk: freshdesk.Options{
			Seed:            int64(seed),
			RatePerMinute:   1_000_000,
			PageCap:         pageCap,
			Skew:            -3 * time.Second,
			VisibleAfter:    time.Second,
			ShiftDuringWalk: 0.3,
			FailRate:        0.05,
			FailStatuses:    []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests},
		},
		incidents: map[string]any{"pageSize": pageSize, "maxPages": pageCap},
	})
	rng := rand.New(rand.NewPCG(seed, seed^0x51a7))
	d := &simDriver{t: t, r: r, rng: rng, tDeleted: map[int64]bool{}, tEver: map[int64]bool{}, tArch: map[int64]bool{}, cDeleted: map[int64]bool{}}

	// Sample data from an hour ago: none of it may give an event unless the run changes it.
	r.inThePast(func() {
		for i := range 15 {
			c := r.desk.CreateContact(map[string]any{"name": fmt.Sprintf("Old Contact %d", i)})
			d.contacts = append(d.contacts, c["id"].(int64))
		}
		for i := range 60 {
			tk := r.desk.CreateTicket(map[string]any{"subject": fmt.Sprintf("old ticket %d", i), "requester_id": d.contacts[i%len(d.contacts)]})
			d.tickets = append(d.tickets, tk["id"].(int64))
		}
	})
	run := len(r.desk.Changes())

	srv := r.h.start()
	id := r.createInstance(srv, fmt.Sprintf(`{"incidents": {"lookback": %[1]g}, "contacts": {"lookback": %[1]g}}`, *simLookback))
	started := time.Now()

	// The driver: seeded random changes and two isolated bursts.
	burstAt := map[int]bool{}
	for len(burstAt) < 2 {
		burstAt[10+rng.IntN(steps-20)] = true
	}
	for i := range steps {
		if burstAt[i] {
			d.burst(len(d.bursts) == 1) // the first creates, the second updates
		}
		d.step(i)
		time.Sleep(time.Duration(15+rng.IntN(35)) * time.Millisecond)
	}
	driven := time.Since(started)
	// No more changes from here on: the change log is the final ground truth.
	r.desk.SetShiftDuringWalk(0)
	changes := r.desk.Changes()
	truth := simTruth(changes, run)

	byRecord := func(evs []simEvent) map[string][]simEvent {
		m := map[string][]simEvent{}
		for _, e := range evs {
			k := e.ObjectType + " " + e.ObjectID
			m[k] = append(m[k], e)
		}
		return m
	}
	deadline := time.Now().Add(settleWait)
	for {
		evs := byRecord(r.got())
		settled := true
		for k, rec := range truth {
			if !rec.settled(evs[k]) {
				settled = false
				break
			}
		}
		if settled {
			time.Sleep(5 * interval) // several more polls: anything extra would show
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("seed %d: not settled %s after the driver stopped", seed, settleWait)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	settledIn := time.Since(started) - driven

	all := r.got()
	evs := byRecord(all)
	stats := r.desk.Stats()
	t.Logf("seed %d: %d changes made in %s (bursts: %s), settled %s later; %d events; vendor requests %d, injected %d (429: %d, 5xx: %d); ticket pages >1: %d, newest-first: %d",
		seed, len(changes)-run, driven.Round(time.Millisecond), strings.Join(d.bursts, ", "), settledIn.Round(time.Millisecond), len(all),
		stats.Requests, stats.Injected, stats.RateLimited, stats.ServerErrors, r.deepPages.Load(), r.descWalks.Load())
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
	if d.maxBurst > pageSize*pageCap && r.descWalks.Load() == 0 {
		t.Errorf("seed %d: a burst of %d in one second was never read from its newest end", seed, d.maxBurst)
	}

	// (f) every notification signed.
	if rej := r.rejections(); len(rej) > 0 {
		t.Errorf("seed %d: %d notifications rejected by the receiver: %v", seed, len(rej), rej[:min(len(rej), 5)])
	}
	// (d) nothing twice.
	ids, changeKeys := map[string]int{}, map[string]int{}
	for _, e := range all {
		ids[e.EventID]++
		changeKeys[e.ObjectType+" "+e.ObjectID+" "+e.Date+" "+e.Type]++
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

func joinEvents(evs []simEvent) string {
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
	r := newSimRig(t, simRigOptions{desk: freshdesk.Options{Seed: 3, RatePerMinute: 1_000_000, Skew: -3 * time.Second}})
	var requester int64
	r.inThePast(func() {
		requester = r.desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})["id"].(int64)
	})
	srv := r.h.start()
	before := time.Now().Truncate(time.Second) // the instance's creation is this second or later
	id := r.createInstance(srv, "")
	// Both jobs have polled once, and found nothing.
	waitUntil(t, "the first polls", func() bool {
		ps := r.pollers(srv, id)
		return len(ps) == 2 && !ps[0].LastPoll.IsZero() && !ps[1].LastPoll.IsZero()
	})
	ticket := r.desk.CreateTicket(map[string]any{"subject": "made after the instance", "requester_id": requester})
	contact := r.desk.CreateContact(map[string]any{"name": "Made After The Instance"})
	stamped, _ := time.Parse(vendorTime, contact["updated_at"].(string))
	if !stamped.Before(before) {
		t.Skipf("too slow to reproduce: the changes were stamped %s, not before the instance's creation (%s or later)",
			stamped.Format(vendorTime), before.Format(vendorTime))
	}
	want := []string{"CREATED incidents " + idOf(ticket), "CREATED contacts " + idOf(contact)}
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	for time.Now().Before(deadline) && len(got) < len(want) {
		time.Sleep(100 * time.Millisecond)
		got = got[:0]
		for _, e := range r.got() {
			got = append(got, e.Type+" "+e.ObjectType+" "+e.ObjectID)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v (changes stamped %s by the vendor's clock, instance created at %s or later by Pollen's)",
			got, want, stamped.Format(vendorTime), before.Format(vendorTime))
	}
}
