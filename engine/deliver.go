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

// Deliverer sends the outbox's notifications to their instances' callbacks. Each instance's
// notifications go out one at a time, oldest first; a failed one is retried on the retry
// schedule (with jitter), and after the last retry it becomes QUEUED and is kept, not dropped.
type Deliverer struct {
	outbox    Outbox
	sink      Sink
	instances func(id int64) (*Instance, bool)
	log       hclog.Logger
	retries   []time.Duration
	workers   int
	every     time.Duration
	now       func() time.Time
	wake      chan struct{}
}

// DelivererOptions configure a Deliverer.
type DelivererOptions struct {
	Outbox Outbox
	Sink   Sink
	// Instances looks up the current configuration of an instance (its callback and key).
	Instances func(id int64) (*Instance, bool)
	Logger    hclog.Logger
	Retries   []time.Duration // nil = DefaultRetrySchedule
	Workers   int             // concurrent deliveries; 0 = 8
	Every     time.Duration   // how often to look for due deliveries without being woken; 0 = 1s
	Now       func() time.Time
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
		o.Workers = 8
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Deliverer{outbox: o.Outbox, sink: o.Sink, instances: o.Instances, log: o.Logger,
		retries: o.Retries, workers: o.Workers, every: o.Every, now: o.Now, wake: make(chan struct{}, 1)}
}

// Kick makes the deliverer look for due notifications now.
func (d *Deliverer) Kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Deliveries under way when it ends are finished or left pending;
// nothing is lost either way.
func (d *Deliverer) Run(ctx context.Context) error {
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		n, err := d.Once(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("reading the outbox failed", "error", err)
		}
		if n > 0 && err == nil && ctx.Err() == nil {
			continue // there may be more due right away
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Once sends every notification due now (one per instance) and returns how many it sent.
// Notifications of instances that are not live (removed, disabled, without a callback) stay
// pending and are not counted, so that Run waits rather than spins on them.
func (d *Deliverer) Once(ctx context.Context) (int, error) {
	due, err := d.outbox.DueDeliveries(ctx, d.now(), d.workers*4)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	sem := make(chan struct{}, d.workers)
	for _, dl := range due {
		in, ok := d.instances(dl.InstanceID)
		if !ok || in.CallbackURL == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(in *Instance, dl Delivery) {
			defer wg.Done()
			defer func() { <-sem }()
			d.deliver(ctx, in, dl)
			mu.Lock()
			sent++
			mu.Unlock()
		}(in, dl)
	}
	wg.Wait()
	return sent, nil
}

func (d *Deliverer) deliver(ctx context.Context, in *Instance, dl Delivery) {
	log := d.log.With("instance", in.ID, "notification", dl.ID)
	// A delivery under way when shutdown starts is finished (the sink bounds it with its own
	// timeout) rather than cut off and sent again after the restart.
	ctx = context.WithoutCancel(ctx)
	status, err := d.sink.Send(ctx, in.CallbackURL, in.SignatureKey, dl.ID, dl.Body)
	a := Attempt{NotificationID: dl.ID, At: d.now(), HTTPStatus: status}
	switch {
	case err == nil && status >= 200 && status < 300:
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
}

// jitter spreads a retry delay by up to ±20% so that receivers coming back are not hit by every
// retry at once.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
