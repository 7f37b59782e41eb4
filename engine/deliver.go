package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultRetrySchedule is the platform's documented schedule: 5 retries at 2^(3x) seconds
// (8 s, 64 s, 512 s, about 68 min, about 9.1 h).
var DefaultRetrySchedule = []time.Duration{8 * time.Second, 64 * time.Second, 512 * time.Second, 4096 * time.Second, 32768 * time.Second}

// Deliverer sends the outbox's notifications to their instances' callbacks.
//
//   - Order: an instance's notifications go out one at a time, oldest first (the outbox hands out
//     only an instance's oldest pending one, and one in flight is not handed out again), so the
//     events of one object arrive in the order they happened.
//   - Retries: a failed notification is retried on the retry schedule, with jitter; after the last
//     retry it becomes QUEUED and is kept, not dropped.
//   - Callbacks: at most PerCallback notifications are in flight to one callback URL, however large
//     the backlog, so a slower callback is sent fewer a second; RatePerCallback, when set, also
//     bounds how many start per second. A callback that fails BreakAfter times in a row is not
//     sent to for a cool-down (doubling each time, up to 10 minutes); then one notification
//     probes it, and a success closes the breaker.
//   - Deliveries run concurrently: a slow receiver holds up only its own notifications.
type Deliverer struct {
	outbox    Outbox
	sink      Sink
	instances func(id int64) (*Instance, bool)
	log       hclog.Logger
	retries   []time.Duration
	every     time.Duration
	now       func() time.Time
	wake      chan struct{}

	perCallback int
	rate        float64
	breakAfter  int
	onAttempt   func(delivered bool, events int, took time.Duration)

	sem chan struct{} // global concurrency
	wg  sync.WaitGroup

	mu        sync.Mutex
	inflight  map[string]bool // notification ids being sent
	callbacks map[string]*callbackState
	// finished notes when each recent delivery ended (a count of deliveries ended), so that an
	// outbox read that began before it ended cannot send it again.
	finished map[string]uint64
	ended    uint64
}

// callbackState is what the deliverer knows of one callback URL.
type callbackState struct {
	inflight  int
	tokens    float64
	refilled  time.Time
	failures  int
	openUntil time.Time
	cooldown  time.Duration
	probe     string // the notification probing an open breaker, "" when none
}

// DelivererOptions configure a Deliverer.
type DelivererOptions struct {
	Outbox Outbox
	Sink   Sink
	// Instances looks up the current configuration of an instance (its callback and keys).
	Instances func(id int64) (*Instance, bool)
	Logger    hclog.Logger
	Retries   []time.Duration // nil = DefaultRetrySchedule
	Workers   int             // deliveries in flight in all; 0 = 32
	Every     time.Duration   // how often to look for due deliveries without being woken; 0 = 250ms
	Now       func() time.Time
	// PerCallback bounds the notifications in flight to one callback URL; 0 = 4.
	PerCallback int
	// RatePerCallback, when above 0, bounds how many notifications start per second to one
	// callback URL; 0 = no bound beyond PerCallback.
	RatePerCallback float64
	// BreakAfter is how many failures in a row open a callback's breaker; 0 = 5.
	BreakAfter int
	// OnAttempt, when set, is called once per delivery attempt, after it is recorded: whether the
	// callback accepted the notification, how many events it carried, and how long sending it
	// took. It must not block; it is meant for metrics.
	OnAttempt func(delivered bool, events int, took time.Duration)
}

// NewDeliverer returns a Deliverer.
func NewDeliverer(o DelivererOptions) *Deliverer {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Retries == nil {
		o.Retries = DefaultRetrySchedule
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Every <= 0 {
		o.Every = 250 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PerCallback <= 0 {
		o.PerCallback = 4
	}
	if o.BreakAfter <= 0 {
		o.BreakAfter = 5
	}
	return &Deliverer{outbox: o.Outbox, sink: o.Sink, instances: o.Instances, log: o.Logger,
		retries: o.Retries, every: o.Every, now: o.Now, wake: make(chan struct{}, 1),
		perCallback: o.PerCallback, rate: o.RatePerCallback, breakAfter: o.BreakAfter, onAttempt: o.OnAttempt,
		sem: make(chan struct{}, o.Workers), inflight: map[string]bool{}, callbacks: map[string]*callbackState{},
		finished: map[string]uint64{}}
}

// Kick makes the deliverer look for due notifications now.
func (d *Deliverer) Kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the deliveries under way: they finish (bounded by
// the sink's timeout) and are recorded, so nothing is sent twice because of a shutdown.
func (d *Deliverer) Run(ctx context.Context) error {
	t := time.NewTicker(d.every)
	defer t.Stop()
	defer d.wg.Wait()
	for {
		if _, err := d.Once(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("reading the outbox failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Once starts sending every notification that is due now and that the callbacks' limits allow,
// and returns how many it started. Notifications of instances that are not live (removed,
// disabled, without a callback) stay pending and are not counted.
func (d *Deliverer) Once(ctx context.Context) (int, error) {
	d.mu.Lock()
	readAt := d.ended
	d.mu.Unlock()
	defer d.forget(readAt)
	// The due list starts with what cannot go now (in flight, a callback at its limits or with
	// its breaker open): read on past it, page after page, while workers are free, so that
	// however many callbacks are down, the others' notifications still go.
	limit := cap(d.sem) * 4
	started := 0
	var after int64
	for {
		due, err := d.outbox.DueDeliveries(ctx, d.now(), after, limit)
		if err != nil {
			return started, err
		}
		for _, dl := range due {
			after = dl.Seq
			in, ok := d.instances(dl.InstanceID)
			if !ok || in.CallbackURL == "" || !d.admit(dl.ID, in.CallbackURL, readAt) {
				continue
			}
			select {
			case d.sem <- struct{}{}:
			case <-ctx.Done():
				d.release(dl.ID, in.CallbackURL)
				return started, nil
			}
			started++
			d.wg.Add(1)
			go func(in *Instance, dl Delivery) {
				defer d.wg.Done()
				defer func() { <-d.sem }()
				body, err := d.outbox.NotificationBody(ctx, dl.ID)
				if err != nil {
					if ctx.Err() == nil {
						d.log.Error("reading a notification to send failed; it stays due", "notification", dl.ID, "error", err)
					}
					d.release(dl.ID, in.CallbackURL)
					return
				}
				dl.Body = body
				ok := d.deliver(ctx, in, dl)
				d.finish(dl.ID, in.CallbackURL, ok)
				d.Kick() // the instance's next notification may be due
			}(in, dl)
		}
		if len(due) < limit || len(d.sem) == cap(d.sem) {
			return started, nil
		}
	}
}

// forget drops the end marks of deliveries that ended before the outbox read that began at
// readAt: reads from now on see their outcome.
func (d *Deliverer) forget(readAt uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, at := range d.finished {
		if at <= readAt {
			delete(d.finished, id)
		}
	}
}

// admit reserves a delivery's place with its callback: not in flight, not ended since the outbox
// read began (that read is stale for it), the callback's breaker closed (or this is its probe),
// below its concurrency limit, and a rate token when its rate is bounded.
func (d *Deliverer) admit(id, url string, readAt uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[id] {
		return false
	}
	if at, ok := d.finished[id]; ok && at > readAt {
		return false
	}
	cb := d.callbacks[url]
	if cb == nil {
		cb = &callbackState{tokens: 1, refilled: d.now()}
		d.callbacks[url] = cb
	}
	now := d.now()
	probe := !cb.openUntil.IsZero()
	if probe && (now.Before(cb.openUntil) || cb.probe != "") {
		return false
	}
	if cb.inflight >= d.perCallback {
		return false
	}
	if d.rate > 0 {
		// The bucket holds at least one token, so that a rate below one per second still sends.
		cb.tokens = min(max(d.rate, 1), cb.tokens+now.Sub(cb.refilled).Seconds()*d.rate)
		cb.refilled = now
		if cb.tokens < 1 {
			return false
		}
		cb.tokens--
	}
	cb.inflight++
	if probe {
		cb.probe = id // half-open: this one notification probes the callback
	}
	d.inflight[id] = true
	return true
}

func (d *Deliverer) release(id, url string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, id)
	if cb := d.callbacks[url]; cb != nil {
		cb.inflight--
		if cb.probe == id {
			cb.probe = ""
		}
	}
}

// finish records a delivery's outcome with its callback's breaker.
func (d *Deliverer) finish(id, url string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, id)
	d.ended++
	d.finished[id] = d.ended
	cb := d.callbacks[url]
	cb.inflight--
	wasProbe := cb.probe == id
	if wasProbe {
		cb.probe = ""
	}
	if ok {
		if !cb.openUntil.IsZero() {
			d.log.Info("callback recovered; its backlog drains within its limits", "callback", safeCallback(url))
		}
		cb.failures, cb.openUntil, cb.cooldown = 0, time.Time{}, 0
		return
	}
	cb.failures++
	switch {
	case cb.openUntil.IsZero() && cb.failures >= d.breakAfter:
		cb.cooldown = 30 * time.Second // opens
	case wasProbe:
		cb.cooldown = min(2*cb.cooldown, 10*time.Minute) // the probe failed: wait longer
	default:
		return // closed and below the threshold, or a delivery that was already under way when it opened
	}
	cb.openUntil = d.now().Add(cb.cooldown)
	d.log.Warn("callback keeps failing; only a probe is sent until it recovers", "callback", safeCallback(url),
		"failures", cb.failures, "next_probe_in", cb.cooldown)
}

// deliver sends one notification and records the attempt; it reports whether it was delivered.
func (d *Deliverer) deliver(ctx context.Context, in *Instance, dl Delivery) bool {
	log := d.log.With("instance", in.ID, "notification", dl.ID)
	// A delivery under way when shutdown starts is finished (the sink bounds it with its own
	// timeout) rather than cut off and sent again after the restart.
	ctx = context.WithoutCancel(ctx)
	start := time.Now()
	status, err := d.sink.Send(ctx, Outgoing{URL: in.CallbackURL, ID: dl.ID, Body: dl.Body,
		Keys: in.signatureKeys(), StandardWebhooks: in.StandardWebhooks, Timestamp: d.now()})
	took := time.Since(start)
	a := Attempt{NotificationID: dl.ID, At: d.now(), HTTPStatus: status}
	delivered := err == nil && status >= 200 && status < 300
	switch {
	case delivered:
		a.Status = StatusDelivered
		log.Debug("delivered", "status", status, "events", len(dl.EventIDs))
	default:
		if err != nil {
			a.Error = err.Error()
		} else {
			a.Error = fmt.Sprintf("callback answered HTTP %d", status)
		}
		if dl.Attempts < len(d.retries) {
			a.Status = StatusPending
			a.Next = a.At.Add(jitter(d.retries[dl.Attempts]))
			log.Warn("delivery failed; will retry", "attempt", dl.Attempts+1, "retry_in", a.Next.Sub(a.At).Round(time.Second), "error", a.Error)
		} else {
			a.Status = StatusQueued
			log.Error("delivery failed after the last retry; notification queued", "attempts", dl.Attempts+1, "error", a.Error)
		}
	}
	if err := d.outbox.RecordAttempt(ctx, a); err != nil {
		log.Error("recording a delivery attempt failed", "error", err)
	}
	if d.onAttempt != nil {
		d.onAttempt(delivered, len(dl.EventIDs), took)
	}
	return delivered
}

// safeCallback is a callback URL without its query and userinfo, for logs.
func safeCallback(u string) string {
	for i, c := range u {
		if c == '?' || c == '#' {
			return u[:i]
		}
	}
	return u
}

// jitter spreads a retry delay by up to ±20% so that receivers coming back are not hit by every
// retry at once.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
