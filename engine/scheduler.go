package engine

import (
	"container/heap"
	"context"
	"errors"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults of a Scheduler's concurrency.
const (
	// DefaultPollConcurrency bounds the polls under way over all accounts. Polls wait on vendors,
	// not on CPU, so the bound is wide: it only keeps a runaway number of accounts from opening
	// unbounded connections.
	DefaultPollConcurrency = 256
	// DefaultPollsPerAccount bounds the polls under way at one vendor account (one base URL): a
	// slow or hostile vendor holds that many, and every other account keeps its schedule.
	DefaultPollsPerAccount = 2
)

// Scheduler polls every job of every events-enabled instance at its instance's interval. A job's
// phase within its interval comes from a stable hash of (instance, object type), so jobs spread
// over the interval instead of firing together, and keep their phase across restarts and
// reloads. A job never runs twice at once; ticks missed while a poll ran long are skipped, not
// replayed.
//
// Concurrency is bounded per vendor account (the instance's base URL: its account's rate budget
// and its misbehaviour are its own) and overall: a job whose account is at its bound waits for
// that account alone. A poll whose instance is removed, disabled or reconfigured is cancelled at
// once; its next poll goes on from what it committed.
type Scheduler struct {
	poller     *Poller
	clock      Clock
	log        hclog.Logger
	limit      int
	perAccount int
	after      func()          // called after every poll that committed events
	onPoll     func(PollEvent) // optional observer, for tests and metrics

	mu       sync.Mutex
	jobs     map[JobKey]*schedJob
	queue    jobQueue // jobs waiting for their slot, soonest first
	accounts map[string]*account
	running  int
	wake     chan struct{}
	wg       sync.WaitGroup
}

// PollEvent reports one finished poll to an observer.
type PollEvent struct {
	Key      JobKey
	At       time.Time // when the poll started
	Result   PollResult
	Err      error
	Lag      time.Duration // how late the poll started against its slot
	Duration time.Duration // how long the poll took, by the scheduler's clock
	Next     time.Time     // when the job polls next; zero when it stopped
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	Poller *Poller
	// Clock sets the slots and waits for them; nil = the Poller's clock (SystemClock without one).
	Clock  Clock
	Logger hclog.Logger
	// Concurrency bounds the polls under way over all accounts (0 = DefaultPollConcurrency);
	// PerAccount those of one vendor account (0 = DefaultPollsPerAccount).
	Concurrency int
	PerAccount  int
	After       func()          // called after a poll committed events (e.g. to wake delivery)
	OnPoll      func(PollEvent) // optional
}

type schedJob struct {
	key      JobKey
	account  string
	in       *Instance
	spec     *JobSpec
	next     time.Time
	running  bool
	removed  bool
	parked   bool               // due, waiting for its account's bound
	cancel   context.CancelFunc // of the poll under way
	index    int                // in the queue; -1 when not queued
	interval time.Duration      // of the slot next was set on
}

// account is one vendor account's polls: how many are under way, and the due jobs waiting for one
// of its places, in the order they came due.
type account struct {
	running int
	waiting []*schedJob
}

// NewScheduler returns a scheduler with no jobs.
func NewScheduler(opts SchedulerOptions) *Scheduler {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultPollConcurrency
	}
	if opts.PerAccount <= 0 {
		opts.PerAccount = DefaultPollsPerAccount
	}
	if opts.Clock == nil && opts.Poller != nil {
		opts.Clock = opts.Poller.Clock
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	return &Scheduler{poller: opts.Poller, clock: opts.Clock, log: opts.Logger, limit: opts.Concurrency, perAccount: opts.PerAccount,
		after: opts.After, onPoll: opts.OnPoll, jobs: map[JobKey]*schedJob{}, accounts: map[string]*account{},
		wake: make(chan struct{}, 1)}
}

// accountKey names an instance's vendor account: its base URL, without case or trailing slash,
// and without credentials: the key is logged, shown and, on a cluster, stored as a lease's name,
// and a base URL may carry a user and password.
func accountKey(in *Instance) string {
	base := in.Endpoint.BaseURL
	if u, err := url.Parse(base); err == nil && u.User != nil {
		u.User = nil
		base = u.String()
	}
	return strings.ToLower(strings.TrimRight(base, "/"))
}

// Set starts, updates or stops the jobs of an instance to match it: jobs of object types it no
// longer polls stop, new ones start, and the others keep their phase. A job whose configuration
// changed has its poll under way cancelled and polls with the new one from its next slot; a new
// interval takes effect from the next slot of the new interval. A disabled instance, or one
// without events, polls nothing.
func (s *Scheduler) Set(in *Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]*JobSpec{}
	if in.EventsEnabled && !in.Disabled {
		for _, j := range in.Jobs {
			want[j.ObjectType] = j
		}
	}
	for key, j := range s.jobs {
		if key.InstanceID == in.ID && want[key.ObjectType] == nil && !j.removed {
			s.removeLocked(j)
		}
	}
	now := s.clock.Now()
	for ot, spec := range want {
		key := JobKey{InstanceID: in.ID, ObjectType: ot}
		if j, ok := s.jobs[key]; ok {
			// Still known: either live, or removed while its poll runs; in both cases it keeps
			// its phase and is requeued when that poll ends.
			if j.running && j.cancel != nil && !sameJob(j.in, j.spec, in, spec) {
				j.cancel() // reconfigured: the poll under way reads with the old configuration
			}
			j.in, j.spec, j.removed = in, spec, false
			if j.account != accountKey(in) && !j.running {
				if j.parked {
					s.unparkLocked(j)
					heap.Push(&s.queue, j)
				}
				j.account = accountKey(in)
			}
			if in.Interval != j.interval && !j.running && !j.parked {
				j.interval = in.Interval
				j.next = firstSlot(key, in.Interval, now)
				if j.index >= 0 {
					heap.Fix(&s.queue, j.index)
				} else {
					heap.Push(&s.queue, j)
				}
			}
			continue
		}
		j := &schedJob{key: key, account: accountKey(in), in: in, spec: spec, index: -1, interval: in.Interval}
		j.next = catchUp(key, in.Interval, now, firstSlot(key, in.Interval, now), in.PolledUntil)
		s.jobs[key] = j
		heap.Push(&s.queue, j)
	}
	s.kick()
}

// sameJob reports whether a job polls the same way under two configurations of its instance: the
// same compiled poller configuration, vendor and credentials.
func sameJob(a *Instance, aj *JobSpec, b *Instance, bj *JobSpec) bool {
	sameSpec := aj == bj || (aj.Resource.Digest == bj.Resource.Digest && pollerDigest(aj) == pollerDigest(bj))
	return sameSpec && a.Endpoint.BaseURL == b.Endpoint.BaseURL && a.Endpoint.Auth.equal(b.Endpoint.Auth)
}

func pollerDigest(j *JobSpec) string { return digest(j.Poller) }

// Remove stops every job of an instance, cancelling their polls under way.
func (s *Scheduler) Remove(instanceID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, j := range s.jobs {
		if key.InstanceID == instanceID && !j.removed {
			s.removeLocked(j)
		}
	}
}

// removeLocked stops a job. A job whose poll is under way is cancelled and stays known (flagged
// removed) until that poll ends, so that re-adding it cannot start a second poll beside the first.
func (s *Scheduler) removeLocked(j *schedJob) {
	j.removed = true
	if j.index >= 0 {
		heap.Remove(&s.queue, j.index)
	}
	s.unparkLocked(j)
	if j.running {
		if j.cancel != nil {
			j.cancel()
		}
		return
	}
	delete(s.jobs, j.key)
}

// unparkLocked takes a job off its account's waiting list.
func (s *Scheduler) unparkLocked(j *schedJob) {
	if !j.parked {
		return
	}
	j.parked = false
	if a := s.accounts[j.account]; a != nil {
		for i, w := range a.waiting {
			if w == j {
				a.waiting = append(a.waiting[:i], a.waiting[i+1:]...)
				break
			}
		}
		s.dropIdle(j.account, a)
	}
}

func (s *Scheduler) dropIdle(key string, a *account) {
	if a.running == 0 && len(a.waiting) == 0 {
		delete(s.accounts, key)
	}
}

// Len returns the number of live jobs.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, j := range s.jobs {
		if !j.removed {
			n++
		}
	}
	return n
}

// Polling reports whether a poll of one of the instances is under way (a removed job's included,
// until it has ended and committed what it read).
func (s *Scheduler) Polling(ids []int64) bool {
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, j := range s.jobs {
		if j.running && want[key.InstanceID] {
			return true
		}
	}
	return false
}

// Next returns when a job polls next (its slot, or now while it waits for its account), and
// whether the job is scheduled.
func (s *Scheduler) Next(key JobKey) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[key]
	if !ok || j.removed {
		return time.Time{}, false
	}
	return j.next, true
}

func (s *Scheduler) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// firstSlot is the first time at or after now that falls on the job's phase: its offset within
// the interval is a stable hash of its key.
func firstSlot(key JobKey, interval time.Duration, now time.Time) time.Time {
	if interval <= 0 {
		interval = time.Minute
	}
	offset := time.Duration(phase(key) % uint64(interval))
	base := now.Truncate(interval).Add(offset)
	for base.Before(now) {
		base = base.Add(interval)
	}
	return base
}

// phase is a job's stable hash, which places it within its interval.
func phase(key JobKey) uint64 {
	h := fnv.New64a()
	h.Write(strconv.AppendInt(nil, key.InstanceID, 10))
	h.Write([]byte{0})
	h.Write([]byte(key.ObjectType))
	return h.Sum64()
}

// MaxCatchUpSpread bounds the moment over which the jobs overdue at a take-over are spread: a
// tenth of their interval, at most this.
const MaxCatchUpSpread = 2 * time.Second

// catchUp is when a new job polls first: next, its first slot, unless its jobs were polled by
// another node until polledUntil and the slot before next fell after that: that slot was missed
// (the node died), and the job polls at once, spread by its phase over a tenth of its interval
// (at most MaxCatchUpSpread), so that a take-over of many jobs does not start them all in one
// instant. The per-account bound holds as always: the jobs of one account beyond it wait for
// their turn.
func catchUp(key JobKey, interval time.Duration, now, next, polledUntil time.Time) time.Time {
	if polledUntil.IsZero() {
		return next
	}
	if interval <= 0 {
		interval = time.Minute
	}
	if !next.Add(-interval).After(polledUntil) {
		return next // its last slot was polled there
	}
	spread := min(interval/10, MaxCatchUpSpread)
	at := now
	if spread > 0 {
		at = now.Add(time.Duration(phase(key) % uint64(spread)))
	}
	if at.Before(next) {
		return at
	}
	return next
}

// Run polls due jobs until ctx ends, then cancels the polls under way and waits for them: each
// commits what it has read.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.wg.Wait()
	timer := s.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		wait := s.dispatchLocked(ctx)
		s.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C():
		}
	}
}

// dispatchLocked starts every due job that the bounds allow and returns how long until the next
// one is due.
func (s *Scheduler) dispatchLocked(ctx context.Context) time.Duration {
	now := s.clock.Now()
	for len(s.queue) > 0 && s.running < s.limit {
		head := s.queue[0]
		if d := head.next.Sub(now); d > 0 {
			return d
		}
		heap.Pop(&s.queue)
		a := s.accounts[head.account]
		if a == nil {
			a = &account{}
			s.accounts[head.account] = a
		}
		if a.running >= s.perAccount {
			head.parked = true
			a.waiting = append(a.waiting, head)
			continue
		}
		s.startLocked(ctx, head, a)
	}
	return time.Hour // at the bound: a poll's end wakes the loop
}

func (s *Scheduler) startLocked(ctx context.Context, j *schedJob, a *account) {
	pctx, cancel := context.WithCancel(ctx)
	j.running, j.parked, j.cancel = true, false, cancel
	a.running++
	s.running++
	in, spec, slot := j.in, j.spec, j.next
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.runJob(pctx, j, in, spec, slot)
	}()
}

func (s *Scheduler) runJob(ctx context.Context, j *schedJob, in *Instance, spec *JobSpec, slot time.Time) {
	started := s.clock.Now()
	lag := started.Sub(slot)
	log := s.log.With("instance", in.ID, "resource", spec.ObjectType)
	res, err := s.poller.Poll(ctx, in, spec)
	took := s.clock.Now().Sub(started)
	for _, g := range res.Gaps {
		log.Error("records may have been missed", "gap", g)
	}
	switch {
	case err != nil && errors.Is(err, context.Canceled):
	case errors.Is(err, ErrFenced):
		log.Warn("poll's commit refused: this node's lease on the vendor account moved on; the lease's holder polls the job from its cursor")
	case err != nil:
		log.Warn("poll failed; it goes on from its last commit", "error", in.ScrubError(err))
	case res.Stopped != "":
		log.Info("poll stopped early; it goes on from there at its next turn", "reason", res.Stopped,
			"events", res.Events, "pages", res.Pages)
	case res.Events > 0:
		log.Info("poll", "events", res.Events, "records", res.Records, "pages", res.Pages)
	default:
		log.Debug("poll", "events", 0, "records", res.Records, "pages", res.Pages)
	}

	s.mu.Lock()
	j.running, j.cancel = false, nil
	s.running--
	a := s.accounts[j.account]
	a.running--
	if len(a.waiting) > 0 {
		// The account's place goes to the job of the account that came due first.
		next := a.waiting[0]
		a.waiting = a.waiting[1:]
		next.parked = false
		heap.Push(&s.queue, next)
	}
	s.dropIdle(j.account, a)
	var next time.Time
	if j.removed {
		delete(s.jobs, j.key)
	} else {
		if j.account != accountKey(j.in) {
			j.account = accountKey(j.in)
		}
		// The next slot after now on the job's phase, with the interval it now has; slots missed
		// while polling are skipped.
		j.interval = j.in.Interval
		j.next = firstSlot(j.key, j.interval, later(s.clock.Now(), slot.Add(time.Nanosecond)))
		next = j.next
		heap.Push(&s.queue, j)
	}
	s.kick()
	s.mu.Unlock()

	if s.onPoll != nil {
		s.onPoll(PollEvent{Key: j.key, At: started, Result: res, Err: err, Lag: lag, Duration: took, Next: next})
	}
	if res.Events > 0 && s.after != nil {
		s.after()
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// jobQueue is a min-heap of jobs by next poll time.
type jobQueue []*schedJob

func (q jobQueue) Len() int           { return len(q) }
func (q jobQueue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q jobQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *jobQueue) Push(x any) {
	j := x.(*schedJob)
	j.index = len(*q)
	*q = append(*q, j)
}
func (q *jobQueue) Pop() any {
	old := *q
	j := old[len(old)-1]
	old[len(old)-1] = nil
	j.index = -1
	*q = old[:len(old)-1]
	return j
}
