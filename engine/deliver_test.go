package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type sinkCall struct {
	url, id, body string
	keys          []string
	standard      bool
	ts            time.Time
	ctxErr        error // of the send's context, after the hook ran
}

// sinkFake records sends and answers with status (or err), or as answer (or respond) says. It
// tracks how many sends are in flight to each URL.
type sinkFake struct {
	mu        sync.Mutex
	calls     []sinkCall
	status    int
	err       error
	answer    func(o Outgoing) (int, error)      // when set, answers instead of status and err; called with mu held
	respond   func(o Outgoing) (Response, error) // when set, answers instead of all the above; called with mu held
	hook      func(o Outgoing)                   // called during each send, before it answers
	active    map[string]int
	maxActive map[string]int
}

func (s *sinkFake) Send(ctx context.Context, o Outgoing) (Response, error) {
	s.mu.Lock()
	if s.active == nil {
		s.active, s.maxActive = map[string]int{}, map[string]int{}
	}
	s.active[o.URL]++
	s.maxActive[o.URL] = max(s.maxActive[o.URL], s.active[o.URL])
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook(o)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active[o.URL]--
	resp, err := Response{Status: s.status}, s.err
	switch {
	case s.respond != nil:
		resp, err = s.respond(o)
	case s.answer != nil:
		resp.Status, err = s.answer(o)
	}
	s.calls = append(s.calls, sinkCall{o.URL, o.ID, string(o.Body), o.Keys, o.StandardWebhooks, o.Timestamp, ctx.Err()})
	return resp, err
}

// do runs f with the sink locked, to change how it answers.
func (s *sinkFake) do(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *sinkFake) sent() []sinkCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkCall(nil), s.calls...)
}

// sentTo returns the ids sent to url, in the order the sends answered.
func (s *sinkFake) sentTo(url string) []string {
	var ids []string
	for _, c := range s.sent() {
		if c.url == url {
			ids = append(ids, c.id)
		}
	}
	return ids
}

func (s *sinkFake) maxInFlight(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxActive[url]
}

// instancesFake is a mutable instance registry.
type instancesFake struct {
	mu sync.Mutex
	m  map[int64]*Instance
}

func (r *instancesFake) set(in *Instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[int64]*Instance{}
	}
	r.m[in.ID] = in
}

func (r *instancesFake) get(id int64) (*Instance, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.m[id]
	return in, ok
}

func deliverInstance(id int64, url, key string) *Instance {
	return &Instance{ID: id, EventsEnabled: true, CallbackURL: url, SignatureKey: key}
}

// addDeliverInstances registers instances first..last with the callback url, each with one
// notification "<prefix><id>".
func addDeliverInstances(reg *instancesFake, ob *outboxFake, first, last int64, url, prefix string) {
	for id := first; id <= last; id++ {
		reg.set(deliverInstance(id, url, "k"))
		ob.add(id, fmt.Sprintf("%s%d", prefix, id), `{}`)
	}
}

var deliverNow = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// deliverClock is a fake clock for DelivererOptions.Clock, moved by the test; its timers never
// fire. (enginetest.Clock imports engine, which these tests are in.)
type deliverClock struct {
	mu sync.Mutex
	t  time.Time
}

func newDeliverClock() *deliverClock { return &deliverClock{t: deliverNow} }

func (c *deliverClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *deliverClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *deliverClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *deliverClock) NewTimer(time.Duration) Timer          { return stoppedTimer{} }
func (c *deliverClock) AfterFunc(time.Duration, func()) Timer { return stoppedTimer{} }

// deliverBlocker holds sends to url ("" = to every URL) until released.
type deliverBlocker struct {
	url     string
	entered chan string
	release chan struct{}
	once    sync.Once
}

// newDeliverBlocker installs a blocker in sink. Create it after the deliverer, so that the
// cleanup opens it before the deliverer's cleanup waits for the deliveries.
func newDeliverBlocker(t *testing.T, sink *sinkFake, url string) *deliverBlocker {
	b := &deliverBlocker{url: url, entered: make(chan string, 1000), release: make(chan struct{})}
	sink.do(func() { sink.hook = b.hook })
	t.Cleanup(b.open)
	return b
}

func (b *deliverBlocker) hook(o Outgoing) {
	if b.url != "" && o.URL != b.url {
		return
	}
	b.entered <- o.ID
	<-b.release
}

// waitEntered waits for n sends to have entered the blocker and returns their ids.
func (b *deliverBlocker) waitEntered(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	timeout := time.After(5 * time.Second)
	for len(ids) < n {
		select {
		case id := <-b.entered:
			ids = append(ids, id)
		case <-timeout:
			t.Fatalf("only %d of %d sends started: %v", len(ids), n, ids)
		}
	}
	return ids
}

// releaseOne lets one blocked send answer.
func (b *deliverBlocker) releaseOne(t *testing.T) {
	t.Helper()
	select {
	case b.release <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatal("no blocked send to release")
	}
}

// open lets every send through, now and from now on.
func (b *deliverBlocker) open() { b.once.Do(func() { close(b.release) }) }

// newTestDeliverer returns a Deliverer whose deliveries are waited for when the test ends.
func newTestDeliverer(t *testing.T, o DelivererOptions) *Deliverer {
	d := NewDeliverer(o)
	t.Cleanup(func() { settleDeliveries(t, d) })
	return d
}

// settleDeliveries waits (bounded) for every delivery the deliverer started to finish: sent,
// recorded and accounted to its callback. Once then sees their outcome.
func settleDeliveries(t *testing.T, d *Deliverer) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deliveries still under way after 5s")
	}
}

// deliveriesInFlight is how many deliveries the deliverer has started and not yet finished (sent
// and recorded). Call it from the goroutine that calls Once.
func deliveriesInFlight(d *Deliverer) int {
	d.doneMu.Lock()
	defer d.doneMu.Unlock()
	n := d.running
	for _, c := range d.done {
		if !c.answered {
			n--
		}
	}
	return n
}

// waitDeliver waits until every goroutine of the test's synctest bubble is blocked (deliveries
// answered and recorded, or held by a blocker), then checks cond.
func waitDeliver(t *testing.T, what string, cond func() bool) {
	t.Helper()
	synctest.Wait()
	if !cond() {
		t.Fatalf("%s: not so once every delivery is done or blocked", what)
	}
}

// onceWant calls Once and checks how many deliveries it started.
func onceWant(t *testing.T, d *Deliverer, want int, what string) {
	t.Helper()
	n, err := d.Once(context.Background())
	if err != nil || n != want {
		t.Fatalf("%s: Once = %d, %v; want %d started", what, n, err, want)
	}
}

// inJitter reports whether d is within ±20% of base.
func inJitter(d, base time.Duration) bool {
	return d >= base-base/5 && d <= base+base/5
}

func TestDelivererOnceOutcome(t *testing.T) {
	retries := []time.Duration{10 * time.Second, 100 * time.Second, 1000 * time.Second}
	for _, tc := range []struct {
		name     string
		status   int
		err      error
		attempts int
		want     DeliveryStatus
		retry    time.Duration // expected delay before the next attempt; 0 = none
	}{
		{name: "200", status: 200, want: StatusDelivered},
		{name: "204", status: 204, want: StatusDelivered},
		{name: "299 after failures", status: 299, attempts: 2, want: StatusDelivered},
		{name: "last chance delivered", status: 202, attempts: 3, want: StatusDelivered},
		{name: "500 first", status: 500, want: StatusPending, retry: 10 * time.Second},
		{name: "302", status: 302, want: StatusPending, retry: 10 * time.Second},
		{name: "404", status: 404, want: StatusPending, retry: 10 * time.Second},
		{name: "transport error", err: errors.New("connection refused"), want: StatusPending, retry: 10 * time.Second},
		{name: "500 second", status: 500, attempts: 1, want: StatusPending, retry: 100 * time.Second},
		{name: "500 last retry", status: 503, attempts: 2, want: StatusPending, retry: 1000 * time.Second},
		{name: "500 retries exhausted", status: 500, attempts: 3, want: StatusQueued},
		{name: "error retries exhausted", err: errors.New("timeout"), attempts: 3, want: StatusQueued},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := &outboxFake{}
			ob.add(7, "n1", `{"x":1}`)
			ob.items[0].d.Attempts = tc.attempts
			sink := &sinkFake{status: tc.status, err: tc.err}
			reg := &instancesFake{}
			reg.set(deliverInstance(7, "https://hooks.example.com/7", "k7"))
			type attempt struct {
				delivered bool
				events    int
			}
			var hook []attempt
			var hookMu sync.Mutex
			d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Retries: retries,
				Clock: &FixedClock{T: deliverNow},
				OnAttempt: func(delivered bool, events int, took time.Duration) {
					hookMu.Lock()
					defer hookMu.Unlock()
					hook = append(hook, attempt{delivered, events})
					if took < 0 {
						t.Errorf("OnAttempt took %v", took)
					}
				}})
			onceWant(t, d, 1, "due notification")
			settleDeliveries(t, d)
			hookMu.Lock()
			if want := []attempt{{tc.want == StatusDelivered, 1}}; !reflect.DeepEqual(hook, want) {
				t.Errorf("OnAttempt calls %+v, want %+v", hook, want)
			}
			hookMu.Unlock()
			calls := sink.sent()
			want := sinkCall{url: "https://hooks.example.com/7", id: "n1", body: `{"x":1}`, keys: []string{"k7"}, ts: deliverNow}
			if len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
				t.Fatalf("sends %+v, want [%+v]", calls, want)
			}
			as := ob.recorded()
			if len(as) != 1 {
				t.Fatalf("%d attempts recorded", len(as))
			}
			a := as[0]
			if a.NotificationID != "n1" || !a.At.Equal(deliverNow) || a.HTTPStatus != tc.status || a.Status != tc.want {
				t.Errorf("attempt %+v, want status %s HTTP %d at %v", a, tc.want, tc.status, deliverNow)
			}
			if (a.Error == "") != (tc.want == StatusDelivered) {
				t.Errorf("attempt error %q for status %s", a.Error, a.Status)
			}
			if tc.err != nil && !strings.Contains(a.Error, tc.err.Error()) {
				t.Errorf("attempt error %q does not say %q", a.Error, tc.err)
			}
			if tc.retry == 0 {
				if !a.Next.IsZero() {
					t.Errorf("next %v, want none", a.Next)
				}
				return
			}
			if delay := a.Next.Sub(a.At); !inJitter(delay, tc.retry) {
				t.Errorf("retry in %v, want %v ±20%%", delay, tc.retry)
			}
		})
	}
}

// The retry delay is spread over ±20% of the schedule's delay.
func TestDelivererRetryJitter(t *testing.T) {
	for _, base := range []time.Duration{8 * time.Second, 32768 * time.Second} {
		lo, hi := base, base
		for range 2000 {
			d := jitter(base)
			if !inJitter(d, base) {
				t.Fatalf("jitter(%v) = %v, outside ±20%%", base, d)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > base-base/10 || hi < base+base/10 {
			t.Errorf("jitter(%v) spread only over [%v, %v]", base, lo, hi)
		}
	}
}

// Without a schedule the documented one applies: 8 s, 64 s, ..., then QUEUED.
func TestDelivererDefaultSchedule(t *testing.T) {
	ob := &outboxFake{}
	ob.add(7, "n1", `{}`)
	reg := &instancesFake{}
	reg.set(deliverInstance(7, "https://hooks.example.com/7", ""))
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: &sinkFake{status: 500}, Instances: reg.get, Clock: clock})
	schedule := DefaultRetrySchedule()
	for i := 0; i <= len(schedule); i++ {
		onceWant(t, d, 1, fmt.Sprintf("attempt %d", i+1))
		settleDeliveries(t, d)
		a := ob.recorded()[i]
		if i == len(schedule) {
			if a.Status != StatusQueued || !a.Next.IsZero() {
				t.Errorf("last attempt %+v, want QUEUED", a)
			}
			break
		}
		if a.Status != StatusPending || !inJitter(a.Next.Sub(a.At), schedule[i]) {
			t.Errorf("attempt %d: %s, retry in %v, want PENDING in %v", i+1, a.Status, a.Next.Sub(a.At), schedule[i])
		}
		clock.set(a.Next)
	}
	schedule[0] = time.Hour // each call returns a schedule of its own
	if schedule = DefaultRetrySchedule(); schedule[0] != 8*time.Second || len(schedule) != 5 {
		t.Errorf("default schedule %v", schedule)
	}
}

// A failing callback is tried once plus once per retry, each retry not before its time, then the
// notification is QUEUED and not sent again.
func TestDelivererRetriesThenQueues(t *testing.T) {
	retries := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	ob := &outboxFake{}
	ob.add(7, "n1", `{}`)
	sink := &sinkFake{status: 500}
	reg := &instancesFake{}
	reg.set(deliverInstance(7, "https://hooks.example.com/7", "k"))
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Retries: retries, Clock: clock})
	ctx := context.Background()
	for step := 0; step < 20; step++ {
		if _, err := d.Once(ctx); err != nil {
			t.Fatal(err)
		}
		settleDeliveries(t, d)
		clock.advance(500 * time.Millisecond)
	}
	var statuses []DeliveryStatus
	as := ob.recorded()
	for i, a := range as {
		statuses = append(statuses, a.Status)
		if i > 0 {
			prev := as[i-1]
			if a.At.Before(prev.Next) {
				t.Errorf("attempt %d at %v, before its retry time %v", i+1, a.At, prev.Next)
			}
			if gap := a.At.Sub(prev.At); gap > retries[i-1]+retries[i-1]/5+500*time.Millisecond {
				t.Errorf("attempt %d came %v after the previous one, schedule says %v", i+1, gap, retries[i-1])
			}
		}
	}
	want := []DeliveryStatus{StatusPending, StatusPending, StatusPending, StatusQueued}
	if !reflect.DeepEqual(statuses, want) {
		t.Fatalf("attempts %v, want %v", statuses, want)
	}
	if n := len(sink.sent()); n != len(retries)+1 {
		t.Errorf("%d sends, want %d", n, len(retries)+1)
	}
}

// Notifications of an unknown instance, or of one without a callback, are neither sent nor
// recorded nor counted: they stay pending.
func TestDelivererUnknownInstance(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  func(r *instancesFake)
	}{
		{"unknown", func(r *instancesFake) {}},
		{"other instance", func(r *instancesFake) { r.set(deliverInstance(8, "https://hooks.example.com/8", "")) }},
		{"no callback", func(r *instancesFake) { r.set(deliverInstance(7, "", "k")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := &outboxFake{}
			ob.add(7, "n1", `{}`)
			sink := &sinkFake{status: 200}
			reg := &instancesFake{}
			tc.reg(reg)
			d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: &FixedClock{T: deliverNow}})
			onceWant(t, d, 0, "undeliverable")
			settleDeliveries(t, d)
			if n := len(sink.sent()); n != 0 {
				t.Errorf("%d sends", n)
			}
			if n := len(ob.recorded()); n != 0 {
				t.Errorf("%d attempts recorded", n)
			}
		})
	}
}

// Run must not spin on a notification it cannot send: it waits for its tick like when nothing is
// due, instead of asking the outbox again at once, over and over.
func TestDelivererRunWaitsOnUndeliverable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &outboxFake{}
		ob.add(7, "n1", `{}`)
		reg := &instancesFake{}
		reg.set(deliverInstance(7, "", "")) // events configured without a callback (yet)
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: &sinkFake{status: 200}, Instances: reg.get, Every: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = d.Run(ctx)
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("Run did not return 1.7s after its context ended")
		}
		ob.mu.Lock()
		n := ob.pendingCalls
		ob.mu.Unlock()
		if n > 30 {
			t.Errorf("Run read the outbox %d times in 300ms with a 50ms tick", n)
		}
	})
}

// The callback URL and signature key are read from the instance when sending, not when the
// notification was made: a changed configuration applies to the next attempt.
func TestDelivererUsesInstanceAtSendTime(t *testing.T) {
	ob := &outboxFake{}
	ob.add(7, "n7", `{"i":7}`)
	ob.add(8, "n8", `{"i":8}`)
	sink := &sinkFake{status: 500}
	reg := &instancesFake{}
	reg.set(deliverInstance(7, "https://old.example.com/7", "old7"))
	reg.set(deliverInstance(8, "https://hooks.example.com/8", "k8"))
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get,
		Retries: []time.Duration{time.Second}, Clock: clock})
	onceWant(t, d, 2, "first attempts")
	settleDeliveries(t, d)
	reg.set(deliverInstance(7, "https://new.example.com/7", "new7"))
	sink.do(func() { sink.status = 200 })
	clock.advance(time.Minute)
	onceWant(t, d, 2, "retries")
	settleDeliveries(t, d)
	calls := sink.sent()
	if len(calls) != 4 {
		t.Fatalf("sends %+v", calls)
	}
	sort.SliceStable(calls[:2], func(i, j int) bool { return calls[i].id < calls[j].id })
	sort.SliceStable(calls[2:], func(i, j int) bool { return calls[2+i].id < calls[2+j].id })
	later := deliverNow.Add(time.Minute)
	want := []sinkCall{
		{url: "https://old.example.com/7", keys: []string{"old7"}, id: "n7", body: `{"i":7}`, ts: deliverNow},
		{url: "https://hooks.example.com/8", keys: []string{"k8"}, id: "n8", body: `{"i":8}`, ts: deliverNow},
		{url: "https://new.example.com/7", keys: []string{"new7"}, id: "n7", body: `{"i":7}`, ts: later},
		{url: "https://hooks.example.com/8", keys: []string{"k8"}, id: "n8", body: `{"i":8}`, ts: later},
	}
	for i := range want {
		if !reflect.DeepEqual(calls[i], want[i]) {
			t.Errorf("send %d: %+v, want %+v", i+1, calls[i], want[i])
		}
	}
}

// The keys are the instance's current one then, during a rotation, its previous one; none when
// it has no key. StandardWebhooks and the send's timestamp (the deliverer's clock) are passed on.
func TestDelivererOutgoing(t *testing.T) {
	for _, tc := range []struct {
		name          string
		key, previous string
		standard      bool
		want          []string
	}{
		{name: "unsigned", want: nil},
		{name: "current", key: "cur", want: []string{"cur"}},
		{name: "rotation", key: "cur", previous: "prev", want: []string{"cur", "prev"}},
		{name: "standard rotation", key: "cur", previous: "prev", standard: true, want: []string{"cur", "prev"}},
		{name: "standard unsigned", standard: true, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := &outboxFake{}
			ob.add(7, "n1", `{"x":1}`)
			sink := &sinkFake{status: 200}
			reg := &instancesFake{}
			in := deliverInstance(7, "https://hooks.example.com/7", tc.key)
			in.PreviousKey, in.StandardWebhooks = tc.previous, tc.standard
			reg.set(in)
			clock := newDeliverClock()
			clock.advance(42 * time.Second)
			d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock})
			onceWant(t, d, 1, "due notification")
			settleDeliveries(t, d)
			calls := sink.sent()
			if len(calls) != 1 {
				t.Fatalf("sends %+v", calls)
			}
			c := calls[0]
			if !reflect.DeepEqual(c.keys, tc.want) || len(c.keys) != len(tc.want) {
				t.Errorf("keys %q, want %q", c.keys, tc.want)
			}
			if c.standard != tc.standard {
				t.Errorf("StandardWebhooks %v, want %v", c.standard, tc.standard)
			}
			if !c.ts.Equal(deliverNow.Add(42 * time.Second)) {
				t.Errorf("Timestamp %v, want the deliverer's clock %v", c.ts, deliverNow.Add(42*time.Second))
			}
		})
	}
}

// A delivery under way when shutdown starts is finished, not cut off: the sink's context is not
// cancelled with Once's, and the attempt is recorded.
func TestDelivererShutdownFinishesDelivery(t *testing.T) {
	for _, status := range []int{200, 500} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			ob := &outboxFake{}
			ob.add(7, "n1", `{}`)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sink := &sinkFake{status: status, hook: func(Outgoing) { cancel() }}
			reg := &instancesFake{}
			reg.set(deliverInstance(7, "https://hooks.example.com/7", ""))
			d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: &FixedClock{T: deliverNow}})
			if _, err := d.Once(ctx); err != nil {
				t.Fatal(err)
			}
			settleDeliveries(t, d)
			calls := sink.sent()
			if len(calls) != 1 || calls[0].ctxErr != nil {
				t.Errorf("sends %+v; want one, its context not cancelled by shutdown", calls)
			}
			if as := ob.recorded(); len(as) != 1 || as[0].HTTPStatus != status {
				t.Errorf("attempts %+v, want the one made", as)
			}
		})
	}
}

// Run returns only once the deliveries under way when its context ended have answered and been
// recorded.
func TestDelivererRunWaitsForDeliveriesUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &outboxFake{}
		ob.add(7, "n1", `{}`)
		sink := &sinkFake{status: 200}
		reg := &instancesFake{}
		reg.set(deliverInstance(7, "https://hooks.example.com/7", ""))
		// No tick during the test: the only reads of the outbox are the first and those after a
		// delivery finished.
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Every: time.Hour,
			Clock: &FixedClock{T: deliverNow}})
		b := newDeliverBlocker(t, sink, "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		b.waitEntered(t, 1)
		cancel()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) with a delivery under way", err)
		case <-time.After(20 * time.Millisecond):
		}
		b.releaseOne(t)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after the delivery under way finished")
		}
		if as := ob.recorded(); len(as) != 1 || as[0].Status != StatusDelivered {
			t.Errorf("attempts %+v when Run returned, want the delivery recorded", as)
		}
		if calls := sink.sent(); len(calls) != 1 || calls[0].ctxErr != nil {
			t.Errorf("sends %+v; want one, its context not cancelled by shutdown", calls)
		}
	})
}

func TestDelivererOnceOutboxError(t *testing.T) {
	ob := &outboxFake{err: errors.New("database is locked")}
	ob.add(7, "n1", `{}`)
	sink := &sinkFake{status: 200}
	reg := &instancesFake{}
	reg.set(deliverInstance(7, "https://hooks.example.com/7", ""))
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get})
	if n, err := d.Once(context.Background()); err == nil || n != 0 {
		t.Errorf("Once = %d, %v; want 0 and the error", n, err)
	}
	settleDeliveries(t, d)
	if len(sink.sent()) != 0 {
		t.Error("sent despite the outbox error")
	}
}

// An instance's notifications are sent one at a time, oldest first: Once returns while the first
// is still being sent, does not start it again nor the next one while it is, and the next one
// waits for a failed one's retry to be delivered. Another instance is not held up.
func TestDelivererInstanceOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const urlA, urlB = "https://a.example.com/7", "https://b.example.com/8"
		ob := &outboxFake{}
		ob.add(7, "n1", `{"n":1}`)
		ob.add(7, "n2", `{"n":2}`)
		ob.add(8, "m1", `{"m":1}`)
		ob.add(7, "n3", `{"n":3}`)
		reg := &instancesFake{}
		reg.set(deliverInstance(7, urlA, "k"))
		reg.set(deliverInstance(8, urlB, "k"))
		failedOnce := false
		sink := &sinkFake{answer: func(o Outgoing) (int, error) {
			if o.ID == "n1" && !failedOnce {
				failedOnce = true
				return 500, nil
			}
			return 200, nil
		}}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get,
			Retries: []time.Duration{time.Second}, Clock: clock})
		b := newDeliverBlocker(t, sink, urlA)

		onceWant(t, d, 2, "n1 and m1")
		if ids := b.waitEntered(t, 1); ids[0] != "n1" {
			t.Fatalf("first send to instance 7: %s, want n1", ids[0])
		}
		waitDeliver(t, "m1 delivered while n1 is being sent", func() bool {
			return len(ob.recordedFor("m1")) == 1 && deliveriesInFlight(d) == 1
		})
		clock.advance(time.Second)
		onceWant(t, d, 0, "n1 in flight")
		b.releaseOne(t) // n1 fails, retried in 1s ±20%
		settleDeliveries(t, d)
		clock.advance(700 * time.Millisecond)
		onceWant(t, d, 0, "n1 not due again yet, n2 behind it")
		clock.advance(600 * time.Millisecond)
		for _, id := range []string{"n1", "n2", "n3"} {
			onceWant(t, d, 1, id)
			if got := b.waitEntered(t, 1); got[0] != id {
				t.Fatalf("sent %s, want %s", got[0], id)
			}
			onceWant(t, d, 0, id+" in flight")
			b.releaseOne(t)
			settleDeliveries(t, d)
			clock.advance(time.Second)
		}
		onceWant(t, d, 0, "all delivered")
		if got, want := sink.sentTo(urlA), []string{"n1", "n1", "n2", "n3"}; !reflect.DeepEqual(got, want) {
			t.Errorf("sends to instance 7: %v, want %v", got, want)
		}
		if n := sink.maxInFlight(urlA); n != 1 {
			t.Errorf("%d of instance 7's notifications in flight at once, want 1", n)
		}
		if as := ob.recordedFor("n1"); len(as) != 2 || as[0].Status != StatusPending || as[1].Status != StatusDelivered {
			t.Errorf("n1 attempts %+v, want a failure then a delivery", as)
		}
	})
}

// PerCallback bounds the deliveries in flight to one callback URL, whatever the instances; other
// callbacks are not held up by it.
func TestDelivererPerCallbackLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const urlA, urlB = "https://a.example.com/hook", "https://b.example.com/hook"
		ob := &outboxFake{}
		reg := &instancesFake{}
		addDeliverInstances(reg, ob, 1, 10, urlA, "a")
		addDeliverInstances(reg, ob, 11, 13, urlB, "b")
		sink := &sinkFake{status: 200}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, PerCallback: 3, Clock: clock})
		b := newDeliverBlocker(t, sink, urlA)

		// No rate bound: the first look starts as many as PerCallback allows to each callback.
		onceWant(t, d, 6, "up to three in flight to each callback")
		b.waitEntered(t, 3)
		waitDeliver(t, "the other callback's deliveries", func() bool {
			return len(sink.sentTo(urlB)) == 3 && deliveriesInFlight(d) == 3
		})
		clock.advance(time.Second)
		onceWant(t, d, 0, "callback at its limit")

		inFlight, unstarted := 3, 7
		for inFlight > 0 {
			b.releaseOne(t)
			inFlight--
			waitDeliver(t, "a delivery to finish", func() bool { return deliveriesInFlight(d) == inFlight })
			clock.advance(time.Second)
			want := min(1, unstarted)
			onceWant(t, d, want, "a place freed")
			if want == 1 {
				b.waitEntered(t, 1)
				inFlight++
				unstarted--
			}
			onceWant(t, d, 0, "callback at its limit again")
		}
		settleDeliveries(t, d)
		if n := len(sink.sentTo(urlA)); n != 10 {
			t.Errorf("%d sends to the callback, want 10", n)
		}
		if n := sink.maxInFlight(urlA); n != 3 {
			t.Errorf("%d deliveries in flight to one callback at most, want PerCallback = 3", n)
		}
	})
}

// RatePerCallback bounds how many deliveries start per second to one callback (a token bucket
// holding at most a second's worth), each callback on its own.
func TestDelivererRatePerCallback(t *testing.T) {
	const urlA, urlB = "https://a.example.com/hook", "https://b.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	addDeliverInstances(reg, ob, 1, 40, urlA, "a")
	addDeliverInstances(reg, ob, 41, 42, urlB, "b")
	sink := &sinkFake{status: 200}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get,
		PerCallback: 100, RatePerCallback: 4, Clock: clock})
	sentA := 0
	step := func(advance time.Duration, wantA int, what string) {
		t.Helper()
		clock.advance(advance)
		if _, err := d.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		settleDeliveries(t, d)
		n := len(sink.sentTo(urlA))
		if n-sentA != wantA {
			t.Fatalf("%s: %d started to the callback, want %d", what, n-sentA, wantA)
		}
		sentA = n
	}
	step(0, 1, "first")
	if n := len(sink.sentTo(urlB)); n != 1 {
		t.Errorf("%d sends to the other callback, want 1: its rate is its own", n)
	}
	step(0, 0, "same instant")
	step(125*time.Millisecond, 0, "half a token")
	step(125*time.Millisecond, 1, "a token")
	for i := range 8 {
		step(250*time.Millisecond, 1, fmt.Sprintf("steady step %d", i+1))
	}
	step(10*time.Second, 4, "after idling: a second's worth, not ten")
	step(0, 0, "bucket emptied")
}

// The breaker: after BreakAfter failures in a row to a callback nothing more goes to it until the
// cool-down has passed; then exactly one notification probes it. A failed probe re-opens it with
// a doubled cool-down, up to 10 minutes; a successful one closes it and deliveries resume. Other
// callbacks are not affected.
func TestDelivererBreaker(t *testing.T) {
	const urlA, urlB = "https://a.example.com/hook", "https://b.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	addDeliverInstances(reg, ob, 1, 20, urlA, "a")
	reg.set(deliverInstance(30, urlB, "k"))
	statusA := 500
	sink := &sinkFake{answer: func(o Outgoing) (int, error) {
		if o.URL == urlA {
			return statusA, nil
		}
		return 200, nil
	}}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock,
		BreakAfter: 4, PerCallback: 4, RatePerCallback: 1000,
		Retries: []time.Duration{10 * time.Hour, 10 * time.Hour, 10 * time.Hour}})
	b := newDeliverBlocker(t, sink, urlA)

	onceWant(t, d, 1, "first delivery (the rate bucket starts with one token)")
	b.waitEntered(t, 1)
	clock.advance(time.Second)
	onceWant(t, d, 3, "up to PerCallback")
	b.waitEntered(t, 3)
	for range 4 {
		b.releaseOne(t)
	}
	settleDeliveries(t, d)
	opened := clock.Now()

	ob.add(30, "b1", `{}`)
	clock.advance(time.Second)
	onceWant(t, d, 1, "the other callback while the breaker is open")
	settleDeliveries(t, d)
	if got := sink.sentTo(urlB); len(got) != 1 {
		t.Errorf("sends to the other callback %v", got)
	}
	clock.set(opened)

	// untilProbe steps the clock a second at a time until Once starts the probe, checks that it
	// is the only delivery started and stays so while it is in flight, and returns how long the
	// breaker stayed open.
	untilProbe := func() time.Duration {
		t.Helper()
		for range 1200 {
			clock.advance(time.Second)
			n, err := d.Once(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				continue
			}
			if n != 1 {
				t.Fatalf("%d deliveries started when the breaker half-opened, want one probe", n)
			}
			cool := clock.Now().Sub(opened)
			b.waitEntered(t, 1)
			clock.advance(time.Second)
			onceWant(t, d, 0, "probe in flight")
			return cool
		}
		t.Fatal("no probe within 20 minutes")
		return 0
	}

	var cools []time.Duration
	for len(cools) < 8 {
		cools = append(cools, untilProbe())
		b.releaseOne(t) // the probe fails
		settleDeliveries(t, d)
		opened = clock.Now()
	}
	if cools[0] <= time.Second {
		t.Errorf("first cool-down %v", cools[0])
	}
	for i := 1; i < len(cools); i++ {
		want := min(2*cools[i-1], 10*time.Minute)
		if cools[i] < want-time.Second || cools[i] > want+time.Second {
			t.Errorf("cool-downs %v: #%d is %v, want %v (doubled, at most 10m)", cools, i+1, cools[i], want)
		}
	}

	untilProbe()
	sink.do(func() { statusA = 200 })
	b.releaseOne(t) // the probe succeeds
	settleDeliveries(t, d)
	clock.advance(time.Second)
	onceWant(t, d, 4, "breaker closed: deliveries resume up to PerCallback")
	b.open()
	settleDeliveries(t, d)
	// 4 first + 8 failed probes + 1 successful + 4 = 17 of 20.
	clock.advance(time.Second)
	onceWant(t, d, 3, "the rest")
	settleDeliveries(t, d)
	delivered := 0
	for _, a := range ob.recorded() {
		if a.Status == StatusDelivered {
			delivered++
		}
	}
	if delivered != 1+1+4+3 {
		t.Errorf("%d delivered, want 9", delivered)
	}
}

// The breaker opens on BreakAfter failures in a row: a success in between starts the count again.
func TestDelivererBreakerCountsFailuresInARow(t *testing.T) {
	const url = "https://a.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	addDeliverInstances(reg, ob, 1, 10, url, "a")
	answers := []int{500, 500, 200, 500, 500, 200, 500, 500, 500}
	calls := 0
	sink := &sinkFake{answer: func(Outgoing) (int, error) {
		calls++
		return answers[calls-1], nil
	}}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock,
		BreakAfter: 3, PerCallback: 1, Retries: []time.Duration{time.Hour}})
	// Each send is held until Once has returned, so that it cannot end (and free the callback's
	// one place) while Once still reads the due list.
	b := newDeliverBlocker(t, sink, url)
	for i := range answers {
		clock.advance(time.Second)
		onceWant(t, d, 1, fmt.Sprintf("send %d (HTTP %d)", i+1, answers[i]))
		b.waitEntered(t, 1)
		b.releaseOne(t)
		settleDeliveries(t, d)
	}
	clock.advance(time.Second)
	onceWant(t, d, 0, "three failures in a row")
}

// A slow callback holds up only its own deliveries: another callback's go out, one after the
// other, while it is still answering.
func TestDelivererSlowReceiver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const slow, fast = "https://slow.example.com/hook", "https://fast.example.com/hook"
		ob := &outboxFake{}
		reg := &instancesFake{}
		reg.set(deliverInstance(1, slow, "k"))
		reg.set(deliverInstance(2, fast, "k"))
		ob.add(1, "s1", `{}`)
		ob.add(2, "f1", `{}`)
		ob.add(2, "f2", `{}`)
		sink := &sinkFake{status: 200}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock})
		b := newDeliverBlocker(t, sink, slow)

		onceWant(t, d, 2, "both callbacks")
		b.waitEntered(t, 1)
		waitDeliver(t, "f1 delivered", func() bool { return len(ob.recordedFor("f1")) == 1 && deliveriesInFlight(d) == 1 })
		clock.advance(time.Second)
		onceWant(t, d, 1, "f2 while the slow callback is still answering")
		waitDeliver(t, "f2 delivered", func() bool { return len(ob.recordedFor("f2")) == 1 && deliveriesInFlight(d) == 1 })
		if n := len(ob.recordedFor("s1")); n != 0 {
			t.Fatalf("slow delivery recorded %d times before it answered", n)
		}
		b.releaseOne(t)
		settleDeliveries(t, d)
		if as := ob.recordedFor("s1"); len(as) != 1 || as[0].Status != StatusDelivered {
			t.Errorf("slow delivery attempts %+v", as)
		}
	})
}

// A notification must not be sent again because Once read the outbox while it was being sent and
// it finished meanwhile: its attempt is recorded by then, but Once still holds the stale row.
func TestDelivererNoResendFromStaleRead(t *testing.T) {
	for _, status := range []int{200, 500} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ob := &outboxFake{}
				ob.add(7, "n1", `{}`)
				reg := &instancesFake{}
				reg.set(deliverInstance(7, "https://hooks.example.com/7", "k"))
				sink := &sinkFake{status: status}
				clock := newDeliverClock()
				d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock})
				b := newDeliverBlocker(t, sink, "")
				onceWant(t, d, 1, "n1")
				b.waitEntered(t, 1)
				// The next Once reads n1 (still pending: being sent), then n1 answers and is recorded
				// before Once goes through what it read.
				ob.setReadHook(func() {
					b.open()
					waitDeliver(t, "n1 finished", func() bool { return deliveriesInFlight(d) == 0 })
				})
				clock.advance(time.Second)
				n, err := d.Once(context.Background())
				settleDeliveries(t, d)
				if err != nil || n != 0 {
					t.Errorf("Once = %d, %v; want nothing started", n, err)
				}
				if got := sink.sentTo("https://hooks.example.com/7"); len(got) != 1 {
					t.Errorf("n1 sent %d times, want once; attempts %+v", len(got), ob.recorded())
				}
			})
		})
	}
}

// RatePerCallback below one per second (say 0.5: one every 2 s) still lets deliveries through.
func TestDelivererRateBelowOnePerSecond(t *testing.T) {
	const url = "https://a.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	addDeliverInstances(reg, ob, 1, 3, url, "a")
	sink := &sinkFake{status: 200}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock, RatePerCallback: 0.5})
	onceWant(t, d, 1, "first")
	settleDeliveries(t, d)
	clock.advance(time.Second)
	onceWant(t, d, 0, "after 1s at 0.5/s")
	clock.advance(time.Second)
	onceWant(t, d, 1, "after 2s at 0.5/s")
	settleDeliveries(t, d)
}

// Deliveries already in flight when the breaker opens, failing afterwards, do not lengthen its
// first cool-down: only a failed probe does.
func TestDelivererBreakerStragglersKeepCooldown(t *testing.T) {
	const url = "https://a.example.com/hook"
	firstCooldown := func(perCallback int) time.Duration {
		ob := &outboxFake{}
		reg := &instancesFake{}
		addDeliverInstances(reg, ob, 1, 10, url, "a")
		sink := &sinkFake{status: 500}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock,
			BreakAfter: 2, PerCallback: perCallback, RatePerCallback: 1000, Retries: []time.Duration{10 * time.Hour}})
		b := newDeliverBlocker(t, sink, url)
		if perCallback == 1 {
			for i := range 2 {
				if i > 0 {
					clock.advance(time.Second)
				}
				onceWant(t, d, 1, fmt.Sprintf("failure %d", i+1))
				b.waitEntered(t, 1)
				b.releaseOne(t)
				settleDeliveries(t, d)
			}
		} else {
			onceWant(t, d, 1, "first (the rate bucket starts with one token)")
			clock.advance(time.Second)
			onceWant(t, d, 2, "two more")
			b.waitEntered(t, 3)
			for range 3 {
				b.releaseOne(t)
			}
			settleDeliveries(t, d)
		}
		b.open()
		opened := clock.Now()
		for range 1200 {
			clock.advance(time.Second)
			n, err := d.Once(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			settleDeliveries(t, d)
			if n > 0 {
				return clock.Now().Sub(opened)
			}
		}
		t.Fatal("no probe within 20 minutes")
		return 0
	}
	sequential := firstCooldown(1) // two failures, one after the other
	concurrent := firstCooldown(3) // three in flight, all fail: the third after the breaker opened
	if concurrent != sequential {
		t.Errorf("first cool-down %v with deliveries in flight when the breaker opened, %v without", concurrent, sequential)
	}
}

// However many notifications head the due list and cannot go (their callback's breaker is open),
// Once reads on past them: another callback's notification is sent at once.
func TestDelivererLooksPastBlockedCallbacks(t *testing.T) {
	const down, up = "https://down.example.com/hook", "https://up.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	addDeliverInstances(reg, ob, 1, 50, down, "d") // 50 instances, one notification each, all to one dead callback
	reg.set(deliverInstance(100, up, "k"))
	ob.add(100, "up1", `{}`) // last in the outbox's order
	sink := &sinkFake{answer: func(o Outgoing) (int, error) {
		if o.URL == down {
			return 503, nil
		}
		return 200, nil
	}}
	clock := newDeliverClock()
	// One worker: Once reads 4 due notifications a page.
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock, Workers: 1,
		BreakAfter: 1, RatePerCallback: 1000, Retries: []time.Duration{time.Hour}})
	b := newDeliverBlocker(t, sink, down)
	// The one worker is busy with it until it is released, so this look stops at the first page.
	onceWant(t, d, 1, "the dead callback's first notification")
	b.waitEntered(t, 1)
	b.open()
	settleDeliveries(t, d) // it fails: the breaker opens; the other 49 stay due, ahead of up1
	clock.advance(time.Second)
	onceWant(t, d, 1, "up1, past the 49 the open breaker holds back")
	settleDeliveries(t, d)
	if got := sink.sentTo(up); len(got) != 1 || got[0] != "up1" {
		t.Errorf("sent to the live callback: %v, want [up1]", got)
	}
}

// A notification whose body cannot be read is not sent and no attempt is recorded: it stays due,
// and goes once the body reads again.
func TestDelivererBodyReadFails(t *testing.T) {
	const url = "https://a.example.com/hook"
	ob := &outboxFake{bodyErr: errors.New("disk on fire")}
	reg := &instancesFake{}
	addDeliverInstances(reg, ob, 1, 1, url, "n")
	sink := &sinkFake{status: 200}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock})
	onceWant(t, d, 1, "the notification, whose body then fails to read")
	settleDeliveries(t, d)
	if len(sink.sent()) != 0 || len(ob.attempts) != 0 {
		t.Fatalf("sent %v, attempts %v; want none", sink.sent(), ob.attempts)
	}
	ob.mu.Lock()
	ob.bodyErr = nil
	ob.mu.Unlock()
	clock.advance(time.Second)
	onceWant(t, d, 1, "the same notification, its body readable again")
	settleDeliveries(t, d)
	if got := sink.sentTo(url); len(got) != 1 || got[0] != "n1" {
		t.Errorf("sent %v, want [n1]", got)
	}
}
