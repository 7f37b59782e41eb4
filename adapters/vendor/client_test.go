package vendor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	o := Options{Sleep: sl.Sleep, Now: fixedNow}
	for _, f := range opts {
		f(&o)
	}
	return New(o)
}

func request(base string) engine.Request {
	return engine.Request{
		Endpoint: engine.Endpoint{BaseURL: base, Auth: engine.Credentials{Type: "basic", Username: "apikey", Password: "X"}},
		Paging:   engine.PagingSpec{Type: "link", PageParam: "page", SizeParam: "per_page", MaxPageSize: 100},
		Path:     "/api/v2/tickets",
		Query:    url.Values{"order_by": {"updated_at"}, "updated_since": {"2024-01-01T00:00:00Z"}},
		PageSize: 100,
	}
}

// collect lists req and returns the page bodies.
func collect(t *testing.T, c *Client, req engine.Request) ([]string, error) {
	t.Helper()
	var bodies []string
	err := c.List(context.Background(), req, func(p engine.Page) error {
		if p.Number != len(bodies)+1 {
			t.Errorf("page number %d, want %d", p.Number, len(bodies)+1)
		}
		bodies = append(bodies, string(p.Body))
		return nil
	})
	return bodies, err
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
	req.Paging.Type = "none"
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

// linkServer serves pages 1..last of a listing; link builds page n's Link header values given
// the absolute and the relative URL of page n+1.
func linkServer(t *testing.T, last int, link func(abs, rel string) []string) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI())
		mu.Unlock()
		page := 1
		if p := r.URL.Query().Get("page"); p != "" {
			page, _ = strconv.Atoi(p)
		}
		if page < last {
			q := r.URL.Query()
			q.Set("page", strconv.Itoa(page+1))
			rel := r.URL.Path + "?" + q.Encode()
			for _, v := range link(srv.URL+rel, rel) {
				w.Header().Add("Link", v)
			}
		}
		fmt.Fprintf(w, `[{"page":%d}]`, page)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestLinkPagination(t *testing.T) {
	variants := map[string]func(abs, rel string) []string{
		"canonical":    func(abs, _ string) []string { return []string{"<" + abs + `>; rel="next"`} },
		"no space":     func(abs, _ string) []string { return []string{"<" + abs + `>;rel="next"`} },
		"unquoted":     func(abs, _ string) []string { return []string{"<" + abs + ">; rel=next"} },
		"upper case":   func(abs, _ string) []string { return []string{"<" + abs + `>; REL="Next"`} },
		"relative":     func(_, rel string) []string { return []string{"<" + rel + `>; rel="next"`} },
		"several rels": func(abs, _ string) []string { return []string{"<" + abs + `>; rel="next last"`} },
		"several links": func(abs, _ string) []string {
			return []string{`<http://x/a?p=1,2>; rel="first", <` + abs + `>; title="a, b"; rel="next"`}
		},
		"several headers": func(abs, _ string) []string {
			return []string{`<http://x/prev>; rel="prev"`, "<" + abs + `>; rel="next"`}
		},
	}
	for name, link := range variants {
		t.Run(name, func(t *testing.T) {
			srv, seen := linkServer(t, 3, link)
			sl := &sleeper{}
			bodies, err := collect(t, testClient(sl), request(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{`[{"page":1}]`, `[{"page":2}]`, `[{"page":3}]`}
			if fmt.Sprint(bodies) != fmt.Sprint(want) {
				t.Errorf("bodies = %v", bodies)
			}
			if len(*seen) != 3 {
				t.Fatalf("requests = %v", *seen)
			}
			first, _ := url.ParseRequestURI((*seen)[0])
			q := first.Query()
			if q.Get("per_page") != "100" || q.Get("order_by") != "updated_at" || q.Get("updated_since") != "2024-01-01T00:00:00Z" || q.Has("page") {
				t.Errorf("first request %s", (*seen)[0])
			}
			if !strings.Contains((*seen)[2], "page=3") {
				t.Errorf("third request %s", (*seen)[2])
			}
			if len(sl.waits()) != 0 {
				t.Errorf("waits %v", sl.waits())
			}
		})
	}
}

func TestLinkRefusesOtherHost(t *testing.T) {
	srv, seen := linkServer(t, 3, func(abs, _ string) []string {
		return []string{`<http://evil.example/steal?page=2>; rel="next"`}
	})
	_, err := collect(t, testClient(&sleeper{}), request(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "leaves") {
		t.Fatalf("err = %v", err)
	}
	if len(*seen) != 1 {
		t.Errorf("requests = %v", *seen)
	}
}

func TestPageCap(t *testing.T) {
	srv, seen := linkServer(t, 1000, func(abs, _ string) []string { return []string{"<" + abs + `>; rel="next"`} })
	req := request(srv.URL)
	req.Paging.MaxPages = 3
	bodies, err := collect(t, testClient(&sleeper{}), req)
	if !errors.Is(err, ErrPageCap) {
		t.Fatalf("err = %v; want ErrPageCap", err)
	}
	if len(bodies) != 3 || len(*seen) != 3 {
		t.Errorf("pages = %d, requests = %d", len(bodies), len(*seen))
	}

	// Exactly MaxPages pages: no cap error.
	srv2, _ := linkServer(t, 3, func(abs, _ string) []string { return []string{"<" + abs + `>; rel="next"`} })
	req = request(srv2.URL)
	req.Paging.MaxPages = 3
	if _, err := collect(t, testClient(&sleeper{}), req); err != nil {
		t.Errorf("3 pages, cap 3: err = %v", err)
	}
}

func TestPagePaging(t *testing.T) {
	type page struct {
		body string
		link bool
	}
	cases := map[string]struct {
		pages    []page
		pageSize int
		want     int // pages handed to fn
	}{
		"until empty array":  {[]page{{`[1,2]`, false}, {`[3,4]`, false}, {` [ ] `, false}}, 0, 3},
		"until empty body":   {[]page{{`[1,2]`, false}, {``, false}}, 0, 2},
		"short array":        {[]page{{`[{"a":[1,2]},{"b":"x,]"}]`, false}, {`[{"c":1}]`, false}}, 2, 2},
		"link then no link":  {[]page{{`[1]`, true}, {`[2]`, true}, {`[3]`, false}}, 1, 3},
		"link wins on short": {[]page{{`[1]`, true}, {`[2]`, false}}, 5, 2},
		"object bodies":      {[]page{{`{"items":[1]}`, false}, {`{"items":[]}`, false}, {`null`, false}}, 1, 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var requests []url.Values
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests = append(requests, r.URL.Query())
				n, _ := strconv.Atoi(r.URL.Query().Get("pg"))
				if n < 1 || n > len(tc.pages) {
					t.Errorf("page %d requested", n)
					_, _ = w.Write([]byte(`[]`))
					return
				}
				p := tc.pages[n-1]
				if p.link {
					w.Header().Set("Link", `<`+r.URL.Path+`?pg=`+strconv.Itoa(n+1)+`>; rel="next"`)
				}
				_, _ = w.Write([]byte(p.body))
			}))
			defer srv.Close()
			req := request(srv.URL)
			req.Paging = engine.PagingSpec{Type: "page", PageParam: "pg", SizeParam: "size"}
			req.PageSize = tc.pageSize
			bodies, err := collect(t, testClient(&sleeper{}), req)
			if err != nil {
				t.Fatal(err)
			}
			if len(bodies) != tc.want {
				t.Errorf("pages = %d (%q), want %d", len(bodies), bodies, tc.want)
			}
			for i, q := range requests {
				if q.Get("pg") != strconv.Itoa(i+1) {
					t.Errorf("request %d: pg=%q", i+1, q.Get("pg"))
				}
				if tc.pageSize > 0 && q.Get("size") != strconv.Itoa(tc.pageSize) {
					t.Errorf("request %d: size=%q", i+1, q.Get("size"))
				}
			}
		})
	}
}

func TestPagePagingCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[1,2]`))
	}))
	defer srv.Close()
	req := request(srv.URL)
	req.Paging = engine.PagingSpec{Type: "page", SizeParam: "per_page", MaxPages: 2}
	req.PageSize = 2
	bodies, err := collect(t, testClient(&sleeper{}), req)
	if !errors.Is(err, ErrPageCap) || len(bodies) != 2 {
		t.Fatalf("pages %d, err %v", len(bodies), err)
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
	req.Paging.Type = "none"
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

func TestFnErrorStops(t *testing.T) {
	srv, seen := linkServer(t, 5, func(abs, _ string) []string { return []string{"<" + abs + `>; rel="next"`} })
	stop := errors.New("stop")
	calls := 0
	err := testClient(&sleeper{}).List(context.Background(), request(srv.URL), func(p engine.Page) error {
		calls++
		if p.Number == 2 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("err = %v; want the fn error as is", err)
	}
	if calls != 2 || len(*seen) != 2 {
		t.Errorf("calls %d, requests %d", calls, len(*seen))
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
	err := c.List(ctx, request(srv.URL), func(engine.Page) error { return nil })
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

func TestConcurrentList(t *testing.T) {
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
	c := New(Options{Sleep: sl.Sleep}) // real clock
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			pages := 0
			err := c.List(context.Background(), request(srv.URL), func(p engine.Page) error {
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
	err := c.List(context.Background(), request(srv.URL), func(p engine.Page) error {
		pages = append(pages, p)
		return nil
	})
	if err != nil || len(pages) != 3 {
		t.Fatalf("pages %d, err %v", len(pages), err)
	}
	want := []struct {
		hasNext bool
		date    time.Time
		sent    time.Time
	}{
		{true, vendorTime, t0},
		{true, time.Time{}, t0.Add(2 * time.Minute)}, // request 2 (the 503) was sent at t0+1m
		{false, time.Time{}, t0.Add(3 * time.Minute)},
	}
	for i, w := range want {
		p := pages[i]
		if p.HasNext != w.hasNext || !p.Date.Equal(w.date) || !p.Sent.Equal(w.sent) {
			t.Errorf("page %d: HasNext %v Date %v Sent %v; want %v %v %v", i+1, p.HasNext, p.Date, p.Sent, w.hasNext, w.date, w.sent)
		}
	}
}

func TestHasNext(t *testing.T) {
	cases := map[string]struct {
		paging   string
		pageSize int
		bodies   []string
		link     []bool
		want     []bool
	}{
		"none":               {"none", 0, []string{`[1]`}, []bool{true}, []bool{false}},
		"page until empty":   {"page", 0, []string{`[1]`, `[2]`, `[]`}, nil, []bool{true, true, false}},
		"page short array":   {"page", 2, []string{`[1,2]`, `[3]`}, nil, []bool{true, false}},
		"page link then not": {"page", 1, []string{`[1]`, `[2]`}, []bool{true, false}, []bool{true, false}},
		"link":               {"link", 0, []string{`[1]`, `[2]`}, []bool{true, false}, []bool{true, false}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				k, _ := strconv.Atoi(r.URL.Query().Get("page"))
				k = max(k, 1)
				if k > len(tc.bodies) {
					t.Errorf("page %d requested", k)
					return
				}
				if k <= len(tc.link) && tc.link[k-1] {
					w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, k+1))
				}
				_, _ = w.Write([]byte(tc.bodies[k-1]))
			}))
			defer srv.Close()
			req := request(srv.URL)
			req.Paging.Type = tc.paging
			req.PageSize = tc.pageSize
			var got []bool
			err := testClient(&sleeper{}).List(context.Background(), req, func(p engine.Page) error {
				got = append(got, p.HasNext)
				return nil
			})
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("HasNext %v, err %v; want %v", got, err, tc.want)
			}
		})
	}

	// A next link List refuses still says there is a next page.
	srv, _ := linkServer(t, 3, func(abs, _ string) []string { return []string{`<http://evil.example/x>; rel="next"`} })
	var got []bool
	err := testClient(&sleeper{}).List(context.Background(), request(srv.URL), func(p engine.Page) error {
		got = append(got, p.HasNext)
		return nil
	})
	if err == nil || fmt.Sprint(got) != "[true]" {
		t.Errorf("refused link: HasNext %v, err %v", got, err)
	}
}

// Body paging follows the next page's URL found in the body until the end flag, as incremental
// export APIs page (Zendesk: after_url and end_of_stream).
func TestBodyPaging(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("cursor") {
		case "":
			fmt.Fprintf(w, `{"tickets":[{"id":1}],"after_url":"%s/export?cursor=c1","end_of_stream":false}`, srv.URL)
		case "c1":
			fmt.Fprint(w, `{"tickets":[{"id":2}],"after_url":"/export?cursor=c2","end_of_stream":true}`)
		default:
			t.Errorf("asked past the end: %s", r.URL)
		}
	}))
	defer srv.Close()
	c := New(Options{})
	var bodies []string
	var more []bool
	err := c.List(context.Background(), engine.Request{
		Endpoint: engine.Endpoint{BaseURL: srv.URL},
		Paging:   engine.PagingSpec{Type: "body", NextPath: "after_url", EndPath: "end_of_stream"},
		Path:     "/export",
	}, func(p engine.Page) error {
		bodies = append(bodies, string(p.Body))
		more = append(more, p.HasNext)
		return nil
	})
	if err != nil || len(bodies) != 2 || !more[0] || more[1] {
		t.Fatalf("err %v, pages %d, hasNext %v", err, len(bodies), more)
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
