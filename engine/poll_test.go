package engine_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/enginetest"
)

// pollerFor returns a poller of an instance polling Freshdesk tickets, over fakes, at 10:15 on the
// instance's creation day.
func pollerFor(t *testing.T) (*engine.Poller, *engine.Instance, *engine.JobSpec, *countingStore, *enginetest.PageSource) {
	t.Helper()
	in := engine.NewTestInstance(t, "incidents", `{"url":"/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'"}`)
	job, _ := in.Job("incidents")
	store := &countingStore{MemStore: enginetest.NewMemStore()}
	src := &enginetest.PageSource{}
	p := &engine.Poller{Source: src, Store: store, Clock: &engine.FixedClock{T: in.CreatedAt.Add(15 * time.Minute)}, Account: benchAccount}
	return p, in, job, store, src
}

// A record whose id and dates read well but that is not valid JSON cannot reach a receiver: the
// notification is not built, the poll fails and commits nothing, and the cursor stays.
func TestPollFailsOnRecordThatIsNotJSON(t *testing.T) {
	for name, extra := range map[string]string{
		"bad literal":      `,"flag":tru`,
		"trailing comma":   `,"tags2":["a",]`,
		"control in value": ",\"s\":\"a\x01b\"",
	} {
		t.Run(name, func(t *testing.T) {
			p, in, job, store, src := pollerFor(t)
			good := engine.TicketJSON(1, "2024-03-01T10:01:00Z", "2024-03-01T10:01:00Z", "")
			bad := engine.TicketJSON(2, "2024-03-01T10:02:00Z", "2024-03-01T10:02:00Z", extra)
			src.Answers = [][][]byte{{[]byte("[" + good + "," + bad + "]")}}
			res, err := p.Poll(context.Background(), in, job)
			if err == nil || !strings.Contains(err.Error(), "record 2: ") {
				t.Fatalf("poll: %+v, error %v; want an error", res, err)
			}
			if store.commits != 0 || len(store.Events) != 0 {
				t.Fatalf("%d commits, %d events stored; want none", store.commits, len(store.Events))
			}
			if _, found, _ := store.Cursor(context.Background(), engine.JobKey{InstanceID: in.ID, ObjectType: "incidents"}); found {
				t.Fatal("a cursor was written")
			}
		})
	}
}

// A poll that finds nothing and leaves the cursor where it was writes nothing; a first poll, a
// poll with events and a poll that moves the cursor without events all commit.
func TestIdlePollDoesNotCommit(t *testing.T) {
	ctx := context.Background()
	p, in, job, store, src := pollerFor(t)
	key := engine.JobKey{InstanceID: in.ID, ObjectType: "incidents"}
	ticket := func(id int, updated, extra string) string {
		return engine.TicketJSON(id, "2024-02-01T09:00:00Z", updated, extra)
	}
	cursor := func() engine.Cursor {
		t.Helper()
		c, found, err := store.Cursor(ctx, key)
		if err != nil || !found {
			t.Fatalf("cursor: found %v, %v", found, err)
		}
		return c
	}
	for i, step := range []struct {
		name    string
		page    string // the changes query's answer; the deleted query answers an empty page
		events  int
		commits bool
		since   string // the changes stream's Since after the poll
	}{
		{"first poll, nothing found: the origin is recorded", `[]`, 0, true, "2024-03-01T10:00:00Z"},
		{"nothing found", `[]`, 0, false, "2024-03-01T10:00:00Z"},
		{"two changes", "[" + ticket(1, "2024-03-01T10:05:00Z", "") + "," + ticket(2, "2024-03-01T10:05:00Z", "") + "]", 2, true, "2024-03-01T10:05:00Z"},
		{"the boundary second read again", "[" + ticket(1, "2024-03-01T10:05:00Z", "") + "," + ticket(2, "2024-03-01T10:05:00Z", "") + "]", 0, false, "2024-03-01T10:05:00Z"},
		{"nothing found again", `[]`, 0, false, "2024-03-01T10:05:00Z"},
		// Deleted, as the changes query shows it: the deleted query reports it, not this one,
		// but the cursor moves past it.
		{"a change without an event", "[" + ticket(3, "2024-03-01T10:07:00Z", `,"deleted":true`) + "]", 0, true, "2024-03-01T10:07:00Z"},
		{"and again", "[" + ticket(3, "2024-03-01T10:07:00Z", `,"deleted":true`) + "]", 0, false, "2024-03-01T10:07:00Z"},
	} {
		commits := store.commits
		src.Answers = [][][]byte{{[]byte(step.page)}}
		res, err := p.Poll(ctx, in, job)
		if err != nil {
			t.Fatalf("poll %d (%s): %v", i+1, step.name, err)
		}
		if res.Events != step.events {
			t.Errorf("poll %d (%s): %d events, want %d", i+1, step.name, res.Events, step.events)
		}
		if got := store.commits - commits; got != map[bool]int{false: 0, true: 1}[step.commits] {
			t.Errorf("poll %d (%s): %d commits, want commit %v", i+1, step.name, got, step.commits)
		}
		c := cursor()
		if got := c.Streams[engine.StreamChanges].Since.Format(time.RFC3339); got != step.since {
			t.Errorf("poll %d (%s): cursor at %s, want %s", i+1, step.name, got, step.since)
		}
	}
}

// A second whose changes fill several pages is read to its end once the vendor's clock has passed it; polls after that start after it: one request
// per stream while nothing changes, not the whole second again every poll. A poll that read the
// second while it was still current (by the vendor's Date header) reads it again next time.
func TestBusySecondIsNotReadAgain(t *testing.T) {
	const second = "2024-03-01T10:05:00Z"
	tickets := func(from, n int) []byte {
		var b strings.Builder
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(engine.TicketJSON(from+i, second, second, ""))
		}
		return []byte(b.String() + "]")
	}
	busy := [][]byte{tickets(1, 3), tickets(4, 3), tickets(7, 2)} // one second, three pages
	for _, tc := range []struct {
		name      string
		vendorNow string // the vendor's clock when the busy second is read
		reread    bool   // the next poll reads the second again
	}{
		{"read after the second ended", "2024-03-01T10:05:02Z", false},
		{"read while the second was current", "2024-03-01T10:05:00.400Z", true},
		{"read within a second of its end", "2024-03-01T10:05:01.500Z", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p, in, job, _, src := pollerFor(t)
			src.Now, _ = time.Parse(time.RFC3339, tc.vendorNow)
			src.Answers = [][][]byte{{[]byte("[]")}, {[]byte("[]")}} // the first poll: nothing yet
			if _, err := p.Poll(ctx, in, job); err != nil {
				t.Fatal(err)
			}
			// The walk meets the second on its first page, restarts from it and reads its three
			// pages; nothing left the second while it was read, so nothing is read again; then the
			// deleted query.
			src.Answers = [][][]byte{append([][]byte{busy[0]}, busy...), {[]byte("[]")}}
			src.Requests = nil
			res, err := p.Poll(ctx, in, job)
			if err != nil || res.Events != 8 {
				t.Fatalf("busy poll: %+v, %v; want 8 events", res, err)
			}
			if len(src.Requests) != 5 {
				t.Fatalf("busy poll: %d requests, want 5 (the first page, the 3 of the second, the deleted query)", len(src.Requests))
			}
			src.Now = src.Now.Add(time.Minute)
			for poll := range 3 {
				src.Requests = nil
				if tc.reread && poll == 0 {
					src.Answers = [][][]byte{busy, {[]byte("[]")}}
				} else {
					src.Answers = [][][]byte{{[]byte("[]")}, {[]byte("[]")}}
				}
				res, err := p.Poll(ctx, in, job)
				if err != nil || res.Events != 0 {
					t.Fatalf("poll %d after: %+v, %v; want no events", poll+1, res, err)
				}
				from := query(t, src.Requests[0]).Get("updated_since")
				want, wantFrom := 2, "2024-03-01T10:05:01Z"
				if tc.reread && poll == 0 {
					want, wantFrom = 4, second
				}
				if len(src.Requests) != want || from != wantFrom {
					t.Errorf("poll %d after: %d requests from %s, want %d from %s", poll+1, len(src.Requests), from, want, wantFrom)
				}
			}
		})
	}
}

// query returns a request URL's query.
func query(t *testing.T, r engine.Request) url.Values {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
