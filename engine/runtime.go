package engine

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Runtime runs Pollen's data path for many instances: it holds the current catalog and the live
// instances, schedules their polls and delivers their notifications.
type Runtime struct {
	catalog   atomic.Pointer[Catalog]
	mu        sync.RWMutex
	instances map[int64]*Instance
	polls     map[JobKey]PollEvent // the last poll of each job
	gaps      map[JobKey]string    // the last gap each job reported, with its time
	suspended map[int64]*Instance  // instances suspended by the vendor's refusal: their configuration as applied
	probe     time.Duration        // how long a suspension lasts before the vendor is tried again
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
	// SuspendFor is how long an instance whose credentials the vendor rejects (401), or a job
	// whose feature its plan lacks (403 require_feature), stays paused before it is tried again;
	// 0 = 15 minutes. Changing the instance's configuration tries again at once.
	SuspendFor time.Duration
}

// NewRuntime returns a runtime with no instances.
func NewRuntime(o RuntimeOptions) *Runtime {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.SuspendFor <= 0 {
		o.SuspendFor = 15 * time.Minute
	}
	r := &Runtime{instances: map[int64]*Instance{}, polls: map[JobKey]PollEvent{}, gaps: map[JobKey]string{},
		suspended: map[int64]*Instance{}, probe: o.SuspendFor, log: o.Logger}
	onPoll := o.OnPoll
	o.OnPoll = func(ev PollEvent) {
		r.mu.Lock()
		r.polls[ev.Key] = ev
		if n := len(ev.Result.Gaps); n > 0 {
			r.gaps[ev.Key] = ev.At.UTC().Format(time.RFC3339) + ": " + ev.Result.Gaps[n-1]
		}
		r.mu.Unlock()
		r.refused(ev)
		if onPoll != nil {
			onPoll(ev)
		}
	}
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

// Reload swaps in a new catalog. Instances whose definitions did not change are not touched.
// The others are compiled again: their jobs keep their cursors and phase and use the new
// definitions from their next poll; a job whose resource was removed (or no longer fits its
// configuration) pauses, and resumes from its cursor when a later reload brings it back.
func (r *Runtime) Reload(cat *Catalog) {
	r.catalog.Store(cat)
	r.mu.RLock()
	list := make([]*Instance, 0, len(r.instances))
	for _, in := range r.instances {
		list = append(list, in)
	}
	r.mu.RUnlock()
	for _, in := range list {
		if !affected(in, cat) {
			continue
		}
		next, err := in.Recompile(cat)
		if err != nil {
			next = in.pauseAll(err.Error())
		}
		r.logTransitions(in, next)
		r.Apply(next)
	}
}

// affected reports whether a reload to cat changes anything for the instance.
func affected(in *Instance, cat *Catalog) bool {
	el, ok := cat.Element(in.Element.Key)
	if !ok || el.Digest != in.Element.Digest {
		return true
	}
	for _, j := range in.Jobs {
		if r, ok := el.Resources[j.Resource.Name]; !ok || r.Digest != j.Resource.Digest {
			return true
		}
	}
	for _, p := range in.Paused {
		if _, ok := el.Resources[p.Resource]; ok {
			return true
		}
	}
	return false
}

// pauseAll is the instance with every job paused, when its element itself no longer loads.
func (in *Instance) pauseAll(reason string) *Instance {
	cp := *in
	cp.Jobs = nil
	cp.Paused = append([]PausedJob(nil), in.Paused...)
	for _, j := range in.Jobs {
		cp.Paused = append(cp.Paused, PausedJob{ObjectType: j.ObjectType, Resource: j.Resource.Name, Reason: reason})
	}
	return &cp
}

func (r *Runtime) logTransitions(old, next *Instance) {
	was := map[string]bool{}
	for _, p := range old.Paused {
		was[p.ObjectType] = true
	}
	oldJobs := map[string]*JobSpec{}
	for _, j := range old.Jobs {
		oldJobs[j.ObjectType] = j
	}
	for _, p := range next.Paused {
		if !was[p.ObjectType] {
			r.log.Warn("job paused: its definition no longer loads; it resumes from its cursor when it does", "instance", next.ID, "resource", p.ObjectType, "reason", p.Reason)
		}
	}
	for _, j := range next.Jobs {
		switch o := oldJobs[j.ObjectType]; {
		case was[j.ObjectType]:
			r.log.Info("job resumed from its cursor", "instance", next.ID, "resource", j.ObjectType)
		case o != nil && o.Resource.Digest != j.Resource.Digest:
			r.log.Info("job uses the reloaded definition from its next poll", "instance", next.ID, "resource", j.ObjectType)
		}
	}
}

// refused reacts to a poll the vendor refused for good: a 401 suspends the whole instance (its
// credentials are wrong; polling on would only hammer the vendor), a 403 require_feature the job
// (the account's plan lacks the resource). Either is tried again after SuspendFor, or at once
// when the instance's configuration changes.
func (r *Runtime) refused(ev PollEvent) {
	var vs VendorStatus
	if ev.Err == nil || !errors.As(ev.Err, &vs) {
		return
	}
	var whole bool
	var reason string
	switch {
	case vs.HTTPStatus() == 401:
		whole, reason = true, "the vendor rejected the instance's credentials (HTTP 401)"
	case vs.HTTPStatus() == 403 && vs.VendorCode() == "require_feature":
		reason = "the vendor says the account's plan does not include this resource (HTTP 403 require_feature)"
	default:
		return
	}
	r.mu.Lock()
	in := r.instances[ev.Key.InstanceID]
	if in == nil {
		r.mu.Unlock()
		return
	}
	applied := r.suspended[in.ID]
	if applied == nil {
		applied = in
	}
	cp := *in
	cp.Jobs, cp.Paused = nil, append([]PausedJob(nil), in.Paused...)
	for _, j := range in.Jobs {
		if whole || j.ObjectType == ev.Key.ObjectType {
			cp.Paused = append(cp.Paused, PausedJob{ObjectType: j.ObjectType, Resource: j.Resource.Name, Reason: reason})
		} else {
			cp.Jobs = append(cp.Jobs, j)
		}
	}
	if whole {
		cp.Invalid = reason
	}
	suspended := &cp
	r.instances[in.ID] = suspended
	r.suspended[in.ID] = applied
	r.mu.Unlock()
	r.sched.Set(suspended)
	r.log.Warn("polling suspended; the vendor is tried again later, or at once when the configuration changes",
		"instance", in.ID, "resource", ev.Key.ObjectType, "reason", reason, "retry_in", r.probe)
	time.AfterFunc(r.probe, func() {
		r.mu.Lock()
		orig, ok := r.suspended[in.ID]
		still := ok && r.instances[in.ID] == suspended
		if still {
			delete(r.suspended, in.ID)
		}
		r.mu.Unlock()
		if still {
			r.log.Info("trying the vendor again after a suspension", "instance", in.ID)
			r.Apply(orig)
		}
	})
}

// Valid reports whether the vendor accepts the instance, and why not.
func (r *Runtime) Valid(id int64) (bool, string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if in, ok := r.instances[id]; ok && in.Invalid != "" {
		return false, in.Invalid
	}
	return true, ""
}

// JobStatus is where one configured job of an instance stands.
type JobStatus struct {
	ObjectType string    `json:"objectType"`
	State      string    `json:"state"` // polling, paused, idle (events off or instance disabled)
	Reason     string    `json:"reason,omitempty"`
	LastPoll   time.Time `json:"lastPoll,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
	LastEvents int       `json:"lastEvents,omitempty"`
	// LastGap is the last time the vendor would not let a poll read every record, and why.
	LastGap string `json:"lastGap,omitempty"`
}

// Status returns the state of each configured job of a live instance, sorted by object type.
func (r *Runtime) Status(id int64) []JobStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	in, ok := r.instances[id]
	if !ok {
		return nil
	}
	var out []JobStatus
	for _, j := range in.Jobs {
		st := JobStatus{ObjectType: j.ObjectType, State: "polling"}
		if !in.EventsEnabled || in.Disabled {
			st.State = "idle"
		}
		st.LastGap = r.gaps[JobKey{InstanceID: id, ObjectType: j.ObjectType}]
		if ev, ok := r.polls[JobKey{InstanceID: id, ObjectType: j.ObjectType}]; ok {
			st.LastPoll = ev.At
			st.LastEvents = ev.Result.Events
			if ev.Err != nil {
				st.LastError = ev.Err.Error()
			}
		}
		out = append(out, st)
	}
	for _, p := range in.Paused {
		out = append(out, JobStatus{ObjectType: p.ObjectType, State: "paused", Reason: p.Reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ObjectType < out[j].ObjectType })
	return out
}

// Apply starts or updates an instance. A new configuration ends a suspension.
func (r *Runtime) Apply(in *Instance) {
	r.mu.Lock()
	r.instances[in.ID] = in
	delete(r.suspended, in.ID)
	r.mu.Unlock()
	r.sched.Set(in)
	r.deliver.Kick()
}

// Remove stops an instance.
func (r *Runtime) Remove(id int64) {
	r.mu.Lock()
	delete(r.instances, id)
	delete(r.suspended, id)
	for k := range r.polls {
		if k.InstanceID == id {
			delete(r.polls, k)
			delete(r.gaps, k)
		}
	}
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

// Delivery returns how an instance's delivery stands when something holds it back (its callback
// answered 410 Gone, or asked with Retry-After to be left alone); nil otherwise.
func (r *Runtime) Delivery(id int64) *DeliveryState { return r.deliver.State(id) }

// Jobs returns the number of scheduled jobs.
func (r *Runtime) Jobs() int { return r.sched.Len() }

// Instances returns the number of instances the runtime holds, disabled and suspended ones
// included.
func (r *Runtime) Instances() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.instances)
}

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
