package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
	"github.com/pollen-hq/pollen/engine/tenants"
)

const (
	userSecret = "user-SECRET-7d1f-4c2a-9e0b-31f6"
	orgSecret  = "org-SECRET-90ab-5d7e-8c1f-a2b4"
	goodAuth   = "User " + userSecret + ", Organization " + orgSecret
)

var testNow = time.Date(2017, 8, 7, 18, 46, 38, 500_000_000, time.UTC)

// harness is a Server on a loopback httptest server, with its fakes and captured logs.
type harness struct {
	t       *testing.T
	srv     *httptest.Server
	store   *memStore
	rt      *fakeRuntime
	tenants *tenants.Service
	// orgSecrets are the secrets of the organizations tests created, by name.
	orgSecrets map[string]string
	logs       *syncBuffer
	// bodies holds every response body, to check that no secret ever appears in one.
	bodies []string
}

// harnessConfig is what a harness builds its services and server from.
type harnessConfig struct {
	api Options
	svc instances.Options
	// session, when set, is the console's seam: a header's X-Test-Session names a signed-in
	// principal, the bootstrap admin for "1" (HeaderAuthenticator.Session).
	session map[string]bool
}

// newHarness builds a harness on the built-in catalog, its bootstrap admin holding userSecret and
// orgSecret; opts adjust the services' and the server's Options. The egress policy is open: tests
// point instances at loopback addresses.
func newHarness(t *testing.T, maxBody int64, opts ...func(*harnessConfig)) *harness {
	t.Helper()
	cat, probs := definitions.Compile(definitions.Builtin())
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	h := &harness{t: t, store: newMemStore(), rt: &fakeRuntime{cat: cat}, logs: &syncBuffer{}}
	s := h.build(maxBody, opts...)
	h.srv = httptest.NewServer(s)
	t.Cleanup(h.srv.Close)
	return h
}

// build builds the harness's services and server.
func (h *harness) build(maxBody int64, opts ...func(*harnessConfig)) *Server {
	t := h.t
	log := hclog.New(&hclog.LoggerOptions{Output: h.logs, Level: hclog.Trace})
	c := harnessConfig{
		svc: instances.Options{Store: h.store, Runtime: h.rt, Limits: engine.Limits{MinInterval: time.Millisecond},
			Logger: log, Clock: &engine.FixedClock{T: testNow}},
		api: Options{Logger: log, Now: func() time.Time { return testNow }, MaxBodyBytes: maxBody,
			Throttle: tenants.NewThrottle(tenants.ThrottleOptions{Burst: 1000})},
	}
	for _, f := range opts {
		f(&c)
	}
	tn, err := tenants.New(tenants.Options{Store: h.store})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Bootstrap(t.Context(), userSecret, orgSecret); err != nil {
		t.Fatal(err)
	}
	h.tenants = tn
	svc, err := instances.New(c.svc)
	if err != nil {
		t.Fatal(err)
	}
	c.api.Instances, c.api.Tenants = svc, tn
	if c.session != nil {
		admin, err := tn.Authenticate(t.Context(), userSecret, orgSecret)
		if err != nil {
			t.Fatal(err)
		}
		c.api.Authenticator = &HeaderAuthenticator{Tenants: tn, Instances: svc, Session: func(r *http.Request) (engine.Principal, bool) {
			return admin, c.session[r.Header.Get("X-Test-Session")]
		}}
	}
	s, err := New(c.api)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, r.body)
	}
}

// do sends a request. A nil header map sends goodAuth and no Content-Type.
func (h *harness) do(method, path string, body io.Reader, header map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if header == nil {
		header = map[string]string{"Authorization": goodAuth}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.bodies = append(h.bodies, string(b))
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (h *harness) post(body string) response {
	h.t.Helper()
	return h.do("POST", "/instances", strings.NewReader(body),
		map[string]string{"Authorization": goodAuth, "Content-Type": "application/json"})
}

// assertNoSecrets fails when a secret appears in any response body or log line so far. Call it
// after the server is closed, so that every log line is written.
func (h *harness) assertNoSecrets(secrets ...string) {
	h.t.Helper()
	h.srv.Close()
	logs := h.logs.String()
	for _, s := range append(secrets, userSecret, orgSecret) {
		if strings.Contains(logs, s) {
			h.t.Errorf("secret %q in the logs:\n%s", s, logs)
		}
		for _, b := range h.bodies {
			if strings.Contains(b, s) {
				h.t.Errorf("secret %q in a response body:\n%s", s, b)
			}
		}
	}
}

// assertError checks an error response: status, JSON {requestId, message}, X-Request-Id.
func assertError(t *testing.T, r response, status int) apiError {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var e apiError
	r.json(t, &e)
	if e.RequestID == "" || e.RequestID != r.header.Get("X-Request-Id") {
		t.Errorf("requestId %q, X-Request-Id %q", e.RequestID, r.header.Get("X-Request-Id"))
	}
	if e.Message == "" {
		t.Error("empty message")
	}
	return e
}

func decodeNumbers(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCreateSeedBodies(t *testing.T) {
	type want struct {
		secret    string
		name      string
		tags      []string
		events    bool
		jobs      []string
		config    map[string]string // expected echo, poller configuration aside
		hasPoller bool
	}
	tests := []struct {
		name string
		body string
		want want
	}{
		{"seed000 construct", seed000Construct, want{
			secret: "<YOUR_API_KEY>", name: "<INSTANCE_NAME>", tags: []string{"<Add_Your_Tag>"}, events: true,
			jobs: []string{"contacts", "incidents"}, hasPoller: true,
			config: map[string]string{"subdomain": "<YOUR_SUBDOMAIN>", "username": masked,
				"event.notification.callback.url": "http://mycoolapp.com", "event.poller.refresh_interval": "15",
				"filter.response.nulls": "true", "event.vendor.type": "polling"},
		}},
		{"seed000 example", seed000Example, want{
			secret: "xxxxxxxxxxxxxxxxxxxxx", name: "API_Polling", tags: []string{"Test"}, events: true,
			jobs: []string{"contacts", "incidents"}, hasPoller: true,
			config: map[string]string{"subdomain": "cloudelements", "username": masked,
				"event.notification.callback.url": "http://mycoolapp.com", "event.poller.refresh_interval": "15",
				"filter.response.nulls": "true", "event.vendor.type": "polling"},
		}},
		{"seed003 body", seed003Body, want{
			secret: "<YOUR_API_KEY>", name: "<INSTANCE_NAME>", tags: []string{"<Add_Your_Tag>"}, events: false,
			jobs: []string{"contacts", "incidents"},
			config: map[string]string{"subdomain": "<YOUR_SUBDOMAIN>", "username": masked,
				"filter.response.nulls": "true", "event.vendor.type": "polling", "event.poller.refresh_interval": "15"},
		}},
		{"seed003 curl", seed003Curl, want{
			secret: "xxxxxxxxxxxxxxxxxxxxx", name: "API Instance", tags: []string{"Docs"}, events: false,
			jobs: []string{"contacts", "incidents"},
			config: map[string]string{"subdomain": "cloudelements", "username": masked,
				"filter.response.nulls": "true", "event.vendor.type": "polling", "event.poller.refresh_interval": "15"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 0)
			r := h.post(tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			var m map[string]any
			r.json(t, &m)

			// The shape of seed 003's example response, key for key.
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range m {
					if !yield(k) {
						return
					}
				}
			})
			wantKeys := append(slices.Clone(seed003ResponseKeys), "pollers") // Pollen's addition
			sort.Strings(wantKeys)
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("keys %v\nwant %v", keys, wantKeys)
			}
			var el map[string]any
			if err := json.Unmarshal([]byte(seed003Element), &el); err != nil {
				t.Fatal(err)
			}
			gotEl, _ := json.Marshal(m["element"])
			var gotElm map[string]any
			_ = json.Unmarshal(gotEl, &gotElm)
			if !reflect.DeepEqual(gotElm, el) {
				t.Errorf("element %s\nwant %s", gotEl, seed003Element)
			}
			fixed := map[string]any{
				"id": json.Number("1"), "name": tt.want.name, "createdDate": "2017-08-07T18:46:38Z",
				"elementId": json.Number("491"), "provisionInteractions": []any{}, "valid": true, "disabled": false,
				"maxCacheSize": json.Number("0"), "cacheTimeToLive": json.Number("0"), "eventsEnabled": tt.want.events,
				"traceLoggingEnabled": false, "cachingEnabled": false, "externalAuthentication": "none",
				"user": map[string]any{"id": json.Number("1"), "emailAddress": "admin", "firstName": "", "lastName": ""},
			}
			for k, v := range fixed {
				if !reflect.DeepEqual(m[k], v) {
					t.Errorf("%s = %#v, want %#v", k, m[k], v)
				}
			}
			var tags []string
			for _, x := range m["tags"].([]any) {
				tags = append(tags, x.(string))
			}
			if !slices.Equal(tags, tt.want.tags) {
				t.Errorf("tags %v, want %v", tags, tt.want.tags)
			}
			token, _ := m["token"].(string)
			if len(token) != 44 {
				t.Errorf("token %q is not 32 bytes in base64", token)
			}

			// Configuration: every key, as strings, secrets masked.
			conf := map[string]string{}
			for k, v := range m["configuration"].(map[string]any) {
				conf[k] = v.(string)
			}
			sent := decodeNumbers(t, tt.body)["configuration"].(map[string]any)
			if tt.want.hasPoller {
				var got, want any
				if err := json.Unmarshal([]byte(conf[engine.KeyPollerConfig]), &got); err != nil {
					t.Fatalf("event.poller.configuration is not a JSON string: %v", err)
				}
				b, _ := json.Marshal(sent[engine.KeyPollerConfig])
				_ = json.Unmarshal(b, &want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("event.poller.configuration %s\nwant %s", conf[engine.KeyPollerConfig], b)
				}
				delete(conf, engine.KeyPollerConfig)
			}
			if !reflect.DeepEqual(conf, tt.want.config) {
				t.Errorf("configuration %v\nwant %v", conf, tt.want.config)
			}

			// Stored exactly as sent.
			rec, err := h.store.Instance(t.Context(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rec.Configuration, sent) {
				t.Errorf("stored configuration %#v\nwant %#v", rec.Configuration, sent)
			}
			if rec.Token != token || rec.ElementKey != "freshdeskv2" || rec.Name != tt.want.name || !rec.CreatedAt.Equal(testNow) {
				t.Errorf("stored record %+v", rec)
			}

			// Applied: the compiled instance, with the identity the store gave it.
			applied := h.rt.appliedList()
			if len(applied) != 1 {
				t.Fatalf("Apply called %d times", len(applied))
			}
			in := applied[0]
			if in.ID != 1 || in.Token != token || !in.CreatedAt.Equal(testNow) || in.Element.Key != "freshdeskv2" ||
				in.EventsEnabled != tt.want.events || in.Interval != 15*time.Minute {
				t.Errorf("applied %d %q %v %s events=%v interval=%v", in.ID, in.Token, in.CreatedAt, in.Element.Key, in.EventsEnabled, in.Interval)
			}
			var jobs []string
			for _, j := range in.Jobs {
				jobs = append(jobs, j.ObjectType)
			}
			if !slices.Equal(jobs, tt.want.jobs) {
				t.Errorf("jobs %v, want %v", jobs, tt.want.jobs)
			}

			// Compile rebuilds the same instance from the record (the startup path).
			again, probs := compileRecord(h.rt.Catalog(), rec)
			if len(probs) > 0 {
				t.Fatal(definitions.Describe(probs))
			}
			if again.ID != in.ID || again.Token != in.Token || !again.CreatedAt.Equal(in.CreatedAt) ||
				!reflect.DeepEqual(again.Config, in.Config) || again.Interval != in.Interval ||
				len(again.Jobs) != len(in.Jobs) || again.Name != in.Name || !slices.Equal(again.Tags, in.Tags) {
				t.Error("Compile of the stored record differs from the created instance")
			}

			h.assertNoSecrets(tt.want.secret)
			if !strings.Contains(h.logs.String(), "request: method=POST path=/instances status=200") {
				t.Errorf("no request log line:\n%s", h.logs.String())
			}
		})
	}
}

// secretBody carries both kinds of secret: the API key and the signature key.
const secretBody = `{
  "element": {"key": "freshdeskv2"},
  "name": "signed",
  "tags": ["a", "b"],
  "configuration": {
    "subdomain": "acme",
    "username": "apikey-SECRET-3c5e",
    "event.notification.callback.url": "https://example.com/hook",
    "event.notification.signature.key": "sigkey-SECRET-77aa",
    "event.poller.refresh_interval": 0.05,
    "event.poller.configuration": "{\"contacts\":{\"url\":\"/hubs/helpdesk/contacts?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'\",\"idField\":\"id\"}}"
  }
}`

func TestSecretsMasked(t *testing.T) {
	h := newHarness(t, 0)
	r := h.post(secretBody)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var v instanceJSON
	r.json(t, &v)
	want := map[string]string{
		"subdomain":                        "acme",
		"username":                         masked,
		"event.notification.signature.key": masked,
		"event.notification.callback.url":  "https://example.com/hook",
		"event.poller.refresh_interval":    "0.05",
		"event.poller.configuration":       `{"contacts":{"url":"/hubs/helpdesk/contacts?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'","idField":"id"}}`,
		"filter.response.nulls":            "true",
		"event.vendor.type":                "polling",
	}
	if !reflect.DeepEqual(v.Configuration, want) {
		t.Errorf("configuration %v\nwant %v", v.Configuration, want)
	}
	if in := h.rt.appliedList()[0]; in.Interval != 3*time.Second || in.SignatureKey != "sigkey-SECRET-77aa" {
		t.Errorf("applied interval %v", in.Interval)
	}
	rec, _ := h.store.Instance(t.Context(), 1)
	if rec.Configuration["event.poller.refresh_interval"] != json.Number("0.05") {
		t.Errorf("stored refresh interval %#v", rec.Configuration["event.poller.refresh_interval"])
	}

	h.do("GET", "/instances", nil, nil)
	h.do("GET", "/instances/1", nil, nil)

	// A definition removed: the record still answers, valid false, still masked.
	empty, _ := engine.NewCatalog()
	h.rt.setCatalog(empty)
	r = h.do("GET", "/instances/1", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	r.json(t, &v)
	if v.Valid || v.Element.Key != "freshdeskv2" || v.Token != rec.Token || !v.EventsEnabled || v.ID != 1 {
		t.Errorf("unloadable instance: %+v", v)
	}
	if v.Configuration["username"] != masked || v.Configuration["event.notification.signature.key"] != masked ||
		v.Configuration["subdomain"] != "acme" || v.Configuration["event.poller.refresh_interval"] != "0.05" {
		t.Errorf("unloadable configuration %v", v.Configuration)
	}
	h.do("GET", "/instances", nil, nil)
	h.assertNoSecrets("apikey-SECRET-3c5e", "sigkey-SECRET-77aa")
	if !strings.Contains(h.logs.String(), "stored instance does not load") {
		t.Errorf("no warning for the unloadable instance:\n%s", h.logs.String())
	}
}

func TestCreateRejectsBody(t *testing.T) {
	const faulty = `{
  "element": {"key": "freshdeskv2"},
  "name": "faulty",
  "configuration": {
    "subdomain": "acme",
    "username": "apikey-SECRET-f00d",
    "event.notification.signature.key": "sigkey-SECRET-beef",
    "event.notification.callback.url": "https://example.com/hook",
    "no.such.key": "apikey-SECRET-f00d",
    "event.poller.refresh_interval": "sigkey-SECRET-beef",
    "event.poller.configuration": {
      "tickets": {"idField": "id"},
      "contacts": {
        "url": "/hubs/helpdesk/contacts?where=favourite_colour='blue'",
        "idField": "id",
        "datesConfiguration": {"updatedDateField": "updated_at"}
      }
    }
  }
}`
	h := newHarness(t, 0)
	e := assertError(t, h.post(faulty), http.StatusBadRequest)
	var ptrs []string
	for _, p := range e.Errors {
		ptrs = append(ptrs, p.Pointer)
		if p.Message == "" {
			t.Errorf("%s: empty message", p.Pointer)
		}
	}
	want := []string{
		"/configuration/event.poller.configuration/contacts/url",
		"/configuration/event.poller.configuration/tickets",
		"/configuration/event.poller.refresh_interval",
		"/configuration/no.such.key",
	}
	if !slices.Equal(ptrs, want) {
		t.Errorf("pointers %q\nwant %q\n%s", ptrs, want, h.bodies[0])
	}
	if e.Message != "Invalid instance body: 4 problems" {
		t.Errorf("message %q", e.Message)
	}
	if len(h.rt.appliedList()) != 0 {
		t.Error("Apply called for a rejected body")
	}
	if recs, _ := h.store.Instances(t.Context(), engine.Scope{}); len(recs) != 0 {
		t.Error("rejected body stored")
	}
	t.Logf("400 body: %s", h.bodies[0])
	h.assertNoSecrets("apikey-SECRET-f00d", "sigkey-SECRET-beef")
}

func TestCreateErrors(t *testing.T) {
	big := `{"element":{"key":"freshdeskv2"},"name":"` + strings.Repeat("x", 5000) + `","configuration":{}}`
	tests := []struct {
		name     string
		body     io.Reader
		ct       string
		status   int
		contains string // in the message
	}{
		{"malformed JSON", strings.NewReader(`{"element": {"key": "freshdeskv2"},`), "application/json", 400, "not valid JSON"},
		{"empty body", strings.NewReader(``), "", 400, "not valid JSON"},
		{"trailing data", strings.NewReader(seed003Body + `{}`), "", 400, "1 problem"},
		{"unknown element", strings.NewReader(`{"element":{"key":"nosuchdesk"},"configuration":{}}`), "application/json", 400, "freshdeskv2"},
		{"unknown element id", strings.NewReader(`{"element":{"id":1},"configuration":{}}`), "application/json", 400, "freshdeskv2"},
		{"not JSON content type", strings.NewReader(seed003Body), "text/plain", 415, "application/json"},
		{"bad content type", strings.NewReader(seed003Body), "application/json; =", 415, "application/json"},
		{"too large", strings.NewReader(big), "application/json", 413, "4096"},
		{"too large, length unknown", io.MultiReader(strings.NewReader(big)), "application/json", 413, "4096"},
	}
	h := newHarness(t, 4096)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": goodAuth}
			if tt.ct != "" {
				hdr["Content-Type"] = tt.ct
			}
			e := assertError(t, h.do("POST", "/instances", tt.body, hdr), tt.status)
			if !strings.Contains(e.Message, tt.contains) {
				t.Errorf("message %q does not contain %q", e.Message, tt.contains)
			}
			if tt.status == 400 && len(e.Errors) == 0 {
				t.Error("no errors listed")
			}
		})
	}
	// A charset parameter and a +json type are fine.
	for _, ct := range []string{"application/json; charset=utf-8", "application/vnd.pollen+json"} {
		r := h.do("POST", "/instances", strings.NewReader(seed003Body), map[string]string{"Authorization": goodAuth, "Content-Type": ct})
		if r.status != http.StatusOK {
			t.Errorf("%s: status %d: %s", ct, r.status, r.body)
		}
	}
	if len(h.rt.appliedList()) != 2 {
		t.Errorf("Apply called %d times, want 2", len(h.rt.appliedList()))
	}
}

func TestAuthorization(t *testing.T) {
	h := newHarness(t, 0)
	tests := []struct {
		name   string
		header string
		status int
	}{
		{"missing", "", 401},
		{"wrong user", "User nope, Organization " + orgSecret, 401},
		{"wrong organization", "User " + userSecret + ", Organization nope", 401},
		{"swapped secrets", "User " + orgSecret + ", Organization " + userSecret, 401},
		{"user only", "User " + userSecret, 401},
		{"organization only", "Organization " + orgSecret, 401},
		{"user and element", "User " + userSecret + ", Element abc", 401},
		{"prefix of secret", "User " + userSecret[:5] + ", Organization " + orgSecret, 401},
		{"unknown scheme", "Bearer " + userSecret, 401},
		{"extra unknown part", goodAuth + ", Bearer x", 401},
		{"repeated part", goodAuth + ", User " + userSecret, 401},
		{"empty part", goodAuth + ",", 401},
		{"word without value", "User, Organization " + orgSecret, 401},
		{"good", goodAuth, 200},
		{"any order, case, spaces", "  organization   " + orgSecret + " ,USER\t" + userSecret + "  ", 200},
		{"with an unknown element token", "User " + userSecret + ", Organization " + orgSecret + ", Element ABC/D+x=", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.header != "" {
				hdr["Authorization"] = tt.header
			}
			r := h.do("GET", "/instances", nil, hdr)
			if tt.status == 401 {
				assertError(t, r, 401)
				return
			}
			if r.status != tt.status {
				t.Errorf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	// Every route but /healthz is behind authentication, unknown paths included.
	for _, p := range []string{"/instances/1", "/nowhere"} {
		assertError(t, h.do("GET", p, nil, map[string]string{}), 401)
	}
	assertError(t, h.do("POST", "/instances", strings.NewReader(seed003Body), map[string]string{}), 401)
	if len(h.rt.appliedList()) != 0 {
		t.Error("unauthenticated POST applied")
	}
	h.assertNoSecrets()
}

func TestParseAuthorization(t *testing.T) {
	c, ok := parseAuthorization("element  T0k/en= , User u,organization o")
	if !ok || c != (credentials{user: "u", org: "o", element: "T0k/en="}) {
		t.Errorf("got %+v %v", c, ok)
	}
	c, ok = parseAuthorization("User u, Element t")
	if !ok || c != (credentials{user: "u", element: "t"}) {
		t.Errorf("got %+v %v", c, ok)
	}
}

func TestGetInstances(t *testing.T) {
	h := newHarness(t, 0)
	r := h.do("GET", "/instances", nil, nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("empty list: %d %s", r.status, r.body)
	}
	var created []instanceJSON
	for _, b := range []string{seed000Construct, seed000Example, seed003Body, secretBody} {
		r := h.post(b)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var v instanceJSON
		r.json(t, &v)
		created = append(created, v)
	}
	r = h.do("GET", "/instances", nil, nil)
	var list []instanceJSON
	r.json(t, &list)
	if !reflect.DeepEqual(list, created) {
		t.Errorf("list differs from the created instances:\n%s", r.body)
	}
	for _, v := range created {
		r := h.do("GET", "/instances/"+jsonNumber(v.ID), nil, nil)
		var got instanceJSON
		r.json(t, &got)
		if r.status != 200 || !reflect.DeepEqual(got, v) {
			t.Errorf("GET /instances/%d: %d %s", v.ID, r.status, r.body)
		}
	}
	tokens := map[string]bool{}
	for _, v := range created {
		tokens[v.Token] = true
	}
	if len(tokens) != len(created) {
		t.Error("tokens are not unique")
	}
	for _, p := range []string{"/instances/99", "/instances/0", "/instances/abc", "/instances/", "/nowhere"} {
		assertError(t, h.do("GET", p, nil, nil), 404)
	}
	h.assertNoSecrets("<YOUR_API_KEY>", "xxxxxxxxxxxxxxxxxxxxx", "apikey-SECRET-3c5e", "sigkey-SECRET-77aa")
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHarness(t, 0)
	tests := []struct{ method, path, allow string }{
		{"DELETE", "/instances", "GET, HEAD, POST"},
		{"PUT", "/instances", "GET, HEAD, POST"},
		{"POST", "/instances/1", "DELETE, GET, HEAD, PATCH, PUT"},
		{"OPTIONS", "/instances/1", "DELETE, GET, HEAD, PATCH, PUT"},
		{"POST", "/definitions", "GET, HEAD"},
		{"PATCH", "/definitions", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
	}
	for _, tt := range tests {
		r := h.do(tt.method, tt.path, nil, nil)
		assertError(t, r, 405)
		if r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, r.header.Get("Allow"), tt.allow)
		}
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t, 0)
	r := h.do("GET", "/healthz", nil, map[string]string{})
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ok"}` || r.header.Get("X-Request-Id") == "" {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
}

func TestRequestLog(t *testing.T) {
	h := newHarness(t, 0)
	r := h.do("GET", "/instances/42", nil, nil)
	rid := r.header.Get("X-Request-Id")
	h.srv.Close()
	logs := h.logs.String()
	want := "[INFO]  request: method=GET path=/instances/42 status=404 duration="
	if !strings.Contains(logs, want) || !strings.Contains(logs, "requestId="+rid) {
		t.Errorf("log %q lacks %q and requestId=%s", logs, want, rid)
	}
	if strings.Contains(logs, "Authorization") || strings.Contains(logs, "User ") {
		t.Errorf("headers logged: %s", logs)
	}
}

func TestNewRequiresOptions(t *testing.T) {
	h := newHarness(t, 0)
	svc, err := instances.New(instances.Options{Store: h.store, Runtime: h.rt})
	if err != nil {
		t.Fatal(err)
	}
	good := Options{Instances: svc, Tenants: h.tenants}
	for name, mut := range map[string]func(*Options){
		"instances": func(o *Options) { o.Instances = nil },
		"tenants":   func(o *Options) { o.Tenants = nil },
		"max body":  func(o *Options) { o.MaxBodyBytes = -1 },
	} {
		o := good
		mut(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(good); err != nil {
		t.Error(err)
	}
	good.Tenants, good.Authenticator = nil, AuthenticatorFunc(func(*http.Request) (engine.Principal, error) { return engine.Principal{}, ErrNoCredentials })
	if _, err := New(good); err != nil {
		t.Errorf("an Authenticator stands in for Tenants: %v", err)
	}
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }
