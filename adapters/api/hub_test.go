package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pollen-hq/pollen/engine"
)

const (
	hubAPIKey   = "FD-APIKEY-SECRET-31337"
	hubToken    = "tok/ENABLED+1="
	hubDisabled = "tok-DISABLED-2"
	hubNoNulls  = "tok-KEEPNULLS-3"
)

// hubSourceFake is an engine.Source that records each request and answers it with answer.
type hubSourceFake struct {
	mu     sync.Mutex
	reqs   []engine.Request
	answer func(req engine.Request) (engine.Page, error)
}

func (s *hubSourceFake) Fetch(_ context.Context, req engine.Request) (engine.Page, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	answer := s.answer
	s.mu.Unlock()
	if answer == nil {
		return engine.Page{URL: req.URL, Body: []byte(`[]`)}, nil
	}
	pg, err := answer(req)
	pg.URL = req.URL
	return pg, err
}

// vendorError is a vendor's error answer, as the HTTP source reports it.
type vendorError struct {
	status        int
	code, message string
	text          string // the error's text
}

func (e *vendorError) Error() string         { return e.text }
func (e *vendorError) HTTPStatus() int       { return e.status }
func (e *vendorError) VendorCode() string    { return e.code }
func (e *vendorError) VendorMessage() string { return e.message }

// reqURL parses a vendor request's URL.
func reqURL(t *testing.T, r engine.Request) *url.URL {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (s *hubSourceFake) set(answer func(req engine.Request) (engine.Page, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = answer
}

func (s *hubSourceFake) last(t *testing.T) engine.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("no vendor request")
	}
	return s.reqs[len(s.reqs)-1]
}

func (s *hubSourceFake) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// answerBody answers every request with one page holding body; hasNext adds a Link rel="next".
func answerBody(body string, hasNext bool) func(engine.Request) (engine.Page, error) {
	return func(req engine.Request) (engine.Page, error) {
		pg := engine.Page{Body: []byte(body), Header: http.Header{}}
		if hasNext {
			pg.Header.Set("Link", "<"+req.URL+`&next=1>; rel="next"`)
		}
		return pg, nil
	}
}

// newHubHarness is a harness whose server reads the vendor through src, with three freshdeskv2
// instances: enabled (hubToken), disabled (hubDisabled), and one keeping nulls (hubNoNulls).
func newHubHarness(t *testing.T) (*harness, *hubSourceFake) {
	t.Helper()
	src := &hubSourceFake{}
	h := newHarness(t, 0, func(c *harnessConfig) { c.api.Source = src })
	for _, in := range []struct {
		token    string
		disabled bool
		nulls    any
	}{{hubToken, false, nil}, {hubDisabled, true, nil}, {hubNoNulls, false, false}} {
		conf := map[string]any{"subdomain": "acme", "username": hubAPIKey}
		if in.nulls != nil {
			conf["filter.response.nulls"] = in.nulls
		}
		rec := &engine.InstanceRecord{UserID: 1, OrganizationID: 1, Name: "hub " + in.token, Token: in.token, ElementKey: "freshdeskv2",
			Configuration: conf, CreatedAt: testNow, UpdatedAt: testNow, Disabled: in.disabled}
		if err := h.store.CreateInstance(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	return h, src
}

func hubAuth(token string) map[string]string {
	return map[string]string{"Authorization": "User " + userSecret + ", Organization " + orgSecret + ", Element " + token}
}

// hubGet calls GET path (query values escaped) as the enabled instance.
func (h *harness) hubGet(path string, query url.Values) response {
	h.t.Helper()
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return h.do("GET", path, nil, hubAuth(hubToken))
}

func recordIDs(t *testing.T, r response) []int64 {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var recs []struct{ ID int64 }
	if err := json.Unmarshal(r.body, &recs); err != nil {
		t.Fatalf("not an array of records: %v: %s", err, r.body)
	}
	ids := []int64{}
	for _, rec := range recs {
		ids = append(ids, rec.ID)
	}
	return ids
}

func TestHubAuth(t *testing.T) {
	h, src := newHubHarness(t)
	src.set(answerBody(`[{"id":1}]`, false))
	const path = "/hubs/helpdesk/incidents"
	for _, auth := range []string{
		"User " + userSecret + ", Organization " + orgSecret + ", Element " + hubToken,
		"element " + hubToken + ",organization " + orgSecret + ",user " + userSecret,
	} {
		if r := h.do("GET", path, nil, map[string]string{"Authorization": auth}); r.status != 200 || strings.TrimSpace(string(r.body)) != `[{"id":1}]` {
			t.Errorf("%q: %d %s", auth, r.status, r.body)
		}
	}
	for _, auth := range []string{
		"",
		goodAuth, // no Element
		"User " + userSecret + ", Element " + hubToken,                            // no Organization: the platform's tests sent this; not any more
		"Organization " + orgSecret + ", Element " + hubToken,                     // no User
		"User nope, Element " + hubToken,                                          // wrong user
		"User " + userSecret + ", Organization nope, Element " + hubToken,         // wrong organization
		"User " + userSecret + ", Organization " + orgSecret + ", Element nope",   // wrong token
		"User " + userSecret + ", Element " + hubToken + ", Element " + hubToken,  // malformed
		"User " + userSecret + ", Organization " + orgSecret + ", Element " + "x", // wrong token
	} {
		hdr := map[string]string{}
		if auth != "" {
			hdr["Authorization"] = auth
		}
		r := h.do("GET", path, nil, hdr)
		assertError(t, r, 401)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%q: no WWW-Authenticate", auth)
		}
	}
	e := assertError(t, h.do("GET", path, nil, hubAuth(hubDisabled)), 403)
	if !strings.Contains(e.Message, "disabled") {
		t.Errorf("disabled: %q", e.Message)
	}
	assertError(t, h.do("GET", path+"/1", nil, hubAuth(hubDisabled)), 403)

	e = assertError(t, h.hubGet("/hubs/crm/incidents", nil), 404)
	if !strings.Contains(e.Message, `serves hub "helpdesk"`) {
		t.Errorf("wrong hub: %q", e.Message)
	}
	e = assertError(t, h.hubGet("/hubs/helpdesk/tickets/7", nil), 404)
	if !strings.Contains(e.Message, "accounts, agents, contacts, groups, incidents") {
		t.Errorf("unknown resource: %q", e.Message)
	}
	r := h.do("POST", path, nil, hubAuth(hubToken))
	assertError(t, r, 405)
	if r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	assertError(t, h.do("DELETE", path+"/1", nil, hubAuth(hubToken)), 405)
	if n := src.count(); n != 2 {
		t.Errorf("%d vendor requests, want 2 (the accepted calls only)", n)
	}
	h.assertNoSecrets(hubAPIKey, hubToken)
}

// The seed poller url, its macro written out, called by hand asks the vendor what the poller asks.
func TestHubPollerURLByHand(t *testing.T) {
	h, src := newHubHarness(t)
	r := h.do("GET", "/hubs/helpdesk/incidents?where=updated_since='2024-01-01T00:00:00Z'", nil, hubAuth(hubToken))
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	req := src.last(t)
	if req.Endpoint.BaseURL != "https://acme.freshdesk.com" || req.Endpoint.Auth.Username != hubAPIKey ||
		req.URL != "https://acme.freshdesk.com/api/v2/tickets?order_by=updated_at&order_type=asc&per_page=100&updated_since=2024-01-01T00%3A00%3A00Z" {
		t.Errorf("vendor request %s", req.URL)
	}
	if r.header.Get(nextPageHeader) != "" {
		t.Errorf("next page token on the last page")
	}
}

func TestHubListQuery(t *testing.T) {
	h, src := newHubHarness(t)
	src.set(answerBody(`[{"id":1,"status":2},{"id":2,"status":3},{"id":3,"status":2}]`, true))
	r := h.hubGet("/hubs/helpdesk/incidents", url.Values{
		"where":    {"updated_since >= '2024-01-01T00:00:00Z' AND status = 2"},
		"orderBy":  {"created_at desc"},
		"page":     {"2"},
		"pageSize": {"50"},
	})
	if ids := recordIDs(t, r); fmt.Sprint(ids) != "[1 3]" {
		t.Errorf("records %v, want [1 3]: the residual filter drops status 3", ids)
	}
	req := src.last(t)
	if got := reqURL(t, req).Query().Encode(); got != "order_by=created_at&order_type=desc&page=2&per_page=50&updated_since=2024-01-01T00%3A00%3A00Z" {
		t.Errorf("vendor query %s", got)
	}
	tok := r.header.Get(nextPageHeader)
	if tok == "" || strings.Contains(tok, "3") {
		t.Fatalf("next page token %q: want an opaque token", tok)
	}

	// The token asks for the next page.
	r = h.hubGet("/hubs/helpdesk/incidents", url.Values{"nextPage": {tok}, "orderBy": {"created_at desc"}})
	if r.status != 200 || reqURL(t, src.last(t)).Query().Get("page") != "3" {
		t.Errorf("nextPage: %d, vendor request %s", r.status, src.last(t).URL)
	}
	// The usual paging helper sends the page number along with the token: the token wins.
	r = h.hubGet("/hubs/helpdesk/incidents", url.Values{"page": {"2"}, "pageSize": {"50"}, "nextPage": {tok}, "orderBy": {"created_at desc"}})
	if r.status != 200 || reqURL(t, src.last(t)).Query().Get("page") != "3" {
		t.Errorf("page and nextPage: %d %s, vendor request %s", r.status, r.body, src.last(t).URL)
	}

	// pageSize: the vendor's largest page by default and at most.
	for _, c := range []struct {
		size string
		want int
	}{{"", 100}, {"500", 100}, {"7", 7}} {
		q := url.Values{}
		if c.size != "" {
			q.Set("pageSize", c.size)
		}
		if r := h.hubGet("/hubs/helpdesk/contacts", q); r.status != 200 || reqURL(t, src.last(t)).Query().Get("per_page") != fmt.Sprint(c.want) {
			t.Errorf("pageSize %q: %d, vendor request %s, want per_page %d", c.size, r.status, src.last(t).URL, c.want)
		}
	}

	// The last page the vendor serves of one query offers no next page.
	r = h.hubGet("/hubs/helpdesk/incidents", url.Values{"page": {"300"}})
	if r.status != 200 || r.header.Get(nextPageHeader) != "" {
		t.Errorf("page 300: %d, token %q", r.status, r.header.Get(nextPageHeader))
	}

	before := src.count()
	for _, c := range []struct {
		query       url.Values
		ptr, inText string
	}{
		{url.Values{"where": {"updated_since='2024-01-01T00:00:00Z' AND\n  mood = 'happy'"}}, "/where", `2:3: resource incidents cannot filter on "mood"`},
		{url.Values{"where": {"status = "}}, "/where", "1:10"},
		{url.Values{"orderBy": {"status"}}, "/orderBy", "sortable fields: created_at, updated_at"},
		{url.Values{"orderBy": {"updated_at up"}}, "/orderBy", "asc or desc"},
		{url.Values{"page": {"0"}}, "/page", "1 or more"},
		{url.Values{"page": {"x"}}, "/page", "whole number"},
		{url.Values{"page": {"301"}}, "/page", "300"},
		{url.Values{"pageSize": {"-3"}}, "/pageSize", "1 or more"},
		{url.Values{"nextPage": {"bm9wZQ"}}, "/nextPage", "not a token"},
	} {
		e := assertError(t, h.hubGet("/hubs/helpdesk/incidents", c.query), 400)
		if len(e.Errors) != 1 || e.Errors[0].Pointer != c.ptr || !strings.Contains(e.Errors[0].Message, c.inText) ||
			!strings.Contains(e.Message, c.inText) {
			t.Errorf("%v: %+v", c.query, e)
		}
	}
	if n := src.count(); n != before {
		t.Errorf("%d vendor requests for rejected calls", n-before)
	}
	h.assertNoSecrets(hubAPIKey, hubToken)
}

func TestHubNulls(t *testing.T) {
	h, src := newHubHarness(t)
	const rec = `{"id":1,"a":null,"big":12345678901234567890,"b":{"c":null,"d":[null,{"e":null,"f":1.50}]},"z":"x"}`
	src.set(answerBody(`[`+rec+`]`, false))
	r := h.hubGet("/hubs/helpdesk/incidents", nil)
	if got := strings.TrimSpace(string(r.body)); got != `[{"id":1,"big":12345678901234567890,"b":{"d":[null,{"f":1.50}]},"z":"x"}]` {
		t.Errorf("nulls filtered (the default): %s", got)
	}
	r = h.do("GET", "/hubs/helpdesk/incidents", nil, hubAuth(hubNoNulls))
	if got := strings.TrimSpace(string(r.body)); got != `[`+rec+`]` {
		t.Errorf("filter.response.nulls false: %s", got)
	}
	src.set(answerBody(rec, false))
	r = h.hubGet("/hubs/helpdesk/incidents/1", nil)
	if got := strings.TrimSpace(string(r.body)); r.status != 200 || got != `{"id":1,"big":12345678901234567890,"b":{"d":[null,{"f":1.50}]},"z":"x"}` {
		t.Errorf("single record, nulls filtered: %d %s", r.status, got)
	}
	r = h.do("GET", "/hubs/helpdesk/incidents/1", nil, hubAuth(hubNoNulls))
	if got := strings.TrimSpace(string(r.body)); got != rec {
		t.Errorf("single record, nulls kept: %s", got)
	}
}

func TestHubSingleGet(t *testing.T) {
	h, src := newHubHarness(t)
	src.set(answerBody(`{"id":42,"subject":"jammed"}`, false))
	r := h.hubGet("/hubs/helpdesk/contacts/42", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"id":42,"subject":"jammed"}` {
		t.Errorf("%d %s", r.status, r.body)
	}
	if req := src.last(t); req.URL != "https://acme.freshdesk.com/api/v2/contacts/42" || req.Endpoint.Auth.Username != hubAPIKey {
		t.Errorf("vendor request %s", req.URL)
	}
	h.hubGet("/hubs/helpdesk/incidents/a%2Fb%20c", nil)
	if req := src.last(t); req.URL != "https://acme.freshdesk.com/api/v2/tickets/a%2Fb%20c" {
		t.Errorf("escaped id: vendor request %s", req.URL)
	}

	src.set(func(engine.Request) (engine.Page, error) {
		return engine.Page{}, &vendorError{status: 404, text: "vendor: GET https://acme.freshdesk.com/api/v2/tickets/9: 404 Not Found"}
	})
	e := assertError(t, h.hubGet("/hubs/helpdesk/incidents/9", nil), 404)
	if !strings.Contains(e.Message, `No incidents record with id "9"`) {
		t.Errorf("vendor 404: %q", e.Message)
	}
	// A 404 listing is the vendor's failure, not a missing record.
	assertError(t, h.hubGet("/hubs/helpdesk/incidents", nil), 502)

	src.set(answerBody(`[{"id":9}]`, false))
	e = assertError(t, h.hubGet("/hubs/helpdesk/incidents/9", nil), 502)
	if !strings.Contains(e.Message, "definition") {
		t.Errorf("not an object: %q", e.Message)
	}
	h.assertNoSecrets(hubAPIKey, hubToken)
}

func TestHubVendorErrors(t *testing.T) {
	h, src := newHubHarness(t)
	for _, c := range []struct {
		err                     error
		status, vendorStatus    int
		inMessage, vendorCode   string
		vendorMessage, notInAny string
	}{
		{err: &vendorError{status: 401, code: "invalid_credentials", message: "You have to be logged in to perform this action. Key " + hubAPIKey + " rejected",
			text: "vendor: GET https://acme.freshdesk.com/api/v2/tickets: 401 Unauthorized: invalid_credentials"},
			status: 502, vendorStatus: 401, inMessage: "The vendor answered 401 Unauthorized: invalid_credentials: You have to be logged in",
			vendorCode: "invalid_credentials", vendorMessage: "You have to be logged in to perform this action. Key ******** rejected"},
		{err: &vendorError{status: 429, text: "vendor: GET: 429"}, status: 502, vendorStatus: 429, inMessage: "429 Too Many Requests"},
		{err: &vendorError{status: 503, message: "maintenance", text: "vendor: GET: 503"}, status: 502, vendorStatus: 503, inMessage: "503 Service Unavailable: maintenance", vendorMessage: "maintenance"},
		{err: fmt.Errorf("vendor: GET https://u:%s@acme.freshdesk.com/api/v2/tickets: connection refused", hubAPIKey), status: 502,
			inMessage: "The vendor request failed: vendor: GET https://u:********@acme.freshdesk.com"},
		{err: fmt.Errorf("vendor: GET x: %w", context.DeadlineExceeded), status: 504, inMessage: "in time"},
	} {
		src.set(func(engine.Request) (engine.Page, error) { return engine.Page{}, c.err })
		r := h.hubGet("/hubs/helpdesk/incidents", nil)
		if r.status != c.status {
			t.Errorf("%v: status %d, want %d: %s", c.err, r.status, c.status, r.body)
			continue
		}
		var e hubErrorJSON
		r.json(t, &e)
		if e.RequestID == "" || !strings.Contains(e.Message, c.inMessage) || e.VendorStatus != c.vendorStatus ||
			e.VendorCode != c.vendorCode || e.VendorMessage != c.vendorMessage {
			t.Errorf("%v: %+v", c.err, e)
		}
	}
	// The vendor's page is not what the definition describes.
	src.set(answerBody(`{"tickets":[]}`, false))
	r := h.hubGet("/hubs/helpdesk/incidents", nil)
	if e := assertError(t, r, 502); !strings.Contains(e.Message, "does not fit resource incidents") {
		t.Errorf("bad page: %q", e.Message)
	}
	if !errors.Is(fmt.Errorf("x: %w", engine.ErrVendorBody), engine.ErrVendorBody) {
		t.Fatal("ErrVendorBody does not wrap")
	}
	h.assertNoSecrets(hubAPIKey, hubToken)
}

func TestHubWithoutSource(t *testing.T) {
	h, _ := newHubHarness(t)
	s := h.build(0)
	req := httptest.NewRequest("GET", "/hubs/helpdesk/incidents", nil)
	req.Header.Set("Authorization", hubAuth(hubToken)["Authorization"])
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("no source: %d %s", rec.Code, rec.Body.String())
	}
}

func TestDropNulls(t *testing.T) {
	for in, want := range map[string]string{
		`{}`:                               `{}`,
		`[]`:                               `[]`,
		`null`:                             `null`,
		`{"a":null}`:                       `{}`,
		` {"a" : null , "b" : [ null ] } `: `{"b":[null]}`,
		`{"a\"b":null,"c\u00e9":"\u00e9"}`: `{"c\u00e9":"\u00e9"}`,
		`[{"a":{"b":null}},1,"s",true]`:    `[{"a":{}},1,"s",true]`,
	} {
		if got := string(dropNulls(json.RawMessage(in))); got != want {
			t.Errorf("dropNulls(%s) = %s, want %s", in, got, want)
		}
	}
}
