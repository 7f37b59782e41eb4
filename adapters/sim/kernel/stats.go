package kernel

import (
	"maps"
	"net/http"
	"slices"
	"time"
)

// Stats counts what the server has seen. Stats returns a copy.
type Stats struct {
	Requests     int            // every request received
	ByEndpoint   map[string]int // by Route.Endpoint, e.g. "GET /api/v2/tickets"
	ByStatus     map[int]int    // responses by HTTP status (cancelled ones included)
	RateLimited  int            // 429s sent, injected ones included
	Unauthorized int            // 401s sent
	ServerErrors int            // 5xx sent
	Injected     int            // failures injected by FailNext and Fail
	Pages        int            // list and export page requests (Route.Page)
	// Faults counts the page faults applied, by knob: "latency", "drip", "truncated",
	// "norecords", "html", "shape", "endless", "redirect", "shift".
	Faults map[string]int
	// Cancelled counts responses abandoned because the client went away during Latency or
	// Drip.
	Cancelled int

	// InFlight is the number of page requests being served now; MaxInFlight the most served at
	// once since the start or ResetStats: how many walks of this account overlapped. The
	// ByResource maps hold the same per resource: a MaxInFlightByResource above 1 means two
	// walks of one resource (one job, when an account has one instance) ran at once.
	InFlight              int
	MaxInFlight           int
	InFlightByResource    map[string]int
	MaxInFlightByResource map[string]int
	// WalkOverlaps counts the pages that showed two walks of one resource under way at once
	// (see "Overlapping walks" in walks.go): the job polled from two places at once, when the
	// account has one instance. WalkOverlapsByResource holds the same per resource.
	WalkOverlaps           int
	WalkOverlapsByResource map[string]int
}

func newStats() Stats {
	return Stats{ByEndpoint: map[string]int{}, ByStatus: map[int]int{}, Faults: map[string]int{},
		MaxInFlightByResource: map[string]int{}, WalkOverlapsByResource: map[string]int{}}
}

// Stats returns a snapshot of the counters.
func (k *Kernel) Stats() Stats {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.stats
	st.ByEndpoint = maps.Clone(k.stats.ByEndpoint)
	st.ByStatus = maps.Clone(k.stats.ByStatus)
	st.Faults = maps.Clone(k.stats.Faults)
	st.MaxInFlightByResource = maps.Clone(k.stats.MaxInFlightByResource)
	st.WalkOverlapsByResource = maps.Clone(k.stats.WalkOverlapsByResource)
	st.InFlightByResource = map[string]int{}
	for r, n := range k.inFlight {
		if n > 0 {
			st.InFlightByResource[r] = n
		}
	}
	return st
}

// ResetStats zeroes the request counters and the in-flight maxima (the maxima restart from what
// is in flight now). Rate windows, knobs and the change log are left alone.
func (k *Kernel) ResetStats() {
	k.mu.Lock()
	defer k.mu.Unlock()
	inFlight := k.stats.InFlight
	k.stats = newStats()
	k.stats.InFlight, k.stats.MaxInFlight = inFlight, inFlight
	for r, n := range k.inFlight {
		if n > 0 {
			k.stats.MaxInFlightByResource[r] = n
		}
	}
}

// arrive counts a request; for a page, it enters the in-flight count and the walk of its query
// (walkQuery).
func (k *Kernel) arrive(rt Route, query string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stats.Requests++
	k.stats.ByEndpoint[rt.Endpoint]++
	if !rt.Page {
		return
	}
	k.stats.Pages++
	k.arriveWalk(rt, query, k.inFlight[rt.Resource])
	k.stats.InFlight++
	k.stats.MaxInFlight = max(k.stats.MaxInFlight, k.stats.InFlight)
	k.inFlight[rt.Resource]++
	k.stats.MaxInFlightByResource[rt.Resource] = max(k.stats.MaxInFlightByResource[rt.Resource], k.inFlight[rt.Resource])
}

// leave ends a page's in-flight count.
func (k *Kernel) leave(rt Route) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stats.InFlight--
	k.inFlight[rt.Resource]--
}

// answered counts a response status.
func (k *Kernel) answered(status int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stats.ByStatus[status]++
	switch {
	case status == http.StatusTooManyRequests:
		k.stats.RateLimited++
	case status == http.StatusUnauthorized:
		k.stats.Unauthorized++
	case status >= 500:
		k.stats.ServerErrors++
	}
}

func (k *Kernel) count(fn func(st *Stats)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fn(&k.stats)
}

// Change is one entry of the change log (see Kernel.Changes).
type Change struct {
	Resource string // the vendor's resource name: "tickets", "contacts", "organizations", ...
	ID       int64
	Kind     string // "created", "updated", "deleted", and vendor-specific kinds ("restored", "archived")
	// UpdatedAt is the record's updated time after the change; for a hard delete, the vendor's
	// time of the deletion (to the second).
	UpdatedAt time.Time
	// At is when the change was made, by the Options.Now clock (without Skew, not truncated).
	At time.Time
}

// Log appends to the change log. Vendors log every change of every record, whatever made it,
// side effects included: a test derives from the log the events a poller must deliver.
func (k *Kernel) Log(resource string, id int64, kind string, updatedAt time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.changes = append(k.changes, Change{Resource: resource, ID: id, Kind: kind, UpdatedAt: updatedAt, At: k.clock().UTC()})
}

// Changes returns a copy of the change log, in the order the changes were made.
func (k *Kernel) Changes() []Change {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.changes)
}
