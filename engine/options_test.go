package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of Poller.Poll against the poller configuration options of the reference (§3), with a
// fake vendor and a fake store. Every date is on 2024-03-01 (UTC); the instance of testInstance
// was created at 10:00:00.

// pollSourceFake answers each poll's changes query and deleted query (the one carrying
// filter=deleted for tickets, state=deleted for contacts) with the pages set for them, in order,
// one page per request when the poll asks page by page, and records every request. The
// position in each stream's pages restarts when the step resets reqs.
type pollSourceFake struct {
	mu         sync.Mutex
	changes    [][]byte
	deleted    [][]byte
	err        error // returned by the changes query after its pages
	errDeleted error // returned by the deleted query after its pages
	reqs       []Request
	served     map[bool]int // pages served per stream (deleted or not) since reqs was reset
}

func (s *pollSourceFake) List(_ context.Context, req Request, fn func(Page) error) error {
	s.mu.Lock()
	if len(s.reqs) == 0 || s.served == nil {
		s.served = map[bool]int{}
	}
	s.reqs = append(s.reqs, req)
	del := isDeletedQuery(req)
	pages, err := s.changes, s.err
	if del {
		pages, err = s.deleted, s.errDeleted
	}
	s.mu.Unlock()
	for {
		s.mu.Lock()
		i := s.served[del]
		if i >= len(pages) {
			s.mu.Unlock()
			return err
		}
		s.served[del]++
		s.mu.Unlock()
		// A vendor about to fail says there is more.
		if e := fn(Page{Number: i + 1, Body: pages[i], HasNext: i+1 < len(pages) || err != nil}); e != nil {
			return e
		}
	}
}

func isDeletedQuery(req Request) bool {
	return req.Query.Get("filter") == "deleted" || req.Query.Get("state") == "deleted"
}

// pollStoreFake is an in-memory Store that keeps cursors as JSON, as a real store does.
type pollStoreFake struct {
	mu         sync.Mutex
	cursors    map[JobKey][]byte
	commits    []Commit
	failCommit error
}

func newPollStoreFake() *pollStoreFake { return &pollStoreFake{cursors: map[JobKey][]byte{}} }

func (s *pollStoreFake) Cursor(_ context.Context, key JobKey) (Cursor, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.cursors[key]
	if !ok {
		return Cursor{}, false, nil
	}
	var c Cursor
	err := json.Unmarshal(b, &c)
	return c, true, err
}

func (s *pollStoreFake) CommitPoll(_ context.Context, c Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCommit != nil {
		return s.failCommit
	}
	b, err := json.Marshal(c.Cursor)
	if err != nil {
		return err
	}
	s.cursors[c.Key] = b
	s.commits = append(s.commits, c)
	return nil
}

func (s *pollStoreFake) numCommits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.commits)
}

type clockFake struct{ t time.Time }

func (c *clockFake) Now() time.Time { return c.t }

// day1 returns 2024-03-01 at hh:mm:ss UTC.
func day1(hms string) time.Time {
	t, err := time.Parse(time.RFC3339, "2024-03-01T"+hms+"Z")
	if err != nil {
		panic(err)
	}
	return t
}

// tk is a ticket with the given id, created and updated times (hh:mm:ss on 2024-03-01, UTC).
func tk(id int, created, updated string) string {
	return ticketJSON(id, "2024-03-01T"+created+"Z", "2024-03-01T"+updated+"Z", "")
}

func jsonArray(recs []string) []byte { return []byte("[" + strings.Join(recs, ",") + "]") }

// pollStep is one poll of a scenario and what it must do.
type pollStep struct {
	now        string   // hh:mm:ss
	page       []string // records of the changes query's first page
	extraPages [][]string
	rawPage    string   // when set, the changes query's only page, as is
	deleted    []string // records of the deleted query
	srcErr     error    // the changes query fails after its pages
	delErr     error    // the deleted query fails after its pages
	commitErr  error    // the commit fails

	since   string   // the changes query's updated_since (hh:mm:ss); "" = not checked
	events  []string // "TYPE id hh:mm:ss", in order
	wantErr bool
	skipped int
	records int    // checked when > 0
	cursor  string // the changes stream's Since after the step (hh:mm:ss); "" = not checked
}

// runPollSteps polls one job of an instance once per step, in order, against one store.
func runPollSteps(t *testing.T, in *Instance, objectType string, steps []pollStep) {
	t.Helper()
	job, ok := in.Job(objectType)
	if !ok {
		t.Fatalf("instance has no job %q", objectType)
	}
	src := &pollSourceFake{}
	store := newPollStoreFake()
	clock := &clockFake{}
	p := &Poller{Source: src, Store: store, Clock: clock}
	key := JobKey{InstanceID: in.ID, ObjectType: objectType}
	for i, st := range steps {
		src.changes = [][]byte{jsonArray(st.page)}
		for _, pg := range st.extraPages {
			src.changes = append(src.changes, jsonArray(pg))
		}
		if st.rawPage != "" {
			src.changes = [][]byte{[]byte(st.rawPage)}
		}
		src.deleted = [][]byte{jsonArray(st.deleted)}
		src.err, src.errDeleted, src.reqs = st.srcErr, st.delErr, nil
		store.failCommit = st.commitErr
		clock.t = day1(st.now)
		before := store.numCommits()

		res, err := p.Poll(context.Background(), in, job)

		name := fmt.Sprintf("poll %d at %s", i+1, st.now)
		if st.since != "" {
			want := "2024-03-01T" + st.since + "Z"
			if len(src.reqs) == 0 {
				t.Errorf("%s: no vendor query", name)
			} else if got := src.reqs[0].Query.Get("updated_since"); got != want {
				t.Errorf("%s: updated_since = %q, want %q", name, got, want)
			}
		}
		if st.wantErr {
			if err == nil {
				t.Errorf("%s: no error", name)
			}
			if store.numCommits() != before {
				t.Errorf("%s: a failed poll committed", name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// One commit, or none from a poll that found nothing and left the cursor where it was.
		commits := store.numCommits() - before
		if commits > 1 || commits == 0 && len(st.events) > 0 {
			t.Fatalf("%s: %d commits, want 1", name, commits)
		}
		var c Commit
		if commits == 1 {
			c = store.commits[len(store.commits)-1]
		}
		var got []string
		for _, e := range c.Events {
			got = append(got, fmt.Sprintf("%s %s %s", e.Type, e.ObjectID, e.Date.UTC().Format("15:04:05")))
		}
		if !reflect.DeepEqual(got, st.events) {
			t.Errorf("%s: events\n got %q\nwant %q", name, got, st.events)
		}
		if res.Events != len(c.Events) {
			t.Errorf("%s: PollResult.Events = %d, committed %d", name, res.Events, len(c.Events))
		}
		if res.Skipped != st.skipped {
			t.Errorf("%s: skipped %d, want %d", name, res.Skipped, st.skipped)
		}
		if st.records > 0 && res.Records != st.records {
			t.Errorf("%s: records %d, want %d", name, res.Records, st.records)
		}
		if st.cursor != "" {
			cur, _, _ := store.Cursor(context.Background(), key)
			m := cur.Streams[StreamChanges]
			if m == nil {
				t.Errorf("%s: no changes mark committed", name)
			} else if !m.Since.Equal(day1(st.cursor)) {
				t.Errorf("%s: cursor since %s, want %s", name, m.Since.Format(time.RFC3339Nano), st.cursor)
			}
		}
	}
}

type pollCase struct {
	name     string
	resource string // "" = incidents
	poller   string
	steps    []pollStep
}

func runPollCases(t *testing.T, cases []pollCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := c.resource
			if res == "" {
				res = "incidents"
			}
			runPollSteps(t, testInstance(t, res, c.poller), res, c.steps)
		})
	}
}

const createdOnly = `{"filterByUpdatedDate": false,
	"datesConfiguration": {"createdDateField": "created_at", "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ssXXX"}}`

// filterByUpdatedDate false: the vendor's one date is the created date; every event is CREATED,
// dated and windowed on it; the updated date is ignored.
func TestPollFilterByUpdatedDateFalse(t *testing.T) {
	runPollCases(t, []pollCase{
		{name: "created date only", poller: createdOnly, steps: []pollStep{
			{now: "10:15:00", since: "09:58:00",
				page: []string{
					tk(1, "10:05:00", "10:10:00"),
					tk(2, "09:59:00", "10:12:00"), // created before the window: not a change
					tk(3, "10:07:00", "10:07:00"),
				},
				events: []string{"CREATED 1 10:05:00", "CREATED 3 10:07:00"},
				cursor: "10:07:00"},
			{now: "10:30:00", since: "10:07:00",
				page: []string{
					tk(1, "10:05:00", "10:20:00"), // updated again: the created date is before the window
					tk(3, "10:07:00", "10:25:00"), // created at the boundary, already reported
					tk(4, "10:20:00", "10:21:00"),
				},
				events: []string{"CREATED 4 10:20:00"},
				cursor: "10:20:00"},
		}},
		{name: "control: by updated date", poller: `{}`, steps: []pollStep{
			{now: "10:15:00", since: "09:58:00",
				page: []string{
					tk(1, "10:05:00", "10:10:00"),
					tk(2, "09:59:00", "10:12:00"),
					tk(3, "10:07:00", "10:07:00"),
				},
				events: []string{"CREATED 1 10:10:00", "UPDATED 2 10:12:00", "CREATED 3 10:07:00"},
				cursor: "10:12:00"},
		}},
	})
}

// filterByCurrentDate: a record changed after the poll's now is left for the next poll, which
// reports it once.
func TestPollFilterByCurrentDate(t *testing.T) {
	runPollCases(t, []pollCase{
		{name: "on", poller: `{"filterByCurrentDate": true}`, steps: []pollStep{
			{now: "10:15:00", since: "09:58:00",
				page: []string{
					tk(1, "09:00:00", "10:10:00"),
					tk(3, "09:00:00", "10:15:00"), // at now: inside
					tk(2, "09:00:00", "10:16:00"), // after now: next poll
				},
				events: []string{"UPDATED 1 10:10:00", "UPDATED 3 10:15:00"},
				cursor: "10:15:00"},
			{now: "10:30:00", since: "10:15:00",
				page:   []string{tk(3, "09:00:00", "10:15:00"), tk(2, "09:00:00", "10:16:00")},
				events: []string{"UPDATED 2 10:16:00"},
				cursor: "10:16:00"},
			{now: "10:45:00", since: "10:16:00",
				page:   []string{tk(2, "09:00:00", "10:16:00")},
				events: nil,
				cursor: "10:16:00"},
		}},
		{name: "off", poller: `{}`, steps: []pollStep{
			{now: "10:15:00", since: "09:58:00",
				page: []string{
					tk(1, "09:00:00", "10:10:00"),
					tk(3, "09:00:00", "10:15:00"),
					tk(2, "09:00:00", "10:16:00"),
				},
				events: []string{"UPDATED 1 10:10:00", "UPDATED 3 10:15:00", "UPDATED 2 10:16:00"},
				cursor: "10:16:00"},
			{now: "10:30:00", since: "10:16:00",
				page:   []string{tk(2, "09:00:00", "10:16:00")},
				events: nil},
		}},
	})
}

// pollDelay: each poll re-reads pollDelay seconds before the cursor; records in that overlap are
// reported when new, and not again when already reported.
func TestPollPollDelay(t *testing.T) {
	runPollCases(t, []pollCase{
		{name: "30s", poller: `{"pollDelay": 30}`, steps: []pollStep{
			{now: "10:15:00",
				page:   []string{tk(1, "09:00:00", "10:10:00")},
				events: []string{"UPDATED 1 10:10:00"},
				cursor: "10:10:00"},
			{now: "10:30:00", since: "10:09:30",
				page: []string{
					tk(5, "09:00:00", "10:09:45"), // in the overlap, not seen: reported
					tk(1, "09:00:00", "10:10:00"), // seen
					tk(6, "09:00:00", "10:20:00"),
				},
				events: []string{"UPDATED 5 10:09:45", "UPDATED 6 10:20:00"},
				cursor: "10:20:00"},
			{now: "10:45:00", since: "10:19:30",
				page: []string{
					tk(5, "09:00:00", "10:09:45"), // before the overlap
					tk(7, "09:00:00", "10:19:40"),
					tk(6, "09:00:00", "10:20:00"),
				},
				events: []string{"UPDATED 7 10:19:40"},
				cursor: "10:20:00"},
		}},
		{name: "control: no delay", poller: `{}`, steps: []pollStep{
			{now: "10:15:00", since: "09:58:00",
				page:   []string{tk(1, "09:00:00", "10:10:00")},
				events: []string{"UPDATED 1 10:10:00"}},
			{now: "10:30:00", since: "10:10:00",
				page:   []string{tk(5, "09:00:00", "10:09:45"), tk(1, "09:00:00", "10:10:00")},
				events: nil},
		}},
	})
}

// createdCheckTolerance: a record created up to that many seconds before the window is still
// new; a record already reported as created is UPDATED when it changes again.
func TestPollCreatedCheckTolerance(t *testing.T) {
	runPollCases(t, []pollCase{
		{name: "3s before the window, tolerance 5", poller: `{"createdCheckTolerance": 5}`, steps: []pollStep{
			{now: "10:15:00", page: []string{tk(1, "09:59:57", "10:00:30")}, events: []string{"CREATED 1 10:00:30"}},
		}},
		{name: "3s before the window, tolerance 0", poller: `{"createdCheckTolerance": 0}`, steps: []pollStep{
			{now: "10:15:00", page: []string{tk(1, "09:59:57", "10:00:30")}, events: []string{"UPDATED 1 10:00:30"}},
		}},
		{name: "6s before the window, tolerance 5", poller: `{"createdCheckTolerance": 5}`, steps: []pollStep{
			{now: "10:15:00", page: []string{tk(1, "09:59:54", "10:00:30")}, events: []string{"UPDATED 1 10:00:30"}},
		}},
		{name: "contacts default tolerance 5", resource: "contacts", poller: `{}`, steps: []pollStep{
			{now: "10:15:00",
				page: []string{
					`{"id":1,"name":"a","created_at":"2024-03-01T09:59:57Z","updated_at":"2024-03-01T10:00:30Z"}`,
					`{"id":2,"name":"b","created_at":"2024-03-01T09:59:54Z","updated_at":"2024-03-01T10:00:30Z"}`,
				},
				events: []string{"CREATED 1 10:00:30", "UPDATED 2 10:00:30"}},
		}},
		{name: "created, then updated 3s later", poller: `{"createdCheckTolerance": 5}`, steps: []pollStep{
			{now: "10:15:00", page: []string{tk(1, "10:05:00", "10:05:00")}, events: []string{"CREATED 1 10:05:00"}},
			{now: "10:30:00", since: "10:05:00", page: []string{tk(1, "10:05:00", "10:05:03")}, events: []string{"UPDATED 1 10:05:03"}},
		}},
		{name: "created, cursor moved on by another record, then updated", poller: `{"createdCheckTolerance": 5}`, steps: []pollStep{
			{now: "10:15:00",
				page:   []string{tk(1, "10:05:00", "10:05:00"), tk(2, "09:00:00", "10:05:04")},
				events: []string{"CREATED 1 10:05:00", "UPDATED 2 10:05:04"}},
			{now: "10:30:00", since: "10:05:04",
				page:   []string{tk(1, "10:05:00", "10:05:06")},
				events: []string{"UPDATED 1 10:05:06"}},
		}},
	})
}

// The poller configuration's own filter drops records (which still move the cursor, or they
// would be read again on every poll).
func TestPollConfigFilter(t *testing.T) {
	// ticketJSON gives priority 1+id%4: ids 1..4 have priorities 2, 3, 4, 1.
	page := []string{
		tk(1, "09:00:00", "10:01:00"), tk(2, "09:00:00", "10:02:00"),
		tk(3, "09:00:00", "10:03:00"), tk(4, "09:00:00", "10:04:00"),
	}
	runPollCases(t, []pollCase{
		{name: "priority", poller: `{"filter": "record.priority >= 3"}`, steps: []pollStep{
			{now: "10:15:00", page: page, events: []string{"UPDATED 2 10:02:00", "UPDATED 3 10:03:00"}, cursor: "10:04:00"},
			{now: "10:30:00", since: "10:04:00", page: page[3:], events: nil},
		}},
		{name: "nested field", poller: `{"filter": "record.custom_fields.cf_order_number == \"A-000003\""}`, steps: []pollStep{
			{now: "10:15:00", page: page, events: []string{"UPDATED 3 10:03:00"}},
		}},
		{name: "control: no filter", poller: `{}`, steps: []pollStep{
			{now: "10:15:00", page: page, events: []string{"UPDATED 1 10:01:00", "UPDATED 2 10:02:00", "UPDATED 3 10:03:00", "UPDATED 4 10:04:00"}},
		}},
	})
}

// Records that cannot be read are skipped and counted; the rest of the page still produces events.
func TestPollSkipsUnreadableRecords(t *testing.T) {
	runPollCases(t, []pollCase{
		{name: "mixed page", poller: `{}`, steps: []pollStep{
			{now: "10:15:00",
				page: []string{
					tk(1, "09:00:00", "10:01:00"),
					`{"subject":"no id","created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:02:00Z"}`,
					`{"id":null,"created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:02:00Z"}`,
					`{"id":{"n":5},"created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:02:00Z"}`,
					`{"id":7,"created_at":"2024-03-01T09:00:00Z","updated_at":"yesterday"}`,
					`{"id":8,"created_at":"2024-03-01T09:00:00Z","updated_at":null}`,
					`{"id":9,"created_at":"2024-03-01T09:00:00Z"}`,
					`{"id":10,"created_at":"garbage","updated_at":"2024-03-01T10:03:00Z"}`,
					`{"id":"T-9","created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:04:00Z"}`,
					tk(2, "09:00:00", "10:05:00"),
				},
				events:  []string{"UPDATED 1 10:01:00", "UPDATED T-9 10:04:00", "UPDATED 2 10:05:00"},
				skipped: 7, records: 10},
		}},
		{name: "second page after a bad record", poller: `{}`, steps: []pollStep{
			{now: "10:15:00",
				page:       []string{`{"id":7,"updated_at":"bad"}`},
				extraPages: [][]string{{tk(2, "09:00:00", "10:05:00")}},
				events:     []string{"UPDATED 2 10:05:00"},
				skipped:    1, records: 2},
		}},
	})
}

// An empty string is no id: such a record cannot be told apart from another one.
func TestPollSkipsEmptyID(t *testing.T) {
	runPollCases(t, []pollCase{
		{name: "empty id", poller: `{}`, steps: []pollStep{
			{now: "10:15:00",
				page:    []string{`{"id":"","created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:02:00Z"}`, tk(2, "09:00:00", "10:05:00")},
				events:  []string{"UPDATED 2 10:05:00"},
				skipped: 1},
		}},
	})
}

// A record that the vendor lists twice in one poll (pages shifting while they are read) is one
// change: it must give one event, not two with the same id.
func TestPollDuplicateWithinOnePoll(t *testing.T) {
	runPollCases(t, []pollCase{
		{name: "same record on two pages", poller: `{}`, steps: []pollStep{
			{now: "10:15:00",
				page:       []string{tk(1, "09:00:00", "10:05:00")},
				extraPages: [][]string{{tk(1, "09:00:00", "10:05:00"), tk(2, "09:00:00", "10:06:00")}},
				events:     []string{"UPDATED 1 10:05:00", "UPDATED 2 10:06:00"}},
		}},
	})
}

var errVendor = errors.New("vendor unavailable")

// A failed poll (vendor error on either query, a page that is not a list, a failed commit)
// commits nothing, and the next poll asks for the same window again.
func TestPollFailureKeepsCursor(t *testing.T) {
	ok1 := pollStep{now: "10:15:00", since: "09:58:00", page: []string{tk(1, "09:00:00", "10:05:00")},
		events: []string{"UPDATED 1 10:05:00"}, cursor: "10:05:00"}
	retry := pollStep{now: "10:45:00", since: "10:05:00", page: []string{tk(2, "09:00:00", "10:10:00")},
		events: []string{"UPDATED 2 10:10:00"}, cursor: "10:10:00"}
	failing := map[string]pollStep{
		"source error":         {srcErr: errVendor},
		"deleted query error":  {delErr: errVendor},
		"commit error":         {commitErr: errors.New("disk full")},
		"page is not an array": {rawPage: `{"error":"oops"}`},
	}
	var cases []pollCase
	for name, f := range failing {
		f.now, f.since, f.wantErr = "10:30:00", "10:05:00", true
		if f.rawPage == "" {
			f.page = []string{tk(2, "09:00:00", "10:10:00")}
		}
		cases = append(cases, pollCase{name: name, poller: `{}`, steps: []pollStep{ok1, f, retry}})
	}
	runPollCases(t, cases)

	// A first poll that fails leaves the next one at the instance's creation.
	runPollCases(t, []pollCase{{name: "first poll fails", poller: `{}`, steps: []pollStep{
		{now: "10:15:00", since: "09:58:00", page: []string{tk(1, "09:00:00", "10:05:00")}, srcErr: errVendor, wantErr: true},
		{now: "10:30:00", since: "09:58:00", page: []string{tk(1, "09:00:00", "10:05:00")}, events: []string{"UPDATED 1 10:05:00"}},
	}}})
}

// The first poll reads from the instance's creation, truncated to the second: nothing before it.
func TestPollFirstPollStartsAtCreation(t *testing.T) {
	page := []string{
		tk(1, "09:00:00", "09:59:59"),
		tk(2, "09:00:00", "10:00:00"),
		tk(3, "09:00:00", "10:00:01"),
	}
	for _, tc := range []struct {
		name    string
		created time.Time
	}{
		{"on the second", day1("10:00:00")},
		{"fraction", day1("10:00:00").Add(700 * time.Millisecond)},
		{"other zone", time.Date(2024, 3, 1, 11, 0, 0, 300, time.FixedZone("CET", 3600))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInstance(t, "incidents", `{}`)
			in.CreatedAt = tc.created
			runPollSteps(t, in, "incidents", []pollStep{
				{now: "10:15:00", since: "09:58:00", page: page,
					events: []string{"UPDATED 2 10:00:00", "UPDATED 3 10:00:01"}, cursor: "10:00:01"},
			})
		})
	}
	t.Run("nothing changed", func(t *testing.T) {
		in := testInstance(t, "incidents", `{}`)
		in.CreatedAt = day1("10:00:00").Add(700 * time.Millisecond)
		runPollSteps(t, in, "incidents", []pollStep{
			{now: "10:15:00", since: "09:58:00", page: []string{tk(1, "09:00:00", "09:59:59")}, cursor: "10:00:00"},
			{now: "10:30:00", since: "10:00:00", cursor: "10:00:00"},
		})
	})
}

// The cursor moves to the newest processed change date, whatever the clock says and in whatever
// order the vendor lists records; a poll with nothing new leaves it where it was.
func TestPollCursorFollowsRecords(t *testing.T) {
	runPollCases(t, []pollCase{{name: "newest processed", poller: `{}`, steps: []pollStep{
		{now: "10:15:00", since: "09:58:00",
			page:   []string{tk(1, "09:00:00", "10:07:00"), tk(2, "09:00:00", "10:03:00")},
			events: []string{"UPDATED 1 10:07:00", "UPDATED 2 10:03:00"}, cursor: "10:07:00"},
		{now: "10:30:00", since: "10:07:00", cursor: "10:07:00"},
		{now: "11:30:00", since: "10:07:00", page: []string{tk(3, "09:00:00", "10:20:00")},
			events: []string{"UPDATED 3 10:20:00"}, cursor: "10:20:00"},
	}}})

	// The deleted stream keeps its own mark.
	t.Run("deleted stream", func(t *testing.T) {
		in := testInstance(t, "incidents", `{}`)
		job, _ := in.Job("incidents")
		src := &pollSourceFake{
			changes: [][]byte{jsonArray([]string{tk(1, "09:00:00", "10:07:00")})},
			deleted: [][]byte{jsonArray([]string{tk(9, "09:00:00", "10:02:00")})},
		}
		store := newPollStoreFake()
		p := &Poller{Source: src, Store: store, Clock: &clockFake{t: day1("10:15:00")}}
		if _, err := p.Poll(context.Background(), in, job); err != nil {
			t.Fatal(err)
		}
		c := store.commits[0]
		if got := c.Cursor.Streams[StreamChanges].Since; !got.Equal(day1("10:07:00")) {
			t.Errorf("changes since %v", got)
		}
		if got := c.Cursor.Streams[StreamDeleted].Since; !got.Equal(day1("10:02:00")) {
			t.Errorf("deleted since %v", got)
		}
		var types []string
		for _, e := range c.Events {
			types = append(types, string(e.Type)+" "+e.ObjectID)
		}
		if want := []string{"UPDATED 1", "DELETED 9"}; !reflect.DeepEqual(types, want) {
			t.Errorf("events %v, want %v", types, want)
		}
		// The next poll asks each query from its own mark.
		src.reqs = nil
		if _, err := p.Poll(context.Background(), in, job); err != nil {
			t.Fatal(err)
		}
		for _, r := range src.reqs {
			want := "2024-03-01T10:07:00Z"
			if r.Query.Get("filter") == "deleted" {
				want = "2024-03-01T10:02:00Z"
			}
			if got := r.Query.Get("updated_since"); got != want {
				t.Errorf("%v: updated_since %s, want %s", r.Query, got, want)
			}
		}
	})
}
