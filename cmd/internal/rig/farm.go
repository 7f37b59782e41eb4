package rig

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// Farm is a simulated Freshdesk of many accounts on one loopback server, account n under /a/{n},
// each its own simulator (its own records, rate windows, change log and walk statistics), so that
// what one instance's job does shows in its own account. It notes when each account was asked
// for a page, to tell when a job was polled after a time.
type Farm struct {
	URL      string
	Accounts []*Account
}

// Account is one simulated account of a Farm and the records its changes pick from.
type Account struct {
	N    int
	Desk *freshdesk.Server
	Key  string // its API key
	// Instance is the id of the instance polling it, for the test to set once it is created.
	Instance int64

	mu       sync.Mutex // over tickets and contacts
	tickets  []int64
	contacts []int64

	pagesMu sync.Mutex
	pages   []time.Time // when each page request arrived
}

// NewFarm serves n accounts until the test ends, each with a few tickets and contacts made an
// hour before now (before any instance: they bring no event).
func NewFarm(t testing.TB, n int, seed int64) *Farm {
	f := &Farm{Accounts: make([]*Account, n)}
	for i := range f.Accounts {
		a := &Account{N: i, Key: "farm-key-" + strconv.Itoa(i)}
		clock := &VendorClock{}
		a.Desk = freshdesk.New(freshdesk.Options{APIKey: a.Key, Seed: seed + int64(i), PathPrefix: "/a/" + strconv.Itoa(i),
			Now: clock.Now, RatePerMinute: 100000, OnListPage: func(string, int) { a.notePage() }})
		clock.InThePast(func() {
			for range 2 {
				a.contacts = append(a.contacts, idOf(a.Desk.CreateContact(nil)))
			}
			a.tickets = a.Desk.BurstCreateTickets(3, nil)
		})
		f.Accounts[i] = a
	}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	f.URL = ts.URL
	return f
}

func idOf(rec map[string]any) int64 {
	id, _ := rec["id"].(int64)
	return id
}

// ServeHTTP routes /a/{n}/... to account n.
func (f *Farm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/a/")
	i := strings.IndexByte(rest, '/')
	if !ok || i < 0 {
		http.NotFound(w, r)
		return
	}
	n, err := strconv.Atoi(rest[:i])
	if err != nil || n < 0 || n >= len(f.Accounts) {
		http.NotFound(w, r)
		return
	}
	f.Accounts[n].Desk.ServeHTTP(w, r)
}

// Instance is the configuration of an instance polling the account every interval (at least
// 0.6 s, the shortest the platform's minutes say with two decimals) and calling back recv.
func (f *Farm) Instance(a *Account, recv *Receiver, interval time.Duration) map[string]string {
	return map[string]string{
		"subdomain": "farm" + strconv.Itoa(a.N), "username": a.Key, "base.url": f.URL + "/a/" + strconv.Itoa(a.N),
		"event.notification.callback.url": recv.URL, "event.notification.signature.key": recv.Key,
		"event.poller.refresh_interval": strconv.FormatFloat(interval.Minutes(), 'f', -1, 64),
	}
}

func (a *Account) notePage() {
	a.pagesMu.Lock()
	defer a.pagesMu.Unlock()
	a.pages = append(a.pages, time.Now())
}

// FirstPageAfter is when the account was first asked for a page after t; zero when not yet.
func (a *Account) FirstPageAfter(t time.Time) time.Time {
	a.pagesMu.Lock()
	defer a.pagesMu.Unlock()
	i := sort.Search(len(a.pages), func(i int) bool { return a.pages[i].After(t) })
	if i == len(a.pages) {
		return time.Time{}
	}
	return a.pages[i]
}

// Resumed is how long after t every account had been asked for a page again: the longest time
// one went unpolled after t (a failover's length, when t is the moment a node died). ok is false
// while an account has not been polled since t.
func (f *Farm) Resumed(t time.Time) (longest time.Duration, ok bool) {
	for _, a := range f.Accounts {
		p := a.FirstPageAfter(t)
		if p.IsZero() {
			return 0, false
		}
		longest = max(longest, p.Sub(t))
	}
	return longest, true
}

// SetLatency makes every account's list pages take l (kernel.Latency): a page that takes a
// while is one that two walks would be seen overlapping on.
func (f *Farm) SetLatency(l kernel.Latency) {
	for _, a := range f.Accounts {
		a.Desk.SetLatency(l)
	}
}

// Change makes one realistic change at the account: create or update a ticket, update a
// contact, or delete a ticket.
func (a *Account) Change(rng *rand.Rand) {
	a.mu.Lock()
	defer a.mu.Unlock()
	roll := rng.IntN(100)
	switch {
	case roll < 30 || len(a.tickets) == 0:
		a.tickets = append(a.tickets, idOf(a.Desk.CreateTicket(nil)))
	case roll < 70:
		_, _ = a.Desk.UpdateTicket(a.tickets[rng.IntN(len(a.tickets))], map[string]any{"priority": int64(1 + rng.IntN(4))})
	case roll < 92:
		_, _ = a.Desk.UpdateContact(a.contacts[rng.IntN(len(a.contacts))], map[string]any{"job_title": "Role " + strconv.Itoa(rng.IntN(1000))})
	default:
		i := rng.IntN(len(a.tickets))
		_ = a.Desk.DeleteTicket(a.tickets[i])
		a.tickets = slices.Delete(a.tickets, i, i+1)
	}
}

// Burst creates n tickets at once at each of the accounts, all stamped with one second: a
// poll reads them over several pages.
func (f *Farm) Burst(accounts []int, n int) {
	for _, i := range accounts {
		a := f.Accounts[i]
		a.mu.Lock()
		a.tickets = append(a.tickets, a.Desk.BurstCreateTickets(n, nil)...)
		a.mu.Unlock()
	}
}

// ChangeAtRate makes perSecond changes a second at random accounts until ctx ends, and returns
// how many it made.
func (f *Farm) ChangeAtRate(ctx context.Context, perSecond float64, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	const step = 20 * time.Millisecond
	tick := time.NewTicker(step)
	defer tick.Stop()
	made, owed := 0, 0.0
	for {
		select {
		case <-ctx.Done():
			return made
		case <-tick.C:
		}
		for owed += perSecond * step.Seconds(); owed >= 1; owed-- {
			f.Accounts[rng.IntN(len(f.Accounts))].Change(rng)
			made++
		}
	}
}

// farmObjectTypes maps the simulator's change log resources to the instances' object types.
var farmObjectTypes = map[string]string{"tickets": "incidents", "contacts": "contacts"}

// Latest returns, for every record changed at any account since from, the event that must carry
// its latest state, as "instance/objectType/id/date" (EventKey): a vendor lists only a record's
// latest state, so a change that another change of the record followed before a poll read it
// brings no event of its own, but the last change always does.
func (f *Farm) Latest(from time.Time) []string {
	var out []string
	for _, a := range f.Accounts {
		latest := map[string]string{}
		for _, c := range a.Desk.Changes() {
			ot, ok := farmObjectTypes[c.Resource]
			if !ok || c.At.Before(from) {
				continue
			}
			obj := fmt.Sprintf("%d/%s/%d", a.Instance, ot, c.ID)
			latest[obj] = obj + "/" + c.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		for _, k := range latest {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// EventKey is an event's "instance/objectType/id/date", as Farm.Latest names them.
func EventKey(instance int64, e Event) string {
	return fmt.Sprintf("%d/%s/%s/%s", instance, e.ObjectType, e.ObjectID, e.Date)
}

// Pages is how many list pages the accounts served together.
func (f *Farm) Pages() int {
	n := 0
	for _, a := range f.Accounts {
		n += a.Desk.Stats().Pages
	}
	return n
}

// WalkOverlaps returns the accounts whose simulator saw two walks of one resource under way at
// once (kernel.Stats.WalkOverlaps, or two pages of one resource in flight at once), with what
// it saw.
func (f *Farm) WalkOverlaps() map[int]string {
	out := map[int]string{}
	for _, a := range f.Accounts {
		st := a.Desk.Stats()
		inFlight := 0
		for _, n := range st.MaxInFlightByResource {
			inFlight = max(inFlight, n)
		}
		if st.WalkOverlaps > 0 || inFlight > 1 {
			out[a.N] = fmt.Sprintf("overlapping pages %v, most pages of one resource at once %v", st.WalkOverlapsByResource, st.MaxInFlightByResource)
		}
	}
	return out
}
