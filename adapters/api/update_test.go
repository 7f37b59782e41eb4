package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// groupsCatalog is the built-in catalog with a freshdeskv2 "groups" resource of the test's own
// (incidents.json pointed at groups), replacing any built-in one.
func groupsCatalog(t *testing.T) *engine.Catalog {
	t.Helper()
	files := definitions.Builtin()
	var incidents []byte
	for _, f := range files {
		if f.Kind == definitions.KindResource && f.Element == "freshdeskv2" && f.Resource == "incidents" {
			incidents = f.Data
		}
	}
	if incidents == nil {
		t.Fatal("no built-in incidents resource")
	}
	data := strings.ReplaceAll(string(incidents), "/api/v2/tickets", "/api/v2/groups")
	data = strings.ReplaceAll(data, "/hubs/helpdesk/incidents", "/hubs/helpdesk/groups")
	files = append(files, definitions.File{Name: "test:freshdeskv2/resources/groups.json", Kind: definitions.KindResource,
		Element: "freshdeskv2", Resource: "groups", Data: []byte(data)})
	return compileFiles(t, files)
}

// catalogWithout is the built-in catalog without some freshdeskv2 resources.
func catalogWithout(t *testing.T, resources ...string) *engine.Catalog {
	t.Helper()
	files := slices.DeleteFunc(definitions.Builtin(), func(f definitions.File) bool {
		return f.Kind == definitions.KindResource && f.Element == "freshdeskv2" && slices.Contains(resources, f.Resource)
	})
	return compileFiles(t, files)
}

func compileFiles(t *testing.T, files []definitions.File) *engine.Catalog {
	t.Helper()
	cat, probs := definitions.Compile(files)
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	return cat
}

func (h *harness) send(method, path, body string) response {
	h.t.Helper()
	return h.do(method, path, strings.NewReader(body),
		map[string]string{"Authorization": goodAuth, "Content-Type": "application/json"})
}

// mustPatch sends a PATCH that must succeed and returns the view.
func (h *harness) mustPatch(id int64, body string) instanceJSON {
	h.t.Helper()
	r := h.send("PATCH", fmt.Sprintf("/instances/%d", id), body)
	if r.status != http.StatusOK {
		h.t.Fatalf("PATCH %s: status %d: %s", body, r.status, r.body)
	}
	var v instanceJSON
	r.json(h.t, &v)
	return v
}

func (h *harness) record(id int64) *engine.InstanceRecord {
	h.t.Helper()
	rec, err := h.store.Instance(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec
}

func (h *harness) lastApplied() *engine.Instance {
	h.t.Helper()
	l := h.rt.appliedList()
	if len(l) == 0 {
		h.t.Fatal("nothing applied")
	}
	return l[len(l)-1]
}

func jobNames(in *engine.Instance) []string {
	var out []string
	for _, j := range in.Jobs {
		out = append(out, j.ObjectType)
	}
	return out
}

const (
	apiKey = "apikey-SECRET-3c5e" // secretBody's username
	sigKey = "sigkey-SECRET-77aa" // secretBody's signature key
)

func TestPatchInstance(t *testing.T) {
	h := newHarness(t, 0)
	h.rt.setCatalog(groupsCatalog(t))
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := h.post(seed000Example); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	created := h.record(1)

	// The callback URL: only that key changes, in the store and in what is applied.
	v := h.mustPatch(1, `{"configuration": {"event.notification.callback.url": "https://other.example/hook2?a=1&b=2"}}`)
	if v.Configuration[engine.KeyCallbackURL] != "https://other.example/hook2?a=1&b=2" || v.ID != 1 || v.Token != created.Token ||
		v.Name != "signed" || !slices.Equal(v.Tags, []string{"a", "b"}) || !v.Valid || !v.EventsEnabled ||
		v.Configuration["username"] != masked || v.Configuration[engine.KeySignatureKey] != masked {
		t.Errorf("view after PATCH: %+v", v)
	}
	in := h.lastApplied()
	if in.ID != 1 || in.Token != created.Token || !in.CreatedAt.Equal(testNow) || in.CallbackURL != "https://other.example/hook2?a=1&b=2" ||
		in.SignatureKey != sigKey || in.Interval != 3*time.Second || !slices.Equal(jobNames(in), []string{"contacts"}) {
		t.Errorf("applied %d %q %v %q %v %v", in.ID, in.Token, in.CreatedAt, in.CallbackURL, in.Interval, jobNames(in))
	}
	want := *created
	want.Configuration = clone(created).Configuration
	want.Configuration[engine.KeyCallbackURL] = "https://other.example/hook2?a=1&b=2"
	got := h.record(1)
	got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("stored %+v\nwant %+v", got, want)
	}

	// The refresh interval, kept as sent.
	h.mustPatch(1, `{"configuration": {"event.poller.refresh_interval": 5}}`)
	if in := h.lastApplied(); in.Interval != 5*time.Minute {
		t.Errorf("interval %v", in.Interval)
	}
	if got := h.record(1).Configuration[engine.KeyRefreshInterval]; got != json.Number("5") {
		t.Errorf("stored interval %#v", got)
	}

	// A resource added: event.poller.configuration is replaced whole.
	pc := decodeNumbers(t, seed000Example)["configuration"].(map[string]any)[engine.KeyPollerConfig].(map[string]any)
	pc["groups"] = map[string]any{}
	b, _ := json.Marshal(map[string]any{"configuration": map[string]any{engine.KeyPollerConfig: pc}})
	v = h.mustPatch(2, string(b))
	if in := h.lastApplied(); in.ID != 2 || !slices.Equal(jobNames(in), []string{"contacts", "groups", "incidents"}) {
		t.Errorf("applied %d jobs %v", in.ID, jobNames(in))
	}
	var echoed map[string]any
	if err := json.Unmarshal([]byte(v.Configuration[engine.KeyPollerConfig]), &echoed); err != nil || len(echoed) != 3 {
		t.Errorf("echoed poller configuration %q", v.Configuration[engine.KeyPollerConfig])
	}
	if stored := h.record(2).Configuration[engine.KeyPollerConfig].(map[string]any); len(stored) != 3 || stored["groups"] == nil {
		t.Errorf("stored poller configuration %v", stored)
	}
	// ... and as a JSON string, to one resource.
	h.mustPatch(2, `{"configuration": {"event.poller.configuration": "{\"groups\": {}}"}}`)
	if in := h.lastApplied(); !slices.Equal(jobNames(in), []string{"groups"}) {
		t.Errorf("jobs %v", jobNames(in))
	}

	// Notifications off.
	v = h.mustPatch(1, `{"configuration": {"event.notification.enabled": false}}`)
	if in := h.lastApplied(); in.EventsEnabled || v.EventsEnabled {
		t.Error("events still enabled")
	}
	if got := h.record(1).Configuration[engine.KeyEventsEnabled]; got != false {
		t.Errorf("stored %#v", got)
	}

	// null removes a key.
	h.mustPatch(1, `{"configuration": {"event.notification.signature.key": null}}`)
	if in := h.lastApplied(); in.SignatureKey != "" {
		t.Error("signature key still applied")
	}
	if _, ok := h.record(1).Configuration[engine.KeySignatureKey]; ok {
		t.Error("signature key still stored")
	}

	// Name and tags replace; the configuration is untouched; disabled is kept.
	before := h.record(1)
	h.store.mu.Lock()
	r := h.store.recs[1]
	r.Disabled = true
	h.store.recs[1] = r
	h.store.mu.Unlock()
	v = h.mustPatch(1, `{"name": "renamed", "tags": ["x"]}`)
	got = h.record(1)
	if got.Name != "renamed" || !slices.Equal(got.Tags, []string{"x"}) || !got.Disabled || got.Token != before.Token ||
		!reflect.DeepEqual(got.Configuration, before.Configuration) || !got.CreatedAt.Equal(testNow) {
		t.Errorf("stored %+v", got)
	}
	if in := h.lastApplied(); !in.Disabled || in.Name != "renamed" || !v.Disabled {
		t.Errorf("applied disabled=%v name=%q", in.Disabled, in.Name)
	}
	if n := len(h.rt.appliedList()); n != 9 { // 2 POSTs, 7 PATCHes
		t.Errorf("Apply called %d times, want 9", n)
	}
	h.assertNoSecrets(apiKey, sigKey, "xxxxxxxxxxxxxxxxxxxxx")
	logs := h.logs.String()
	if !strings.Contains(logs, "request: method=PATCH path=/instances/1 status=200") || !strings.Contains(logs, "instance updated") {
		t.Errorf("no PATCH log lines:\n%s", logs)
	}
}

func TestPatchRejects(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		ct       string
		status   int
		pointers []string // for 400
	}{
		{"bad refresh interval", `{"configuration": {"event.poller.refresh_interval": "soon"}}`, "", 400,
			[]string{"/configuration/event.poller.refresh_interval"}},
		{"every problem", `{"configuration": {"no.such.key": "1", "event.notification.callback.url": "ftp://x", "event.poller.refresh_interval": "-1"}}`, "", 400,
			[]string{"/configuration/event.notification.callback.url", "/configuration/event.poller.refresh_interval", "/configuration/no.such.key"}},
		{"schema", `{"name": 5, "tags": "x"}`, "", 400, []string{"/name", "/tags"}},
		{"null tags", `{"tags": null}`, "", 400, []string{"/tags"}},
		{"unknown fields", `{"name": "n", "foo": 1, "element": {"key": "zendesk"}}`, "", 400, []string{"/element", "/foo"}},
		{"configuration not an object", `{"configuration": "x"}`, "", 400, []string{"/configuration"}},
		{"unknown resource", `{"configuration": {"event.poller.configuration": {"nosuchresource": {}}}}`, "", 400,
			[]string{"/configuration/event.poller.configuration/nosuchresource"}},
		{"bad poller entry", `{"configuration": {"event.poller.configuration": {"contacts": {"idField": "id", "colour": "blue"}}}}`, "", 400,
			[]string{"/configuration/event.poller.configuration/contacts/colour"}},
		{"events without callback", `{"configuration": {"event.notification.enabled": true, "event.notification.callback.url": null}}`, "", 400,
			[]string{"/configuration/event.notification.callback.url"}},
		{"required key removed", `{"configuration": {"subdomain": null}}`, "", 400, []string{"/configuration/subdomain"}},
		{"stored secret quoted", `{"configuration": {"event.poller.refresh_interval": "` + apiKey + `"}}`, "", 400,
			[]string{"/configuration/event.poller.refresh_interval"}},
		{"new secret quoted", `{"configuration": {"username": "newkey-SECRET-1234", "event.poller.refresh_interval": "newkey-SECRET-1234"}}`, "", 400,
			[]string{"/configuration/event.poller.refresh_interval"}},
		{"malformed JSON", `{"configuration": {`, "", 400, []string{""}},
		{"trailing data", `{} {}`, "", 400, []string{""}},
		{"empty body", ``, "", 400, []string{""}},
		{"array", `[]`, "", 400, []string{""}},
		{"not JSON", `{}`, "text/plain", 415, nil},
		{"too large", `{"name": "` + strings.Repeat("x", 5000) + `"}`, "", 413, nil},
	}
	h := newHarness(t, 4096)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	before := h.record(1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": goodAuth, "Content-Type": "application/json"}
			if tt.ct != "" {
				hdr["Content-Type"] = tt.ct
			}
			e := assertError(t, h.do("PATCH", "/instances/1", strings.NewReader(tt.body), hdr), tt.status)
			var ptrs []string
			for _, p := range e.Errors {
				ptrs = append(ptrs, p.Pointer)
				if p.Message == "" {
					t.Errorf("%s: empty message", p.Pointer)
				}
			}
			if !slices.Equal(ptrs, tt.pointers) {
				t.Errorf("pointers %q, want %q: %s", ptrs, tt.pointers, h.bodies[len(h.bodies)-1])
			}
			if got := h.record(1); !reflect.DeepEqual(got, before) {
				t.Errorf("stored record changed: %+v", got)
			}
			if n := len(h.rt.appliedList()); n != 1 {
				t.Errorf("Apply called %d times", n)
			}
		})
	}
	h.assertNoSecrets(apiKey, sigKey, "newkey-SECRET-1234")
}

func TestPutInstance(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	before := h.record(1)
	r := h.send("PUT", "/instances/1", `{"name": "new name", "tags": ["t1", "t2"]}`)
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	var v instanceJSON
	r.json(t, &v)
	if v.Name != "new name" || !slices.Equal(v.Tags, []string{"t1", "t2"}) || v.Token != before.Token || v.Configuration["username"] != masked {
		t.Errorf("view %+v", v)
	}
	got := h.record(1)
	if got.Name != "new name" || !slices.Equal(got.Tags, []string{"t1", "t2"}) || !reflect.DeepEqual(got.Configuration, before.Configuration) ||
		got.Token != before.Token || !got.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("stored %+v", got)
	}
	if in := h.lastApplied(); in.Name != "new name" || !slices.Equal(in.Tags, []string{"t1", "t2"}) || in.ID != 1 || in.SignatureKey != sigKey {
		t.Errorf("applied %q %v", in.Name, in.Tags)
	}
	// Tags left out: none.
	if r := h.send("PUT", "/instances/1", `{"name": "bare"}`); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if got := h.record(1); got.Name != "bare" || len(got.Tags) != 0 {
		t.Errorf("stored %+v", got)
	}
	before = h.record(1)
	for body, ptrs := range map[string][]string{
		`{"tags": ["a"]}`:                     {""},
		`{"name": "x", "configuration": "x"}`: {"/configuration"},
		`{"name": 5}`:                         {"/name"},
		`{"name": "x", "tags": [1]}`:          {"/tags/0"},
		`"x"`:                                 {""},
	} {
		e := assertError(t, h.send("PUT", "/instances/1", body), 400)
		var got []string
		for _, p := range e.Errors {
			got = append(got, p.Pointer)
		}
		if !slices.Equal(got, ptrs) {
			t.Errorf("%s: pointers %q, want %q", body, got, ptrs)
		}
	}
	if got := h.record(1); !reflect.DeepEqual(got, before) {
		t.Errorf("rejected PUT changed the record: %+v", got)
	}
	if n := len(h.rt.appliedList()); n != 3 {
		t.Errorf("Apply called %d times, want 3", n)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

// A stored record whose configuration names a resource the definitions no longer have: Compile
// resumes it with that job paused, GET shows it valid with the job paused, PUT still renames it,
// and PATCH (strict, like POST) names the resource to fix.
func TestStoredInstanceWithRemovedResource(t *testing.T) {
	h := newHarness(t, 0)
	h.rt.setCatalog(catalogWithout(t, "groups"))
	rec := &engine.InstanceRecord{UserID: 1, OrganizationID: 1, Name: "old", Token: "tok", ElementKey: "freshdeskv2", CreatedAt: testNow, Configuration: map[string]any{
		"subdomain": "acme", "username": apiKey, engine.KeyCallbackURL: "https://example.com/hook",
		engine.KeyPollerConfig: map[string]any{"incidents": map[string]any{}, "groups": map[string]any{}},
	}}
	if err := h.store.CreateInstance(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	in, probs := compileRecord(h.rt.Catalog(), rec)
	if len(probs) > 0 {
		t.Fatalf("Compile: %s", definitions.Describe(probs))
	}
	if in.ID != rec.ID || in.Token != "tok" || !slices.Equal(jobNames(in), []string{"incidents"}) ||
		len(in.Paused) != 1 || in.Paused[0].ObjectType != "groups" || in.Paused[0].Reason == "" {
		t.Errorf("compiled %d %q jobs %v paused %+v", in.ID, in.Token, jobNames(in), in.Paused)
	}
	// With groups defined it compiles whole.
	if in, probs := compileRecord(groupsCatalog(t), rec); len(probs) > 0 || len(in.Paused) != 0 || len(in.Jobs) != 2 {
		t.Errorf("with groups: %v %+v", probs, in)
	}

	h.rt.setStatus(rec.ID, []engine.JobStatus{
		{ObjectType: "groups", State: "paused", Reason: in.Paused[0].Reason},
		{ObjectType: "incidents", State: "polling"},
	})
	var v instanceJSON
	r := h.do("GET", "/instances/1", nil, nil)
	r.json(t, &v)
	if !v.Valid || len(v.Pollers) != 2 || v.Pollers[0].State != "paused" || v.Pollers[0].Reason == "" {
		t.Errorf("view %s", r.body)
	}

	if r := h.send("PUT", "/instances/1", `{"name": "renamed"}`); r.status != 200 {
		t.Errorf("PUT: %d %s", r.status, r.body)
	}
	if in := h.lastApplied(); in.Name != "renamed" || len(in.Paused) != 1 {
		t.Errorf("applied %q paused %+v", in.Name, in.Paused)
	}
	// A PATCH that leaves the configuration as it is loads it as stored, as a PUT does.
	if r := h.send("PATCH", "/instances/1", `{"name": "again"}`); r.status != 200 {
		t.Errorf("PATCH: %d %s", r.status, r.body)
	}
	if in := h.lastApplied(); in.Name != "again" || len(in.Paused) != 1 {
		t.Errorf("applied %q paused %+v", in.Name, in.Paused)
	}
	// One that changes it is checked like a POST body.
	e := assertError(t, h.send("PATCH", "/instances/1", `{"configuration": {"event.poller.refresh_interval": "30"}}`), 400)
	if len(e.Errors) != 1 || e.Errors[0].Pointer != "/configuration/event.poller.configuration/groups" {
		t.Errorf("PATCH errors %+v", e.Errors)
	}
	h.mustPatch(1, `{"configuration": {"event.poller.configuration": {"incidents": {}}}}`)
	if in := h.lastApplied(); len(in.Paused) != 0 || !slices.Equal(jobNames(in), []string{"incidents"}) {
		t.Errorf("after fixing: jobs %v paused %+v", jobNames(in), in.Paused)
	}
	h.assertNoSecrets(apiKey)
}

func TestPollersInView(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if !strings.Contains(h.bodies[0], `"pollers":[]`) {
		t.Errorf("no empty pollers: %s", h.bodies[0])
	}
	last := time.Date(2024, 3, 1, 12, 0, 5, 0, time.FixedZone("x", 3600))
	h.rt.setStatus(1, []engine.JobStatus{
		{ObjectType: "contacts", State: "polling", LastPoll: last, LastEvents: 0, LastError: "GET https://acme.freshdesk.com/api/v2/contacts as " + apiKey + ": 500"},
		{ObjectType: "incidents", State: "paused", Reason: "builtin:freshdeskv2/resources/incidents.json: no longer loads; key " + sigKey},
		{ObjectType: "groups", State: "idle"},
	})
	want := []pollerJSON{
		{ObjectType: "contacts", State: "polling", LastPoll: "2024-03-01T11:00:05Z", LastEvents: new(int),
			LastError: "GET https://acme.freshdesk.com/api/v2/contacts as " + masked + ": 500"},
		{ObjectType: "incidents", State: "paused", Reason: "builtin:freshdeskv2/resources/incidents.json: no longer loads; key " + masked},
		{ObjectType: "groups", State: "idle"},
	}
	var v instanceJSON
	h.do("GET", "/instances/1", nil, nil).json(t, &v)
	if !reflect.DeepEqual(v.Pollers, want) {
		t.Errorf("pollers %+v\nwant %+v", v.Pollers, want)
	}
	var list []instanceJSON
	h.do("GET", "/instances", nil, nil).json(t, &list)
	if len(list) != 1 || !reflect.DeepEqual(list[0].Pollers, want) {
		t.Errorf("list pollers %+v", list)
	}
	v = h.mustPatch(1, `{"name": "p"}`)
	if !reflect.DeepEqual(v.Pollers, want) {
		t.Errorf("PATCH pollers %+v", v.Pollers)
	}
	// lastEvents 0 is shown next to lastPoll, and left out without one.
	raw := h.bodies[len(h.bodies)-1]
	if !strings.Contains(raw, `"lastPoll":"2024-03-01T11:00:05Z","lastError":"GET https://acme.freshdesk.com/api/v2/contacts as ********: 500","lastEvents":0}`) ||
		!strings.Contains(raw, `{"objectType":"groups","state":"idle"}`) {
		t.Errorf("pollers JSON: %s", raw)
	}
	// The element gone: the record's view still carries the runtime's pollers, scrubbed.
	empty, _ := engine.NewCatalog()
	h.rt.setCatalog(empty)
	h.do("GET", "/instances/1", nil, nil).json(t, &v)
	if v.Valid || !reflect.DeepEqual(v.Pollers, want) {
		t.Errorf("unloadable view: valid %v pollers %+v", v.Valid, v.Pollers)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestGetDefinitions(t *testing.T) {
	loaded := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	files := []definitions.FileStatus{
		{File: "builtin:freshdeskv2/element.json", Element: "freshdeskv2", Source: "builtin", State: "loaded", Serving: "this file", LoadedAt: loaded},
		{File: "builtin:freshdeskv2/resources/contacts.json", Element: "freshdeskv2", Resource: "contacts", Source: "builtin", State: "overridden", Serving: "the folder's file"},
		{File: "defs/freshdeskv2/resources/contacts.json", Element: "freshdeskv2", Resource: "contacts", Source: "directory", State: "failed",
			Serving: "the built-in definition", Problems: []definitions.Problem{{File: "defs/freshdeskv2/resources/contacts.json", Pointer: "/pageSize", Message: "must be >= 1"}}},
	}
	h := newHarness(t, 0, func(c *harnessConfig) { c.api.Definitions = fakeDefinitions{files: files} })
	r := h.do("GET", "/definitions", nil, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got struct {
		Files []definitions.FileStatus `json:"files"`
	}
	r.json(t, &got)
	if !reflect.DeepEqual(got.Files, files) {
		t.Errorf("files %+v\nwant %+v", got.Files, files)
	}
	for _, s := range []string{`"state":"failed"`, `"pointer":"/pageSize"`, `"loadedAt":"2024-03-01T12:00:00Z"`, `"serving":"the built-in definition"`} {
		if !strings.Contains(string(r.body), s) {
			t.Errorf("%s not in %s", s, r.body)
		}
	}
	for _, opt := range []func(*harnessConfig){nil, func(c *harnessConfig) { c.api.Definitions = fakeDefinitions{} }} {
		h := newHarness(t, 0)
		if opt != nil {
			h = newHarness(t, 0, opt)
		}
		r := h.do("GET", "/definitions", nil, nil)
		if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"files":[]}` {
			t.Errorf("no definitions: %d %s", r.status, r.body)
		}
	}
}

func TestNewRoutesAuthAndNotFound(t *testing.T) {
	h := newHarness(t, 0, func(c *harnessConfig) { c.api.Definitions = fakeDefinitions{} })
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	before := h.record(1)
	routes := []struct{ method, path, body string }{
		{"PATCH", "/instances/1", `{"name": "x"}`},
		{"PUT", "/instances/1", `{"name": "x"}`},
		{"GET", "/definitions", ""},
	}
	for _, rt := range routes {
		for _, auth := range []string{"", "User nope, Organization " + orgSecret, "User " + userSecret + ", Organization nope", "User " + userSecret} {
			hdr := map[string]string{"Content-Type": "application/json"}
			if auth != "" {
				hdr["Authorization"] = auth
			}
			r := h.do(rt.method, rt.path, strings.NewReader(rt.body), hdr)
			assertError(t, r, 401)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate", rt.method, rt.path)
			}
		}
	}
	for _, m := range []string{"PATCH", "PUT"} {
		for _, p := range []string{"/instances/99", "/instances/0", "/instances/abc", "/instances/-1"} {
			assertError(t, h.send(m, p, `{"name": "x"}`), 404)
			// 404 before the body is looked at.
			assertError(t, h.send(m, p, `{nope`), 404)
		}
	}
	if got := h.record(1); !reflect.DeepEqual(got, before) {
		t.Errorf("record changed: %+v", got)
	}
	if n := len(h.rt.appliedList()); n != 1 {
		t.Errorf("Apply called %d times", n)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

// Concurrent PATCHes of different keys all land: updates are serialized.
func TestConcurrentPatches(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	patches := map[string]any{
		"subdomain":                        "other",
		engine.KeyRefreshInterval:          "7",
		engine.KeyFilterNulls:              false,
		engine.KeyCallbackURL:              "https://c.example/x",
		engine.KeyEventsEnabled:            true,
		"event.notification.signature.key": "sigkey-SECRET-2222",
	}
	var wg sync.WaitGroup
	for k, v := range patches {
		wg.Go(func() {
			b, _ := json.Marshal(map[string]any{"configuration": map[string]any{k: v}})
			req, _ := http.NewRequest("PATCH", h.srv.URL+"/instances/1", strings.NewReader(string(b)))
			req.Header.Set("Authorization", goodAuth)
			res, err := h.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("%s: %d", k, res.StatusCode)
			}
		})
	}
	wg.Wait()
	conf := h.record(1).Configuration
	for k, v := range patches {
		if !reflect.DeepEqual(conf[k], v) {
			t.Errorf("%s = %#v, want %#v", k, conf[k], v)
		}
	}
	// The last applied instance is the stored one.
	in := h.lastApplied()
	if in.Config["subdomain"] != "other" || in.Interval != 7*time.Minute || in.CallbackURL != "https://c.example/x" {
		t.Errorf("last applied %v %v %q", in.Config["subdomain"], in.Interval, in.CallbackURL)
	}
}
