package freshdesk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 10, 12, 0, 15, 500_000_000, time.UTC)

type harness struct {
	t     *testing.T
	s     *Server
	ts    *httptest.Server
	clock *fakeClock
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	clock := &fakeClock{t: t0}
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.APIKey == "" {
		opts.APIKey = "secret-key"
	}
	s := New(opts)
	ts := httptest.NewServer(s) // 127.0.0.1 loopback
	t.Cleanup(ts.Close)
	return &harness{t: t, s: s, ts: ts, clock: clock}
}

type reply struct {
	status int
	hdr    http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// do sends a request; hdr entries override the defaults (auth "secret-key:X", Accept JSON, and
// Content-Type JSON when there is a body); a "" value removes the header.
func (h *harness) do(method, target string, body any, hdr map[string]string) reply {
	h.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = h.ts.URL + target
	}
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			buf, err := json.Marshal(b)
			if err != nil {
				h.t.Fatal(err)
			}
			rd = bytes.NewReader(buf)
		}
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.SetBasicAuth("secret-key", "X")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, hdr: resp.Header, body: b}
}

func (h *harness) get(target string) reply { h.t.Helper(); return h.do("GET", target, nil, nil) }

func (h *harness) wantStatus(r reply, want int) {
	h.t.Helper()
	if r.status != want {
		h.t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
}

// ids lists the "id" of each record of a list reply.
func (h *harness) ids(r reply) []int64 {
	h.t.Helper()
	h.wantStatus(r, 200)
	var rows []map[string]any
	r.json(h.t, &rows)
	out := make([]int64, 0, len(rows))
	for _, row := range rows {
		n, err := row["id"].(json.Number).Int64()
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func id(rec map[string]any) int64 { return rec["id"].(int64) }

func TestAuth(t *testing.T) {
	h := newHarness(t, Options{})
	const want401 = `{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}`
	for name, hdr := range map[string]map[string]string{
		"missing":    {"Authorization": ""},
		"wrong key":  {"Authorization": "Basic " + b64("other:X")},
		"empty user": {"Authorization": "Basic " + b64(":X")},
		"bearer":     {"Authorization": "Bearer secret-key"},
		"bad base64": {"Authorization": "Basic %%%"},
	} {
		r := h.do("GET", "/api/v2/tickets", nil, hdr)
		if r.status != 401 || string(r.body) != want401 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	for _, pw := range []string{"", "X", "anything"} {
		r := h.do("GET", "/api/v2/tickets", nil, map[string]string{"Authorization": "Basic " + b64("secret-key:"+pw)})
		h.wantStatus(r, 200)
	}
	if got := h.s.Stats().Unauthorized; got != 5 {
		t.Errorf("Unauthorized = %d", got)
	}

	// "" accepts any non-empty key; SetAPIKey rotates.
	h.s.SetAPIKey("")
	h.wantStatus(h.do("GET", "/api/v2/contacts", nil, map[string]string{"Authorization": "Basic " + b64("whatever:")}), 200)
	h.wantStatus(h.do("GET", "/api/v2/contacts", nil, map[string]string{"Authorization": "Basic " + b64(":x")}), 401)
	h.s.SetAPIKey("new")
	h.wantStatus(h.get("/api/v2/contacts"), 401)
}

func b64(s string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	u, p, _ := strings.Cut(s, ":")
	req.SetBasicAuth(u, p)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestAcceptContentTypeAndRoutes(t *testing.T) {
	h := newHarness(t, Options{})
	h.wantStatus(h.do("GET", "/api/v2/tickets", nil, map[string]string{"Accept": "text/html"}), 406)
	h.wantStatus(h.do("GET", "/api/v2/tickets", nil, map[string]string{"Accept": "application/json;q=0"}), 406)
	h.wantStatus(h.do("GET", "/api/v2/tickets", nil, map[string]string{"Accept": "text/html, application/json;q=0.5"}), 200)
	h.wantStatus(h.do("GET", "/api/v2/tickets", nil, map[string]string{"Accept": "*/*"}), 200)
	h.wantStatus(h.do("GET", "/api/v2/tickets", nil, map[string]string{"Accept": ""}), 200)

	body := map[string]any{"name": "Ada", "email": "ada@example.com"}
	h.wantStatus(h.do("POST", "/api/v2/contacts", body, map[string]string{"Content-Type": ""}), 415)
	h.wantStatus(h.do("POST", "/api/v2/contacts", body, map[string]string{"Content-Type": "text/plain"}), 415)
	r := h.do("POST", "/api/v2/contacts", "{not json", nil)
	h.wantStatus(r, 400)
	if !strings.Contains(string(r.body), `"invalid_json"`) {
		t.Errorf("body %s", r.body)
	}
	h.wantStatus(h.do("POST", "/api/v2/contacts", body, map[string]string{"Content-Type": "application/json; charset=utf-8"}), 201)

	// 404s have empty bodies; wrong methods are 405 with Allow.
	for _, p := range []string{"/api/v2/tickets/999", "/api/v2/contacts/1", "/api/v2/nothing", "/api/v1/tickets", "/api/v2/tickets/abc"} {
		r := h.get(p)
		if r.status != 404 || len(r.body) != 0 {
			t.Errorf("%s: %d %q", p, r.status, r.body)
		}
	}
	r = h.do("DELETE", "/api/v2/tickets", nil, nil)
	h.wantStatus(r, 405)
	if r.hdr.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", r.hdr.Get("Allow"))
	}
}

var tsRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func TestTicketJSONShape(t *testing.T) {
	h := newHarness(t, Options{})
	r := h.do("POST", "/api/v2/tickets", map[string]any{
		"subject": "Printer on fire", "description": "<div>It is <b>really</b> on fire &amp; smoking</div>",
		"email": "Grace@Example.com", "status": 2, "priority": 4,
	}, nil)
	h.wantStatus(r, 201)

	var view map[string]any
	r = h.get("/api/v2/tickets/1")
	h.wantStatus(r, 200)
	r.json(t, &view)
	want := append(slices.Clone(ticketListKeys), ticketViewExtra...)
	if got := slices.Sorted(mapKeys(view)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("keys\n got %v\nwant %v", got, slices.Sorted(slices.Values(want)))
	}
	for _, k := range []string{"responder_id", "group_id", "company_id", "to_emails", "type", "product_id", "email_config_id", "support_email", "association_type", "nr_due_by"} {
		if v, ok := view[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	for _, k := range []string{"cc_emails", "fwd_emails", "reply_cc_emails", "ticket_cc_emails", "tags", "attachments"} {
		if v, ok := view[k].([]any); !ok || len(v) != 0 {
			t.Errorf("%s = %#v, want []", k, view[k])
		}
	}
	for _, k := range []string{"created_at", "updated_at", "due_by", "fr_due_by"} {
		if s, _ := view[k].(string); !tsRe.MatchString(s) {
			t.Errorf("%s = %v", k, view[k])
		}
	}
	if view["created_at"] != "2026-03-10T12:00:15Z" || view["updated_at"] != view["created_at"] {
		t.Errorf("timestamps %v %v", view["created_at"], view["updated_at"])
	}
	if view["id"] != json.Number("1") || view["requester_id"] != json.Number("67042965499") || view["spam"] != false {
		t.Errorf("id %v requester %v spam %v", view["id"], view["requester_id"], view["spam"])
	}
	if view["description_text"] != "It is really on fire & smoking" {
		t.Errorf("description_text %q", view["description_text"])
	}
	if _, ok := view["deleted"]; ok {
		t.Error("live ticket carries deleted")
	}
	// The email created the requester, as in Freshdesk.
	c, ok := h.s.Contact(67042965499)
	if !ok || c["email"] != "grace@example.com" || c["name"] != "grace" {
		t.Fatalf("requester %v", c)
	}

	// Lists omit the description unless include=description (2 extra credits).
	var rows []map[string]any
	r = h.get("/api/v2/tickets")
	r.json(t, &rows)
	if _, ok := rows[0]["description"]; ok || len(rows[0]) != len(ticketListKeys) {
		t.Errorf("list row has %d keys", len(rows[0]))
	}
	r = h.get("/api/v2/tickets?include=description,requester,stats")
	r.json(t, &rows)
	if rows[0]["description_text"] == nil || rows[0]["requester"].(map[string]any)["email"] != "grace@example.com" || rows[0]["stats"] == nil {
		t.Errorf("includes: %v", rows[0])
	}
	if got := r.hdr.Get("X-RateLimit-Used-CurrentRequest"); got != "7" {
		t.Errorf("Used-CurrentRequest %q", got)
	}
	h.wantStatus(h.get("/api/v2/tickets?include=bogus"), 400)

	// Contact shape.
	var cv map[string]any
	r = h.get("/api/v2/contacts/67042965499")
	r.json(t, &cv)
	wantC := append(slices.Clone(contactKeys), "avatar")
	if got := slices.Sorted(mapKeys(cv)); !slices.Equal(got, slices.Sorted(slices.Values(wantC))) {
		t.Fatalf("contact keys %v", got)
	}
	if v, ok := cv["phone"]; !ok || v != nil {
		t.Errorf("phone %v", v)
	}
	if cv["id"] != json.Number("67042965499") {
		t.Errorf("contact id %v", cv["id"])
	}
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestListOrderingAndFilters(t *testing.T) {
	h := newHarness(t, Options{})
	a := h.s.CreateContact(map[string]any{"name": "A", "email": "a@example.com", "company_id": 67000000001})
	b := h.s.CreateContact(map[string]any{"name": "B", "email": "b@example.com"})
	t1 := h.s.CreateTicket(map[string]any{"requester_id": id(a), "status": 3, "priority": 1}) // 1
	t2 := h.s.CreateTicket(map[string]any{"requester_id": id(b), "status": 2, "priority": 4}) // 2, same second as 1
	h.clock.Advance(10 * time.Second)
	t3 := h.s.CreateTicket(map[string]any{"requester_id": id(a), "status": 5, "priority": 2}) // 3
	h.clock.Advance(10 * time.Second)
	if _, err := h.s.UpdateTicket(id(t1), map[string]any{"subject": "bumped"}); err != nil { // 1 now newest update
		t.Fatal(err)
	}
	_ = t2
	_ = t3

	for q, want := range map[string][]int64{
		"":                                           {3, 2, 1}, // created_at desc, ties id desc
		"?order_type=asc":                            {1, 2, 3},
		"?order_by=updated_at&order_type=asc":        {2, 3, 1},
		"?order_by=updated_at":                       {1, 3, 2},
		"?order_by=status&order_type=asc":            {2, 1, 3},
		"?order_by=due_by&order_type=asc":            {2, 3, 1}, // urgent +4h, medium created+10s +48h, low +72h
		"?requester_id=67042965499":                  {3, 1},
		"?email=A@example.com":                       {3, 1},
		"?company_id=67000000001&order_type=asc":     {1, 3},
		"?email=nobody@example.com":                  {},
		"?updated_since=2026-03-10T12:00:25Z":        {3, 1},
		"?updated_since=2026-03-10T12:00:25.9Z":      {1},
		"?updated_since=2026-03-10T12:00:35%2B00:00": {1},
		"?updated_since=2026-03-10":                  {3, 2, 1},
	} {
		if got := h.ids(h.get("/api/v2/tickets" + q)); !slices.Equal(got, want) {
			t.Errorf("%s: got %v want %v", q, got, want)
		}
	}
	for q, field := range map[string]string{
		"?order_by=subject":                        "order_by",
		"?order_type=up":                           "order_type",
		"?filter=new_and_my_open":                  "filter",
		"?filter=all":                              "filter",
		"?updated_since=yesterday":                 "updated_since",
		"?updated_since=2026-03-10T12:00:00+00:00": "updated_since", // unencoded '+' reads as a space
		"?since=2026-03-10":                        "since",
		"?requester_id=x":                          "requester_id",
		"?page=0":                                  "page",
		"?per_page=abc":                            "per_page",
	} {
		r := h.get("/api/v2/tickets?" + strings.TrimPrefix(q, "?"))
		var ve struct {
			Description string       `json:"description"`
			Errors      []FieldError `json:"errors"`
		}
		h.wantStatus(r, 400)
		r.json(t, &ve)
		if ve.Description != "Validation failed" || len(ve.Errors) != 1 || ve.Errors[0].Field != field {
			t.Errorf("%s: %s", q, r.body)
		}
	}
}

func TestUpdatedSinceInclusive(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.s.CreateContact(nil)
	tk := h.s.CreateTicket(nil)
	at := tk["updated_at"].(string)
	if at != c["updated_at"] || at != "2026-03-10T12:00:15Z" {
		t.Fatalf("updated_at %v %v", at, c["updated_at"])
	}
	next := "2026-03-10T12:00:16Z"
	if got := h.ids(h.get("/api/v2/tickets?updated_since=" + at)); !slices.Equal(got, []int64{1}) {
		t.Errorf("inclusive tickets: %v", got)
	}
	if got := h.ids(h.get("/api/v2/tickets?updated_since=" + next)); len(got) != 0 {
		t.Errorf("tickets after: %v", got)
	}
	if got := h.ids(h.get("/api/v2/contacts?_updated_since=" + at)); !slices.Equal(got, []int64{id(c)}) {
		t.Errorf("inclusive contacts: %v", got)
	}
	if got := h.ids(h.get("/api/v2/contacts?_updated_since=" + next)); len(got) != 0 {
		t.Errorf("contacts after: %v", got)
	}
	r := h.get("/api/v2/contacts?_updated_since=nope")
	h.wantStatus(r, 400)
	if !strings.Contains(string(r.body), `"field":"_updated_since"`) {
		t.Errorf("body %s", r.body)
	}
	// contacts are listed by updated_at ascending, then id
	h.clock.Advance(time.Second)
	c2 := h.s.CreateContact(nil)
	h.clock.Advance(time.Second)
	if _, err := h.s.UpdateContact(id(c), map[string]any{"job_title": "CEO"}); err != nil {
		t.Fatal(err)
	}
	if got := h.ids(h.get("/api/v2/contacts")); !slices.Equal(got, []int64{id(c2), id(c)}) {
		t.Errorf("contact order %v", got)
	}
}

func TestPerPageAndPageCap(t *testing.T) {
	h := newHarness(t, Options{})
	for range 35 {
		h.s.CreateTicket(nil)
	}
	if got := h.ids(h.get("/api/v2/tickets")); len(got) != 30 {
		t.Errorf("default per_page: %d", len(got))
	}
	if got := h.ids(h.get("/api/v2/tickets?per_page=100")); len(got) != 35 {
		t.Errorf("per_page=100: %d", len(got))
	}
	r := h.get("/api/v2/tickets?per_page=101")
	h.wantStatus(r, 400)
	if want := `{"description":"Validation failed","errors":[{"field":"per_page","message":"It should be a Positive Integer less than or equal to 100","code":"invalid_value"}]}`; string(r.body) != want {
		t.Errorf("per_page body %s", r.body)
	}
	h.wantStatus(h.get("/api/v2/contacts?per_page=101"), 400)

	r = h.get("/api/v2/tickets?updated_since=2020-01-01T00:00:00Z&per_page=100&page=301")
	h.wantStatus(r, 400)
	const want = `{"description":"Validation failed","errors":[{"field":"page","message":"You cannot access tickets beyond the 300th page. Please provide a smaller page number.","code":"invalid_value"}]}`
	if string(r.body) != want {
		t.Errorf("page cap body\n got %s\nwant %s", r.body, want)
	}
	if got := h.ids(h.get("/api/v2/tickets?page=300")); len(got) != 0 {
		t.Errorf("page 300: %v", got)
	}
	h.wantStatus(h.get("/api/v2/contacts?page=100000"), 200) // no cap for contacts

	h2 := newHarness(t, Options{PageCap: 3})
	r = h2.get("/api/v2/tickets?page=4")
	if !strings.Contains(string(r.body), "beyond the 3rd page") {
		t.Errorf("PageCap 3: %s", r.body)
	}
}

// walk follows Link headers from first and returns every id and the number of pages.
func (h *harness) walk(first string) ([]int64, int, reply) {
	h.t.Helper()
	var all []int64
	target, pages := first, 0
	for {
		r := h.get(target)
		if r.status != 200 {
			return all, pages, r
		}
		pages++
		all = append(all, h.ids(r)...)
		link := r.hdr.Get("Link")
		if link == "" {
			return all, pages, r
		}
		m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(link)
		if m == nil {
			h.t.Fatalf("Link %q", link)
		}
		target = m[1]
		if pages > 1000 {
			h.t.Fatal("runaway pagination")
		}
	}
}

func TestLinkHeader(t *testing.T) {
	h := newHarness(t, Options{})
	for i := range 25 {
		h.s.CreateContact(nil)
		h.s.CreateTicket(nil)
		if i%2 == 0 {
			h.clock.Advance(time.Second)
		}
	}
	first := "/api/v2/tickets?updated_since=2026-03-01T00%3A00%3A00Z&order_by=updated_at&order_type=asc&per_page=10"
	r := h.get(first)
	link := r.hdr.Get("Link")
	wantLink := "<" + h.ts.URL + `/api/v2/tickets?updated_since=2026-03-01T00%3A00%3A00Z&order_by=updated_at&order_type=asc&per_page=10&page=2>; rel="next"`
	if link != wantLink {
		t.Errorf("Link\n got %s\nwant %s", link, wantLink)
	}
	u, _ := url.Parse(h.ts.URL)
	if !strings.Contains(link, "<http://"+u.Host+"/") {
		t.Errorf("Link host %s", link)
	}
	ids, pages, last := h.walk(first)
	if pages != 3 || len(ids) != 25 || last.hdr.Get("Link") != "" {
		t.Errorf("tickets: pages %d ids %d last Link %q", pages, len(ids), last.hdr.Get("Link"))
	}
	want := make([]int64, 25)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("ids %v", ids)
	}
	// page in the middle of the query is replaced in place
	r = h.get("/api/v2/tickets?page=2&per_page=10")
	if l := r.hdr.Get("Link"); !strings.HasSuffix(l, `/api/v2/tickets?page=3&per_page=10>; rel="next"`) {
		t.Errorf("Link %s", l)
	}
	// exact multiple: no Link on the last full page
	r = h.get("/api/v2/tickets?per_page=5&page=5")
	if got := h.ids(r); len(got) != 5 || r.hdr.Get("Link") != "" {
		t.Errorf("last full page: %d rows, Link %q", len(got), r.hdr.Get("Link"))
	}
	if r := h.get("/api/v2/tickets?page=9"); string(r.body) != "[]" || r.hdr.Get("Link") != "" {
		t.Errorf("beyond the end: %s", r.body)
	}

	cids, cpages, _ := h.walk("/api/v2/contacts?per_page=7")
	if cpages != 4 || len(cids) != 25 || cids[0] != firstContactID {
		t.Errorf("contacts: pages %d ids %d first %d", cpages, len(cids), cids[0])
	}
}

func TestLinkLeadsToPageCap(t *testing.T) {
	h := newHarness(t, Options{PageCap: 2})
	for range 5 {
		h.s.CreateTicket(nil)
	}
	ids, pages, last := h.walk("/api/v2/tickets?per_page=2&order_type=asc")
	if pages != 2 || !slices.Equal(ids, []int64{1, 2, 3, 4}) || last.status != 400 ||
		!strings.Contains(string(last.body), "beyond the 2nd page") {
		t.Errorf("pages %d ids %v last %d %s", pages, ids, last.status, last.body)
	}
}

func TestDeletedAndSpamTickets(t *testing.T) {
	h := newHarness(t, Options{})
	for range 3 {
		h.s.CreateTicket(nil)
	}
	h.s.CreateTicket(map[string]any{"spam": true}) // 4
	h.clock.Advance(time.Minute)
	h.wantStatus(h.do("DELETE", "/api/v2/tickets/2", nil, nil), 204)
	h.wantStatus(h.do("DELETE", "/api/v2/tickets/2", nil, nil), 404)

	if got := h.ids(h.get("/api/v2/tickets?order_type=asc")); !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("default: %v", got)
	}
	if got := h.ids(h.get("/api/v2/tickets?filter=deleted")); !slices.Equal(got, []int64{2}) {
		t.Errorf("deleted: %v", got)
	}
	if got := h.ids(h.get("/api/v2/tickets?filter=deleted&updated_since=2026-03-10T12:01:15Z")); !slices.Equal(got, []int64{2}) {
		t.Errorf("deleted since: %v", got)
	}
	if got := h.ids(h.get("/api/v2/tickets?filter=spam")); !slices.Equal(got, []int64{4}) {
		t.Errorf("spam: %v", got)
	}
	var v map[string]any
	r := h.get("/api/v2/tickets/2")
	h.wantStatus(r, 200)
	r.json(t, &v)
	if v["deleted"] != true || v["updated_at"] != "2026-03-10T12:01:15Z" {
		t.Errorf("deleted view: deleted=%v updated_at=%v", v["deleted"], v["updated_at"])
	}
	h.wantStatus(h.do("PUT", "/api/v2/tickets/2", map[string]any{"priority": 2}, nil), 404)

	h.clock.Advance(time.Minute)
	h.wantStatus(h.do("PUT", "/api/v2/tickets/2/restore", nil, nil), 204)
	h.wantStatus(h.do("PUT", "/api/v2/tickets/2/restore", nil, nil), 404)
	tk, _ := h.s.Ticket(2)
	if _, ok := tk["deleted"]; ok || tk["updated_at"] != "2026-03-10T12:02:15Z" {
		t.Errorf("restored: %v", tk)
	}
	if got := h.ids(h.get("/api/v2/tickets?order_type=asc")); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("after restore: %v", got)
	}
	if err := h.s.RestoreTicket(2); !errors.Is(err, ErrNotDeleted) {
		t.Errorf("RestoreTicket live: %v", err)
	}
	if err := h.s.DeleteTicket(99); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteTicket unknown: %v", err)
	}

	// Archived: gone from lists and the view, not deleted, updated_at unchanged.
	if err := h.s.ArchiveTicket(1); !errors.Is(err, ErrNotClosed) {
		t.Errorf("archive open: %v", err)
	}
	if _, err := h.s.UpdateTicket(1, map[string]any{"status": 5}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.ArchiveTicket(1); err != nil {
		t.Fatal(err)
	}
	h.wantStatus(h.get("/api/v2/tickets/1"), 404)
	h.wantStatus(h.get("/api/v2/tickets/archived/1"), 200)
	for _, q := range []string{"", "?filter=deleted", "?updated_since=2020-01-01"} {
		if slices.Contains(h.ids(h.get("/api/v2/tickets"+q)), 1) {
			t.Errorf("archived ticket listed by %q", q)
		}
	}
	st := h.s.Stats()
	if st.Tickets != 4 || st.SpamTickets != 1 || st.ArchivedTickets != 1 || st.DeletedTickets != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeletedAndBlockedContacts(t *testing.T) {
	h := newHarness(t, Options{})
	a := h.s.CreateContact(map[string]any{"name": "A", "email": "a@example.com", "active": true})
	b := h.s.CreateContact(map[string]any{"name": "B", "email": "b@example.com"})
	c := h.s.CreateContact(map[string]any{"name": "C", "phone": "+1 555 0100", "blocked": true})
	h.clock.Advance(time.Second)
	h.wantStatus(h.do("DELETE", fmt.Sprintf("/api/v2/contacts/%d", id(b)), nil, nil), 204)

	for q, want := range map[string][]int64{
		"":                                   {id(a)},
		"?state=deleted":                     {id(b)},
		"?state=blocked":                     {id(c)},
		"?state=verified":                    {id(a)},
		"?state=unverified":                  {},
		"?email=A@EXAMPLE.COM":               {id(a)},
		"?email=b@example.com":               {},
		"?phone=%2B1+555+0100&state=blocked": {id(c)},
	} {
		if got := h.ids(h.get("/api/v2/contacts" + q)); !slices.Equal(got, want) {
			t.Errorf("%q: %v want %v", q, got, want)
		}
	}
	h.wantStatus(h.get("/api/v2/contacts?state=gone"), 400)

	var v map[string]any
	r := h.get(fmt.Sprintf("/api/v2/contacts/%d", id(b)))
	r.json(t, &v)
	if v["deleted"] != true || v["updated_at"] != "2026-03-10T12:00:16Z" {
		t.Errorf("deleted contact %v", v)
	}
	if _, err := h.s.UpdateContact(id(b), map[string]any{"name": "x"}); !errors.Is(err, ErrDeleted) {
		t.Errorf("update deleted: %v", err)
	}
	h.wantStatus(h.do("PUT", fmt.Sprintf("/api/v2/contacts/%d/restore", id(b)), nil, nil), 204)
	if got := h.ids(h.get("/api/v2/contacts")); !slices.Equal(got, []int64{id(a), id(b)}) {
		t.Errorf("after restore %v", got)
	}
	if cv, _ := h.s.Contact(id(b)); cv["deleted"] != nil {
		t.Errorf("restored contact still deleted")
	}
	if err := h.s.DeleteContact(id(a)); err != nil {
		t.Fatal(err)
	}
	if err := h.s.RestoreContact(id(a)); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultWindow(t *testing.T) {
	h := newHarness(t, Options{})
	old := h.s.CreateTicket(map[string]any{"created_at": t0.Add(-31 * 24 * time.Hour)})
	edge := h.s.CreateTicket(map[string]any{"created_at": "2026-02-08T12:00:15Z"}) // exactly 30 days
	recent := h.s.CreateTicket(map[string]any{"created_at": t0.Add(-time.Hour)})
	if got := h.ids(h.get("/api/v2/tickets")); !slices.Equal(got, []int64{id(recent), id(edge)}) {
		t.Errorf("default window: %v", got)
	}
	if got := h.ids(h.get("/api/v2/tickets?updated_since=2026-01-01T00:00:00Z")); !slices.Equal(got, []int64{id(recent), id(edge), id(old)}) {
		t.Errorf("with updated_since: %v", got)
	}
	// An update does not bring an old ticket back into the default list.
	if _, err := h.s.UpdateTicket(id(old), map[string]any{"priority": 3}); err != nil {
		t.Fatal(err)
	}
	if got := h.ids(h.get("/api/v2/tickets")); slices.Contains(got, id(old)) {
		t.Errorf("old ticket listed after update: %v", got)
	}
	h2 := newHarness(t, Options{DefaultWindow: 10 * time.Minute})
	h2.s.CreateTicket(map[string]any{"created_at": t0.Add(-11 * time.Minute)})
	if got := h2.ids(h2.get("/api/v2/tickets")); len(got) != 0 {
		t.Errorf("10m window: %v", got)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, Options{RatePerMinute: 3})
	for i, want := range []string{"2", "1", "0"} {
		r := h.get("/api/v2/tickets")
		h.wantStatus(r, 200)
		if r.hdr.Get("X-RateLimit-Total") != "3" || r.hdr.Get("X-RateLimit-Remaining") != want || r.hdr.Get("X-RateLimit-Used-CurrentRequest") != "1" {
			t.Errorf("request %d headers %v", i, r.hdr)
		}
	}
	r := h.get("/api/v2/tickets")
	h.wantStatus(r, 429)
	if string(r.body) != `{"message":"You have exceeded the limit of requests per minute"}` {
		t.Errorf("429 body %s", r.body)
	}
	if got := r.hdr.Get("Retry-After"); got != "45" { // clock at 12:00:15.5; window ends 12:01:00
		t.Errorf("Retry-After %q", got)
	}
	if r.hdr.Get("X-RateLimit-Remaining") != "0" || r.hdr.Get("X-RateLimit-Total") != "3" {
		t.Errorf("429 headers %v", r.hdr)
	}
	h.clock.Advance(44 * time.Second) // 12:00:59.5
	r = h.get("/api/v2/contacts")
	if r.status != 429 || r.hdr.Get("Retry-After") != "1" {
		t.Errorf("near the end: %d Retry-After %q", r.status, r.hdr.Get("Retry-After"))
	}
	h.clock.Advance(time.Second) // next minute
	r = h.get("/api/v2/tickets")
	h.wantStatus(r, 200)
	if r.hdr.Get("X-RateLimit-Remaining") != "2" {
		t.Errorf("new minute remaining %q", r.hdr.Get("X-RateLimit-Remaining"))
	}
	if st := h.s.Stats(); st.RateLimited != 2 || st.ByStatus[429] != 2 || st.ByEndpoint["GET /api/v2/tickets"] != 5 {
		t.Errorf("stats %+v", st)
	}

	// Invalid requests count; floats on request; list sub-limit.
	h2 := newHarness(t, Options{RatePerMinute: 10, ListRatePerMinute: 2, FloatRateHeaders: true})
	r = h2.do("GET", "/api/v2/tickets", nil, map[string]string{"Authorization": ""})
	h2.wantStatus(r, 401)
	if r.hdr.Get("X-RateLimit-Remaining") != "9.0" || r.hdr.Get("X-RateLimit-Total") != "10.0" {
		t.Errorf("float headers %v", r.hdr)
	}
	h2.wantStatus(h2.get("/api/v2/tickets"), 200)
	h2.wantStatus(h2.get("/api/v2/tickets"), 429)
	h2.wantStatus(h2.get("/api/v2/contacts"), 200)
	h2.wantStatus(h2.get("/api/v2/tickets/1"), 404)
}

func TestRESTWrites(t *testing.T) {
	h := newHarness(t, Options{})
	r := h.do("POST", "/api/v2/tickets", map[string]any{"status": "open", "foo": 1}, nil)
	h.wantStatus(r, 400)
	var ve struct{ Errors []FieldError }
	r.json(t, &ve)
	var fields []string
	for _, e := range ve.Errors {
		fields = append(fields, e.Field+"/"+e.Code)
	}
	want := []string{"foo/invalid_field", "status/datatype_mismatch", "subject/missing_field", "description/missing_field", "priority/missing_field", "requester_id/missing_field"}
	if !slices.Equal(fields, want) {
		t.Errorf("errors %v", fields)
	}
	h.wantStatus(h.do("POST", "/api/v2/tickets", map[string]any{"subject": "s", "description": "d", "status": 9, "priority": 1, "email": "x@example.com"}, nil), 400)
	h.wantStatus(h.do("POST", "/api/v2/tickets", map[string]any{"subject": "s", "description": "d", "status": 2, "priority": 1, "requester_id": 123}, nil), 400)
	h.wantStatus(h.do("POST", "/api/v2/tickets", map[string]any{"subject": "s", "description": "d", "status": 2, "priority": 1, "email": "x@example.com", "spam": true}, nil), 400)

	h.wantStatus(h.do("POST", "/api/v2/contacts", map[string]any{"name": "No Id"}, nil), 400)
	h.wantStatus(h.do("POST", "/api/v2/contacts", map[string]any{"email": "n@example.com"}, nil), 400)
	r = h.do("POST", "/api/v2/contacts", map[string]any{"name": "Ann", "email": "ann@example.com", "tags": []string{"vip"}}, nil)
	h.wantStatus(r, 201)
	var c map[string]any
	r.json(t, &c)
	if c["active"] != false || c["tags"].([]any)[0] != "vip" {
		t.Errorf("contact %v", c)
	}
	r = h.do("POST", "/api/v2/contacts", map[string]any{"name": "Ann 2", "email": "ANN@example.com"}, nil)
	h.wantStatus(r, 409)
	if !strings.Contains(string(r.body), `"code":"duplicate_value"`) {
		t.Errorf("409 body %s", r.body)
	}
	h.wantStatus(h.do("POST", "/api/v2/contacts", map[string]any{"name": "Phone Only", "phone": "123"}, nil), 201)

	r = h.do("POST", "/api/v2/tickets", map[string]any{"subject": "s", "description": "d", "status": 2, "priority": 1, "requester_id": c["id"]}, nil)
	h.wantStatus(r, 201)
	h.clock.Advance(90 * time.Second)
	r = h.do("PUT", "/api/v2/tickets/1", map[string]any{"status": 4, "tags": []string{"billing"}, "custom_fields": map[string]any{"cf_category": "Secondary"}}, nil)
	h.wantStatus(r, 200)
	var tk map[string]any
	r.json(t, &tk)
	if tk["status"] != json.Number("4") || tk["updated_at"] != "2026-03-10T12:01:45Z" || tk["created_at"] != "2026-03-10T12:00:15Z" ||
		tk["custom_fields"].(map[string]any)["cf_category"] != "Secondary" {
		t.Errorf("updated %v", tk)
	}
	h.wantStatus(h.do("PUT", "/api/v2/tickets/1", map[string]any{"created_at": "2020-01-01"}, nil), 400)
	h.wantStatus(h.do("PUT", "/api/v2/tickets/7", map[string]any{"status": 4}, nil), 404)
	h.wantStatus(h.do("PUT", fmt.Sprintf("/api/v2/contacts/%v", c["id"]), map[string]any{"job_title": "CFO"}, nil), 200)
	h.wantStatus(h.do("DELETE", fmt.Sprintf("/api/v2/contacts/%v", c["id"]), nil, nil), 204)
	h.wantStatus(h.get("/api/v2/tickets/1/conversations"), 200)

	// include=stats reflects the status change
	var withStats map[string]any
	h.get("/api/v2/tickets/1?include=stats").json(t, &withStats)
	if withStats["stats"].(map[string]any)["resolved_at"] != "2026-03-10T12:01:45Z" {
		t.Errorf("stats %v", withStats["stats"])
	}

	if _, err := h.s.UpdateTicket(1, map[string]any{"priority": "high"}); err == nil {
		t.Error("direct update accepted a bad priority")
	} else if ve := (*ValidationError)(nil); !errors.As(err, &ve) || ve.Errors[0].Field != "priority" {
		t.Errorf("err %v", err)
	}
}

func TestFailNext(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.FailNext(2, 503)
	h.wantStatus(h.get("/api/v2/tickets"), 503)
	h.wantStatus(h.get("/api/v2/tickets"), 503)
	h.wantStatus(h.get("/api/v2/tickets"), 200)
}

func TestSeedDeterministicAndRealistic(t *testing.T) {
	dump := func() (string, *Server) {
		clock := &fakeClock{t: t0}
		s := New(Options{Seed: 42, Now: clock.Now})
		s.Seed(300, 80)
		var b strings.Builder
		for i := int64(1); i <= 300; i++ {
			tk, ok := s.Ticket(i)
			if !ok {
				t.Fatalf("ticket %d missing", i)
			}
			j, _ := json.Marshal(tk)
			b.Write(j)
		}
		return b.String(), s
	}
	a, s := dump()
	b, _ := dump()
	if a != b {
		t.Fatal("Seed is not deterministic")
	}
	st := s.Stats()
	if st.Tickets != 300 || st.Contacts != 80 {
		t.Fatalf("stats %+v", st)
	}
	now := fmtTime(t0)
	var prevCreated string
	for i := int64(1); i <= 300; i++ {
		tk, _ := s.Ticket(i)
		created, updated := tk["created_at"].(string), tk["updated_at"].(string)
		if created >= now || updated >= now || updated < created || created < prevCreated {
			t.Errorf("ticket %d: created %s updated %s (prev %s)", i, created, updated, prevCreated)
		}
		prevCreated = created
		if _, ok := s.Contact(tk["requester_id"].(int64)); !ok {
			t.Errorf("ticket %d requester %v missing", i, tk["requester_id"])
		}
		if tk["subject"] == "" || tk["description_text"] == "" {
			t.Errorf("ticket %d empty text", i)
		}
	}
	for i := int64(firstContactID); i < firstContactID+80; i++ {
		c, ok := s.Contact(i)
		if !ok || c["name"] == nil || !strings.Contains(c["email"].(string), "@") {
			t.Errorf("contact %d: %v", i, c)
		}
	}
	// Some tickets are outside the default window, some inside.
	h := &harness{t: t, s: s, ts: httptest.NewServer(s)}
	defer h.ts.Close()
	h.s.SetAPIKey("secret-key")
	inWindow, _, _ := h.walk("/api/v2/tickets?per_page=100")
	all, _, _ := h.walk("/api/v2/tickets?per_page=100&updated_since=2000-01-01")
	if len(inWindow) == 0 || len(inWindow) >= len(all) {
		t.Errorf("window %d of %d", len(inWindow), len(all))
	}

	// Without contacts, tickets get a newly made requester.
	s2 := New(Options{Seed: 1, Now: (&fakeClock{t: t0}).Now})
	s2.Seed(3, 0)
	if st := s2.Stats(); st.Contacts == 0 {
		t.Error("no requester created")
	}
}

func TestMutate(t *testing.T) {
	clock := &fakeClock{t: t0}
	s := New(Options{Seed: 7, Now: clock.Now})
	s.Seed(20, 10)
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := map[string]int{}
	for range 500 {
		clock.Advance(time.Second)
		d := s.Mutate(rng)
		if d == "" || strings.Contains(d, "failed") {
			t.Fatalf("Mutate: %q", d)
		}
		f := strings.Fields(d)
		kinds[f[0]+" "+strings.TrimSuffix(f[2], ":")]++
	}
	for _, k := range []string{"ticket created", "ticket updated", "ticket deleted", "contact created", "contact updated", "contact deleted"} {
		if kinds[k] == 0 {
			t.Errorf("no %q in %v", k, kinds)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, Options{RatePerMinute: 1_000_000})
	h.s.Seed(50, 20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			client := h.ts.Client()
			for i := range 40 {
				switch i % 4 {
				case 0:
					h.s.Mutate(rng)
				case 1:
					req, _ := http.NewRequest("GET", h.ts.URL+"/api/v2/tickets?updated_since=2000-01-01&order_by=updated_at&order_type=asc&per_page=100", nil)
					req.SetBasicAuth("secret-key", "X")
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				case 2:
					body := strings.NewReader(`{"subject":"s","description":"d","status":2,"priority":1,"email":"c@example.com"}`)
					req, _ := http.NewRequest("POST", h.ts.URL+"/api/v2/tickets", body)
					req.SetBasicAuth("secret-key", "X")
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				default:
					if tk, ok := h.s.Ticket(1); ok {
						tk["subject"] = "caller mutation must not leak" // copies only
					}
					h.s.UpdateTicket(int64(1+rng.IntN(50)), map[string]any{"priority": int64(1 + rng.IntN(4))})
					_ = h.s.Stats()
					h.clock.Advance(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	if tk, _ := h.s.Ticket(1); tk["subject"] == "caller mutation must not leak" {
		t.Error("Ticket returned shared state")
	}
	if st := h.s.Stats(); st.Requests != 8*20 {
		t.Errorf("requests %d", st.Requests)
	}
}

// TestPathPrefix hosts an account under /a/7: requests route with the prefix removed, and
// Link headers keep it, so a walk stays inside the account.
func TestPathPrefix(t *testing.T) {
	h := newHarness(t, Options{PathPrefix: "/a/7"})
	for range 25 {
		h.s.CreateTicket(nil)
	}
	first := "/a/7/api/v2/tickets?updated_since=2026-03-01T00%3A00%3A00Z&per_page=10"
	ids, pages, last := h.walk(first)
	if pages != 3 || len(ids) != 25 || last.status != 200 {
		t.Errorf("pages %d ids %d status %d", pages, len(ids), last.status)
	}
	if r := h.get(first); !strings.Contains(r.hdr.Get("Link"), h.ts.URL+"/a/7/api/v2/tickets?") {
		t.Errorf("Link %q lost the prefix", r.hdr.Get("Link"))
	}
	h.wantStatus(h.get("/api/v2/tickets"), 404)
}
