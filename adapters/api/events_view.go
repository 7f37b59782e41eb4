package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/engine"
)

// headerNextPage carries the token of a list's next page, as on the platform.
const headerNextPage = "Elements-Next-Page-Token"

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// eventJSON is one event of the history.
type eventJSON struct {
	ID             string `json:"id"`
	InstanceID     int64  `json:"instanceId"`
	ObjectType     string `json:"objectType"`
	ObjectID       string `json:"objectId"`
	EventType      string `json:"eventType"`
	EventDate      string `json:"eventDate"`
	PollDate       string `json:"pollDate"`
	Status         string `json:"status"`
	NotificationID string `json:"notificationId"`
	// ProviderData is the vendor record the event came from, as JSON text (the platform's
	// providerData is a string).
	ProviderData string `json:"providerData"`
}

// notificationJSON is one notification of the history, found by the message.eventId its
// receiver got: the platform's event (id, eventDate, status, providerData), with the events it
// carried and its delivery attempts.
type notificationJSON struct {
	ID             string `json:"id"`
	InstanceID     int64  `json:"instanceId"`
	ObjectType     string `json:"objectType"`
	EventDate      string `json:"eventDate"`
	Status         string `json:"status"`
	NotificationID string `json:"notificationId"`
	// ProviderData is the vendor data the notification carried, its message.raw, as JSON text.
	ProviderData string        `json:"providerData"`
	Events       []eventJSON   `json:"events"`
	Attempts     []attemptJSON `json:"attempts"`
}

// eventDetailJSON is one event with the delivery attempts of its notification, oldest first.
type eventDetailJSON struct {
	eventJSON
	Attempts []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
	At         string `json:"at"`
	HTTPStatus int    `json:"httpStatus"` // 0 when the callback gave no answer
	Error      string `json:"error"`
	Status     string `json:"status"` // the attempt's outcome: NOTIFIED, PENDING (retried), QUEUED, FAILED
}

// queuedJSON is one queued notification.
type queuedJSON struct {
	ID          string   `json:"id"`
	InstanceID  int64    `json:"instanceId"`
	ObjectType  string   `json:"objectType"`
	CreatedDate string   `json:"createdDate"`
	Attempts    int      `json:"attempts"`
	LastError   string   `json:"lastError"`
	EventIDs    []string `json:"eventIds"`
}

type requeuedJSON struct {
	Requeued int `json:"requeued"`
}

func viewEvent(e *engine.EventRecord) eventJSON {
	return eventJSON{ID: e.ID, InstanceID: e.InstanceID, ObjectType: e.ObjectType, ObjectID: e.ObjectID,
		EventType: e.EventType, EventDate: formatTime(e.Date), PollDate: formatTime(e.PollDate),
		Status: e.Status, NotificationID: e.NotificationID, ProviderData: string(e.Record)}
}

func viewAttempts(atts []engine.Attempt) []attemptJSON {
	out := make([]attemptJSON, 0, len(atts))
	for _, a := range atts {
		out = append(out, attemptJSON{At: formatTime(a.At), HTTPStatus: a.HTTPStatus, Error: a.Error, Status: string(a.Status)})
	}
	return out
}

func viewNotification(n *engine.NotificationRecord) notificationJSON {
	out := notificationJSON{ID: n.ID, InstanceID: n.InstanceID, ObjectType: n.ObjectType, EventDate: formatTime(n.CreatedAt),
		Status: n.Status, NotificationID: n.ID, ProviderData: gjson.GetBytes(n.Body, "message.raw").Raw,
		Events: make([]eventJSON, 0, len(n.Events)), Attempts: viewAttempts(n.Attempts)}
	for i := range n.Events {
		out.Events = append(out.Events, viewEvent(&n.Events[i]))
	}
	return out
}

// formatTime is RFC 3339 in UTC with the stored precision, so that a pollDate given back as since
// selects its own event; "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// eventFilter reads the query of an event list. withInstance allows instanceId. It answers 400
// itself and then returns false.
func eventFilter(w http.ResponseWriter, r *http.Request, withInstance bool) (engine.EventFilter, bool) {
	q := r.URL.Query()
	var f engine.EventFilter
	known := []string{"status", "objectType", "since", "until", "pageSize", "nextPageToken"}
	if withInstance {
		known = append(known, "instanceId")
		if v := q.Get("instanceId"); v != "" {
			id, ok := positiveID(v)
			if !ok {
				writeError(w, r, http.StatusBadRequest, "instanceId must be a positive integer")
				return f, false
			}
			f.InstanceID = id
		}
	}
	if !onlyParams(w, r, known...) {
		return f, false
	}
	if v := q.Get("status"); v != "" {
		f.Status = strings.ToUpper(v)
		if !slices.Contains(engine.EventStatuses, f.Status) {
			writeError(w, r, http.StatusBadRequest, "status must be one of "+strings.Join(engine.EventStatuses, ", "))
			return f, false
		}
	}
	f.ObjectType = q.Get("objectType")
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, ok := parseTime(v)
			if !ok {
				writeError(w, r, http.StatusBadRequest, p.name+" must be an RFC 3339 date-time (2024-05-01T12:00:00Z) or epoch milliseconds")
				return f, false
			}
			*p.t = t
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		writeError(w, r, http.StatusBadRequest, "until must be after since")
		return f, false
	}
	size, ok := pageSize(w, r)
	if !ok {
		return f, false
	}
	f.Limit, f.PageToken = size, q.Get("nextPageToken")
	return f, true
}

// pageSize reads the pageSize parameter: default 50, more than 500 served as 500. It answers 400
// itself and then returns false.
func pageSize(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("pageSize")
	if v == "" {
		return defaultPageSize, true
	}
	n, err := strconv.Atoi(v)
	if err != nil && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
		n, err = maxPageSize, nil
	}
	if err != nil || n < 1 {
		writeError(w, r, http.StatusBadRequest, fmt.Sprintf("pageSize must be an integer from 1 to %d", maxPageSize))
		return 0, false
	}
	return min(n, maxPageSize), true
}

// onlyParams answers 400 when the query has a parameter not in known, or one twice, and then
// returns false: a misspelt filter must not silently list everything.
func onlyParams(w http.ResponseWriter, r *http.Request, known ...string) bool {
	for k, vs := range r.URL.Query() {
		if !slices.Contains(known, k) {
			writeError(w, r, http.StatusBadRequest, fmt.Sprintf("Unknown query parameter %q; known: %s", k, strings.Join(known, ", ")))
			return false
		}
		if len(vs) > 1 {
			writeError(w, r, http.StatusBadRequest, fmt.Sprintf("Query parameter %q given more than once", k))
			return false
		}
	}
	return true
}

// parseTime reads an RFC 3339 date-time, or epoch milliseconds.
func parseTime(v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 && ms < 1<<53 {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

// positiveID parses an instance id.
func positiveID(v string) (int64, bool) {
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil && id > 0
}

// redeliverBody reads the body of PUT /instances/events/redeliver: a JSON object with exactly one
// of notificationId, eventId, instanceId and "all": true. It answers 400, 413 or 415 itself and
// then returns false.
func (s *Server) redeliverBody(w http.ResponseWriter, r *http.Request) (engine.RequeueFilter, bool) {
	var f engine.RequeueFilter
	if !jsonContentType(r.Header.Get("Content-Type")) {
		writeError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return f, false
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return f, false
	}
	const want = `The body must be one of {"notificationId": "..."}, {"eventId": "..."}, {"instanceId": n}, {"all": true}`
	bad := func(msg string) (engine.RequeueFilter, bool) {
		writeError(w, r, http.StatusBadRequest, msg+". "+want)
		return f, false
	}
	var body struct {
		NotificationID *string         `json:"notificationId"`
		EventID        *string         `json:"eventId"`
		InstanceID     json.RawMessage `json:"instanceId"` // a number, not a string holding one
		All            *bool           `json:"all"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute) && ute.Field != "":
			return bad(fmt.Sprintf("%s has the wrong type", ute.Field))
		case errors.As(err, &ute):
			return bad("The body is not a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return bad("Unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
		case errors.Is(err, io.EOF):
			return bad("Empty body")
		}
		return bad("Invalid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("Invalid JSON: data after the object")
	}
	set := 0
	if body.NotificationID != nil {
		if f.NotificationID = *body.NotificationID; f.NotificationID == "" {
			return bad("notificationId is empty")
		}
		set++
	}
	if body.EventID != nil {
		if f.EventID = *body.EventID; f.EventID == "" {
			return bad("eventId is empty")
		}
		set++
	}
	if body.InstanceID != nil && string(body.InstanceID) != "null" {
		id, ok := positiveID(string(body.InstanceID))
		if !ok {
			return bad("instanceId must be a positive integer")
		}
		f.InstanceID = id
		set++
	}
	if body.All != nil {
		if !*body.All {
			return bad(`"all" can only be true`)
		}
		f.All = true
		set++
	}
	if set != 1 {
		return bad(fmt.Sprintf("%d selectors given", set))
	}
	return f, true
}

// describeFilter names what a requeue filter selects, for messages and logs.
func describeFilter(f engine.RequeueFilter) string {
	switch {
	case f.NotificationID != "":
		return "notification " + strconv.Quote(f.NotificationID)
	case f.EventID != "":
		return "event " + strconv.Quote(f.EventID)
	case f.InstanceID != 0:
		return fmt.Sprintf("instance %d", f.InstanceID)
	}
	return "all queued notifications"
}
