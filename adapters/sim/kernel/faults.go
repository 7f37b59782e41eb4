package kernel

import (
	"net/http"
	"time"
)

// Scope says which requests a fault knob acts on, and how many times.
type Scope struct {
	// Resource is a resource name as the vendor's routes name it ("tickets", "organizations"),
	// or an endpoint as Stats.ByEndpoint names it ("GET /api/v2/incremental/tickets/cursor");
	// "" means every one.
	Resource string
	// Times is how many times the knob acts before it switches itself off (its setter's zero
	// value comes back); 0 means no limit. Times 1 with Resource "tickets" is "the next page of
	// tickets".
	Times int
}

// matches reports whether the scope covers the route.
func (s Scope) matches(rt Route) bool {
	return s.Resource == "" || s.Resource == rt.Resource || s.Resource == rt.Endpoint
}

// Latency delays pages: each matching page waits a duration drawn uniformly from [Min, Max]
// (Min alone when Max <= Min) before its headers are sent, as real vendors take 0.3-0.6 s a
// page. The wait ends early when the client cancels the request (Stats.Cancelled). Off when
// both are zero.
type Latency struct {
	Min, Max time.Duration
	Scope
}

func (l Latency) on() bool { return l.Min > 0 || l.Max > 0 }

// Drip sends a page's body Bytes at a time with Every between them, flushing each piece (a
// vendor that sends one byte a second: Drip{Bytes: 1, Every: time.Second}). Content-Length is
// exact. It stops when the client cancels the request. Off when Bytes is zero.
type Drip struct {
	Bytes int
	Every time.Duration
	Scope
}

func (d Drip) on() bool { return d.Bytes > 0 }

// BodyKind is what BodyFault does to a page's body.
type BodyKind int

// Body faults. Each is applied to a 200 page after the vendor made it, and keeps the status and
// the other headers; Content-Length is exact for what is sent, so a client sees a clean end of
// an invalid or unexpected body.
const (
	BodyOK BodyKind = iota
	// BodyTruncated cuts the body in the middle of its last record (of the middle of the body
	// when the page holds none): complete records, then part of one.
	BodyTruncated
	// BodyNoRecords cuts the body just after the opening bracket of its records array: a page
	// cut before any record.
	BodyNoRecords
	// BodyHTML replaces the body with an HTML error page (Content-Type text/html).
	BodyHTML
	// BodyWrongShape puts an object where the records array belongs: {"items": [...]}.
	BodyWrongShape
)

var bodyNames = map[BodyKind]string{BodyTruncated: "truncated", BodyNoRecords: "norecords", BodyHTML: "html", BodyWrongShape: "shape"}

func (b BodyKind) String() string {
	if n, ok := bodyNames[b]; ok {
		return n
	}
	return "ok"
}

// BodyFault spoils the bodies of matching 200 pages. Off when Kind is BodyOK.
type BodyFault struct {
	Kind BodyKind
	Scope
}

// PagingKind is what PagingFault does.
type PagingKind int

// Paging faults.
const (
	PagingOK PagingKind = iota
	// PagingEndless makes every matching page say another page follows: a Freshdesk Link
	// rel="next" to the next page number (past the page cap), a Zendesk export with
	// end_of_stream false and its next URL. The vendor asks for it with Call.Endless.
	PagingEndless
	// PagingRedirectLoop answers matching pages with a 302 to their own URL, before the vendor
	// sees them: a same-origin redirect loop.
	PagingRedirectLoop
)

var pagingNames = map[PagingKind]string{PagingEndless: "endless", PagingRedirectLoop: "redirect"}

func (p PagingKind) String() string {
	if n, ok := pagingNames[p]; ok {
		return n
	}
	return "ok"
}

// PagingFault makes matching pages lead nowhere. Off when Kind is PagingOK.
type PagingFault struct {
	Kind PagingKind
	Scope
}

// Fail answers matching requests with an error instead of serving them. Each matching request
// fails with probability Rate and a status drawn from Statuses (default 429, 500, 502, 503,
// 504); a failure starts a burst of Burst failures in a row (of requests the Scope matches)
// with the same status. Scope.Times counts bursts. An injected 429 carries Retry-After (default
// 1s) and, like a real one, uses no rate-limit credit. Off when Rate is zero; Rate 1 fails
// every matching request.
type Fail struct {
	Rate       float64
	Statuses   []int
	Burst      int
	RetryAfter time.Duration
	Scope
}

// DefaultFailStatuses are the statuses Fail draws from when Fail.Statuses is empty.
var DefaultFailStatuses = []int{http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// Shift moves rows during walks: with probability Rate, a matching page request after the first
// of a walk first updates (to now) a record the walk has already been shown, so that in an
// updated-ascending order it moves to the tail and every later record moves up one place. The
// vendor asks for it with Call.Shift and chooses the record. Off when Rate is zero.
type Shift struct {
	Rate float64
	Scope
}

// act counts one action of a knob with scope sc; it reports whether the knob is now spent.
func act(sc *Scope) (spent bool) {
	if sc.Times == 0 {
		return false
	}
	sc.Times--
	return sc.Times == 0
}

// drawLatency returns the wait of a page, or 0. It runs with k.mu held.
func (k *Kernel) drawLatency(rt Route) time.Duration {
	l := k.latency
	if !l.on() || !l.matches(rt) {
		return 0
	}
	d := l.Min
	if l.Max > l.Min {
		d += time.Duration(k.rng.Int64N(int64(l.Max-l.Min) + 1))
	}
	if act(&k.latency.Scope) {
		k.latency = Latency{}
	}
	k.stats.Faults["latency"]++
	return d
}

// drawDrip returns the drip of a page (Bytes 0: none). It runs with k.mu held.
func (k *Kernel) drawDrip(rt Route) Drip {
	d := k.drip
	if !d.on() || !d.matches(rt) {
		return Drip{}
	}
	if act(&k.drip.Scope) {
		k.drip = Drip{}
	}
	k.stats.Faults["drip"]++
	return d
}

// drawBody returns the body fault of a 200 page. It runs with k.mu held.
func (k *Kernel) drawBody(rt Route) BodyKind {
	b := k.body
	if b.Kind == BodyOK || !b.matches(rt) {
		return BodyOK
	}
	if act(&k.body.Scope) {
		k.body = BodyFault{}
	}
	k.stats.Faults[b.Kind.String()]++
	return b.Kind
}

// drawPaging reports whether the paging fault of kind acts on a page. It runs with k.mu held.
func (k *Kernel) drawPaging(rt Route, kind PagingKind) bool {
	p := k.paging
	if p.Kind != kind || !p.matches(rt) {
		return false
	}
	if act(&k.paging.Scope) {
		k.paging = PagingFault{}
	}
	k.stats.Faults[kind.String()]++
	return true
}

// drawFail returns the status and Retry-After of an injected failure, or 0. It runs with k.mu
// held.
func (k *Kernel) drawFail(rt Route) (int, time.Duration) {
	if k.failNext > 0 {
		k.failNext--
		return k.failNextCode, time.Second
	}
	if b := &k.burst; b.left > 0 && b.scope.matches(rt) {
		b.left--
		return b.status, b.retry
	}
	f := k.fail
	if f.Rate <= 0 || !f.matches(rt) || (f.Rate < 1 && k.rng.Float64() >= f.Rate) {
		return 0, 0
	}
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = DefaultFailStatuses
	}
	status := statuses[k.rng.IntN(len(statuses))]
	retry := f.RetryAfter
	if retry <= 0 {
		retry = time.Second
	}
	k.burst = burst{left: max(f.Burst-1, 0), status: status, retry: retry, scope: f.Scope}
	k.burst.scope.Times = 0
	if act(&k.fail.Scope) {
		k.fail = Fail{}
	}
	return status, retry
}

// drawShift reports whether a page shifts a row. It runs with k.mu held.
func (k *Kernel) drawShift(rt Route) bool {
	s := k.shift
	if s.Rate <= 0 || !s.matches(rt) || (s.Rate < 1 && k.rng.Float64() >= s.Rate) {
		return false
	}
	if act(&k.shift.Scope) {
		k.shift = Shift{}
	}
	k.stats.Faults["shift"]++
	return true
}
