package engine

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// Runtime runs Pollen's data path for many instances: it holds the current catalog and the live
// instances, schedules their polls and delivers their notifications.
type Runtime struct {
	catalog   atomic.Pointer[Catalog]
	mu        sync.RWMutex
	instances map[int64]*Instance
	sched     *Scheduler
	deliver   *Deliverer
	log       hclog.Logger
}

// RuntimeOptions configure a Runtime.
type RuntimeOptions struct {
	Catalog *Catalog
	Source  Source
	Store   Store
	Outbox  Outbox
	Sink    Sink
	Clock   Clock // nil = SystemClock
	Account Account
	Logger  hclog.Logger
	// PollWorkers and DeliveryWorkers bound concurrency; 0 = defaults.
	PollWorkers     int
	DeliveryWorkers int
	OnPoll          func(PollEvent)
	Deliverer       DelivererOptions // Outbox, Sink, Instances and Logger are filled in
}

// NewRuntime returns a runtime with no instances.
func NewRuntime(o RuntimeOptions) *Runtime {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	r := &Runtime{instances: map[int64]*Instance{}, log: o.Logger}
	r.catalog.Store(o.Catalog)
	do := o.Deliverer
	do.Outbox, do.Sink, do.Instances, do.Logger = o.Outbox, o.Sink, r.Instance, o.Logger.Named("delivery")
	if o.DeliveryWorkers > 0 {
		do.Workers = o.DeliveryWorkers
	}
	r.deliver = NewDeliverer(do)
	poller := &Poller{Source: o.Source, Store: o.Store, Clock: o.Clock, Account: o.Account, Logger: o.Logger.Named("poll")}
	r.sched = NewScheduler(SchedulerOptions{Poller: poller, Logger: o.Logger.Named("scheduler"),
		Workers: o.PollWorkers, After: r.deliver.Kick, OnPoll: o.OnPoll})
	return r
}

// Catalog returns the current catalog.
func (r *Runtime) Catalog() *Catalog { return r.catalog.Load() }

// SetCatalog swaps in a new catalog. Instances keep the definitions they were compiled with until
// they are applied again.
func (r *Runtime) SetCatalog(c *Catalog) { r.catalog.Store(c) }

// Apply starts or updates an instance.
func (r *Runtime) Apply(in *Instance) {
	r.mu.Lock()
	r.instances[in.ID] = in
	r.mu.Unlock()
	r.sched.Set(in)
	r.deliver.Kick()
}

// Remove stops an instance.
func (r *Runtime) Remove(id int64) {
	r.mu.Lock()
	delete(r.instances, id)
	r.mu.Unlock()
	r.sched.Remove(id)
}

// Instance returns a live instance.
func (r *Runtime) Instance(id int64) (*Instance, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	in, ok := r.instances[id]
	if ok && in.Disabled {
		return nil, false
	}
	return in, ok
}

// Jobs returns the number of scheduled jobs.
func (r *Runtime) Jobs() int { return r.sched.Len() }

// Run schedules polls and delivers notifications until ctx ends, then waits for the polls and
// deliveries under way.
func (r *Runtime) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.sched.Run(ctx) }()
	go func() { defer wg.Done(); _ = r.deliver.Run(ctx) }()
	wg.Wait()
	return nil
}
