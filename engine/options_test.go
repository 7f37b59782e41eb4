package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
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

func (s *pollSourceFake) Fetch(_ context.Context, req Request) (Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 || s.served == nil {
		s.served = map[bool]int{}
	}
	s.reqs = append(s.reqs, req)
	del := isDeletedQuery(req)
	pages, err := s.changes, s.err
	if del {
		pages, err = s.deleted, s.errDeleted
	}
	i := s.served[del]
	if i >= len(pages) {
		if err != nil {
			return Page{}, err
		}
		return Page{URL: req.URL, Body: []byte("[]")}, nil
	}
	s.served[del]++
	pg := Page{URL: req.URL, Body: pages[i], Header: http.Header{}}
	// A vendor about to fail says there is more.
	if i+1 < len(pages) || err != nil {
		pg.Header.Set("Link", "<"+req.URL+"&page="+strconv.Itoa(i+2)+`>; rel="next"`)
	}
	return pg, nil
}

func isDeletedQuery(req Request) bool {
	return req.query().Get("filter") == "deleted" || req.query().Get("state") == "deleted"
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

	skip []string // record keys an operator skipped before the step

	since   string   // the changes query's updated_since (hh:mm:ss); "" = not checked
	events  []string // "TYPE id hh:mm:ss", in order, committed by the step
	wantErr bool     // the poll fails (what it read whole before is committed all the same)
	held    string   // the key of the record that holds the stream; "" = none
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
	clock := &FixedClock{}
	var skips []string
	p := &Poller{Source: src, Store: store, Clock: clock, Skips: func(JobKey) []string { return skips }}
	key := JobKey{InstanceID: in.ID, ObjectType: objectType}
	for i, st := range steps {
		src.changes = nil
		if st.page != nil {
			src.changes = [][]byte{jsonArray(st.page)}
		}
		for _, pg := range st.extraPages {
			src.changes = append(src.changes, jsonArray(pg))
		}
		if st.rawPage != "" {
			// A vendor that answers every try so.
			src.changes = [][]byte{[]byte(st.rawPage), []byte(st.rawPage), []byte(st.rawPage), []byte(st.rawPage)}
		}
		skips = st.skip
		src.deleted = [][]byte{jsonArray(st.deleted)}
		src.err, src.errDeleted, src.reqs = st.srcErr, st.delErr, nil
		store.failCommit = st.commitErr
		clock.T = day1(st.now)
		before := store.numCommits()

		res, err := p.Poll(context.Background(), in, job)

		name := fmt.Sprintf("poll %d at %s", i+1, st.now)
		if st.since != "" {
			want := "2024-03-01T" + st.since + "Z"
			if len(src.reqs) == 0 {
				t.Errorf("%s: no vendor query", name)
			} else if got := src.reqs[0].query().Get("updated_since"); got != want {
				t.Errorf("%s: updated_since = %q, want %q", name, got, want)
			}
		}
		switch {
		case st.wantErr && err == nil:
			t.Errorf("%s: no error", name)
		case !st.wantErr && err != nil:
			t.Fatalf("%s: %v", name, err)
		}
		if res.HeldKey != st.held {
			t.Errorf("%s: held by %q (%s), want %q", name, res.HeldKey, res.Held, st.held)
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
// A record that does not read (no id, an id that is no string or number, a date that does not
// parse or is missing) holds its stream: what came before it is reported, the stream's position
// stays below it, and it is reported (PollResult.Held) until it reads, or an operator skips it.
// Nothing after it is dropped.
func TestPollHoldsOnUnreadableRecords(t *testing.T) {
	digest := func(rec string) string {
		sum := sha256.Sum256([]byte(rec))
		return "sha256:" + hex.EncodeToString(sum[:8])
	}
	noID := `{"subject":"no id","created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:02:00Z"}`
	nullID := `{"id":null,"created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:02:00Z"}`
	objectID := `{"id":{"n":5},"created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:02:00Z"}`
	emptyID := `{"id":"","created_at":"2024-03-01T09:00:00Z","updated_at":"2024-03-01T10:02:00Z"}`
	bad := []struct{ name, rec, key string }{
		{"no id", noID, digest(noID)},
		{"null id", nullID, digest(nullID)},
		{"object id", objectID, digest(objectID)},
		{"empty id", emptyID, digest(emptyID)},
		{"bad date", `{"id":7,"created_at":"2024-03-01T09:00:00Z","updated_at":"yesterday"}`, "7"},
		{"null date", `{"id":8,"created_at":"2024-03-01T09:00:00Z","updated_at":null}`, "8"},
		{"no date", `{"id":9,"created_at":"2024-03-01T09:00:00Z"}`, "9"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			runPollSteps(t, testInstance(t, "incidents", `{}`), "incidents", []pollStep{
				{now: "10:15:00", page: []string{tk(1, "09:00:00", "10:01:00"), b.rec, tk(2, "09:00:00", "10:05:00")},
					events: []string{"UPDATED 1 10:01:00"}, held: b.key, records: 2, cursor: "10:01:00"},
				// Still there: still held, nothing reported twice.
				{now: "10:30:00", since: "10:01:00", page: []string{tk(1, "09:00:00", "10:01:00"), b.rec, tk(2, "09:00:00", "10:05:00")},
					held: b.key, cursor: "10:01:00"},
				// Skipped by an operator: the stream reads past it.
				{now: "10:45:00", since: "10:01:00", skip: []string{b.key}, page: []string{tk(1, "09:00:00", "10:01:00"), b.rec, tk(2, "09:00:00", "10:05:00")},
					events: []string{"UPDATED 2 10:05:00"}, skipped: 1, cursor: "10:05:00"},
			})
		})
	}
	// A record that reads again (the vendor served it broken once) releases the stream.
	runPollSteps(t, testInstance(t, "incidents", `{}`), "incidents", []pollStep{
		{now: "10:15:00", page: []string{`{"id":7,"updated_at":"bad"}`}, extraPages: [][]string{{tk(2, "09:00:00", "10:05:00")}},
			held: "7", records: 1},
		{now: "10:30:00", page: []string{tk(7, "09:00:00", "10:03:00"), tk(2, "09:00:00", "10:05:00")},
			events: []string{"UPDATED 7 10:03:00", "UPDATED 2 10:05:00"}, cursor: "10:05:00"},
	})
	// A created date that does not read does not hold: the record changed, and cannot be told
	// new, so it is UPDATED.
	runPollSteps(t, testInstance(t, "incidents", `{}`), "incidents", []pollStep{
		{now: "10:15:00", page: []string{`{"id":10,"created_at":"garbage","updated_at":"2024-03-01T10:03:00Z"}`, tk(2, "09:00:00", "10:05:00")},
			events: []string{"UPDATED 10 10:03:00", "UPDATED 2 10:05:00"}, cursor: "10:05:00"},
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

// A poll that fails commits what it read whole before the failure, and nothing past it: the
// cursor stays at the last record read, and the next poll goes on from there. A page that is not
// a list fails the poll after a few tries; a failed commit writes nothing.
func TestPollFailureKeepsCursor(t *testing.T) {
	ok1 := pollStep{now: "10:15:00", since: "09:58:00", page: []string{tk(1, "09:00:00", "10:05:00")},
		events: []string{"UPDATED 1 10:05:00"}, cursor: "10:05:00"}
	next := func(since string) pollStep {
		return pollStep{now: "10:45:00", since: since, page: []string{tk(2, "09:00:00", "10:10:00"), tk(3, "09:00:00", "10:20:00")},
			events: []string{"UPDATED 3 10:20:00"}, cursor: "10:20:00"}
	}
	retry := pollStep{now: "10:45:00", since: "10:05:00", page: []string{tk(2, "09:00:00", "10:10:00")},
		events: []string{"UPDATED 2 10:10:00"}, cursor: "10:10:00"}
	runPollCases(t, []pollCase{
		{name: "source error after a page", poller: `{}`, steps: []pollStep{ok1,
			{now: "10:30:00", since: "10:05:00", page: []string{tk(2, "09:00:00", "10:10:00")}, srcErr: errVendor, wantErr: true,
				events: []string{"UPDATED 2 10:10:00"}, cursor: "10:10:00"},
			next("10:10:00")}},
		{name: "source error on the first page", poller: `{}`, steps: []pollStep{ok1,
			{now: "10:30:00", since: "10:05:00", srcErr: errVendor, wantErr: true, cursor: "10:05:00"},
			retry}},
		{name: "deleted query error", poller: `{}`, steps: []pollStep{ok1,
			{now: "10:30:00", since: "10:05:00", page: []string{tk(2, "09:00:00", "10:10:00")}, delErr: errVendor, wantErr: true,
				events: []string{"UPDATED 2 10:10:00"}, cursor: "10:10:00"},
			next("10:10:00")}},
		{name: "commit error", poller: `{}`, steps: []pollStep{ok1,
			{now: "10:30:00", since: "10:05:00", page: []string{tk(2, "09:00:00", "10:10:00")}, commitErr: errors.New("disk full"), wantErr: true, cursor: "10:05:00"},
			retry}},
		{name: "page is not an array", poller: `{}`, steps: []pollStep{ok1,
			{now: "10:30:00", since: "10:05:00", rawPage: `{"error":"oops"}`, wantErr: true, cursor: "10:05:00"},
			retry}},
		// A first poll that fails before any page leaves the next one at the instance's creation.
		{name: "first poll fails", poller: `{}`, steps: []pollStep{
			{now: "10:15:00", since: "09:58:00", srcErr: errVendor, wantErr: true},
			{now: "10:30:00", since: "09:58:00", page: []string{tk(1, "09:00:00", "10:05:00")}, events: []string{"UPDATED 1 10:05:00"}},
		}},
	})
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
		p := &Poller{Source: src, Store: store, Clock: &FixedClock{T: day1("10:15:00")}}
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
			if r.query().Get("filter") == "deleted" {
				want = "2024-03-01T10:02:00Z"
			}
			if got := r.query().Get("updated_since"); got != want {
				t.Errorf("%v: updated_since %s, want %s", r.query(), got, want)
			}
		}
	})
}

// A vendor that hides its most recent changes (Zendesk's exports: the last minute, minAge) shows a
// record created and changed again within that window only after the cursor has passed its
// creation; it is still CREATED, once.
func TestPollMinAgeKeepsCreated(t *testing.T) {
	page := func(recs ...string) string {
		return `{"tickets":[` + strings.Join(recs, ",") + `],"after_cursor":"c","end_of_stream":true}`
	}
	zt := func(id int, created, updated string) string {
		return fmt.Sprintf(`{"id":%d,"status":"open","created_at":"2024-03-01T%sZ","updated_at":"2024-03-01T%sZ"}`, id, created, updated)
	}
	in := testInstanceOf(t, "zendesk", "incidents", `{}`)
	runPollSteps(t, in, "incidents", []pollStep{
		// 10:05: the export shows changes up to 10:04; A moves the cursor to 10:03:50.
		{now: "10:05:00", rawPage: page(zt(1, "10:03:50", "10:03:50")), events: []string{"CREATED 1 10:03:50"}},
		// 10:06: B, created at 10:03:30 and changed at 10:04:20, shows for the first time.
		{now: "10:06:00", rawPage: page(zt(2, "10:03:30", "10:04:20")), events: []string{"CREATED 2 10:04:20"}},
		// Changed again later: UPDATED, never CREATED twice.
		{now: "10:07:00", rawPage: page(zt(2, "10:03:30", "10:05:10")), events: []string{"UPDATED 2 10:05:10"}},
	})
}
