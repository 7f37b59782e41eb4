package kernel

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Options configures a Kernel. The zero value is usable: every fault off, time.Now, no prefix.
// Each fault knob has a setter of the same name on Kernel (SetSkew, SetLatency, ...), for
// changes while the server runs.
type Options struct {
	// Now is the clock; nil means time.Now. The vendor's clock is Now plus Skew.
	Now func() time.Time
	// Seed seeds the generator of the fault draws (Latency, Fail, Shift), apart from any sample
	// data, so that faults are deterministic for a seed and a sequence of requests.
	Seed int64
	// PathPrefix is removed from request paths before routing, so that one HTTP server can host
	// many simulated accounts side by side (base URL http://host/a/17 with PathPrefix "/a/17").
	// A request outside it gets the path "" (no route). "" means none.
	PathPrefix string
	// Logger receives one debug line per request; nil means no logging.
	Logger hclog.Logger
	// Sleep waits d or until ctx ends (then it returns ctx.Err()); the Latency and Drip knobs
	// wait with it. nil means a timer. Tests may pass one that records d and returns at once.
	Sleep func(ctx context.Context, d time.Duration) error

	// Skew is added to Now to make the vendor's clock: it stamps records, fills the Date header
	// and drives the rate windows (SetSkew).
	Skew time.Duration
	// VisibleAfter hides a record from list and export pages until the vendor's clock reaches
	// its updated time plus VisibleAfter: replication lag (SetVisibleAfter).
	VisibleAfter time.Duration
	// Latency delays each matching page before its headers are sent (SetLatency).
	Latency Latency
	// Drip sends each matching page's body a few bytes at a time (SetDrip).
	Drip Drip
	// Body spoils the body of matching 200 pages: truncated, HTML, wrong shape (SetBody).
	Body BodyFault
	// Paging makes matching pages lead nowhere: endless next pages, a redirect loop (SetPaging).
	Paging PagingFault
	// Fail answers matching requests with an error status, alone or in bursts (SetFail).
	Fail Fail
	// Shift moves a record already shown on an earlier page of a walk (SetShift).
	Shift Shift
	// OnPage runs on every page request (Route.Page), outside every lock, before anything else
	// is done with it, so that a test can change records between the pages of a walk (SetOnPage).
	OnPage func(Route)
}

// Kernel is the part of a simulator every vendor shares: clock, fault knobs, rate windows,
// request statistics, in-flight tracking and the change log. It is safe for concurrent use.
// A vendor's own lock may be held while calling the Kernel, never the other way round: the
// Kernel calls nothing of the vendor while it holds its lock.
type Kernel struct {
	clock  func() time.Time
	log    hclog.Logger
	sleep  func(ctx context.Context, d time.Duration) error
	prefix string

	mu           sync.Mutex
	rng          *rand.Rand
	skew         time.Duration
	pinned       time.Time // the stamp of a Burst, zero outside one
	visibleAfter time.Duration
	latency      Latency
	drip         Drip
	body         BodyFault
	paging       PagingFault
	fail         Fail
	failNext     int
	failNextCode int
	burst        burst
	shift        Shift
	onPage       func(Route)
	windows      map[string]*window
	changes      []Change
	stats        Stats
	inFlight     map[string]int       // by resource
	lastPage     map[string]walkState // by resource: the page asked for last
}

// burst is a run of injected failures under way.
type burst struct {
	left   int
	status int
	retry  time.Duration
	scope  Scope
}

// New returns a Kernel.
func New(opts Options) *Kernel {
	k := &Kernel{
		clock:        opts.Now,
		log:          opts.Logger,
		sleep:        opts.Sleep,
		prefix:       opts.PathPrefix,
		rng:          rand.New(rand.NewPCG(uint64(opts.Seed)^0x5bd1e9955bd1e995, uint64(opts.Seed)+0x2545f4914f6cdd1d)),
		skew:         opts.Skew,
		visibleAfter: opts.VisibleAfter,
		latency:      opts.Latency,
		drip:         opts.Drip,
		body:         opts.Body,
		paging:       opts.Paging,
		fail:         cloneFail(opts.Fail),
		shift:        opts.Shift,
		onPage:       opts.OnPage,
		windows:      map[string]*window{},
		stats:        newStats(),
		inFlight:     map[string]int{},
		lastPage:     map[string]walkState{},
	}
	if k.clock == nil {
		k.clock = time.Now
	}
	if k.log == nil {
		k.log = hclog.NewNullLogger()
	}
	if k.sleep == nil {
		k.sleep = sleepTimer
	}
	return k
}

// sleepTimer waits d, or until ctx ends.
func sleepTimer(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Logger is the logger of Options.Logger (a null logger when none was given).
func (k *Kernel) Logger() hclog.Logger { return k.log }

// PathPrefix is Options.PathPrefix.
func (k *Kernel) PathPrefix() string { return k.prefix }

// Now is Options.Now, without skew.
func (k *Kernel) Now() time.Time { return k.clock() }

// VendorNow is the vendor's clock: Options.Now plus the skew, in UTC.
func (k *Kernel) VendorNow() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.vendorNow()
}

func (k *Kernel) vendorNow() time.Time { return k.clock().Add(k.skew).UTC() }

// Stamp is the time a change made now carries: the vendor's clock truncated to the second, as
// vendors' timestamps are, or the second pinned by Burst.
func (k *Kernel) Stamp() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.pinned.IsZero() {
		return k.pinned
	}
	return k.vendorNow().Truncate(time.Second)
}

// Burst runs fn with Stamp pinned to the current second of the vendor's clock, so that every
// change fn makes carries the same timestamp however long it takes: an overfull second (more
// records sharing one updated time than a query can page through). The vendor must hold its own
// lock around Burst, so that no other change sees the pinned second. Bursts do not nest.
func (k *Kernel) Burst(fn func(at time.Time)) {
	k.mu.Lock()
	at := k.vendorNow().Truncate(time.Second)
	k.pinned = at
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.pinned = time.Time{}
		k.mu.Unlock()
	}()
	fn(at)
}

// Hidden reports whether VisibleAfter still hides, from lists and exports, a record whose updated
// time is updated.
func (k *Kernel) Hidden(updated time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.visibleAfter > 0 && k.vendorNow().Before(updated.Add(k.visibleAfter))
}

// HiddenFunc returns Hidden for one list request: the knob and the clock are read once.
func (k *Kernel) HiddenFunc() func(updated time.Time) bool {
	k.mu.Lock()
	after, now := k.visibleAfter, k.vendorNow()
	k.mu.Unlock()
	if after <= 0 {
		return func(time.Time) bool { return false }
	}
	return func(updated time.Time) bool { return now.Before(updated.Add(after)) }
}

// IntN draws from the fault generator (seeded by Options.Seed): for a vendor's choice within a
// fault, e.g. which record a Shift moves.
func (k *Kernel) IntN(n int) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.rng.IntN(n)
}

// SetSkew sets Options.Skew.
func (k *Kernel) SetSkew(d time.Duration) { k.set(func() { k.skew = d }) }

// SetVisibleAfter sets Options.VisibleAfter.
func (k *Kernel) SetVisibleAfter(d time.Duration) { k.set(func() { k.visibleAfter = d }) }

// SetLatency sets Options.Latency.
func (k *Kernel) SetLatency(l Latency) { k.set(func() { k.latency = l }) }

// SetDrip sets Options.Drip.
func (k *Kernel) SetDrip(d Drip) { k.set(func() { k.drip = d }) }

// SetBody sets Options.Body.
func (k *Kernel) SetBody(b BodyFault) { k.set(func() { k.body = b }) }

// SetPaging sets Options.Paging.
func (k *Kernel) SetPaging(p PagingFault) { k.set(func() { k.paging = p }) }

// SetFail sets Options.Fail. A burst under way is cut short.
func (k *Kernel) SetFail(f Fail) {
	k.set(func() { k.fail, k.burst = cloneFail(f), burst{} })
}

// SetShift sets Options.Shift.
func (k *Kernel) SetShift(s Shift) { k.set(func() { k.shift = s }) }

// SetOnPage sets Options.OnPage; nil removes the hook.
func (k *Kernel) SetOnPage(fn func(Route)) { k.set(func() { k.onPage = fn }) }

// FailNext makes the next n requests, of any endpoint, answer status, before the Fail knob is
// consulted (an injected 429 carries Retry-After: 1). n = 0 cancels.
func (k *Kernel) FailNext(n, status int) {
	k.set(func() { k.failNext, k.failNextCode = n, status })
}

func (k *Kernel) set(fn func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fn()
}

func cloneFail(f Fail) Fail {
	f.Statuses = slices.Clone(f.Statuses)
	return f
}
