package httpsource

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

// endpointLimit is one vendor endpoint's own budget at one account (engine.EndpointLimit): at most
// n requests in any period, counted from when each was sent. It is shared by every request to
// that endpoint of that account, so instances of one account pace together.
type endpointLimit struct {
	n      int
	period time.Duration

	mu   sync.Mutex
	sent []time.Time // when the last n requests were sent, oldest first
}

// limitFor returns the endpoint budget of a request, nil when it declares none.
func (c *Client) limitFor(baseURL string, l *engine.EndpointLimit) *endpointLimit {
	if l == nil || l.Requests < 1 || l.Per <= 0 {
		return nil
	}
	key := fmt.Sprintf("%s %s %d/%s", strings.TrimRight(baseURL, "/"), l.Key, l.Requests, l.Per)
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.limits[key]
	if !ok {
		el = &endpointLimit{n: l.Requests, period: l.Per}
		c.limits[key] = el
	}
	return el
}

// take claims a request at now; it returns how long to wait when the budget is spent.
func (e *endpointLimit) take(now time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.sent) >= e.n {
		if free := e.sent[0].Add(e.period); now.Before(free) {
			return free.Sub(now)
		}
		e.sent = e.sent[1:]
	}
	e.sent = append(e.sent, now)
	return 0
}

// waitLimit waits for the request's endpoint budget, or defers when that is too long.
func (c *Client) waitLimit(ctx context.Context, l *listing, u *url.URL) error {
	if l.limit == nil {
		return nil
	}
	for {
		d := l.limit.take(c.now())
		if d == 0 {
			return nil
		}
		if d > c.maxWait {
			return &DeferredError{URL: u.Redacted(), Until: c.now().Add(d), Why: "the endpoint's rate limit is spent"}
		}
		if err := c.sleep(ctx, d); err != nil {
			return fmt.Errorf("vendor: GET %s: waiting for the endpoint's rate limit: %w", u.Redacted(), err)
		}
	}
}
