package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// The delivery benchmarks: the real deliverer, SQLite outbox and webhook sender, delivering to
// receivers on loopback.
//
//	go test ./cmd/pollen-bench -run XXX -bench DeliveryBurst -benchtime 3x
//	go test ./cmd/pollen-bench -run XXX -bench DeliveryHanging -benchtime 3x

// benchDeliveryRig is a store with instances whose notifications a deliverer sends.
type benchDeliveryRig struct {
	store     *sqlite.Store
	cat       *engine.Catalog
	instances map[int64]*engine.Instance
}

func newBenchDeliveryRig(b *testing.B) *benchDeliveryRig {
	b.Helper()
	store, err := sqlite.Open(filepath.Join(b.TempDir(), "pollen.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	cat := definitions.NewRegistry(definitions.RegistryOptions{}).Reload()
	return &benchDeliveryRig{store: store, cat: cat, instances: map[int64]*engine.Instance{}}
}

// instance stores and compiles an instance calling back callbackURL.
func (r *benchDeliveryRig) instance(b *testing.B, callbackURL string) *engine.Instance {
	b.Helper()
	conf := map[string]any{"subdomain": "bench", "username": "key", "event.notification.callback.url": callbackURL,
		"event.notification.signature.key": rig.SignatureKey, "event.poller.refresh_interval": "1"}
	rec := &engine.InstanceRecord{Name: "bench", ElementKey: "freshdeskv2", Configuration: conf}
	if err := r.store.CreateInstance(context.Background(), rec); err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"element": map[string]any{"key": "freshdeskv2"}, "name": "bench", "configuration": conf})
	if err != nil {
		b.Fatal(err)
	}
	in, probs := definitions.LoadStoredInstance(r.cat, "bench instance", body)
	if len(probs) > 0 {
		b.Fatal(definitions.Describe(probs))
	}
	in.ID = rec.ID
	r.instances[in.ID] = in
	return in
}

func (r *benchDeliveryRig) lookup(id int64) (*engine.Instance, bool) {
	in, ok := r.instances[id]
	return in, ok
}

// commit writes events for the tickets ids (version v of each) in commits of at most chunk
// events, as a streaming poll would.
func (r *benchDeliveryRig) commit(b *testing.B, in *engine.Instance, ids []int, version, chunk int) {
	b.Helper()
	at := time.Date(2024, 3, 1, 10, 0, version, 0, time.UTC)
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		events := make([]engine.Event, n)
		for i, id := range ids[:n] {
			oid := strconv.Itoa(id)
			events[i] = engine.Event{ID: engine.EventID(in.ID, "incidents", oid, at, engine.Updated), InstanceID: in.ID,
				ObjectType: "incidents", ObjectID: oid, Type: engine.Updated, Date: at, PollDate: at,
				Record: json.RawMessage(benchTicket(id, version, at))}
		}
		notes, err := engine.BuildNotifications(in, engine.Account{AccountID: 1, CompanyID: 1, UserID: 1, User: "pollen"}, "incidents", at, events)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.store.CommitPoll(context.Background(), engine.Commit{Key: engine.JobKey{InstanceID: in.ID, ObjectType: "incidents"},
			Events: events, Notifications: notes}); err != nil {
			b.Fatal(err)
		}
		ids = ids[n:]
	}
}

// benchTicket is a Freshdesk ticket of about 1 KB, carrying its version.
func benchTicket(id, version int, at time.Time) string {
	return fmt.Sprintf(`{"id":%d,"version":%d,"subject":"Support needed for order #%d: the printer on floor 3 is jammed","priority":2,`+
		`"status":2,"requester_id":67042965412,"responder_id":null,"group_id":67000056789,"company_id":67000098765,"type":"Question",`+
		`"cc_emails":["ops@example.com"],"fwd_emails":[],"reply_cc_emails":[],"fr_escalated":false,"spam":false,"source":2,`+
		`"due_by":"2024-03-04T10:00:00Z","fr_due_by":"2024-03-02T10:00:00Z","is_escalated":false,`+
		`"custom_fields":{"cf_category":"Primary","cf_region":"EMEA","cf_order_number":"A-%06d"},"tags":["printer","floor-3"],`+
		`"description_text":"The printer on floor 3 shows error E-42 and jams on every job.","created_at":"2024-02-01T09:00:00Z","updated_at":%q}`,
		id, version, id, id, at.Format(time.RFC3339))
}

// orderReceiver checks signatures, and that each ticket's versions arrive in order, and counts
// events; done is closed when want events have arrived.
type orderReceiver struct {
	mu       sync.Mutex
	version  map[string]int
	events   int
	want     int
	problems []string
	done     chan struct{}
}

func newOrderReceiver(want int) *orderReceiver {
	return &orderReceiver{version: map[string]int{}, want: want, done: make(chan struct{})}
}

func (o *orderReceiver) handler() http.Handler {
	return &webhook.Receiver{Key: rig.SignatureKey,
		Handle: func(n *webhook.Notification, _ []byte) {
			recs := n.Message.Records()
			o.mu.Lock()
			defer o.mu.Unlock()
			for i, e := range n.Message.Events {
				var r struct{ Version int }
				if i < len(recs) {
					_ = json.Unmarshal(recs[i], &r)
				}
				if v, ok := o.version[e.ObjectID]; ok && r.Version < v {
					o.problems = append(o.problems, fmt.Sprintf("ticket %s: version %d after %d", e.ObjectID, r.Version, v))
				}
				o.version[e.ObjectID] = r.Version
				o.events++
				if o.events == o.want {
					close(o.done)
				}
			}
		},
		Rejected: func(reason string) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.problems = append(o.problems, "rejected: "+reason)
		},
	}
}

// BenchmarkDeliveryBurst: one account's burst of 50,000 events (40,000 tickets, 10,000 of them
// changed twice), committed to a SQLite outbox in commits of 1,000 events, delivered with the
// default limits (4 in flight to the one callback) to one loopback receiver that checks every
// signature and each ticket's order. Reports events/s from the deliverer's start to the last
// event's arrival.
func BenchmarkDeliveryBurst(b *testing.B) {
	const tickets, twice, chunk = 40000, 10000, 1000
	var total, cpu time.Duration
	for range b.N {
		b.StopTimer()
		rig := newBenchDeliveryRig(b)
		rcv := newOrderReceiver(tickets + twice)
		srv := httptest.NewServer(rcv.handler())
		in := rig.instance(b, srv.URL+"/hook")
		ids := make([]int, tickets)
		for i := range ids {
			ids[i] = 100000 + i
		}
		rig.commit(b, in, ids, 1, chunk)
		rig.commit(b, in, ids[:twice], 2, chunk)
		d := engine.NewDeliverer(engine.DelivererOptions{Outbox: rig.store, Sink: webhook.New(webhook.Options{}), Instances: rig.lookup})
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		b.StartTimer()
		start, cpu0 := time.Now(), processCPU()
		go func() { defer close(ran); _ = d.Run(ctx) }()
		select {
		case <-rcv.done:
		case <-time.After(10 * time.Minute):
			b.Fatalf("only %d of %d events delivered in 10 minutes", rcv.events, rcv.want)
		}
		total += time.Since(start)
		cpu += processCPU() - cpu0
		b.StopTimer()
		cancel()
		<-ran
		srv.Close()
		rcv.mu.Lock()
		if len(rcv.problems) > 0 {
			b.Fatalf("%d problems, the first: %s", len(rcv.problems), rcv.problems[0])
		}
		rcv.mu.Unlock()
		waitForBench(b, "every notification recorded as delivered", func() bool {
			st, err := rig.store.Stats(context.Background())
			return err == nil && st.Notifications["PENDING"] == 0
		})
	}
	b.ReportMetric(float64(b.N*(tickets+twice))/total.Seconds(), "events/s")
	// The CPU time of the whole process, receiver included, per event: steadier than events/s on
	// a busy machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*(tickets+twice)), "cpu-µs/event")
	b.ReportMetric(0, "ns/op")
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDeliveryHangingCallbacks: 40 instances whose callbacks never answer (the sender's
// timeout is 2 s) beside 20 healthy instances, each with 200 events to deliver. Reports how long
// the healthy instances' events took to arrive: without the hanging ones, beside them with the
// default overall bound (workers=1024), and beside them with the old one (workers=32), which the
// hanging callbacks fill.
func BenchmarkDeliveryHangingCallbacks(b *testing.B) {
	for _, tc := range []struct{ hanging, workers int }{{0, 1024}, {40, 1024}, {40, 32}} {
		b.Run(fmt.Sprintf("hanging=%d/workers=%d", tc.hanging, tc.workers), func(b *testing.B) {
			const healthy, events = 20, 200
			hanging, workers := tc.hanging, tc.workers
			var total time.Duration
			for range b.N {
				b.StopTimer()
				rig := newBenchDeliveryRig(b)
				stop := make(chan struct{})
				hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					select {
					case <-stop:
					case <-r.Context().Done():
					}
				}))
				rcv := newOrderReceiver(healthy * events)
				ok := httptest.NewServer(rcv.handler())
				ids := make([]int, events)
				for i := range ids {
					ids[i] = 100000 + i
				}
				for i := range hanging {
					rig.commit(b, rig.instance(b, fmt.Sprintf("%s/hang/%d", hang.URL, i)), ids, 1, events)
				}
				for i := range healthy {
					rig.commit(b, rig.instance(b, fmt.Sprintf("%s/ok/%d", ok.URL, i)), ids, 1, events)
				}
				d := engine.NewDeliverer(engine.DelivererOptions{Outbox: rig.store, Instances: rig.lookup, Workers: workers,
					Sink: webhook.New(webhook.Options{Timeout: 2 * time.Second})})
				ctx, cancel := context.WithCancel(context.Background())
				ran := make(chan struct{})
				b.StartTimer()
				start := time.Now()
				go func() { defer close(ran); _ = d.Run(ctx) }()
				select {
				case <-rcv.done:
				case <-time.After(10 * time.Minute):
					b.Fatalf("only %d of %d healthy events delivered in 10 minutes", rcv.events, rcv.want)
				}
				total += time.Since(start)
				b.StopTimer()
				close(stop)
				cancel()
				<-ran
				hang.Close()
				ok.Close()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "healthy-ms/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// waitForBench polls cond until it holds, for at most a minute.
func waitForBench(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
