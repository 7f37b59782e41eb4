package httpsource

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

const (
	rateWindow         = 60 * time.Second // assumed length of a vendor rate window
	defaultRetryWait   = 60 * time.Second // 429 without a usable Retry-After
	maxRetryWait       = time.Hour        // longest Retry-After honoured
	defaultRateReserve = 1                // requests of each window left unused
)

// rateHeaders are the response header names a Request's rate limit is read from.
type rateHeaders struct {
	remaining, limit, retryAfter string
}

func headersOf(rl *engine.RateLimitSpec) rateHeaders {
	h := rateHeaders{"X-RateLimit-Remaining", "X-RateLimit-Total", "Retry-After"}
	if rl != nil {
		if rl.RemainingHeader != "" {
			h.remaining = rl.RemainingHeader
		}
		if rl.LimitHeader != "" {
			h.limit = rl.LimitHeader
		}
		if rl.RetryAfterHeader != "" {
			h.retryAfter = rl.RetryAfterHeader
		}
	}
	return h
}

// budget is one host's rate budget, shared by every List call to that host. The package doc
// describes the model.
type budget struct {
	reserve float64 // requests of each window kept unused

	mu       sync.Mutex
	epoch    uint64    // counts windows; a response speaks only for the window its request went in
	end      time.Time // when the window is expected to reset; zero while none is open
	heard    bool      // a response of this window has been received
	told     bool      // end was set by a Retry-After, not estimated
	size     float64   // window size: the last limit header, else 1 + the largest Remaining; 0 = unknown
	metered  bool      // left is known; an unmetered host never waits
	left     float64   // what the vendor has left in this window, as last known
	inFlight int       // requests sent and not yet answered, whichever window they went in

	pageSize atomic.Int64 // size of the host's last page, to size the next listing's first read
}

func newBudget(reserve int) *budget {
	return &budget{reserve: float64(reserve)}
}

// mark identifies a window: a sent request's, or the one a waiting request waits out.
type mark struct {
	epoch uint64
	end   time.Time
}

// take claims one request at now. It returns 0 and the request's mark when the request may go;
// otherwise how long to wait and the window waited out (to pass to release once waited).
func (b *budget) take(now time.Time) (time.Duration, mark) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.end.IsZero() && !now.Before(b.end) {
		b.reset()
	}
	if b.end.IsZero() {
		b.end = now.Add(rateWindow)
	}
	if b.exhausted() {
		return b.end.Sub(now), mark{b.epoch, b.end}
	}
	b.inFlight++
	return 0, mark{b.epoch, b.end}
}

// release ends window m once someone has waited for it: the vendor's window is assumed reset. It
// does nothing when the window has already been reset or its end has moved. (Releasing
// explicitly, rather than comparing with the clock, keeps injected sleeps and clocks consistent.)
func (b *budget) release(m mark) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.epoch == m.epoch && b.end.Equal(m.end) {
		b.reset()
	}
}

// reset opens a new window with the whole (last known) window size left.
func (b *budget) reset() {
	b.epoch++
	b.end = time.Time{}
	b.heard, b.told = false, false
	b.metered, b.left = b.size > 0, b.size
}

// exhausted reports whether the allowance (what the vendor has left less what is in flight) is
// down to the reserve. The reserve never takes a whole window.
func (b *budget) exhausted() bool {
	if !b.metered {
		return false
	}
	reserve := b.reserve
	if b.size > 0 {
		reserve = min(reserve, b.size-1)
	}
	return b.left-float64(b.inFlight) <= reserve
}

// tell sets the window's end to t, which the vendor announced.
func (b *budget) tell(t time.Time) {
	if !b.told || t.After(b.end) {
		b.end = t
	}
	b.told = true
}

// abandon settles request m, which got no response.
func (b *budget) abandon(m mark) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
}

// throttle settles request m, refused with a 429 at now: nothing is left until now + d, when a
// new window opens.
func (b *budget) throttle(m mark, now time.Time, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	b.metered, b.left, b.heard = true, 0, true
	b.told = false // the latest 429 is the vendor's latest word
	b.tell(now.Add(d))
}

// observe settles request m with the rate headers of its (non-429) response received at now, and
// reports whether the budget is then exhausted (and until when).
func (b *budget) observe(m mark, h http.Header, names rateHeaders, now time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	if m.epoch != b.epoch { // sent before the window was reset: its numbers are the old window's
		return time.Time{}, false
	}
	rem, ok := headerFloat(h, names.remaining)
	if !ok {
		return time.Time{}, false
	}
	if lim, ok := headerFloat(h, names.limit); ok && lim > 0 {
		b.size = lim
	} else {
		b.size = max(b.size, rem+1)
	}
	if !b.metered || rem < b.left {
		b.left = rem
	}
	b.metered = true
	if !b.heard {
		// The vendor's window opened no later than it answered this request.
		b.heard = true
		if e := now.Add(rateWindow); !b.told && e.After(b.end) {
			b.end = e
		}
	}
	if !b.exhausted() {
		return time.Time{}, false
	}
	if d, ok := retryAfter(h, names.retryAfter, now); ok && d > 0 {
		b.tell(now.Add(d))
	}
	return b.end, true
}

// headerFloat parses a rate header: a non-negative number, integer or decimal.
func headerFloat(h http.Header, name string) (float64, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return max(f, 0), true
}

// retryAfter parses a Retry-After value: seconds (integer or decimal) or an HTTP date, clamped to
// [0, maxRetryWait]. ok is false when the header is absent or unparsable.
func retryAfter(h http.Header, name string, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs != secs { // NaN
			return 0, false
		}
		if secs > maxRetryWait.Seconds() {
			return maxRetryWait, true
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), maxRetryWait), true
}
