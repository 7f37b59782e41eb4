package kernel

import "time"

// Limit is a rate window: N requests (or credits) per Per of the vendor's clock, in fixed
// windows aligned on the clock (Per 0 means a minute: 12:00:00-12:01:00, ...).
type Limit struct {
	N   int
	Per time.Duration
}

func (l Limit) per() time.Duration {
	if l.Per <= 0 {
		return time.Minute
	}
	return l.Per
}

// Admission is the answer of Take.
type Admission struct {
	OK         bool
	Remaining  int // credits left in the window after this request (never below 0)
	RetryAfter int // whole seconds until the window ends, at least 1 (for a 429's Retry-After)
}

// window is one named rate window.
type window struct {
	start time.Time
	used  int
}

// Take admits a request into the window named name (the account, an endpoint, ...) with limit
// lim and charges it cost credits. A request is admitted while the window has used less than
// its limit (a costly request may then take it past the limit, as Freshdesk's credits do); a
// refused request is charged nothing. Windows are independent: a vendor that applies an
// account-wide and a per-endpoint limit takes both, and refunds the first when the second
// refuses.
func (k *Kernel) Take(name string, lim Limit, cost int) Admission {
	k.mu.Lock()
	defer k.mu.Unlock()
	w, now := k.window(name, lim), k.vendorNow()
	retry := int((w.start.Add(lim.per()).Sub(now) + time.Second - 1) / time.Second)
	a := Admission{RetryAfter: max(retry, 1)}
	if w.used < lim.N {
		w.used += cost
		a.OK = true
	}
	a.Remaining = max(lim.N-w.used, 0)
	return a
}

// Refund gives cost credits back to the window named name (an injected 429, or a request another
// window refused).
func (k *Kernel) Refund(name string, cost int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if w := k.windows[name]; w != nil {
		w.used = max(w.used-cost, 0)
	}
}

// Remaining is what the window named name has left of lim now.
func (k *Kernel) Remaining(name string, lim Limit) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return max(lim.N-k.window(name, lim).used, 0)
}

// window returns the current window named name, starting a new one when the clock has left the
// last one. It runs with k.mu held.
func (k *Kernel) window(name string, lim Limit) *window {
	start := k.vendorNow().Truncate(lim.per())
	w := k.windows[name]
	if w == nil {
		w = &window{}
		k.windows[name] = w
	}
	if !w.start.Equal(start) {
		w.start, w.used = start, 0
	}
	return w
}
