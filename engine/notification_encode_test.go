package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// referenceNotification is how notifications were built before appendNotificationBody: the
// NotificationBody marshalled by encoding/json. Bodies must stay byte for byte what it gives.
func referenceNotification(in *Instance, acct Account, objectType string, pollDate time.Time, events []Event) (Notification, error) {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	id := base64.RawURLEncoding.EncodeToString(sum[:15])

	records := []byte{'['}
	body := NotificationBody{
		ID:          id,
		Severity:    "medium",
		CreatedDate: pollDate.UTC().Format(isoSeconds),
		Action:      "create",
		Topic:       "instance-" + strconv.FormatInt(in.ID, 10) + "-" + in.Element.Key + "-events",
		User:        acct.User,
		Message: NotificationMessage{
			ElementKey: in.Element.Key, EventID: id,
			AccountID: acct.AccountID, CompanyID: acct.CompanyID, UserID: acct.UserID,
			InstanceID: in.ID, InstanceID2: in.ID, InstanceName: in.Name, InstanceTags: in.Tags,
		},
	}
	pd := pollDate.UTC().Format(isoSeconds)
	for i, e := range events {
		if i > 0 {
			records = append(records, ',')
		}
		records = append(records, e.Record...)
		body.Message.Events = append(body.Message.Events, EventBody{
			Date: e.Date.UTC().Format(isoSeconds), ElementKey: in.Element.Key, PollDate: pd,
			EventType: string(e.Type), HubKey: in.Element.Hub, ObjectID: e.ObjectID,
			ObjectType: objectType, EventID: e.ID,
		})
	}
	records = append(records, ']')
	if body.Message.InstanceTags == nil {
		body.Message.InstanceTags = []string{}
	}
	ot, _ := json.Marshal(objectType)
	body.Message.Raw = map[string]json.RawMessage{
		objectType:   records,
		"objectType": ot,
		"pollDate":   json.RawMessage(strconv.FormatInt(pollDate.UnixMilli(), 10)),
	}
	b, err := json.Marshal(body)
	if err != nil {
		return Notification{}, err
	}
	return Notification{ID: id, InstanceID: in.ID, ObjectType: objectType, EventIDs: ids, CreatedAt: pollDate, Body: b}, nil
}

// sameAsReference builds one notification both ways and fails unless they agree: the same bytes,
// or both an error.
func sameAsReference(t *testing.T, in *Instance, acct Account, objectType string, pollDate time.Time, events []Event) {
	t.Helper()
	got, err := buildNotification(in, acct, objectType, pollDate, events)
	want, wantErr := referenceNotification(in, acct, objectType, pollDate, events)
	switch {
	case err != nil && wantErr != nil:
	case err != nil || wantErr != nil:
		t.Fatalf("error %v, encoding/json's %v", err, wantErr)
	case !bytes.Equal(got.Body, want.Body):
		t.Fatalf("body differs from encoding/json's:\n got %s\nwant %s", got.Body, want.Body)
	case got.ID != want.ID || strings.Join(got.EventIDs, ",") != strings.Join(want.EventIDs, ","):
		t.Fatalf("ids differ: %s %v, want %s %v", got.ID, got.EventIDs, want.ID, want.EventIDs)
	}
}

// Notifications are byte for byte what encoding/json made of them: records pretty-printed, with
// HTML-sensitive characters, U+2028/U+2029, escapes, unicode and invalid UTF-8; envelope strings
// (instance name, tags, user, object ids) that need escaping; odd object types.
func TestNotificationBodyMatchesEncodingJSON(t *testing.T) {
	records := []string{
		TicketJSON(1, "2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z", ""),
		"{\n  \"id\" : 2,\t\"a\" : [ 1 , 2.5e-3 , -0 , true , false , null , { } , [ ] ],\r\n \"s\" : \" spaced  string \" }",
		`{"html":"<b>a & b</b> -> c","line":"a` + "\u2028" + `b` + "\u2029" + `c","e2":"€ ‐ ☃"}`,
		`{"esc":"\" \\ \/ \b \f \n \r \t \u00e9 \u2028 \uD83D\uDE00","k<>&":1}`,
		"{\"bad utf8\":\"\xff\xfe\xe2\x80\",\"ok\":\"h\xc3\xa9\"}",
		`"a bare string"`, `12`, `-1.5E+10`, `null`, `[]`, `{}`, ` {"padded":true} `,
		`{"deep":[[[[[[[[[[{"x":[{"y":{}}]}]]]]]]]]]]}`,
	}
	base := testInstance(t, "incidents", `{}`)
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	mk := func(recs ...string) []Event {
		var out []Event
		for i, r := range recs {
			id := strconv.Itoa(i + 1)
			out = append(out, Event{ID: EventID(base.ID, "incidents", id, at, Updated), ObjectID: id, Type: Updated,
				Date: at.Add(time.Duration(i) * 1500 * time.Millisecond), Record: json.RawMessage(r)})
		}
		return out
	}
	acct := noteTestAccount
	for i, r := range records {
		sameAsReference(t, base, acct, "incidents", notePollDate, mk(r))
		if i > 0 {
			sameAsReference(t, base, acct, "incidents", notePollDate, mk(records[:i+1]...))
		}
	}

	odd := *base
	odd.Name = "<Acme & Co> \"prod\"\n\u2028 é \xff"
	odd.Tags = []string{"a<b", "", "ü"}
	el := *base.Element
	el.Key, el.Hub = "key&", "hub>"
	odd.Element = &el
	odd.ID = -3
	ev := mk(records[0], records[2])
	ev[1].ObjectID = "id \"quoted\" <x>"
	ev[1].Type = "ODD&"
	ev[1].ID = "id\\with\\backslashes"
	oddAcct := Account{AccountID: -1, CompanyID: 0, UserID: 1 << 62, User: "ops+<x>@example.com\t"}
	for _, ot := range []string{"incidents", "contacts", "objectType", "pollDate", "a", "zzz", "<&>", "é", ""} {
		sameAsReference(t, &odd, oddAcct, ot, time.Date(1965, 1, 1, 0, 0, 0, 999e6, time.FixedZone("X", 3600)), ev)
		sameAsReference(t, base, acct, ot, notePollDate, mk(records...))
	}
	// Never called with no events, but still the same.
	sameAsReference(t, base, acct, "incidents", notePollDate, nil)
}

// A record that is not one valid JSON value fails the notification, as it failed json.Marshal,
// and never makes a body that is not JSON.
func TestNotificationRejectsInvalidRecords(t *testing.T) {
	in := testInstance(t, "incidents", `{}`)
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, r := range []string{
		``, ` `, `{`, `}`, `{"a":tru}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1,]`, `[1 2]`, `{"a":1}}`,
		`{"a":1} {"b":2}`, `1,2`, `1],[2`, `"unterminated`, "\"ctl\x01\"", `"bad \x escape"`, `"\u12"`,
		`"\u12g4"`, `01`, `-`, `1.`, `1.e5`, `1e`, `1e+`, `.5`, `+1`, `nul`, `truex`, `NaN`, `'a'`,
		`{"a":"b"]`, `[{"a":1]}`, strings.Repeat("[", maxNestingDepth) + strings.Repeat("]", maxNestingDepth),
	} {
		e := Event{ID: EventID(in.ID, "incidents", "1", at, Updated), ObjectID: "1", Type: Updated, Date: at, Record: json.RawMessage(r)}
		n, err := buildNotification(in, noteTestAccount, "incidents", notePollDate, []Event{e})
		if err == nil {
			t.Errorf("record %.40q: no error; body %.200s", r, n.Body)
		}
	}
	// encoding/json's nesting limit, to the level: the records array is one.
	deep := func(n int) Event {
		return Event{ID: "x", ObjectID: "1", Type: Updated, Date: at, Record: json.RawMessage(strings.Repeat("[", n) + strings.Repeat("]", n))}
	}
	for _, n := range []int{maxNestingDepth - 2, maxNestingDepth - 1, maxNestingDepth} {
		sameAsReference(t, in, noteTestAccount, "incidents", notePollDate, []Event{deep(n)})
	}
	if _, err := buildNotification(in, noteTestAccount, "incidents", notePollDate, []Event{deep(maxNestingDepth - 1)}); err != nil {
		t.Errorf("nesting within the limit: %v", err)
	}
}

// FuzzNotificationRecord: for any record, the body is encoding/json's, or both fail; a record
// that is valid JSON on its own never fails where encoding/json did not, and every body built is
// valid JSON.
func FuzzNotificationRecord(f *testing.F) {
	f.Add(TicketJSON(7, "2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z", ""), "name")
	f.Add("{ \"a\" : [1, \"<&>\u2028\"] }\n", "<tag>")
	f.Add(`{"a":1}x`, "")
	f.Add(`1,2`, "\xff")
	in := testInstance(f, "incidents", `{}`)
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rec, name string) {
		in := *in
		in.Name = name
		events := []Event{{ID: "a", ObjectID: name, Type: Created, Date: at, Record: json.RawMessage(rec)}}
		got, err := buildNotification(&in, noteTestAccount, "incidents", notePollDate, events)
		want, wantErr := referenceNotification(&in, noteTestAccount, "incidents", notePollDate, events)
		switch {
		case err == nil && wantErr != nil:
			t.Fatalf("record %q: encoding/json failed (%v), this did not", rec, wantErr)
		case err == nil && !bytes.Equal(got.Body, want.Body):
			t.Fatalf("record %q: body differs:\n got %s\nwant %s", rec, got.Body, want.Body)
		case err == nil && !json.Valid(got.Body):
			t.Fatalf("record %q: body is not JSON: %s", rec, got.Body)
		case err != nil && wantErr == nil && json.Valid([]byte(rec)):
			t.Fatalf("record %q: %v; encoding/json took it", rec, err)
		}
	})
}

func TestAppendISOSeconds(t *testing.T) {
	zone := time.FixedZone("X", -(9*3600 + 30*60))
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, zone),
		time.Date(2024, 3, 1, 2, 0, 0, 0, zone),
	}
	for i := range 2000 {
		times = append(times, time.Unix(int64(i)*7919*3607-int64(4e9), 0).In(zone))
	}
	for _, tm := range times {
		if got, want := string(appendISOSeconds([]byte("x"), tm)), "x"+tm.UTC().Format(isoSeconds); got != want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
}
