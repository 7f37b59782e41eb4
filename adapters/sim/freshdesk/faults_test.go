package freshdesk

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestTieOrderFollowsDirection(t *testing.T) {
	h := newHarness(t, Options{})
	for range 4 {
		h.s.CreateTicket(map[string]any{"status": 2}) // 1-4, one second
	}
	h.clock.Advance(time.Second)
	h.s.CreateTicket(map[string]any{"status": 3}) // 5
	for q, want := range map[string][]int64{
		"?order_type=asc":                      {1, 2, 3, 4, 5},
		"?order_type=desc":                     {5, 4, 3, 2, 1},
		"":                                     {5, 4, 3, 2, 1},
		"?order_by=updated_at&order_type=asc":  {1, 2, 3, 4, 5},
		"?order_by=updated_at&order_type=desc": {5, 4, 3, 2, 1},
		"?order_by=status&order_type=asc":      {1, 2, 3, 4, 5},
		"?order_by=status&order_type=desc":     {5, 4, 3, 2, 1},
		"?order_by=due_by&order_type=desc":     {5, 4, 3, 2, 1},
		"?order_type=desc&per_page=2&page=2":   {3, 2},
		"?order_type=asc&per_page=2&page=2":    {3, 4},
		"?order_by=updated_at&updated_since=2026-03-10T12:00:15Z&order_type=desc&per_page=3": {5, 4, 3},
	} {
		if got := h.ids(h.get("/api/v2/tickets" + q)); !slices.Equal(got, want) {
			t.Errorf("%s: got %v want %v", q, got, want)
		}
	}
}

func TestSameSecondBurstBothDirections(t *testing.T) {
	h := newHarness(t, Options{PageCap: 2})
	ids := h.s.BurstCreateTickets(250, nil)
	if len(ids) != 250 || ids[0] != 1 || ids[249] != 250 {
		t.Fatalf("ids %d: %v...", len(ids), ids[:3])
	}
	for _, id := range []int64{1, 125, 250} {
		tk, _ := h.s.Ticket(id)
		if tk["created_at"] != "2026-03-10T12:00:15Z" || tk["updated_at"] != "2026-03-10T12:00:15Z" {
			t.Fatalf("ticket %d: %v %v", id, tk["created_at"], tk["updated_at"])
		}
	}
	const capBody = `{"description":"Validation failed","errors":[{"field":"page","message":"You cannot access tickets beyond the 2nd page. Please provide a smaller page number.","code":"invalid_value"}]}`
	walkBoth := func(since string) (asc, desc []int64) {
		t.Helper()
		for _, dir := range []string{"asc", "desc"} {
			got, pages, last := h.walk("/api/v2/tickets?updated_since=" + since + "&order_by=updated_at&per_page=100&order_type=" + dir)
			if pages != 2 || len(got) != 200 || last.status != 400 || string(last.body) != capBody {
				t.Fatalf("%s: pages %d ids %d last %d %s", dir, pages, len(got), last.status, last.body)
			}
			if dir == "asc" {
				asc = got
			} else {
				desc = got
			}
		}
		return asc, desc
	}
	check := func(asc, desc []int64) {
		t.Helper()
		if asc[0] != 1 || asc[199] != 200 || desc[0] != 250 || desc[199] != 51 {
			t.Errorf("asc %d..%d desc %d..%d", asc[0], asc[199], desc[0], desc[199])
		}
		union := map[int64]bool{}
		for _, id := range append(slices.Clone(asc), desc...) {
			union[id] = true
		}
		if len(union) != 250 {
			t.Errorf("both directions reach %d of 250", len(union))
		}
	}
	check(walkBoth("2026-03-10T12:00:15Z"))

	// A burst of updates: one second, later than the creations.
	h.clock.Advance(time.Minute)
	if err := h.s.BurstUpdateTickets(ids, map[string]any{"priority": 3}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 250} {
		if tk, _ := h.s.Ticket(id); tk["updated_at"] != "2026-03-10T12:01:15Z" || tk["priority"] != int64(3) {
			t.Errorf("ticket %d: %v %v", id, tk["updated_at"], tk["priority"])
		}
	}
	check(walkBoth("2026-03-10T12:01:15Z"))

	// All or nothing.
	h.clock.Advance(time.Minute)
	if err := h.s.DeleteTicket(7); err != nil {
		t.Fatal(err)
	}
	if err := h.s.BurstUpdateTickets([]int64{1, 2, 999}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing id: %v", err)
	}
	if err := h.s.BurstUpdateTickets([]int64{1, 7}, nil); !errors.Is(err, ErrDeleted) {
		t.Errorf("deleted id: %v", err)
	}
	if err := h.s.BurstUpdateTickets([]int64{1, 2}, map[string]any{"priority": 9}); err == nil {
		t.Error("invalid priority accepted")
	}
	if tk, _ := h.s.Ticket(1); tk["updated_at"] != "2026-03-10T12:01:15Z" {
		t.Errorf("failed bursts changed ticket 1: %v", tk["updated_at"])
	}
	if err := h.s.BurstUpdateTickets([]int64{1, 2}, nil); err != nil {
		t.Fatal(err)
	}
	if tk, _ := h.s.Ticket(2); tk["updated_at"] != "2026-03-10T12:02:15Z" {
		t.Errorf("touch-only burst: %v", tk["updated_at"])
	}
}

func TestOnListPageShiftAcrossPageBoundary(t *testing.T) {
	h := newHarness(t, Options{})
	for range 6 {
		h.s.CreateTicket(nil) // 1..6, one second apart
		h.clock.Advance(time.Second)
	}
	var calls []string
	var mu sync.Mutex
	h.s.OnListPage(func(resource string, page int) {
		mu.Lock()
		calls = append(calls, fmt.Sprint(resource, " ", page))
		mu.Unlock()
		if resource == "tickets" && page == 2 {
			// Between pages 1 and 2: ticket 1, already delivered, is updated and moves to the tail.
			if _, err := h.s.UpdateTicket(1, map[string]any{"priority": 4}); err != nil {
				t.Error(err)
			}
		}
	})
	const first = "/api/v2/tickets?updated_since=2026-03-10T00:00:00Z&order_by=updated_at&order_type=asc&per_page=3"
	got, pages, _ := h.walk(first)
	// A naive page+1 walker sees 1 2 3 | 5 6 1: ticket 4 slid onto page 1 and is never seen.
	if want := []int64{1, 2, 3, 5, 6, 1}; pages != 2 || !slices.Equal(got, want) {
		t.Errorf("walk %v (pages %d), want %v", got, pages, want)
	}
	h.get("/api/v2/contacts?page=x")
	h.do("GET", "/api/v2/groups", nil, map[string]string{"Authorization": ""}) // before auth
	h.get("/api/v2/tickets/1")                                                 // not a list
	mu.Lock()
	if want := []string{"tickets 1", "tickets 2", "contacts 0", "groups 1"}; !slices.Equal(calls, want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	mu.Unlock()

	h.s.OnListPage(nil)
	h.get("/api/v2/tickets")
	mu.Lock()
	if len(calls) != 4 {
		t.Errorf("removed callback still called: %v", calls)
	}
	mu.Unlock()
}

func TestShiftDuringWalk(t *testing.T) {
	run := func(p float64) (seen map[int64]bool, shifted int) {
		h := newHarness(t, Options{Seed: 3, ShiftDuringWalk: p})
		for range 20 {
			h.s.CreateContact(nil)
			h.s.CreateTicket(nil)
			h.clock.Advance(time.Second)
		}
		before := len(h.s.Changes())
		seen = map[int64]bool{}
		for _, first := range []string{
			"/api/v2/tickets?updated_since=2026-03-10T00:00:00Z&order_by=updated_at&order_type=asc&per_page=4",
			"/api/v2/contacts?per_page=4",
		} {
			ids, _, _ := h.walk(first)
			for _, id := range ids {
				seen[id] = true
			}
		}
		for _, c := range h.s.Changes()[before:] {
			if c.Kind != "updated" || c.UpdatedAt != time.Date(2026, 3, 10, 12, 0, 35, 0, time.UTC) {
				t.Errorf("shift change %+v", c)
			}
			shifted++
		}
		return seen, shifted
	}
	seen, shifted := run(0)
	if len(seen) != 40 || shifted != 0 {
		t.Fatalf("knob off: saw %d of 40, %d shifts", len(seen), shifted)
	}
	seen, shifted = run(1)
	t.Logf("knob on: saw %d of 40, %d shifts", len(seen), shifted)
	if shifted < 4 || len(seen) >= 40 { // pages from 2 on shift one record each; some are missed
		t.Errorf("knob on: saw %d of 40, %d shifts", len(seen), shifted)
	}
	seen2, shifted2 := run(1)
	if shifted2 != shifted || len(seen2) != len(seen) {
		t.Errorf("not deterministic: %d/%d vs %d/%d", shifted, len(seen), shifted2, len(seen2))
	}
}

func TestVisibleAfter(t *testing.T) {
	h := newHarness(t, Options{VisibleAfter: 30 * time.Second}) // clock at 12:00:15.5
	c := h.s.CreateContact(nil)
	tk := h.s.CreateTicket(nil) // requested by c
	co := h.s.CreateCompany(nil)
	lists := []string{"/api/v2/tickets", "/api/v2/contacts", "/api/v2/companies"}
	want := func(n int) {
		t.Helper()
		for _, l := range lists {
			if got := h.ids(h.get(l)); len(got) != n {
				t.Errorf("%s at %s: %v, want %d rows", l, h.clock.Now().Format(time.TimeOnly), got, n)
			}
		}
	}
	want(0)
	for _, v := range []string{fmt.Sprintf("/api/v2/tickets/%d", id(tk)), fmt.Sprintf("/api/v2/contacts/%d", id(c)), fmt.Sprintf("/api/v2/companies/%d", id(co))} {
		h.wantStatus(h.get(v), 200) // views see writes at once
	}
	h.clock.Advance(29 * time.Second) // 12:00:44.5 < 12:00:15 + 30s
	want(0)
	h.clock.Advance(500 * time.Millisecond) // 12:00:45
	want(1)
	if _, err := h.s.UpdateTicket(id(tk), map[string]any{"priority": 2}); err != nil { // written again at 12:00:45
		t.Fatal(err)
	}
	if got := h.ids(h.get("/api/v2/tickets")); len(got) != 0 {
		t.Errorf("updated ticket still listed: %v", got)
	}
	h.s.SetVisibleAfter(0)
	if got := h.ids(h.get("/api/v2/tickets")); len(got) != 1 {
		t.Errorf("VisibleAfter 0: %v", got)
	}
}

func TestSkew(t *testing.T) {
	h := newHarness(t, Options{Skew: -90 * time.Second}) // real 12:00:15.5, vendor 11:58:45.5
	tk := h.s.CreateTicket(nil)
	if tk["created_at"] != "2026-03-10T11:58:45Z" || tk["updated_at"] != "2026-03-10T11:58:45Z" {
		t.Errorf("stamps %v %v", tk["created_at"], tk["updated_at"])
	}
	if got := h.s.VendorNow(); !got.Equal(t0.Add(-90 * time.Second)) {
		t.Errorf("VendorNow %v", got)
	}
	r := h.do("POST", "/api/v2/contacts", map[string]any{"name": "Skewed", "email": "skew@example.com"}, nil)
	h.wantStatus(r, 201)
	var c map[string]any
	r.json(t, &c)
	if c["created_at"] != "2026-03-10T11:58:45Z" || r.hdr.Get("Date") != "Tue, 10 Mar 2026 11:58:45 GMT" {
		t.Errorf("created_at %v Date %q", c["created_at"], r.hdr.Get("Date"))
	}
	h.s.SetSkew(time.Hour)
	for _, hdr := range []map[string]string{nil, {"Authorization": ""}} { // every answer has the Date
		r = h.do("GET", "/api/v2/tickets", nil, hdr)
		if r.hdr.Get("Date") != "Tue, 10 Mar 2026 13:00:15 GMT" {
			t.Errorf("Date %q (status %d)", r.hdr.Get("Date"), r.status)
		}
	}
	up, err := h.s.UpdateTicket(id(tk), map[string]any{"priority": 2})
	if err != nil || up["updated_at"] != "2026-03-10T13:00:15Z" {
		t.Errorf("update stamp %v %v", up["updated_at"], err)
	}
	h.s.SetSkew(0)
	if r = h.get("/api/v2/tickets"); r.hdr.Get("Date") != "Tue, 10 Mar 2026 12:00:15 GMT" {
		t.Errorf("Date without skew %q", r.hdr.Get("Date"))
	}
}

func TestFailRateDeterministic(t *testing.T) {
	run := func(seed int64) ([]int, Stats) {
		h := newHarness(t, Options{Seed: seed, RatePerMinute: 1000, FailRate: 0.3, FailStatuses: []int{429, 503}})
		var statuses []int
		used := 0
		for range 100 {
			r := h.get("/api/v2/tickets")
			statuses = append(statuses, r.status)
			if r.status != 429 { // injected 429s use no credits
				used++
			}
			if r.hdr.Get("X-RateLimit-Remaining") != fmt.Sprint(1000-used) {
				t.Errorf("status %d remaining %q, want %d", r.status, r.hdr.Get("X-RateLimit-Remaining"), 1000-used)
			}
			switch r.status {
			case 429:
				if r.hdr.Get("Retry-After") != "1" || string(r.body) != `{"message":"You have exceeded the limit of requests per minute"}` {
					t.Errorf("429: Retry-After %q body %s", r.hdr.Get("Retry-After"), r.body)
				}
			case 503:
				if string(r.body) != `{"code":"service_unavailable","message":"The server is temporarily unavailable."}` {
					t.Errorf("503 body %s", r.body)
				}
			}
		}
		return statuses, h.s.Stats()
	}
	a, st := run(11)
	b, _ := run(11)
	c, _ := run(12)
	if !slices.Equal(a, b) {
		t.Error("FailRate is not deterministic for a seed")
	}
	if slices.Equal(a, c) {
		t.Error("FailRate ignores the seed")
	}
	count := map[int]int{}
	for _, s := range a {
		count[s]++
	}
	if count[200] == 0 || count[429] == 0 || count[503] == 0 || count[200]+count[429]+count[503] != 100 {
		t.Errorf("statuses %v", count)
	}
	if st.RateLimited != count[429] || st.ServerErrors != count[503] || st.Injected != count[429]+count[503] {
		t.Errorf("stats %+v, counts %v", st, count)
	}

	h := newHarness(t, Options{RatePerMinute: 5})
	h.s.SetFailRate(1, 500)
	h.wantStatus(h.get("/api/v2/tickets"), 500)
	h.s.SetFailRate(0)
	h.s.FailNext(1, 429)
	r := h.get("/api/v2/tickets")
	if r.status != 429 || r.hdr.Get("Retry-After") != "1" || r.hdr.Get("X-RateLimit-Remaining") != "4" {
		t.Errorf("FailNext 429: %d %v", r.status, r.hdr)
	}
	h.wantStatus(h.get("/api/v2/tickets"), 200)
	st = h.s.Stats()
	if st.Requests != 3 || st.RateLimited != 1 || st.ServerErrors != 1 || st.Injected != 2 {
		t.Errorf("stats %+v", st)
	}
	h.s.ResetStats()
	if st = h.s.Stats(); st.Requests != 0 || st.RateLimited != 0 || st.ServerErrors != 0 || st.Injected != 0 || len(st.ByStatus) != 0 {
		t.Errorf("after reset %+v", st)
	}
}

func TestChangesRecordsEverything(t *testing.T) {
	h := newHarness(t, Options{})
	type ch struct {
		res  string
		id   int64
		kind string
	}
	seen := 0
	want := func(what string, exp ...ch) {
		t.Helper()
		all := h.s.Changes()
		var got []ch
		for _, c := range all[seen:] {
			got = append(got, ch{c.Resource, c.ID, c.Kind})
			if c.At.IsZero() || c.UpdatedAt.IsZero() {
				t.Errorf("%s: %+v", what, c)
			}
		}
		seen = len(all)
		if !slices.Equal(got, exp) {
			t.Errorf("%s:\n got %v\nwant %v", what, got, exp)
		}
	}
	const c1 = firstContactID
	r := h.do("POST", "/api/v2/tickets", map[string]any{"subject": "s", "description": "d", "status": 2, "priority": 1, "email": "new@example.com"}, nil)
	h.wantStatus(r, 201)
	want("REST create with a new requester", ch{"contacts", c1, "created"}, ch{"tickets", 1, "created"})

	h.clock.Advance(time.Second)
	h.wantStatus(h.do("PUT", "/api/v2/tickets/1", map[string]any{"status": 5}, nil), 200)
	h.wantStatus(h.do("PUT", "/api/v2/tickets/1", map[string]any{"status": 9}, nil), 400) // no change
	h.wantStatus(h.do("DELETE", "/api/v2/tickets/1", nil, nil), 204)
	h.wantStatus(h.do("PUT", "/api/v2/tickets/1/restore", nil, nil), 204)
	if err := h.s.ArchiveTicket(1); err != nil {
		t.Fatal(err)
	}
	want("ticket lifecycle", ch{"tickets", 1, "updated"}, ch{"tickets", 1, "deleted"}, ch{"tickets", 1, "restored"}, ch{"tickets", 1, "archived"})
	last := h.s.Changes()[seen-1]
	if last.UpdatedAt != time.Date(2026, 3, 10, 12, 0, 16, 0, time.UTC) || !last.At.Equal(t0.Add(time.Second)) {
		t.Errorf("archived change %+v", last)
	}

	h.s.UpdateContact(c1, map[string]any{"job_title": "CEO"})
	h.s.DeleteContact(c1)
	h.s.RestoreContact(c1)
	want("contact lifecycle", ch{"contacts", c1, "updated"}, ch{"contacts", c1, "deleted"}, ch{"contacts", c1, "restored"})

	co := h.s.CreateCompany(nil)
	h.s.UpdateContact(c1, map[string]any{"company_id": id(co)})
	h.s.DeleteCompany(id(co))
	ag := h.s.CreateAgent(nil)
	gr := h.s.CreateGroup(map[string]any{"agent_ids": []int64{id(ag)}})
	h.s.UpdateGroup(id(gr), map[string]any{"description": "x"})
	h.s.DeleteAgent(id(ag))
	want("directory",
		ch{"companies", id(co), "created"}, ch{"contacts", c1, "updated"},
		ch{"companies", id(co), "deleted"}, ch{"contacts", c1, "updated"},
		ch{"agents", id(ag), "created"},
		ch{"agents", id(ag), "updated"}, ch{"groups", id(gr), "created"},
		ch{"groups", id(gr), "updated"},
		ch{"groups", id(gr), "updated"}, ch{"agents", id(ag), "deleted"}, ch{"contacts", id(ag), "created"},
	)

	ids := h.s.BurstCreateTickets(2, map[string]any{"requester_id": c1})
	h.s.BurstUpdateTickets(ids, nil)
	want("bursts", ch{"tickets", 2, "created"}, ch{"tickets", 3, "created"}, ch{"tickets", 2, "updated"}, ch{"tickets", 3, "updated"})

	// Seed and Mutate are logged too; replaying the log gives the final state of every ticket.
	h.s.Seed(30, 10)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		h.clock.Advance(time.Second)
		h.s.Mutate(rng)
	}
	final := map[int64]Change{}
	for _, c := range h.s.Changes() {
		if c.Resource == "tickets" {
			final[c.ID] = c
		}
	}
	st := h.s.Stats()
	if len(final) != st.Tickets {
		t.Errorf("log names %d tickets, store holds %d", len(final), st.Tickets)
	}
	deleted := 0
	for id, c := range final {
		tk, _ := h.s.Ticket(id)
		if fmtTime(c.UpdatedAt) != tk["updated_at"] {
			t.Errorf("ticket %d: last change %+v, updated_at %v", id, c, tk["updated_at"])
		}
		if (c.Kind == "deleted") != (tk["deleted"] == true) {
			t.Errorf("ticket %d: last change %s, deleted %v", id, c.Kind, tk["deleted"])
		}
		if c.Kind == "deleted" {
			deleted++
		}
	}
	if deleted != st.DeletedTickets {
		t.Errorf("deleted %d, stats %d", deleted, st.DeletedTickets)
	}
}

func TestFaultKnobsConcurrentUse(t *testing.T) {
	h := newHarness(t, Options{RatePerMinute: 1_000_000, Seed: 1})
	h.s.Seed(40, 10)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				switch (g + i) % 6 {
				case 0:
					h.s.SetSkew(time.Duration(i) * time.Second)
					h.s.SetVisibleAfter(time.Duration(i%3) * time.Second)
				case 1:
					h.s.SetShiftDuringWalk(0.5)
					h.s.SetFailRate(0.1, 429, 500)
				case 2:
					h.s.OnListPage(func(string, int) { h.s.BurstUpdateTickets([]int64{int64(1 + i)}, nil) })
				case 3:
					req, _ := http.NewRequest("GET", h.ts.URL+"/api/v2/tickets?updated_since=2000-01-01&order_by=updated_at&order_type=asc&per_page=5&page=3", nil)
					req.SetBasicAuth("secret-key", "X")
					if resp, err := h.ts.Client().Do(req); err == nil {
						resp.Body.Close()
					}
				case 4:
					h.s.BurstCreateTickets(3, nil)
					_ = h.s.Changes()
				default:
					_ = h.s.Stats()
					_ = h.s.VendorNow()
					h.clock.Advance(time.Second)
				}
			}
		}()
	}
	wg.Wait()
}
