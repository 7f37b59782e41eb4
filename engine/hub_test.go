package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// hubSourceFake is a Source that records requests and answers them with pages, in order (or err).
type hubSourceFake struct {
	reqs  []Request
	pages []Page
	err   error
}

func (s *hubSourceFake) Fetch(_ context.Context, req Request) (Page, error) {
	s.reqs = append(s.reqs, req)
	if s.err != nil {
		return Page{}, s.err
	}
	if len(s.pages) == 0 {
		return Page{Body: []byte("[]")}, nil
	}
	pg := s.pages[0]
	s.pages = s.pages[1:]
	pg.URL = req.URL
	return pg, nil
}

// vendorPage is a page with body; next adds a Link rel="next" to page 2 of the same query.
func vendorPage(body string, next bool) Page {
	pg := Page{Body: []byte(body), Header: http.Header{}}
	if next {
		pg.Header.Set("Link", `<https://acme.freshdesk.com/api/v2/tickets?page=2>; rel="next"`)
	}
	return pg
}

// query returns a request's URL query.
func query(t *testing.T, r Request) url.Values {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// hubURL runs q against an empty vendor and returns the URL it asked for.
func hubURL(t *testing.T, q *HubQuery) *url.URL {
	t.Helper()
	src := &hubSourceFake{}
	_, _, _ = q.Run(context.Background(), src) // the URL is what matters here
	u, err := url.Parse(src.reqs[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// vendorErrFake is a vendor error with a status.
type vendorErrFake struct{ status int }

func (e *vendorErrFake) Error() string         { return fmt.Sprintf("vendor: %d", e.status) }
func (e *vendorErrFake) HTTPStatus() int       { return e.status }
func (e *vendorErrFake) VendorCode() string    { return "" }
func (e *vendorErrFake) VendorMessage() string { return "" }

// pollerWhere returns the where clause of a poller url with its macro replaced by a literal date.
func pollerWhere(t *testing.T, j *JobSpec, date string) string {
	t.Helper()
	_, rawQuery, _ := strings.Cut(j.Poller.URL, "?")
	where := strings.TrimPrefix(rawQuery, "where=")
	if where == rawQuery || strings.Contains(where, "&") {
		t.Fatalf("unexpected poller url %q", j.Poller.URL)
	}
	return strings.ReplaceAll(where, "${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}", date)
}

func mustHubQuery(t *testing.T, in *Instance, resource, where, orderBy string, page, pageSize int) *HubQuery {
	t.Helper()
	q, err := in.HubQuery(resource, where, orderBy, page, pageSize)
	if err != nil {
		t.Fatalf("HubQuery(%q, %q, %q, %d, %d): %v", resource, where, orderBy, page, pageSize, err)
	}
	return q
}

// The seed poller url, its macro written out as a literal date, called as a hub call asks the
// vendor exactly what the poll asks, page after page.
func TestHubQuerySameVendorQueryAsPoller(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, res := range []string{"incidents", "contacts"} {
		in := testInstance(t, res, `{}`)
		j, ok := in.Job(res)
		if !ok {
			t.Fatalf("%s: no job", res)
		}
		where := pollerWhere(t, j, "2024-01-01T00:00:00Z")
		w := testWalk(in, j, StreamChanges, &Mark{Since: at}, at)
		w.jd.setLower(at)
		for _, page := range []int{1, 2} {
			want, err := w.url(at, page, false)
			if err != nil {
				t.Fatal(err)
			}
			got := hubURL(t, mustHubQuery(t, in, res, where, "", page, 0))
			if got.String() != want.String() {
				t.Errorf("%s page %d: hub request\n%s\nwant the poller's\n%s", res, page, got, want)
			}
		}
	}
	in := testInstance(t, "incidents", `{}`)
	src := &hubSourceFake{}
	q := mustHubQuery(t, in, "incidents", "updated_since='2024-01-01T00:00:00Z'", "", 1, 0)
	if _, _, err := q.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	got := src.reqs[0]
	if got.URL != "https://acme.freshdesk.com/api/v2/tickets?order_by=updated_at&order_type=asc&per_page=100&updated_since=2024-01-01T00%3A00%3A00Z" ||
		got.Endpoint.Auth.Username != "key" || !got.JSON {
		t.Errorf("request = %s (%+v)", got.URL, got)
	}
}

func TestHubQueryResidualDropsRecords(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	// ticketJSON gives status 2+id%4 and the custom field cf_region "EMEA".
	body := "[" + ticketJSON(1, "2024-01-02T00:00:00Z", "2024-01-02T00:00:00Z", "") + "," +
		ticketJSON(2, "2024-01-02T00:00:00Z", "2024-01-02T00:00:00Z", "") + "," +
		ticketJSON(5, "2024-01-02T00:00:00Z", "2024-01-02T00:00:00Z", "") + "]"
	q := mustHubQuery(t, in, "incidents",
		"updated_since >= '2024-01-01T00:00:00Z' AND requester_id = 67042965401 AND status = 3 AND custom_fields.cf_region = 'EMEA'", "", 1, 0)
	src := &hubSourceFake{pages: []Page{vendorPage(body, true)}}
	recs, next, err := q.Run(context.Background(), src)
	hasNext := next != ""
	if err != nil {
		t.Fatal(err)
	}
	if v := query(t, src.reqs[0]); v.Get("updated_since") != "2024-01-01T00:00:00Z" || v.Get("requester_id") != "67042965401" || v.Has("status") {
		t.Errorf("vendor query %s: want updated_since and requester_id sent, status kept", v.Encode())
	}
	var ids []int64
	for _, r := range recs {
		ids = append(ids, gjson.GetBytes(r, "id").Int())
	}
	if !reflect.DeepEqual(ids, []int64{1, 5}) || !hasNext {
		t.Errorf("ids %v, hasNext %v; want [1 5], true (a short page, the vendor's next page)", ids, hasNext)
	}
	if !gjson.ValidBytes(recs[0]) || gjson.GetBytes(recs[0], "custom_fields.cf_region").Str != "EMEA" {
		t.Errorf("record not returned whole: %s", recs[0])
	}

	// No condition kept: an empty page is an empty list, and no next page.
	src = &hubSourceFake{pages: []Page{vendorPage(body, false)}}
	recs, next, err = mustHubQuery(t, in, "incidents", "status = 9", "", 1, 0).Run(context.Background(), src)
	hasNext = next != ""
	if err != nil || recs == nil || len(recs) != 0 || hasNext {
		t.Errorf("got %v %v %v, want an empty, non-nil list", recs, hasNext, err)
	}
}

// A change cursor the vendor cannot filter on (agents) is not sent; records updated before it
// are dropped by their updated date.
func TestHubQueryWindowedCursor(t *testing.T) {
	in := testInstance(t, "agents", `{}`)
	q := mustHubQuery(t, in, "agents", "updated_since='2024-03-01T10:00:00Z'", "", 1, 0)
	src := &hubSourceFake{pages: []Page{vendorPage(`[
		{"id":1,"updated_at":"2024-03-01T09:59:59Z"},{"id":2,"updated_at":"2024-03-01T10:00:00Z"},
		{"id":3,"updated_at":"2024-03-02T00:00:00+01:00"},{"id":4}]`, false)}}
	recs, _, err := q.Run(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if v := query(t, src.reqs[0]); v.Has("updated_since") || v.Has("") {
		t.Errorf("vendor query %s: nothing must be sent for the cursor", v.Encode())
	}
	if len(recs) != 2 || gjson.GetBytes(recs[0], "id").Int() != 2 || gjson.GetBytes(recs[1], "id").Int() != 3 {
		t.Errorf("records %s", recs)
	}
	_, err = in.HubQuery("agents", "updated_since='yesterday'", "", 1, 0)
	checkHubErr(t, err, "/where", "1:15", "not a date")
}

func checkHubErr(t *testing.T, err error, ptr string, wants ...string) {
	t.Helper()
	es := AsErrors(err)
	if len(es) == 0 {
		t.Fatalf("no error, want %s: %v", ptr, wants)
	}
	for _, e := range es {
		if e.Pointer != ptr {
			continue
		}
		ok := true
		for _, w := range wants {
			ok = ok && strings.Contains(e.Msg, w)
		}
		if ok {
			return
		}
	}
	t.Errorf("errors %v: none at %s holding %q", err, ptr, wants)
}

func TestHubQueryRejects(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	cases := []struct {
		where, orderBy string
		page, size     int
		ptr            string
		wants          []string
	}{
		{where: "updated_since='2024-01-01T00:00:00Z' AND\n  bogus = 1", ptr: "/where",
			wants: []string{"2:3", `cannot filter on "bogus"`, "vendor filters: company_id, email", "record fields: cc_emails"}},
		{where: "status = 2 OR email = 'a@b.c'", ptr: "/where", wants: []string{"1:15", "email can only be used in a top-level AND"}},
		{where: "requester_id > 5", ptr: "/where", wants: []string{"1:1", "requester_id supports only ="}},
		{where: "status = ", ptr: "/where", wants: []string{"1:10"}},
		{where: "email = null", ptr: "/where", wants: []string{"1:9", "null cannot be sent"}},
		{where: "subject = 'a\x00b'", ptr: "/where", wants: []string{"NUL"}},
		{orderBy: "status desc", ptr: "/orderBy", wants: []string{`cannot be sorted by "status"`, "sortable fields: created_at, updated_at"}},
		{orderBy: "updated_at sideways", ptr: "/orderBy", wants: []string{"asc or desc"}},
		{orderBy: "updated_at asc, created_at desc", ptr: "/orderBy", wants: []string{"one field"}},
		{page: 0, ptr: "/page", wants: []string{"1 or more"}},
		{page: 301, ptr: "/page", wants: []string{"300"}},
		{page: 1, size: 101, ptr: "/pageSize", wants: []string{"largest page (100)"}},
		{page: 1, size: -1, ptr: "/pageSize", wants: []string{"1 or more"}},
	}
	for _, c := range cases {
		page := c.page
		if page == 0 && c.ptr != "/page" {
			page = 1
		}
		_, err := in.HubQuery("incidents", c.where, c.orderBy, page, c.size)
		checkHubErr(t, err, c.ptr, c.wants...)
	}
	_, err := in.HubQuery("contacts", "", "updated_at", 1, 0)
	checkHubErr(t, err, "/orderBy", "the vendor cannot sort it")

	_, err = in.HubQuery("tickets", "", "", 1, 0)
	if !errors.Is(err, ErrNoResource) || !strings.Contains(err.Error(), "it has accounts, agents, contacts, groups, incidents") {
		t.Errorf("unknown resource: %v", err)
	}
}

func TestHubQueryOrderByAndPaging(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	for _, c := range []struct {
		orderBy, by, dir string
	}{
		{"", "updated_at", "asc"}, // the resource's fixed query
		{"updated_at desc", "updated_at", "desc"},
		{"created_at", "created_at", "asc"},
		{"  created_at   DESC ", "created_at", "desc"},
	} {
		v := hubURL(t, mustHubQuery(t, in, "incidents", "", c.orderBy, 1, 0)).Query()
		if v.Get("order_by") != c.by || v.Get("order_type") != c.dir || len(v["order_by"]) != 1 {
			t.Errorf("orderBy %q: vendor query %s", c.orderBy, v.Encode())
		}
	}

	v := hubURL(t, mustHubQuery(t, in, "incidents", "", "", 3, 50)).Query()
	if v.Get("page") != "3" || v.Get("per_page") != "50" {
		t.Errorf("page 3 of 50: %s", v.Encode())
	}
	if v := hubURL(t, mustHubQuery(t, in, "incidents", "", "", 1, 0)).Query(); v.Has("page") {
		t.Errorf("page 1 sends page: %s", v.Encode())
	}

	// The vendor's next page is the hub's, but for the last page the vendor serves of a query.
	for _, c := range []struct {
		page, vendorNext, want int
	}{{1, 1, 1}, {1, 0, 0}, {299, 1, 1}, {300, 1, 0}} {
		src := &hubSourceFake{pages: []Page{vendorPage(`[{"id":1}]`, c.vendorNext == 1), vendorPage(`[{"id":2}]`, false)}}
		recs, next, err := mustHubQuery(t, in, "incidents", "", "", c.page, 0).Run(context.Background(), src)
		if err != nil || len(recs) != 1 || (next != "") != (c.want == 1) {
			t.Errorf("page %d, vendor next %d: %d records, next %q, %v", c.page, c.vendorNext, len(recs), next, err)
		}
		if c.want == 1 && next != fmt.Sprintf("p%d", c.page+1) {
			t.Errorf("page %d: next %q", c.page, next)
		}
	}
}

// A resource paged by the vendor's own next link (Zendesk's exports) goes on from that link, under
// the resource's path only.
func TestHubQueryContinuesVendorLinks(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	q := mustHubQuery(t, in, "incidents", "", "", 1, 0)
	q.Resource = &Resource{Name: "x", VendorPath: "/api/v2/x.json", records: "xs", pager: &pager{kind: "body", nextPath: "next_page", endPath: "end"}}
	src := &hubSourceFake{pages: []Page{{Body: []byte(`{"xs":[{"id":1}],"next_page":"https://acme.freshdesk.com/api/v2/x.json?start_time=9","end":false}`)}}}
	_, next, err := q.Run(context.Background(), src)
	if err != nil || next != "u/api/v2/x.json?start_time=9" {
		t.Fatalf("next %q, %v", next, err)
	}
	if err := q.Continue(next); err != nil {
		t.Fatal(err)
	}
	if u := hubURL(t, q); u.String() != "https://acme.freshdesk.com/api/v2/x.json?start_time=9" {
		t.Errorf("continued at %s", u)
	}
	for _, bad := range []string{"u/api/v2/tickets?x=1", "uhttps://evil.example/api/v2/x.json", "u//evil.example/api/v2/x.json", "p1", "q", ""} {
		if err := q.Continue(bad); err == nil {
			t.Errorf("continuation %q accepted", bad)
		}
	}
}

func TestHubQueryVendorAnswers(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	q := mustHubQuery(t, in, "incidents", "", "", 1, 0)
	verr := &vendorErrFake{status: 429}
	if _, _, err := q.Run(context.Background(), &hubSourceFake{err: verr}); !errors.Is(err, verr) {
		t.Errorf("vendor error: %v", err)
	}
	for _, body := range []string{`{"errors":[]}`, `[{"id":1},{"id":`, `<html>`} {
		_, _, err := q.Run(context.Background(), &hubSourceFake{pages: []Page{vendorPage(body, false)}})
		if !errors.Is(err, ErrVendorBody) {
			t.Errorf("body %s: %v", body, err)
		}
	}
}

func TestHubGet(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	src := &hubSourceFake{pages: []Page{vendorPage(` {"id":12,"subject":"x"} `, false)}}
	rec, err := in.HubGet(context.Background(), src, "incidents", "12/3 ?")
	if err != nil {
		t.Fatal(err)
	}
	if string(rec) != `{"id":12,"subject":"x"}` {
		t.Errorf("record %s", rec)
	}
	req := src.reqs[0]
	if req.URL != "https://acme.freshdesk.com/api/v2/tickets/12%2F3%20%3F" || req.Endpoint.BaseURL != "https://acme.freshdesk.com" {
		t.Errorf("request %+v", req)
	}
	u, err := url.Parse(req.URL)
	if err != nil || u.Path != "/api/v2/tickets/12/3 ?" {
		t.Errorf("URL %q does not unescape to the id: %v", req.URL, err)
	}

	for _, body := range []string{`[{"id":12}]`, `{"id":`, ``, `null`} {
		_, err := in.HubGet(context.Background(), &hubSourceFake{pages: []Page{vendorPage(body, false)}}, "incidents", "12")
		if !errors.Is(err, ErrVendorBody) {
			t.Errorf("body %q: %v", body, err)
		}
	}
	verr := &vendorErrFake{status: 404}
	if _, err := in.HubGet(context.Background(), &hubSourceFake{err: verr}, "incidents", "12"); !errors.Is(err, verr) {
		t.Errorf("vendor 404: %v", err)
	}
	if _, err := in.HubGet(context.Background(), src, "nope", "12"); !errors.Is(err, ErrNoResource) {
		t.Errorf("unknown resource: %v", err)
	}
	if _, err := in.HubGet(context.Background(), src, "incidents", ""); err == nil {
		t.Errorf("empty id accepted")
	}
}

// A sort definition without its parameter or value is refused when the definition loads.
func TestCompileResourceSort(t *testing.T) {
	cat := testCatalog(t)
	el, _ := cat.Element("freshdeskv2")
	spec := el.Resources["incidents"].Spec
	spec.Sort = map[string]SortSpec{
		"a": {Value: "a"},
		"b": {Param: "order_by"},
		"c": {Param: "order_by", Value: "c", DirectionParam: "order_by"},
	}
	_, err := CompileResource(el, "incidents", spec)
	es := AsErrors(err)
	es.Sort()
	want := []string{"/sort/a/param", "/sort/b/value", "/sort/c/directionParam"}
	var ptrs []string
	for _, e := range es {
		ptrs = append(ptrs, e.Pointer)
	}
	if !reflect.DeepEqual(ptrs, want) {
		t.Errorf("errors %v, want pointers %v", err, want)
	}
}
