package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
)

// fakeEvents is an in-memory EventStore that records what it is asked.
type fakeEvents struct {
	mu       sync.Mutex
	events   []engine.EventRecord // newest first
	attempts map[string][]engine.Attempt
	queued   []engine.QueuedNotification
	// requeued is what Requeue answers; known names what exists (else ErrNotFound).
	requeued int
	known    map[string]bool // "n:<id>", "e:<id>", "i:<id>"

	// owner says who owns an instance, for the scope of event listings, as the real store knows.
	owner func(id int64) (user, org int64, err error)

	filters  []engine.EventFilter
	queuedQ  [][2]int64 // instance, limit
	requeues []engine.RequeueFilter
}

func (f *fakeEvents) Events(_ context.Context, q engine.EventFilter) ([]engine.EventRecord, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, q)
	var sel []engine.EventRecord
	for _, e := range f.events {
		inScope := true
		if f.owner != nil {
			u, o, err := f.owner(e.InstanceID)
			inScope = err == nil && q.Scope.Holds(e.InstanceID, u, o)
		}
		if inScope && (q.InstanceID == 0 || e.InstanceID == q.InstanceID) && (q.Status == "" || e.Status == q.Status) &&
			(q.ObjectType == "" || e.ObjectType == q.ObjectType) {
			sel = append(sel, e)
		}
	}
	off := 0
	if q.PageToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(q.PageToken, "off-"))
		if err != nil || !strings.HasPrefix(q.PageToken, "off-") || n > len(sel) {
			return nil, "", fmt.Errorf("fake: %w", engine.ErrBadPageToken)
		}
		off = n
	}
	sel = sel[off:]
	if q.Limit > 0 && len(sel) > q.Limit {
		return sel[:q.Limit], fmt.Sprint("off-", off+q.Limit), nil
	}
	return sel, "", nil
}

func (f *fakeEvents) Event(_ context.Context, id string) (*engine.EventRecord, []engine.Attempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.events {
		if e.ID == id {
			return &e, f.attempts[e.NotificationID], nil
		}
	}
	return nil, nil, fmt.Errorf("fake: event %s: %w", id, engine.ErrNotFound)
}

func (f *fakeEvents) Queued(_ context.Context, instanceID int64, limit int) ([]engine.QueuedNotification, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queuedQ = append(f.queuedQ, [2]int64{instanceID, int64(limit)})
	var out []engine.QueuedNotification
	for _, q := range f.queued {
		if (instanceID == 0 || q.InstanceID == instanceID) && (limit <= 0 || len(out) < limit) {
			out = append(out, q)
		}
	}
	return out, nil
}

func (f *fakeEvents) Requeue(_ context.Context, q engine.RequeueFilter) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requeues = append(f.requeues, q)
	key := "all"
	switch {
	case q.NotificationID != "":
		key = "n:" + q.NotificationID
	case q.EventID != "":
		key = "e:" + q.EventID
	case q.InstanceID != 0:
		key = fmt.Sprint("i:", q.InstanceID)
	}
	if key != "all" && !f.known[key] {
		return 0, fmt.Errorf("fake: %s: %w", key, engine.ErrNotFound)
	}
	return f.requeued, nil
}

func (f *fakeEvents) lastFilter() engine.EventFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.filters[len(f.filters)-1]
}

func (f *fakeEvents) lastRequeue() engine.RequeueFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requeues[len(f.requeues)-1]
}

// eventStore is an instances.Store that also keeps events, as adapters/sqlite's Store does.
type eventStore struct {
	*memStore
	*fakeEvents
}

var (
	_ instances.EventStore = (*fakeEvents)(nil)
	_ instances.Store      = eventStore{}
)

func (f *fakeEvents) NotificationInstance(_ context.Context, id string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.events {
		if e.NotificationID == id {
			return e.InstanceID, nil
		}
	}
	for _, q := range f.queued {
		if q.ID == id {
			return q.InstanceID, nil
		}
	}
	return 0, fmt.Errorf("fake: notification %s: %w", id, engine.ErrNotFound)
}

var evT0 = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)

// newEventsHarness is a harness whose store keeps fe's events, with instance 1 created from
// secretBody; fe's attempts and queued notifications quote its secrets, which must not come out.
func newEventsHarness(t *testing.T) (*harness, *fakeEvents) {
	t.Helper()
	fe := &fakeEvents{attempts: map[string][]engine.Attempt{}, known: map[string]bool{}}
	es := eventStore{memStore: newMemStore(), fakeEvents: fe}
	h := newHarness(t, 4096, func(c *harnessConfig) { c.svc.Store, c.svc.Events = es, es })
	h.store = es.memStore
	fe.owner = func(id int64) (int64, int64, error) { return es.memStore.InstanceOwner(t.Context(), id) }
	for _, b := range []string{secretBody, seed000Example} { // instances 1 and 2
		if r := h.post(b); r.status != 200 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	for i := range 5 {
		inst, typ, status := int64(1), "contacts", "NOTIFIED"
		if i%2 == 1 {
			inst, typ, status = 2, "incidents", "QUEUED"
		}
		// Vendor records; one echoes instance 1's API key, which the history never shows.
		rec := fmt.Sprintf(`{"id":%d}`, 100+i)
		if i == 2 {
			rec = fmt.Sprintf(`{"id":%d,"description":"key %s"}`, 100+i, apiKey)
		}
		fe.events = append([]engine.EventRecord{{ID: fmt.Sprint("ev", i), InstanceID: inst, ObjectType: typ,
			ObjectID: fmt.Sprint(100 + i), EventType: "UPDATED", Date: evT0.Add(-time.Second), PollDate: evT0.Add(time.Duration(i) * time.Minute),
			Status: status, NotificationID: fmt.Sprint("note", i), Record: []byte(rec)}}, fe.events...)
	}
	fe.attempts["note0"] = []engine.Attempt{
		{NotificationID: "note0", At: evT0, HTTPStatus: 500, Error: "callback answered HTTP 500: bad key " + apiKey, Status: engine.StatusPending, Next: evT0.Add(8 * time.Second)},
		{NotificationID: "note0", At: evT0.Add(8 * time.Second), HTTPStatus: 204, Status: engine.StatusDelivered},
	}
	fe.queued = []engine.QueuedNotification{
		{ID: "note1", InstanceID: 1, ObjectType: "contacts", CreatedAt: evT0, Attempts: 6, LastError: "refused " + sigKey, EventIDs: []string{"ev1"}},
		{ID: "note3", InstanceID: 2, ObjectType: "incidents", CreatedAt: evT0.Add(time.Minute), EventIDs: nil},
	}
	return h, fe
}

// decodeArray decodes a JSON array answer into objects, numbers as json.Number.
func decodeArray(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var out []map[string]any
	r.json(t, &out)
	if out == nil {
		t.Fatalf("not an array: %s", r.body)
	}
	return out
}

func keysOf(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func TestEventRoutesAuth(t *testing.T) {
	h, fe := newEventsHarness(t)
	routes := []struct{ method, path, body string }{
		{"GET", "/instances/events", ""},
		{"GET", "/instances/1/events", ""},
		{"GET", "/instances/events/ev0", ""},
		{"GET", "/instances/events/queued", ""},
		{"PUT", "/instances/events/redeliver", `{"all": true}`},
		{"PUT", "/instances/1/events/redeliver", ""},
		{"POST", "/instances/events", ""},
		{"DELETE", "/instances/events/ev0", ""},
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
	if len(fe.filters)+len(fe.requeues)+len(fe.queuedQ) != 0 {
		t.Errorf("the store was reached without credentials")
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestListEvents(t *testing.T) {
	h, fe := newEventsHarness(t)
	r := h.do("GET", "/instances/events", nil, nil)
	evs := decodeArray(t, r)
	if len(evs) != 5 || r.header.Get(headerNextPage) != "" {
		t.Fatalf("%d events, token %q", len(evs), r.header.Get(headerNextPage))
	}
	want := map[string]any{"id": "ev4", "instanceId": json.Number("1"), "objectType": "contacts", "objectId": "104",
		"eventType": "UPDATED", "eventDate": "2024-05-01T11:59:59.123456789Z", "pollDate": "2024-05-01T12:04:00.123456789Z",
		"status": "NOTIFIED", "notificationId": "note4", "providerData": `{"id":104}`}
	if !reflect.DeepEqual(evs[0], want) {
		t.Errorf("event\n got %v\nwant %v", evs[0], want)
	}
	if f := fe.lastFilter(); !reflect.DeepEqual(f, engine.EventFilter{Scope: engine.Scope{OrganizationID: 1}, Limit: 50}) {
		t.Errorf("default filter %+v", f)
	}

	// Paging: a bare array per page, the next page's token in the header.
	var ids []string
	path := "/instances/events?pageSize=2"
	for range 5 {
		r := h.do("GET", path, nil, nil)
		for _, e := range decodeArray(t, r) {
			ids = append(ids, e["id"].(string))
		}
		tok := r.header.Get("elements-next-page-token")
		if tok == "" {
			break
		}
		path = "/instances/events?pageSize=2&nextPageToken=" + tok
	}
	if got := strings.Join(ids, " "); got != "ev4 ev3 ev2 ev1 ev0" {
		t.Errorf("pages: %s", got)
	}

	// Every filter reaches the store.
	decodeArray(t, h.do("GET", "/instances/events?status=queued&objectType=incidents&since=2024-05-01T12:00:00Z&until=1714566000000&pageSize=1000&instanceId=2", nil, nil))
	wantF := engine.EventFilter{InstanceID: 2, Scope: engine.Scope{OrganizationID: 1}, Status: "QUEUED", ObjectType: "incidents",
		Since: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), Until: time.UnixMilli(1714566000000).UTC(), Limit: 500}
	if f := fe.lastFilter(); !reflect.DeepEqual(f, wantF) {
		t.Errorf("filter\n got %+v\nwant %+v", f, wantF)
	}
	// A pollDate given back as since is exact.
	decodeArray(t, h.do("GET", "/instances/events?since=2024-05-01T12:04:00.123456789Z", nil, nil))
	if f := fe.lastFilter(); !f.Since.Equal(evT0.Add(4 * time.Minute)) {
		t.Errorf("since %v", f.Since)
	}

	before := len(fe.filters)
	for _, q := range []string{
		"status=RECEIVED", "status=", "since=yesterday", "until=2024-13-01T00:00:00Z",
		"since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z", "since=2024-05-01T00:00:00Z&until=2024-05-01T00:00:00Z",
		"pageSize=0", "pageSize=-3", "pageSize=ten", "pageSize=", "instanceId=abc", "instanceId=0", "instanceId=-1",
		"state=QUEUED", "status=NEW&status=QUEUED", "objectType=a&objectType=b",
	} {
		if q == "status=" || q == "pageSize=" {
			// Empty values select the default, like an absent parameter.
			decodeArray(t, h.do("GET", "/instances/events?"+q, nil, nil))
			before++
			continue
		}
		assertError(t, h.do("GET", "/instances/events?"+q, nil, nil), 400)
	}
	if len(fe.filters) != before {
		t.Errorf("a rejected query reached the store: %+v", fe.filters[before:])
	}
	// A token the store does not know.
	if e := assertError(t, h.do("GET", "/instances/events?nextPageToken=bogus", nil, nil), 400); !strings.Contains(e.Message, "nextPageToken") {
		t.Errorf("bad token: %s", e.Message)
	}
	// HEAD answers like GET, without a body.
	if r := h.do("HEAD", "/instances/events", nil, nil); r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestListInstanceEvents(t *testing.T) {
	h, fe := newEventsHarness(t)
	evs := decodeArray(t, h.do("GET", "/instances/1/events?status=NOTIFIED&pageSize=2", nil, nil))
	if len(evs) != 2 || evs[0]["id"] != "ev4" || evs[1]["id"] != "ev2" {
		t.Errorf("instance 1's events: %v", evs)
	}
	if f := fe.lastFilter(); !reflect.DeepEqual(f, engine.EventFilter{InstanceID: 1, Scope: engine.Scope{OrganizationID: 1}, Status: "NOTIFIED", Limit: 2}) {
		t.Errorf("filter %+v", f)
	}
	n := len(fe.filters)
	for _, p := range []string{"/instances/99/events", "/instances/0/events", "/instances/abc/events"} {
		assertError(t, h.do("GET", p, nil, nil), 404)
	}
	// instanceId belongs to the all-instances list.
	assertError(t, h.do("GET", "/instances/1/events?instanceId=2", nil, nil), 400)
	assertError(t, h.do("GET", "/instances/1/events?pageSize=x", nil, nil), 400)
	if len(fe.filters) != n {
		t.Error("a rejected request reached the store")
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestGetEvent(t *testing.T) {
	h, _ := newEventsHarness(t)
	r := h.do("GET", "/instances/events/ev0", nil, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := decodeNumbers(t, string(r.body))
	if k := keysOf(got); !slices.Equal(k, []string{"attempts", "eventDate", "eventType", "id", "instanceId", "notificationId", "objectId", "objectType", "pollDate", "providerData", "status"}) {
		t.Errorf("keys %v", k)
	}
	wantAtts := []any{
		map[string]any{"at": "2024-05-01T12:00:00.123456789Z", "httpStatus": json.Number("500"), "error": "callback answered HTTP 500: bad key ********", "status": "PENDING"},
		map[string]any{"at": "2024-05-01T12:00:08.123456789Z", "httpStatus": json.Number("204"), "error": "", "status": "NOTIFIED"},
	}
	if !reflect.DeepEqual(got["attempts"], wantAtts) {
		t.Errorf("attempts\n got %v\nwant %v", got["attempts"], wantAtts)
	}
	if got["id"] != "ev0" || got["notificationId"] != "note0" || got["status"] != "NOTIFIED" {
		t.Errorf("event %v", got)
	}
	// No attempts yet: an empty list.
	r = h.do("GET", "/instances/events/ev1", nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"attempts":[]`) {
		t.Errorf("event without attempts: %d %s", r.status, r.body)
	}
	for _, id := range []string{"nope", "events", "configuration"} {
		assertError(t, h.do("GET", "/instances/events/"+id, nil, nil), 404)
	}
	if r := h.do("HEAD", "/instances/events/ev0", nil, nil); r.status != 200 {
		t.Errorf("HEAD: %d", r.status)
	}
	// Other three-segment paths are still unknown.
	if e := assertError(t, h.do("GET", "/instances/1/nothing", nil, nil), 404); !strings.HasPrefix(e.Message, "No such resource") {
		t.Errorf("unknown path: %s", e.Message)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestListQueued(t *testing.T) {
	h, fe := newEventsHarness(t)
	qs := decodeArray(t, h.do("GET", "/instances/events/queued", nil, nil))
	want := []map[string]any{
		{"id": "note1", "instanceId": json.Number("1"), "objectType": "contacts", "createdDate": "2024-05-01T12:00:00.123456789Z",
			"attempts": json.Number("6"), "lastError": "refused ********", "eventIds": []any{"ev1"}},
		{"id": "note3", "instanceId": json.Number("2"), "objectType": "incidents", "createdDate": "2024-05-01T12:01:00.123456789Z",
			"attempts": json.Number("0"), "lastError": "", "eventIds": []any{}},
	}
	if !reflect.DeepEqual(qs, want) {
		t.Errorf("queued\n got %v\nwant %v", qs, want)
	}
	// Every queued notification is read, those of the principal's instances kept, up to pageSize.
	if q := fe.queuedQ[len(fe.queuedQ)-1]; q != [2]int64{0, 0} {
		t.Errorf("store asked %v", q)
	}
	qs = decodeArray(t, h.do("GET", "/instances/events/queued?instanceId=1&pageSize=7", nil, nil))
	if len(qs) != 1 || fe.queuedQ[len(fe.queuedQ)-1] != [2]int64{1, 7} {
		t.Errorf("queued of 1: %v %v", qs, fe.queuedQ)
	}
	n := len(fe.queuedQ)
	assertError(t, h.do("GET", "/instances/events/queued?instanceId=99", nil, nil), 404)
	for _, q := range []string{"instanceId=x", "instanceId=0", "pageSize=0", "status=QUEUED"} {
		assertError(t, h.do("GET", "/instances/events/queued?"+q, nil, nil), 400)
	}
	if len(fe.queuedQ) != n {
		t.Error("a rejected request reached the store")
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestRedeliver(t *testing.T) {
	h, fe := newEventsHarness(t)
	fe.requeued = 3
	fe.known = map[string]bool{"n:note1": true, "e:ev1": true, "i:1": true, "i:2": true}
	put := func(path, body string, hdr ...string) response {
		t.Helper()
		ct := "application/json"
		if len(hdr) > 0 {
			ct = hdr[0]
		}
		return h.do("PUT", path, strings.NewReader(body), map[string]string{"Authorization": goodAuth, "Content-Type": ct})
	}
	// "all" is every one of the principal's instances, one by one: 3 requeued for each of 2.
	for body, want := range map[string]engine.RequeueFilter{
		`{"notificationId": "note1"}`:              {NotificationID: "note1"},
		`{"eventId": "ev1"}`:                       {EventID: "ev1"},
		`{"instanceId": 2}`:                        {InstanceID: 2},
		` {"all": true} `:                          {InstanceID: 2},
		`{"all": true, "eventId": null}`:           {InstanceID: 2},
		`{"notificationId": "note1", "all": null}`: {NotificationID: "note1"},
	} {
		r := put("/instances/events/redeliver", body)
		wantN := `{"requeued":3}`
		if want.NotificationID == "" && want.EventID == "" && !strings.Contains(body, "instanceId") {
			wantN = `{"requeued":6}`
		}
		if r.status != 200 || strings.TrimSpace(string(r.body)) != wantN {
			t.Errorf("%s: %d %s", body, r.status, r.body)
			continue
		}
		if got := fe.lastRequeue(); got != want {
			t.Errorf("%s: filter %+v, want %+v", body, got, want)
		}
	}
	// One instance's, by path; a body is not needed.
	if r := put("/instances/1/events/redeliver", ""); r.status != 200 || strings.TrimSpace(string(r.body)) != `{"requeued":3}` {
		t.Errorf("instance redeliver: %d %s", r.status, r.body)
	}
	if got := fe.lastRequeue(); got != (engine.RequeueFilter{InstanceID: 1}) {
		t.Errorf("instance redeliver filter %+v", got)
	}
	if !strings.Contains(h.logs.String(), "notifications requeued: selected=\"instance 1\" requeued=3") {
		t.Errorf("no requeue log line:\n%s", h.logs.String())
	}

	n := len(fe.requeues)
	for _, body := range []string{
		``, `{}`, `null`, `[]`, `"all"`, `{"all": false}`, `{"all": "true"}`, `{"instanceId": 0}`, `{"instanceId": -1}`,
		`{"instanceId": 1.5}`, `{"instanceId": "1"}`, `{"notificationId": ""}`, `{"eventId": 7}`,
		`{"notificationId": "a", "eventId": "b"}`, `{"all": true, "instanceId": 1}`, `{"ids": ["a"]}`,
		`{"all": true} {"all": true}`, `{"all": true`, `{"all": tru}`,
	} {
		e := assertError(t, put("/instances/events/redeliver", body), 400)
		if !strings.Contains(e.Message, `{"all": true}`) {
			t.Errorf("%s: message %q does not say what is expected", body, e.Message)
		}
	}
	assertError(t, put("/instances/events/redeliver", `{"all": true}`, "text/plain"), 415)
	assertError(t, put("/instances/events/redeliver", `{"notificationId": "`+strings.Repeat("x", 5000)+`"}`), 413)
	if len(fe.requeues) != n {
		t.Errorf("a rejected body reached the store: %+v", fe.requeues[n:])
	}
	// Unknown notification, event or instance.
	for _, body := range []string{`{"notificationId": "nope"}`, `{"eventId": "nope"}`, `{"instanceId": 99}`} {
		assertError(t, put("/instances/events/redeliver", body), 404)
	}
	for _, p := range []string{"/instances/99/events/redeliver", "/instances/0/events/redeliver", "/instances/x/events/redeliver"} {
		assertError(t, put(p, ""), 404)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

func TestEventRoutesMethodNotAllowed(t *testing.T) {
	h, fe := newEventsHarness(t)
	tests := []struct{ method, path, allow string }{
		{"POST", "/instances/events", "GET, HEAD"},
		{"PUT", "/instances/events", "GET, HEAD"},
		{"DELETE", "/instances/events", "GET, HEAD"},
		{"PATCH", "/instances/events", "GET, HEAD"},
		{"POST", "/instances/1/events", "GET, HEAD"},
		{"DELETE", "/instances/1/events", "GET, HEAD"},
		{"PUT", "/instances/events/ev0", "GET, HEAD"},
		{"DELETE", "/instances/events/ev0", "GET, HEAD"},
		{"OPTIONS", "/instances/events/ev0", "GET, HEAD"},
		{"POST", "/instances/events/queued", "GET, HEAD"},
		{"DELETE", "/instances/events/queued", "GET, HEAD"},
		{"GET", "/instances/events/redeliver", "PUT"},
		{"POST", "/instances/events/redeliver", "PUT"},
		{"PATCH", "/instances/events/redeliver", "PUT"},
		{"GET", "/instances/1/events/redeliver", "PUT"},
		{"POST", "/instances/1/events/redeliver", "PUT"},
		{"DELETE", "/instances/1/events/redeliver", "PUT"},
	}
	for _, tt := range tests {
		r := h.do(tt.method, tt.path, nil, nil)
		assertError(t, r, 405)
		if r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, r.header.Get("Allow"), tt.allow)
		}
	}
	if len(fe.filters)+len(fe.requeues)+len(fe.queuedQ) != 0 {
		t.Error("a 405 reached the store")
	}
	// The instance routes keep their own answers.
	if r := h.do("GET", "/instances/1", nil, nil); r.status != 200 {
		t.Errorf("GET /instances/1: %d", r.status)
	}
	if r := h.do("GET", "/instances", nil, nil); r.status != 200 {
		t.Errorf("GET /instances: %d", r.status)
	}
	h.assertNoSecrets(apiKey, sigKey)
}

// Without an event store every event route answers 404, credentials first.
func TestEventsNotConfigured(t *testing.T) {
	h := newHarness(t, 0)
	for _, rt := range []struct{ method, path string }{
		{"GET", "/instances/events"}, {"GET", "/instances/events/x"}, {"GET", "/instances/events/queued"},
		{"PUT", "/instances/events/redeliver"}, {"PUT", "/instances/1/events/redeliver"},
	} {
		e := assertError(t, h.do(rt.method, rt.path, strings.NewReader(`{"all": true}`), nil), 404)
		if e.Message != "Event history is not configured" {
			t.Errorf("%s %s: %s", rt.method, rt.path, e.Message)
		}
		assertError(t, h.do(rt.method, rt.path, nil, map[string]string{}), 401)
	}
}

func (f *fakeEvents) Notification(_ context.Context, id string) (*engine.NotificationRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n *engine.NotificationRecord
	for _, e := range slices.Backward(f.events) { // oldest first: body order
		if e.NotificationID != id {
			continue
		}
		if n == nil {
			n = &engine.NotificationRecord{ID: id, InstanceID: e.InstanceID, ObjectType: e.ObjectType, CreatedAt: e.PollDate,
				Status: e.Status, Attempts: f.attempts[id]}
		}
		n.Events = append(n.Events, e)
	}
	if n == nil {
		return nil, fmt.Errorf("fake: notification %s: %w", id, engine.ErrNotFound)
	}
	var recs []string
	for _, e := range n.Events {
		recs = append(recs, string(e.Record))
	}
	n.Body = fmt.Appendf(nil, `{"id":%q,"message":{"eventId":%q,"raw":{%q:[%s],"objectType":%q}}}`, id, id, n.ObjectType, strings.Join(recs, ","), n.ObjectType)
	return n, nil
}

// A client looks an event up by the message.eventId it was sent, which is the notification's id,
// under /instances/events and under its instance: it gets the platform's event shape.
func TestGetEventByNotificationID(t *testing.T) {
	h, _ := newEventsHarness(t)
	for _, path := range []string{"/instances/events/note0", "/instances/1/events/note0"} {
		r := h.do("GET", path, nil, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		got := decodeNumbers(t, string(r.body))
		if k := keysOf(got); !slices.Equal(k, []string{"attempts", "eventDate", "events", "id", "instanceId", "notificationId", "objectType", "providerData", "status"}) {
			t.Errorf("%s: keys %v", path, k)
		}
		if got["id"] != "note0" || got["notificationId"] != "note0" || got["status"] != "NOTIFIED" || got["eventDate"] != "2024-05-01T12:00:00.123456789Z" ||
			got["providerData"] != `{"contacts":[{"id":100}],"objectType":"contacts"}` {
			t.Errorf("%s: %s", path, r.body)
		}
		if evs, _ := got["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["id"] != "ev0" {
			t.Errorf("%s: events %v", path, got["events"])
		}
		if atts, _ := got["attempts"].([]any); len(atts) != 2 {
			t.Errorf("%s: attempts %v", path, got["attempts"])
		}
	}
	// The per-event ids keep working, under the instance too.
	if r := h.do("GET", "/instances/1/events/ev0", nil, nil); r.status != 200 {
		t.Errorf("per-event id under its instance: %d %s", r.status, r.body)
	}
	// Another instance's, or an instance that is not there: 404.
	for _, path := range []string{"/instances/2/events/note0", "/instances/2/events/ev0", "/instances/99/events/note0", "/instances/events/nope", "/instances/1/events/nope"} {
		assertError(t, h.do("GET", path, nil, nil), 404)
	}
	// Vendor data that echoes a secret is scrubbed.
	r := h.do("GET", "/instances/events/note2", nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `key ********`) {
		t.Errorf("note2: %d %s", r.status, r.body)
	}
	h.assertNoSecrets(apiKey, sigKey)
}
