package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

var t0 = time.Date(2026, 3, 10, 12, 0, 15, 500_000_000, time.UTC)

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sleeps records the waits of Latency and Drip and returns at once, or, when block is set,
// waits for the request's context to end.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
	block bool
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	block := s.block
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// vendor is a minimal personality: /tickets answers a bare array of records (Freshdesk's shape),
// /export an object with the records under "users" (Zendesk's), /one a single record (not a
// page). Pages say another page follows when Endless acts, and count Shift draws.
type vendor struct {
	k      *Kernel
	mu     sync.Mutex
	shifts int
}

const (
	ticketsBody = `[{"id":1,"subject":"first","updated_at":"2026-03-10T12:00:00Z"},{"id":2,"subject":"second","updated_at":"2026-03-10T12:00:01Z"}]`
	exportBody  = `{"users":[{"id":7,"name":"Ann"},{"id":8,"name":"Bo"}],"end_of_stream":true}`
)

func (v *vendor) Route(r *http.Request, path string) Route {
	switch path {
	case "/tickets":
		page := 1
		if p := r.URL.Query().Get("page"); p != "" {
			page, _ = strconv.Atoi(p)
		}
		return Route{Endpoint: "GET /tickets", Resource: "tickets", Page: true, PageNumber: page, Records: "@this"}
	case "/export":
		return Route{Endpoint: "GET /export", Resource: "users", Page: true, Records: "users"}
	case "/one":
		return Route{Endpoint: "GET /one", Resource: "tickets"}
	}
	return Route{Endpoint: "GET (unknown)"}
}

func (v *vendor) Respond(c *Call) Response {
	if a := c.Take("account", Limit{N: 1000}, 1); !a.OK {
		return Response{Status: 429, Header: http.Header{"Retry-After": {strconv.Itoa(a.RetryAfter)}}, Body: []byte(`{}`)}
	}
	if st, retry := c.Fault(); st != 0 {
		return Response{Status: st, Header: http.Header{"Retry-After": {strconv.Itoa(int(retry / time.Second))}}, Body: []byte(`{"error":"injected"}`)}
	}
	if c.Shift() {
		v.mu.Lock()
		v.shifts++
		v.mu.Unlock()
	}
	hdr := http.Header{}
	switch c.Route.Endpoint {
	case "GET /tickets":
		if c.Endless() {
			hdr.Set("Link", `<http://`+c.R.Host+`/tickets?page=2>; rel="next"`)
		}
		return Response{Status: 200, Header: hdr, Body: []byte(ticketsBody)}
	case "GET /export":
		body := exportBody
		if c.Endless() {
			body = strings.Replace(body, `"end_of_stream":true`, `"end_of_stream":false`, 1)
		}
		return Response{Status: 200, Body: []byte(body)}
	case "GET /one":
		return Response{Status: 200, Body: []byte(`{"id":1}`)}
	}
	return Response{Status: 404}
}

type rig struct {
	t     *testing.T
	k     *Kernel
	v     *vendor
	ts    *httptest.Server
	clock *clock
	sl    *sleeps
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	c := &clock{t: t0}
	sl := &sleeps{}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sl.Sleep
	}
	k := New(opts)
	v := &vendor{k: k}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { k.Serve(w, r, v) }))
	t.Cleanup(ts.Close)
	return &rig{t: t, k: k, v: v, ts: ts, clock: c, sl: sl}
}

type reply struct {
	status int
	hdr    http.Header
	body   []byte
	err    error // reading the body
}

func (g *rig) get(path string) reply {
	g.t.Helper()
	resp, err := g.ts.Client().Get(g.ts.URL + path)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, hdr: resp.Header, body: b, err: err}
}

func TestBodyFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind BodyKind
		path string
		// check gets the body sent and the body the vendor made
		check func(t *testing.T, got, orig string)
	}{
		{"truncated array", BodyTruncated, "/tickets", func(t *testing.T, got, orig string) {
			first := `{"id":1,"subject":"first","updated_at":"2026-03-10T12:00:00Z"}`
			if !strings.HasPrefix(got, "["+first+`,{"id":2`) || len(got) >= len(orig) || json.Valid([]byte(got)) {
				t.Errorf("want the first record whole and the second cut: %s", got)
			}
		}},
		{"truncated object", BodyTruncated, "/export", func(t *testing.T, got, orig string) {
			if !strings.HasPrefix(got, `{"users":[{"id":7,"name":"Ann"},{"id"`) || json.Valid([]byte(got)) {
				t.Errorf("want the first user whole and the second cut: %s", got)
			}
		}},
		{"no records array", BodyNoRecords, "/tickets", func(t *testing.T, got, _ string) {
			if got != "[" {
				t.Errorf("got %q, want the opening bracket alone", got)
			}
		}},
		{"no records object", BodyNoRecords, "/export", func(t *testing.T, got, _ string) {
			if got != `{"users":[` {
				t.Errorf("got %q", got)
			}
		}},
		{"html", BodyHTML, "/export", func(t *testing.T, got, _ string) {
			if !strings.HasPrefix(got, "<!DOCTYPE html>") {
				t.Errorf("got %q", got)
			}
		}},
		{"wrong shape array", BodyWrongShape, "/tickets", func(t *testing.T, got, orig string) {
			if got != `{"items":`+orig+`}` {
				t.Errorf("got %s", got)
			}
		}},
		{"wrong shape object", BodyWrongShape, "/export", func(t *testing.T, got, _ string) {
			want := `{"users":{"items":[{"id":7,"name":"Ann"},{"id":8,"name":"Bo"}]},"end_of_stream":true}`
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, Options{Body: BodyFault{Kind: tc.kind}})
			orig := map[string]string{"/tickets": ticketsBody, "/export": exportBody}[tc.path]
			r := g.get(tc.path)
			if r.status != 200 || r.err != nil {
				t.Fatalf("status %d, read error %v", r.status, r.err)
			}
			if cl := r.hdr.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length %s for %d bytes", cl, len(r.body))
			}
			wantType := "application/json; charset=utf-8"
			if tc.kind == BodyHTML {
				wantType = "text/html; charset=utf-8"
			}
			if ct := r.hdr.Get("Content-Type"); ct != wantType {
				t.Errorf("Content-Type %q", ct)
			}
			tc.check(t, string(r.body), orig)
			if n := g.k.Stats().Faults[tc.kind.String()]; n != 1 {
				t.Errorf("Faults[%s] = %d", tc.kind, n)
			}
			// Not a page: untouched.
			if r := g.get("/one"); string(r.body) != `{"id":1}` {
				t.Errorf("non-page body %s", r.body)
			}
		})
	}
}

// TestScope: a knob acts on the pages its Scope names, as many times as it says, then switches
// itself off.
func TestScope(t *testing.T) {
	for _, tc := range []struct {
		name  string
		scope Scope
		paths []string
		want  []bool // whether each request got the fault
	}{
		{"every page", Scope{}, []string{"/tickets", "/export", "/tickets", "/one"}, []bool{true, true, true, false}},
		{"one resource", Scope{Resource: "users"}, []string{"/tickets", "/export", "/export"}, []bool{false, true, true}},
		{"one endpoint", Scope{Resource: "GET /tickets"}, []string{"/export", "/tickets"}, []bool{false, true}},
		{"the next page of tickets", Scope{Resource: "tickets", Times: 1}, []string{"/export", "/tickets", "/tickets"}, []bool{false, true, false}},
		{"the next two pages", Scope{Times: 2}, []string{"/export", "/tickets", "/tickets", "/export"}, []bool{true, true, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, Options{Body: BodyFault{Kind: BodyHTML, Scope: tc.scope}})
			for i, p := range tc.paths {
				r := g.get(p)
				if got := bytes.HasPrefix(r.body, []byte("<!DOCTYPE")); got != tc.want[i] {
					t.Errorf("request %d (%s): faulted %v, want %v", i, p, got, tc.want[i])
				}
			}
		})
	}
}

func TestLatency(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lat      Latency
		paths    []string
		min, max time.Duration
		waits    int
	}{
		{"fixed", Latency{Min: 500 * time.Millisecond}, []string{"/tickets", "/export", "/one"}, 500 * time.Millisecond, 500 * time.Millisecond, 2},
		{"range", Latency{Min: 300 * time.Millisecond, Max: 600 * time.Millisecond}, []string{"/tickets", "/tickets", "/tickets", "/tickets", "/tickets", "/tickets", "/tickets", "/tickets"}, 300 * time.Millisecond, 600 * time.Millisecond, 8},
		{"scoped", Latency{Min: time.Second, Scope: Scope{Resource: "users", Times: 1}}, []string{"/tickets", "/export", "/export"}, time.Second, time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, Options{Latency: tc.lat, Seed: 4})
			for _, p := range tc.paths {
				if r := g.get(p); r.status != 200 {
					t.Fatalf("%s: %d", p, r.status)
				}
			}
			waits := g.sl.got()
			if len(waits) != tc.waits {
				t.Fatalf("waits %v, want %d", waits, tc.waits)
			}
			distinct := map[time.Duration]bool{}
			for _, w := range waits {
				distinct[w] = true
				if w < tc.min || w > tc.max {
					t.Errorf("wait %v outside [%v, %v]", w, tc.min, tc.max)
				}
			}
			if tc.max > tc.min && len(distinct) < 2 {
				t.Errorf("a range drew one value: %v", waits)
			}
			if n := g.k.Stats().Faults["latency"]; n != tc.waits {
				t.Errorf("Faults[latency] = %d", n)
			}
		})
	}
}

// TestCancelDuringFaults: a client that gives up during Latency or Drip ends the response; the
// server counts it and is left with nothing in flight.
func TestCancelDuringFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"latency", Options{Latency: Latency{Min: time.Hour}}},
		{"drip", Options{Drip: Drip{Bytes: 1, Every: time.Hour}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, tc.opts)
			g.sl.block = true
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", g.ts.URL+"/tickets", nil)
			done := make(chan error, 1)
			go func() {
				resp, err := g.ts.Client().Do(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				done <- err
			}()
			waitFor(t, "the server to wait", func() bool { return len(g.sl.got()) > 0 })
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("client: %v", err)
			}
			waitFor(t, "the cancellation to be counted", func() bool {
				st := g.k.Stats()
				return st.Cancelled == 1 && st.InFlight == 0
			})
		})
	}
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDrip(t *testing.T) {
	for _, n := range []int{1, 7, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := newRig(t, Options{Drip: Drip{Bytes: n, Every: time.Second}})
			r := g.get("/tickets")
			if string(r.body) != ticketsBody || r.hdr.Get("Content-Length") != strconv.Itoa(len(ticketsBody)) {
				t.Fatalf("body %q", r.body)
			}
			pieces := (len(ticketsBody) + n - 1) / n
			if waits := g.sl.got(); len(waits) != pieces-1 {
				t.Errorf("%d waits for %d pieces", len(waits), pieces)
			}
		})
	}
}

func TestRedirectLoop(t *testing.T) {
	g := newRig(t, Options{Paging: PagingFault{Kind: PagingRedirectLoop, Scope: Scope{Resource: "tickets"}}})
	noFollow := *g.ts.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(g.ts.URL + "/tickets?page=3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != g.ts.URL+"/tickets?page=3" {
		t.Errorf("%d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := g.ts.Client().Get(g.ts.URL + "/tickets"); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("a following client: %v", err)
	}
	if r := g.get("/export"); r.status != 200 {
		t.Errorf("other resource: %d", r.status)
	}
	// Three times: a following client gets the page after three redirects.
	g.k.SetPaging(PagingFault{Kind: PagingRedirectLoop, Scope: Scope{Times: 3}})
	g.k.ResetStats()
	if r := g.get("/tickets"); r.status != 200 || string(r.body) != ticketsBody {
		t.Errorf("after the loop: %d %s", r.status, r.body)
	}
	if st := g.k.Stats(); st.ByStatus[302] != 3 || st.Faults["redirect"] != 3 || st.Pages != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestEndlessAndShift(t *testing.T) {
	g := newRig(t, Options{Paging: PagingFault{Kind: PagingEndless, Scope: Scope{Times: 2}}, Shift: Shift{Rate: 1, Scope: Scope{Resource: "users"}}})
	if r := g.get("/tickets"); !strings.Contains(r.hdr.Get("Link"), `rel="next"`) {
		t.Errorf("Link %q", r.hdr.Get("Link"))
	}
	if r := g.get("/export"); !strings.Contains(string(r.body), `"end_of_stream":false`) {
		t.Errorf("export %s", r.body)
	}
	if r := g.get("/tickets"); r.hdr.Get("Link") != "" {
		t.Errorf("third page: Link %q", r.hdr.Get("Link"))
	}
	g.get("/export")
	g.get("/one")
	g.v.mu.Lock()
	defer g.v.mu.Unlock()
	if st := g.k.Stats(); g.v.shifts != 2 || st.Faults["shift"] != 2 || st.Faults["endless"] != 2 {
		t.Errorf("shifts %d, stats %v", g.v.shifts, st.Faults)
	}
}

func TestFail(t *testing.T) {
	t.Run("bursts scoped and counted", func(t *testing.T) {
		g := newRig(t, Options{Fail: Fail{Rate: 1, Statuses: []int{503}, Burst: 3, Scope: Scope{Resource: "tickets", Times: 2}}})
		var got []int
		for _, p := range []string{"/tickets", "/export", "/tickets", "/one", "/tickets", "/tickets", "/tickets", "/export"} {
			got = append(got, g.get(p).status)
		}
		// Bursts count requests the scope matches (/one serves tickets): two bursts of three.
		if want := []int{503, 200, 503, 503, 503, 503, 503, 200}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("statuses %v, want %v", got, want)
		}
		if r := g.get("/tickets"); r.status != 200 {
			t.Errorf("after two bursts: %d", r.status)
		}
		if st := g.k.Stats(); st.Injected != 6 || st.ServerErrors != 6 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("FailNext first, 429 Retry-After", func(t *testing.T) {
		g := newRig(t, Options{Fail: Fail{Rate: 1, Statuses: []int{429}, RetryAfter: 7 * time.Second}})
		g.k.FailNext(1, 500)
		if r := g.get("/one"); r.status != 500 {
			t.Errorf("FailNext: %d", r.status)
		}
		if r := g.get("/one"); r.status != 429 || r.hdr.Get("Retry-After") != "7" {
			t.Errorf("Fail: %d %q", r.status, r.hdr.Get("Retry-After"))
		}
		g.k.SetFail(Fail{})
		if r := g.get("/one"); r.status != 200 {
			t.Errorf("off: %d", r.status)
		}
		if st := g.k.Stats(); st.RateLimited != 1 || st.Injected != 2 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("rate is deterministic for a seed", func(t *testing.T) {
		run := func(seed int64) string {
			g := newRig(t, Options{Seed: seed, Fail: Fail{Rate: 0.3}})
			var b strings.Builder
			for range 60 {
				fmt.Fprint(&b, g.get("/one").status, " ")
			}
			return b.String()
		}
		a, b, c := run(1), run(1), run(2)
		if a != b || a == c {
			t.Errorf("seed 1 twice equal %v, seeds 1 and 2 differ %v", a == b, a != c)
		}
		if !strings.Contains(a, "200") || strings.Count(a, "200") == 60 {
			t.Errorf("rate 0.3 gave %s", a)
		}
	})
}

func TestRateWindows(t *testing.T) {
	g := newRig(t, Options{})
	lim := Limit{N: 3}
	for i, want := range []int{2, 1, 0} {
		if a := g.k.Take("export", lim, 1); !a.OK || a.Remaining != want {
			t.Errorf("take %d: %+v", i, a)
		}
	}
	if a := g.k.Take("export", lim, 1); a.OK || a.RetryAfter != 45 || a.Remaining != 0 { // 12:00:15.5, window ends 12:01:00
		t.Errorf("4th: %+v", a)
	}
	if a := g.k.Take("account", Limit{N: 2}, 5); !a.OK || a.Remaining != 0 { // costly: admitted, past the limit
		t.Errorf("other window: %+v", a)
	}
	g.k.Refund("export", 1)
	if a := g.k.Take("export", lim, 1); !a.OK {
		t.Errorf("after refund: %+v", a)
	}
	g.clock.Advance(44 * time.Second)
	if a := g.k.Take("export", lim, 1); a.OK || a.RetryAfter != 1 {
		t.Errorf("late in the window: %+v", a)
	}
	g.clock.Advance(time.Second) // 12:01:00.5
	if a := g.k.Take("export", lim, 1); !a.OK || a.Remaining != 2 {
		t.Errorf("next window: %+v", a)
	}
	if n := g.k.Remaining("export", lim); n != 2 {
		t.Errorf("Remaining %d", n)
	}
	// Ten-second windows, on the skewed clock.
	g.k.SetSkew(5 * time.Second) // vendor 12:01:05.5
	ten := Limit{N: 1, Per: 10 * time.Second}
	g.k.Take("burst", ten, 1)
	if a := g.k.Take("burst", ten, 1); a.OK || a.RetryAfter != 5 {
		t.Errorf("10s window: %+v", a)
	}
}

// TestInFlight: two page requests served at once are seen overlapping, per account and per
// resource; requests one after another are not.
func TestInFlight(t *testing.T) {
	g := newRig(t, Options{})
	g.get("/tickets")
	g.get("/tickets")
	g.get("/one")
	if st := g.k.Stats(); st.MaxInFlight != 1 || st.MaxInFlightByResource["tickets"] != 1 || st.InFlight != 0 {
		t.Fatalf("sequential: %+v", st)
	}
	arrived := make(chan struct{}, 3)
	release := make(chan struct{})
	g.k.SetOnPage(func(rt Route) {
		arrived <- struct{}{}
		<-release
	})
	var wg sync.WaitGroup
	for _, p := range []string{"/tickets", "/tickets", "/export"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.get(p)
		}()
	}
	for range 3 {
		<-arrived
	}
	if st := g.k.Stats(); st.InFlight != 3 || st.InFlightByResource["tickets"] != 2 {
		t.Errorf("during: %+v", st)
	}
	close(release)
	wg.Wait()
	st := g.k.Stats()
	if st.MaxInFlight != 3 || st.MaxInFlightByResource["tickets"] != 2 || st.MaxInFlightByResource["users"] != 1 || st.InFlight != 0 {
		t.Errorf("after: %+v", st)
	}
	g.k.ResetStats()
	if st := g.k.Stats(); st.MaxInFlight != 0 || len(st.MaxInFlightByResource) != 0 || st.Requests != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

// TestWalkOverlaps: pages of one walk one after another, retries and walks one after another
// are not overlaps; a page served while another of its resource is, or a page of a walk after a
// page of another walk came between, is.
func TestWalkOverlaps(t *testing.T) {
	cases := []struct {
		name  string
		pages []string
		want  int
	}{
		{"one walk", []string{"/tickets?since=a", "/tickets?since=a&page=2", "/tickets?page=3&since=a"}, 0},
		{"a retry", []string{"/tickets?since=a", "/tickets?since=a&page=2", "/tickets?since=a&page=2", "/tickets?since=a&page=3"}, 0},
		{"walks one after another", []string{"/tickets?since=a", "/tickets?since=a&page=2", "/tickets?since=b", "/tickets?since=b&page=2"}, 0},
		{"an abandoned walk", []string{"/tickets?since=a", "/tickets?since=a&page=2", "/tickets?since=a", "/tickets?since=a&page=2", "/tickets?since=a&page=3"}, 0},
		{"other resources between", []string{"/tickets?since=a", "/export", "/one", "/tickets?since=a&page=2"}, 0},
		{"another walk between", []string{"/tickets?since=a", "/tickets?since=b", "/tickets?since=a&page=2", "/tickets?since=b&page=2"}, 2},
		{"a second walk of one query behind", []string{"/tickets?since=a", "/tickets?since=a&page=2", "/tickets?since=a&page=3", "/tickets?since=a", "/tickets?since=a&page=4"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, Options{})
			for _, p := range c.pages {
				g.get(p)
			}
			if st := g.k.Stats(); st.WalkOverlaps != c.want || st.WalkOverlapsByResource["tickets"] != c.want {
				t.Errorf("overlaps %d (%v), want %d", st.WalkOverlaps, st.WalkOverlapsByResource, c.want)
			}
		})
	}

	t.Run("pages served at once", func(t *testing.T) {
		g := newRig(t, Options{})
		arrived := make(chan struct{}, 2)
		release := make(chan struct{})
		g.k.SetOnPage(func(Route) {
			arrived <- struct{}{}
			<-release
		})
		var wg sync.WaitGroup
		for _, p := range []string{"/tickets?since=a", "/tickets?since=a"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.get(p)
			}()
		}
		<-arrived
		<-arrived
		close(release)
		wg.Wait()
		if st := g.k.Stats(); st.WalkOverlaps != 1 {
			t.Errorf("overlaps %d, want 1", st.WalkOverlaps)
		}
	})
}

func TestClockStampBurst(t *testing.T) {
	g := newRig(t, Options{Skew: -90 * time.Second})
	if got := g.k.VendorNow(); !got.Equal(t0.Add(-90 * time.Second)) {
		t.Errorf("VendorNow %v", got)
	}
	if got := g.k.Stamp(); !got.Equal(time.Date(2026, 3, 10, 11, 58, 45, 0, time.UTC)) {
		t.Errorf("Stamp %v", got)
	}
	if d := g.get("/one").hdr.Get("Date"); d != "Tue, 10 Mar 2026 11:58:45 GMT" {
		t.Errorf("Date %q", d)
	}
	var stamps []time.Time
	g.k.Burst(func(at time.Time) {
		for range 3 {
			stamps = append(stamps, g.k.Stamp())
			g.clock.Advance(700 * time.Millisecond) // a slow burst crosses seconds
		}
		if !at.Equal(stamps[0]) {
			t.Errorf("at %v, stamp %v", at, stamps[0])
		}
	})
	for _, s := range stamps {
		if !s.Equal(stamps[0]) {
			t.Errorf("burst stamps %v", stamps)
		}
	}
	if s := g.k.Stamp(); !s.Equal(time.Date(2026, 3, 10, 11, 58, 47, 0, time.UTC)) {
		t.Errorf("after the burst: %v", s)
	}
}

func TestHidden(t *testing.T) {
	g := newRig(t, Options{VisibleAfter: 30 * time.Second})
	upd := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		advance time.Duration
		hidden  bool
	}{{0, true}, {14 * time.Second, true}, {500 * time.Millisecond, false}} { // 12:00:15.5, 12:00:29.5, 12:00:30
		g.clock.Advance(tc.advance)
		if got := g.k.Hidden(upd); got != tc.hidden || g.k.HiddenFunc()(upd) != tc.hidden {
			t.Errorf("at %v: hidden %v", g.clock.Now(), got)
		}
	}
	g.k.SetVisibleAfter(0)
	if g.k.Hidden(g.clock.Now().Add(time.Hour)) {
		t.Error("off, still hidden")
	}
}

func TestChanges(t *testing.T) {
	g := newRig(t, Options{})
	g.k.Log("tickets", 1, "created", g.k.Stamp())
	g.clock.Advance(time.Second)
	g.k.Log("tickets", 1, "deleted", g.k.Stamp())
	ch := g.k.Changes()
	if len(ch) != 2 || ch[1].Kind != "deleted" || !ch[1].At.Equal(t0.Add(time.Second)) || !ch[1].UpdatedAt.Equal(t0.Add(time.Second).Truncate(time.Second)) {
		t.Errorf("changes %+v", ch)
	}
	ch[0].Kind = "mutated"
	if g.k.Changes()[0].Kind != "created" {
		t.Error("Changes shares the log")
	}
}

func TestTable(t *testing.T) {
	type rec struct{ name string }
	tb := NewTable[rec](10)
	for _, n := range []string{"a", "b", "c"} {
		tb.Put(tb.Alloc(), &rec{n})
	}
	tb.Put(5, &rec{"early"}) // an id below the others keeps the order
	tb.Put(11, &rec{"b2"})   // replaces
	tb.Delete(10)
	tb.Delete(99)
	var names []string
	for _, r := range tb.Rows() {
		names = append(names, r.name)
	}
	if fmt.Sprint(names) != "[early b2 c]" || fmt.Sprint(tb.IDs()) != "[5 11 12]" || tb.Len() != 3 {
		t.Errorf("rows %v ids %v", names, tb.IDs())
	}
	if tb.Get(10) != nil || tb.Get(11).name != "b2" || tb.Alloc() != 13 {
		t.Error("Get or Alloc")
	}
	tb.Put(40, &rec{"far"})
	if tb.Alloc() != 41 {
		t.Error("Alloc after a high Put")
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Latency
		err  bool
	}{
		{"", Latency{}, false},
		{"500ms", Latency{Min: 500 * time.Millisecond, Max: 500 * time.Millisecond}, false},
		{"300ms-600ms", Latency{Min: 300 * time.Millisecond, Max: 600 * time.Millisecond}, false},
		{"600ms-300ms", Latency{}, true},
		{"fast", Latency{}, true},
	} {
		got, err := ParseLatency(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseLatency(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want Drip
		err  bool
	}{
		{"1/1s", Drip{Bytes: 1, Every: time.Second}, false},
		{"64/10ms", Drip{Bytes: 64, Every: 10 * time.Millisecond}, false},
		{"0/1s", Drip{}, true},
		{"1s", Drip{}, true},
	} {
		got, err := ParseDrip(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDrip(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for _, k := range []BodyKind{BodyTruncated, BodyNoRecords, BodyHTML, BodyWrongShape} {
		if got, err := ParseBodyKind(k.String()); err != nil || got != k {
			t.Errorf("ParseBodyKind(%s) = %v, %v", k, got, err)
		}
	}
	for _, k := range []PagingKind{PagingEndless, PagingRedirectLoop} {
		if got, err := ParsePagingKind(k.String()); err != nil || got != k {
			t.Errorf("ParsePagingKind(%s) = %v, %v", k, got, err)
		}
	}
	if _, err := ParseBodyKind("broken"); err == nil {
		t.Error("ParseBodyKind accepted broken")
	}
	if got, err := ParseStatuses("429, 503"); err != nil || fmt.Sprint(got) != "[429 503]" {
		t.Errorf("ParseStatuses %v %v", got, err)
	}
	if _, err := ParseStatuses("42"); err == nil {
		t.Error("ParseStatuses accepted 42")
	}
}

func TestPathPrefix(t *testing.T) {
	g := newRig(t, Options{PathPrefix: "/a/7"})
	if r := g.get("/a/7/tickets"); r.status != 200 {
		t.Errorf("inside: %d", r.status)
	}
	if r := g.get("/tickets"); r.status != 404 {
		t.Errorf("outside: %d", r.status)
	}
}

// TestKnobsConcurrentUse runs setters, requests and reads at once, for the race detector.
func TestKnobsConcurrentUse(t *testing.T) {
	g := newRig(t, Options{Seed: 1})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				switch (w + i) % 6 {
				case 0:
					g.k.SetLatency(Latency{Min: time.Millisecond, Scope: Scope{Times: 2}})
					g.k.SetDrip(Drip{Bytes: 50})
				case 1:
					g.k.SetBody(BodyFault{Kind: BodyKind(i % 5), Scope: Scope{Times: 1}})
					g.k.SetPaging(PagingFault{Kind: PagingEndless})
				case 2:
					g.k.SetFail(Fail{Rate: 0.2, Burst: 2})
					g.k.SetShift(Shift{Rate: 0.5})
					g.k.FailNext(1, 503)
				case 3:
					g.get([]string{"/tickets", "/export", "/one"}[i%3])
				case 4:
					g.k.Log("tickets", int64(i), "updated", g.k.Stamp())
					_ = g.k.Changes()
					g.k.Take("account", Limit{N: 5}, 1)
				default:
					_ = g.k.Stats()
					g.k.SetSkew(time.Duration(i) * time.Second)
					g.clock.Advance(time.Second)
				}
			}
		}()
	}
	wg.Wait()
}

func TestAppendJSON(t *testing.T) {
	v := map[string]any{
		"s": "quote \" back\\slash <b>&</b> \u2028 tab\t é 😀 \x01", "n": int64(-3), "i": 7, "b": true, "null": nil,
		"list": []any{"x", int64(1), map[string]any{"z": []string{"a"}, "a": []string{}}},
		"rows": []map[string]any{{"id": int64(1)}}, "f": 1.5, "nilList": []string(nil),
	}
	got, err := AppendJSON(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Marshal(v)
	if string(got) != string(want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
