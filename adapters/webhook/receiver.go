package webhook

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/pollen-hq/pollen/engine"
)

// Notification is a decoded event notification.
type Notification = engine.NotificationBody

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
