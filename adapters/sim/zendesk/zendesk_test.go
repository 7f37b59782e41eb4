package zendesk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
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

func newClock() *clock { return &clock{t: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)} }

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

const (
	testEmail = "admin@pollen.example.com"
	testToken = "s3cret"
)

func newTest(t *testing.T, opts Options) (*Server, *clock) {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.Email == "" {
		opts.Email = testEmail
	}
	if opts.APIToken == "" {
		opts.APIToken = testToken
	}
	if opts.BaseURL == "" {
		opts.BaseURL = "https://acme.zendesk.com"
	}
	return New(opts), c
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

type result struct {
	status int
	hdr    http.Header
	body   map[string]any
	raw    string
}

// do sends a request with the test credentials; target may be absolute (after_url, next_page).
func do(t *testing.T, s *Server, method, target string, body any) result {
	t.Helper()
	return doAuth(t, s, method, target, body, basic(testEmail+"/token", testToken))
}

func doAuth(t *testing.T, s *Server, method, target string, body any, auth string) result {
	t.Helper()
	if u, err := url.Parse(target); err == nil && u.IsAbs() {
		target = u.RequestURI()
	}
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, target, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	res := result{status: w.Code, hdr: w.Header(), raw: w.Body.String()}
	if w.Body.Len() > 0 {
		dec := json.NewDecoder(w.Body)
		dec.UseNumber()
		if err := dec.Decode(&res.body); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, target, res.raw, err)
		}
	}
	return res
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// ids lists the ids of the records under key.
func ids(t *testing.T, body map[string]any, key string) []int64 {
	t.Helper()
	l, ok := body[key].([]any)
	if !ok {
		t.Fatalf("no %q list in %v", key, body)
	}
	out := []int64{}
	for _, e := range l {
		out = append(out, num(t, e.(map[string]any)["id"]))
	}
	return out
}

func findRec(t *testing.T, body map[string]any, key string, id int64) map[string]any {
	t.Helper()
	for _, e := range body[key].([]any) {
		if m := e.(map[string]any); num(t, m["id"]) == id {
			return m
		}
	}
	t.Fatalf("record %d not in %s", id, key)
	return nil
}

func wantStatus(t *testing.T, r result, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
}

func startURL(resource string, start time.Time, perPage int) string {
	return fmt.Sprintf("/api/v2/incremental/%s/cursor.json?start_time=%d&per_page=%d", resource, start.Unix(), perPage)
}

// walk follows a cursor export to end_of_stream and returns the ids in order, the last
// after_cursor and the number of pages.
func walk(t *testing.T, s *Server, first, key string) (got []int64, cursor string, pages int) {
	t.Helper()
	next := first
	for {
		r := do(t, s, "GET", next, nil)
		wantStatus(t, r, 200)
		pages++
		got = append(got, ids(t, r.body, key)...)
		cursor, _ = r.body["after_cursor"].(string)
		if cursor == "" {
			t.Fatalf("no after_cursor in %s", r.raw)
		}
		if r.body["end_of_stream"] == true {
			return got, cursor, pages
		}
		next = r.body["after_url"].(string)
		if pages > 100 {
			t.Fatal("walk does not end")
		}
	}
}

func TestAuth(t *testing.T) {
	s, _ := newTest(t, Options{})
	path := "/api/v2/tickets.json"
	for name, auth := range map[string]string{
		"none":         "",
		"wrong token":  basic(testEmail+"/token", "nope"),
		"wrong email":  basic("other@example.com/token", testToken),
		"no /token":    basic(testEmail, testToken),
		"bearer":       "Bearer " + testToken,
		"empty token":  basic(testEmail+"/token", ""),
		"not base64":   "Basic !!!",
		"token as pwd": basic(testEmail+"/token:x", testToken),
	} {
		r := doAuth(t, s, "GET", path, nil, auth)
		if r.status != 401 || r.body["error"] != "Couldn't authenticate you" {
			t.Errorf("%s: got %d %s", name, r.status, r.raw)
		}
	}
	wantStatus(t, doAuth(t, s, "GET", path, nil, basic(strings.ToUpper(testEmail)+"/token", testToken)), 200)
	if st := s.Stats(); st.Unauthorized != 8 {
		t.Errorf("Unauthorized = %d, want 8", st.Unauthorized)
	}

	// Empty credentials accept any email and token, in the token form.
	open := New(Options{Now: newClock().Now})
	wantStatus(t, doAuth(t, open, "GET", path, nil, basic("anyone@example.com/token", "whatever")), 200)
	wantStatus(t, doAuth(t, open, "GET", path, nil, basic("anyone@example.com", "whatever")), 401)

	// A rotated token is refused.
	s.SetCredentials(testEmail, "rotated")
	wantStatus(t, do(t, s, "GET", path, nil), 401)

	// Unknown routes are 404 once authenticated.
	r := doAuth(t, open, "GET", "/api/v2/nothing.json", nil, basic("a@b.c/token", "t"))
	if r.status != 404 || r.body["error"] != "InvalidEndpoint" {
		t.Errorf("unknown route: %d %s", r.status, r.raw)
	}
}

func TestCursorExportPagingAndResume(t *testing.T) {
	s, c := newTest(t, Options{PerPage: 3})
	start := c.Now()
	var created []int64
	for i := 0; i < 7; i++ {
		created = append(created, s.CreateTicket(nil)["id"].(int64))
		c.Advance(10 * time.Second)
	}
	// Two tickets in the same second: ties go by id.
	created = append(created, s.CreateTicket(nil)["id"].(int64), s.CreateTicket(nil)["id"].(int64))
	c.Advance(2 * time.Minute)

	got, cursor, pages := walk(t, s, startURL("tickets", start, 3), "tickets")
	if !reflect.DeepEqual(got, created) {
		t.Fatalf("walk got %v, want %v", got, created)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}

	// First page: before_cursor null, after_url absolute with the cursor and per_page.
	r := do(t, s, "GET", startURL("tickets", start, 3), nil)
	if r.body["before_cursor"] != nil || r.body["before_url"] != nil || r.body["end_of_stream"] != false {
		t.Errorf("first page: %s", r.raw)
	}
	au := r.body["after_url"].(string)
	if !strings.HasPrefix(au, "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json?") ||
		!strings.Contains(au, "cursor="+url.QueryEscape(r.body["after_cursor"].(string))) || !strings.Contains(au, "per_page=3") {
		t.Errorf("after_url %q", au)
	}
	// The next page names its own cursor as before_cursor.
	r2 := do(t, s, "GET", au, nil)
	if r2.body["before_cursor"] != r.body["after_cursor"] {
		t.Errorf("before_cursor %v, want %v", r2.body["before_cursor"], r.body["after_cursor"])
	}

	// At the end, the same cursor gives an empty page that keeps the position.
	r = do(t, s, "GET", "/api/v2/incremental/tickets/cursor.json?cursor="+cursor, nil)
	wantStatus(t, r, 200)
	if len(ids(t, r.body, "tickets")) != 0 || r.body["end_of_stream"] != true || r.body["after_cursor"] != cursor {
		t.Errorf("empty resume: %s", r.raw)
	}

	// Changes after the cursor: an exported ticket updated again, a new one.
	if _, err := s.UpdateTicket(created[1], map[string]any{"priority": "urgent"}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	fresh := s.CreateTicket(nil)["id"].(int64)
	c.Advance(2 * time.Minute)
	got, _, _ = walk(t, s, "/api/v2/incremental/tickets/cursor.json?per_page=3&cursor="+cursor, "tickets")
	if want := []int64{created[1], fresh}; !reflect.DeepEqual(got, want) {
		t.Fatalf("resume got %v, want %v", got, want)
	}
	r = do(t, s, "GET", "/api/v2/incremental/tickets/cursor.json?cursor="+cursor, nil)
	if p := findRec(t, r.body, "tickets", created[1])["priority"]; p != "urgent" {
		t.Errorf("updated ticket exported with priority %v", p)
	}

	// A bad cursor is a 400.
	r = do(t, s, "GET", "/api/v2/incremental/tickets/cursor.json?cursor=bm9wZQ", nil)
	if r.status != 400 || r.body["error"] != "InvalidPaginationParameter" {
		t.Errorf("bad cursor: %d %s", r.status, r.raw)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, p := range [][2]int64{{0, 0}, {1709287200, 1}, {1709287200, 9000000123}} {
		c := encodeCursor(p[0], p[1])
		ts, id, ok := decodeCursor(c)
		if !ok || ts != p[0] || id != p[1] {
			t.Errorf("%v -> %q -> %d %d %v", p, c, ts, id, ok)
		}
	}
	for _, bad := range []string{"", "%%%", base64.RawURLEncoding.EncodeToString([]byte("12.0||x|")), base64.RawURLEncoding.EncodeToString([]byte("12||3|"))} {
		if _, _, ok := decodeCursor(bad); ok {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestMinAge(t *testing.T) {
	s, c := newTest(t, Options{})
	old := c.Now().Add(-time.Hour)
	id := s.CreateTicket(nil)["id"].(int64)

	// Just created: not exported yet.
	r := do(t, s, "GET", startURL("tickets", old, 100), nil)
	wantStatus(t, r, 200)
	if len(ids(t, r.body, "tickets")) != 0 || r.body["end_of_stream"] != true {
		t.Fatalf("fresh ticket exported: %s", r.raw)
	}
	c.Advance(59 * time.Second)
	if r = do(t, s, "GET", startURL("tickets", old, 100), nil); len(ids(t, r.body, "tickets")) != 0 {
		t.Fatalf("59s-old ticket exported: %s", r.raw)
	}
	c.Advance(time.Second)
	if got := ids(t, do(t, s, "GET", startURL("tickets", old, 100), nil).body, "tickets"); !reflect.DeepEqual(got, []int64{id}) {
		t.Fatalf("60s-old ticket: got %v", got)
	}

	// start_time must be at least a minute old.
	now := c.Now()
	r = do(t, s, "GET", startURL("tickets", now.Add(-30*time.Second), 100), nil)
	if r.status != 400 || r.body["error"] != "InvalidValue" || !strings.Contains(r.body["description"].(string), "Too recent start_time") {
		t.Errorf("recent start_time: %d %s", r.status, r.raw)
	}
	wantStatus(t, do(t, s, "GET", startURL("tickets", now.Add(-time.Minute), 100), nil), 200)
	for _, q := range []string{"", "?start_time=abc", "?start_time=-5"} {
		if r := do(t, s, "GET", "/api/v2/incremental/users/cursor.json"+q, nil); r.status != 400 {
			t.Errorf("%q: %d", q, r.status)
		}
	}
	r = do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d", now.Unix()), nil)
	wantStatus(t, r, 400)

	// A custom MinAge, and none.
	s2, c2 := newTest(t, Options{MinAge: 5 * time.Minute})
	s2.CreateOrganization(nil)
	c2.Advance(4 * time.Minute)
	wantStatus(t, do(t, s2, "GET", startURL("users", c2.Now().Add(-4*time.Minute), 10), nil), 400)
	r = do(t, s2, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d", c2.Now().Add(-time.Hour).Unix()), nil)
	if num(t, r.body["count"]) != 0 {
		t.Errorf("4-minute-old org exported with MinAge 5m")
	}
	s3, c3 := newTest(t, Options{MinAge: -1})
	u := s3.CreateUser(nil)["id"].(int64)
	r = do(t, s3, "GET", startURL("users", c3.Now(), 10), nil)
	wantStatus(t, r, 200)
	if len(ids(t, r.body, "users")) != 0 {
		t.Errorf("current second exported")
	}
	c3.Advance(time.Second)
	if got := ids(t, do(t, s3, "GET", startURL("users", c3.Now().Add(-time.Second), 10), nil).body, "users"); !reflect.DeepEqual(got, []int64{u}) {
		t.Errorf("no-lag export got %v", got)
	}
}

func TestOrganizationsTimeExport(t *testing.T) {
	s, c := newTest(t, Options{})
	start := c.Now()
	var created []int64
	for i := 0; i < 5; i++ {
		created = append(created, s.CreateOrganization(map[string]any{"name": fmt.Sprintf("Org %d", i)})["id"].(int64))
		c.Advance(10 * time.Second)
	}
	c.Advance(2 * time.Minute)

	r := do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d&per_page=2", start.Unix()), nil)
	wantStatus(t, r, 200)
	if got := ids(t, r.body, "organizations"); !reflect.DeepEqual(got, created[:2]) {
		t.Fatalf("page 1: %v", got)
	}
	endTime := start.Add(10 * time.Second).Unix()
	if num(t, r.body["count"]) != 2 || num(t, r.body["end_time"]) != endTime || r.body["end_of_stream"] != false {
		t.Fatalf("page 1: %s", r.raw)
	}
	if want := fmt.Sprintf("https://acme.zendesk.com/api/v2/incremental/organizations.json?per_page=2&start_time=%d", endTime); r.body["next_page"] != want {
		t.Errorf("next_page %v, want %s", r.body["next_page"], want)
	}
	org := findRec(t, r.body, "organizations", created[0])
	for _, k := range []string{"url", "name", "domain_names", "details", "notes", "group_id", "shared_tickets", "tags", "created_at", "updated_at", "deleted_at", "organization_fields", "external_id"} {
		if _, ok := org[k]; !ok {
			t.Errorf("organization lacks %q", k)
		}
	}

	// Walk: next_page repeats the record at end_time (time-based duplicates) and ends.
	seen := map[int64]int{}
	next := r.body["next_page"].(string)
	for _, id := range ids(t, r.body, "organizations") {
		seen[id]++
	}
	for pages := 1; ; pages++ {
		r = do(t, s, "GET", next, nil)
		wantStatus(t, r, 200)
		for _, id := range ids(t, r.body, "organizations") {
			seen[id]++
		}
		if r.body["end_of_stream"] == true {
			break
		}
		next = r.body["next_page"].(string)
		if pages > 10 {
			t.Fatal("walk does not end")
		}
	}
	for _, id := range created {
		if seen[id] == 0 {
			t.Errorf("org %d never exported", id)
		}
	}
	if seen[created[1]] < 2 {
		t.Errorf("org at end_time not repeated: %v", seen)
	}

	// Deleting shows deleted_at in the export and hides the REST view.
	if err := s.DeleteOrganization(created[0]); err != nil {
		t.Fatal(err)
	}
	delAt := c.Now()
	c.Advance(2 * time.Minute)
	r = do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d", delAt.Unix()), nil)
	if got := findRec(t, r.body, "organizations", created[0]); got["deleted_at"] != fmtTime(delAt) || got["updated_at"] != fmtTime(delAt) {
		t.Errorf("deleted org: %v", got)
	}
	if num(t, r.body["count"]) != 1 || r.body["end_of_stream"] != true {
		t.Errorf("after delete: %s", r.raw)
	}
	wantStatus(t, do(t, s, "GET", fmt.Sprintf("/api/v2/organizations/%d.json", created[0]), nil), 404)

	// An empty page keeps start_time as end_time.
	st := c.Now().Add(-time.Minute).Unix()
	r = do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d", st), nil)
	if num(t, r.body["count"]) != 0 || num(t, r.body["end_time"]) != st || r.body["end_of_stream"] != true {
		t.Errorf("empty page: %s", r.raw)
	}
}

// TestTimeExportOverfullSecond: a time-based page holds at most per_page records and ends at its
// last record's time, so when more records share one second than a page holds, the page at that
// second answers end_time equal to start_time, and next_page is the same request (Zendesk's
// documented case): records of that second past the page are out of reach of time-based paging,
// and a client must move past the second itself.
func TestTimeExportOverfullSecond(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before int // records one second before the overfull one
		block  int // records sharing the overfull second
	}{
		{"block at start_time", 0, 5},
		{"block after start_time", 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newTest(t, Options{})
			start := c.Now()
			var early []int64
			if tc.before > 0 {
				early = s.BurstCreate("organizations", tc.before, nil)
				c.Advance(time.Second)
			}
			second := c.Now()
			block := s.BurstCreate("organizations", tc.block, nil)
			c.Advance(time.Second)
			later := s.CreateOrganization(nil)["id"].(int64)
			c.Advance(2 * time.Minute)

			next := fmt.Sprintf("/api/v2/incremental/organizations.json?per_page=2&start_time=%d", start.Unix())
			seen := map[int64]bool{}
			var r result
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatalf("no page with end_time equal to start_time: %s", r.raw)
				}
				r = do(t, s, "GET", next, nil)
				wantStatus(t, r, 200)
				for _, id := range ids(t, r.body, "organizations") {
					seen[id] = true
				}
				u, _ := url.Parse(r.body["next_page"].(string))
				st, _ := strconv.ParseInt(u.Query().Get("start_time"), 10, 64)
				if num(t, r.body["end_time"]) == second.Unix() && st == second.Unix() && strings.Contains(next, fmt.Sprint(second.Unix())) {
					break // the page at the overfull second
				}
				next = r.body["next_page"].(string)
			}
			if got := ids(t, r.body, "organizations"); !reflect.DeepEqual(got, block[:2]) || r.body["end_of_stream"] != false || num(t, r.body["count"]) != 2 {
				t.Fatalf("page at the overfull second: %s", r.raw)
			}
			again := do(t, s, "GET", r.body["next_page"].(string), nil)
			if again.raw != r.raw {
				t.Errorf("next_page is not the same page:\n%s\n%s", again.raw, r.raw)
			}
			for _, id := range append(early, block[:2]...) {
				if !seen[id] {
					t.Errorf("org %d never exported", id)
				}
			}
			if seen[block[len(block)-1]] {
				t.Error("the last org of the overfull second was reachable")
			}
			// Moving past the second reaches what follows it.
			r = do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?per_page=2&start_time=%d", second.Unix()+1), nil)
			if got := ids(t, r.body, "organizations"); !reflect.DeepEqual(got, []int64{later}) || r.body["end_of_stream"] != true {
				t.Errorf("past the second: %s", r.raw)
			}
		})
	}
}

func TestDeletedTicketsInExport(t *testing.T) {
	s, c := newTest(t, Options{})
	start := c.Now()
	keep := s.CreateTicket(nil)["id"].(int64)
	gone := s.CreateTicket(map[string]any{"status": "open"})["id"].(int64)
	c.Advance(10 * time.Second)
	if err := s.DeleteTicket(gone); err != nil {
		t.Fatal(err)
	}
	delAt := c.Now()
	if err := s.DeleteTicket(gone); !errors.Is(err, ErrDeleted) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.UpdateTicket(gone, map[string]any{"priority": "low"}); !errors.Is(err, ErrDeleted) {
		t.Errorf("update deleted: %v", err)
	}
	if err := s.DeleteTicket(424242); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete missing: %v", err)
	}
	c.Advance(2 * time.Minute)

	r := do(t, s, "GET", startURL("tickets", start, 100), nil)
	if got := ids(t, r.body, "tickets"); !reflect.DeepEqual(got, []int64{keep, gone}) {
		t.Fatalf("export: %v", got)
	}
	tk := findRec(t, r.body, "tickets", gone)
	if tk["status"] != "deleted" || tk["updated_at"] != fmtTime(delAt) || num(t, tk["generated_timestamp"]) != delAt.Unix() {
		t.Errorf("deleted ticket: %v", tk)
	}
	r = do(t, s, "GET", startURL("tickets", start, 100)+"&exclude_deleted=true", nil)
	if got := ids(t, r.body, "tickets"); !reflect.DeepEqual(got, []int64{keep}) {
		t.Errorf("exclude_deleted: %v", got)
	}
	if !strings.Contains(r.body["after_url"].(string), "exclude_deleted=true") {
		t.Errorf("after_url drops exclude_deleted: %v", r.body["after_url"])
	}
	// The time-based ticket export shows it too.
	r = do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/tickets.json?start_time=%d", start.Unix()), nil)
	if findRec(t, r.body, "tickets", gone)["status"] != "deleted" {
		t.Errorf("time-based: %s", r.raw)
	}
	wantStatus(t, do(t, s, "GET", fmt.Sprintf("/api/v2/tickets/%d.json", gone), nil), 404)
	if tk, ok := s.Ticket(gone); !ok || tk["status"] != "deleted" {
		t.Errorf("Ticket(): %v", tk)
	}
}

func TestUsersExportAndDeletion(t *testing.T) {
	s, c := newTest(t, Options{})
	start := c.Now()
	org := s.CreateOrganization(map[string]any{"name": "Bluebird Labs"})["id"].(int64)
	u1 := s.CreateUser(map[string]any{"name": "Rosa Costa", "email": "rosa@bluebird.example.com", "organization_id": org})
	u2 := s.CreateUser(map[string]any{"name": "Hiro Sato", "role": "agent"})
	for _, k := range []string{"id", "url", "name", "email", "created_at", "updated_at", "time_zone", "role", "active", "verified", "organization_id", "tags", "phone", "user_fields", "suspended", "locale"} {
		if _, ok := u1[k]; !ok {
			t.Errorf("user lacks %q", k)
		}
	}
	c.Advance(time.Minute)
	id1 := u1["id"].(int64)
	if err := s.DeleteUser(id1); err != nil {
		t.Fatal(err)
	}
	delAt := c.Now()
	if _, err := s.UpdateUser(id1, map[string]any{"phone": "+15550000000"}); !errors.Is(err, ErrDeleted) {
		t.Errorf("update deleted user: %v", err)
	}
	c.Advance(2 * time.Minute)
	got, _, _ := walk(t, s, startURL("users", start, 1), "users")
	if want := []int64{u2["id"].(int64), id1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("users walk: %v, want %v", got, want)
	}
	r := do(t, s, "GET", startURL("users", start, 10), nil)
	if u := findRec(t, r.body, "users", id1); u["active"] != false || u["updated_at"] != fmtTime(delAt) {
		t.Errorf("deleted user: %v", u)
	}
	// Deleted users stay readable.
	r = do(t, s, "GET", fmt.Sprintf("/api/v2/users/%d.json", id1), nil)
	wantStatus(t, r, 200)
	if r.body["user"].(map[string]any)["active"] != false {
		t.Errorf("view of deleted user: %s", r.raw)
	}

	// Deleting an organization takes its members out of it.
	u3 := s.CreateUser(map[string]any{"organization_id": org})["id"].(int64)
	c.Advance(time.Second)
	if err := s.DeleteOrganization(org); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(u3); u["organization_id"] != nil || u["updated_at"] != fmtTime(c.Now()) {
		t.Errorf("member of deleted org: %v", u)
	}
	if _, err := s.UpdateOrganization(org, map[string]any{"notes": "x"}); !errors.Is(err, ErrDeleted) {
		t.Errorf("update deleted org: %v", err)
	}
	// Organizations have no cursor export.
	wantStatus(t, do(t, s, "GET", startURL("organizations", start, 10), nil), 404)
}

// TestRateLimit: each incremental export endpoint has its own window (10 a minute, 20 for the
// users cursor export), apart from the account-wide window that X-Rate-Limit reports.
func TestRateLimit(t *testing.T) {
	s, c := newTest(t, Options{RatePerMinute: 3, AccountRatePerMinute: 12})
	c.Advance(15 * time.Second) // 10:00:15
	tickets := startURL("tickets", c.Now().Add(-time.Hour), 10)
	for i := 0; i < 3; i++ {
		r := do(t, s, "GET", tickets, nil)
		wantStatus(t, r, 200)
		if r.hdr.Get("X-Rate-Limit") != "12" || r.hdr.Get("X-Rate-Limit-Remaining") != strconv.Itoa(11-i) {
			t.Errorf("headers %v", r.hdr)
		}
	}
	r := do(t, s, "GET", tickets, nil)
	if r.status != 429 || r.hdr.Get("Retry-After") != "45" || r.body["error"] != "APIRateLimitExceeded" ||
		!strings.Contains(r.raw, "incremental export") || r.hdr.Get("X-Rate-Limit-Remaining") != "9" {
		t.Fatalf("4th tickets export: %d %v %s", r.status, r.hdr, r.raw)
	}
	// Other endpoints have their own windows: three organization exports, six user cursor ones.
	for i := 0; i < 3; i++ {
		wantStatus(t, do(t, s, "GET", "/api/v2/incremental/organizations.json?start_time=0", nil), 200)
	}
	wantStatus(t, do(t, s, "GET", "/api/v2/incremental/organizations.json?start_time=0", nil), 429)
	users := startURL("users", c.Now().Add(-time.Hour), 10)
	for i := 0; i < 6; i++ {
		wantStatus(t, do(t, s, "GET", users, nil), 200) // the last two take the account to 12
	}
	// The account is spent: every route answers 429, the REST ones included.
	r = do(t, s, "GET", "/api/v2/users.json", nil)
	if r.status != 429 || strings.Contains(r.raw, "incremental") || r.hdr.Get("X-Rate-Limit-Remaining") != "0" {
		t.Errorf("account spent: %d %v %s", r.status, r.hdr, r.raw)
	}
	c.Advance(44*time.Second + 500*time.Millisecond)
	if r := do(t, s, "GET", tickets, nil); r.status != 429 || r.hdr.Get("Retry-After") != "1" {
		t.Fatalf("late in the minute: %d %v", r.status, r.hdr)
	}
	c.Advance(time.Second) // next minute
	wantStatus(t, do(t, s, "GET", tickets, nil), 200)
	st := s.Stats()
	if st.RateLimited != 4 || st.ExportRequests != 16 || st.ByStatus[429] != 4 {
		t.Errorf("stats %+v", st)
	}

	// The defaults are Zendesk's: 10 a minute per export, 20 for the users cursor export.
	s2, c2 := newTest(t, Options{})
	for _, tc := range []struct {
		url string
		n   int
	}{{startURL("tickets", c2.Now().Add(-time.Hour), 10), 10}, {startURL("users", c2.Now().Add(-time.Hour), 10), 20}} {
		for i := 0; i < tc.n; i++ {
			wantStatus(t, do(t, s2, "GET", tc.url, nil), 200)
		}
		wantStatus(t, do(t, s2, "GET", tc.url, nil), 429)
	}
}

func TestFailNext(t *testing.T) {
	s, c := newTest(t, Options{})
	s.FailNext(2, 503)
	q := startURL("tickets", c.Now().Add(-time.Hour), 10)
	wantStatus(t, do(t, s, "GET", q, nil), 503)
	wantStatus(t, do(t, s, "GET", q, nil), 503)
	wantStatus(t, do(t, s, "GET", q, nil), 200)
	s.FailNext(1, 429)
	if r := do(t, s, "GET", q, nil); r.status != 429 || r.hdr.Get("Retry-After") != "1" {
		t.Errorf("injected 429: %d %v", r.status, r.hdr)
	}
	if st := s.Stats(); st.Injected != 3 || st.ServerErrors != 2 || st.RateLimited != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestOnExportHook(t *testing.T) {
	s, c := newTest(t, Options{PerPage: 2})
	start := c.Now()
	a := s.CreateTicket(nil)["id"].(int64)
	b := s.CreateTicket(nil)["id"].(int64)
	d := s.CreateTicket(nil)["id"].(int64)
	c.Advance(2 * time.Minute)
	calls := 0
	s.OnExport(func(resource string) {
		calls++
		if calls == 2 { // between page 1 and page 2: ticket a changes again
			if _, err := s.UpdateTicket(a, map[string]any{"tags": []string{"moved"}}); err != nil {
				t.Error(err)
			}
			c.Advance(2 * time.Minute)
		}
	})
	got, _, _ := walk(t, s, startURL("tickets", start, 2), "tickets")
	if want := []int64{a, b, d, a}; !reflect.DeepEqual(got, want) {
		t.Errorf("walk with a change between pages: %v, want %v", got, want)
	}
}

func TestRESTCRUD(t *testing.T) {
	s, c := newTest(t, Options{})

	// Organizations.
	r := do(t, s, "POST", "/api/v2/organizations.json", map[string]any{"organization": map[string]any{
		"name": "Harbor Foods", "domain_names": []string{"Harbor.example.com"}, "tags": []string{"Enterprise"}}})
	wantStatus(t, r, 201)
	org := r.body["organization"].(map[string]any)
	orgID := num(t, org["id"])
	if org["url"] != fmt.Sprintf("https://acme.zendesk.com/api/v2/organizations/%d.json", orgID) ||
		!reflect.DeepEqual(org["domain_names"], []any{"harbor.example.com"}) || !reflect.DeepEqual(org["tags"], []any{"enterprise"}) ||
		org["deleted_at"] != nil || org["created_at"] != "2024-03-01T10:00:00Z" {
		t.Errorf("org: %s", r.raw)
	}
	r = do(t, s, "POST", "/api/v2/organizations.json", map[string]any{"organization": map[string]any{"name": "harbor foods"}})
	if r.status != 422 || r.body["error"] != "RecordInvalid" {
		t.Errorf("duplicate org name: %d %s", r.status, r.raw)
	}
	wantStatus(t, do(t, s, "POST", "/api/v2/organizations", map[string]any{"name": "no wrapper"}), 400)

	// Users.
	r = do(t, s, "POST", "/api/v2/users.json", map[string]any{"user": map[string]any{
		"name": "Isla Murphy", "email": "isla@harbor.example.com", "organization_id": orgID, "role": "end-user"}})
	wantStatus(t, r, 201)
	userID := num(t, r.body["user"].(map[string]any)["id"])
	r = do(t, s, "POST", "/api/v2/users.json", map[string]any{"user": map[string]any{"name": "Dup", "email": "ISLA@harbor.example.com"}})
	if r.status != 422 || r.body["details"].(map[string]any)["email"] == nil {
		t.Errorf("duplicate email: %d %s", r.status, r.raw)
	}
	r = do(t, s, "POST", "/api/v2/users.json", map[string]any{"user": map[string]any{"name": "Agent Smith", "email": "smith@pollen.example.com", "role": "agent"}})
	agentID := num(t, r.body["user"].(map[string]any)["id"])

	// Tickets.
	c.Advance(time.Minute)
	r = do(t, s, "POST", "/api/v2/tickets.json", map[string]any{"ticket": map[string]any{
		"subject": "Printer on fire", "comment": map[string]any{"body": "It is very colorful."},
		"requester_id": userID, "priority": "high", "tags": []string{"Hardware", "urgent stuff"},
		"custom_fields": []map[string]any{{"id": 360000400002, "value": "ORD-1"}}}})
	wantStatus(t, r, 201)
	tk := r.body["ticket"].(map[string]any)
	tid := num(t, tk["id"])
	if tk["status"] != "new" || tk["description"] != "It is very colorful." || tk["raw_subject"] != "Printer on fire" ||
		num(t, tk["organization_id"]) != orgID || num(t, tk["submitter_id"]) != userID || tk["assignee_id"] != nil ||
		!reflect.DeepEqual(tk["tags"], []any{"hardware", "urgent", "stuff"}) || tk["type"] != nil {
		t.Errorf("ticket: %s", r.raw)
	}
	for _, k := range []string{"url", "external_id", "type", "subject", "raw_subject", "description", "priority", "status", "recipient",
		"requester_id", "submitter_id", "assignee_id", "organization_id", "group_id", "collaborator_ids", "follower_ids", "tags",
		"custom_fields", "fields", "via", "satisfaction_rating", "created_at", "updated_at", "due_at", "problem_id", "has_incidents", "is_public"} {
		if _, ok := tk[k]; !ok {
			t.Errorf("ticket lacks %q", k)
		}
	}
	for _, bad := range []map[string]any{
		{"subject": "no comment", "requester_id": userID},
		{"comment": map[string]any{"body": "x"}, "requester_id": userID, "status": "deleted"},
		{"comment": map[string]any{"body": "x"}, "requester_id": userID, "priority": "whenever"},
		{"comment": map[string]any{"body": "x"}, "requester_id": 123},
		{"comment": map[string]any{"body": "x"}, "requester_id": userID, "assignee_id": userID},
	} {
		if r := do(t, s, "POST", "/api/v2/tickets.json", map[string]any{"ticket": bad}); r.status != 422 {
			t.Errorf("%v: %d %s", bad, r.status, r.raw)
		}
	}
	// A requester given by name and email is created; without one, the API user (oldest agent) asks.
	r = do(t, s, "POST", "/api/v2/tickets.json", map[string]any{"ticket": map[string]any{
		"comment": map[string]any{"body": "hello"}, "requester": map[string]any{"name": "New Person", "email": "new@example.com"}}})
	wantStatus(t, r, 201)
	if u, ok := s.User(num(t, r.body["ticket"].(map[string]any)["requester_id"])); !ok || u["email"] != "new@example.com" {
		t.Errorf("requester object: %v", u)
	}
	r = do(t, s, "POST", "/api/v2/tickets", map[string]any{"ticket": map[string]any{"comment": map[string]any{"body": "hi"}}})
	if num(t, r.body["ticket"].(map[string]any)["requester_id"]) != agentID {
		t.Errorf("default requester: %s", r.raw)
	}

	c.Advance(time.Minute)
	r = do(t, s, "PUT", fmt.Sprintf("/api/v2/tickets/%d.json", tid), map[string]any{"ticket": map[string]any{
		"assignee_id": agentID, "status": "open", "comment": map[string]any{"body": "On it", "public": false},
		"custom_fields": []any{map[string]any{"id": 360000400001, "value": "api"}}}})
	wantStatus(t, r, 200)
	tk = r.body["ticket"].(map[string]any)
	if tk["status"] != "open" || num(t, tk["assignee_id"]) != agentID || tk["updated_at"] != "2024-03-01T10:02:00Z" || tk["description"] != "It is very colorful." {
		t.Errorf("updated ticket: %s", r.raw)
	}
	if cf := tk["custom_fields"].([]any); len(cf) != 3 || cf[0].(map[string]any)["value"] != "api" || cf[1].(map[string]any)["value"] != "ORD-1" {
		t.Errorf("custom fields: %v", cf)
	}
	// A no-op update leaves updated_at alone; a comment alone moves it.
	c.Advance(time.Minute)
	r = do(t, s, "PUT", fmt.Sprintf("/api/v2/tickets/%d", tid), map[string]any{"ticket": map[string]any{"status": "open"}})
	if r.body["ticket"].(map[string]any)["updated_at"] != "2024-03-01T10:02:00Z" {
		t.Errorf("no-op update moved updated_at: %s", r.raw)
	}
	r = do(t, s, "PUT", fmt.Sprintf("/api/v2/tickets/%d", tid), map[string]any{"ticket": map[string]any{"comment": map[string]any{"body": "ping"}}})
	if r.body["ticket"].(map[string]any)["updated_at"] != "2024-03-01T10:03:00Z" {
		t.Errorf("comment did not move updated_at: %s", r.raw)
	}
	r = do(t, s, "GET", fmt.Sprintf("/api/v2/tickets/%d.json", tid), nil)
	wantStatus(t, r, 200)
	if num(t, r.body["ticket"].(map[string]any)["id"]) != tid {
		t.Errorf("view: %s", r.raw)
	}
	wantStatus(t, do(t, s, "PUT", "/api/v2/tickets/999.json", map[string]any{"ticket": map[string]any{"status": "open"}}), 404)

	// Closed tickets cannot be updated.
	do(t, s, "PUT", fmt.Sprintf("/api/v2/tickets/%d", tid), map[string]any{"ticket": map[string]any{"status": "closed"}})
	if r := do(t, s, "PUT", fmt.Sprintf("/api/v2/tickets/%d", tid), map[string]any{"ticket": map[string]any{"priority": "low"}}); r.status != 422 {
		t.Errorf("update closed: %d %s", r.status, r.raw)
	}

	// Lists.
	r = do(t, s, "GET", "/api/v2/tickets.json?per_page=2", nil)
	if len(ids(t, r.body, "tickets")) != 2 || r.body["next_page"] == nil || num(t, r.body["count"]) != 3 {
		t.Errorf("list: %s", r.raw)
	}

	// Deletes.
	r = do(t, s, "DELETE", fmt.Sprintf("/api/v2/tickets/%d.json", tid), nil)
	if r.status != 204 || r.raw != "" {
		t.Errorf("delete ticket: %d %q", r.status, r.raw)
	}
	r = do(t, s, "GET", fmt.Sprintf("/api/v2/tickets/%d.json", tid), nil)
	if r.status != 404 || r.body["error"] != "RecordNotFound" {
		t.Errorf("deleted ticket view: %d %s", r.status, r.raw)
	}
	wantStatus(t, do(t, s, "DELETE", fmt.Sprintf("/api/v2/tickets/%d.json", tid), nil), 404)
	r = do(t, s, "DELETE", fmt.Sprintf("/api/v2/users/%d.json", userID), nil)
	wantStatus(t, r, 200)
	if r.body["user"].(map[string]any)["active"] != false {
		t.Errorf("delete user: %s", r.raw)
	}
	wantStatus(t, do(t, s, "DELETE", fmt.Sprintf("/api/v2/organizations/%d.json", orgID), nil), 204)
	wantStatus(t, do(t, s, "GET", fmt.Sprintf("/api/v2/organizations/%d.json", orgID), nil), 404)
	r = do(t, s, "PUT", fmt.Sprintf("/api/v2/users/%d.json", agentID), map[string]any{"user": map[string]any{"time_zone": "Tokyo", "user_fields": map[string]any{"tier": "gold"}}})
	u := r.body["user"].(map[string]any)
	if u["time_zone"] != "Tokyo" || u["iana_time_zone"] != "Asia/Tokyo" || u["user_fields"].(map[string]any)["tier"] != "gold" {
		t.Errorf("update user: %s", r.raw)
	}
	wantStatus(t, do(t, s, "PATCH", "/api/v2/users/1.json", nil), 404)
	wantStatus(t, do(t, s, "POST", "/api/v2/users.json", "not an object"), 400)
}

// export returns the raw bodies of a full cursor walk of tickets and users and the time-based
// organizations page.
func exportAll(t *testing.T, s *Server, since time.Time) string {
	t.Helper()
	var b strings.Builder
	for _, res := range []string{"tickets", "users"} {
		next := startURL(res, since, 1000)
		r := do(t, s, "GET", next, nil)
		wantStatus(t, r, 200)
		b.WriteString(r.raw)
	}
	r := do(t, s, "GET", fmt.Sprintf("/api/v2/incremental/organizations.json?start_time=%d", since.Unix()), nil)
	b.WriteString(r.raw)
	return b.String()
}

func TestSeedDeterminism(t *testing.T) {
	mk := func(seed int64) (*Server, *clock) {
		s, c := newTest(t, Options{Seed: seed})
		s.Seed(60, 30, 6)
		return s, c
	}
	a, ca := mk(7)
	b, _ := mk(7)
	other, _ := mk(8)
	since := ca.Now().Add(-500 * 24 * time.Hour)
	ea, eb := exportAll(t, a, since), exportAll(t, b, since)
	if ea != eb {
		t.Fatal("same seed, different data")
	}
	if ea == exportAll(t, other, since) {
		t.Fatal("different seeds, same data")
	}
	st := a.Stats()
	if st.Tickets != 60 || st.Users < 30 || st.Organizations != 6 {
		t.Fatalf("stats %+v", st)
	}

	// Everything is in the past (exportable at once) and references resolve.
	r := do(t, a, "GET", startURL("tickets", since, 1000), nil)
	if n := len(ids(t, r.body, "tickets")); n != 60 || r.body["end_of_stream"] != true {
		t.Fatalf("seeded tickets exported: %d", n)
	}
	statuses := map[string]int{}
	for _, e := range r.body["tickets"].([]any) {
		tk := e.(map[string]any)
		statuses[tk["status"].(string)]++
		req, ok := a.User(num(t, tk["requester_id"]))
		if !ok || req["role"] != "end-user" {
			t.Errorf("ticket %v requester %v", tk["id"], req)
		}
		if as := tk["assignee_id"]; as != nil {
			if ag, _ := a.User(num(t, as)); ag["role"] == "end-user" {
				t.Errorf("ticket %v assigned to an end-user", tk["id"])
			}
		}
		if tk["created_at"].(string) > tk["updated_at"].(string) {
			t.Errorf("ticket %v created after its update", tk["id"])
		}
		if o := tk["organization_id"]; o != nil {
			if _, ok := a.Organization(num(t, o)); !ok {
				t.Errorf("ticket %v organization %v", tk["id"], o)
			}
		}
	}
	if len(statuses) < 4 {
		t.Errorf("statuses %v", statuses)
	}

	// Mutate is deterministic for its rng.
	var la, lb []string
	ra, rb := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		la = append(la, a.Mutate(ra))
		lb = append(lb, b.Mutate(rb))
	}
	if !reflect.DeepEqual(la, lb) {
		t.Fatal("Mutate not deterministic")
	}
	for _, l := range la {
		if strings.Contains(l, "failed") {
			t.Errorf("mutation failed: %s", l)
		}
	}
	if exportAll(t, a, since) != exportAll(t, b, since) {
		t.Fatal("same mutations, different data")
	}
}

func TestChangesLog(t *testing.T) {
	s, c := newTest(t, Options{})
	org := s.CreateOrganization(map[string]any{"name": "Foxglove Studios"})["id"].(int64)
	user := s.CreateUser(map[string]any{"name": "Tove Berg", "organization_id": org})["id"].(int64)
	c.Advance(time.Second)
	tk := s.CreateTicket(map[string]any{"requester_id": user, "subject": "Hello"})["id"].(int64)
	c.Advance(time.Second)
	if _, err := s.UpdateTicket(tk, map[string]any{"subject": "Hello"}); err != nil { // no-op
		t.Fatal(err)
	}
	if _, err := s.UpdateTicket(tk, map[string]any{"status": "pending"}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if err := s.DeleteTicket(tk); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOrganization(org); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		res  string
		id   int64
		kind string
		at   string
	}
	var got []entry
	for _, ch := range s.Changes() {
		got = append(got, entry{ch.Resource, ch.ID, ch.Kind, fmtTime(ch.UpdatedAt)})
	}
	want := []entry{
		{"organizations", org, "created", "2024-03-01T10:00:00Z"},
		{"users", user, "created", "2024-03-01T10:00:00Z"},
		{"tickets", tk, "created", "2024-03-01T10:00:01Z"},
		{"tickets", tk, "updated", "2024-03-01T10:00:02Z"},
		{"tickets", tk, "deleted", "2024-03-01T10:00:03Z"},
		{"organizations", org, "deleted", "2024-03-01T10:00:03Z"},
		{"users", user, "updated", "2024-03-01T10:00:03Z"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes\n got %v\nwant %v", got, want)
	}

	// Every change Mutate makes is logged, and the log matches the export.
	rng := rand.New(rand.NewPCG(3, 4))
	before := len(s.Changes())
	c.Advance(time.Second)
	start := c.Now()
	for i := 0; i < 50; i++ {
		s.Mutate(rng)
		c.Advance(7 * time.Second)
	}
	c.Advance(2 * time.Minute)
	changes := s.Changes()[before:]
	if len(changes) < 50 {
		t.Fatalf("%d changes for 50 mutations", len(changes))
	}
	last := map[string]map[int64]time.Time{"tickets": {}, "users": {}, "organizations": {}}
	for _, ch := range changes {
		last[ch.Resource][ch.ID] = ch.UpdatedAt
	}
	for _, res := range []string{"tickets", "users"} {
		got, _, _ := walk(t, s, startURL(res, start, 7), res)
		if len(got) != len(last[res]) {
			t.Errorf("%s: exported %d records, %d changed", res, len(got), len(last[res]))
		}
		for _, id := range got {
			if _, ok := last[res][id]; !ok {
				t.Errorf("%s %d exported but not changed", res, id)
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s, c := newTest(t, Options{RatePerMinute: 1000})
	s.Seed(20, 10, 3)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := 0; i < 50; i++ {
				s.Mutate(rng)
				c.Advance(time.Second)
			}
		}(g)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				r := do(t, s, "GET", startURL("tickets", c.Now().Add(-30*24*time.Hour), 5), nil)
				if r.status != 200 {
					t.Errorf("status %d", r.status)
				}
				_ = s.Stats()
				_ = s.Changes()
			}
		}()
	}
	wg.Wait()
}
