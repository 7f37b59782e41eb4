package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/engine"
)

// The platform's clients' habits, against the handlers (cmd/pollen/conformance_test.go runs the
// same habits against a real server and the Freshdesk simulator).

// getJSON GETs a path and decodes the answer, numbers as json.Number.
func (h *harness) getJSON(path string, v any) response {
	h.t.Helper()
	r := h.do("GET", path, nil, nil)
	if r.status != 200 {
		h.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	r.json(h.t, v)
	return r
}

// Read, modify, write back: what GET returned, changed, is accepted by PUT and PATCH; nothing but
// the change is stored.
func TestWriteBackWhatGETReturned(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	before := h.record(1)
	for i, method := range []string{"PUT", "PATCH"} {
		var inst map[string]any
		h.getJSON("/instances/1", &inst)
		tags := []any{fmt.Sprint("rmw-", i)}
		inst["tags"] = tags
		b, _ := json.Marshal(inst)
		r := h.send(method, "/instances/1", string(b))
		if r.status != 200 {
			t.Fatalf("%s of the GET object: %d %s", method, r.status, r.body)
		}
		got := h.record(1)
		if !slices.Equal(got.Tags, []string{fmt.Sprint("rmw-", i)}) || got.Name != before.Name || got.Token != before.Token {
			t.Errorf("%s: stored %+v", method, got)
		}
		// The configuration is stored as it was: secrets kept (not "********"), defaults not
		// written in, the poller configuration and the number keep their form.
		if !reflect.DeepEqual(got.Configuration, before.Configuration) {
			t.Errorf("%s: configuration\n got %#v\nwant %#v", method, got.Configuration, before.Configuration)
		}
		if in := h.lastApplied(); in.SignatureKey != sigKey {
			t.Errorf("%s: signature key %q", method, in.SignatureKey)
		}
	}
	// PATCH with {id, tags}: the churros habit.
	if r := h.send("PATCH", "/instances/1", `{"id": 1, "tags": ["churros-testing"]}`); r.status != 200 {
		t.Fatalf("PATCH {id, tags}: %d %s", r.status, r.body)
	}
	if got := h.record(1); !slices.Equal(got.Tags, []string{"churros-testing"}) {
		t.Errorf("tags %v", got.Tags)
	}
	if r := h.send("PATCH", "/instances/1", `{"id": "1", "elementId": 491, "element": {"id": 491, "key": "freshdeskv2"}, "name": "renamed"}`); r.status != 200 {
		t.Errorf("PATCH with read-only fields naming this instance: %d %s", r.status, r.body)
	}
	// A changed configuration key in a written-back object is applied, and checked.
	var inst map[string]any
	h.getJSON("/instances/1", &inst)
	inst["configuration"].(map[string]any)["subdomain"] = "acme2"
	b, _ := json.Marshal(inst)
	if r := h.send("PUT", "/instances/1", string(b)); r.status != 200 || h.record(1).Configuration["subdomain"] != "acme2" {
		t.Errorf("PUT with a changed key: %d %s", r.status, r.body)
	}
	inst["configuration"].(map[string]any)["event.poller.refresh_interval"] = "soon"
	b, _ = json.Marshal(inst)
	if e := assertError(t, h.send("PUT", "/instances/1", string(b)), 400); len(e.Errors) != 1 || e.Errors[0].Pointer != "/configuration/event.poller.refresh_interval" {
		t.Errorf("PUT with a bad value: %+v", e)
	}

	// Read-only fields that name another instance, token or element are refused; nothing changes.
	before = h.record(1)
	for body, ptr := range map[string]string{
		`{"id": 2, "tags": ["x"]}`:                       "/id",
		`{"id": "x", "tags": ["x"]}`:                     "/id",
		`{"token": "another", "tags": ["x"]}`:            "/token",
		`{"elementId": 90002, "tags": ["x"]}`:            "/elementId",
		`{"element": {"key": "zendesk"}, "tags": ["x"]}`: "/element",
	} {
		for _, m := range []string{"PATCH", "PUT"} {
			if m == "PUT" {
				body = strings.Replace(body, `"tags"`, `"name": "n", "tags"`, 1)
			}
			e := assertError(t, h.send(m, "/instances/1", body), 400)
			if len(e.Errors) != 1 || e.Errors[0].Pointer != ptr {
				t.Errorf("%s %s: %+v", m, body, e)
			}
		}
	}
	if got := h.record(1); !reflect.DeepEqual(got, before) {
		t.Errorf("a refused write changed the record: %+v", got)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

// Configuration entries: every key the element declares is listed; a client finds
// event.notification.enabled and toggles it by sending the entry back.
func TestConfigurationToggleByEntry(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var list []map[string]any
	h.getJSON("/instances/1/configuration", &list)
	find := func(key string) map[string]any {
		for _, e := range list {
			if e["key"] == key {
				return e
			}
		}
		t.Fatalf("no entry %s in %v", key, list)
		return nil
	}
	entry := find(engine.KeyEventsEnabled)
	if entry["propertyValue"] != "true" {
		t.Errorf("events enabled entry %v", entry)
	}
	if e := find(engine.KeyFilterNulls); e["propertyValue"] != "true" {
		t.Errorf("filter.response.nulls entry %v: the default", e)
	}
	entry["propertyValue"] = "false"
	b, _ := json.Marshal(entry)
	id := entry["id"].(json.Number).String()
	r := h.send("PATCH", "/instances/1/configuration/"+id, string(b))
	if r.status != 200 {
		t.Fatalf("PATCH the entry back: %d %s", r.status, r.body)
	}
	var got configEntryJSON
	h.getJSON("/instances/1/configuration/"+id, &got)
	if got.PropertyValue != "false" || h.lastApplied().EventsEnabled {
		t.Errorf("after the toggle: %+v, events %v", got, h.lastApplied().EventsEnabled)
	}
	// An id that is not the entry's is refused.
	e := assertError(t, h.send("PATCH", "/instances/1/configuration/"+id, `{"id": 12, "propertyValue": "true"}`), 400)
	if len(e.Errors) != 1 || e.Errors[0].Pointer != "/id" {
		t.Errorf("wrong id: %+v", e)
	}

	// The same through the Element token, without an id in the path.
	tok := withToken(h.record(1).Token)
	r = h.do("GET", "/instances/configuration", nil, tok)
	var byToken []configEntryJSON
	r.json(t, &byToken)
	if r.status != 200 || len(byToken) != len(list) {
		t.Fatalf("GET /instances/configuration: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/instances/configuration/"+id, nil, tok); r.status != 200 || !strings.Contains(string(r.body), `"propertyValue":"false"`) {
		t.Errorf("GET /instances/configuration/{id}: %d %s", r.status, r.body)
	}
	tok["Content-Type"] = "application/json"
	if r := h.do("PATCH", "/instances/configuration/"+id, strings.NewReader(`{"propertyValue": "true"}`), tok); r.status != 200 || !h.lastApplied().EventsEnabled {
		t.Errorf("PATCH /instances/configuration/{id}: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/instances/configuration", "/instances/configuration/" + id} {
		assertError(t, h.do("GET", p, nil, nil), 401) // no Element token
	}
	r = h.do("DELETE", "/instances/configuration/"+id, nil, withToken(h.record(1).Token))
	if assertError(t, r, 405); r.header.Get("Allow") != "GET, HEAD, PATCH" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	h.assertNoSecrets(apiKey, sigKey)
}

// Lists: searchText and tags[] filter; a search without a match is an empty list; page, pageSize
// and nextPage page it, the token winning over page.
func TestInstanceListFilters(t *testing.T) {
	h := newHarness(t, 0)
	for i, name := range []string{"Acme Freshdesk", "Globex", "acme staging", "Initech"} {
		body := strings.Replace(secretBody, `"name": "signed"`, fmt.Sprintf(`"name": %q`, name), 1)
		body = strings.Replace(body, `"tags": ["a", "b"]`, fmt.Sprintf(`"tags": ["t%d", "all"]`, i%2), 1)
		if r := h.post(body); r.status != 200 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	ids := func(query string) string {
		var list []instanceJSON
		h.getJSON("/instances"+query, &list)
		var out []string
		for _, in := range list {
			out = append(out, strconv.FormatInt(in.ID, 10))
		}
		return strings.Join(out, ",")
	}
	for query, want := range map[string]string{
		"":                               "1,2,3,4",
		"?searchText=acme":               "1,3",
		"?searchText=ACME%20s":           "3",
		"?searchText=nothing-like-it":    "",
		"?tags[]=t0":                     "1,3",
		"?tags%5B%5D=t1":                 "2,4",
		"?tags=t1":                       "2,4",
		"?tags[]=t0&tags[]=t1":           "1,2,3,4",
		"?tags[]=none":                   "",
		"?tags[]=t1&searchText=globex":   "2",
		"?hydrate=true&somethingElse=1":  "1,2,3,4",
		"?pageSize=2":                    "1,2",
		"?page=2&pageSize=2":             "3,4",
		"?page=3&pageSize=2":             "",
		"?pageSize=1&tags[]=t1&page=2":   "4",
		"?pageSize=500":                  "1,2,3,4",
		"?searchText=acme&pageSize=1":    "1",
		"?searchText=acme&pageSize=1&x=": "1",
	} {
		if got := ids(query); got != want {
			t.Errorf("GET /instances%s: %q, want %q", query, got, want)
		}
	}
	// A search with no match is 200 and an empty array, not null and not everything.
	if r := h.do("GET", "/instances?searchText=nothing-like-it", nil, nil); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("no match: %d %s", r.status, r.body)
	}

	// The paging helper: page 1, then the token with the page number, then a page twice as big.
	r := h.do("GET", "/instances?page=1&pageSize=2", nil, nil)
	tok := r.header.Get(nextPageHeader)
	if tok == "" {
		t.Fatal("no token on a page that has a next one")
	}
	if got := ids("?page=2&pageSize=2&nextPage=" + tok); got != "3,4" {
		t.Errorf("page and nextPage: %q", got)
	}
	if got := ids("?pageSize=2&nextPage=" + tok); got != "3,4" {
		t.Errorf("nextPage: %q", got)
	}
	if r := h.do("GET", "/instances?pageSize=2&nextPage="+tok, nil, nil); r.header.Get(nextPageHeader) != "" {
		t.Errorf("a token on the last page: %q", r.header.Get(nextPageHeader))
	}
	if r := h.do("GET", "/instances", nil, nil); r.header.Get(nextPageHeader) != "" {
		t.Error("a token on an unpaged list")
	}
	for _, q := range []string{"?page=0", "?pageSize=x", "?nextPage=bm9wZQ"} {
		assertError(t, h.do("GET", "/instances"+q, nil, nil), 400)
	}
}

// zendeskBody is an instance of the other shipped element.
const zendeskBody = `{"element": {"key": "zendesk"}, "name": "z", "configuration": {"subdomain": "z", "email": "a@example.com",
  "api_token": "zd-SECRET-0001", "event.notification.callback.url": "https://example.com/hook"}}`

// The element routes: an element's instances by key or id, creating one without naming the
// element in the body, and its metadata.
func TestElementRoutes(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 { // 1
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := h.post(zendeskBody); r.status != 200 { // 2
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	body := strings.Replace(secretBody, `"element": {"key": "freshdeskv2"},`, "", 1)
	for _, base := range []string{"/elements/freshdeskv2/instances", "/elements/491/instances"} {
		r := h.send("POST", base, body)
		if r.status != 200 {
			t.Fatalf("POST %s without an element: %d %s", base, r.status, r.body)
		}
	}
	if r := h.send("POST", "/elements/freshdeskv2/instances", secretBody); r.status != 200 { // 5, naming its element
		t.Fatalf("POST naming the element: %d %s", r.status, r.body)
	}
	e := assertError(t, h.send("POST", "/elements/freshdeskv2/instances", zendeskBody), 400)
	if len(e.Errors) != 1 || e.Errors[0].Pointer != "/element" {
		t.Errorf("another element: %+v", e)
	}
	assertError(t, h.send("POST", "/elements/nope/instances", body), 404)

	for path, want := range map[string]string{
		"/elements/freshdeskv2/instances":                   "1,3,4,5",
		"/elements/491/instances":                           "1,3,4,5",
		"/elements/zendesk/instances":                       "2",
		"/elements/freshdeskv2/instances?searchText=nope":   "",
		"/elements/freshdeskv2/instances?pageSize=1&page=2": "3",
	} {
		var list []instanceJSON
		h.getJSON(path, &list)
		var got []string
		for _, in := range list {
			got = append(got, strconv.FormatInt(in.ID, 10))
		}
		if strings.Join(got, ",") != want {
			t.Errorf("GET %s: %v, want %s", path, got, want)
		}
	}
	assertError(t, h.do("GET", "/elements/nope/instances", nil, nil), 404)

	// One instance through its element: GET, PUT, PATCH, DELETE; another element's is 404.
	if r := h.do("GET", "/elements/freshdeskv2/instances/3", nil, nil); r.status != 200 {
		t.Errorf("GET: %d %s", r.status, r.body)
	}
	if r := h.send("PUT", "/elements/491/instances/3", `{"name": "three", "tags": ["x"]}`); r.status != 200 || h.record(3).Name != "three" {
		t.Errorf("PUT: %d %s", r.status, r.body)
	}
	if r := h.send("PATCH", "/elements/freshdeskv2/instances/3", `{"tags": ["y"]}`); r.status != 200 || !slices.Equal(h.record(3).Tags, []string{"y"}) {
		t.Errorf("PATCH: %d %s", r.status, r.body)
	}
	for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
		assertError(t, h.send(m, "/elements/zendesk/instances/3", `{"name": "x"}`), 404)
	}
	if r := h.send("DELETE", "/elements/freshdeskv2/instances/3", `null`); r.status != 200 {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
	assertError(t, h.do("GET", "/instances/3", nil, nil), 404)

	// Metadata: events supported, by polling, with each resource's default poller configuration.
	for _, p := range []string{"/elements/freshdeskv2/metadata", "/elements/491/metadata", "/elements/491/metadata?expand=true"} {
		var md elementMetadataJSON
		h.getJSON(p, &md)
		if md.ID != 491 || md.Key != "freshdeskv2" || !md.Events.Supported || !slices.Contains(md.Events.Methods, "polling") ||
			md.Events.Polling["incidents"].IDField != "id" || md.Usage.InstanceCount != 3 || len(md.Resources) == 0 {
			t.Errorf("%s: %+v", p, md)
		}
		for _, res := range md.Resources {
			if res.CanonicalName == "incidents" && !slices.Equal(res.Events.EventTypes, []string{"CREATED", "UPDATED", "DELETED"}) {
				t.Errorf("incidents events %+v", res.Events)
			}
		}
	}
	var all []elementMetadataJSON
	h.getJSON("/elements/metadata", &all)
	if len(all) != 2 {
		t.Errorf("metadata of %d elements", len(all))
	}
	assertError(t, h.do("GET", "/elements/999999999999/metadata", nil, nil), 404)
	h.assertNoSecrets(apiKey, sigKey, "zd-SECRET-0001")
}

// Enabling and disabling by id, and bodies on DELETE and on .../enabled, which clients send and
// the platform ignores.
func TestEnableByIDAndBodies(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r := h.send("DELETE", "/instances/1/enabled", `null`)
	var v instanceJSON
	r.json(t, &v)
	if r.status != 200 || !v.Disabled || !h.record(1).Disabled {
		t.Errorf("DELETE /instances/1/enabled: %d %s", r.status, r.body)
	}
	if r := h.send("PUT", "/instances/1/enabled", `{}`); r.status != 200 || h.record(1).Disabled {
		t.Errorf("PUT /instances/1/enabled: %d %s", r.status, r.body)
	}
	hdr := withToken(h.record(1).Token)
	hdr["Content-Type"] = "application/json"
	if r := h.do("DELETE", "/instances/enabled", strings.NewReader(`null`), hdr); r.status != 200 || !h.record(1).Disabled {
		t.Errorf("DELETE /instances/enabled with null: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/instances/99/enabled", "/instances/x/enabled"} {
		assertError(t, h.do("PUT", p, nil, nil), 404)
	}
	// Another tenant's instance is not theirs to enable.
	other := h.newTenant("globex", engine.RoleOrgAdmin, "ops@globex.example")
	assertError(t, h.as(other, "PUT", "/instances/1/enabled", ""), 404)
	r = h.do("GET", "/instances/1/enabled", nil, nil)
	if assertError(t, r, 405); r.header.Get("Allow") != "DELETE, PUT" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
}

// CORS: an allowed origin's scripts may call the API and read the paging token and request id;
// preflights are answered before authentication; other origins get no CORS header; "*" never
// goes with credentials.
func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	h := newHarness(t, 0, func(c *harnessConfig) { c.api.CORSOrigins = []string{app, "https://*.corp.example"} })
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	preflight := func(origin, method, headers string) response {
		return h.do("OPTIONS", "/instances?pageSize=1", nil, map[string]string{"Origin": origin,
			"Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})
	}
	for _, origin := range []string{app, "https://console.corp.example"} {
		r := preflight(origin, "PATCH", "authorization,content-type")
		hd := r.header
		if r.status != http.StatusNoContent || hd.Get("Access-Control-Allow-Origin") != origin || hd.Get("Access-Control-Allow-Credentials") != "true" ||
			hd.Get("Access-Control-Allow-Methods") != "PATCH" || !strings.Contains(strings.ToLower(hd.Get("Access-Control-Allow-Headers")), "authorization") ||
			hd.Get("Access-Control-Max-Age") != "600" || !strings.Contains(hd.Get("Vary"), "Origin") {
			t.Errorf("preflight from %s: %d %v", origin, r.status, hd)
		}
	}
	for _, origin := range []string{"https://evil.example", "http://app.example.com", "https://app.example.com.evil.example"} {
		if r := preflight(origin, "GET", "authorization"); r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s allowed: %v", origin, r.header)
		}
	}
	// The request itself.
	h.post(secretBody)
	r := h.do("GET", "/instances?pageSize=1", nil, map[string]string{"Authorization": goodAuth, "Origin": app})
	exposed := strings.ToLower(r.header.Get("Access-Control-Expose-Headers"))
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != app || r.header.Get(nextPageHeader) == "" ||
		!strings.Contains(exposed, "elements-next-page-token") || !strings.Contains(exposed, "x-request-id") {
		t.Errorf("GET from %s: %d %v", app, r.status, r.header)
	}
	// Errors carry the headers too, so that scripts can read them.
	r = h.do("GET", "/instances/99", nil, map[string]string{"Authorization": goodAuth, "Origin": app})
	if r.status != 404 || r.header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("404 from %s: %v", app, r.header)
	}
	if r := h.do("GET", "/instances", nil, map[string]string{"Authorization": goodAuth, "Origin": "https://evil.example"}); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin: %v", r.header)
	}

	// Any origin, without credentials.
	h2 := newHarness(t, 0, func(c *harnessConfig) { c.api.CORSOrigins = []string{"*"} })
	r = h2.do("OPTIONS", "/instances", nil, map[string]string{"Origin": "https://anywhere.example", "Access-Control-Request-Method": "GET"})
	if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("wildcard preflight: %v", r.header)
	}
	// Without origins configured: no CORS, and OPTIONS is the API's (405 or 401).
	h3 := newHarness(t, 0)
	r = h3.do("OPTIONS", "/instances", nil, map[string]string{"Origin": app, "Access-Control-Request-Method": "GET"})
	if r.header.Get("Access-Control-Allow-Origin") != "" || r.status == http.StatusNoContent {
		t.Errorf("no origins configured: %d %v", r.status, r.header)
	}

	for _, bad := range [][]string{{"app.example.com"}, {"ftp://x"}, {"https://x/path"}, {"https://*.*.x"}, {""}} {
		if _, err := newCORS(bad); err == nil {
			t.Errorf("origins %q accepted", bad)
		}
	}
}

// The answers of the new routes conform to the document.
func TestOpenAPICompatAnswers(t *testing.T) {
	c := openAPICompiler(t)
	h, _ := newEventsHarness(t)
	for path, schema := range map[string]string{
		"/elements/freshdeskv2/metadata": "ElementMetadata",
		"/instances/events/note0":        "Notification",
		"/instances/1/events/note0":      "Notification",
		"/instances/1/events/ev0":        "EventDetail",
		"/elements/491/instances/1":      "Instance",
	} {
		r := h.do("GET", path, nil, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		conformsTo(t, c, schema, r)
	}
	for path, schema := range map[string]string{"/instances/events": "Event", "/elements/metadata": "ElementMetadata",
		"/elements/freshdeskv2/instances?pageSize=1": "Instance", "/instances/configuration": "ConfigurationEntry"} {
		hdr := map[string]string{"Authorization": goodAuth}
		if path == "/instances/configuration" {
			hdr = withToken(h.record(1).Token)
		}
		var items []json.RawMessage
		r := h.do("GET", path, nil, hdr)
		r.json(t, &items)
		if len(items) == 0 {
			t.Errorf("%s: empty", path)
		}
		for _, it := range items {
			conformsTo(t, c, schema, response{body: it})
		}
	}
}
