package engine

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxEventsPerNotification is the platform's limit of events in one polling notification.
const MaxEventsPerNotification = 10

// Notification is one POST to a callback: up to MaxEventsPerNotification events of one object
// type, with their records, in the platform's notification shape. Its body is built once, when
// the poll commits, so that every retry sends the same bytes under the same id.
type Notification struct {
	ID         string // message.eventId
	InstanceID int64
	ObjectType string
	EventIDs   []string
	// Lanes are the order lanes of the records it carries (see LaneSet).
	Lanes     LaneSet
	CreatedAt time.Time
	Body      []byte
}

// Account identifies the platform account that notifications name (accountId, companyId, userId,
// user). A single-tenant Pollen uses one for all instances.
type Account struct {
	AccountID int64
	CompanyID int64
	UserID    int64
	User      string
}

// NotificationBody is the JSON body of a notification, as built here and as receivers decode it.
type NotificationBody struct {
	ID          string              `json:"id"`
	Severity    string              `json:"severity"`
	CreatedDate string              `json:"createdDate"`
	Action      string              `json:"action"`
	Topic       string              `json:"topic"`
	User        string              `json:"user"`
	Message     NotificationMessage `json:"message"`
}

// NotificationMessage is a notification's message: the instance, the vendor records under
// raw.<objectType>, and the events, in the same order as the records.
type NotificationMessage struct {
	ElementKey   string                     `json:"elementKey"`
	EventID      string                     `json:"eventId"`
	AccountID    int64                      `json:"accountId"`
	CompanyID    int64                      `json:"companyId"`
	UserID       int64                      `json:"userId"`
	InstanceID   int64                      `json:"instanceId"`
	InstanceID2  int64                      `json:"instance_id"`
	InstanceName string                     `json:"instanceName"`
	InstanceTags []string                   `json:"instanceTags"`
	Raw          map[string]json.RawMessage `json:"raw"`
	Events       []EventBody                `json:"events"`
}

// Records returns the vendor records of the notification's object type, in the order of its
// events.
func (m *NotificationMessage) Records() []json.RawMessage {
	if len(m.Events) == 0 {
		return nil
	}
	var recs []json.RawMessage
	_ = json.Unmarshal(m.Raw[m.Events[0].ObjectType], &recs)
	return recs
}

// EventBody is one event of a notification.
type EventBody struct {
	Date       string `json:"date"`
	ElementKey string `json:"elementKey"`
	PollDate   string `json:"pollDate"`
	EventType  string `json:"eventType"`
	HubKey     string `json:"hubKey"`
	ObjectID   string `json:"objectId"`
	ObjectType string `json:"objectType"`
	EventID    string `json:"eventId"`
}

const isoSeconds = "2006-01-02T15:04:05Z"

// BuildNotifications packs one poll's events of one object type into notifications of at most
// MaxEventsPerNotification events each, in the order they are to be sent.
//
// Up to 39 events are packed as they come, in as few notifications as possible. More are first
// split by order lane into groups (laneGroups: 2 to 16), each group packed on its own, keeping
// the events' order within it, and the groups' notifications interleaved: a burst then yields
// notifications of one lane each, which the deliverer may send side by side, while the events of
// one record stay in one group, in order.
func BuildNotifications(in *Instance, acct Account, objectType string, pollDate time.Time, events []Event) ([]Notification, error) {
	if len(events) == 0 {
		return nil, nil
	}
	lanes := make([]LaneSet, len(events))
	for i, e := range events {
		lanes[i] = LaneOf(objectType, e.ObjectID)
	}
	g := laneGroups(len(events))
	if g == 1 {
		return packNotifications(nil, in, acct, objectType, pollDate, events, lanes)
	}
	// Split into groups, stably, then take a notification's worth from each group in turn.
	width := OrderLanes / g
	groupEvents := make([][]Event, g)
	groupLanes := make([][]LaneSet, g)
	for i, e := range events {
		k := bits.TrailingZeros16(uint16(lanes[i])) / width
		groupEvents[k] = append(groupEvents[k], e)
		groupLanes[k] = append(groupLanes[k], lanes[i])
	}
	out := make([]Notification, 0, len(events)/MaxEventsPerNotification+g)
	for more := true; more; {
		more = false
		for k := range groupEvents {
			n := min(len(groupEvents[k]), MaxEventsPerNotification)
			if n == 0 {
				continue
			}
			var err error
			if out, err = packNotifications(out, in, acct, objectType, pollDate, groupEvents[k][:n], groupLanes[k][:n]); err != nil {
				return nil, err
			}
			groupEvents[k], groupLanes[k] = groupEvents[k][n:], groupLanes[k][n:]
			more = more || len(groupEvents[k]) > 0
		}
	}
	return out, nil
}

// packNotifications appends to out the events, in their order, in notifications of at most
// MaxEventsPerNotification events; lanes[i] is the lane of events[i].
func packNotifications(out []Notification, in *Instance, acct Account, objectType string, pollDate time.Time, events []Event, lanes []LaneSet) ([]Notification, error) {
	for len(events) > 0 {
		n := min(len(events), MaxEventsPerNotification)
		note, err := buildNotification(in, acct, objectType, pollDate, events[:n])
		if err != nil {
			return nil, err
		}
		for _, l := range lanes[:n] {
			note.Lanes |= l
		}
		out = append(out, note)
		events, lanes = events[n:], lanes[n:]
	}
	return out, nil
}

func buildNotification(in *Instance, acct Account, objectType string, pollDate time.Time, events []Event) (Notification, error) {
	ids := make([]string, len(events))
	size := 1024
	for i, e := range events {
		ids[i] = e.ID
		size += len(e.Record) + 320
	}
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	id := base64.RawURLEncoding.EncodeToString(sum[:15])

	b, err := appendNotificationBody(make([]byte, 0, size), in, acct, id, objectType, pollDate, events)
	if err != nil {
		return Notification{}, err
	}
	return Notification{ID: id, InstanceID: in.ID, ObjectType: objectType, EventIDs: ids, CreatedAt: pollDate, Body: b}, nil
}

// appendNotificationBody appends the notification's JSON body: the bytes json.Marshal gives for
// the NotificationBody of these events, field for field (notification_encode_test.go keeps that
// encoding as the reference and checks the two agree byte for byte), written directly instead of
// through reflection. The records, the bulk of a body, are copied as they came from the vendor,
// except for what encoding/json changes in a json.RawMessage: whitespace outside strings is
// dropped and <, >, &, U+2028 and U+2029 are escaped (appendRecord). A record that is not one
// valid JSON value is an error, as it was for json.Marshal.
func appendNotificationBody(b []byte, in *Instance, acct Account, id, objectType string, pollDate time.Time, events []Event) ([]byte, error) {
	pollDate = pollDate.UTC()
	var pdBuf [32]byte
	pd := appendISOSeconds(pdBuf[:0], pollDate)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"severity":"medium","createdDate":"`...)
	b = append(b, pd...)
	b = append(b, `","action":"create","topic":`...)
	b = appendJSONString(b, "instance-"+strconv.FormatInt(in.ID, 10)+"-"+in.Element.Key+"-events")
	b = append(b, `,"user":`...)
	b = appendJSONString(b, acct.User)
	b = append(b, `,"message":{"elementKey":`...)
	b = appendJSONString(b, in.Element.Key)
	b = append(b, `,"eventId":`...)
	b = appendJSONString(b, id)
	for _, f := range [...]struct {
		name string
		v    int64
	}{{`,"accountId":`, acct.AccountID}, {`,"companyId":`, acct.CompanyID}, {`,"userId":`, acct.UserID},
		{`,"instanceId":`, in.ID}, {`,"instance_id":`, in.ID}} {
		b = append(b, f.name...)
		b = strconv.AppendInt(b, f.v, 10)
	}
	b = append(b, `,"instanceName":`...)
	b = appendJSONString(b, in.Name)
	b = append(b, `,"instanceTags":[`...)
	for i, t := range in.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t)
	}

	// raw: a map to encoding/json, so its keys come sorted; a later key of the same name
	// replaced an earlier one (an object type named "objectType" or "pollDate").
	b = append(b, `],"raw":{`...)
	keys := [...]string{objectType, "objectType", "pollDate"}
	order := []int{0, 1, 2}
	if objectType == "objectType" || objectType == "pollDate" {
		order = order[1:]
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(keys[x], keys[y]) })
	for n, k := range order {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, keys[k])
		b = append(b, ':')
		switch k {
		case 0:
			b = append(b, '[')
			for i, e := range events {
				if i > 0 {
					b = append(b, ',')
				}
				var err error
				if b, err = appendRecord(b, e.Record); err != nil {
					return nil, fmt.Errorf("record %s: %w", e.ObjectID, err)
				}
			}
			b = append(b, ']')
		case 1:
			b = appendJSONString(b, objectType)
		case 2:
			b = strconv.AppendInt(b, pollDate.UnixMilli(), 10)
		}
	}

	b = append(b, `},"events":`...)
	if len(events) == 0 {
		return append(b, "null}}"...), nil // a nil slice, to encoding/json
	}
	b = append(b, '[')
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"date":"`...)
		b = appendISOSeconds(b, e.Date)
		b = append(b, `","elementKey":`...)
		b = appendJSONString(b, in.Element.Key)
		b = append(b, `,"pollDate":"`...)
		b = append(b, pd...)
		b = append(b, `","eventType":`...)
		b = appendJSONString(b, string(e.Type))
		b = append(b, `,"hubKey":`...)
		b = appendJSONString(b, in.Element.Hub)
		b = append(b, `,"objectId":`...)
		b = appendJSONString(b, e.ObjectID)
		b = append(b, `,"objectType":`...)
		b = appendJSONString(b, objectType)
		b = append(b, `,"eventId":`...)
		b = appendJSONString(b, e.ID)
		b = append(b, '}')
	}
	return append(b, "]}}"...), nil
}

// appendISOSeconds appends t in UTC as t.UTC().Format(isoSeconds) writes it.
func appendISOSeconds(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, isoSeconds)
	}
	hour, minute, sec := t.Clock()
	m := int(month)
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), 'Z')
}

// appendJSONString appends s as encoding/json writes a string (HTML-safe). The strings of a
// notification's envelope are almost always plain ASCII and are copied; any other string is
// left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainString[s[i]] {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainString is the bytes encoding/json copies into a string unchanged: printable ASCII but for
// the quote, the backslash and the HTML-sensitive <, > and &. In a record (plainRecordString),
// a JSON text whose escapes are already written, control bytes are errors, and bytes of UTF-8
// sequences are copied as they are except for U+2028 and U+2029 (lead byte 0xE2).
var plainString, plainRecordString = func() (s, r [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		s[c] = true
	}
	for c := 0x20; c < 0x100; c++ {
		r[c] = true
	}
	for _, c := range []byte{'"', '\\', '<', '>', '&'} {
		s[c], r[c] = false, false
	}
	r[0xE2] = false
	return s, r
}()

// maxNestingDepth is encoding/json's limit on nested objects and arrays; the records of a
// notification are one level down, in its records array.
const maxNestingDepth = 10000

// appendRecord appends the JSON text rec to b as encoding/json writes a json.RawMessage inside
// the array of a notification's records: whitespace outside strings dropped, <, >, & and U+2028,
// U+2029 inside strings escaped, everything else copied. Records come from the vendor's pages
// through the record view, which delimits them without validating them, so appendRecord
// validates as it copies (in the same pass): rec must be exactly one JSON value, as
// encoding/json requires, or an error is returned and b is left as it was.
func appendRecord(b, rec []byte) ([]byte, error) {
	r := recordWriter{src: rec, dst: b}
	i, ok := r.value(r.space(0), 2)
	if ok {
		i = r.space(i)
	}
	if ok && i == len(rec) {
		r.flush(len(rec))
		return r.dst, nil
	}
	if r.err == nil {
		r.err = fmt.Errorf("not a single JSON value (at byte %d of %d)", i, len(rec))
	}
	return b, r.err
}

// recordWriter copies a record into dst in runs: src[from:] is what is yet to be copied.
type recordWriter struct {
	src  []byte
	dst  []byte
	from int
	err  error
}

// flush copies src[from:i].
func (r *recordWriter) flush(i int) {
	r.dst = append(r.dst, r.src[r.from:i]...)
	r.from = i
}

// space returns the index of the first byte at or after i that is not whitespace, dropping the
// whitespace from the copy.
func (r *recordWriter) space(i int) int {
	if i < len(r.src) && r.src[i] > ' ' {
		return i // the usual case: vendors send compact JSON
	}
	return r.spaceRun(i)
}

func (r *recordWriter) spaceRun(i int) int {
	j := i
	for j < len(r.src) && (r.src[j] == ' ' || r.src[j] == '\t' || r.src[j] == '\n' || r.src[j] == '\r') {
		j++
	}
	if j > i {
		r.flush(i)
		r.from = j
	}
	return j
}

// value reads the JSON value at src[i], depth levels of nesting down, and returns the index
// after it.
func (r *recordWriter) value(i, depth int) (int, bool) {
	s := r.src
	if i >= len(s) {
		return i, false
	}
	switch c := s[i]; {
	case c == '"':
		return r.string(i)
	case c == '{' || c == '[':
		if depth > maxNestingDepth {
			r.err = fmt.Errorf("nested more than %d levels deep (at byte %d)", maxNestingDepth-1, i)
			return i, false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = r.space(i + 1)
		if i < len(s) && s[i] == end {
			return i + 1, true
		}
		for {
			ok := true
			if c == '{' {
				if i >= len(s) || s[i] != '"' {
					return i, false
				}
				if i, ok = r.string(i); !ok {
					return i, false
				}
				if i = r.space(i); i >= len(s) || s[i] != ':' {
					return i, false
				}
				i = r.space(i + 1)
			}
			if i, ok = r.value(i, depth+1); !ok {
				return i, false
			}
			if i = r.space(i); i >= len(s) {
				return i, false
			}
			switch s[i] {
			case ',':
				i = r.space(i + 1)
			case end:
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return number(s, i)
	case c == 't':
		return literal(s, i, "true")
	case c == 'f':
		return literal(s, i, "false")
	case c == 'n':
		return literal(s, i, "null")
	}
	return i, false
}

// string reads the string at src[i] == '"', escaping what encoding/json escapes.
func (r *recordWriter) string(i int) (int, bool) {
	s := r.src
	for i++; ; {
		for i < len(s) && plainRecordString[s[i]] {
			i++
		}
		if i >= len(s) {
			return i, false
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(s) {
				return i, false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) || !isHex(s[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c == '<' || c == '>' || c == '&':
			r.flush(i)
			r.dst = append(r.dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			i++
			r.from = i
		case c == 0xE2:
			if i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8 { // U+2028, U+2029
				r.flush(i)
				r.dst = append(r.dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
				i += 3
				r.from = i
			} else {
				i++
			}
		default: // a control byte
			return i, false
		}
	}
}

const hexDigits = "0123456789abcdef"

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// number reads the JSON number at s[i]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func number(s []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j, j > i
	}
	if s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if j, ok := digits(i); ok {
		i = j
	} else {
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		j, ok := digits(i + 1)
		if !ok {
			return j, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j, ok := digits(i)
		if !ok {
			return j, false
		}
		i = j
	}
	return i, true
}

// literal reads the literal lit (true, false or null) at s[i].
func literal(s []byte, i int, lit string) (int, bool) {
	if len(s)-i < len(lit) || string(s[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}
