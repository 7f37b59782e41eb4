package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The scheduler's tests run in a synctest bubble: time is virtual, so intervals, slow vendors and
// deadlines cost nothing and no assertion depends on how busy the machine is.

// schedInstance compiles an events-enabled freshdeskv2 instance polling its default resources
// (incidents and contacts) every 50 ms. Its subdomain names it, so that a fake source can tell
// instances (vendor accounts) apart by base URL.
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

// schedSourceFake answers every query with no records, after a delay (per base URL, or for all),
// and counts calls, calls cancelled, and concurrent calls per job (base URL and path) and per
// account (base URL).
type schedSourceFake struct {
	delay   time.Duration            // of the changes query
	delays  map[string]time.Duration // by base URL, of every query; overrides delay
	mu      sync.Mutex
	calls   map[string]int
	running map[string]int
	maxRun  map[string]int
	cancels map[string]int
}

func newSchedSourceFake(delay time.Duration) *schedSourceFake {
	return &schedSourceFake{delay: delay, delays: map[string]time.Duration{}, calls: map[string]int{},
		running: map[string]int{}, maxRun: map[string]int{}, cancels: map[string]int{}}
}

func (s *schedSourceFake) Fetch(ctx context.Context, req Request) (Page, error) {
	path := req.URL[len(req.Endpoint.BaseURL):]
	path, _, _ = strings.Cut(path, "?")
	keys := []string{req.Endpoint.BaseURL + path, req.Endpoint.BaseURL}
	s.mu.Lock()
	for _, k := range keys {
		s.calls[k]++
		s.running[k]++
		s.maxRun[k] = max(s.maxRun[k], s.running[k])
	}
	delay, ok := s.delays[req.Endpoint.BaseURL]
	if !ok && !isDeletedQuery(req) {
		delay = s.delay
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for _, k := range keys {
			s.running[k]--
		}
		s.mu.Unlock()
	}()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			s.mu.Lock()
			s.cancels[req.Endpoint.BaseURL]++
			s.mu.Unlock()
			return Page{}, ctx.Err()
		}
	}
	return Page{URL: req.URL, Body: []byte("[]")}, nil
}

func (s *schedSourceFake) get(m map[string]int, k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m[k]
}

// pollCounter counts finished polls per job, from the scheduler's observer.
type pollCounter struct {
	mu     sync.Mutex
	n      map[JobKey]int
	errs   []error
	events []PollEvent
}

func (c *pollCounter) observe(e PollEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[JobKey]int{}
	}
	c.n[e.Key]++
	c.events = append(c.events, e)
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

// schedRig is a scheduler running over a fake source, inside a synctest bubble.
type schedRig struct {
	s    *Scheduler
	c    *pollCounter
	stop func()
}

func startScheduler(t *testing.T, src Source, opts SchedulerOptions) *schedRig {
	t.Helper()
	c := &pollCounter{}
	opts.Poller = &Poller{Source: src, Store: newPollStoreFake(), Clock: SystemClock{}}
	opts.OnPoll = c.observe
	s := NewScheduler(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	return &schedRig{s: s, c: c, stop: func() {
		cancel()
		<-done
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, err := range c.errs {
			t.Errorf("poll failed: %v", err)
		}
	}}
}

// run lets the bubble's virtual clock advance by d.
func run(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestSchedulerPollsEveryJobRepeatedly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startScheduler(t, newSchedSourceFake(0), SchedulerOptions{})
		defer r.stop()
		r.s.Set(schedInstance(t, testCatalog(t), 1))
		if r.s.Len() != 2 {
			t.Fatalf("Len %d, want 2", r.s.Len())
		}
		run(time.Second)
		// 50 ms interval: about 20 polls a job a second, never fewer than 19.
		for _, k := range []JobKey{{1, "contacts"}, {1, "incidents"}} {
			if n := r.c.get(k); n < 19 || n > 21 {
				t.Errorf("%v: %d polls in a second, want 20", k, n)
			}
		}
	})
}

func TestSchedulerInactiveInstancesPollNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(in *Instance)
	}{
		{"disabled", func(in *Instance) { in.Disabled = true }},
		{"events off", func(in *Instance) { in.EventsEnabled = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cat := testCatalog(t)
				r := startScheduler(t, newSchedSourceFake(0), SchedulerOptions{})
				defer r.stop()
				live := schedInstance(t, cat, 1) // proves the scheduler runs
				off := schedInstance(t, cat, 2)
				tc.set(off)
				r.s.Set(live)
				r.s.Set(off)
				if r.s.Len() != 2 {
					t.Fatalf("Len %d, want 2 (the live instance's jobs only)", r.s.Len())
				}
				run(time.Second)
				if r.c.instance(1) < 38 {
					t.Fatalf("the live instance polled %d times", r.c.instance(1))
				}
				if n := r.c.instance(2); n != 0 {
					t.Errorf("the inactive instance polled %d times", n)
				}

				// An instance that was live stops when it is set inactive.
				again := schedInstance(t, cat, 3)
				r.s.Set(again)
				run(time.Second)
				stopped := *again
				tc.set(&stopped)
				r.s.Set(&stopped)
				if r.s.Len() != 2 {
					t.Errorf("Len %d after setting instance 3 inactive, want 2", r.s.Len())
				}
				n := r.c.instance(3)
				run(time.Second)
				if m := r.c.instance(3); m != n {
					t.Errorf("instance 3 polled %d more times after it was set inactive", m-n)
				}
			})
		})
	}
}

func TestSchedulerRemoveStopsPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := testCatalog(t)
		src := newSchedSourceFake(0)
		r := startScheduler(t, src, SchedulerOptions{})
		defer r.stop()
		a, b := schedInstance(t, cat, 1), schedInstance(t, cat, 2)
		r.s.Set(a)
		r.s.Set(b)
		run(time.Second)
		r.s.Remove(1)
		if r.s.Len() != 2 {
			t.Errorf("Len %d after removing instance 1, want 2", r.s.Len())
		}
		n1, n2 := r.c.instance(1), r.c.instance(2)
		run(time.Second)
		if m := r.c.instance(1); m != n1 {
			t.Errorf("removed instance polled %d more times", m-n1)
		}
		if m := r.c.instance(2); m < n2+38 {
			t.Errorf("the other instance polled %d times in a second, want 40", m-n2)
		}
	})
}

// Removing, disabling or reconfiguring an instance cancels its poll under way at once.
func TestSchedulerCancelsPollsUnderWay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(s *Scheduler, in *Instance)
	}{
		{"removed", func(s *Scheduler, in *Instance) { s.Remove(in.ID) }},
		{"disabled", func(s *Scheduler, in *Instance) { cp := *in; cp.Disabled = true; s.Set(&cp) }},
		{"reconfigured", func(s *Scheduler, in *Instance) {
			cp := *in
			cp.Endpoint.Auth.Username = "another key"
			s.Set(&cp)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := newSchedSourceFake(time.Hour) // a vendor that never answers
				r := startScheduler(t, src, SchedulerOptions{})
				defer r.stop()
				in := schedInstance(t, testCatalog(t), 1)
				r.s.Set(in)
				run(100 * time.Millisecond)
				base := in.Endpoint.BaseURL
				if src.get(src.running, base+"/api/v2/tickets") != 1 {
					t.Fatal("no poll under way")
				}
				tc.change(r.s, in)
				synctest.Wait()
				if n := src.get(src.running, base+"/api/v2/tickets"); n != 0 || src.get(src.cancels, base) == 0 {
					t.Errorf("after the change: %d requests under way, %d cancelled", n, src.get(src.cancels, base))
				}
			})
		})
	}
}

// A job whose poll takes longer than its interval is never polled twice at once, also when its
// instance is removed and set again while a poll is under way.
func TestSchedulerNeverRunsAJobTwiceAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSchedSourceFake(120 * time.Millisecond)
		r := startScheduler(t, src, SchedulerOptions{})
		defer r.stop()
		in := schedInstance(t, testCatalog(t), 1)
		in.Interval = 20 * time.Millisecond
		r.s.Set(in)
		run(30 * time.Millisecond)
		r.s.Remove(1)
		r.s.Set(in)
		r.s.Set(in)
		run(2 * time.Second)
		keys := []JobKey{{1, "contacts"}, {1, "incidents"}}
		if r.c.get(keys[0]) < 10 || r.c.get(keys[1]) < 10 {
			t.Fatalf("polls: %d %d, want at least 10 each", r.c.get(keys[0]), r.c.get(keys[1]))
		}
		for k, n := range src.maxRun {
			if strings.Contains(k, "/api/") && n > 1 {
				t.Errorf("%s: %d concurrent polls", k, n)
			}
		}
	})
}

// Five accounts whose vendors never answer hold only their own accounts' places: an ordinary
// account beside them keeps its schedule. An account never has more polls under way than its
// bound, and all accounts together never more than the overall bound.
func TestSchedulerFairShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := testCatalog(t)
		src := newSchedSourceFake(0)
		r := startScheduler(t, src, SchedulerOptions{Concurrency: 12, PerAccount: 2})
		defer r.stop()
		var hostile []*Instance
		for id := int64(1); id <= 5; id++ {
			in := schedInstance(t, cat, id)
			src.delays[in.Endpoint.BaseURL] = time.Hour
			hostile = append(hostile, in)
			r.s.Set(in)
			// Two more instances of the same account: its place is shared.
			for k := int64(1); k <= 2; k++ {
				more := *in
				more.ID = id*100 + k
				r.s.Set(&more)
			}
		}
		ordinary := schedInstance(t, cat, 6)
		r.s.Set(ordinary)
		run(3 * time.Second)
		if n := r.c.instance(6); n < 110 {
			t.Errorf("the ordinary instance polled %d times in 3s beside hostile vendors, want about 120", n)
		}
		for _, in := range hostile {
			if n := src.maxRun[in.Endpoint.BaseURL]; n != 2 {
				t.Errorf("hostile account %s: at most %d requests under way, want its bound 2", in.Endpoint.BaseURL, n)
			}
		}
		total := 0
		for _, in := range hostile {
			total += src.get(src.running, in.Endpoint.BaseURL)
		}
		if total != 10 {
			t.Errorf("%d hostile polls under way, want 10", total)
		}
	})
}

// The overall bound holds: with two places, the third due job waits for one to free.
func TestSchedulerOverallBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := testCatalog(t)
		src := newSchedSourceFake(time.Second)
		r := startScheduler(t, src, SchedulerOptions{Concurrency: 2, PerAccount: 2})
		defer r.stop()
		for id := int64(1); id <= 3; id++ {
			r.s.Set(schedInstance(t, cat, id))
		}
		run(500 * time.Millisecond)
		under := 0
		for id := 1; id <= 3; id++ {
			under += src.get(src.running, fmt.Sprintf("https://acme%d.freshdesk.com", id))
		}
		if under != 2 {
			t.Errorf("%d polls under way, want the bound 2", under)
		}
		run(5 * time.Second)
		for id := int64(1); id <= 3; id++ {
			if r.c.instance(id) == 0 {
				t.Errorf("instance %d never polled", id)
			}
		}
	})
}

// An interval change takes effect from the next slot of the new interval, not the old one.
func TestSchedulerIntervalChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startScheduler(t, newSchedSourceFake(0), SchedulerOptions{})
		defer r.stop()
		in := schedInstance(t, testCatalog(t), 1)
		in.Interval = 15 * time.Minute
		r.s.Set(in)
		run(time.Second)
		before := r.c.instance(1)
		short := *in
		short.Interval = 3 * time.Second
		r.s.Set(&short)
		next, ok := r.s.Next(JobKey{1, "incidents"})
		if !ok || next.After(time.Now().Add(3*time.Second)) {
			t.Errorf("next poll %v after the change, want within 3s", time.Until(next))
		}
		run(10 * time.Second)
		if n := r.c.instance(1) - before; n < 6 {
			t.Errorf("%d polls in 10s at a 3s interval", n)
		}
	})
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

// PollEvent.Duration is the poll's time, and Next the job's next slot.
func TestSchedulerPollDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 40 * time.Millisecond
		r := startScheduler(t, newSchedSourceFake(delay), SchedulerOptions{})
		defer r.stop()
		r.s.Set(schedInstance(t, testCatalog(t), 1))
		run(time.Second)
		r.c.mu.Lock()
		defer r.c.mu.Unlock()
		if len(r.c.events) < 2 {
			t.Fatal("no polls")
		}
		for _, e := range r.c.events {
			if e.Duration < delay {
				t.Errorf("poll duration %v, want at least the source's %v", e.Duration, delay)
			}
			if !e.Next.After(e.At) {
				t.Errorf("next poll %v is not after the poll %v", e.Next, e.At)
			}
		}
	})
}

// An account's key is logged, shown and stored as a lease's name: it never carries the base
// URL's credentials, and two instances of one account share it whatever their case or slash.
func TestAccountKeyHasNoCredentials(t *testing.T) {
	for base, want := range map[string]string{
		"https://bob:sekrit@Acme.freshdesk.com/": "https://acme.freshdesk.com",
		"https://acme.freshdesk.com":             "https://acme.freshdesk.com",
		"http://127.0.0.1:8081/api/":             "http://127.0.0.1:8081/api",
	} {
		if got := accountKey(&Instance{Endpoint: Endpoint{BaseURL: base}}); got != want {
			t.Errorf("accountKey(%q) = %q, want %q", base, got, want)
		}
	}
}

// A new job whose jobs were polled elsewhere until some time (a take-over) polls at once when the
// slot before its first one fell after that time, spread over a tenth of its interval, and at its
// slot otherwise.
func TestSchedulerCatchUp(t *testing.T) {
	key := JobKey{InstanceID: 7, ObjectType: "incidents"}
	interval := 10 * time.Second
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Hour)
	next := firstSlot(key, interval, now)
	prev := next.Add(-interval)
	spread := min(interval/10, MaxCatchUpSpread)
	for _, tc := range []struct {
		name        string
		polledUntil time.Time
		soon        bool // polls within the spread, before its slot
	}{
		{"no take-over", time.Time{}, false},
		{"its last slot polled there", prev.Add(time.Millisecond), false},
		{"its last slot missed", prev.Add(-time.Millisecond), true},
		{"many slots missed", now.Add(-time.Hour), true},
	} {
		got := catchUp(key, interval, now, next, tc.polledUntil)
		switch {
		case tc.soon && (got.Before(now) || !got.Before(now.Add(spread)) || got.After(next)):
			t.Errorf("%s: first poll at %v, want within %v of now (%v), before its slot %v", tc.name, got, spread, now, next)
		case !tc.soon && !got.Equal(next):
			t.Errorf("%s: first poll at %v, want its slot %v", tc.name, got, next)
		}
	}
	// A take-over spreads its jobs over the spread rather than starting them in one instant.
	at := map[time.Time]bool{}
	for i := range 50 {
		k := JobKey{InstanceID: int64(i), ObjectType: "incidents"}
		at[catchUp(k, interval, now, now.Add(interval), now.Add(-time.Hour))] = true
	}
	if len(at) < 40 {
		t.Errorf("50 overdue jobs start at %d distinct times", len(at))
	}
}
