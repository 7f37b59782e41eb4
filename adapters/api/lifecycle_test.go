package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
)

// withToken is good authorization plus an Element token.
func withToken(token string) map[string]string {
	return map[string]string{"Authorization": goodAuth + ", Element " + token}
}

// entryPath is the path of a configuration entry of instance id.
func entryPath(id int64, key string) string {
	return fmt.Sprintf("/instances/%d/configuration/%d", id, configID(key))
}

func (h *harness) removedList() []int64 {
	h.rt.mu.Lock()
	defer h.rt.mu.Unlock()
	return slices.Clone(h.rt.removed)
}

// failingDelete is a store whose DeleteInstance fails.
type failingDelete struct{ instances.Store }

func (failingDelete) DeleteInstance(context.Context, int64) error { return errors.New("disk full") }

func TestDeleteInstance(t *testing.T) {
	h := newHarness(t, 4096)
	for _, b := range []string{secretBody, seed000Example} {
		if r := h.post(b); r.status != 200 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	// Errors first: nothing is removed.
	for _, auth := range []string{"", "User nope, Organization " + orgSecret, "User " + userSecret} {
		hdr := map[string]string{}
		if auth != "" {
			hdr["Authorization"] = auth
		}
		assertError(t, h.do("DELETE", "/instances/1", nil, hdr), 401)
	}
	for _, p := range []string{"/instances/99", "/instances/0", "/instances/abc"} {
		assertError(t, h.do("DELETE", p, nil, nil), 404)
	}
	assertError(t, h.send("DELETE", "/instances/1", `{"x": "`+strings.Repeat("y", 5000)+`"}`), 413)
	if n := len(h.removedList()); n != 0 {
		t.Fatalf("Remove called %d times by rejected requests", n)
	}

	// A body, which HTTP clients send with DELETE ("null" with a JSON Content-Type, "{}", the
	// object itself), is ignored, as the platform ignores it.
	r := h.send("DELETE", "/instances/1", `null`)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"id":1,"deleted":true}` || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if got := h.removedList(); !slices.Equal(got, []int64{1}) {
		t.Errorf("removed %v", got)
	}
	if _, err := h.store.Instance(t.Context(), 1); err == nil {
		t.Error("instance 1 still stored")
	}
	assertError(t, h.do("GET", "/instances/1", nil, nil), 404)
	assertError(t, h.do("DELETE", "/instances/1", nil, nil), 404)
	if r := h.do("GET", "/instances/2", nil, nil); r.status != 200 {
		t.Errorf("instance 2: %d", r.status)
	}
	for _, body := range []string{`{}`, `{"force": true, "cascade": 1}`, `[1]`} {
		if r := h.post(secretBody); r.status != 200 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		id := len(h.removedList()) + 2
		if r := h.send("DELETE", fmt.Sprintf("/instances/%d", id), body); r.status != 200 {
			t.Errorf("DELETE with %s: %d %s", body, r.status, r.body)
		}
	}
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := h.do("DELETE", "/instances/6", strings.NewReader("x"), map[string]string{"Authorization": goodAuth, "Content-Type": "text/plain"}); r.status != 200 {
		t.Errorf("DELETE with a text body: %d %s", r.status, r.body)
	}
	// Allow names DELETE now.
	r = h.do("POST", "/instances/2", nil, nil)
	assertError(t, r, 405)
	if r.header.Get("Allow") != "DELETE, GET, HEAD, PATCH, PUT" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	h.assertNoSecrets(apiKey, sigKey, "xxxxxxxxxxxxxxxxxxxxx")
	if logs := h.logs.String(); !strings.Contains(logs, "instance deleted: instance=1") {
		t.Errorf("no delete log:\n%s", logs)
	}
}

// A store that fails to delete: 500, and the instance runs on.
func TestDeleteInstanceStoreFails(t *testing.T) {
	h := newHarness(t, 0, func(c *harnessConfig) { c.svc.Store = failingDelete{c.svc.Store} })
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	e := assertError(t, h.do("DELETE", "/instances/1", nil, nil), 500)
	if !strings.Contains(e.Message, e.RequestID) {
		t.Errorf("message %q", e.Message)
	}
	if !slices.Equal(h.removedList(), []int64{1}) || len(h.rt.appliedList()) != 2 || h.lastApplied().ID != 1 {
		t.Errorf("removed %v, applied %d", h.removedList(), len(h.rt.appliedList()))
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestEnableDisable(t *testing.T) {
	h := newHarness(t, 4096)
	for _, b := range []string{secretBody, seed000Example} {
		if r := h.post(b); r.status != 200 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	one, two := h.record(1), h.record(2)

	// Disable instance 1 by its token.
	r := h.do("DELETE", "/instances/enabled", nil, withToken(one.Token))
	if r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	var v instanceJSON
	r.json(t, &v)
	if v.ID != 1 || !v.Disabled || v.Configuration["username"] != masked || v.Configuration["subdomain"] != "acme" {
		t.Errorf("view %+v", v)
	}
	in := h.lastApplied()
	if in.ID != 1 || !in.Disabled || in.SignatureKey != sigKey || in.CallbackURL != "https://example.com/hook" || len(in.Jobs) != 1 {
		t.Errorf("applied %d disabled=%v jobs=%d", in.ID, in.Disabled, len(in.Jobs))
	}
	got := h.record(1)
	if !got.Disabled || !reflect.DeepEqual(got.Configuration, one.Configuration) || got.Name != one.Name || got.Token != one.Token {
		t.Errorf("stored %+v", got)
	}
	var g instanceJSON
	h.do("GET", "/instances/1", nil, nil).json(t, &g)
	if !g.Disabled {
		t.Error("GET shows enabled")
	}
	h.do("GET", "/instances/2", nil, nil).json(t, &g)
	if g.Disabled {
		t.Error("instance 2 disabled too")
	}
	// Again: nothing changes, nothing applied.
	n := len(h.rt.appliedList())
	if r := h.do("DELETE", "/instances/enabled", nil, withToken(one.Token)); r.status != 200 || len(h.rt.appliedList()) != n {
		t.Errorf("second disable: %d, applied %d", r.status, len(h.rt.appliedList())-n)
	}
	// A PATCH keeps it disabled.
	h.mustPatch(1, `{"name": "still off"}`)
	if !h.lastApplied().Disabled {
		t.Error("PATCH enabled it")
	}

	// Enable it.
	r = h.do("PUT", "/instances/enabled", nil, withToken(one.Token))
	if r.status != 200 {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	r.json(t, &v)
	if v.ID != 1 || v.Disabled || h.lastApplied().Disabled || h.lastApplied().ID != 1 || h.record(1).Disabled {
		t.Errorf("enable: view %v applied %v", v.Disabled, h.lastApplied().Disabled)
	}
	// The token selects the instance.
	r = h.do("DELETE", "/instances/enabled", nil, withToken(two.Token))
	r.json(t, &v)
	if r.status != 200 || v.ID != 2 || !v.Disabled || h.record(1).Disabled || !h.record(2).Disabled {
		t.Errorf("token of instance 2: %d %s", r.status, r.body)
	}

	// Authorization: the secrets, then the token.
	n = len(h.rt.appliedList())
	for name, hdr := range map[string]map[string]string{
		"no header":     {},
		"no token":      nil,
		"unknown token": withToken("nope"),
		"wrong secret":  {"Authorization": "User nope, Organization " + orgSecret + ", Element " + one.Token},
		"user only":     {"Authorization": "User " + userSecret + ", Element " + one.Token},
		"token prefix":  withToken(one.Token[:10]),
	} {
		for _, m := range []string{"PUT", "DELETE"} {
			r := h.do(m, "/instances/enabled", nil, hdr)
			assertError(t, r, 401)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate", name, m)
			}
		}
	}
	// Bodies: none taken, and only one too large refused.
	hdr := withToken(one.Token)
	hdr["Content-Type"] = "application/json"
	assertError(t, h.do("PUT", "/instances/enabled", strings.NewReader(`{"a":"`+strings.Repeat("b", 5000)+`"}`), hdr), 413)
	if len(h.rt.appliedList()) != n || h.record(1).Disabled {
		t.Error("a rejected request changed something")
	}
	// Other methods.
	for _, m := range []string{"GET", "POST", "PATCH", "OPTIONS"} {
		r := h.do(m, "/instances/enabled", nil, withToken(one.Token))
		assertError(t, r, 405)
		if r.header.Get("Allow") != "DELETE, PUT" {
			t.Errorf("%s: Allow %q", m, r.header.Get("Allow"))
		}
	}
	h.assertNoSecrets(apiKey, sigKey, "xxxxxxxxxxxxxxxxxxxxx")
	for _, tok := range []string{one.Token, two.Token} {
		if strings.Contains(h.logs.String(), tok) {
			t.Errorf("token %q in the logs", tok)
		}
	}
}

// An instance whose element left the definitions: it can be disabled (and is stopped), not enabled.
func TestEnableDisableUnloadable(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	tok := h.record(1).Token
	empty, _ := engine.NewCatalog()
	h.rt.setCatalog(empty)
	r := h.do("DELETE", "/instances/enabled", nil, withToken(tok))
	var v instanceJSON
	r.json(t, &v)
	if r.status != 200 || !v.Disabled || v.Valid || !h.record(1).Disabled || !slices.Equal(h.removedList(), []int64{1}) {
		t.Errorf("disable: %d %s removed %v", r.status, r.body, h.removedList())
	}
	e := assertError(t, h.do("PUT", "/instances/enabled", nil, withToken(tok)), 409)
	if len(e.Errors) == 0 || !strings.Contains(e.Message, "cannot be enabled") {
		t.Errorf("409: %+v", e)
	}
	if !h.record(1).Disabled || len(h.rt.appliedList()) != 1 {
		t.Error("a refused enable changed something")
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestConfigurationEntries(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var view instanceJSON
	h.do("GET", "/instances/1", nil, nil).json(t, &view)
	r := h.do("GET", "/instances/1/configuration", nil, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var list []configEntryJSON
	r.json(t, &list)
	var keys []string
	for _, e := range list {
		keys = append(keys, e.Key)
		if v, set := view.Configuration[e.Key]; e.ID != configID(e.Key) || set && e.PropertyValue != v {
			t.Errorf("entry %+v, view %q", e, view.Configuration[e.Key])
		}
		// One entry by its id.
		var one configEntryJSON
		if r := h.do("GET", entryPath(1, e.Key), nil, nil); r.status != 200 {
			t.Errorf("GET entry %s: %d", e.Key, r.status)
		} else if r.json(t, &one); one != e {
			t.Errorf("entry %+v, want %+v", one, e)
		}
	}
	// Every key the element declares is listed, set or not, so that a client finds any key it may
	// set (and those the instance holds).
	var want []string
	fd, _ := h.rt.Catalog().Element("freshdeskv2")
	for _, k := range fd.Spec.Configuration {
		want = append(want, k.Key)
	}
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	for k := range view.Configuration {
		if !slices.Contains(keys, k) {
			t.Errorf("key %s of the view is not listed", k)
		}
	}
	byKey := map[string]string{}
	for _, e := range list {
		byKey[e.Key] = e.PropertyValue
	}
	// Values as the view shows them; a key not set shows its effective value.
	if byKey["username"] != masked || byKey[engine.KeySignatureKey] != masked || byKey["subdomain"] != "acme" ||
		byKey[engine.KeyRefreshInterval] != "0.05" || byKey[engine.KeyFilterNulls] != "true" ||
		byKey[engine.KeyEventsEnabled] != "true" || byKey[engine.KeyBackfillFrom] != "" || byKey["base.url"] != "" {
		t.Errorf("entries %v", byKey)
	}
	var pc map[string]any
	if err := json.Unmarshal([]byte(byKey[engine.KeyPollerConfig]), &pc); err != nil || pc["contacts"] == nil {
		t.Errorf("poller configuration %q", byKey[engine.KeyPollerConfig])
	}
	// Ids are stable: the same for another instance, and after a reload.
	h.post(seed000Example)
	h.rt.setCatalog(groupsCatalog(t))
	var list2 []configEntryJSON
	h.do("GET", "/instances/2/configuration", nil, nil).json(t, &list2)
	for _, e := range list2 {
		if e.ID != configID(e.Key) {
			t.Errorf("instance 2 entry %+v", e)
		}
	}

	// Not found.
	for _, p := range []string{"/instances/99/configuration", "/instances/x/configuration", "/instances/99/configuration/1",
		"/instances/1/configuration/1", "/instances/1/configuration/subdomain", "/instances/1/configuration/-1",
		entryPath(1, "colour")} {
		assertError(t, h.do("GET", p, nil, nil), 404)
	}
	// Authorization.
	for _, p := range []string{"/instances/1/configuration", entryPath(1, "subdomain")} {
		for _, hdr := range []map[string]string{{}, {"Authorization": "User nope, Organization " + orgSecret}} {
			assertError(t, h.do("GET", p, nil, hdr), 401)
		}
	}
	// Methods.
	for _, tc := range []struct{ method, path, allow string }{
		{"POST", "/instances/1/configuration", "GET, HEAD"},
		{"PUT", "/instances/1/configuration", "GET, HEAD"},
		{"PATCH", "/instances/1/configuration", "GET, HEAD"},
		{"DELETE", "/instances/1/configuration", "GET, HEAD"},
		{"PUT", entryPath(1, "subdomain"), "GET, HEAD, PATCH"},
		{"DELETE", entryPath(1, "subdomain"), "GET, HEAD, PATCH"},
		{"POST", entryPath(1, "subdomain"), "GET, HEAD, PATCH"},
	} {
		r := h.do(tc.method, tc.path, nil, nil)
		assertError(t, r, 405)
		if r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, r.header.Get("Allow"), tc.allow)
		}
	}
	// An instance whose element is gone still lists its entries, masked.
	empty, _ := engine.NewCatalog()
	h.rt.setCatalog(empty)
	h.do("GET", "/instances/1/configuration", nil, nil).json(t, &list)
	for _, e := range list {
		if (e.Key == "username" || e.Key == engine.KeySignatureKey) && e.PropertyValue != masked {
			t.Errorf("unmasked %+v", e)
		}
	}
	h.assertNoSecrets(apiKey, sigKey, "xxxxxxxxxxxxxxxxxxxxx")
}

// Entry ids are hashes of the key: no two keys of an element may share one.
func TestConfigIDsUnique(t *testing.T) {
	for _, el := range groupsCatalog(t).Elements() {
		seen := map[int64]string{}
		for _, k := range el.Spec.Configuration {
			id := configID(k.Key)
			if other, dup := seen[id]; dup {
				t.Errorf("%s: keys %q and %q share entry id %d", el.Key, other, k.Key, id)
			}
			if id < 0 || id > 1<<31-1 {
				t.Errorf("%s: id %d", k.Key, id)
			}
			seen[id] = k.Key
		}
	}
	if configID("subdomain") != configID("subdomain") || configID("a") == configID("b") {
		t.Error("configID is not a function of the key")
	}
}

func TestPatchConfiguration(t *testing.T) {
	h := newHarness(t, 4096)
	h.rt.setCatalog(groupsCatalog(t))
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := h.post(seed003Body); r.status != 200 { // no callback url
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	mustEntry := func(path, body string) configEntryJSON {
		t.Helper()
		r := h.send("PATCH", path, body)
		if r.status != 200 {
			t.Fatalf("PATCH %s %s: %d %s", path, body, r.status, r.body)
		}
		var e configEntryJSON
		r.json(t, &e)
		return e
	}

	e := mustEntry(entryPath(1, engine.KeyCallbackURL), `{"propertyValue": "https://other.example/h?a=1&b=2"}`)
	if e != (configEntryJSON{ID: configID(engine.KeyCallbackURL), Key: engine.KeyCallbackURL, PropertyValue: "https://other.example/h?a=1&b=2"}) {
		t.Errorf("entry %+v", e)
	}
	if in := h.lastApplied(); in.ID != 1 || in.CallbackURL != "https://other.example/h?a=1&b=2" || in.SignatureKey != sigKey {
		t.Errorf("applied %d %q", in.ID, in.CallbackURL)
	}
	if got := h.record(1).Configuration[engine.KeyCallbackURL]; got != "https://other.example/h?a=1&b=2" {
		t.Errorf("stored %v", got)
	}
	// With its key.
	mustEntry(entryPath(1, engine.KeyRefreshInterval), `{"key": "event.poller.refresh_interval", "propertyValue": "5"}`)
	if in := h.lastApplied(); in.Interval.Minutes() != 5 {
		t.Errorf("interval %v", in.Interval)
	}
	// A secret: stored and applied, answered masked.
	e = mustEntry(entryPath(1, "username"), `{"propertyValue": "newkey-SECRET-9999"}`)
	if e.PropertyValue != masked || h.record(1).Configuration["username"] != "newkey-SECRET-9999" || h.lastApplied().Endpoint.Auth.Username != "newkey-SECRET-9999" {
		t.Errorf("secret entry %+v", e)
	}
	// The poller configuration, as a JSON string or an object.
	mustEntry(entryPath(1, engine.KeyPollerConfig), `{"propertyValue": "{\"groups\": {}, \"contacts\": {}}"}`)
	if got := jobNames(h.lastApplied()); !slices.Equal(got, []string{"contacts", "groups"}) {
		t.Errorf("jobs %v", got)
	}
	e = mustEntry(entryPath(1, engine.KeyPollerConfig), `{"propertyValue": {"incidents": {}}}`)
	if got := jobNames(h.lastApplied()); !slices.Equal(got, []string{"incidents"}) || !strings.HasPrefix(e.PropertyValue, `{"incidents"`) {
		t.Errorf("jobs %v, entry %+v", got, e)
	}
	// A key the element declares and the instance has not set yet: its id works already.
	mustEntry(entryPath(1, engine.KeyBackfillFrom), `{"propertyValue": "2024-01-31"}`)
	if h.lastApplied().BackfillFrom.IsZero() {
		t.Error("backfill not applied")
	}
	// A default the instance never set.
	mustEntry(entryPath(2, engine.KeyFilterNulls), `{"propertyValue": "false"}`)
	if got := h.record(2).Configuration[engine.KeyFilterNulls]; got != "false" {
		t.Errorf("stored %v", got)
	}

	before1, before2 := h.record(1), h.record(2)
	applied := len(h.rt.appliedList())
	for _, tc := range []struct {
		name, path, body, ct string
		status               int
		pointers             []string
	}{
		{"bad value", entryPath(1, engine.KeyRefreshInterval), `{"propertyValue": "soon"}`, "", 400, []string{"/propertyValue"}},
		{"bad url", entryPath(1, engine.KeyCallbackURL), `{"propertyValue": "ftp://x"}`, "", 400, []string{"/propertyValue"}},
		{"unknown resource", entryPath(1, engine.KeyPollerConfig), `{"propertyValue": {"nosuch": {}}}`, "", 400, []string{"/propertyValue/nosuch"}},
		{"other key at fault", entryPath(2, engine.KeyEventsEnabled), `{"propertyValue": "true"}`, "", 400, []string{"/configuration/event.notification.callback.url"}},
		{"required emptied", entryPath(1, "subdomain"), `{"propertyValue": ""}`, "", 400, []string{"/propertyValue"}},
		{"wrong key", entryPath(1, "subdomain"), `{"key": "username", "propertyValue": "x"}`, "", 400, []string{"/key"}},
		{"unknown fields", entryPath(1, "subdomain"), `{"propertyValue": "x", "value": 1, "id": 2}`, "", 400, []string{"/value", "/id"}},
		{"missing value", entryPath(1, "subdomain"), `{"key": "subdomain"}`, "", 400, []string{"/propertyValue"}},
		{"null value", entryPath(1, "subdomain"), `{"propertyValue": null}`, "", 400, []string{"/propertyValue"}},
		{"object for text", entryPath(1, "subdomain"), `{"propertyValue": {"a": 1}}`, "", 400, []string{"/propertyValue"}},
		{"stored secret quoted", entryPath(1, engine.KeyRefreshInterval), `{"propertyValue": "newkey-SECRET-9999"}`, "", 400, []string{"/propertyValue"}},
		{"new secret quoted", entryPath(1, engine.KeySignatureKey), `{"propertyValue": {"k": "sigkey-SECRET-NEW1"}}`, "", 400, []string{"/propertyValue"}},
		{"not JSON", entryPath(1, "subdomain"), `{"propertyValue": `, "", 400, []string{""}},
		{"array body", entryPath(1, "subdomain"), `["x"]`, "", 400, []string{""}},
		{"text/plain", entryPath(1, "subdomain"), `{"propertyValue": "x"}`, "text/plain", 415, nil},
		{"too large", entryPath(1, "subdomain"), `{"propertyValue": "` + strings.Repeat("x", 5000) + `"}`, "", 413, nil},
		{"unknown instance", "/instances/99/configuration/" + strconv.FormatInt(configID("subdomain"), 10), `{"propertyValue": "x"}`, "", 404, nil},
		{"unknown entry", "/instances/1/configuration/12345", `{"propertyValue": "x"}`, "", 404, nil},
		{"entry by name", "/instances/1/configuration/subdomain", `{nope`, "", 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": goodAuth, "Content-Type": "application/json"}
			if tc.ct != "" {
				hdr["Content-Type"] = tc.ct
			}
			e := assertError(t, h.do("PATCH", tc.path, strings.NewReader(tc.body), hdr), tc.status)
			var ptrs []string
			for _, p := range e.Errors {
				ptrs = append(ptrs, p.Pointer)
			}
			if !slices.Equal(ptrs, tc.pointers) {
				t.Errorf("pointers %q, want %q: %s", ptrs, tc.pointers, h.bodies[len(h.bodies)-1])
			}
			if tc.status == 400 && !strings.HasPrefix(e.Message, "Invalid configuration entry: ") {
				t.Errorf("message %q", e.Message)
			}
		})
	}
	if !reflect.DeepEqual(h.record(1), before1) || !reflect.DeepEqual(h.record(2), before2) || len(h.rt.appliedList()) != applied {
		t.Error("a rejected PATCH changed something")
	}
	for _, hdr := range []map[string]string{{}, {"Authorization": "User " + userSecret + ", Organization nope"}} {
		hdr["Content-Type"] = "application/json"
		assertError(t, h.do("PATCH", entryPath(1, "subdomain"), strings.NewReader(`{"propertyValue": "x"}`), hdr), 401)
	}
	h.assertNoSecrets(apiKey, sigKey, "newkey-SECRET-9999", "sigkey-SECRET-NEW1", "<YOUR_API_KEY>")
	if !strings.Contains(h.logs.String(), "configuration entry updated: instance=1 key=username") {
		t.Errorf("no entry log:\n%s", h.logs.String())
	}
}

func TestElements(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(strings.ReplaceAll(secretBody, `"acme"`, `"zq-subdomain-7"`)); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r := h.do("GET", "/elements", nil, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var list []catalogElementJSON
	r.json(t, &list)
	var el catalogElementJSON
	for _, e := range list {
		if e.Key == "freshdeskv2" {
			el = e
		}
	}
	if len(list) == 0 || el.Key == "" {
		t.Fatalf("elements %s", r.body)
	}
	if el.Key != "freshdeskv2" || el.ID != 491 || el.Name != "Freshdesk V2" || el.Hub != "helpdesk" || el.Authentication.Type != "basic" {
		t.Errorf("element %+v", el)
	}
	keys := map[string]catalogConfigJSON{}
	for _, k := range el.Configuration {
		keys[k.Key] = k
		if k.ID != configID(k.Key) || k.Type == "" {
			t.Errorf("key %+v", k)
		}
	}
	if k := keys["username"]; !k.Secret || !k.Required || k.Name != "API Key" || k.Type != "password" {
		t.Errorf("username %+v", k)
	}
	if k := keys["subdomain"]; k.Secret || !k.Required || k.Description == "" {
		t.Errorf("subdomain %+v", k)
	}
	if k := keys[engine.KeySignatureKey]; !k.Secret {
		t.Errorf("signature key %+v", k)
	}
	if k := keys["base.url"]; !k.Hidden {
		t.Errorf("base.url %+v", k)
	}
	if k := keys[engine.KeyRefreshInterval]; k.DefaultValue != "15" {
		t.Errorf("refresh interval %+v", k)
	}
	// The platform's clients read the default poller configuration from the element's
	// event.poller.configuration entry.
	var pc map[string]engine.PollerSpec
	if err := json.Unmarshal([]byte(keys[engine.KeyPollerConfig].DefaultValue), &pc); err != nil || len(pc) != 2 || pc["incidents"].IDField != "id" {
		t.Errorf("poller configuration default %q: %v", keys[engine.KeyPollerConfig].DefaultValue, err)
	}
	var names []string
	for _, res := range el.Resources {
		names = append(names, res.Name)
		if res.HubPath != "/hubs/helpdesk/"+res.Name || !strings.HasPrefix(res.VendorPath, "/api/v2/") || res.DefaultPollerConfiguration.IDField == "" {
			t.Errorf("resource %+v", res)
		}
	}
	if !slices.IsSorted(names) || !slices.Contains(names, "contacts") || !slices.Contains(names, "incidents") {
		t.Errorf("resources %v", names)
	}
	for _, res := range el.Resources {
		if res.Name != "contacts" {
			continue
		}
		if !slices.ContainsFunc(res.Where, func(w catalogWhereJSON) bool { return w.Field == "updated_since" && w.Cursor }) ||
			!slices.ContainsFunc(res.Where, func(w catalogWhereJSON) bool { return w.Field == "email" && slices.Equal(w.Operators, []string{"="}) }) ||
			!strings.HasPrefix(res.DefaultPollerConfiguration.URL, "/hubs/helpdesk/contacts?where=") || res.Fields["email"] != "string" {
			t.Errorf("contacts %+v", res)
		}
	}
	if !slices.Equal(el.Events.DefaultResources, []string{"incidents", "contacts"}) || el.Events.RefreshInterval != 15 {
		t.Errorf("events %+v", el.Events)
	}
	// By key and by id, the same.
	for _, p := range []string{"/elements/freshdeskv2", "/elements/491"} {
		var one catalogElementJSON
		r := h.do("GET", p, nil, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d", p, r.status)
		}
		if r.json(t, &one); !reflect.DeepEqual(one, el) {
			t.Errorf("%s differs from the list", p)
		}
	}
	// No instance value: the instance's subdomain and callback url appear nowhere.
	for _, b := range h.bodies[1:] {
		if strings.Contains(b, "zq-subdomain-7") || strings.Contains(b, "example.com/hook") {
			t.Errorf("instance value in %s", b)
		}
	}
	e := assertError(t, h.do("GET", "/elements/nosuchdesk", nil, nil), 404)
	if !strings.Contains(e.Message, `"nosuchdesk"`) || !strings.Contains(e.Message, "freshdeskv2") {
		t.Errorf("message %q", e.Message)
	}
	assertError(t, h.do("GET", "/elements/1", nil, nil), 404)
	for _, p := range []string{"/elements", "/elements/freshdeskv2"} {
		for _, hdr := range []map[string]string{{}, {"Authorization": "User " + userSecret}, withToken("x")} {
			// An unknown Element token is a failed authentication, on every route.
			assertError(t, h.do("GET", p, nil, hdr), 401)
		}
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			r := h.do(m, p, nil, nil)
			assertError(t, r, 405)
			if r.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", m, p, r.header.Get("Allow"))
			}
		}
	}
	// The catalog changes with a reload.
	empty, _ := engine.NewCatalog()
	h.rt.setCatalog(empty)
	if r := h.do("GET", "/elements", nil, nil); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty catalog: %s", r.body)
	}
	e = assertError(t, h.do("GET", "/elements/freshdeskv2", nil, nil), 404)
	if !strings.Contains(e.Message, "none") {
		t.Errorf("message %q", e.Message)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

// Every lifecycle route answers its errors in the JSON shape with the request id, and a request
// carrying secrets in its body leaves none in the logs.
func TestLifecycleRoutesAuth(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post(secretBody); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	tok := h.record(1).Token
	for _, op := range lifecycleRoutes {
		if op.public {
			continue
		}
		method, path, _ := strings.Cut(op.pattern, " ")
		path = strings.NewReplacer("{id}", "1", "{configId}", strconv.FormatInt(configID("subdomain"), 10), "{key}", "freshdeskv2").Replace(path)
		for _, auth := range []string{"", "User nope, Organization " + orgSecret + ", Element " + tok, "Organization " + orgSecret + ", Element " + tok} {
			hdr := map[string]string{"Content-Type": "application/json"}
			if auth != "" {
				hdr["Authorization"] = auth
			}
			r := h.do(method, path, strings.NewReader(`{"propertyValue": "x"}`), hdr)
			assertError(t, r, http.StatusUnauthorized)
		}
	}
	if n := len(h.rt.appliedList()); n != 1 || len(h.removedList()) != 0 || h.record(1).Configuration["subdomain"] != "acme" {
		t.Error("an unauthorized request changed something")
	}
	h.assertNoSecrets(apiKey, sigKey)
}
