package engine

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// outboxFake is an in-memory Outbox that follows the port's contract: per instance, the oldest
// unsettled notification when it is due; an attempt with a Next is retried then, one without is
// settled as its Status says.
type outboxFake struct {
	mu       sync.Mutex
	items    []*outboxItem // in commit order
	attempts []Attempt
	dueCalls int
	err      error
}

type outboxItem struct {
	d      Delivery
	status DeliveryStatus
	next   time.Time
}

func (o *outboxFake) add(instanceID int64, id string, body string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items = append(o.items, &outboxItem{
		d:      Delivery{Notification: Notification{ID: id, InstanceID: instanceID, ObjectType: "incidents", EventIDs: []string{"e-" + id}, Body: []byte(body)}},
		status: StatusPending,
	})
}

func (o *outboxFake) DueDeliveries(_ context.Context, now time.Time, limit int) ([]Delivery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dueCalls++
	if o.err != nil {
		return nil, o.err
	}
	var out []Delivery
	seen := map[int64]bool{}
	for _, it := range o.items {
		if it.status != StatusPending || seen[it.d.InstanceID] {
			continue
		}
		seen[it.d.InstanceID] = true
		if !it.next.After(now) && len(out) < limit {
			out = append(out, it.d)
		}
	}
	return out, nil
}

func (o *outboxFake) RecordAttempt(_ context.Context, a Attempt) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts = append(o.attempts, a)
	for _, it := range o.items {
		if it.d.ID != a.NotificationID {
			continue
		}
		it.d.Attempts++
		switch {
		case a.Status == StatusDelivered:
			it.status = StatusDelivered
		case !a.Next.IsZero():
			it.status, it.next = StatusPending, a.Next
		default:
			it.status = a.Status
		}
		return nil
	}
	return errors.New("no such notification")
}

func (o *outboxFake) recorded() []Attempt {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Attempt(nil), o.attempts...)
}

type sinkCall struct {
	url, key, id string
	body         string
	ctxErr       error // of the send's context, after the hook ran
}

// sinkFake records sends and answers with status (or err).
type sinkFake struct {
	mu     sync.Mutex
	calls  []sinkCall
	status int
	err    error
	hook   func() // called during each send
}

func (s *sinkFake) Send(ctx context.Context, url, key, id string, body []byte) (int, error) {
	s.mu.Lock()
	status, err, hook := s.status, s.err, s.hook
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.mu.Lock()
	s.calls = append(s.calls, sinkCall{url, key, id, string(body), ctx.Err()})
	s.mu.Unlock()
	return status, err
}

func (s *sinkFake) sent() []sinkCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkCall(nil), s.calls...)
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

var deliverNow = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

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
			d := NewDeliverer(DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Retries: retries,
				Now: func() time.Time { return deliverNow }})
			n, err := d.Once(context.Background())
			if err != nil || n != 1 {
				t.Fatalf("Once = %d, %v", n, err)
			}
			calls := sink.sent()
			if len(calls) != 1 || calls[0] != (sinkCall{"https://hooks.example.com/7", "k7", "n1", `{"x":1}`, nil}) {
				t.Fatalf("sends %+v", calls)
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
	now := deliverNow
	d := NewDeliverer(DelivererOptions{Outbox: ob, Sink: &sinkFake{status: 500}, Instances: reg.get,
		Now: func() time.Time { return now }})
	for i := 0; i <= len(DefaultRetrySchedule); i++ {
		if n, err := d.Once(context.Background()); n != 1 || err != nil {
			t.Fatalf("attempt %d: Once = %d, %v", i+1, n, err)
		}
		a := ob.recorded()[i]
		if i == len(DefaultRetrySchedule) {
			if a.Status != StatusQueued || !a.Next.IsZero() {
				t.Errorf("last attempt %+v, want QUEUED", a)
			}
			break
		}
		if a.Status != StatusPending || !inJitter(a.Next.Sub(a.At), DefaultRetrySchedule[i]) {
			t.Errorf("attempt %d: %s, retry in %v, want PENDING in %v", i+1, a.Status, a.Next.Sub(a.At), DefaultRetrySchedule[i])
		}
		now = a.Next
	}
	if DefaultRetrySchedule[0] != 8*time.Second || len(DefaultRetrySchedule) != 5 {
		t.Errorf("default schedule %v", DefaultRetrySchedule)
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
	now := deliverNow
	d := NewDeliverer(DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Retries: retries,
		Now: func() time.Time { return now }})
	ctx := context.Background()
	for step := 0; step < 20; step++ {
		if _, err := d.Once(ctx); err != nil {
			t.Fatal(err)
		}
		now = now.Add(500 * time.Millisecond)
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
	if len(statuses) != len(want) {
		t.Fatalf("attempts %v, want %v", statuses, want)
	}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("attempts %v, want %v", statuses, want)
		}
	}
	if n := len(sink.sent()); n != len(retries)+1 {
		t.Errorf("%d sends, want %d", n, len(retries)+1)
	}
}

// Notifications of an unknown instance, or of one without a callback, are neither sent nor
// recorded: they stay pending.
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
			d := NewDeliverer(DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Now: func() time.Time { return deliverNow }})
			if _, err := d.Once(context.Background()); err != nil {
				t.Fatal(err)
			}
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
	ob := &outboxFake{}
	ob.add(7, "n1", `{}`)
	reg := &instancesFake{}
	reg.set(deliverInstance(7, "", "")) // events configured without a callback (yet)
	d := NewDeliverer(DelivererOptions{Outbox: ob, Sink: &sinkFake{status: 200}, Instances: reg.get, Every: 50 * time.Millisecond})
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
	n := ob.dueCalls
	ob.mu.Unlock()
	if n > 30 {
		t.Errorf("Run read the outbox %d times in 300ms with a 50ms tick", n)
	}
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
	now := deliverNow
	d := NewDeliverer(DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get,
		Retries: []time.Duration{time.Second}, Now: func() time.Time { return now }})
	if n, err := d.Once(context.Background()); n != 2 || err != nil {
		t.Fatalf("Once = %d, %v", n, err)
	}
	reg.set(deliverInstance(7, "https://new.example.com/7", "new7"))
	sink.mu.Lock()
	sink.status = 200
	sink.mu.Unlock()
	now = now.Add(time.Minute)
	if n, err := d.Once(context.Background()); n != 2 || err != nil {
		t.Fatalf("Once = %d, %v", n, err)
	}
	calls := sink.sent()
	sort.SliceStable(calls[:2], func(i, j int) bool { return calls[i].id < calls[j].id })
	sort.SliceStable(calls[2:], func(i, j int) bool { return calls[2+i].id < calls[2+j].id })
	want := []sinkCall{
		{"https://old.example.com/7", "old7", "n7", `{"i":7}`, nil},
		{"https://hooks.example.com/8", "k8", "n8", `{"i":8}`, nil},
		{"https://new.example.com/7", "new7", "n7", `{"i":7}`, nil},
		{"https://hooks.example.com/8", "k8", "n8", `{"i":8}`, nil},
	}
	if len(calls) != len(want) {
		t.Fatalf("sends %+v", calls)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("send %d: %+v, want %+v", i+1, calls[i], want[i])
		}
	}
}

// A delivery under way when shutdown starts is finished, not cut off: the sink's context is not
// cancelled with Once's, and the attempt is recorded.
func TestDelivererShutdownFinishesDelivery(t *testing.T) {
	for _, status := range []int{200, 500} {
		ob := &outboxFake{}
		ob.add(7, "n1", `{}`)
		ctx, cancel := context.WithCancel(context.Background())
		sink := &sinkFake{status: status, hook: cancel}
		reg := &instancesFake{}
		reg.set(deliverInstance(7, "https://hooks.example.com/7", ""))
		d := NewDeliverer(DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Now: func() time.Time { return deliverNow }})
		if _, err := d.Once(ctx); err != nil {
			t.Fatal(err)
		}
		calls := sink.sent()
		if len(calls) != 1 || calls[0].ctxErr != nil {
			t.Errorf("HTTP %d: sends %+v; want one, its context not cancelled by shutdown", status, calls)
		}
		if as := ob.recorded(); len(as) != 1 || as[0].HTTPStatus != status {
			t.Errorf("HTTP %d: attempts %+v, want the one made", status, as)
		}
		cancel()
	}
}

func TestDelivererOnceOutboxError(t *testing.T) {
	ob := &outboxFake{err: errors.New("database is locked")}
	ob.add(7, "n1", `{}`)
	sink := &sinkFake{status: 200}
	reg := &instancesFake{}
	reg.set(deliverInstance(7, "https://hooks.example.com/7", ""))
	d := NewDeliverer(DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get})
	if _, err := d.Once(context.Background()); err == nil {
		t.Error("no error")
	}
	if len(sink.sent()) != 0 {
		t.Error("sent despite the outbox error")
	}
}
