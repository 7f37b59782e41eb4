package tenants

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits failed authentications per client (an address): each client may fail Burst
// times at once, then once per Every. While a client has no failure left, its requests are
// refused before their secrets are checked, right or wrong. It is safe for concurrent use.
type Throttle struct {
	every time.Duration
	burst int
	max   int

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

// ThrottleOptions configure a Throttle; zero values select the defaults noted.
type ThrottleOptions struct {
	Burst int           // failures allowed at once; 0 = 10
	Every time.Duration // one more failure allowed per Every; 0 = 1s
	// MaxClients bounds the clients remembered; 0 = 10000. Past it, the clients whose budget is
	// full are forgotten, then, if that is not enough, all of them.
	MaxClients int
}

// NewThrottle returns a Throttle.
func NewThrottle(o ThrottleOptions) *Throttle {
	if o.Burst <= 0 {
		o.Burst = 10
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 10000
	}
	return &Throttle{every: o.Every, burst: o.Burst, max: o.MaxClients, clients: map[string]*rate.Limiter{}}
}

// Allow reports whether a client may try to authenticate now, and if not, how long until it
// may.
func (t *Throttle) Allow(client string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.clients[client]
	if l == nil || l.TokensAt(now) >= 1 {
		return true, 0
	}
	wait := time.Duration((1 - l.TokensAt(now)) * float64(t.every))
	return false, wait
}

// Fail records a failed authentication of a client.
func (t *Throttle) Fail(client string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.clients[client]
	if l == nil {
		if len(t.clients) >= t.max {
			t.forget(now)
		}
		l = rate.NewLimiter(rate.Every(t.every), t.burst)
		t.clients[client] = l
	}
	l.AllowN(now, 1)
}

func (t *Throttle) forget(now time.Time) {
	for k, l := range t.clients {
		if l.TokensAt(now) >= float64(t.burst) {
			delete(t.clients, k)
		}
	}
	if len(t.clients) >= t.max {
		clear(t.clients)
	}
}
