package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/engine"
)

const (
	vectorKey  = "MySecretEventSignatureKey"
	vectorBody = "<INSERT_EVENT_NOTIFICATION_RESPONSE_BODY>"
	vectorSig  = "sha256=jHdbRx5EZAsOfTwAPJOGkNUzQMVVdu5VJlxcsk+G6jQ="
)

func TestSignVector(t *testing.T) {
	if got := Sign(vectorKey, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("Sign = %q, want %q", got, vectorSig)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(vectorBody)
	if !Verify(vectorKey, body, vectorSig) {
		t.Error("Verify(vector) = false")
	}
	for _, tc := range []struct{ key, body, sig string }{
		{"wrong", vectorBody, vectorSig},
		{vectorKey, vectorBody + " ", vectorSig},
		{vectorKey, vectorBody, strings.TrimPrefix(vectorSig, "sha256=")},
		{vectorKey, vectorBody, ""},
		{vectorKey, vectorBody, vectorSig[:len(vectorSig)-2] + "A="},
	} {
		if Verify(tc.key, []byte(tc.body), tc.sig) {
			t.Errorf("Verify(%q, %q, %q) = true", tc.key, tc.body, tc.sig)
		}
	}
}

type received struct {
	method string
	header http.Header
	body   []byte
}

func recorder(t *testing.T, status int) (*httptest.Server, <-chan received) {
	t.Helper()
	ch := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- received{r.Method, r.Header.Clone(), b}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestSendHeaders(t *testing.T) {
	srv, ch := recorder(t, http.StatusOK)
	var logs bytes.Buffer
	s := New(Options{UserAgent: "pollen-test", Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})})
	body := []byte(`{"id":"1","message":{"events":[]}}`)
	resp, err := s.Send(context.Background(), engine.Outgoing{URL: srv.URL + "/cb?token=abc", ID: "n-42", Body: body,
		Keys: []string{vectorKey, "previous-key"}, Timestamp: time.Unix(1700000000, 0)})
	status := resp.Status
	if err != nil || status != 200 {
		t.Fatalf("Send = %d, %v", status, err)
	}
	got := <-ch
	if got.method != http.MethodPost || !bytes.Equal(got.body, body) {
		t.Errorf("got %s %q", got.method, got.body)
	}
	for k, want := range map[string]string{
		"Content-Type":  "application/json",
		HeaderID:        "n-42",
		HeaderSignature: Sign(vectorKey, body),
		"User-Agent":    "pollen-test",
	} {
		if v := got.header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if !Verify(vectorKey, got.body, got.header.Get(HeaderSignature)) {
		t.Error("receiver cannot verify the signature")
	}
	for _, h := range []string{HeaderStdID, HeaderStdTimestamp, HeaderStdSignature} {
		if v, ok := got.header[http.CanonicalHeaderKey(h)]; ok {
			t.Errorf("%s = %q sent without StandardWebhooks", h, v)
		}
	}
	l := logs.String()
	if !strings.Contains(l, "webhook delivery") {
		t.Errorf("no debug line: %q", l)
	}
	for _, secret := range []string{vectorKey, "previous-key", Sign(vectorKey, body), "token=abc"} {
		if strings.Contains(l, secret) {
			t.Errorf("log leaks %q: %s", secret, l)
		}
	}
}

func TestSendNoKeyNoSignature(t *testing.T) {
	srv, ch := recorder(t, http.StatusAccepted)
	resp, err := New(Options{}).Send(context.Background(), engine.Outgoing{URL: srv.URL, ID: "n-1", Body: []byte(`{}`)})
	status := resp.Status
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("Send = %d, %v", status, err)
	}
	got := <-ch
	if _, ok := got.header[HeaderSignature]; ok {
		t.Errorf("signature header sent without a key: %q", got.header.Get(HeaderSignature))
	}
	if got.header.Get(HeaderID) != "n-1" {
		t.Errorf("id header = %q", got.header.Get(HeaderID))
	}
	if ua := got.header.Get("User-Agent"); ua != "pollen" {
		t.Errorf("User-Agent = %q", ua)
	}
}

func TestSendNon2xxIsNotAnError(t *testing.T) {
	srv, _ := recorder(t, http.StatusInternalServerError)
	resp, err := New(Options{}).Send(context.Background(), outgoing(srv.URL, "k"))
	status := resp.Status
	if err != nil || status != 500 {
		t.Fatalf("Send = %d, %v; want 500, nil", status, err)
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			t.Errorf("redirect followed: %s %s", r.Method, r.URL)
		}
		http.Redirect(w, r, "/moved", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := New(Options{}).Send(context.Background(), outgoing(srv.URL, "k"))
	status := resp.Status
	if err != nil || status != http.StatusFound {
		t.Fatalf("Send = %d, %v; want 302, nil", status, err)
	}
}

func TestSendBadInput(t *testing.T) {
	s := New(Options{})
	if _, err := s.Send(context.Background(), engine.Outgoing{URL: "ftp://x/y", ID: "n"}); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := s.Send(context.Background(), engine.Outgoing{URL: "http://127.0.0.1:1/"}); err == nil {
		t.Error("empty id accepted")
	}
	if _, err := s.Send(context.Background(), engine.Outgoing{URL: "/relative", ID: "n"}); err == nil {
		t.Error("relative URL accepted")
	}
}

func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // runs before srv.Close, so the handler returns

	s := New(Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	resp, err := s.Send(context.Background(), outgoing(srv.URL+"/cb?token=secret", vectorKey))
	status := resp.Status
	if err == nil {
		t.Fatalf("Send = %d, nil; want a timeout", status)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want DeadlineExceeded", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the query: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v", d)
	}
}

func TestSendContextCancelled(t *testing.T) {
	srv, _ := recorder(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(Options{}).Send(ctx, outgoing(srv.URL, "")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want Canceled", err)
	}
}

// outgoing is a small notification to url signed with key ("" = unsigned).
func outgoing(url, key string) engine.Outgoing {
	o := engine.Outgoing{URL: url, ID: "n", Body: []byte(`{}`)}
	if key != "" {
		o.Keys = []string{key}
	}
	return o
}

// The reference vector goes through Send unchanged: the header is Sign of the body as sent.
func TestSendSignatureVector(t *testing.T) {
	srv, ch := recorder(t, http.StatusOK)
	if _, err := New(Options{}).Send(context.Background(), engine.Outgoing{URL: srv.URL, ID: "n",
		Body: []byte(vectorBody), Keys: []string{vectorKey}}); err != nil {
		t.Fatal(err)
	}
	if got := (<-ch).header.Get(HeaderSignature); got != vectorSig {
		t.Errorf("%s = %q, want %q", HeaderSignature, got, vectorSig)
	}
}

// With StandardWebhooks, Send adds webhook-id, webhook-timestamp and one v1 signature per key
// (current first), which a receiver verifies with either key; Elements-Webhook-Signature stays
// the current key's.
func TestSendStandardWebhooks(t *testing.T) {
	body := []byte(`{"id":"n-7","message":{"events":[]}}`)
	ts := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"unsigned", nil},
		{"current", []string{"current-key"}},
		{"rotation", []string{"current-key", "previous-key"}},
		{"whsec rotation", []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "previous-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, ch := recorder(t, http.StatusOK)
			var logs bytes.Buffer
			s := New(Options{Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})})
			resp, err := s.Send(context.Background(), engine.Outgoing{URL: srv.URL, ID: "n-7", Body: body,
				Keys: tc.keys, StandardWebhooks: true, Timestamp: ts})
			status := resp.Status
			if err != nil || status != 200 {
				t.Fatalf("Send = %d, %v", status, err)
			}
			got := <-ch
			h := got.header
			if h.Get(HeaderID) != "n-7" || h.Get(HeaderStdID) != "n-7" {
				t.Errorf("ids %q, %q, want n-7", h.Get(HeaderID), h.Get(HeaderStdID))
			}
			if v := h.Get(HeaderStdTimestamp); v != "1700000000" {
				t.Errorf("%s = %q, want 1700000000", HeaderStdTimestamp, v)
			}
			var want []string
			for _, k := range tc.keys {
				want = append(want, "v1,"+SignStandard(k, "n-7", "1700000000", body))
			}
			if sig := h.Get(HeaderStdSignature); sig != strings.Join(want, " ") {
				t.Errorf("%s = %q, want %q", HeaderStdSignature, sig, strings.Join(want, " "))
			}
			if len(tc.keys) == 0 {
				for _, k := range []string{HeaderSignature, HeaderStdSignature} {
					if v, ok := h[http.CanonicalHeaderKey(k)]; ok {
						t.Errorf("%s = %q without a key", k, v)
					}
				}
				return
			}
			if v := h.Get(HeaderSignature); v != Sign(tc.keys[0], body) {
				t.Errorf("%s = %q, want the current key's %q", HeaderSignature, v, Sign(tc.keys[0], body))
			}
			for _, k := range tc.keys {
				if !VerifyStandard(k, h, got.body, ts.Add(time.Minute), 5*time.Minute) {
					t.Errorf("receiver holding %q cannot verify", k)
				}
			}
			if VerifyStandard("some-other-key", h, got.body, ts, 5*time.Minute) {
				t.Error("verified with a key not sent")
			}
			for _, secret := range append(append([]string(nil), tc.keys...), want...) {
				if strings.Contains(logs.String(), strings.TrimPrefix(secret, "v1,")) {
					t.Errorf("log leaks %q: %s", secret, logs.String())
				}
			}
		})
	}
}

// Without a Timestamp, the Standard Webhooks timestamp is the time of sending.
func TestSendStandardWebhooksDefaultTimestamp(t *testing.T) {
	srv, ch := recorder(t, http.StatusOK)
	before := time.Now().Unix()
	if _, err := New(Options{}).Send(context.Background(), engine.Outgoing{URL: srv.URL, ID: "n", Body: []byte(`{}`),
		Keys: []string{"k"}, StandardWebhooks: true}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Unix()
	got := <-ch
	ts, err := strconv.ParseInt(got.header.Get(HeaderStdTimestamp), 10, 64)
	if err != nil || ts < before || ts > after {
		t.Errorf("%s = %q, want the send time in [%d, %d]", HeaderStdTimestamp, got.header.Get(HeaderStdTimestamp), before, after)
	}
	if !VerifyStandard("k", got.header, got.body, time.Unix(ts, 0), time.Minute) {
		t.Error("receiver cannot verify")
	}
}

// A 429 or 503 returns the callback's Retry-After, in seconds or as an HTTP date (read against the
// response's Date header); other statuses, and unreadable or past values, return none.
func TestSendRetryAfter(t *testing.T) {
	date := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
	}{
		{"429 seconds", 429, map[string]string{"Retry-After": "120"}, 2 * time.Minute},
		{"503 seconds", 503, map[string]string{"Retry-After": " 7 "}, 7 * time.Second},
		{"decimal", 429, map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"HTTP date against Date", 503, map[string]string{"Date": date.Format(http.TimeFormat),
			"Retry-After": date.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"past date", 429, map[string]string{"Date": date.Format(http.TimeFormat),
			"Retry-After": date.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"huge", 429, map[string]string{"Retry-After": "99999999999"}, 24 * time.Hour},
		{"negative", 429, map[string]string{"Retry-After": "-5"}, 0},
		{"garbage", 429, map[string]string{"Retry-After": "soon"}, 0},
		{"absent", 429, nil, 0},
		{"500 ignores it", 500, map[string]string{"Retry-After": "120"}, 0},
		{"200 ignores it", 200, map[string]string{"Retry-After": "120"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = []string{v}
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			resp, err := New(Options{}).Send(context.Background(), outgoing(srv.URL, "k"))
			if err != nil || resp.Status != tc.status || resp.RetryAfter != tc.want {
				t.Errorf("Send = %+v, %v; want status %d, RetryAfter %v", resp, err, tc.status, tc.want)
			}
		})
	}
}
