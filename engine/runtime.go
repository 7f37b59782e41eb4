package engine

import (
	"context"
	"errors"
	"fmt"
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
	failures  map[JobKey]int       // polls of each job that failed in a row
	skips     map[JobKey][]string  // unreadable records an operator skipped, until a poll commits them
	suspended map[int64]*Instance  // instances suspended by the vendor's refusal: their configuration as applied
	probe     time.Duration        // how long a suspension lasts before the vendor is tried again
	clock     Clock
	sched     *Scheduler
	deliver   *Deliverer
	log       hclog.Logger
	// fenced, set by a Cluster, hears of a write refused with ErrFenced: the lease on the
	// instance's vendor account is lost.
	fenced atomic.Pointer[func(in *Instance)]
}

// RuntimeOptions configure a Runtime.
type RuntimeOptions struct {
	Catalog *Catalog
	Source  Source
	Store   Store
	Outbox  Outbox
	Sink    Sink
	// Clock is the one clock of the poller, the scheduler, the deliverer and suspensions; nil =
	// SystemClock.
	Clock   Clock
	Account Account
	Logger  hclog.Logger
	// PollConcurrency bounds the polls under way over all accounts, PollsPerAccount those of one
	// vendor account, DeliveryWorkers the deliveries; 0 = defaults.
	PollConcurrency int
	PollsPerAccount int
	DeliveryWorkers int
	// PollDeadline and PollPages bound one poll (0 = DefaultPollDeadline, DefaultPageBudget).
	PollDeadline time.Duration
	PollPages    int
	OnPoll       func(PollEvent)
	Deliverer    DelivererOptions // Outbox, Sink, Instances, Logger and Clock are filled in
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
		failures: map[JobKey]int{}, skips: map[JobKey][]string{}, suspended: map[int64]*Instance{}, probe: o.SuspendFor, clock: o.Clock, log: o.Logger}
	onPoll := o.OnPoll
	o.OnPoll = func(ev PollEvent) {
		r.mu.Lock()
		// What the vendor echoed (an API key, the Basic header) must not reach pollers[].lastError
		// or the hooks' logs and metrics.
		if in := r.instances[ev.Key.InstanceID]; in != nil {
			ev.Err = in.ScrubError(ev.Err)
		}
		r.polls[ev.Key] = ev
		if n := len(ev.Result.Gaps); n > 0 {
			r.gaps[ev.Key] = ev.At.UTC().Format(time.RFC3339) + ": " + ev.Result.Gaps[n-1]
		}
		in := r.instances[ev.Key.InstanceID]
		fenced := errors.Is(ev.Err, ErrFenced)
		switch {
		case fenced:
			// No failure of the job: the lease moved on, and with it the job.
		case ev.Err != nil && !errors.Is(ev.Err, context.Canceled):
			r.failures[ev.Key]++
		case ev.Err == nil:
			delete(r.failures, ev.Key)
		}
		if ev.Result.Commits > 0 {
			delete(r.skips, ev.Key)
		}
		r.mu.Unlock()
		if fenced && in != nil {
			r.lostLease(in)
		}
		r.refused(ev)
		if onPoll != nil {
			onPoll(ev)
		}
	}
	r.catalog.Store(o.Catalog)
	do := o.Deliverer
	do.Outbox, do.Sink, do.Instances, do.Logger, do.Clock = o.Outbox, o.Sink, r.Instance, o.Logger.Named("delivery"), o.Clock
	if o.DeliveryWorkers > 0 {
		do.Workers = o.DeliveryWorkers
	}
	r.deliver = NewDeliverer(do)
	r.deliver.onFenced = r.lostLease
	poller := &Poller{Source: o.Source, Store: o.Store, Clock: o.Clock, Account: o.Account, Logger: o.Logger.Named("poll"),
		Deadline: o.PollDeadline, PageBudget: o.PollPages, OnCommit: r.deliver.Kick, Skips: r.skipped}
	r.sched = NewScheduler(SchedulerOptions{Poller: poller, Clock: o.Clock, Logger: o.Logger.Named("scheduler"),
		Concurrency: o.PollConcurrency, PerAccount: o.PollsPerAccount, OnPoll: o.OnPoll})
	return r
}

// lostLease tells the cluster, if any, that a write for the instance was fenced.
func (r *Runtime) lostLease(in *Instance) {
	if f := r.fenced.Load(); f != nil {
		(*f)(in)
	}
}

// Busy reports whether a poll or a delivery of one of the instances is under way.
func (r *Runtime) Busy(ids []int64) bool {
	return r.sched.Polling(ids) || r.deliver.Sending(ids)
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
		if r.replace(in, next) {
			r.logTransitions(in, next)
		}
	}
}

// replace applies next in place of old, unless the instance changed meanwhile (an update applied
// while a reload recompiled it): the newer one was compiled against the new catalog already.
func (r *Runtime) replace(old, next *Instance) bool {
	r.mu.Lock()
	if r.instances[old.ID] != old {
		r.mu.Unlock()
		return false
	}
	r.instances[next.ID] = next
	delete(r.suspended, next.ID)
	r.mu.Unlock()
	r.sched.Set(next)
	r.deliver.Kick()
	return true
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
	r.clock.AfterFunc(r.probe, func() {
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

// failingAfter is how many polls of every job of an instance must fail in a row before the
// instance reports itself not valid.
const failingAfter = 3

// Valid reports whether the instance works: the vendor accepts it, and not every one of its jobs
// keeps failing. When not, it says why.
func (r *Runtime) Valid(id int64) (bool, string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	in, ok := r.instances[id]
	if !ok {
		return true, ""
	}
	if in.Invalid != "" {
		return false, in.Invalid
	}
	if len(in.Jobs) == 0 || !in.EventsEnabled || in.Disabled {
		return true, ""
	}
	var last string
	for _, j := range in.Jobs {
		key := JobKey{InstanceID: id, ObjectType: j.ObjectType}
		if r.failures[key] < failingAfter {
			return true, ""
		}
		if ev, ok := r.polls[key]; ok && ev.Err != nil {
			last = ev.Err.Error()
		}
	}
	return false, fmt.Sprintf("every poll of every resource has failed at least %d times in a row; the last error: %s", failingAfter, last)
}

// SkipRecord lets a job's streams read past a record that does not read (one that holds them:
// JobStatus.Held), from its next poll on. It reports whether the instance has that job.
func (r *Runtime) SkipRecord(id int64, objectType, recordID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.instances[id]
	if !ok {
		return false
	}
	if _, ok := in.Job(objectType); !ok {
		return false
	}
	key := JobKey{InstanceID: id, ObjectType: objectType}
	r.skips[key] = append(r.skips[key], recordID)
	return true
}

// skipped returns the records an operator skipped for a job and no poll has committed yet.
func (r *Runtime) skipped(key JobKey) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.skips[key]
}

// JobStatus is where one configured job of an instance stands.
type JobStatus struct {
	ObjectType string `json:"objectType"`
	// State is polling, failing (its last polls failed), held (a record that does not read holds
	// it; Held says which), paused (Reason says why), or idle (events off or instance disabled).
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"`
	LastPoll   time.Time `json:"lastPoll,omitzero"`
	NextPoll   time.Time `json:"nextPoll,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
	LastEvents int       `json:"lastEvents,omitempty"`
	// Failures counts the polls that failed in a row, up to the last one.
	Failures int `json:"consecutiveFailures,omitempty"`
	// Held is the record that holds the job's position below it, and why; HeldRecord names it
	// for an operator's skip.
	Held       string `json:"held,omitempty"`
	HeldRecord string `json:"heldRecord,omitempty"`
	// Stopped says why the last poll ended before the end of its lists (a deadline, the page
	// budget, the vendor's rate budget); it went on from there at its next turn.
	Stopped string `json:"stopped,omitempty"`
	// LastGap is the last time the vendor would not let a poll read every record, and why.
	LastGap string `json:"lastGap,omitempty"`
	// Node is the node that polls the job, when several share the store (Cluster); State is
	// then "remote" for a job polled by another node.
	Node string `json:"node,omitempty"`
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
		key := JobKey{InstanceID: id, ObjectType: j.ObjectType}
		st.LastGap = r.gaps[key]
		st.Failures = r.failures[key]
		if next, ok := r.sched.Next(key); ok && st.State == "polling" {
			st.NextPoll = next
		}
		if ev, ok := r.polls[key]; ok {
			st.LastPoll = ev.At
			st.LastEvents = ev.Result.Events
			st.Held, st.HeldRecord = ev.Result.Held, ev.Result.HeldKey
			st.Stopped = ev.Result.Stopped
			if ev.Err != nil {
				st.LastError = ev.Err.Error()
			}
		}
		switch {
		case st.State != "polling":
		case st.Failures > 0:
			st.State = "failing"
		case st.Held != "":
			st.State = "held"
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
			delete(r.failures, k)
			delete(r.skips, k)
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
