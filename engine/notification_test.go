package engine

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/schemas"
)

var noteTestAccount = Account{AccountID: 874, CompanyID: 291, UserID: 2749, User: "ops@example.com"}

// notePollDate is the poll time of the notification tests: 10:15:00.123Z, given in another zone.
var notePollDate = time.Date(2024, 3, 1, 12, 15, 0, 123e6, time.FixedZone("EET", 2*3600))

// noteEvents returns n events of instance in, one per ticket, dated in a non-UTC zone with a
// fraction of a second, cycling through the event types.
func noteEvents(in *Instance, n int) []Event {
	zone := time.FixedZone("PST", -8*3600)
	base := time.Date(2024, 3, 1, 2, 0, 0, 250e6, zone) // 10:00:00.25Z
	types := []EventType{Created, Updated, Deleted}
	var out []Event
	for i := 0; i < n; i++ {
		d := base.Add(time.Duration(i) * time.Second)
		id := strconv.Itoa(1000 + i)
		typ := types[i%3]
		out = append(out, Event{
			ID:         EventID(in.ID, "incidents", id, d, typ),
			InstanceID: in.ID, ObjectType: "incidents", ObjectID: id, Type: typ,
			Date: d, PollDate: notePollDate,
			Record: json.RawMessage(ticketJSON(1000+i, d.UTC().Format(time.RFC3339), d.UTC().Format(time.RFC3339), "")),
		})
	}
	return out
}

type decodedNote struct {
	ID          string `json:"id"`
	Severity    string `json:"severity"`
	CreatedDate string `json:"createdDate"`
	Action      string `json:"action"`
	Topic       string `json:"topic"`
	User        string `json:"user"`
	Message     struct {
		ElementKey   string                       `json:"elementKey"`
		EventID      string                       `json:"eventId"`
		AccountID    int64                        `json:"accountId"`
		CompanyID    int64                        `json:"companyId"`
		UserID       int64                        `json:"userId"`
		InstanceID   int64                        `json:"instanceId"`
		InstanceID2  int64                        `json:"instance_id"`
		InstanceName string                       `json:"instanceName"`
		InstanceTags json.RawMessage              `json:"instanceTags"`
		Raw          map[string]json.RawMessage   `json:"raw"`
		Events       []map[string]json.RawMessage `json:"events"`
	} `json:"message"`
}

var isoZ = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return buf.String()
}

func rawString(t *testing.T, r json.RawMessage, what string) string {
	t.Helper()
	var s string
	if len(r) == 0 || r[0] != '"' {
		t.Errorf("%s is %s, want a JSON string", what, r)
		return ""
	}
	if err := json.Unmarshal(r, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkNote checks one notification against the events it must carry.
func checkNote(t *testing.T, in *Instance, n Notification, events []Event, wantTags string) {
	t.Helper()
	if vs := schemas.Validate(schemas.Notification, n.Body); len(vs) > 0 {
		t.Errorf("notification %s breaks the schema: %s", n.ID, schemas.Describe(vs))
	}
	var b decodedNote
	if err := json.Unmarshal(n.Body, &b); err != nil {
		t.Fatal(err)
	}
	m := b.Message
	if n.ID == "" || b.ID != n.ID || m.EventID != n.ID {
		t.Errorf("ids: Notification.ID %q, body id %q, message.eventId %q", n.ID, b.ID, m.EventID)
	}
	if n.InstanceID != in.ID || n.ObjectType != "incidents" || !n.CreatedAt.Equal(notePollDate) {
		t.Errorf("notification fields: %d %q %v", n.InstanceID, n.ObjectType, n.CreatedAt)
	}
	if want := "instance-" + strconv.FormatInt(in.ID, 10) + "-freshdeskv2-events"; b.Topic != want {
		t.Errorf("topic %q, want %q", b.Topic, want)
	}
	if b.CreatedDate != "2024-03-01T10:15:00Z" {
		t.Errorf("createdDate %q", b.CreatedDate)
	}
	if b.Severity != "medium" || b.Action != "create" || b.User != noteTestAccount.User {
		t.Errorf("severity %q action %q user %q", b.Severity, b.Action, b.User)
	}
	if m.ElementKey != "freshdeskv2" || m.InstanceID != in.ID || m.InstanceID2 != in.ID || m.InstanceName != in.Name {
		t.Errorf("message: elementKey %q instanceId %d instance_id %d instanceName %q", m.ElementKey, m.InstanceID, m.InstanceID2, m.InstanceName)
	}
	if m.AccountID != 874 || m.CompanyID != 291 || m.UserID != 2749 {
		t.Errorf("account ids %d %d %d", m.AccountID, m.CompanyID, m.UserID)
	}
	if got := compactJSON(t, m.InstanceTags); got != wantTags {
		t.Errorf("instanceTags %s, want %s", got, wantTags)
	}

	// raw: the records, exactly and in order, under the object type.
	if len(m.Raw) != 3 {
		t.Errorf("raw has keys %v, want incidents, objectType, pollDate", m.Raw)
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(m.Raw["incidents"], &recs); err != nil {
		t.Fatalf("raw.incidents: %v", err)
	}
	if len(recs) != len(events) {
		t.Fatalf("raw.incidents has %d records, want %d", len(recs), len(events))
	}
	for i, r := range recs {
		// The same JSON value (encoding/json may escape <, > and & differently).
		var got, want any
		if err := json.Unmarshal(r, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(events[i].Record, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("raw.incidents[%d] differs from the event's record:\n got %s\nwant %s", i, compactJSON(t, r), compactJSON(t, events[i].Record))
		}
	}
	if got := rawString(t, m.Raw["objectType"], "raw.objectType"); got != "incidents" {
		t.Errorf("raw.objectType %q", got)
	}
	if got := string(m.Raw["pollDate"]); got != strconv.FormatInt(notePollDate.UnixMilli(), 10) {
		t.Errorf("raw.pollDate %s, want epoch ms %d", got, notePollDate.UnixMilli())
	}

	// events: one per event, in order.
	if len(m.Events) != len(events) || len(n.EventIDs) != len(events) {
		t.Fatalf("%d events in the body, %d ids, want %d", len(m.Events), len(n.EventIDs), len(events))
	}
	for i, e := range events {
		got := m.Events[i]
		if n.EventIDs[i] != e.ID {
			t.Errorf("EventIDs[%d] = %q, want %q", i, n.EventIDs[i], e.ID)
		}
		if s := rawString(t, got["objectId"], "objectId"); s != e.ObjectID {
			t.Errorf("events[%d].objectId %q, want %q", i, s, e.ObjectID)
		}
		date := rawString(t, got["date"], "date")
		if !isoZ.MatchString(date) || date != e.Date.UTC().Format("2006-01-02T15:04:05Z") {
			t.Errorf("events[%d].date %q, want %s", i, date, e.Date.UTC().Format(time.RFC3339))
		}
		if pd := rawString(t, got["pollDate"], "pollDate"); pd != "2024-03-01T10:15:00Z" {
			t.Errorf("events[%d].pollDate %q", i, pd)
		}
		for k, want := range map[string]string{
			"eventType": string(e.Type), "eventId": e.ID, "elementKey": "freshdeskv2",
			"hubKey": "helpdesk", "objectType": "incidents",
		} {
			if s := rawString(t, got[k], k); s != want {
				t.Errorf("events[%d].%s %q, want %q", i, k, s, want)
			}
		}
	}
}

func TestBuildNotificationsSplitsAndShapes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tags     []string
		wantTags string
	}{
		{"nil tags", nil, `[]`},
		{"empty tags", []string{}, `[]`},
		{"tags", []string{"prod", "eu"}, `["prod","eu"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInstance(t, "incidents", `{}`)
			in.Tags = tc.tags
			events := noteEvents(in, 23)
			notes, err := BuildNotifications(in, noteTestAccount, "incidents", notePollDate, events)
			if err != nil {
				t.Fatal(err)
			}
			sizes := []int{}
			for _, n := range notes {
				sizes = append(sizes, len(n.EventIDs))
			}
			if len(notes) != 3 || sizes[0] != 10 || sizes[1] != 10 || sizes[2] != 3 {
				t.Fatalf("notification sizes %v, want [10 10 3]", sizes)
			}
			ids := map[string]bool{}
			for i, n := range notes {
				checkNote(t, in, n, events[i*10:min(23, i*10+10)], tc.wantTags)
				if ids[n.ID] {
					t.Errorf("notification id %s used twice", n.ID)
				}
				ids[n.ID] = true
			}
		})
	}
}

func TestBuildNotificationsBoundaries(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	for _, tc := range []struct {
		events int
		sizes  []int
	}{
		{0, nil}, {1, []int{1}}, {10, []int{10}}, {11, []int{10, 1}}, {20, []int{10, 10}},
	} {
		notes, err := BuildNotifications(in, noteTestAccount, "incidents", notePollDate, noteEvents(in, tc.events))
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, n := range notes {
			sizes = append(sizes, len(n.EventIDs))
		}
		if len(sizes) != len(tc.sizes) {
			t.Errorf("%d events: sizes %v, want %v", tc.events, sizes, tc.sizes)
			continue
		}
		for i := range sizes {
			if sizes[i] != tc.sizes[i] {
				t.Errorf("%d events: sizes %v, want %v", tc.events, sizes, tc.sizes)
			}
		}
	}
}

// The same events always give the same notifications (ids and bytes); changing one event changes
// the id of the notification that carries it and of no other.
func TestBuildNotificationsStableIDs(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	events := noteEvents(in, 23)
	a, err := BuildNotifications(in, noteTestAccount, "incidents", notePollDate, events)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildNotifications(in, noteTestAccount, "incidents", notePollDate, noteEvents(in, 23))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].ID != b[i].ID || !bytes.Equal(a[i].Body, b[i].Body) {
			t.Errorf("notification %d differs between two builds of the same events", i)
		}
	}

	changes := map[string]func(e *Event){
		"type":   func(e *Event) { e.Type = Deleted },
		"object": func(e *Event) { e.ObjectID = "99999" },
		"date":   func(e *Event) { e.Date = e.Date.Add(time.Second) },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			ev := noteEvents(in, 23)
			e := &ev[15] // in the second notification
			if e.Type == Deleted {
				e.Type = Created
			}
			change(e)
			e.ID = EventID(e.InstanceID, e.ObjectType, e.ObjectID, e.Date, e.Type)
			c, err := BuildNotifications(in, noteTestAccount, "incidents", notePollDate, ev)
			if err != nil {
				t.Fatal(err)
			}
			if c[0].ID != a[0].ID || c[2].ID != a[2].ID {
				t.Error("a notification without the changed event changed id")
			}
			if c[1].ID == a[1].ID {
				t.Error("the notification carrying the changed event kept its id")
			}
		})
	}
}

// EventID is stable for the same change and distinct when any part of it differs.
func TestEventID(t *testing.T) {
	d := time.Date(2024, 3, 1, 10, 5, 0, 0, time.UTC)
	type in struct {
		inst     int64
		ot, id   string
		date     time.Time
		typ      EventType
		sameAs   string // name of a case this one must equal; "" = distinct from all others
		caseName string
	}
	cases := []in{
		{42, "incidents", "1", d, Created, "", "base"},
		{43, "incidents", "1", d, Created, "", "instance"},
		{42, "contacts", "1", d, Created, "", "object type"},
		{42, "incidents", "2", d, Created, "", "object"},
		{42, "incidents", "1", d.Add(time.Second), Created, "", "date"},
		{42, "incidents", "1", d.Add(time.Nanosecond), Created, "", "date, 1ns"},
		{42, "incidents", "1", d, Updated, "", "updated"},
		{42, "incidents", "1", d, Deleted, "", "deleted"},
		{42, "incidentsx", "", d, Created, "", "field boundary 1"},
		{42, "incident", "sx", d, Created, "", "field boundary 2"},
		{4, "2incidents", "1", d, Created, "", "field boundary 3"},
		{42, "incidents", "1", d.In(time.FixedZone("X", 5*3600)), Created, "base", "same instant, other zone"},
	}
	ids := map[string]string{}
	byName := map[string]string{}
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)
	for _, c := range cases {
		id := EventID(c.inst, c.ot, c.id, c.date, c.typ)
		if again := EventID(c.inst, c.ot, c.id, c.date, c.typ); again != id {
			t.Errorf("%s: not stable: %s then %s", c.caseName, id, again)
		}
		if !urlSafe.MatchString(id) {
			t.Errorf("%s: id %q is not 20 URL-safe characters", c.caseName, id)
		}
		byName[c.caseName] = id
		if c.sameAs != "" {
			if byName[c.sameAs] != id {
				t.Errorf("%s: id %s, want the id of %s (%s)", c.caseName, id, c.sameAs, byName[c.sameAs])
			}
			continue
		}
		if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share id %s", c.caseName, other, id)
		}
		ids[id] = c.caseName
	}
}

// laneEvents returns n events of instance in over objects distinct records (event i is about
// record i % objects), so that most records have several events, in order.
func laneEvents(in *Instance, n, objects int) []Event {
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	out := make([]Event, n)
	for i := range out {
		id := strconv.Itoa(5000 + i%objects)
		d := at.Add(time.Duration(i) * time.Second)
		out[i] = Event{ID: EventID(in.ID, "incidents", id, d, Updated), InstanceID: in.ID, ObjectType: "incidents",
			ObjectID: id, Type: Updated, Date: d, PollDate: notePollDate,
			Record: json.RawMessage(ticketJSON(5000+i%objects, d.Format(time.RFC3339), d.Format(time.RFC3339), ""))}
	}
	return out
}

func TestLaneGroups(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 1}, {10, 1}, {39, 1}, {40, 2}, {79, 2}, {80, 4}, {159, 4}, {160, 8}, {319, 8}, {320, 16}, {50000, 16},
	} {
		if got := laneGroups(tc.n); got != tc.want {
			t.Errorf("laneGroups(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// LaneOf is stored with notifications: it must never change (the values are FNV-1a as Python
// computes it). It spreads records over every lane.
func TestLaneOf(t *testing.T) {
	for _, tc := range []struct {
		objectType, id string
		want           LaneSet
	}{
		{"incidents", "1", 0x8000}, {"incidents", "2", 0x4}, {"contacts", "1", 0x8}, {"", "", 0x8000},
	} {
		if got := LaneOf(tc.objectType, tc.id); got != tc.want {
			t.Errorf("LaneOf(%q, %q) = %#x, want %#x", tc.objectType, tc.id, got, tc.want)
		}
	}
	count := map[LaneSet]int{}
	for i := range 1600 {
		l := LaneOf("incidents", strconv.Itoa(i))
		if l.Len() != 1 {
			t.Fatalf("LaneOf gave %#x: not one lane", l)
		}
		count[l]++
	}
	for l := LaneSet(1); l != 0; l <<= 1 {
		if count[l] < 50 || count[l] > 150 {
			t.Errorf("lane %#x got %d of 1,600 records, want about 100", l, count[l])
		}
	}
	if LaneSet(0).Effective() != AllLanes || LaneSet(3).Effective() != 3 {
		t.Error("Effective: the empty set is every lane, others themselves")
	}
}

// However many events one poll has, every event is in exactly one notification of at most 10,
// whose lanes include the event's record's; the events of one record keep their order; up to 39
// events are packed as they come; more cost at most one part-full notification per group of
// lanes; and a burst yields notifications of one lane each.
func TestBuildNotificationsLanes(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	for _, tc := range []struct{ events, objects int }{
		{1, 1}, {10, 3}, {25, 25}, {39, 10}, {40, 40}, {100, 30}, {320, 320}, {1000, 150}, {5000, 5000},
	} {
		events := laneEvents(in, tc.events, tc.objects)
		notes, err := BuildNotifications(in, noteTestAccount, "incidents", notePollDate, events)
		if err != nil {
			t.Fatal(err)
		}
		pos := map[string]int{} // event id -> position in the order of sending
		lanes := map[string]LaneSet{}
		k := 0
		mixed := 0
		for _, n := range notes {
			if len(n.EventIDs) == 0 || len(n.EventIDs) > MaxEventsPerNotification {
				t.Fatalf("%d events: a notification of %d events", tc.events, len(n.EventIDs))
			}
			if n.Lanes.Len() > 1 {
				mixed++
			}
			for _, id := range n.EventIDs {
				if _, dup := pos[id]; dup {
					t.Fatalf("%d events: event %s in two notifications", tc.events, id)
				}
				pos[id] = k
				lanes[id] = n.Lanes
				k++
			}
		}
		if len(pos) != len(events) {
			t.Fatalf("%d events: %d carried", tc.events, len(pos))
		}
		last := map[string]int{}
		for _, e := range events {
			if l := LaneOf("incidents", e.ObjectID); lanes[e.ID]&l == 0 {
				t.Errorf("%d events: event %s of record %s (lane %#x) in a notification of lanes %#x", tc.events, e.ID, e.ObjectID, l, lanes[e.ID])
			}
			if p, ok := last[e.ObjectID]; ok && pos[e.ID] < p {
				t.Errorf("%d events: record %s's events out of order", tc.events, e.ObjectID)
			}
			last[e.ObjectID] = pos[e.ID]
		}
		g := laneGroups(tc.events)
		want := (tc.events + MaxEventsPerNotification - 1) / MaxEventsPerNotification
		if g == 1 && len(notes) != want {
			t.Errorf("%d events: %d notifications, want %d (packed as they come)", tc.events, len(notes), want)
		}
		if len(notes) > want+g {
			t.Errorf("%d events: %d notifications, want at most %d (one part-full per group of lanes)", tc.events, len(notes), want+g)
		}
		if g == OrderLanes && mixed > 0 {
			t.Errorf("%d events: %d notifications of several lanes, want none", tc.events, mixed)
		}
	}
}
