package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultRetrySchedule returns the platform's documented schedule: 5 retries at 2^(3x) seconds
// (8 s, 64 s, 512 s, about 68 min, about 9.1 h).
func DefaultRetrySchedule() []time.Duration {
	return []time.Duration{8 * time.Second, 64 * time.Second, 512 * time.Second, 4096 * time.Second, 32768 * time.Second}
}

// Deliverer sends the outbox's notifications to their instances' callbacks.
//
//   - Order: two events about one record never overtake each other. A notification goes only when
//     no older unsettled notification of its instance (in flight, or waiting for a retry) shares
//     an order lane with it (LaneSet); notifications about records in other lanes go side by side.
//   - Retries: a failed notification is retried on the retry schedule, with jitter; after the last
//     retry it becomes QUEUED and is kept, not dropped, and its instance's later notifications
//     queue behind it until redelivery. A 410 Gone stops the instance's delivery at once: the
//     notification is QUEUED as after its last retry, the instance shows it (State), and nothing
//     more is sent for it until its callback URL changes (its QUEUED notifications are then
//     requeued) or it is redelivered.
//   - Callbacks: at most PerCallback notifications are in flight to one callback URL, however many
//     instances share it; RatePerCallback, when set, also bounds how many start per second. A 429
//     or 503 with Retry-After pauses the whole callback that long (at most MaxRetryAfter), and the
//     attempt still counts toward the retry schedule. A callback that fails BreakAfter times in a
//     row is not sent to for a cool-down (doubling each time, up to 10 minutes); then one
//     notification probes it, and a success closes the breaker. Workers bounds the deliveries in
//     flight over all callbacks; it is large, so that slow callbacks, each held to its own
//     PerCallback, cannot take every place.
//   - Memory: the deliverer keeps an index of the outbox's PENDING notifications (ids, lanes,
//     attempts, due times; never bodies), at most a window of each instance's oldest, and
//     updates it from each delivery's outcome; it reads the outbox only for what is new (Pending
//     after the last Seq it saw), for an instance's next window, and for the body of each
//     notification it sends. The outbox stays the truth: the index can always be read again.
type Deliverer struct {
	outbox    Outbox
	sink      Sink
	instances func(id int64) (*Instance, bool)
	log       hclog.Logger
	retries   []time.Duration
	every     time.Duration
	clock     Clock
	wake      chan struct{}
	scan      atomic.Bool // Kick asked for a look at the outbox

	workers       int
	perCallback   int
	rate          float64
	breakAfter    int
	maxRetryAfter time.Duration
	window        int
	onAttempt     func(delivered bool, events int, took time.Duration)
	onFenced      func(in *Instance) // an attempt was refused with ErrFenced (set by a Cluster)

	wg sync.WaitGroup

	doneMu  sync.Mutex
	done    []completion  // outcomes not yet applied to the index
	sending map[int64]int // deliveries under way (sent, or being recorded) per instance

	mu      sync.Mutex // guards what follows; Once holds it except while it reads the outbox
	idx     index
	running int // deliveries in flight
	// callbacks is what the deliverer knows of each callback URL.
	callbacks map[string]*callbackState
	stops     map[int64]*deliveryStop
	loaded    bool        // stops read from the outbox
	reread    atomic.Bool // stops to be read again (RereadStops)
}

// DelivererOptions configure a Deliverer.
type DelivererOptions struct {
	Outbox Outbox
	Sink   Sink
	// Instances looks up the current configuration of a live instance (its callback and keys);
	// false for an instance that is removed or disabled.
	Instances func(id int64) (*Instance, bool)
	Logger    hclog.Logger
	Retries   []time.Duration // nil = DefaultRetrySchedule()
	// Workers bounds the deliveries in flight over all callbacks; 0 = 1024.
	Workers int
	Every   time.Duration // how often to look for new and due deliveries without being woken; 0 = 250ms
	// Clock dates attempts, sets retries' due times and paces the looks at the outbox; nil =
	// SystemClock. A Runtime gives its own.
	Clock Clock
	// PerCallback bounds the notifications in flight to one callback URL; 0 = 4.
	PerCallback int
	// RatePerCallback, when above 0, bounds how many notifications start per second to one
	// callback URL; 0 = no bound beyond PerCallback.
	RatePerCallback float64
	// BreakAfter is how many failures in a row open a callback's breaker; 0 = 5.
	BreakAfter int
	// MaxRetryAfter caps the pause a callback's Retry-After asks for; 0 = 1 hour.
	MaxRetryAfter time.Duration
	// Window is how many of an instance's oldest PENDING notifications the deliverer holds in
	// memory at most; 0 = 256.
	Window int
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
		o.Retries = DefaultRetrySchedule()
	}
	if o.Workers <= 0 {
		o.Workers = 1024
	}
	if o.Every <= 0 {
		o.Every = 250 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.PerCallback <= 0 {
		o.PerCallback = 4
	}
	if o.BreakAfter <= 0 {
		o.BreakAfter = 5
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = time.Hour
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	return &Deliverer{outbox: o.Outbox, sink: o.Sink, instances: o.Instances, log: o.Logger,
		retries: o.Retries, every: o.Every, clock: o.Clock, wake: make(chan struct{}, 1),
		workers: o.Workers, perCallback: o.PerCallback, rate: o.RatePerCallback, breakAfter: o.BreakAfter,
		maxRetryAfter: o.MaxRetryAfter, window: o.Window, onAttempt: o.OnAttempt,
		idx: newIndex(), sending: map[int64]int{}, callbacks: map[string]*callbackState{}, stops: map[int64]*deliveryStop{}}
}

// RereadStops makes the deliverer read again, at its next look, which instances' callbacks
// stopped their delivery (410 Gone): another node sharing the store may have recorded some for
// instances this one now delivers.
func (d *Deliverer) RereadStops() {
	d.reread.Store(true)
	d.Kick()
}

// Kick makes the deliverer look at the outbox now: new notifications may have been committed, or
// an instance changed.
func (d *Deliverer) Kick() {
	d.scan.Store(true)
	d.poke()
}

// poke makes the deliverer start what it can now, without reading the outbox for new
// notifications: a delivery ended.
func (d *Deliverer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the deliveries under way: they finish (bounded by
// the sink's timeout) and are recorded, so nothing is sent twice because of a shutdown.
func (d *Deliverer) Run(ctx context.Context) error {
	t := d.clock.NewTimer(d.every)
	defer t.Stop()
	defer d.wg.Wait()
	check := true
	for {
		if _, err := d.pass(ctx, check || d.scan.Swap(false), check); err != nil && ctx.Err() == nil {
			d.log.Error("reading the outbox failed", "error", err)
		}
		check = false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			check = true
			t.Reset(d.every)
		case <-d.wake:
		}
	}
}

// Once looks at the outbox and starts sending every notification that is due now and that order
// and the callbacks' limits allow, and returns how many it started. Notifications of instances
// that are not live (removed, disabled, without a callback) stay pending and are not counted. Once
// must not run concurrently with itself or with Run.
func (d *Deliverer) Once(ctx context.Context) (int, error) {
	return d.pass(ctx, true, true)
}

// pass applies the outcomes of the deliveries that ended, reads what is new in the outbox when
// scan is set, looks at whether instances changed when check is set, reads the next window of
// the instances that need one, and starts what may go. Kicks scan; the ticker also checks, as
// checking looks up every instance the index knows.
func (d *Deliverer) pass(ctx context.Context, scan, check bool) (int, error) {
	d.applyOutcomes()
	if reread := d.reread.Swap(false); !d.loaded || reread {
		stops, err := d.outbox.Stopped(ctx)
		if err != nil {
			if reread {
				d.reread.Store(true)
			}
			return 0, err
		}
		d.mu.Lock()
		for _, s := range stops {
			if _, known := d.stops[s.InstanceID]; known && d.loaded {
				continue // recorded here: what this deliverer knows is more precise
			}
			st := &deliveryStop{reason: stopReason, since: s.At}
			if in, ok := d.instances(s.InstanceID); ok {
				st.url = in.CallbackURL // taken as the one that answered 410
			}
			d.stops[s.InstanceID] = st
			d.idx.queue(s.InstanceID).barrier = s.Seq
		}
		d.loaded = true
		d.mu.Unlock()
	}
	if scan {
		if err := d.readNew(ctx); err != nil {
			return 0, err
		}
	}
	if check {
		if err := d.checkInstances(ctx); err != nil {
			return 0, err
		}
	}
	if err := d.readWindows(ctx); err != nil {
		return 0, err
	}
	return d.start(ctx), nil
}

// stopReason is why a stopped instance's delivery stopped.
const stopReason = "callback answered 410 Gone"

// deliveryStop is an instance whose callback answered 410 Gone.
type deliveryStop struct {
	reason string
	since  time.Time
	url    string // the callback that answered; "" when not known (read back after a restart)
}

// DeliveryState is how an instance's delivery stands when it is not simply going.
type DeliveryState struct {
	// State is "stopped" (its callback answered 410 Gone: nothing is sent until its callback URL
	// changes or it is redelivered) or "paused" (its callback asked, with Retry-After, to be left
	// alone until Until).
	State  string
	Reason string
	Since  time.Time
	Until  time.Time
}

// State returns how an instance's delivery stands; nil when nothing holds it back.
func (d *Deliverer) State(id int64) *DeliveryState {
	in, live := d.instances(id)
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.stops[id]; ok {
		return &DeliveryState{State: "stopped", Reason: s.reason, Since: s.since}
	}
	if !live {
		return nil
	}
	if cb, ok := d.callbacks[in.CallbackURL]; ok && cb.pausedUntil.After(now) {
		return &DeliveryState{State: "paused", Reason: cb.pauseReason, Since: cb.pausedAt, Until: cb.pausedUntil}
	}
	return nil
}

// outcome is how one delivery attempt ended, as far as the index is concerned.
type outcome int

const (
	outDelivered outcome = iota
	outRetry             // pending, due again at next
	outQueued            // given up after the last retry: QUEUED, later ones queue behind it
	outGone              // 410: QUEUED at once, and the instance stopped
	outUnsent            // not sent (its body could not be read): due again shortly
)

// completion is a step of a delivery, waiting to be applied to the index: the callback answered
// (answered set: its place with the callback is free, and a delivered notification's lanes), then
// the attempt was recorded (or the notification could not be sent).
type completion struct {
	note       *pnote
	answered   bool
	url        string
	out        outcome
	attempts   int // the notification's attempts before this one
	next       time.Time
	retryAfter time.Duration // the callback's Retry-After, clamped
	status     int
	at         time.Time
	recordErr  error // the attempt could not be recorded: the outbox's view is unknown
}

func (d *Deliverer) ended(c completion) {
	d.doneMu.Lock()
	d.done = append(d.done, c)
	if !c.answered {
		if d.sending[c.note.InstanceID]--; d.sending[c.note.InstanceID] <= 0 {
			delete(d.sending, c.note.InstanceID)
		}
	}
	d.doneMu.Unlock()
	d.poke()
}

// Sending reports whether a delivery of one of the instances is under way: sent and not yet
// recorded.
func (d *Deliverer) Sending(ids []int64) bool {
	d.doneMu.Lock()
	defer d.doneMu.Unlock()
	for _, id := range ids {
		if d.sending[id] > 0 {
			return true
		}
	}
	return false
}

// send reads a notification's body, sends it and records the attempt; run as its own goroutine.
func (d *Deliverer) send(ctx context.Context, in *Instance, n *pnote, dl Delivery) {
	defer d.wg.Done()
	c := completion{note: n, url: in.CallbackURL, attempts: dl.Attempts}
	body, err := d.outbox.NotificationBody(ctx, dl.ID)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("reading a notification to send failed; it stays due", "notification", dl.ID, "error", err)
		}
		c.out, c.at = outUnsent, d.clock.Now()
		d.ended(c)
		return
	}
	d.deliver(ctx, in, dl, body, c)
}

// deliver sends one notification and records the attempt, telling the index when the callback
// answered and when the attempt is recorded. The callback's place is free from its answer on, so
// that recording (a commit, shared with the attempts recorded meanwhile) does not hold it; a
// delivered notification's lanes are free then too: should the record fail, the notification is
// sent again, after later ones of its lanes, which receivers see as a copy (same event ids).
func (d *Deliverer) deliver(ctx context.Context, in *Instance, dl Delivery, body []byte, c completion) {
	log := d.log.With("instance", in.ID, "notification", dl.ID)
	// A delivery under way when shutdown starts is finished (the sink bounds it with its own
	// timeout) rather than cut off and sent again after the restart.
	ctx = context.WithoutCancel(ctx)
	start := d.clock.Now()
	resp, err := d.sink.Send(ctx, Outgoing{URL: in.CallbackURL, ID: dl.ID, Body: body,
		Keys: in.signatureKeys(), StandardWebhooks: in.StandardWebhooks, Timestamp: d.clock.Now()})
	a := Attempt{NotificationID: dl.ID, At: d.clock.Now(), HTTPStatus: resp.Status, Fence: in.Fence}
	took := a.At.Sub(start)
	c.at, c.status = a.At, resp.Status
	delivered := err == nil && resp.Status >= 200 && resp.Status < 300
	switch {
	case delivered:
		a.Status, c.out = StatusDelivered, outDelivered
		log.Debug("delivered", "status", resp.Status, "events", dl.Events)
	case err == nil && resp.Status == 410:
		a.Status, a.Error, c.out = StatusQueued, stopReason, outGone
		log.Warn("callback answered 410 Gone: the instance's delivery stops until its callback URL changes or it is redelivered",
			"callback", safeCallback(in.CallbackURL))
	default:
		if err != nil {
			a.Error = err.Error()
		} else {
			a.Error = fmt.Sprintf("callback answered HTTP %d", resp.Status)
		}
		if err == nil && resp.RetryAfter > 0 && (resp.Status == 429 || resp.Status == 503) {
			c.retryAfter = min(resp.RetryAfter, d.maxRetryAfter)
		}
		if dl.Attempts < len(d.retries) {
			a.Status, c.out = StatusPending, outRetry
			a.Next = a.At.Add(max(jitter(d.retries[dl.Attempts]), c.retryAfter))
			c.next = a.Next
			log.Warn("delivery failed; will retry", "attempt", dl.Attempts+1, "retry_in", a.Next.Sub(a.At).Round(time.Second), "error", a.Error)
		} else {
			a.Status, c.out = StatusQueued, outQueued
			log.Error("delivery failed after the last retry; notification queued", "attempts", dl.Attempts+1, "error", a.Error)
		}
	}
	answered := c
	answered.answered = true
	d.ended(answered)
	if err := d.outbox.RecordAttempt(ctx, a); err != nil {
		if errors.Is(err, ErrFenced) {
			log.Warn("delivery attempt not recorded: this node's lease on the instance's vendor account has moved on; its holder delivers from here", "error", err)
			if d.onFenced != nil {
				d.onFenced(in)
			}
		} else {
			log.Error("recording a delivery attempt failed; the instance's deliveries are read again from the outbox", "error", err)
		}
		c.recordErr = err
	}
	if d.onAttempt != nil {
		d.onAttempt(delivered, dl.Events, took)
	}
	d.ended(c)
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
