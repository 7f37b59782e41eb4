package zendesk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// raw sends a GET with the test credentials and returns the status, headers and body unparsed.
func raw(t *testing.T, s *Server, target string) (int, http.Header, string) {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	req.Header.Set("Authorization", basic(testEmail+"/token", testToken))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w.Code, w.Header(), w.Body.String()
}

// TestExportBodyFaults: the kernel's body faults on the exports, whose records sit under the
// resource's key.
func TestExportBodyFaults(t *testing.T) {
	for _, tc := range []struct {
		kind  kernel.BodyKind
		check func(t *testing.T, body, clean string)
	}{
		{kernel.BodyTruncated, func(t *testing.T, body, clean string) {
			if json.Valid([]byte(body)) || !strings.HasPrefix(clean, body) || !strings.Contains(body, `"tickets":[{`) {
				t.Errorf("truncated: %s", body)
			}
		}},
		{kernel.BodyNoRecords, func(t *testing.T, body, clean string) {
			if !strings.HasSuffix(body, `"tickets":[`) || !strings.HasPrefix(clean, body) {
				t.Errorf("cut before any record: %s", body)
			}
		}},
		{kernel.BodyHTML, func(t *testing.T, body, _ string) {
			if !strings.HasPrefix(body, "<!DOCTYPE html>") {
				t.Errorf("html: %s", body)
			}
		}},
		{kernel.BodyWrongShape, func(t *testing.T, body, _ string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatal(err)
			}
			if _, isObject := m["tickets"].(map[string]any); !isObject || m["end_of_stream"] != true {
				t.Errorf("wrong shape: %s", body)
			}
		}},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			s, c := newTest(t, Options{Seed: 2})
			start := c.Now()
			for range 3 {
				s.CreateTicket(nil)
			}
			c.Advance(2 * time.Minute)
			url := startURL("tickets", start, 10)
			_, _, clean := raw(t, s, url)
			s.SetBody(kernel.BodyFault{Kind: tc.kind, Scope: kernel.Scope{Resource: "GET /api/v2/incremental/tickets/cursor", Times: 1}})
			status, hdr, body := raw(t, s, url)
			if status != 200 || hdr.Get("Content-Length") != fmt.Sprint(len(body)) {
				t.Fatalf("%d %v", status, hdr)
			}
			tc.check(t, body, clean)
			if _, _, again := raw(t, s, url); again != clean {
				t.Errorf("the fault acted twice: %s", again)
			}
		})
	}
}

// TestEndlessExports: an endless export says end_of_stream false and gives its next URL, which
// on an exhausted cursor export is the same URL: a walker that trusts it never ends.
func TestEndlessExports(t *testing.T) {
	s, c := newTest(t, Options{})
	start := c.Now()
	s.CreateTicket(nil)
	s.CreateOrganization(nil)
	c.Advance(2 * time.Minute)
	s.SetPaging(kernel.PagingFault{Kind: kernel.PagingEndless, Scope: kernel.Scope{Times: 4}})

	r := do(t, s, "GET", startURL("tickets", start, 10), nil)
	next := r.body["after_url"].(string)
	r2 := do(t, s, "GET", next, nil)
	do(t, s, "GET", r2.body["after_url"].(string), nil) // the third endless page
	if r.body["end_of_stream"] != false || r2.body["end_of_stream"] != false || r2.body["after_url"] != next || len(ids(t, r2.body, "tickets")) != 0 {
		t.Errorf("cursor: %s / %s", r.raw, r2.raw)
	}
	o := do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d", start.Unix()), nil)
	if o.body["end_of_stream"] != false || !strings.Contains(o.body["next_page"].(string), "start_time=") {
		t.Errorf("time-based: %s", o.raw)
	}
	// Spent after four pages.
	if o := do(t, s, "GET", o.body["next_page"].(string), nil); o.body["end_of_stream"] != true {
		t.Errorf("after four: %s", o.raw)
	}
	if n := s.Stats().Faults["endless"]; n != 4 {
		t.Errorf("endless acted %d times", n)
	}
}

// TestExportRedirectLoopAndFailures: a redirect loop on one export, a burst of 503s on another,
// Retry-After on an injected 429.
func TestExportRedirectLoopAndFailures(t *testing.T) {
	s, c := newTest(t, Options{})
	start := c.Now()
	c.Advance(2 * time.Minute)
	s.SetPaging(kernel.PagingFault{Kind: kernel.PagingRedirectLoop, Scope: kernel.Scope{Resource: "users"}})
	status, hdr, _ := raw(t, s, startURL("users", start, 10))
	if status != 302 || hdr.Get("Location") != "http://example.com"+startURL("users", start, 10) {
		t.Errorf("redirect: %d %v", status, hdr)
	}
	wantStatus(t, do(t, s, "GET", startURL("tickets", start, 10), nil), 200)

	s.SetFail(kernel.Fail{Rate: 1, Statuses: []int{503}, Burst: 2, Scope: kernel.Scope{Resource: "organizations", Times: 1}})
	orgs := fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d", start.Unix())
	var got []int
	for _, u := range []string{orgs, startURL("tickets", start, 10), orgs, orgs} {
		got = append(got, do(t, s, "GET", u, nil).status)
	}
	if want := []int{503, 200, 503, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	s.SetFail(kernel.Fail{Rate: 1, Statuses: []int{429}, RetryAfter: 20 * time.Second})
	if r := do(t, s, "GET", orgs, nil); r.status != 429 || r.hdr.Get("Retry-After") != "20" {
		t.Errorf("injected 429: %d %v", r.status, r.hdr)
	}
}

func TestExportLatencyAndDrip(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}
	s, c := newTest(t, Options{Sleep: sleep, Latency: kernel.Latency{Min: 300 * time.Millisecond, Max: 600 * time.Millisecond},
		Drip: kernel.Drip{Bytes: 64, Every: time.Second}})
	start := c.Now()
	s.Seed(5, 5, 2)
	c.Advance(2 * time.Minute)
	wantStatus(t, do(t, s, "GET", "/api/v2/tickets/1.json", nil), 200) // not a page
	mu.Lock()
	if len(waits) != 0 {
		t.Errorf("a view waited: %v", waits)
	}
	mu.Unlock()
	r := do(t, s, "GET", startURL("tickets", start.Add(-90*24*time.Hour), 100), nil)
	if len(ids(t, r.body, "tickets")) != 5 {
		t.Fatalf("export: %s", r.raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 1+(len(r.raw)+63)/64-1 || waits[0] < 300*time.Millisecond || waits[0] > 600*time.Millisecond {
		t.Errorf("waits %d, first %v, for %d bytes", len(waits), waits[0], len(r.raw))
	}
}

// TestShiftDuringCursorWalk: with Shift on, each cursor page after the first updates a record
// the walk has passed; it comes again, after the lag, at the end of the order.
func TestShiftDuringCursorWalk(t *testing.T) {
	s, c := newTest(t, Options{MinAge: -1, ShiftDuringWalk: 1, Seed: 9})
	start := c.Now()
	var created []int64
	for range 6 {
		created = append(created, s.CreateTicket(nil)["id"].(int64))
		c.Advance(time.Second)
	}
	c.Advance(time.Second)
	before := len(s.Changes())
	got, _, pages := walk(t, s, startURL("tickets", start, 2), "tickets")
	shifts := s.Changes()[before:]
	if pages != 3 || len(shifts) != 2 || !reflect.DeepEqual(got[:6], created) {
		t.Fatalf("pages %d, shifts %+v, got %v", pages, shifts, got)
	}
	for _, ch := range shifts {
		if ch.Kind != "updated" || !ch.UpdatedAt.Equal(c.Now().Truncate(time.Second)) {
			t.Errorf("shift %+v", ch)
		}
	}
	// The shifted tickets are exported again once their second has passed.
	s.SetShift(kernel.Shift{})
	c.Advance(2 * time.Second)
	again, _, _ := walk(t, s, startURL("tickets", c.Now().Add(-3*time.Second), 10), "tickets")
	want := map[int64]bool{shifts[0].ID: true, shifts[1].ID: true}
	if len(again) != len(want) || !want[again[0]] || !want[again[len(again)-1]] {
		t.Errorf("re-exported %v, shifted %v", again, want)
	}
}

// TestTouchTicket: a system update moves generated_timestamp, not updated_at, and the ticket
// exports order by it: the ticket comes again, unchanged, and no change is logged.
func TestTouchTicket(t *testing.T) {
	s, c := newTest(t, Options{})
	start := c.Now()
	a := s.CreateTicket(nil)["id"].(int64)
	b := s.CreateTicket(nil)["id"].(int64)
	c.Advance(time.Hour)
	changes := len(s.Changes())
	if err := s.TouchTicket(a); err != nil {
		t.Fatal(err)
	}
	touched := c.Now()
	c.Advance(2 * time.Minute)
	r := do(t, s, "GET", startURL("tickets", start, 10), nil)
	if got := ids(t, r.body, "tickets"); !reflect.DeepEqual(got, []int64{b, a}) {
		t.Errorf("order %v, want %v", got, []int64{b, a})
	}
	tk := findRec(t, r.body, "tickets", a)
	if num(t, tk["generated_timestamp"]) != touched.Unix() || tk["updated_at"] != fmtTime(start) {
		t.Errorf("touched ticket: %v", tk)
	}
	r = do(t, s, "GET", startURL("tickets", touched, 10), nil)
	if got := ids(t, r.body, "tickets"); !reflect.DeepEqual(got, []int64{a}) {
		t.Errorf("since the touch: %v", got)
	}
	if len(s.Changes()) != changes {
		t.Error("a system update was logged as a change")
	}
	if err := s.TouchTicket(424242); err != ErrNotFound {
		t.Errorf("missing ticket: %v", err)
	}
}

// TestSkewPrefixAndVisibleAfter: the vendor's clock stamps records and Date; PathPrefix hosts an
// account under a path, its links keep it; VisibleAfter holds records back beyond MinAge.
func TestSkewPrefixAndVisibleAfter(t *testing.T) {
	c := newClock()
	s := New(Options{Now: c.Now, Email: testEmail, APIToken: testToken, Skew: -time.Hour, PathPrefix: "/z/3", MinAge: -1, VisibleAfter: 30 * time.Second})
	tk := s.CreateTicket(nil)
	if tk["created_at"] != "2024-03-01T09:00:00Z" {
		t.Errorf("created_at %v", tk["created_at"])
	}
	c.Advance(10 * time.Second)
	first := fmt.Sprintf("/z/3/api/v2/incremental/tickets/cursor.json?start_time=%d&per_page=1", c.Now().Add(-time.Hour-time.Minute).Unix())
	r := do(t, s, "GET", first, nil)
	if len(ids(t, r.body, "tickets")) != 0 || r.hdr.Get("Date") != "Fri, 01 Mar 2024 09:00:10 GMT" {
		t.Errorf("hidden by VisibleAfter: %s %v", r.raw, r.hdr.Get("Date"))
	}
	c.Advance(20 * time.Second)
	r = do(t, s, "GET", first, nil)
	if len(ids(t, r.body, "tickets")) != 1 || !strings.HasPrefix(r.body["after_url"].(string), "http://example.com/z/3/api/v2/incremental/tickets/cursor.json?") {
		t.Errorf("visible: %s", r.raw)
	}
	wantStatus(t, do(t, s, "GET", "/api/v2/tickets.json", nil), 404) // outside the prefix
}

// TestOverfullSecondBurst: BurstCreate puts more organizations in one second than a time-based
// page holds, even when the clock moves during the burst.
func TestOverfullSecondBurst(t *testing.T) {
	s, c := newTest(t, Options{})
	start := c.Now()
	ids1 := s.BurstCreate("organizations", 1001, nil)
	c.Advance(2 * time.Minute)
	r := do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d", start.Unix()), nil)
	if num(t, r.body["count"]) != 1000 || num(t, r.body["end_time"]) != start.Unix() || r.body["end_of_stream"] != false ||
		!strings.HasSuffix(r.body["next_page"].(string), fmt.Sprintf("start_time=%d", start.Unix())) {
		t.Errorf("count %v end_time %v eos %v next %v", r.body["count"], r.body["end_time"], r.body["end_of_stream"], r.body["next_page"])
	}
	if err := s.BurstUpdate("organizations", ids1[:3], map[string]any{"notes": "bulk"}); err != nil {
		t.Fatal(err)
	}
	if err := s.BurstUpdate("organizations", []int64{ids1[0], 1}, nil); err == nil {
		t.Error("a missing organization was accepted")
	}
}

// TestExportInFlight: two export walks of one resource at once show in the statistics.
func TestExportInFlight(t *testing.T) {
	s, c := newTest(t, Options{PerPage: 1})
	start := c.Now()
	s.CreateUser(nil)
	s.CreateUser(nil)
	c.Advance(2 * time.Minute)
	walk(t, s, startURL("users", start, 1), "users")
	if st := s.Stats(); st.MaxInFlightByResource["users"] != 1 {
		t.Fatalf("one walk: %+v", st.Stats)
	}
	arrived, release := make(chan struct{}, 2), make(chan struct{})
	s.OnExport(func(string) {
		arrived <- struct{}{}
		<-release
	})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("GET", startURL("users", start, 1), nil)
			req.Header.Set("Authorization", basic(testEmail+"/token", testToken))
			s.ServeHTTP(httptest.NewRecorder(), req)
		}()
	}
	<-arrived
	<-arrived
	close(release)
	wg.Wait()
	if st := s.Stats(); st.MaxInFlightByResource["users"] != 2 || st.InFlight != 0 {
		t.Errorf("two walks: %+v", st.Stats)
	}
}
