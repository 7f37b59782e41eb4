package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// shuffler holds every send until the test lets it answer, in the order the test picks.
type shuffler struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
	entered chan string
}

func newShuffler(t *testing.T, sink *sinkFake) *shuffler {
	s := &shuffler{waiting: map[string]chan struct{}{}, entered: make(chan string, 1000)}
	sink.do(func() { sink.hook = s.hook })
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for id, ch := range s.waiting {
			close(ch)
			delete(s.waiting, id)
		}
	})
	return s
}

func (s *shuffler) hook(o Outgoing) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.waiting[o.ID] = ch
	s.mu.Unlock()
	s.entered <- o.ID
	<-ch
}

func (s *shuffler) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.waiting[id])
	delete(s.waiting, id)
}

// noteEventsOf decodes the events of a notification body: (objectId, eventId) pairs.
func noteEventsOf(t *testing.T, body string) []EventBody {
	t.Helper()
	var b NotificationBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("notification body: %v", err)
	}
	return b.Message.Events
}

// Many commits of one instance, about records that change again and again, delivered with several
// notifications in flight at once, answering in a random order, some failing once and retried:
// the events of each record arrive in the order they were committed, while notifications of one
// instance were in flight together.
func TestDelivererPerObjectOrderUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := testInstance(t, "incidents", `{}`)
		url := in.CallbackURL
		reg := &instancesFake{}
		reg.set(in)
		ob := &outboxFake{}
		rng := rand.New(rand.NewPCG(7, 7))
		at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
		order := map[string]int{} // event id -> place in commit order
		object := map[string]string{}
		k := 0
		for _, size := range []int{7, 60, 250, 3, 120, 45, 400, 12} {
			events := make([]Event, size)
			for i := range events {
				id := strconv.Itoa(rng.IntN(60))
				d := at.Add(time.Duration(k) * time.Second)
				events[i] = Event{ID: EventID(in.ID, "incidents", id, d, Updated), InstanceID: in.ID, ObjectType: "incidents",
					ObjectID: id, Type: Updated, Date: d, PollDate: d, Record: json.RawMessage(`{"id":` + id + `}`)}
				order[events[i].ID], object[events[i].ID] = k, id
				k++
			}
			notes, err := BuildNotifications(in, noteTestAccount, "incidents", at, events)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range notes {
				ob.addLanes(in.ID, n.ID, string(n.Body), n.Lanes)
			}
		}
		tries := map[string]int{}
		var accepted []string
		sink := &sinkFake{answer: func(o Outgoing) (int, error) {
			tries[o.ID]++
			h := fnv.New32a()
			h.Write([]byte(o.ID))
			if h.Sum32()%4 == 0 && tries[o.ID] == 1 {
				return 500, nil
			}
			accepted = append(accepted, string(o.Body))
			return 200, nil
		}}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock,
			BreakAfter: 1000, Retries: slices.Repeat([]time.Duration{time.Second}, 10)})
		sh := newShuffler(t, sink)

		var inflight []string
		for round := 0; ; round++ {
			if round > 20000 {
				t.Fatal("deliveries did not end")
			}
			n, err := d.Once(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for range n {
				select {
				case id := <-sh.entered:
					inflight = append(inflight, id)
				case <-time.After(5 * time.Second):
					t.Fatal("a delivery started but did not send")
				}
			}
			if len(inflight) == 0 {
				if deliveredAll := func() bool {
					ob.mu.Lock()
					defer ob.mu.Unlock()
					for _, it := range ob.items {
						if it.status != StatusDelivered {
							return false
						}
					}
					return true
				}(); deliveredAll {
					break
				}
				clock.advance(time.Second) // retries due
				continue
			}
			i := rng.IntN(len(inflight))
			sh.release(inflight[i])
			inflight = slices.Delete(inflight, i, i+1)
			waitDeliver(t, "the released delivery to end", func() bool { return deliveriesInFlight(d) == len(inflight) })
		}

		last := map[string]int{}
		delivered := 0
		for _, body := range accepted { // in the order the callback accepted them
			for _, e := range noteEventsOf(t, body) {
				delivered++
				if p, ok := last[e.ObjectID]; ok && order[e.EventID] < p {
					t.Errorf("record %s: event %d arrived after event %d", e.ObjectID, order[e.EventID], p)
				}
				last[e.ObjectID] = order[e.EventID]
			}
		}
		if delivered != k {
			t.Errorf("%d events delivered, want %d", delivered, k)
		}
		if n := sink.maxInFlight(url); n < 2 || n > 4 {
			t.Errorf("at most %d of the instance's notifications in flight at once, want 2 to PerCallback (4)", n)
		}
	})
}

// Notifications of one instance go side by side when they share no lane; one that shares a lane
// with an older unsettled one waits for it: while it is in flight, and while it waits for a retry.
func TestDelivererLanes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const url = "https://a.example.com/hook"
		ob := &outboxFake{}
		ob.addLanes(7, "n1", `{}`, 0b01)
		ob.addLanes(7, "n2", `{}`, 0b10)
		ob.addLanes(7, "n3", `{}`, 0b01)
		ob.addLanes(7, "n4", `{}`, 0b11)
		reg := &instancesFake{}
		reg.set(deliverInstance(7, url, "k"))
		fails := map[string]int{"n1": 1}
		sink := &sinkFake{answer: func(o Outgoing) (int, error) {
			if fails[o.ID] > 0 {
				fails[o.ID]--
				return 500, nil
			}
			return 200, nil
		}}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock,
			Retries: []time.Duration{time.Minute}})
		b := newDeliverBlocker(t, sink, url)

		onceWant(t, d, 2, "n1 and n2, in separate lanes")
		if got := b.waitEntered(t, 2); !sameSet(got, "n1", "n2") {
			t.Fatalf("started %v, want n1 and n2", got)
		}
		onceWant(t, d, 0, "n3 shares n1's lane, n4 both")
		b.releaseOne(t)
		b.releaseOne(t)
		waitDeliver(t, "n1 (failed) and n2 (delivered)", func() bool { return deliveriesInFlight(d) == 0 })
		onceWant(t, d, 0, "n1 waits for its retry: n3 and n4 behind it")
		clock.advance(2 * time.Minute)
		onceWant(t, d, 1, "n1's retry")
		if got := b.waitEntered(t, 1); got[0] != "n1" {
			t.Fatalf("started %v, want n1", got)
		}
		b.releaseOne(t)
		waitDeliver(t, "n1 delivered", func() bool { return deliveriesInFlight(d) == 0 })
		onceWant(t, d, 1, "n3")
		b.waitEntered(t, 1)
		onceWant(t, d, 0, "n4 behind n3")
		b.releaseOne(t)
		waitDeliver(t, "n3 delivered", func() bool { return deliveriesInFlight(d) == 0 })
		onceWant(t, d, 1, "n4")
		b.open()
		settleDeliveries(t, d)
		if got, want := sink.sentTo(url), []string{"n1", "n2", "n1", "n3", "n4"}; !sameSet(got[:2], "n1", "n2") || !reflect.DeepEqual(got[2:], want[2:]) {
			t.Errorf("sends %v, want n1 and n2 (either order), then %v", got, want[2:])
		}
	})
}

func sameSet(got []string, want ...string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// Forty callbacks that never answer hold only their own places (PerCallback each): every
// notification of the healthy callbacks beside them is delivered, the hanging ones are not sent
// more than their places allow, and the total stays within Workers.
func TestDelivererHangingCallbacksDelayOnlyThemselves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &outboxFake{}
		reg := &instancesFake{}
		for i := range 40 {
			id := int64(100 + i)
			reg.set(deliverInstance(id, fmt.Sprintf("https://hang%d.example.com/hook", i), "k"))
			for k := range 6 {
				ob.addLanes(id, fmt.Sprintf("h%d-%d", i, k), `{}`, 1<<k)
			}
		}
		for i := range 10 {
			id := int64(200 + i)
			reg.set(deliverInstance(id, fmt.Sprintf("https://ok%d.example.com/hook", i), "k"))
			for k := range 6 {
				ob.addLanes(id, fmt.Sprintf("ok%d-%d", i, k), `{}`, 1<<k)
			}
		}
		sink := &sinkFake{status: 200}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock})
		hang := make(chan struct{})
		var hanging sync.WaitGroup
		sink.do(func() {
			sink.hook = func(o Outgoing) {
				if strings.HasPrefix(o.URL, "https://hang") {
					hanging.Add(1)
					defer hanging.Done()
					<-hang
				}
			}
		})
		t.Cleanup(func() { close(hang) })

		healthy := func() int {
			n := 0
			for _, a := range ob.recorded() {
				if strings.HasPrefix(a.NotificationID, "ok") && a.Status == StatusDelivered {
					n++
				}
			}
			return n
		}
		onceWant(t, d, 40*4+10*4, "PerCallback (4) to every callback")
		waitDeliver(t, "the healthy callbacks' first four each", func() bool { return healthy() == 40 })
		onceWant(t, d, 10*2, "the healthy callbacks' last two each")
		waitDeliver(t, "every healthy notification", func() bool { return healthy() == 60 && deliveriesInFlight(d) == 160 })
		clock.advance(time.Minute)
		onceWant(t, d, 0, "the hanging callbacks at their limit")
		for i := range 40 {
			if n := sink.maxInFlight(fmt.Sprintf("https://hang%d.example.com/hook", i)); n != 4 {
				t.Errorf("hanging callback %d: %d in flight, want PerCallback (4)", i, n)
			}
		}
		if n := deliveriesInFlight(d); n != 160 {
			t.Errorf("%d deliveries in flight, want the hanging 160", n)
		}
	})
}

// Workers bounds the deliveries in flight over all callbacks.
func TestDelivererWorkersBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &outboxFake{}
		reg := &instancesFake{}
		for i := range 20 {
			reg.set(deliverInstance(int64(i+1), fmt.Sprintf("https://cb%d.example.com/hook", i), "k"))
			ob.add(int64(i+1), fmt.Sprintf("n%d", i+1), `{}`)
		}
		sink := &sinkFake{status: 200}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock, Workers: 8})
		b := newDeliverBlocker(t, sink, "")
		onceWant(t, d, 8, "Workers")
		b.waitEntered(t, 8)
		onceWant(t, d, 0, "all workers busy")
		b.releaseOne(t)
		waitDeliver(t, "one delivery to end", func() bool { return deliveriesInFlight(d) == 7 })
		onceWant(t, d, 1, "a worker freed")
	})
}

// A 410 Gone stops the instance's delivery: the notification is QUEUED at once (its later ones
// behind it), the instance says so, and nothing more is sent for it, whatever the time, while
// other instances go on. A new callback URL requeues its queued notifications and they go, in
// order, to the new URL.
func TestDeliverer410StopsTheInstance(t *testing.T) {
	const gone, moved, other = "https://gone.example.com/hook", "https://moved.example.com/hook", "https://other.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	reg.set(deliverInstance(7, gone, "k"))
	reg.set(deliverInstance(8, other, "k"))
	ob.addLanes(7, "n1", `{}`, 0b01)
	ob.addLanes(7, "n2", `{}`, 0b10)
	ob.addLanes(7, "n3", `{}`, 0b01)
	ob.add(8, "m1", `{}`)
	sink := &sinkFake{answer: func(o Outgoing) (int, error) {
		if o.URL == gone {
			return 410, nil
		}
		return 200, nil
	}}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock,
		PerCallback: 1, Retries: []time.Duration{time.Second, time.Second}})
	onceWant(t, d, 2, "n1 and m1")
	settleDeliveries(t, d)
	clock.advance(time.Second)
	onceWant(t, d, 0, "nothing more for the instance")
	as := ob.recordedFor("n1")
	if len(as) != 1 || as[0].Status != StatusQueued || as[0].HTTPStatus != 410 || !as[0].Next.IsZero() || !strings.Contains(as[0].Error, "410") {
		t.Errorf("n1's attempts %+v, want one 410, QUEUED at once", as)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if st := ob.statusOf(id); st != StatusQueued {
			t.Errorf("%s is %s, want QUEUED", id, st)
		}
	}
	want := &DeliveryState{State: "stopped", Reason: "callback answered 410 Gone", Since: deliverNow}
	if got := d.State(7); !reflect.DeepEqual(got, want) {
		t.Errorf("State(7) = %+v, want %+v", got, want)
	}
	if got := d.State(8); got != nil {
		t.Errorf("State(8) = %+v, want nil", got)
	}
	ob.add(7, "n4", `{}`) // committed while stopped: queued behind
	clock.advance(10 * time.Hour)
	onceWant(t, d, 0, "stopped, hours later")
	if got := sink.sentTo(gone); !reflect.DeepEqual(got, []string{"n1"}) {
		t.Errorf("sent to the gone callback: %v, want [n1]", got)
	}

	reg.set(deliverInstance(7, moved, "k"))
	for range 10 {
		clock.advance(time.Second)
		if _, err := d.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		settleDeliveries(t, d)
	}
	if got, want := sink.sentTo(moved), []string{"n1", "n2", "n3", "n4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sent to the new callback %v, want %v", got, want)
	}
	if got := d.State(7); got != nil {
		t.Errorf("State(7) after the new callback = %+v, want nil", got)
	}
}

// A stopped instance stays stopped across a restart (the outbox tells the new deliverer), its
// PENDING notifications in other lanes are not sent, and a redelivery resumes it.
func TestDeliverer410RestartThenRedeliver(t *testing.T) {
	const url = "https://gone.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	reg.set(deliverInstance(9, url, "k"))
	ob.addLanes(9, "a1", `{}`, 0b001)
	ob.addLanes(9, "b1", `{}`, 0b010)
	ob.addLanes(9, "a2", `{}`, 0b001)
	back := false
	sink := &sinkFake{answer: func(o Outgoing) (int, error) {
		switch {
		case back:
			return 200, nil
		case o.ID == "a1":
			return 500, nil
		}
		return 410, nil
	}}
	clock := newDeliverClock()
	opts := DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock, Retries: []time.Duration{time.Minute}}
	d := newTestDeliverer(t, opts)
	b := newDeliverBlocker(t, sink, "")
	onceWant(t, d, 2, "a1 and b1")
	b.waitEntered(t, 2)
	b.open()
	settleDeliveries(t, d) // a1 failed (500, retry in a minute), b1 answered 410
	onceWant(t, d, 0, "stopped")
	if got := d.State(9); got == nil || got.State != "stopped" {
		t.Fatalf("State(9) = %+v, want stopped", got)
	}
	if st := ob.statusOf("a1"); st != StatusPending {
		t.Fatalf("a1 is %s, want PENDING (older than the 410, in another lane)", st)
	}

	// A restart: a new deliverer on the same outbox.
	clock.advance(time.Hour)
	d2 := newTestDeliverer(t, opts)
	onceWant(t, d2, 0, "still stopped after a restart; a1 is due but not sent")
	if got := d2.State(9); got == nil || got.State != "stopped" || !got.Since.Equal(deliverNow) {
		t.Fatalf("State(9) after a restart = %+v, want stopped since %v", got, deliverNow)
	}
	sink.do(func() { back = true })
	if n := ob.requeue(9); n != 2 {
		t.Fatalf("requeued %d, want b1 and a2", n)
	}
	for range 5 {
		clock.advance(time.Second)
		if _, err := d2.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		settleDeliveries(t, d2)
	}
	if got := d2.State(9); got != nil {
		t.Errorf("State(9) after the redelivery = %+v, want nil", got)
	}
	for _, id := range []string{"a1", "b1", "a2"} {
		if st := ob.statusOf(id); st != StatusDelivered {
			t.Errorf("%s is %s, want NOTIFIED", id, st)
		}
	}
	sent := sink.sentTo(url)
	if i, j := slices.Index(sent[2:], "a1"), slices.Index(sent[2:], "a2"); i < 0 || j < i {
		t.Errorf("sends %v: a1 must arrive before a2", sent)
	}
}

// A 429 or 503 with Retry-After pauses the whole callback that long (at most MaxRetryAfter), other
// callbacks going on; the attempt counts toward the retry schedule, is retried no earlier than
// the pause ends, and does not count toward the breaker. Retry-After on other statuses is ignored.
func TestDelivererRetryAfter(t *testing.T) {
	const urlA, urlB = "https://a.example.com/hook", "https://b.example.com/hook"
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter time.Duration
		pause      time.Duration // 0: none
	}{
		{"429", 429, 2 * time.Minute, 2 * time.Minute},
		{"503", 503, 90 * time.Second, 90 * time.Second},
		{"clamped", 429, 5 * time.Hour, 10 * time.Minute},
		{"500 ignores it", 500, 2 * time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := &outboxFake{}
			reg := &instancesFake{}
			addDeliverInstances(reg, ob, 1, 3, urlA, "a")
			addDeliverInstances(reg, ob, 4, 4, urlB, "b")
			answered := false
			sink := &sinkFake{respond: func(o Outgoing) (Response, error) {
				if o.URL == urlA && !answered {
					answered = true
					return Response{Status: tc.status, RetryAfter: tc.retryAfter}, nil
				}
				return Response{Status: 200}, nil
			}}
			clock := newDeliverClock()
			d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock,
				PerCallback: 1, BreakAfter: 1, MaxRetryAfter: 10 * time.Minute, Retries: []time.Duration{time.Second, time.Second}})
			onceWant(t, d, 2, "one to each callback")
			settleDeliveries(t, d)
			first := sink.sentTo(urlA)[0]
			as := ob.recordedFor(first)
			if len(as) != 1 || as[0].Status != StatusPending || as[0].HTTPStatus != tc.status {
				t.Fatalf("%s's attempts %+v, want one PENDING", first, as)
			}
			if tc.pause == 0 {
				clock.advance(time.Second)
				onceWant(t, d, 0, "breaker open after one failure (BreakAfter 1)")
				return
			}
			if wait := as[0].Next.Sub(as[0].At); wait < tc.pause {
				t.Errorf("%s retried in %v, want no earlier than the pause, %v", first, wait, tc.pause)
			}
			ob.add(4, "b5", `{}`)
			clock.advance(time.Second)
			onceWant(t, d, 1, "another callback goes on: b5, nothing to the paused one")
			settleDeliveries(t, d)
			want := &DeliveryState{State: "paused", Reason: fmt.Sprintf("callback answered HTTP %d with Retry-After", tc.status),
				Since: deliverNow, Until: deliverNow.Add(tc.pause)}
			if got := d.State(2); !reflect.DeepEqual(got, want) {
				t.Errorf("State(2) = %+v, want %+v", got, want)
			}
			clock.set(deliverNow.Add(tc.pause - time.Second))
			onceWant(t, d, 0, "a second before the pause ends")
			clock.set(deliverNow.Add(tc.pause))
			onceWant(t, d, 1, "the pause over: the callback's next (no breaker opened)")
			settleDeliveries(t, d)
			if d.State(2) != nil {
				t.Errorf("State(2) = %+v after the pause, want nil", d.State(2))
			}
			for _, a := range ob.recordedFor(first)[1:] {
				if a.At.Before(as[0].Next) {
					t.Errorf("%s retried at %v, before its retry time %v", first, a.At, as[0].Next)
				}
			}
		})
	}
}

// An instance's backlog larger than the window is delivered whole, each notification once and
// each lane in order, while the index never holds more than the window of it.
func TestDelivererWindow(t *testing.T) {
	const url = "https://a.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	reg.set(deliverInstance(7, url, "k"))
	for i := range 300 {
		ob.addLanes(7, fmt.Sprintf("n%03d", i), `{}`, 1<<(i%16))
	}
	sink := &sinkFake{status: 200}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock, Window: 20})
	for range 1000 {
		if len(sink.sent()) == 300 {
			break
		}
		if _, err := d.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		d.mu.Lock()
		held := len(d.idx.queues[7].notes)
		d.mu.Unlock()
		if held > 20 {
			t.Fatalf("the index holds %d notifications of the instance, more than the window (20)", held)
		}
		settleDeliveries(t, d)
	}
	sent := sink.sentTo(url)
	if len(sent) != 300 {
		t.Fatalf("%d sends, want 300", len(sent))
	}
	last := map[int]int{}
	for _, id := range sent {
		i, _ := strconv.Atoi(id[1:])
		if p, ok := last[i%16]; ok && p > i {
			t.Errorf("lane %d: n%03d after n%03d", i%16, i, p)
		}
		last[i%16] = i
	}
}

// A notification queued behind another while it was being sent stays queued when its attempt
// fails, and is not retried; it goes after a redelivery.
func TestDelivererQueuedWhileInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const url = "https://a.example.com/hook"
		ob := &outboxFake{}
		reg := &instancesFake{}
		reg.set(deliverInstance(7, url, "k"))
		ob.addLanes(7, "n1", `{}`, 0b01)
		ob.addLanes(7, "n2", `{}`, 0b10)
		sink := &sinkFake{status: 500}
		clock := newDeliverClock()
		d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock,
			BreakAfter: 100, Retries: []time.Duration{}})
		sh := newShuffler(t, sink)
		onceWant(t, d, 2, "n1 and n2")
		<-sh.entered
		<-sh.entered
		sink.do(func() { sink.answer = func(o Outgoing) (int, error) { return 500, nil } })
		sh.release("n1") // no retries: QUEUED, n2 (in flight) queued behind it
		waitDeliver(t, "n1 queued", func() bool { return deliveriesInFlight(d) == 1 })
		onceWant(t, d, 0, "n2 in flight")
		sh.release("n2")
		waitDeliver(t, "n2 failed", func() bool { return deliveriesInFlight(d) == 0 })
		clock.advance(time.Hour)
		onceWant(t, d, 0, "both queued")
		if a, b := ob.statusOf("n1"), ob.statusOf("n2"); a != StatusQueued || b != StatusQueued {
			t.Fatalf("n1 %s, n2 %s; want both QUEUED", a, b)
		}
		sink.do(func() { sink.answer = nil; sink.status = 200 })
		ob.requeue(7)
		onceWant(t, d, 2, "both, after the redelivery")
		<-sh.entered
		<-sh.entered
		sh.release("n1")
		sh.release("n2")
		settleDeliveries(t, d)
		if a, b := ob.statusOf("n1"), ob.statusOf("n2"); a != StatusDelivered || b != StatusDelivered {
			t.Errorf("n1 %s, n2 %s; want both NOTIFIED", a, b)
		}
	})
}

// When an attempt cannot be recorded, the instance is read again from the outbox: the
// notification, still PENDING there, is sent again (the same id), and nothing is lost.
func TestDelivererRecordFails(t *testing.T) {
	const url = "https://a.example.com/hook"
	ob := &outboxFake{recordErr: fmt.Errorf("disk full")}
	reg := &instancesFake{}
	reg.set(deliverInstance(7, url, "k"))
	ob.addLanes(7, "n1", `{}`, 0b01)
	ob.addLanes(7, "n2", `{}`, 0b01)
	sink := &sinkFake{status: 200}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock})
	onceWant(t, d, 1, "n1")
	settleDeliveries(t, d)
	ob.mu.Lock()
	ob.recordErr = nil
	ob.mu.Unlock()
	onceWant(t, d, 1, "n1 again: its outcome is not in the outbox")
	settleDeliveries(t, d)
	onceWant(t, d, 1, "n2")
	settleDeliveries(t, d)
	if got, want := sink.sentTo(url), []string{"n1", "n1", "n2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sends %v, want %v", got, want)
	}
}

// Notifications of an instance that is not live are dropped from the index and read again when it
// is live again.
func TestDelivererInstanceSleepsAndWakes(t *testing.T) {
	const url = "https://a.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	ob.add(7, "n1", `{}`)
	sink := &sinkFake{status: 200}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock})
	onceWant(t, d, 0, "no such instance yet")
	d.mu.Lock()
	q := d.idx.queues[7]
	asleep, held := q.asleep, len(q.notes)
	d.mu.Unlock()
	if !asleep || held != 0 {
		t.Errorf("instance not live: asleep %v, %d held; want asleep, none held", asleep, held)
	}
	reg.set(deliverInstance(7, url, "k"))
	onceWant(t, d, 1, "n1 once the instance is live")
	settleDeliveries(t, d)
}

// A 410 Gone recorded by another node sharing the outbox (the instance's previous lease holder)
// is read when this deliverer is told to read the stops again, as a Cluster does when it takes a
// lease: the instance shows stopped here, and a new callback URL requeues its notifications.
func TestDelivererRereadsStopsOfAnotherNode(t *testing.T) {
	const gone, moved = "https://gone.example.com/hook", "https://moved.example.com/hook"
	ob := &outboxFake{}
	reg := &instancesFake{}
	ob.add(7, "n1", `{}`)
	sink := &sinkFake{status: 200}
	clock := newDeliverClock()
	d := newTestDeliverer(t, DelivererOptions{Outbox: ob, Sink: sink, Instances: reg.get, Clock: clock})
	onceWant(t, d, 0, "nothing: the instance is not live here")
	// The other node sent n1 and recorded a 410.
	if err := ob.RecordAttempt(context.Background(), Attempt{NotificationID: "n1", At: deliverNow, HTTPStatus: 410, Status: StatusQueued, Error: stopReason}); err != nil {
		t.Fatal(err)
	}
	reg.set(deliverInstance(7, gone, "k")) // the lease moved here
	d.RereadStops()
	onceWant(t, d, 0, "stopped by the other node's 410")
	if got := d.State(7); got == nil || got.State != "stopped" {
		t.Fatalf("State(7) = %+v, want stopped", got)
	}
	reg.set(deliverInstance(7, moved, "k"))
	for range 5 {
		clock.advance(time.Second)
		if _, err := d.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		settleDeliveries(t, d)
	}
	if got := sink.sentTo(moved); !reflect.DeepEqual(got, []string{"n1"}) {
		t.Errorf("sent to the new callback %v, want [n1]", got)
	}
}
