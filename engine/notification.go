package engine

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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
	CreatedAt  time.Time
	Body       []byte
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
// MaxEventsPerNotification events each.
func BuildNotifications(in *Instance, acct Account, objectType string, pollDate time.Time, events []Event) ([]Notification, error) {
	var out []Notification
	for len(events) > 0 {
		n := min(len(events), MaxEventsPerNotification)
		batch := events[:n]
		events = events[n:]
		note, err := buildNotification(in, acct, objectType, pollDate, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, note)
	}
	return out, nil
}

func buildNotification(in *Instance, acct Account, objectType string, pollDate time.Time, events []Event) (Notification, error) {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	id := base64.RawURLEncoding.EncodeToString(sum[:15])

	records := make([]byte, 0, 1024*len(events))
	records = append(records, '[')
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
