package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
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
	status, err := s.Send(context.Background(), srv.URL+"/cb?token=abc", vectorKey, "n-42", body)
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
	l := logs.String()
	if !strings.Contains(l, "webhook delivery") {
		t.Errorf("no debug line: %q", l)
	}
	for _, secret := range []string{vectorKey, Sign(vectorKey, body), "token=abc"} {
		if strings.Contains(l, secret) {
			t.Errorf("log leaks %q: %s", secret, l)
		}
	}
}

func TestSendNoKeyNoSignature(t *testing.T) {
	srv, ch := recorder(t, http.StatusAccepted)
	status, err := New(Options{}).Send(context.Background(), srv.URL, "", "n-1", []byte(`{}`))
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
	status, err := New(Options{}).Send(context.Background(), srv.URL, "k", "n", []byte(`{}`))
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
	status, err := New(Options{}).Send(context.Background(), srv.URL, "k", "n", []byte(`{}`))
	if err != nil || status != http.StatusFound {
		t.Fatalf("Send = %d, %v; want 302, nil", status, err)
	}
}

func TestSendBadInput(t *testing.T) {
	s := New(Options{})
	if _, err := s.Send(context.Background(), "ftp://x/y", "", "n", nil); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := s.Send(context.Background(), "http://127.0.0.1:1/", "", "", nil); err == nil {
		t.Error("empty id accepted")
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
	status, err := s.Send(context.Background(), srv.URL+"/cb?token=secret", vectorKey, "n", []byte(`{}`))
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
	if _, err := New(Options{}).Send(ctx, srv.URL, "", "n", []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want Canceled", err)
	}
}
