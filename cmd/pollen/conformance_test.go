package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/definitions"
)

// The conformance suite: for each habit of clients written for the platform, a test that does
// what such a client does, against a real server and the simulated Freshdesk. The habits come from
// the platform's documentation and its public API test suite (churros): the shapes it checks, the
// calls its helpers make (provisioner, cloud, suite), in their order. README's compatibility
// section lists what is and is not compatible.

// platformClient sends what the platform's clients send: JSON bodies with Content-Type
// application/json, the Authorization header with the Element token once it has one, and a body
// of null on DELETE, as common HTTP libraries do.
type platformClient struct {
	t     *testing.T
	base  string
	token string // the Element token, sent when set
}

// answer is an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, a.body)
	}
}

func (c *platformClient) auth() string {
	a := "User " + rig.UserSecret + ", Organization " + rig.OrgSecret
	if c.token != "" {
		a += ", Element " + c.token
	}
	return a
}

// do sends a request; body is JSON-encoded, except a string, sent as it is.
func (c *platformClient) do(method, path string, body any, header ...string) answer {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
		if method == http.MethodDelete {
			r = strings.NewReader("null")
		}
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+"/"+strings.TrimPrefix(path, "/"), r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", c.auth())
	req.Header.Set("Accept", "application/json")
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request and fails unless it is answered 200; it decodes the answer into v.
func (c *platformClient) must(method, path string, body, v any) answer {
	c.t.Helper()
	a := c.do(method, path, body)
	if a.status != http.StatusOK {
		c.t.Fatalf("%s %s: %d %s", method, path, a.status, a.body)
	}
	if v != nil {
		a.decode(c.t, v)
	}
	return a
}

// withToken is a client that sends the Element token, as the platform's test suite does once an
// instance is created.
func (c *platformClient) withToken(token string) *platformClient {
	cc := *c
	cc.token = token
	return &cc
}

// notificationOf returns the message.eventId of the first notification of an instance that r
// accepted, "" before one arrived.
func notificationOf(r *rig.Receiver, instanceID int64) string {
	for _, n := range r.Accepted() {
		if n.InstanceID == instanceID {
			return n.ID
		}
	}
	return ""
}

// conformanceBody is the documentation's example instance body (seed 000), pointed at the
// simulator, with a name and tags.
func conformanceBody(t *testing.T, deskURL, name string, tags []string, callback string) map[string]any {
	t.Helper()
	example, err := definitions.Example("freshdeskv2", "polling")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(example, &body); err != nil {
		t.Fatal(err)
	}
	conf := body["configuration"].(map[string]any)
	for k, v := range map[string]any{"subdomain": "conformance", "username": rig.APIKey, "base.url": deskURL,
		"event.notification.callback.url": callback, "event.notification.signature.key": rig.SignatureKey,
		"event.poller.refresh_interval": "0.01"} {
		conf[k] = v
	}
	body["name"] = name
	if tags != nil { // as the test suite's provisioner: no tags, no field
		body["tags"] = tags
	}
	return body
}

// instance is what POST /instances answers, in part.
type instance struct {
	ID            int64             `json:"id"`
	Name          string            `json:"name"`
	Token         string            `json:"token"`
	Tags          []string          `json:"tags"`
	Disabled      bool              `json:"disabled"`
	Configuration map[string]string `json:"configuration"`
	User          map[string]any    `json:"user"`
	Element       struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	} `json:"element"`
}

func TestConformance(t *testing.T) {
	const origin = "https://app.example.com"
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	w.Config = func(c *server.Config) { c.CORSOrigins = []string{origin} }
	w.Desk.InThePast(func() {
		c := w.Desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})
		for i := range 5 {
			w.Desk.CreateTicket(map[string]any{"subject": fmt.Sprint("ticket ", i), "requester_id": c["id"]})
		}
	})
	srv := w.Start()
	client := &platformClient{t: t, base: srv.URL()}
	callback := w.Recv.URL

	create := func(t *testing.T, path, name string, tags []string) instance {
		t.Helper()
		var in instance
		(&platformClient{t: t, base: client.base}).must("POST", path, conformanceBody(t, w.Desk.URL, name, tags, callback), &in)
		if in.ID == 0 || in.Token == "" {
			t.Fatalf("created %+v", in)
		}
		return in
	}

	// POST /instances with the platform's body; the answer has the platform's shape (churros'
	// element.instance.schema: id, name, token, valid, tags, user with id, emailAddress,
	// firstName, lastName), secrets masked.
	t.Run("create with the platform's body", func(t *testing.T) {
		in := create(t, "/instances", "churros-instance", []string{"churros-instance"})
		var m map[string]any
		client.must("GET", fmt.Sprintf("/instances/%d", in.ID), nil, &m)
		for _, k := range []string{"id", "name", "token", "valid", "tags", "user", "configuration", "element", "createdDate"} {
			if _, ok := m[k]; !ok {
				t.Errorf("no %s in %v", k, m)
			}
		}
		user, _ := m["user"].(map[string]any)
		for _, k := range []string{"id", "emailAddress", "firstName", "lastName"} {
			if _, ok := user[k]; !ok {
				t.Errorf("user has no %s: %v", k, user)
			}
		}
		if conf := m["configuration"].(map[string]any); conf["username"] != "********" || conf["subdomain"] != "conformance" {
			t.Errorf("configuration %v", conf)
		}
	})

	// churros crudsInstance: POST, GET by id, GET the list, PUT the creation body with a new
	// name, DELETE; under /elements/{key}/instances and /elements/{id}/instances.
	t.Run("CRUD by element key and id", func(t *testing.T) {
		var el map[string]any
		client.must("GET", "/elements/freshdeskv2", nil, &el)
		for _, base := range []string{"elements/freshdeskv2/instances", fmt.Sprintf("elements/%v/instances", el["id"])} {
			var in instance
			client.must("POST", base, conformanceBody(t, w.Desk.URL, "crud", nil, callback), &in)
			var one instance
			client.must("GET", fmt.Sprintf("%s/%d", base, in.ID), nil, &one)
			if one.Configuration["username"] != "********" {
				t.Errorf("%s: username %q", base, one.Configuration["username"])
			}
			var list []instance
			if client.must("GET", base, nil, &list); len(list) == 0 {
				t.Errorf("%s: empty list", base)
			}
			update := conformanceBody(t, w.Desk.URL, "updated-instance", nil, callback)
			var put instance
			client.must("PUT", fmt.Sprintf("%s/%d", base, in.ID), update, &put)
			if put.Name != "updated-instance" {
				t.Errorf("%s: PUT answered %+v", base, put)
			}
			client.must("DELETE", fmt.Sprintf("%s/%d", base, in.ID), nil, nil)
			if a := client.do("GET", fmt.Sprintf("/instances/%d", in.ID), nil); a.status != 404 {
				t.Errorf("%s: deleted instance: %d", base, a.status)
			}
		}
	})

	// Read, modify, write back: GET an instance, change its tags, send the object back with PUT
	// and with PATCH; PATCH {id, tags} (churros' "updating the tags").
	t.Run("read, modify, write back", func(t *testing.T) {
		in := create(t, "/instances", "rmw", []string{"before"})
		path := fmt.Sprintf("/instances/%d", in.ID)
		for i, method := range []string{"PUT", "PATCH"} {
			var obj map[string]any
			client.must("GET", path, nil, &obj)
			obj["tags"] = []string{fmt.Sprint("after-", i)}
			var back instance
			client.must(method, path, obj, &back)
			if !slices.Equal(back.Tags, []string{fmt.Sprint("after-", i)}) || back.Configuration["username"] != "********" {
				t.Errorf("%s: %+v", method, back)
			}
		}
		client.must("PATCH", path, map[string]any{"id": in.ID, "tags": []string{"churros-testing"}}, nil)
		var after instance
		client.must("GET", path, nil, &after)
		if !slices.Equal(after.Tags, []string{"churros-testing"}) {
			t.Errorf("tags %v", after.Tags)
		}
		// The API key written back masked was kept: the instance still reads the vendor.
		var recs []map[string]any
		client.withToken(in.Token).must("GET", "/hubs/helpdesk/incidents?pageSize=1", nil, &recs)
		if a := client.do("PATCH", path, map[string]any{"id": in.ID + 1000, "tags": []string{"x"}}); a.status != 400 {
			t.Errorf("an id naming another instance: %d %s", a.status, a.body)
		}
	})

	// churros "updating the configuration": find event.notification.enabled in the list, send the
	// entry back with a new propertyValue, read it by the id the answer gives.
	t.Run("toggle a configuration entry", func(t *testing.T) {
		in := create(t, "/instances", "toggle", nil)
		var entries []map[string]any
		client.must("GET", fmt.Sprintf("/instances/%d/configuration", in.ID), nil, &entries)
		var entry map[string]any
		for _, e := range entries {
			if e["key"] == "event.notification.enabled" {
				entry = e
			}
		}
		if entry == nil {
			t.Fatalf("no event.notification.enabled entry in %v", entries)
		}
		entry["propertyValue"] = "false"
		var changed map[string]any
		client.must("PATCH", fmt.Sprintf("/instances/%d/configuration/%v", in.ID, entry["id"]), entry, &changed)
		var read map[string]any
		client.must("GET", fmt.Sprintf("/instances/%d/configuration/%v", in.ID, changed["id"]), nil, &read)
		if read["propertyValue"] != "false" {
			t.Errorf("entry after the toggle: %v", read)
		}
		var inst instance
		if client.must("GET", fmt.Sprintf("/instances/%d", in.ID), nil, &inst); inst.Configuration["event.notification.enabled"] != "false" {
			t.Errorf("instance configuration %v", inst.Configuration)
		}
	})

	// churros "filter.response.nulls": the entry reads 'true' by default and hub answers carry no
	// null; set to 'false' through the entry, they do.
	t.Run("filter.response.nulls through its entry", func(t *testing.T) {
		in := create(t, "/instances", "nulls", nil)
		tok := client.withToken(in.Token)
		hasNulls := func() bool {
			var recs []map[string]any
			tok.must("GET", "/hubs/helpdesk/incidents?pageSize=1", nil, &recs)
			if len(recs) == 0 {
				t.Fatal("no record")
			}
			for _, v := range recs[0] {
				if v == nil {
					return true
				}
			}
			return false
		}
		var entries []map[string]any
		tok.must("GET", fmt.Sprintf("/instances/%d/configuration", in.ID), nil, &entries)
		var entry map[string]any
		for _, e := range entries {
			if e["key"] == "filter.response.nulls" {
				entry = e
			}
		}
		if entry == nil || entry["propertyValue"] != "true" {
			t.Fatalf("filter.response.nulls entry %v", entry)
		}
		if hasNulls() {
			t.Error("nulls with filter.response.nulls true")
		}
		entry["propertyValue"] = "false"
		tok.must("PATCH", fmt.Sprintf("/instances/%d/configuration/%v", in.ID, entry["id"]), entry, nil)
		if !hasNulls() {
			t.Error("no null with filter.response.nulls false")
		}
	})

	// The token-scoped routes: GET /instances/configuration with the Element token, and
	// enabling and disabling by token and by id; a disabled instance's hub calls are 403.
	t.Run("the instance of the Element token", func(t *testing.T) {
		in := create(t, "/instances", "token", nil)
		tok := client.withToken(in.Token)
		var entries []map[string]any
		tok.must("GET", "/instances/configuration", nil, &entries)
		if !slices.ContainsFunc(entries, func(e map[string]any) bool { return e["key"] == "subdomain" && e["propertyValue"] == "conformance" }) {
			t.Errorf("entries %v", entries)
		}
		for _, tc := range []struct {
			c        *platformClient
			method   string
			path     string
			disabled bool
		}{
			{tok, "DELETE", "/instances/enabled", true},
			{tok, "PUT", "/instances/enabled", false},
			{client, "DELETE", fmt.Sprintf("/instances/%d/enabled", in.ID), true},
		} {
			var got instance
			if tc.c.must(tc.method, tc.path, nil, &got); got.Disabled != tc.disabled {
				t.Errorf("%s %s: disabled %v", tc.method, tc.path, got.Disabled)
			}
		}
		if a := tok.do("GET", "/hubs/helpdesk/incidents", nil); a.status != http.StatusForbidden {
			t.Errorf("hub call while disabled: %d", a.status)
		}
		client.must("PUT", fmt.Sprintf("/instances/%d/enabled", in.ID), nil, nil)
		if a := tok.do("GET", "/hubs/helpdesk/incidents?pageSize=1", nil); a.status != http.StatusOK {
			t.Errorf("hub call once enabled: %d %s", a.status, a.body)
		}
	})

	// DELETE with a body of null, as HTTP libraries send it; the deleted instance's token is
	// then refused (churros "should fail with 401 for deleted instance api call").
	t.Run("delete with a null body", func(t *testing.T) {
		in := create(t, "/instances", "delete", nil)
		client.must("DELETE", fmt.Sprintf("/instances/%d", in.ID), nil, nil)
		if a := client.withToken(in.Token).do("GET", "/hubs/helpdesk/incidents?pageSize=1", nil); a.status != http.StatusUnauthorized {
			t.Errorf("hub call with a deleted instance's token: %d", a.status)
		}
	})

	// The usual paging helper (churros itPagination): page 1, then page 2 with the token, then
	// one page twice as large, which must be the first two together.
	t.Run("hub paging helper", func(t *testing.T) {
		in := create(t, "/instances", "paging", nil)
		tok := client.withToken(in.Token)
		var p1, p2, p3 []map[string]any
		a := tok.must("GET", "/hubs/helpdesk/incidents?page=1&pageSize=2", nil, &p1)
		next := a.header.Get("elements-next-page-token")
		if next == "" || len(p1) != 2 {
			t.Fatalf("page 1: %d records, token %q", len(p1), next)
		}
		tok.must("GET", "/hubs/helpdesk/incidents?page=2&pageSize=2&nextPage="+next, nil, &p2)
		tok.must("GET", "/hubs/helpdesk/incidents?pageSize=4", nil, &p3)
		if !reflect.DeepEqual(p3, append(p1, p2...)) {
			t.Errorf("page of 4 is not pages 1 and 2:\n%v\n%v\n%v", p1, p2, p3)
		}
	})

	// churros' element instance search: tags[] keeps instances carrying the tag; searchText
	// searches names; no match is an empty list.
	t.Run("search by tags and text", func(t *testing.T) {
		create(t, "/instances", "Tagged One", []string{"conformance-tag"})
		create(t, "/instances", "tagged two", []string{"conformance-tag", "other"})
		var list []instance
		client.must("GET", "/instances?tags%5B%5D=conformance-tag", nil, &list)
		if len(list) != 2 {
			t.Errorf("tags[]: %d instances", len(list))
		}
		for _, in := range list {
			if !slices.Contains(in.Tags, "conformance-tag") {
				t.Errorf("tags[]: %+v", in)
			}
		}
		client.must("GET", "/instances?searchText=tagged", nil, &list)
		if len(list) != 2 {
			t.Errorf("searchText: %d instances", len(list))
		}
		client.must("GET", "/elements/freshdeskv2/instances?searchText=TAGGED%20ONE", nil, &list)
		if len(list) != 1 || list[0].Name != "Tagged One" {
			t.Errorf("searchText under the element: %+v", list)
		}
		a := client.must("GET", "/instances?searchText=no-such-instance", nil, &list)
		if len(list) != 0 || strings.TrimSpace(string(a.body)) != "[]" {
			t.Errorf("no match: %s", a.body)
		}
	})

	// churros' metadata tests, and its polling provisioner: it reads the element's metadata and
	// the default of event.poller.configuration, and creates an instance with them, the legacy
	// event.poller.urls and an empty signature key.
	t.Run("provision for polling from the element's metadata", func(t *testing.T) {
		var el struct {
			ID            int64            `json:"id"`
			Configuration []map[string]any `json:"configuration"`
		}
		client.must("GET", "/elements/freshdeskv2", nil, &el)
		var md struct {
			Events struct {
				Supported bool            `json:"supported"`
				Methods   []string        `json:"methods"`
				Polling   json.RawMessage `json:"polling"`
			} `json:"events"`
		}
		client.must("GET", fmt.Sprintf("/elements/%d/metadata", el.ID), nil, &md)
		if !md.Events.Supported || !slices.Contains(md.Events.Methods, "polling") || len(md.Events.Polling) < 3 {
			t.Errorf("metadata events %+v", md.Events)
		}
		var all []map[string]any
		if client.must("GET", "/elements/metadata", nil, &all); len(all) == 0 {
			t.Error("no element metadata")
		}
		if a := client.do("GET", "/elements/999999999999/metadata", nil); a.status != 404 {
			t.Errorf("unknown element: %d", a.status)
		}
		def := ""
		for _, c := range el.Configuration {
			if c["key"] == "event.poller.configuration" {
				def, _ = c["defaultValue"].(string)
			}
		}
		var pc map[string]any
		if err := json.Unmarshal([]byte(def), &pc); err != nil || len(pc) == 0 {
			t.Fatalf("event.poller.configuration defaultValue %q: %v", def, err)
		}
		var names []string
		for k := range pc {
			names = append(names, k)
		}
		// Without a signature key notifications go unsigned: a receiver of their own.
		unsigned := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		t.Cleanup(unsigned.Close)
		body := conformanceBody(t, w.Desk.URL, "polling", nil, unsigned.URL)
		conf := body["configuration"].(map[string]any)
		conf["event.poller.configuration"] = def
		conf["event.poller.urls"] = strings.Join(names, "|")
		conf["event.vendor.type"] = "polling"
		conf["event.notification.enabled"] = "true"
		conf["event.notification.signature.key"] = ""
		var in struct {
			Pollers []struct {
				ObjectType string `json:"objectType"`
			} `json:"pollers"`
		}
		client.must("POST", "/instances", body, &in)
		if len(in.Pollers) != len(names) {
			t.Errorf("pollers %+v, want %v", in.Pollers, names)
		}
	})

	// churros' events test: a notification arrives signed, with Elements-Webhook-Id, each with its
	// own message.eventId; the history lists events with id, eventDate, status and providerData,
	// and finds one by its message.eventId, NOTIFIED once delivered, under /instances/events and
	// under its instance.
	t.Run("event history by message.eventId", func(t *testing.T) {
		in := create(t, "/instances", "events", nil)
		w.Desk.CreateTicket(map[string]any{"subject": "conformance event", "email": "new@example.com"})
		rig.Until(t, "a notification", func() bool { return notificationOf(w.Recv, in.ID) != "" })
		var ids []string
		for _, n := range w.Recv.Accepted() {
			if n.Header == "" {
				t.Errorf("notification %s without %s", n.ID, webhook.HeaderID)
			}
			ids = append(ids, n.ID)
		}
		if rej := w.Recv.Rejected(); len(rej) > 0 {
			t.Errorf("rejected %v", rej)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
			t.Errorf("message.eventId repeated: %v", ids)
		}
		eventID := notificationOf(w.Recv, in.ID)
		for _, path := range []string{"instances/events/" + eventID, fmt.Sprintf("instances/%d/events/%s", in.ID, eventID)} {
			var ev map[string]any
			rig.Until(t, path+" NOTIFIED", func() bool {
				a := client.do("GET", path, nil)
				if a.status != 200 {
					return false
				}
				a.decode(t, &ev)
				return ev["status"] == "NOTIFIED"
			})
			checkEventShape(t, path, ev)
			if ev["id"] != eventID {
				t.Errorf("%s: id %v", path, ev["id"])
			}
		}
		var list []map[string]any
		client.must("GET", fmt.Sprintf("instances/%d/events", in.ID), nil, &list)
		if len(list) == 0 {
			t.Error("no event listed")
		}
		for _, ev := range list {
			checkEventShape(t, "list", ev)
		}
		client.must("GET", "instances/events?pageSize=10", nil, &list)
		if len(list) == 0 || len(list) > 10 {
			t.Errorf("instances/events?pageSize=10: %d", len(list))
		}
	})

	// Browser front ends: a preflight from an allowed origin is answered before authentication,
	// and scripts may read the paging token and the request id.
	t.Run("CORS", func(t *testing.T) {
		req, _ := http.NewRequest("OPTIONS", srv.URL()+"/instances", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
		a := client.do("GET", "/instances?pageSize=1", nil, "Origin", origin)
		exposed := strings.ToLower(a.header.Get("Access-Control-Expose-Headers"))
		if a.header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(exposed, "elements-next-page-token") || !strings.Contains(exposed, "x-request-id") {
			t.Errorf("GET: %v", a.header)
		}
	})
}

// checkEventShape checks churros' event.schema: id and eventDate strings, status one of the
// platform's, providerData a string (JSON text of the vendor data).
func checkEventShape(t *testing.T, where string, ev map[string]any) {
	t.Helper()
	for _, k := range []string{"id", "eventDate", "providerData"} {
		if _, ok := ev[k].(string); !ok {
			t.Errorf("%s: %s is not a string: %v", where, k, ev)
		}
	}
	if !slices.Contains([]string{"NEW", "RECEIVED", "DISPATCHED", "CONSUMED", "NOTIFIED"}, fmt.Sprint(ev["status"])) {
		t.Errorf("%s: status %v", where, ev["status"])
	}
	if pd, _ := ev["providerData"].(string); !json.Valid([]byte(pd)) || pd == "" {
		t.Errorf("%s: providerData %q", where, pd)
	}
}
