package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// listVendor is a small Freshdesk-like vendor in memory: tickets with an updated date, listed by
// updated_since (inclusive, to the second), ordered by updated_at then id (asc or desc), in pages
// of per_page with a page cap, Link rel="next" while there is more. Deleted tickets leave the list
// and show under filter=deleted. onRequest runs before each request is answered, so a test can
// change records while a walk goes on.
type listVendor struct {
	mu        sync.Mutex
	base      string
	tickets   map[int]*vTicket
	pageCap   int
	now       time.Time // the vendor's clock, stamped on changes and the Date header
	requests  int
	onRequest func(v *listVendor, n int) // n counts requests from 1; called with mu held
}

type vTicket struct {
	id               int
	created, updated time.Time
	deleted          bool
}

func newListVendor(now time.Time) *listVendor {
	return &listVendor{base: "https://acme.freshdesk.com", tickets: map[int]*vTicket{}, pageCap: 300, now: now}
}

func (v *listVendor) put(id int, created, updated time.Time) {
	v.tickets[id] = &vTicket{id: id, created: created, updated: updated}
}

// touch updates a ticket now, which moves it to the tail of the list.
func (v *listVendor) touch(id int) { v.tickets[id].updated = v.now.Truncate(time.Second) }

func (v *listVendor) remove(id int) {
	t := v.tickets[id]
	t.deleted, t.updated = true, v.now.Truncate(time.Second)
}

func (v *listVendor) Fetch(ctx context.Context, req Request) (Page, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.requests++
	if v.onRequest != nil {
		v.onRequest(v, v.requests)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return Page{}, err
	}
	q := u.Query()
	since, _ := time.Parse(time.RFC3339, q.Get("updated_since"))
	size, _ := strconv.Atoi(q.Get("per_page"))
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	if page > v.pageCap {
		return Page{}, &vendorErr{status: 400}
	}
	deleted := q.Get("filter") == "deleted"
	var rows []*vTicket
	for _, t := range v.tickets {
		if t.deleted == deleted && !t.updated.Before(since) {
			rows = append(rows, t)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].updated.Equal(rows[j].updated) {
			return rows[i].updated.Before(rows[j].updated)
		}
		return rows[i].id < rows[j].id
	})
	if q.Get("order_type") == "desc" {
		slices.Reverse(rows)
	}
	from := min((page-1)*size, len(rows))
	to := min(from+size, len(rows))
	var b strings.Builder
	b.WriteString("[")
	for i, t := range rows[from:to] {
		if i > 0 {
			b.WriteString(",")
		}
		extra := ""
		if t.deleted {
			extra = `,"deleted":true`
		}
		b.WriteString(ticketJSON(t.id, t.created.Format(time.RFC3339), t.updated.Format(time.RFC3339), extra))
	}
	b.WriteString("]")
	pg := Page{URL: req.URL, Body: []byte(b.String()), Header: http.Header{}, Date: v.now.Truncate(time.Second), Sent: v.now}
	if to < len(rows) {
		q.Set("page", strconv.Itoa(page+1))
		u.RawQuery = q.Encode()
		pg.Header.Set("Link", "<"+u.String()+`>; rel="next"`)
	}
	return pg, nil
}

// withMaxPages is job with its resource's page cap set to n.
func withMaxPages(job *JobSpec, n int) *JobSpec {
	r := *job.Resource
	pg := *r.pager
	pg.maxPages = n
	r.pager = &pg
	capped := *job
	capped.Resource = &r
	return &capped
}

// reported collects what polls committed: the last event of each ticket.
type reported struct {
	events map[string]Event // by object id: the latest
	count  map[string]int   // events by event id
}

func pollUntilQuiet(t *testing.T, p *Poller, in *Instance, job *JobSpec, rounds int) {
	t.Helper()
	for range rounds {
		if _, err := p.Poll(context.Background(), in, job); err != nil {
			t.Fatal(err)
		}
	}
}

func collectEvents(store *pollStoreFake) reported {
	r := reported{events: map[string]Event{}, count: map[string]int{}}
	for _, c := range store.commits {
		for _, e := range c.Events {
			r.count[e.ID]++
			if old, ok := r.events[e.ObjectID]; !ok || !e.Date.Before(old.Date) {
				r.events[e.ObjectID] = e
			}
		}
	}
	return r
}

// A burst of tickets in one second, read over several pages while the vendor updates and deletes
// some of them mid-walk (each such change moves the rows after it up a place): every ticket's last
// state is reported, none twice, and the second's pages are read again only where a row can have
// slipped past a page boundary.
func TestWalkShiftedRowsAreFound(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			in := testInstance(t, "incidents", `{}`)
			job, _ := in.Job("incidents")
			burst := in.CreatedAt.Add(5 * time.Minute)
			v := newListVendor(burst.Add(2 * time.Second))
			if seed > 20 {
				// More than the vendor pages through: the second is read from both ends.
				v.pageCap = 2
				job = withMaxPages(job, 2)
			}
			n := 250 + rng.IntN(200)
			if seed > 20 {
				n = 250 + rng.IntN(130) // within the 400 both ends reach
			}
			for id := 1; id <= n; id++ {
				v.put(id, in.CreatedAt.Add(-time.Hour), burst)
			}
			moved := map[int]bool{}
			v.onRequest = func(v *listVendor, k int) {
				v.now = v.now.Add(300 * time.Millisecond) // each page takes a while
				if k > 1 && rng.IntN(3) == 0 {
					id := 1 + rng.IntN(n)
					if moved[id] {
						return
					}
					moved[id] = true
					if rng.IntN(4) == 0 {
						v.remove(id)
					} else {
						v.touch(id)
					}
				}
			}
			store := newPollStoreFake()
			p := &Poller{Source: v, Store: store, Clock: &FixedClock{T: burst.Add(time.Minute)}}
			pollUntilQuiet(t, p, in, job, 1)
			v.onRequest = func(v *listVendor, k int) { v.now = v.now.Add(300 * time.Millisecond) }
			firstPoll := v.requests
			pollUntilQuiet(t, p, in, job, 2)
			got := collectEvents(store)
			for id := 1; id <= n; id++ {
				tk := v.tickets[id]
				e, ok := got.events[strconv.Itoa(id)]
				switch {
				case !ok:
					t.Errorf("ticket %d (moved %v) never reported", id, moved[id])
				case !e.Date.Equal(tk.updated):
					t.Errorf("ticket %d: last reported at %v, changed at %v", id, e.Date, tk.updated)
				case tk.deleted && e.Type != Deleted:
					t.Errorf("ticket %d: deleted, last reported %s", id, e.Type)
				}
			}
			for id, c := range got.count {
				if c > 1 {
					t.Errorf("event %s reported %d times", id, c)
				}
			}
			// The burst takes ceil(n/100) pages; a few more per row that moved, and the
			// deleted query.
			need := (n + 99) / 100
			t.Logf("first poll: %d requests, %d pages needed, %d rows moved", firstPoll, need, len(moved))
			if max := need + 2 + 4*len(moved) + 2; firstPoll > max {
				t.Errorf("first poll: %d requests for %d tickets on %d pages with %d rows moved, want at most %d", firstPoll, n, need, len(moved), max)
			}
		})
	}
}

// Nothing moving: a burst costs its pages and not one more.
func TestWalkReadsEachPageOnce(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	job, _ := in.Job("incidents")
	burst := in.CreatedAt.Add(5 * time.Minute)
	v := newListVendor(burst.Add(2 * time.Second))
	for id := 1; id <= 3512; id++ {
		v.put(id, in.CreatedAt.Add(-time.Hour), burst)
	}
	v.pageCap = 30 // 35.12 pages of 100 past a cap of 30: read from both ends
	job = withMaxPages(job, 30)
	store := newPollStoreFake()
	p := &Poller{Source: v, Store: store, Clock: &FixedClock{T: burst.Add(time.Minute)}}
	res, err := p.Poll(context.Background(), in, job)
	if err != nil {
		t.Fatal(err)
	}
	// One page to meet the burst, 30 + 6 for the second from both ends, one past it, and the
	// deleted query.
	if res.Pages > 39 || res.Events != 3512 || len(res.Gaps) != 0 {
		t.Errorf("%d pages, %d events, gaps %q; want at most 39 pages and every ticket", res.Pages, res.Events, res.Gaps)
	}
	if res.Commits < 3 {
		t.Errorf("%d commits: a long walk commits as it goes", res.Commits)
	}
	// The second was read from both ends: the next poll starts after it, and the cursor keeps
	// none of its 3,512 pairs.
	cur, _, _ := store.Cursor(context.Background(), JobKey{InstanceID: in.ID, ObjectType: "incidents"})
	if m := cur.Streams[StreamChanges]; m == nil || !m.Past || len(m.Seen) != 0 {
		t.Errorf("cursor after the burst: %+v", m)
	}
}

// A long walk commits as it goes: its first events are in the store while it still reads, and each
// commit carries only what was read since the last.
func TestWalkCommitsAsItGoes(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	job, _ := in.Job("incidents")
	v := newListVendor(in.CreatedAt.Add(time.Hour))
	for id := 1; id <= 2500; id++ {
		v.put(id, in.CreatedAt.Add(-time.Hour), in.CreatedAt.Add(time.Duration(id)*time.Second))
	}
	store := newPollStoreFake()
	var seenWhileReading int
	v.onRequest = func(v *listVendor, k int) {
		if k == 15 {
			seenWhileReading = store.numCommits()
		}
	}
	p := &Poller{Source: v, Store: store, Clock: &FixedClock{T: v.now}}
	res, err := p.Poll(context.Background(), in, job)
	if err != nil || res.Events != 2500 {
		t.Fatalf("%+v, %v", res, err)
	}
	if seenWhileReading != 1 {
		t.Errorf("%d commits after 14 pages, want 1 (every 10 pages)", seenWhileReading)
	}
	total := 0
	for _, c := range store.commits {
		if len(c.Events) > 1000+100 {
			t.Errorf("a commit of %d events: more than a commit's pages hold", len(c.Events))
		}
		total += len(c.Events)
	}
	if total != 2500 {
		t.Errorf("%d events committed", total)
	}
}

// A poll that reaches its page budget commits what it read and goes on from there at its next turn.
func TestPollPageBudget(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	job, _ := in.Job("incidents")
	v := newListVendor(in.CreatedAt.Add(time.Hour))
	for id := 1; id <= 1000; id++ {
		v.put(id, in.CreatedAt.Add(-time.Hour), in.CreatedAt.Add(time.Duration(id)*time.Second))
	}
	store := newPollStoreFake()
	p := &Poller{Source: v, Store: store, Clock: &FixedClock{T: v.now}, PageBudget: 4}
	total := 0
	for i := range 4 {
		res, err := p.Poll(context.Background(), in, job)
		if err != nil {
			t.Fatal(err)
		}
		total += res.Events
		if i < 2 && (res.Stopped != "page budget" || res.Pages != 4) {
			t.Errorf("poll %d: %+v, want stopped by the page budget after 4 pages", i+1, res)
		}
	}
	if total != 1000 {
		t.Errorf("%d events over 4 polls, want every one of 1000 once", total)
	}
}

// A vendor that stalls is cut off at the poll's deadline; what was read is committed, and the poll
// ends as stopped, not failed. A deferral (a rate budget spent for long) ends it the same way.
func TestPollDeadlineAndDeferral(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := testInstance(t, "incidents", `{}`)
		job, _ := in.Job("incidents")
		v := newListVendor(in.CreatedAt.Add(time.Hour))
		for id := 1; id <= 300; id++ {
			v.put(id, in.CreatedAt.Add(-time.Hour), in.CreatedAt.Add(time.Duration(id)*time.Second))
		}
		stall := &stallSource{Source: v, after: 2}
		store := newPollStoreFake()
		p := &Poller{Source: stall, Store: store, Clock: SystemClock{}, Deadline: time.Minute}
		res, err := p.Poll(context.Background(), in, job)
		// The first page meets the changes, the second restarts from its last date.
		if err != nil || res.Stopped != "deadline" || res.Events != 199 {
			t.Errorf("stalled vendor: %+v, %v; want stopped at the deadline with 2 pages' events", res, err)
		}
		stall.deferUntil = time.Now().Add(time.Minute)
		res, err = p.Poll(context.Background(), in, job)
		if err != nil || !strings.HasPrefix(res.Stopped, "rate budget") {
			t.Errorf("deferred: %+v, %v", res, err)
		}
	})
}

// stallSource answers after pages with nothing, until the request is cancelled; or defers.
type stallSource struct {
	Source
	after      int
	n          int
	deferUntil time.Time
}

func (s *stallSource) Fetch(ctx context.Context, req Request) (Page, error) {
	if !s.deferUntil.IsZero() {
		return Page{}, deferredErr{s.deferUntil}
	}
	s.n++
	if s.n > s.after {
		<-ctx.Done()
		return Page{}, ctx.Err()
	}
	return s.Source.Fetch(ctx, req)
}

type deferredErr struct{ until time.Time }

func (e deferredErr) Error() string            { return "deferred" }
func (e deferredErr) DeferredUntil() time.Time { return e.until }

// exportVendor is a time-based export (Zendesk's organizations): records from start_time on,
// oldest first, at most per_page of them; end_time is the last one's updated time; next_page asks
// from end_time. More records in one second than a page holds make end_time equal start_time.
type exportVendor struct {
	records  []vTicket // sorted by updated
	requests []string
}

func (v *exportVendor) Fetch(_ context.Context, req Request) (Page, error) {
	u, _ := url.Parse(req.URL)
	q := u.Query()
	v.requests = append(v.requests, q.Encode())
	start, _ := strconv.ParseInt(q.Get("start_time"), 10, 64)
	size, _ := strconv.Atoi(q.Get("per_page"))
	var b strings.Builder
	b.WriteString(`{"organizations":[`)
	n, end := 0, start
	for _, r := range v.records {
		if r.updated.Unix() < start || n == size {
			continue
		}
		if n > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"created_at":%q,"updated_at":%q}`, r.id, r.created.Format(time.RFC3339), r.updated.Format(time.RFC3339))
		n, end = n+1, r.updated.Unix()
	}
	q.Set("start_time", strconv.FormatInt(end, 10))
	u.RawQuery = q.Encode()
	fmt.Fprintf(&b, `],"next_page":%q,"end_time":%d,"end_of_stream":%v}`, u.String(), end, n < size)
	return Page{URL: req.URL, Body: []byte(b.String())}, nil
}

// When even the vendor's largest page cannot page past a second of a time-based export, the rest
// of that second is reported as a gap and the walk moves past it; later changes keep arriving.
func TestWalkTimeExportGap(t *testing.T) {
	in := testInstanceOf(t, "zendesk", "accounts", `{}`)
	job, _ := in.Job("accounts")
	T := in.CreatedAt.Add(2 * time.Minute)
	v := &exportVendor{}
	for i := range 1200 {
		v.records = append(v.records, vTicket{id: 1000 + i, created: in.CreatedAt.Add(-time.Hour), updated: T})
	}
	v.records = append(v.records, vTicket{id: 5000, created: in.CreatedAt.Add(-time.Hour), updated: T.Add(time.Minute)})
	store := newPollStoreFake()
	p := &Poller{Source: v, Store: store, Clock: &FixedClock{T: T.Add(5 * time.Minute)}}
	res, err := p.Poll(context.Background(), in, job)
	if err != nil {
		t.Fatal(err)
	}
	got := collectEvents(store)
	if len(res.Gaps) != 1 || !strings.Contains(res.Gaps[0], "more than 1000 records were updated in the second") {
		t.Errorf("gaps %q, want one for the overfull second", res.Gaps)
	}
	if len(got.events) != 1001 || got.events["5000"].ID == "" {
		t.Errorf("%d records reported; want the 1000 of the second the largest page holds, and the later one", len(got.events))
	}
	if len(v.requests) > 6 {
		t.Errorf("%d requests: %q", len(v.requests), v.requests)
	}
	// The next poll goes on after that second: no loop.
	v.requests = nil
	if _, err := p.Poll(context.Background(), in, job); err != nil || len(v.requests) != 1 {
		t.Errorf("next poll: %d requests (%v)", len(v.requests), err)
	}
}

// A trial runs a poll without committing, and explains every record.
func TestTry(t *testing.T) {
	in := testInstance(t, "incidents", `{"url":"/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' AND status = 2"}`)
	job, _ := in.Job("incidents")
	v := newListVendor(in.CreatedAt.Add(time.Hour))
	v.put(1, in.CreatedAt.Add(-time.Hour), in.CreatedAt.Add(-time.Minute)) // before the window
	v.put(2, in.CreatedAt.Add(time.Minute), in.CreatedAt.Add(time.Minute))
	v.put(3, in.CreatedAt.Add(-time.Hour), in.CreatedAt.Add(2*time.Minute))
	store := newPollStoreFake()
	p := &Poller{Store: store, Clock: &FixedClock{T: v.now}}
	trial, err := p.Try(context.Background(), v, in, job, nil)
	if err != nil {
		t.Fatal(err)
	}
	if store.numCommits() != 0 {
		t.Error("a trial committed")
	}
	verdicts := map[string]string{}
	for _, r := range trial.Records {
		verdicts[r.Stream+" "+r.ID] = r.Verdict.String() + ": " + r.Reason
	}
	// ticketJSON gives status 2+id%4: ticket 2 has status 4, ticket 3 status 5... only id%4 == 0
	// passes status = 2.
	for k, want := range map[string]string{
		"changes 1": "below the window",
		"changes 2": "filtered: dropped by the where clause's residual conditions",
		"changes 3": "filtered: dropped by the where clause's residual conditions",
	} {
		if !strings.HasPrefix(verdicts[k], want) {
			t.Errorf("%s: %q, want %q", k, verdicts[k], want)
		}
	}
	if len(trial.Requests) != 2 || trial.Requests[0].Bytes == 0 || trial.Cursor.Streams[StreamChanges] == nil {
		t.Errorf("%d requests, cursor %+v", len(trial.Requests), trial.Cursor)
	}
}
