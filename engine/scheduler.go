package engine

import (
	"container/heap"
	"context"
	"errors"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Scheduler polls every job of every events-enabled instance at its instance's interval. A job's
// phase within its interval comes from a stable hash of (instance, object type), so jobs spread
// over the interval instead of firing together, and keep their phase across restarts and
// reloads. A job never runs twice at once; ticks missed while a poll ran long are skipped, not
// replayed.
type Scheduler struct {
	poller  *Poller
	log     hclog.Logger
	workers int
	after   func()          // called after every poll that committed events
	onPoll  func(PollEvent) // optional observer, for tests and metrics

	mu    sync.Mutex
	jobs  map[JobKey]*schedJob
	queue jobQueue
	wake  chan struct{}
}

// PollEvent reports one finished poll to an observer.
type PollEvent struct {
	Key      JobKey
	At       time.Time // when the poll started
	Result   PollResult
	Err      error
	Lag      time.Duration // how late the poll started against its slot
	Duration time.Duration // how long the poll took (wall time)
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	Poller  *Poller
	Logger  hclog.Logger
	Workers int             // concurrent polls; 0 = 8
	After   func()          // called after a poll committed events (e.g. to wake delivery)
	OnPoll  func(PollEvent) // optional
}

type schedJob struct {
	key     JobKey
	in      *Instance
	spec    *JobSpec
	next    time.Time
	running bool
	removed bool
	index   int // in the queue; -1 when not queued
}

// NewScheduler returns a scheduler with no jobs.
func NewScheduler(opts SchedulerOptions) *Scheduler {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	return &Scheduler{poller: opts.Poller, log: opts.Logger, workers: opts.Workers, after: opts.After,
		onPoll: opts.OnPoll, jobs: map[JobKey]*schedJob{}, wake: make(chan struct{}, 1)}
}

// Set starts, updates or stops the jobs of an instance to match it: jobs of object types it no
// longer polls stop, new ones start, and the others keep their phase and pick up the new
// configuration at their next poll. A disabled instance, or one without events, polls nothing.
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
	now := time.Now()
	for ot, spec := range want {
		key := JobKey{InstanceID: in.ID, ObjectType: ot}
		if j, ok := s.jobs[key]; ok {
			// Still known: either live, or removed while its poll runs; in both cases it keeps
			// its phase and is requeued when that poll ends.
			j.in, j.spec, j.removed = in, spec, false
			continue
		}
		j := &schedJob{key: key, in: in, spec: spec, index: -1}
		j.next = firstSlot(key, in.Interval, now)
		s.jobs[key] = j
		heap.Push(&s.queue, j)
	}
	s.kick()
}

// Remove stops every job of an instance.
func (s *Scheduler) Remove(instanceID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, j := range s.jobs {
		if key.InstanceID == instanceID && !j.removed {
			s.removeLocked(j)
		}
	}
}

// removeLocked stops a job. A job whose poll is under way stays known (flagged removed) until
// that poll ends, so that re-adding it cannot start a second poll beside the first.
func (s *Scheduler) removeLocked(j *schedJob) {
	j.removed = true
	if j.index >= 0 {
		heap.Remove(&s.queue, j.index)
	}
	if !j.running {
		delete(s.jobs, j.key)
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
	h := fnv.New64a()
	h.Write(strconv.AppendInt(nil, key.InstanceID, 10))
	h.Write([]byte{0})
	h.Write([]byte(key.ObjectType))
	offset := time.Duration(h.Sum64() % uint64(interval))
	base := now.Truncate(interval).Add(offset)
	for base.Before(now) {
		base = base.Add(interval)
	}
	return base
}

// Run polls due jobs until ctx ends, then waits for polls under way to finish.
func (s *Scheduler) Run(ctx context.Context) error {
	work := make(chan *schedJob)
	var wg sync.WaitGroup
	for range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				s.runJob(ctx, j)
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var due *schedJob
		wait := time.Hour
		if len(s.queue) > 0 {
			head := s.queue[0]
			if d := time.Until(head.next); d <= 0 {
				due = heap.Pop(&s.queue).(*schedJob)
				due.running = true
			} else {
				wait = d
			}
		}
		s.mu.Unlock()
		if due != nil {
			select {
			case work <- due:
				continue
			case <-ctx.Done():
				// Not handed to a worker: back in the queue, as it was.
				s.mu.Lock()
				due.running = false
				if due.removed {
					delete(s.jobs, due.key)
				} else {
					heap.Push(&s.queue, due)
				}
				s.mu.Unlock()
				return nil
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
	}
}

func (s *Scheduler) runJob(ctx context.Context, j *schedJob) {
	s.mu.Lock()
	in, spec, slot := j.in, j.spec, j.next
	s.mu.Unlock()
	started := time.Now()
	lag := started.Sub(slot)
	log := s.log.With("instance", in.ID, "resource", spec.ObjectType)
	res, err := s.poller.Poll(ctx, in, spec)
	took := time.Since(started)
	for _, g := range res.Gaps {
		log.Error("records may have been missed", "gap", g)
	}
	switch {
	case err != nil && errors.Is(err, context.Canceled):
	case err != nil:
		log.Warn("poll failed; the window will be read again", "error", err)
	case res.Events > 0:
		log.Info("poll", "events", res.Events, "records", res.Records, "pages", res.Pages)
	default:
		log.Debug("poll", "events", 0, "records", res.Records, "pages", res.Pages)
	}
	if s.onPoll != nil {
		s.onPoll(PollEvent{Key: j.key, At: started, Result: res, Err: err, Lag: lag, Duration: took})
	}
	if err == nil && res.Events > 0 && s.after != nil {
		s.after()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j.running = false
	if j.removed {
		delete(s.jobs, j.key)
		return
	}
	interval := j.in.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	// The next slot after now on the job's phase; slots missed while polling are skipped.
	j.next = slot.Add(interval)
	if now := time.Now(); j.next.Before(now) {
		missed := now.Sub(j.next)/interval + 1
		j.next = j.next.Add(missed * interval)
	}
	heap.Push(&s.queue, j)
	s.kick()
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
