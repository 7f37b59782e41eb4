package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/cmd/internal/demo"
	"github.com/pollen-hq/pollen/cmd/internal/server"
)

const (
	e2eAPIKey       = "e2e-freshdesk-api-key"
	e2eSignatureKey = "e2e-signature-key"
)

// The bootstrap admin's secrets of the tests' servers: strong enough for serve's check.
const (
	testUserSecret = "user-secret-0f3e-49ab-a8c1-5d72e6"
	testOrgSecret  = "org-secret-7b21-4c9d-9e05-a3f86b"
)

// harness is a simulated Freshdesk and a signature-checking receiver on loopback; Pollen
// servers are started and stopped against them.
type harness struct {
	t        *testing.T
	desk     *freshdesk.Server
	deskURL  string
	recvURL  string
	offset   atomic.Int64 // the simulator's clock offset, nanoseconds
	mu       sync.Mutex
	events   []string // "TYPE objectType id"
	eventIDs map[string]int
	rejected []string
	dataDir  string
	defsDir  string          // the server's --definitions folder, "" for none
	retries  []time.Duration // the server's retry schedule, nil for the platform's
	cors     []string        // the server's --cors-origins
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, eventIDs: map[string]int{}, dataDir: t.TempDir()}
	h.desk = freshdesk.New(freshdesk.Options{APIKey: e2eAPIKey, Now: func() time.Time {
		return time.Now().Add(time.Duration(h.offset.Load()))
	}})
	ds := httptest.NewServer(h.desk)
	t.Cleanup(ds.Close)
	h.deskURL = ds.URL
	rs := httptest.NewServer(&webhook.Receiver{
		Key: e2eSignatureKey,
		Handle: func(n *webhook.Notification, _ []byte) {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, e := range n.Message.Events {
				h.events = append(h.events, e.EventType+" "+e.ObjectType+" "+e.ObjectID)
				h.eventIDs[e.EventID]++
			}
		},
		Rejected: func(reason string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.rejected = append(h.rejected, reason)
		},
	})
	t.Cleanup(rs.Close)
	h.recvURL = rs.URL
	return h
}

// inThePast runs fn with the simulator's clock an hour back: what it creates predates any
// instance.
func (h *harness) inThePast(fn func()) {
	h.offset.Store(int64(-time.Hour))
	defer h.offset.Store(0)
	fn()
}

type runningServer struct {
	*server.Server
	stop func()
}

// start runs a Pollen server on the harness's data directory.
func (h *harness) start() *runningServer {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{h.t}})
	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: h.dataDir, DefinitionsDir: h.defsDir,
		UserSecret: testUserSecret, OrgSecret: testOrgSecret, Logger: log, Retries: h.retries,
		AllowPrivateNetworks: true, MinInterval: 100 * time.Millisecond, CORSOrigins: h.cors})
	if err != nil {
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	rs := &runningServer{Server: srv}
	var once sync.Once
	rs.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("server: %v", err)
			}
		})
	}
	h.t.Cleanup(rs.stop)
	return rs
}

// createInstance posts seed 000's example body, changed only where it must point at the
// harness, and returns the instance id.
func (h *harness) createInstance(srv *runningServer) int64 {
	h.t.Helper()
	return h.createInstanceAt(srv.URL(), h.recvURL)
}

// createInstanceAt creates the same instance through the API at apiURL, calling back callbackURL.
func (h *harness) createInstanceAt(apiURL, callbackURL string) int64 {
	h.t.Helper()
	id, err := demo.CreateInstance(context.Background(), apiURL, testUserSecret, testOrgSecret, "freshdeskv2", map[string]string{
		"subdomain":                        "e2e",
		"username":                         e2eAPIKey,
		"base.url":                         h.deskURL,
		"event.notification.callback.url":  callbackURL,
		"event.notification.signature.key": e2eSignatureKey,
		"event.poller.refresh_interval":    "0.01",
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// waitFor waits until every wanted event has arrived, then a little longer for any extra.
func (h *harness) waitFor(want ...string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if h.hasAll(want) {
			time.Sleep(2 * time.Second) // several more polls: anything extra would show
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %v; got %v", want, h.got())
}

func (h *harness) hasAll(want []string) bool {
	got := map[string]bool{}
	for _, e := range h.got() {
		got[e] = true
	}
	for _, w := range want {
		if !got[w] {
			return false
		}
	}
	return true
}

func (h *harness) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

// expectExactly checks that exactly these events arrived, each once, all signed.
func (h *harness) expectExactly(want ...string) {
	h.t.Helper()
	got := h.got()
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Errorf("events:\n got  %v\n want %v", got, want)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.rejected) > 0 {
		h.t.Errorf("notifications rejected by the receiver: %v", h.rejected)
	}
	for id, n := range h.eventIDs {
		if n > 1 {
			h.t.Errorf("event %s delivered %d times", id, n)
		}
	}
}

func idOf(rec map[string]any) string { return fmt.Sprint(rec["id"]) }

// TestEndToEnd: seed 000's body against the simulator; new, updated and deleted tickets and
// contacts each give exactly one signed event, and records that predate the instance none.
func TestEndToEnd(t *testing.T) {
	h := newHarness(t)
	var oldTicket, oldTicket2 map[string]any
	var oldContact, oldContact2 map[string]any
	h.inThePast(func() {
		oldContact = h.desk.CreateContact(map[string]any{"name": "Old Contact", "email": "old@example.com"})
		oldContact2 = h.desk.CreateContact(map[string]any{"name": "Old Contact 2", "email": "old2@example.com"})
		oldTicket = h.desk.CreateTicket(map[string]any{"subject": "old ticket", "requester_id": oldContact["id"]})
		oldTicket2 = h.desk.CreateTicket(map[string]any{"subject": "old ticket 2", "requester_id": oldContact["id"]})
	})
	srv := h.start()
	id := h.createInstance(srv)

	newContact := h.desk.CreateContact(map[string]any{"name": "New Contact", "email": "new@example.com"})
	newTicket := h.desk.CreateTicket(map[string]any{"subject": "new ticket", "requester_id": newContact["id"]})
	_, err := h.desk.UpdateTicket(oldTicket["id"].(int64), map[string]any{"priority": 4})
	must(t, err)
	_, err = h.desk.UpdateContact(oldContact["id"].(int64), map[string]any{"job_title": "CTO"})
	must(t, err)
	must(t, h.desk.DeleteTicket(oldTicket2["id"].(int64)))
	must(t, h.desk.DeleteContact(oldContact2["id"].(int64)))

	want := []string{
		"CREATED contacts " + idOf(newContact), "CREATED incidents " + idOf(newTicket),
		"UPDATED incidents " + idOf(oldTicket), "UPDATED contacts " + idOf(oldContact),
		"DELETED incidents " + idOf(oldTicket2), "DELETED contacts " + idOf(oldContact2),
	}
	h.waitFor(want...)
	h.expectExactly(want...)

	// The instance as the API shows it never carries the API key or the signature key.
	body := get(t, srv.URL()+fmt.Sprintf("/instances/%d", id))
	for _, secret := range []string{e2eAPIKey, e2eSignatureKey, testUserSecret, testOrgSecret} {
		if strings.Contains(body, secret) {
			t.Errorf("GET /instances/%d shows a secret: %s", id, body)
		}
	}
}

// TestRestart: changes made while Pollen is down arrive after it starts again, once, and what
// was delivered before is not delivered again.
func TestRestart(t *testing.T) {
	h := newHarness(t)
	var old map[string]any
	h.inThePast(func() {
		c := h.desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})
		old = h.desk.CreateTicket(map[string]any{"subject": "old", "requester_id": c["id"]})
	})
	srv := h.start()
	h.createInstance(srv)
	first := h.desk.CreateTicket(map[string]any{"subject": "before the restart", "requester_id": old["requester_id"]})
	h.waitFor("CREATED incidents " + idOf(first))
	srv.stop()

	// While Pollen is down.
	_, err := h.desk.UpdateTicket(old["id"].(int64), map[string]any{"status": 4})
	must(t, err)
	down := h.desk.CreateContact(map[string]any{"name": "Made While Down", "email": "down@example.com"})
	must(t, h.desk.DeleteTicket(first["id"].(int64)))

	h.start()
	want := []string{
		"CREATED incidents " + idOf(first),
		"UPDATED incidents " + idOf(old), "CREATED contacts " + idOf(down), "DELETED incidents " + idOf(first),
	}
	h.waitFor(want...)
	h.expectExactly(want...)
}

func get(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "User user-secret-0f3e-49ab-a8c1-5d72e6, Organization org-secret-7b21-4c9d-9e05-a3f86b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testWriter sends log output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
