package rig

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/sim/zendesk"
)

// Credentials of the rig's simulated vendors and receivers.
const (
	APIKey       = "e2e-freshdesk-api-key" // the simulated Freshdesk's API key
	ZendeskEmail = "e2e@example.com"       // the simulated Zendesk's agent
	ZendeskToken = "zd-token"              // and API token
	SignatureKey = "e2e-signature-key"     // the receivers' signature key
)

// VendorClock is a simulator's clock: the machine's, shifted by an offset that InThePast sets.
type VendorClock struct{ offset atomic.Int64 }

// Now is the machine's time plus the offset.
func (c *VendorClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// InThePast runs fn with the clock an hour back: what the simulator creates then predates every
// instance.
func (c *VendorClock) InThePast(fn func()) {
	c.offset.Store(int64(-time.Hour))
	defer c.offset.Store(0)
	fn()
}

// nextSecond waits until now() is in a later second than it is: the simulators stamp records to
// the second, and a change in a new second gets its own date.
func nextSecond(now func() time.Time) {
	t := now()
	time.Sleep(t.Truncate(time.Second).Add(time.Second).Sub(t))
}

// Freshdesk is a simulated Freshdesk on loopback, on a VendorClock.
type Freshdesk struct {
	*freshdesk.Server
	*VendorClock
	URL string
}

// FreshdeskOptions configure NewFreshdesk.
type FreshdeskOptions struct {
	// Desk configures the simulator (faults, limits, seed); an empty APIKey is APIKey, a nil Now
	// the VendorClock's.
	Desk freshdesk.Options
	// Observe, when set, sees every request before the simulator does.
	Observe func(*http.Request)
}

// NewFreshdesk serves a simulated Freshdesk until the test ends.
func NewFreshdesk(t testing.TB, o FreshdeskOptions) *Freshdesk {
	f := &Freshdesk{VendorClock: &VendorClock{}}
	if o.Desk.APIKey == "" {
		o.Desk.APIKey = APIKey
	}
	if o.Desk.Now == nil {
		o.Desk.Now = f.VendorClock.Now
	}
	f.Server = freshdesk.New(o.Desk)
	var h http.Handler = f.Server
	if o.Observe != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.Observe(r)
			f.Server.ServeHTTP(w, r)
		})
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	f.URL = ts.URL
	return f
}

// NextSecond waits until the vendor's clock enters a new second.
func (f *Freshdesk) NextSecond() { nextSecond(f.Server.VendorNow) }

// Zendesk is a simulated Zendesk Support on loopback, on a VendorClock.
type Zendesk struct {
	*zendesk.Server
	*VendorClock
	URL string
}

// NewZendesk serves a simulated Zendesk until the test ends. An empty Email and APIToken are
// ZendeskEmail and ZendeskToken, a nil Now the VendorClock's.
func NewZendesk(t testing.TB, o zendesk.Options) *Zendesk {
	z := &Zendesk{VendorClock: &VendorClock{}}
	if o.Email == "" && o.APIToken == "" {
		o.Email, o.APIToken = ZendeskEmail, ZendeskToken
	}
	if o.Now == nil {
		o.Now = z.VendorClock.Now
	}
	z.Server = zendesk.New(o)
	ts := httptest.NewServer(z.Server)
	t.Cleanup(ts.Close)
	z.URL = ts.URL
	return z
}

// NextSecond waits until the vendor's clock enters a new second.
func (z *Zendesk) NextSecond() { nextSecond(z.Server.VendorNow) }

// Instance is the configuration of an instance of the zendesk element polling z and calling back
// recv, every 0.6 s.
func (z *Zendesk) Instance(recv *Receiver) map[string]string {
	return map[string]string{
		"subdomain": "e2e", "email": ZendeskEmail, "api_token": ZendeskToken, "base.url": z.URL,
		"event.notification.callback.url": recv.URL, "event.notification.signature.key": recv.Key,
		"event.poller.refresh_interval": "0.01",
	}
}

// Instance is the configuration of an instance of the freshdeskv2 element polling f and calling
// back recv, every 0.6 s.
func (f *Freshdesk) Instance(recv *Receiver) map[string]string {
	return map[string]string{
		"subdomain": "e2e", "username": APIKey, "base.url": f.URL,
		"event.notification.callback.url": recv.URL, "event.notification.signature.key": recv.Key,
		"event.poller.refresh_interval": "0.01",
	}
}
