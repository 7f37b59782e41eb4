package httpsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/engine"
)

// sleeper records the waits it is asked for and returns at once.
type sleeper struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.ds...)
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

func testClient(sl *sleeper, opts ...func(*Options)) *Client {
	o := Options{Sleep: sl.Sleep, Now: fixedNow, MaxWait: wait}
	for _, f := range opts {
		f(&o)
	}
	return New(o)
}

func request(base string) engine.Request {
	return engine.Request{
		Endpoint: engine.Endpoint{BaseURL: base, Auth: engine.Credentials{Type: "basic", Username: "apikey", Password: "X"}},
		URL:      base + "/api/v2/tickets?order_by=updated_at&per_page=100&updated_since=2024-01-01T00%3A00%3A00Z",
		JSON:     true,
	}
}

// list fetches req and the pages its Link rel="next" headers lead to, as the engine's pager
// would, and calls fn with each.
func list(ctx context.Context, c *Client, req engine.Request, fn func(engine.Page) error) error {
	for {
		pg, err := c.Fetch(ctx, req)
		if err != nil {
			return err
		}
		if err := fn(pg); err != nil {
			return err
		}
		m := linkRE.FindStringSubmatch(pg.Header.Get("Link"))
		if m == nil {
			return nil
		}
		cur, _ := url.Parse(pg.URL)
		next, err := cur.Parse(m[1])
		if err != nil {
			return err
		}
		req.URL = next.String()
	}
}

var linkRE = regexp.MustCompile(`<([^>]*)>; rel="next"`)

// collect fetches req and returns the page body.
func collect(t *testing.T, c *Client, req engine.Request) ([]string, error) {
	t.Helper()
	pg, err := c.Fetch(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return []string{string(pg.Body)}, nil
}

func TestAuthAndHeaders(t *testing.T) {
	var got http.Header
	var user, pass string
	var okAuth bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		user, pass, okAuth = r.BasicAuth()
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	sl := &sleeper{}
	c := testClient(sl, func(o *Options) { o.UserAgent = "pollen-test" })

	req := request(srv.URL)
	req.Endpoint.Headers = map[string]string{"X-Extra": "1"}
	if _, err := collect(t, c, req); err != nil {
		t.Fatal(err)
	}
	if !okAuth || user != "apikey" || pass != "X" {
		t.Errorf("basic auth = %q %q %v", user, pass, okAuth)
	}
	for k, want := range map[string]string{"Accept": "application/json", "User-Agent": "pollen-test", "X-Extra": "1"} {
		if got.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want)
		}
	}

	req.Endpoint.Auth = engine.Credentials{Type: "header", Headers: map[string]string{"X-Api-Key": "s3cret"}}
	if _, err := collect(t, c, req); err != nil {
		t.Fatal(err)
	}
	if got.Get("X-Api-Key") != "s3cret" || got.Get("Authorization") != "" {
		t.Errorf("header auth: X-Api-Key=%q Authorization=%q", got.Get("X-Api-Key"), got.Get("Authorization"))
	}

	req.Endpoint.Auth = engine.Credentials{Type: "oauth2"}
	if _, err := collect(t, c, req); err == nil || !strings.Contains(err.Error(), "auth type") {
		t.Errorf("unknown auth type: err = %v", err)
	}
}

// scripted serves the given responses in order, then 200 `[]`.
func scripted(t *testing.T, steps ...func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(steps) {
			steps[i](w)
			return
		}
		_, _ = w.Write([]byte(`[]`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, hdr ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
	}
}

func TestRetryAfter429(t *testing.T) {
	srv, n := scripted(t, status(429, "Retry-After", "7"))
	sl := &sleeper{}
	req := request(srv.URL)
	bodies, err := collect(t, testClient(sl), req)
	if err != nil || len(bodies) != 1 {
		t.Fatalf("bodies %v, err %v", bodies, err)
	}
	if w := sl.waits(); len(w) != 1 || w[0] != 7*time.Second {
		t.Errorf("waits = %v; want [7s]", w)
	}
	if n.Load() != 2 {
		t.Errorf("requests = %d", n.Load())
	}

	// HTTP date, and the default when absent.
	srv, _ = scripted(t,
		status(429, "Retry-After", t0.Add(90*time.Second).Format(http.TimeFormat)),
		status(429))
	sl = &sleeper{}
	if _, err := collect(t, testClient(sl), request(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if w := sl.waits(); fmt.Sprint(w) != "[1m30s 1m0s]" {
		t.Errorf("waits = %v; want [1m30s 1m0s]", w)
	}
}

func TestTooMany429s(t *testing.T) {
	var steps []func(http.ResponseWriter)
	for range 20 {
		steps = append(steps, status(429, "Retry-After", "1"))
	}
	srv, n := scripted(t, steps...)
	sl := &sleeper{}
	_, err := collect(t, testClient(sl, func(o *Options) { o.MaxRetries = 1 }), request(srv.URL))
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 429 {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != maxThrottled || len(sl.waits()) != maxThrottled-1 {
		t.Errorf("requests %d, waits %v", n.Load(), sl.waits())
	}
}

func Test503ThenOK(t *testing.T) {
	srv, n := scripted(t, status(503), status(502))
	sl := &sleeper{}
	c := testClient(sl, func(o *Options) { o.BaseBackoff = time.Second; o.MaxBackoff = 10 * time.Second })
	bodies, err := collect(t, c, request(srv.URL))
	if err != nil || len(bodies) != 1 {
		t.Fatalf("bodies %v, err %v", bodies, err)
	}
	w := sl.waits()
	if len(w) != 2 {
		t.Fatalf("waits = %v; want 2 backoffs", w)
	}
	for i, d := range w {
		if ceil := time.Second << i; d < 0 || d > ceil {
			t.Errorf("backoff %d = %v, want within [0, %v]", i+1, d, ceil)
		}
	}
	if n.Load() != 3 {
		t.Errorf("requests = %d", n.Load())
	}
}

func Test5xxGivesUp(t *testing.T) {
	var steps []func(http.ResponseWriter)
	for range 10 {
		steps = append(steps, status(500))
	}
	srv, n := scripted(t, steps...)
	sl := &sleeper{}
	_, err := collect(t, testClient(sl), request(srv.URL))
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 500 || !strings.Contains(err.Error(), "after 5 attempts") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 5 || len(sl.waits()) != 4 {
		t.Errorf("requests %d, waits %v", n.Load(), sl.waits())
	}
	for _, d := range sl.waits() {
		if d > defaultMaxBackoff {
			t.Errorf("backoff %v over the cap", d)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	sl := &sleeper{}
	_, err := collect(t, testClient(sl, func(o *Options) { o.MaxRetries = 2 }), request(base))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "after 3 attempts") || !strings.Contains(msg, "refused") || !strings.Contains(msg, base) {
		t.Errorf("err = %v", err)
	}
	if len(sl.waits()) != 2 {
		t.Errorf("waits = %v", sl.waits())
	}
}

func TestTimeoutRetried(t *testing.T) {
	release := make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write([]byte(`[1]`))
	}))
	defer srv.Close()
	defer close(release)
	sl := &sleeper{}
	req := request(srv.URL)
	bodies, err := collect(t, testClient(sl, func(o *Options) { o.Timeout = 50 * time.Millisecond }), req)
	if err != nil || len(bodies) != 1 || len(sl.waits()) != 1 {
		t.Fatalf("bodies %v, waits %v, err %v", bodies, sl.waits(), err)
	}
}

func TestStatusErrors(t *testing.T) {
	cases := []struct {
		status           int
		body             string
		code, field, msg string
	}{
		{401, `{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}`,
			"invalid_credentials", "", "You have to be logged in to perform this action."},
		{403, `{"code":"require_feature","message":"The Surveys feature(s) is/are not supported in your plan."}`,
			"require_feature", "", "The Surveys feature(s) is/are not supported in your plan."},
		{400, `{"description":"Validation failed","errors":[{"field":"page","message":"You cannot access tickets beyond the 300th page.","code":"invalid_value"},{"field":"x","message":"y","code":"z"}]}`,
			"invalid_value", "page", "You cannot access tickets beyond the 300th page."},
		{404, ``, "", "", ""},
		{406, `<html>nope</html>`, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			srv, n := scripted(t, func(w http.ResponseWriter) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			sl := &sleeper{}
			_, err := collect(t, testClient(sl), request(srv.URL))
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if se.Status != tc.status || se.Code != tc.code || se.Field != tc.field || se.Message != tc.msg || se.Body != tc.body {
				t.Errorf("got %+v", se)
			}
			if n.Load() != 1 || len(sl.waits()) != 0 {
				t.Errorf("retried: requests %d, waits %v", n.Load(), sl.waits())
			}
		})
	}
}

func TestStatusErrorBodyTruncated(t *testing.T) {
	big := `{"message":"` + strings.Repeat("é", 2000) + `"}`
	se := newStatusError("GET", "u", 400, []byte(big))
	if len(se.Body) > maxErrorBody || !strings.HasPrefix(big, se.Body) || len(se.Body) < maxErrorBody-1 {
		t.Errorf("body %d bytes", len(se.Body))
	}
}

func TestBudget(t *testing.T) {
	var remaining atomic.Value
	remaining.Store("0.0")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Total", "50.0")
		w.Header().Set("X-RateLimit-Remaining", remaining.Load().(string))
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()

	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sl := &sleeper{}
	c := testClient(sl, func(o *Options) { o.Now = clock })

	req := request(srv.URL)
	if _, err := collect(t, c, req); err != nil { // window opens at t0; remaining 0
		t.Fatal(err)
	}
	if len(sl.waits()) != 0 {
		t.Fatalf("first call waited %v", sl.waits())
	}
	advance(15 * time.Second)
	remaining.Store("49")
	if _, err := collect(t, c, req); err != nil {
		t.Fatal(err)
	}
	if w := sl.waits(); len(w) != 1 || w[0] != 45*time.Second {
		t.Fatalf("waits = %v; want [45s] (the rest of the 60s window)", w)
	}
	if _, err := collect(t, c, req); err != nil {
		t.Fatal(err)
	}
	if w := sl.waits(); len(w) != 1 {
		t.Fatalf("waited again with budget left: %v", w)
	}

	// Another host has its own budget.
	other := request(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	remaining.Store("0")
	if _, err := collect(t, c, req); err != nil {
		t.Fatal(err)
	}
	if _, err := collect(t, c, other); err != nil {
		t.Fatal(err)
	}
	if w := sl.waits(); len(w) != 1 {
		t.Fatalf("other host waited: %v", w)
	}
}

func TestBudgetRetryAfter(t *testing.T) {
	srv, _ := scripted(t, func(w http.ResponseWriter) {
		w.Header().Set("X-Rl-Left", "0")
		w.Header().Set("X-Wait", "12")
		_, _ = w.Write([]byte(`[]`))
	})
	sl := &sleeper{}
	c := testClient(sl)
	req := request(srv.URL)
	req.RateLimit = &engine.RateLimitSpec{RemainingHeader: "X-Rl-Left", RetryAfterHeader: "X-Wait"}
	for range 2 {
		if _, err := collect(t, c, req); err != nil {
			t.Fatal(err)
		}
	}
	if w := sl.waits(); len(w) != 1 || w[0] != 12*time.Second {
		t.Fatalf("waits = %v; want [12s]", w)
	}
}

func TestContextCancelled(t *testing.T) {
	srv, _ := scripted(t, status(503))
	ctx, cancel := context.WithCancel(context.Background())
	c := New(Options{Now: fixedNow, Sleep: func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }})
	err := list(ctx, c, request(srv.URL), func(engine.Page) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestLogsNoSecrets(t *testing.T) {
	srv, _ := scripted(t, status(503))
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := hclog.New(&hclog.LoggerOptions{Output: &lockedWriter{w: &buf, mu: &mu}, Level: hclog.Debug})
	c := testClient(&sleeper{}, func(o *Options) { o.Logger = logger })
	req := request(srv.URL)
	req.Endpoint.Auth.Username = "topsecretkey"
	if _, err := collect(t, c, req); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, "vendor request") != 2 || !strings.Contains(out, "status=503") {
		t.Errorf("log:\n%s", out)
	}
	if strings.Contains(out, "topsecretkey") || strings.Contains(out, "Authorization") || strings.Contains(out, "Basic ") {
		t.Errorf("log leaks credentials:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestConcurrentFetch(t *testing.T) {
	var n atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := n.Add(1)
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(int(k%7)))
		if k%11 == 0 {
			w.WriteHeader(503)
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page < 3 {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?page=%d>; rel="next"`, srv.URL, r.URL.Path, max(page, 1)+1))
		}
		fmt.Fprintf(w, `[{"page":%d}]`, max(page, 1))
	}))
	defer srv.Close()
	sl := &sleeper{}
	c := New(Options{Sleep: sl.Sleep, MaxWait: wait}) // real clock
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			pages := 0
			err := list(context.Background(), c, request(srv.URL), func(p engine.Page) error {
				pages++
				return nil
			})
			if err == nil && pages != 3 {
				err = fmt.Errorf("%d pages", pages)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestPageFields(t *testing.T) {
	vendorTime := time.Date(2024, 5, 1, 12, 0, 3, 0, time.UTC)
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var n atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { mu.Lock(); now = now.Add(time.Minute); mu.Unlock() }() // each request takes a minute
		k := n.Add(1)
		if k == 2 { // page 2's first attempt fails: its Sent is the retry's
			w.WriteHeader(503)
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		switch page {
		case 1:
			w.Header().Set("Date", vendorTime.Format(http.TimeFormat))
		case 2:
			w.Header().Set("Date", "yesterday")
		case 3:
			w.Header()["Date"] = nil // no Date at all
		}
		if page < 3 {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?page=%d>; rel="next"`, srv.URL, r.URL.Path, page+1))
		}
		fmt.Fprintf(w, `[{"page":%d}]`, page)
	}))
	defer srv.Close()
	c := testClient(&sleeper{}, func(o *Options) { o.Now = clock })
	var pages []engine.Page
	err := list(context.Background(), c, request(srv.URL), func(p engine.Page) error {
		pages = append(pages, p)
		return nil
	})
	if err != nil || len(pages) != 3 {
		t.Fatalf("pages %d, err %v", len(pages), err)
	}
	want := []struct {
		date time.Time
		sent time.Time
	}{
		{vendorTime, t0},
		{time.Time{}, t0.Add(2 * time.Minute)}, // request 2 (the 503) was sent at t0+1m
		{time.Time{}, t0.Add(3 * time.Minute)},
	}
	for i, w := range want {
		p := pages[i]
		if !p.Date.Equal(w.date) || !p.Sent.Equal(w.sent) || !strings.HasPrefix(p.URL, srv.URL+"/api/v2/tickets?") {
			t.Errorf("page %d: Date %v Sent %v URL %s; want %v %v", i+1, p.Date, p.Sent, p.URL, w.date, w.sent)
		}
	}
}

// responseLog records OnResponse calls.
type responseLog struct {
	mu  sync.Mutex
	got []string
}

func (r *responseLog) observe(status int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.got = append(r.got, fmt.Sprintf("%d error", status))
		return
	}
	r.got = append(r.got, strconv.Itoa(status))
}

func (r *responseLog) calls() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got, ",")
}

// OnResponse sees every attempt, retries and 429s included, and transport errors without a status.
func TestOnResponse(t *testing.T) {
	srv, _ := scripted(t, status(429, "Retry-After", "1"), status(503))
	var rl responseLog
	if _, err := collect(t, testClient(&sleeper{}, func(o *Options) { o.OnResponse = rl.observe }), request(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if got := rl.calls(); got != "429,503,200" {
		t.Errorf("OnResponse calls %s, want 429,503,200", got)
	}

	gone := httptest.NewServer(http.NotFoundHandler())
	base := gone.URL
	gone.Close()
	rl = responseLog{}
	if _, err := collect(t, testClient(&sleeper{}, func(o *Options) { o.MaxRetries = 1; o.OnResponse = rl.observe }), request(base)); err == nil {
		t.Fatal("no error")
	}
	if got := rl.calls(); got != "0 error,0 error" {
		t.Errorf("OnResponse calls %s, want two transport errors", got)
	}
}

// wait is the MaxWait of tests of waiting: longer than any wait they cause.
const wait = 24 * time.Hour

// A wait for a rate budget longer than MaxWait is not waited: the request is deferred at once,
// with the time it may go, so that a poll ends and goes on at its next turn.
func TestDeferredWhenTheBudgetIsSpent(t *testing.T) {
	srv, _ := scripted(t, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	sl := &sleeper{}
	c := New(Options{Sleep: sl.Sleep, Now: fixedNow, MaxWait: 10 * time.Second})
	_, err := c.Fetch(context.Background(), request(srv.URL))
	var d engine.Deferred
	if !errors.As(err, &d) || !d.DeferredUntil().Equal(t0.Add(30*time.Second)) {
		t.Fatalf("err = %v, want deferred until 30s later", err)
	}
	var vs engine.VendorStatus
	if !errors.As(err, &vs) || vs.HTTPStatus() != 429 {
		t.Errorf("a deferral answers as a 429: %v", err)
	}
	if w := sl.waits(); len(w) != 0 {
		t.Errorf("waited %v", w)
	}
}

// An endpoint's own limit (Zendesk's incremental exports: 10 a minute) paces its requests at one
// account, apart from other endpoints, and defers what would wait too long.
func TestEndpointLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`[]`)) }))
	defer srv.Close()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sleep := func(ctx context.Context, d time.Duration) error { mu.Lock(); now = now.Add(d); mu.Unlock(); return nil }
	c := New(Options{Now: clock, Sleep: sleep, MaxWait: 10 * time.Second})
	req := request(srv.URL)
	req.Limit = &engine.EndpointLimit{Key: "/api/v2/tickets", Requests: 3, Per: 10 * time.Second}
	for i := range 9 {
		if _, err := c.Fetch(context.Background(), req); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if got := clock().Sub(t0); got != 20*time.Second {
		t.Errorf("9 requests at 3 per 10s took %v, want 20s", got)
	}
	other := request(srv.URL)
	other.Limit = &engine.EndpointLimit{Key: "/api/v2/contacts", Requests: 3, Per: 10 * time.Second}
	before := clock()
	if _, err := c.Fetch(context.Background(), other); err != nil || clock() != before {
		t.Errorf("another endpoint waited %v: %v", clock().Sub(before), err)
	}
	slow := request(srv.URL)
	slow.Limit = &engine.EndpointLimit{Key: "/api/v2/slow", Requests: 1, Per: time.Minute}
	if _, err := c.Fetch(context.Background(), slow); err != nil {
		t.Fatal(err)
	}
	var d engine.Deferred
	if _, err := c.Fetch(context.Background(), slow); !errors.As(err, &d) {
		t.Errorf("a minute's wait: %v, want deferred", err)
	}
}

// A 2xx body that is not complete JSON (cut mid-record with an exact Content-Length, an HTML page,
// nothing) is a failed request: retried, and after the last try an error naming it.
func TestBodyNotJSONRetried(t *testing.T) {
	for name, body := range map[string]string{
		"truncated": `[{"id":301,"subject":"a"},{"id":302,"subject": "older`,
		"html":      `<html><body>Service Unavailable</body></html>`,
		"empty":     ``,
	} {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) < 3 {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
					_, _ = w.Write([]byte(body))
					return
				}
				_, _ = w.Write([]byte(`[{"id":301}]`))
			}))
			defer srv.Close()
			got, err := collect(t, testClient(&sleeper{}), request(srv.URL))
			if err != nil || len(got) != 1 || got[0] != `[{"id":301}]` || n.Load() != 3 {
				t.Fatalf("got %q, %v after %d requests", got, err, n.Load())
			}
			n.Store(-100)
			_, err = collect(t, testClient(&sleeper{}), request(srv.URL))
			if !errors.Is(err, ErrBadBody) || !strings.Contains(err.Error(), "giving up after 5 attempts") {
				t.Errorf("always bad: %v", err)
			}
			// A request that does not ask for JSON takes the body as it is.
			n.Store(0)
			req := request(srv.URL)
			req.JSON = false
			if got, err := collect(t, testClient(&sleeper{}), req); err != nil || got[0] != body {
				t.Errorf("JSON not asked: %q, %v", got, err)
			}
		})
	}
}

// A redirect loop is an error after a few redirects, not retried: the next try would loop again.
func TestRedirectLoopNotRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Redirect(w, r, r.URL.Path+"?again="+strconv.Itoa(int(n.Load())), http.StatusFound)
	}))
	defer srv.Close()
	_, err := collect(t, testClient(&sleeper{}), request(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "redirects") || n.Load() != maxRedirects {
		t.Errorf("%v after %d requests, want an error after %d", err, n.Load(), maxRedirects)
	}
}

// A URL off the instance's vendor (another host or scheme) is refused before anything is sent.
func TestURLOffTheVendorRefused(t *testing.T) {
	req := request("https://acme.freshdesk.com")
	for _, u := range []string{"https://evil.example/api/v2/tickets", "http://acme.freshdesk.com/api/v2/tickets", "ftp://acme.freshdesk.com/x", "/api/v2/tickets"} {
		req.URL = u
		if _, err := testClient(&sleeper{}).Fetch(context.Background(), req); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}
