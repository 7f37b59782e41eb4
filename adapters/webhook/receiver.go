package webhook

import (
	"encoding/json"
	"io"
	"net/http"
)

// Notification is a decoded event notification, as a receiver reads it.
type Notification struct {
	ID          string  `json:"id"`
	CreatedDate string  `json:"createdDate"`
	Topic       string  `json:"topic"`
	Message     Message `json:"message"`
}

// Message is a notification's message.
type Message struct {
	ElementKey   string                     `json:"elementKey"`
	EventID      string                     `json:"eventId"`
	InstanceID   int64                      `json:"instanceId"`
	InstanceName string                     `json:"instanceName"`
	InstanceTags []string                   `json:"instanceTags"`
	Raw          map[string]json.RawMessage `json:"raw"`
	Events       []Event                    `json:"events"`
}

// Event is one event of a notification.
type Event struct {
	Date       string `json:"date"`
	ElementKey string `json:"elementKey"`
	PollDate   string `json:"pollDate"`
	EventType  string `json:"eventType"`
	HubKey     string `json:"hubKey"`
	ObjectID   string `json:"objectId"`
	ObjectType string `json:"objectType"`
	EventID    string `json:"eventId"`
}

// Records returns the vendor records of the notification's object type, in the order of its
// events.
func (n *Notification) Records() []json.RawMessage {
	if len(n.Message.Events) == 0 {
		return nil
	}
	var recs []json.RawMessage
	_ = json.Unmarshal(n.Message.Raw[n.Message.Events[0].ObjectType], &recs)
	return recs
}

// Receiver is an http.Handler that accepts notifications: it checks the
// Elements-Webhook-Signature against Key (when Key is set), decodes the body and passes it to
// Handle. A bad signature gets 401, a body that is not a notification 400, and nothing is
// passed on.
type Receiver struct {
	Key    string
	Handle func(n *Notification, body []byte)
	// Rejected, when set, is told about each notification refused and why.
	Rejected func(reason string)
}

// ServeHTTP implements http.Handler.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		rc.reject(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if rc.Key != "" && !Verify(rc.Key, body, r.Header.Get(HeaderSignature)) {
		rc.reject(w, http.StatusUnauthorized, "bad or missing "+HeaderSignature)
		return
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		rc.reject(w, http.StatusBadRequest, "not a notification: "+err.Error())
		return
	}
	if rc.Handle != nil {
		rc.Handle(&n, body)
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *Receiver) reject(w http.ResponseWriter, status int, reason string) {
	if rc.Rejected != nil {
		rc.Rejected(reason)
	}
	http.Error(w, reason, status)
}
