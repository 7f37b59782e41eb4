package freshdesk

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// waits records the waits of Latency and Drip (Options.Sleep) and returns at once.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) Sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return nil
}

func (w *waits) n() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.d)
}

// TestPageFaults: every body and paging fault of the kernel, on Freshdesk's list pages (bare
// arrays of records), scoped as asked; views and writes are never touched.
func TestPageFaults(t *testing.T) {
	const list = "/api/v2/tickets?updated_since=2026-03-01T00:00:00Z&order_by=updated_at&order_type=asc&per_page=2"
	for _, tc := range []struct {
		name  string
		opts  Options
		check func(t *testing.T, h *harness, r reply, clean string)
	}{
		{"truncated", Options{Body: kernel.BodyFault{Kind: kernel.BodyTruncated}}, func(t *testing.T, h *harness, r reply, clean string) {
			h.wantStatus(r, 200)
			if json.Valid(r.body) || !strings.HasPrefix(clean, string(r.body)) || !strings.Contains(string(r.body), `"id":1,`) {
				t.Errorf("want the first ticket whole, the second cut: %s", r.body)
			}
		}},
		{"cut before any record", Options{Body: kernel.BodyFault{Kind: kernel.BodyNoRecords}}, func(t *testing.T, h *harness, r reply, _ string) {
			if r.status != 200 || string(r.body) != "[" {
				t.Errorf("%d %q", r.status, r.body)
			}
		}},
		{"html with a 200", Options{Body: kernel.BodyFault{Kind: kernel.BodyHTML}}, func(t *testing.T, h *harness, r reply, _ string) {
			if r.status != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/html") || json.Valid(r.body) {
				t.Errorf("%d %v %q", r.status, r.hdr, r.body)
			}
		}},
		{"wrong shape", Options{Body: kernel.BodyFault{Kind: kernel.BodyWrongShape}}, func(t *testing.T, h *harness, r reply, clean string) {
			if string(r.body) != `{"items":`+clean+`}` {
				t.Errorf("%s", r.body)
			}
		}},
		{"redirect loop", Options{Paging: kernel.PagingFault{Kind: kernel.PagingRedirectLoop, Scope: kernel.Scope{Times: 1}}}, func(t *testing.T, h *harness, r reply, clean string) {
			// The harness's client follows the one redirect to the same URL.
			if string(r.body) != clean || h.s.Stats().ByStatus[302] != 1 {
				t.Errorf("%s %+v", r.body, h.s.Stats().ByStatus)
			}
		}},
		{"only contacts", Options{Body: kernel.BodyFault{Kind: kernel.BodyHTML, Scope: kernel.Scope{Resource: "contacts"}}}, func(t *testing.T, h *harness, r reply, clean string) {
			if string(r.body) != clean {
				t.Errorf("tickets touched: %s", r.body)
			}
			if r := h.get("/api/v2/contacts"); !strings.HasPrefix(string(r.body), "<!DOCTYPE") {
				t.Errorf("contacts: %s", r.body)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			for range 3 {
				h.s.CreateTicket(nil)
			}
			clean := string(h.get(list).body)
			h2 := newHarness(t, tc.opts)
			for range 3 {
				h2.s.CreateTicket(nil)
			}
			tc.check(t, h2, h2.get(list), clean)
			// Views and writes are not pages.
			h2.wantStatus(h2.get("/api/v2/tickets/1"), 200)
			h2.wantStatus(h2.do("PUT", "/api/v2/tickets/1", map[string]any{"priority": 2}, nil), 200)
		})
	}
}

// TestEndlessLink: every list page says another follows, past the page cap for tickets, as
// many times as the knob says.
func TestEndlessLink(t *testing.T) {
	h := newHarness(t, Options{PageCap: 2, Paging: kernel.PagingFault{Kind: kernel.PagingEndless, Scope: kernel.Scope{Resource: "tickets", Times: 4}}})
	for range 3 {
		h.s.CreateTicket(nil)
	}
	ids, pages, last := h.walk("/api/v2/tickets?updated_since=2026-03-01T00:00:00Z&per_page=2")
	// Pages 1-2 hold the 3 tickets (page 1's Link is the real one); pages 2-5 end with an
	// endless Link (4 times), pages 3-5 past the cap of 2; the knob spent, page 6 is the cap's 400.
	if pages != 5 || len(ids) != 3 || last.status != 400 || !strings.Contains(string(last.body), "beyond the 2nd page") {
		t.Errorf("pages %d ids %v last %d %s", pages, ids, last.status, last.body)
	}
	if n := h.s.Stats().Faults["endless"]; n != 4 {
		t.Errorf("endless acted %d times", n)
	}
	// Every list has it: companies (no cap), on every page.
	h.s.SetPaging(kernel.PagingFault{Kind: kernel.PagingEndless})
	h.s.CreateCompany(nil)
	if r := h.get("/api/v2/companies?page=7"); !strings.Contains(r.hdr.Get("Link"), "page=8") || string(r.body) != "[]" {
		t.Errorf("companies: %q %s", r.hdr.Get("Link"), r.body)
	}
}

func TestLatencyAndDrip(t *testing.T) {
	w := &waits{}
	h := newHarness(t, Options{Sleep: w.Sleep,
		Latency: kernel.Latency{Min: 300 * time.Millisecond, Max: 600 * time.Millisecond},
		Drip:    kernel.Drip{Bytes: 100, Every: time.Second, Scope: kernel.Scope{Resource: "contacts"}}})
	h.s.Seed(10, 10)
	h.wantStatus(h.get("/api/v2/tickets/1"), 200) // a view: no wait
	if w.n() != 0 {
		t.Fatalf("a view waited: %v", w.d)
	}
	r := h.get("/api/v2/contacts?per_page=100")
	if len(h.ids(r)) == 0 {
		t.Fatal("no contacts")
	}
	h.get("/api/v2/tickets")
	w.mu.Lock()
	defer w.mu.Unlock()
	pieces := (len(r.body) + 99) / 100
	if len(w.d) != 2+pieces-1 {
		t.Errorf("%d waits, want 2 latencies and %d drip pauses", len(w.d), pieces-1)
	}
	for _, d := range w.d {
		if d != time.Second && (d < 300*time.Millisecond || d > 600*time.Millisecond) {
			t.Errorf("wait %v", d)
		}
	}
}

// TestFailBurstScoped: a burst of 503s on contacts leaves tickets alone, and a scoped 429
// refunds its credits.
func TestFailBurstScoped(t *testing.T) {
	h := newHarness(t, Options{RatePerMinute: 100})
	h.s.SetFail(kernel.Fail{Rate: 1, Statuses: []int{503}, Burst: 3, Scope: kernel.Scope{Resource: "contacts", Times: 1}})
	var got []int
	for _, p := range []string{"/api/v2/contacts", "/api/v2/tickets", "/api/v2/contacts", "/api/v2/contacts/1", "/api/v2/contacts"} {
		got = append(got, h.get(p).status)
	}
	if want := []int{503, 200, 503, 503, 200}; !equalInts(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	h.s.SetFail(kernel.Fail{Rate: 1, Statuses: []int{429}, RetryAfter: 30 * time.Second, Scope: kernel.Scope{Resource: "GET /api/v2/tickets", Times: 1}})
	before := h.get("/api/v2/contacts").hdr.Get("X-RateLimit-Remaining")
	r := h.get("/api/v2/tickets")
	if r.status != 429 || r.hdr.Get("Retry-After") != "30" || r.hdr.Get("X-RateLimit-Remaining") != before {
		t.Errorf("injected 429: %d %v (remaining before %s)", r.status, r.hdr, before)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWalksInFlight: one walker's pages never overlap; two walkers of one resource do, and the
// statistics say so.
func TestWalksInFlight(t *testing.T) {
	h := newHarness(t, Options{})
	for range 9 {
		h.s.CreateTicket(nil)
	}
	const first = "/api/v2/tickets?updated_since=2026-03-01T00:00:00Z&per_page=3"
	h.walk(first)
	if st := h.s.Stats(); st.MaxInFlightByResource["tickets"] != 1 || st.MaxInFlight != 1 || st.Pages != 3 {
		t.Fatalf("one walker: %+v", st.Stats)
	}
	h.s.ResetStats()
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	h.s.OnListPage(func(resource string, page int) {
		if page == 2 {
			arrived <- struct{}{}
			<-release
		}
	})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.walk(first)
		}()
	}
	<-arrived
	<-arrived
	close(release)
	wg.Wait()
	if st := h.s.Stats(); st.MaxInFlightByResource["tickets"] != 2 || st.InFlight != 0 {
		t.Errorf("two walkers: %+v", st.Stats)
	}
}

// TestBurstAnyResource: BurstCreate and BurstUpdate stamp every record with one second however
// long they take.
func TestBurstAnyResource(t *testing.T) {
	h := newHarness(t, Options{})
	for _, res := range []string{"contacts", "companies", "agents", "groups", "tickets"} {
		ids := h.s.BurstCreate(res, 4, nil)
		if len(ids) != 4 {
			t.Fatalf("%s: %v", res, ids)
		}
		h.clock.Advance(time.Minute)
		if err := h.s.BurstUpdate(res, ids, nil); err != nil {
			t.Fatalf("%s: %v", res, err)
		}
	}
	byRes := map[string]map[string]int{} // resource -> updated_at -> changes
	for _, c := range h.s.Changes() {
		if byRes[c.Resource] == nil {
			byRes[c.Resource] = map[string]int{}
		}
		byRes[c.Resource][c.Kind+" "+fmtTime(c.UpdatedAt)]++
	}
	for _, res := range []string{"contacts", "companies", "agents", "groups", "tickets"} {
		if len(byRes[res]) != 2 {
			t.Errorf("%s: %v", res, byRes[res])
		}
	}
	if err := h.s.BurstUpdate("contacts", []int64{firstContactID, 424242}, nil); err == nil {
		t.Error("a missing contact was accepted")
	}
}

// TestDateOnFaults: the Date header comes from the vendor's clock on injected failures too.
func TestDateOnFaults(t *testing.T) {
	h := newHarness(t, Options{Skew: time.Hour})
	h.s.FailNext(1, http.StatusBadGateway)
	r := h.get("/api/v2/tickets")
	if r.status != 502 || r.hdr.Get("Date") != "Tue, 10 Mar 2026 13:00:15 GMT" {
		t.Errorf("%d Date %q", r.status, r.hdr.Get("Date"))
	}
}
