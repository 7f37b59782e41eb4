package vendor

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

const (
	rateWindow       = 60 * time.Second // assumed length of a vendor rate window
	defaultRetryWait = 60 * time.Second // 429 without a usable Retry-After
	maxRetryWait     = time.Hour        // longest Retry-After honoured
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

// budget is one host's rate budget, shared by every List call to that host.
type budget struct {
	mu          sync.Mutex
	windowStart time.Time // first request of the open window; zero when none is open
	until       time.Time // requests wait until then; zero when not blocked

	pageSize atomic.Int64 // size of the host's last page, to size the next listing's first read
}

// wait returns how long a request made at now must wait, and the block it waits for (to pass to
// release once waited).
func (b *budget) wait(now time.Time) (time.Duration, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until.IsZero() || !now.Before(b.until) {
		return 0, time.Time{}
	}
	return b.until.Sub(now), b.until
}

// start records a request made at now, opening a window when none is open.
func (b *budget) start(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.windowStart.IsZero() || now.Sub(b.windowStart) >= rateWindow {
		b.windowStart = now
	}
}

// block makes requests wait until t (or longer, if already blocked longer).
func (b *budget) block(t time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.until) {
		b.until = t
	}
	return b.until
}

// release ends the block until once someone has waited for it: the vendor's window is assumed
// reset, and the next request opens a new one. (Releasing explicitly, rather than comparing with
// the clock, keeps injected sleeps and clocks consistent.)
func (b *budget) release(until time.Time) {
	if until.IsZero() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until.Equal(until) {
		b.until = time.Time{}
		b.windowStart = time.Time{}
	}
}

// observe reads the rate headers of a non-429 response received at now. When the budget is
// spent it blocks the host and returns the block's end.
func (b *budget) observe(h http.Header, names rateHeaders, now time.Time) time.Time {
	rem, ok := headerFloat(h, names.remaining)
	if !ok || rem > 0 {
		return time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var until time.Time
	if d, ok := retryAfter(h, names.retryAfter, now); ok {
		until = now.Add(d)
	} else if !b.windowStart.IsZero() {
		until = b.windowStart.Add(rateWindow)
	} else {
		until = now.Add(rateWindow)
	}
	if !until.After(now) {
		return time.Time{}
	}
	if until.After(b.until) {
		b.until = until
	}
	return b.until
}

func headerFloat(h http.Header, name string) (float64, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
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
