package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestReceiver(t *testing.T) {
	var got []*Notification
	var rejected []string
	rc := &Receiver{Key: "k", Handle: func(n *Notification, _ []byte) { got = append(got, n) },
		Rejected: func(r string) { rejected = append(rejected, r) }}
	body := []byte(`{"id":"n1","topic":"instance-1-freshdeskv2-events","message":{"eventId":"n1","instanceId":1,
		"raw":{"incidents":[{"id":7,"subject":"s"}],"objectType":"incidents","pollDate":1},
		"events":[{"eventType":"CREATED","objectId":"7","objectType":"incidents","eventId":"e1"}]}}`)
	for _, c := range []struct {
		sig    string
		body   []byte
		status int
	}{
		{Sign("k", body), body, 200},
		{Sign("other", body), body, 401},
		{"", body, 401},
		{Sign("k", []byte("nope")), []byte("nope"), 400},
	} {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(c.body))
		if c.sig != "" {
			req.Header.Set(HeaderSignature, c.sig)
		}
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		if w.Code != c.status {
			t.Errorf("signature %q: status %d, want %d", c.sig, w.Code, c.status)
		}
	}
	if len(got) != 1 || got[0].Message.Events[0].EventID != "e1" || len(rejected) != 3 {
		t.Fatalf("got %d notifications, %d rejections", len(got), len(rejected))
	}
	if recs := got[0].Message.Records(); len(recs) != 1 || string(recs[0]) != `{"id":7,"subject":"s"}` {
		t.Errorf("records: %s", recs)
	}
}
