package httpsource

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

// simClock is a fake clock for concurrent workers: Sleep blocks until the clock reaches its end,
// and the clock jumps to the earliest end once every running worker sleeps. (Advancing it in each
// Sleep would let one worker's sleep pass time under another that is about to sleep.)
type simClock struct {
	mu      sync.Mutex
	cond    sync.Cond
	now     time.Time
	running int         // workers not done
	ends    []time.Time // ends of the sleeping workers
	waits   []time.Time // ends of all the sleeps asked for
}

func newSimClock(now time.Time, workers int) *simClock {
	s := &simClock{now: now, running: workers}
	s.cond.L = &s.mu
	return s
}

func (s *simClock) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	end := s.now.Add(d)
	s.waits = append(s.waits, end)
	s.ends = append(s.ends, end)
	s.advance()
	for s.now.Before(end) {
		s.cond.Wait()
	}
	s.ends = slices.Delete(s.ends, slices.Index(s.ends, end), slices.Index(s.ends, end)+1)
	return ctx.Err()
}

// done says a worker has finished.
func (s *simClock) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	s.advance()
}

func (s *simClock) advance() {
	if len(s.ends) == 0 || len(s.ends) < s.running {
		return
	}
	if next := slices.MinFunc(s.ends, time.Time.Compare); next.After(s.now) {
		s.now = next
		s.cond.Broadcast()
	}
}

// limitServer enforces limit requests per minute (fixed windows from t0 on clock), answering 429
// with Retry-After beyond it, and serves listings of pages pages. Rate numbers are sent as floats
// ("20.0"); others adds that many requests of other clients of the account before each request.
type limitServer struct {
	*httptest.Server
	clock func() time.Time
	limit int
	pages int
	other int

	mu      sync.Mutex
	counts  map[int]int // requests per window, ours only
	used    map[int]int // requests per window, the vendor's count
	refused int
}

func newLimitServer(t *testing.T, clock func() time.Time, limit, pages, other int) *limitServer {
	s := &limitServer{clock: clock, limit: limit, pages: pages, other: other, counts: map[int]int{}, used: map[int]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *limitServer) serve(w http.ResponseWriter, r *http.Request) {
	now := s.clock()
	win := int(now.Sub(t0) / time.Minute)
	s.mu.Lock()
	s.used[win] += s.other
	if s.used[win] >= s.limit {
		s.refused++
		s.mu.Unlock()
		reset := t0.Add(time.Duration(win+1) * time.Minute)
		w.Header().Set("Retry-After", strconv.Itoa(int(reset.Sub(now).Seconds())))
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	s.used[win]++
	s.counts[win]++
	left := s.limit - s.used[win]
	s.mu.Unlock()
	w.Header().Set("X-RateLimit-Total", fmt.Sprintf("%.1f", float64(s.limit)))
	w.Header().Set("X-RateLimit-Remaining", fmt.Sprintf("%.1f", float64(left)))
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	if page < s.pages {
		w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, page+1))
	}
	fmt.Fprintf(w, `[{"page":%d}]`, page)
}

// windows returns our requests per window, from the first window to the last used.
func (s *limitServer) windows() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for w := 0; len(out) < len(s.counts); w++ {
		out = append(out, s.counts[w])
	}
	return out
}

// listAll runs workers goroutines that each list req lists times, and returns the errors.
func listAll(c *Client, sim *simClock, req engine.Request, workers, lists, pages int) []error {
	var wg sync.WaitGroup
	errs := make(chan error, workers*lists)
	for range workers {
		wg.Go(func() {
			defer sim.done()
			for range lists {
				n := 0
				err := list(context.Background(), c, req, func(engine.Page) error { n++; return nil })
				if err == nil && n != pages {
					err = fmt.Errorf("%d pages", n)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

func TestBudgetConcurrent(t *testing.T) {
	const workers, lists, pages, limit = 8, 10, 2, 20
	sim := newSimClock(t0, workers)
	srv := newLimitServer(t, sim.Now, limit, pages, 0)
	c := New(Options{MaxWait: wait, Now: sim.Now, Sleep: sim.Sleep})

	for _, err := range listAll(c, sim, request(srv.URL), workers, lists, pages) {
		t.Error(err)
	}
	if srv.refused != 0 {
		t.Errorf("%d requests refused with 429", srv.refused)
	}
	// 160 requests at most 19 a window (one in reserve), waiting only when the allowance ran
	// out: the 9 windows that takes at least. (A window may use 18: when a request is answered
	// before one the vendor counted earlier, the latter counts twice until its own answer, and
	// a worker that waits meanwhile sleeps out the window if that answer ends its last list.)
	got, sum := srv.windows(), 0
	for _, k := range got {
		sum += k
		if k > limit-1 {
			t.Errorf("%d requests in one window", k)
		}
	}
	if sum != workers*lists*pages || len(got) != 9 {
		t.Errorf("requests per window = %v; want 160 in 9 windows", got)
	}
	if end := sim.Now(); !end.Equal(t0.Add(8 * time.Minute)) {
		t.Errorf("clock at end = t0+%v; want t0+8m", end.Sub(t0))
	}
	for _, end := range sim.waits {
		if end.Sub(t0)%time.Minute != 0 {
			t.Errorf("a wait ended at t0+%v, not at a window's reset", end.Sub(t0))
		}
	}
	if len(sim.waits) == 0 {
		t.Error("never waited")
	}
}

func TestBudgetReserve(t *testing.T) {
	for _, tc := range []struct {
		reserve int
		want    []int
	}{
		{0, []int{19, 19, 7}},  // default: 1
		{-1, []int{20, 20, 5}}, // none
		{5, []int{15, 15, 15}},
		{50, []int{1, 1, 1, 1, 1}}, // capped at size - 1
	} {
		t.Run(strconv.Itoa(tc.reserve), func(t *testing.T) {
			n := 0
			for _, k := range tc.want {
				n += k
			}
			sim := newSimClock(t0, 1)
			srv := newLimitServer(t, sim.Now, 20, 1, 0)
			c := New(Options{MaxWait: wait, Now: sim.Now, Sleep: sim.Sleep, RateReserve: tc.reserve})
			req := request(srv.URL)
			for _, err := range listAll(c, sim, req, 1, n, 1) {
				t.Error(err)
			}
			if got := srv.windows(); srv.refused != 0 || !slices.Equal(got, tc.want) {
				t.Errorf("requests per window = %v, %d refused; want %v", got, srv.refused, tc.want)
			}
			if len(sim.waits) != len(tc.want)-1 {
				t.Errorf("waits until %v", sim.waits)
			}
		})
	}
}

// Other clients of the account spend one request before each of ours: the reported Remaining,
// not the local count, decides. (Sequential: what other clients spend between two concurrent
// requests of ours is beyond any budget; the reserve and the 429 handling cover it.)
func TestBudgetSharedAccount(t *testing.T) {
	sim := newSimClock(t0, 1)
	srv := newLimitServer(t, sim.Now, 20, 1, 1)
	c := New(Options{MaxWait: wait, Now: sim.Now, Sleep: sim.Sleep})
	req := request(srv.URL)
	for _, err := range listAll(c, sim, req, 1, 25, 1) {
		t.Error(err)
	}
	if got := srv.windows(); srv.refused != 0 || !slices.Equal(got, []int{10, 10, 5}) {
		t.Errorf("requests per window = %v, %d refused; want [10 10 5], 0", got, srv.refused)
	}
}

func TestBudgetUnmetered(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	sl := &sleeper{}
	c := testClient(sl)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := collect(t, c, request(srv.URL)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(sl.waits()) != 0 {
		t.Errorf("unmetered host waited %v", sl.waits())
	}
}

// A 429's Retry-After resets the allowance to the whole window.
func Test429ResetsBudget(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		w.Header().Set("X-RateLimit-Total", "20.0")
		switch {
		case k == 1:
			w.Header().Set("X-RateLimit-Remaining", "15.0")
		case k == 2: // other clients spent the rest
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		default:
			w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(20-(k-2)))
		}
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	sl := &sleeper{}
	c := testClient(sl)
	req := request(srv.URL)
	for range 20 { // 1, then the 429 and 19 in the new window
		if _, err := collect(t, c, req); err != nil {
			t.Fatal(err)
		}
	}
	if w := sl.waits(); fmt.Sprint(w) != "[7s]" {
		t.Errorf("waits = %v; want [7s]", w)
	}
	if _, err := collect(t, c, req); err != nil { // the reserve: wait for the window
		t.Fatal(err)
	}
	if w := sl.waits(); fmt.Sprint(w) != "[7s 1m0s]" {
		t.Errorf("waits = %v; want [7s 1m0s]", w)
	}
}
