package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// schedInstance compiles an events-enabled freshdeskv2 instance polling its default resources
// (incidents and contacts) every 50 ms. Its subdomain names it, so that a fake source can tell
// instances apart by base URL.
func schedInstance(t *testing.T, cat *Catalog, id int64) *Instance {
	t.Helper()
	var cfg map[string]any
	body := fmt.Sprintf(`{"subdomain":"acme%d","username":"key","event.notification.callback.url":"http://127.0.0.1:9/"}`, id)
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	in, err := CompileInstance(cat, InstanceSpec{Element: ElementRef{Key: "freshdeskv2"}, Name: "s", Configuration: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if !in.EventsEnabled || len(in.Jobs) != 2 {
		t.Fatalf("instance: events %v, %d jobs", in.EventsEnabled, len(in.Jobs))
	}
	in.ID = id
	in.CreatedAt = time.Now().Add(-time.Hour)
	in.Interval = 50 * time.Millisecond
	return in
}

// schedSourceFake answers every query with no records, optionally after a delay, and counts
// calls and concurrent calls per job (base URL and path).
type schedSourceFake struct {
	delay time.Duration // of the changes query

	mu      sync.Mutex
	calls   map[string]int
	running map[string]int
	maxRun  map[string]int
}

func newSchedSourceFake(delay time.Duration) *schedSourceFake {
	return &schedSourceFake{delay: delay, calls: map[string]int{}, running: map[string]int{}, maxRun: map[string]int{}}
}

func (s *schedSourceFake) List(ctx context.Context, req Request, fn func(Page) error) error {
	key := req.Endpoint.BaseURL + req.Path
	s.mu.Lock()
	s.calls[key]++
	s.running[key]++
	s.maxRun[key] = max(s.maxRun[key], s.running[key])
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running[key]--
		s.mu.Unlock()
	}()
	if s.delay > 0 && !isDeletedQuery(req) {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fn(Page{Number: 1, Body: []byte("[]")})
}

func (s *schedSourceFake) maxConcurrent() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.maxRun {
		out[k] = v
	}
	return out
}

// pollCounter counts finished polls per job, from the scheduler's observer.
type pollCounter struct {
	mu   sync.Mutex
	n    map[JobKey]int
	errs []error
}

func (c *pollCounter) observe(e PollEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[JobKey]int{}
	}
	c.n[e.Key]++
	if e.Err != nil && !errors.Is(e.Err, context.Canceled) {
		c.errs = append(c.errs, e.Err)
	}
}

func (c *pollCounter) get(k JobKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func (c *pollCounter) instance(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.n {
		if k.InstanceID == id {
			n += v
		}
	}
	return n
}

// startScheduler runs a scheduler over a fake source until the test ends.
func startScheduler(t *testing.T, src Source, workers int) (*Scheduler, *pollCounter) {
	t.Helper()
	c := &pollCounter{}
	p := &Poller{Source: src, Store: newPollStoreFake(), Clock: SystemClock{}}
	s := NewScheduler(SchedulerOptions{Poller: p, Workers: workers, OnPoll: c.observe})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("Run did not return after its context ended")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, err := range c.errs {
			t.Errorf("poll failed: %v", err)
		}
	})
	return s, c
}

// eventually reports whether cond holds within d, checking every 5 ms.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

func TestSchedulerPollsEveryJobRepeatedly(t *testing.T) {
	cat := testCatalog(t)
	s, c := startScheduler(t, newSchedSourceFake(0), 0)
	in := schedInstance(t, cat, 1)
	s.Set(in)
	if s.Len() != 2 {
		t.Fatalf("Len %d, want 2", s.Len())
	}
	keys := []JobKey{{1, "contacts"}, {1, "incidents"}}
	if !eventually(1500*time.Millisecond, func() bool { return c.get(keys[0]) >= 3 && c.get(keys[1]) >= 3 }) {
		t.Fatalf("polls after 1.5s: %d %d, want at least 3 each", c.get(keys[0]), c.get(keys[1]))
	}
}

func TestSchedulerInactiveInstancesPollNothing(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		name string
		set  func(in *Instance)
	}{
		{"disabled", func(in *Instance) { in.Disabled = true }},
		{"events off", func(in *Instance) { in.EventsEnabled = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := startScheduler(t, newSchedSourceFake(0), 0)
			live := schedInstance(t, cat, 1) // proves the scheduler runs
			off := schedInstance(t, cat, 2)
			tc.set(off)
			s.Set(live)
			s.Set(off)
			if s.Len() != 2 {
				t.Fatalf("Len %d, want 2 (the live instance's jobs only)", s.Len())
			}
			if !eventually(1500*time.Millisecond, func() bool { return c.instance(1) >= 4 }) {
				t.Fatalf("the live instance polled %d times", c.instance(1))
			}
			if n := c.instance(2); n != 0 {
				t.Errorf("the inactive instance polled %d times", n)
			}

			// An instance that was live stops when it is set inactive.
			again := schedInstance(t, cat, 3)
			s.Set(again)
			if !eventually(time.Second, func() bool { return c.instance(3) >= 1 }) {
				t.Fatal("instance 3 never polled")
			}
			stopped := *again
			tc.set(&stopped)
			s.Set(&stopped)
			if s.Len() != 2 {
				t.Errorf("Len %d after setting instance 3 inactive, want 2", s.Len())
			}
			time.Sleep(100 * time.Millisecond) // a poll under way may finish
			n := c.instance(3)
			time.Sleep(300 * time.Millisecond)
			if m := c.instance(3); m != n {
				t.Errorf("instance 3 polled %d more times after it was set inactive", m-n)
			}
		})
	}
}

func TestSchedulerRemoveStopsPolls(t *testing.T) {
	cat := testCatalog(t)
	s, c := startScheduler(t, newSchedSourceFake(0), 0)
	a, b := schedInstance(t, cat, 1), schedInstance(t, cat, 2)
	s.Set(a)
	s.Set(b)
	if !eventually(1500*time.Millisecond, func() bool { return c.instance(1) >= 2 && c.instance(2) >= 2 }) {
		t.Fatalf("polls: %d %d", c.instance(1), c.instance(2))
	}
	s.Remove(1)
	if s.Len() != 2 {
		t.Errorf("Len %d after removing instance 1, want 2", s.Len())
	}
	time.Sleep(100 * time.Millisecond) // a poll under way may finish
	n1, n2 := c.instance(1), c.instance(2)
	time.Sleep(300 * time.Millisecond)
	if m := c.instance(1); m != n1 {
		t.Errorf("removed instance polled %d more times", m-n1)
	}
	if m := c.instance(2); m < n2+2 {
		t.Errorf("the other instance polled %d times in 300ms, want at least 2", m-n2)
	}
}

// A job whose poll takes longer than its interval is never polled twice at once, also when its
// instance is removed and set again while a poll is under way.
func TestSchedulerNeverRunsAJobTwiceAtOnce(t *testing.T) {
	cat := testCatalog(t)
	src := newSchedSourceFake(120 * time.Millisecond)
	s, c := startScheduler(t, src, 8)
	in := schedInstance(t, cat, 1)
	in.Interval = 20 * time.Millisecond
	s.Set(in)
	if !eventually(time.Second, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.running[in.Endpoint.BaseURL+"/api/v2/tickets"] > 0
	}) {
		t.Fatal("no poll started")
	}
	s.Remove(1)
	s.Set(in)
	s.Set(in)
	keys := []JobKey{{1, "contacts"}, {1, "incidents"}}
	if !eventually(1800*time.Millisecond, func() bool { return c.get(keys[0]) >= 3 && c.get(keys[1]) >= 3 }) {
		t.Fatalf("polls: %d %d, want at least 3 each", c.get(keys[0]), c.get(keys[1]))
	}
	for k, n := range src.maxConcurrent() {
		if n > 1 {
			t.Errorf("%s: %d concurrent polls", k, n)
		}
	}
}

// firstSlot gives each job a stable phase within its interval, different jobs different phases.
func TestFirstSlot(t *testing.T) {
	interval := 15 * time.Minute
	now := time.Date(2024, 3, 1, 10, 7, 13, 500, time.UTC)
	keys := []JobKey{
		{1, "incidents"}, {1, "contacts"}, {2, "incidents"}, {2, "contacts"},
		{12, "incidents"}, {7950647, "incidents"}, {7950647, "contacts"},
	}
	offsets := map[time.Duration]JobKey{}
	for _, k := range keys {
		slot := firstSlot(k, interval, now)
		if again := firstSlot(k, interval, now); !again.Equal(slot) {
			t.Errorf("%v: %v then %v", k, slot, again)
		}
		if slot.Before(now) || !slot.Before(now.Add(interval)) {
			t.Errorf("%v: slot %v not within [now, now+interval)", k, slot)
		}
		off := slot.Sub(now.Truncate(interval)) % interval
		if off < 0 || off >= interval {
			t.Errorf("%v: offset %v outside the interval", k, off)
		}
		if other, dup := offsets[off]; dup {
			t.Errorf("%v and %v share offset %v", k, other, off)
		}
		offsets[off] = k
		// The phase holds at any later time (restarts keep it).
		for _, later := range []time.Duration{time.Second, 7 * time.Minute, 3 * time.Hour, 49*time.Hour + 11*time.Second} {
			s2 := firstSlot(k, interval, now.Add(later))
			if o := s2.Sub(s2.Truncate(interval)); o != off {
				t.Errorf("%v: offset %v at now+%v, want %v", k, o, later, off)
			}
			if s2.Before(now.Add(later)) || !s2.Before(now.Add(later+interval)) {
				t.Errorf("%v: slot %v not within an interval of now+%v", k, s2, later)
			}
		}
	}
	// A slot exactly at now is now.
	k := keys[0]
	slot := firstSlot(k, interval, now)
	if got := firstSlot(k, interval, slot); !got.Equal(slot) {
		t.Errorf("firstSlot at its own slot: %v, want %v", got, slot)
	}
	// No interval: a minute.
	if s := firstSlot(k, 0, now); s.Before(now) || !s.Before(now.Add(time.Minute)) {
		t.Errorf("zero interval: slot %v not within a minute", s)
	}
}

// PollEvent.Duration is the poll's wall time.
func TestSchedulerPollDuration(t *testing.T) {
	const delay = 40 * time.Millisecond
	var mu sync.Mutex
	var got []time.Duration
	p := &Poller{Source: newSchedSourceFake(delay), Store: newPollStoreFake(), Clock: SystemClock{}}
	s := NewScheduler(SchedulerOptions{Poller: p, OnPoll: func(e PollEvent) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e.Duration)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	s.Set(schedInstance(t, testCatalog(t), 1))
	if !eventually(2*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 2 }) {
		t.Fatal("no polls")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, d := range got {
		if d < delay || d > 10*time.Second {
			t.Errorf("poll duration %v, want at least the source's %v", d, delay)
		}
	}
}
