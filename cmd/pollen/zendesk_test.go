package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/sim/zendesk"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/cmd/internal/demo"
	"github.com/pollen-hq/pollen/cmd/internal/server"
)

// TestZendeskEndToEnd: an instance of the zendesk element, created through POST /instances from
// its example body and pointed at the Zendesk simulator, delivers CREATED, UPDATED and DELETED for
// tickets and CREATED and UPDATED for users; after a restart it resumes from the vendor cursor
// kept with its job cursor, delivering what changed while it was down, once, and nothing again.
func TestZendeskEndToEnd(t *testing.T) {
	var offset atomic.Int64 // the simulator's clock offset
	zd := zendesk.New(zendesk.Options{Email: "e2e@example.com", APIToken: "zd-token", Seed: 7, MinAge: -1, RatePerMinute: 100_000,
		Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	// Records that predate the instance: they are the ones updated and deleted below, so that
	// every expected event is observable whatever the polls' timing (a record created and then
	// changed between two polls is, rightly, seen only in its final state).
	offset.Store(int64(-time.Hour))
	oldUser := zd.CreateUser(map[string]any{"name": "Ada", "email": "ada@example.com"})
	oldTicket := zd.CreateTicket(map[string]any{"subject": "Help", "requester_id": oldUser["id"]})
	doomed := zd.CreateTicket(map[string]any{"subject": "Spam", "requester_id": oldUser["id"]})
	offset.Store(0)
	zs := httptest.NewServer(zd)
	defer zs.Close()

	var mu sync.Mutex
	var got []string
	ids := map[string]int{}
	rs := httptest.NewServer(&webhook.Receiver{Key: "zd-sig", Handle: func(n *webhook.Notification, _ []byte) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range n.Message.Events {
			got = append(got, e.EventType+" "+e.ObjectType+" "+e.ObjectID)
			ids[e.EventID]++
		}
	}})
	defer rs.Close()

	dataDir := t.TempDir()
	var srvURL string
	start := func() func() {
		ctx, cancel := context.WithCancel(context.Background())
		srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: dataDir, UserSecret: testUserSecret, OrgSecret: testOrgSecret,
			AllowPrivateNetworks: true, MinInterval: 100 * time.Millisecond,
			Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		srvURL = srv.URL()
		var once sync.Once
		stop := func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		return stop
	}
	stop := start()
	if _, err := demo.CreateInstance(context.Background(), srvURL, testUserSecret, testOrgSecret, "zendesk", map[string]string{
		"subdomain": "e2e", "email": "e2e@example.com", "api_token": "zd-token", "base.url": zs.URL,
		"event.notification.callback.url": rs.URL, "event.notification.signature.key": "zd-sig", "event.poller.refresh_interval": "0.01",
	}); err != nil {
		t.Fatal(err)
	}
	wait := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			have := map[string]bool{}
			for _, g := range got {
				have[g] = true
			}
			mu.Unlock()
			missing := 0
			for _, w := range want {
				if !have[w] {
					missing++
				}
			}
			if missing == 0 {
				time.Sleep(2 * time.Second) // several more polls: anything extra would show
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %v; got %v", want, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	id := func(rec map[string]any) string { return fmt.Sprint(rec["id"]) }

	user := zd.CreateUser(map[string]any{"name": "Grace", "email": "grace@example.com"})
	ticket := zd.CreateTicket(map[string]any{"subject": "New", "requester_id": user["id"]})
	if _, err := zd.UpdateTicket(oldTicket["id"].(int64), map[string]any{"status": "pending"}); err != nil {
		t.Fatal(err)
	}
	if _, err := zd.UpdateUser(oldUser["id"].(int64), map[string]any{"phone": "+15550100"}); err != nil {
		t.Fatal(err)
	}
	if err := zd.DeleteTicket(doomed["id"].(int64)); err != nil {
		t.Fatal(err)
	}
	first := []string{
		"CREATED contacts " + id(user), "UPDATED contacts " + id(oldUser),
		"CREATED incidents " + id(ticket), "UPDATED incidents " + id(oldTicket), "DELETED incidents " + id(doomed),
	}
	wait(first...)
	stop()

	// While Pollen is down: a later change of a record already reported, and a new record.
	time.Sleep(1100 * time.Millisecond) // a new vendor second, so the change has its own date
	if _, err := zd.UpdateTicket(oldTicket["id"].(int64), map[string]any{"status": "solved"}); err != nil {
		t.Fatal(err)
	}
	later := zd.CreateUser(map[string]any{"name": "Linus", "email": "linus@example.com"})
	start()
	wait("CREATED contacts "+id(later), "UPDATED incidents "+id(oldTicket))

	want := append(first, "UPDATED incidents "+id(oldTicket), "CREATED contacts "+id(later))
	mu.Lock()
	defer mu.Unlock()
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n got  %v\n want %v", got, want)
	}
	for e, n := range ids {
		if n > 1 {
			t.Errorf("event %s delivered %d times", e, n)
		}
	}
}

// TestZendeskOverfullSecond: 150 organizations updated in one second, more than a page of the
// time-based export holds, make its end_time equal its start_time. Every one still arrives, once,
// and a later change arrives too: the job moves past that second instead of re-reading it forever.
func TestZendeskOverfullSecond(t *testing.T) {
	var offset atomic.Int64
	zd := zendesk.New(zendesk.Options{Email: "e2e@example.com", APIToken: "zd-token", Seed: 8, MinAge: -1, RatePerMinute: 100_000,
		Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	offset.Store(int64(-time.Hour))
	ids := zd.BurstCreate("organizations", 150, nil)
	offset.Store(0)
	zs := httptest.NewServer(zd)
	defer zs.Close()
	h := newHarness(t)
	var mu sync.Mutex
	got := map[string]int{}
	rs := httptest.NewServer(&webhook.Receiver{Key: "zd-sig", Handle: func(n *webhook.Notification, _ []byte) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range n.Message.Events {
			got[e.EventType+" "+e.ObjectType+" "+e.ObjectID]++
		}
	}})
	defer rs.Close()
	srv := h.start()
	instance, err := demo.CreateInstance(context.Background(), srv.URL(), testUserSecret, testOrgSecret, "zendesk", map[string]string{
		"subdomain": "e2e", "email": "e2e@example.com", "api_token": "zd-token", "base.url": zs.URL,
		"event.notification.callback.url": rs.URL, "event.notification.signature.key": "zd-sig", "event.poller.refresh_interval": "0.01",
		"event.poller.configuration": `{"accounts": {}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The instance's first poll sets where its changes start.
	waitUntil(t, "the first poll", func() bool {
		return strings.Contains(get(t, srv.URL()+fmt.Sprintf("/instances/%d", instance)), `"lastPoll"`)
	})
	if err := zd.BurstUpdate("organizations", ids, map[string]any{"notes": "renewed"}); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	waitUntil(t, "150 organizations", func() bool { return count() >= 150 })
	later := zd.CreateOrganization(map[string]any{"name": "Later"})
	waitUntil(t, "the organization created after the burst", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["CREATED accounts "+fmt.Sprint(later["id"])] > 0
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if n := got["UPDATED accounts "+fmt.Sprint(id)]; n != 1 {
			t.Errorf("organization %d: %d UPDATED events, want 1", id, n)
		}
	}
}

// TestZendeskEndpointLimits: Zendesk's incremental exports allow 10 requests a minute each (20
// for users), apart from the account-wide limit. Polling every 0.6 s, Pollen paces each export
// to its limit: the vendor never answers 429, and polls that would wait long end early instead.
func TestZendeskEndpointLimits(t *testing.T) {
	zd := zendesk.New(zendesk.Options{Email: "e2e@example.com", APIToken: "zd-token", Seed: 9, MinAge: -1})
	zs := httptest.NewServer(zd)
	defer zs.Close()
	h := newHarness(t)
	srv := h.start()
	if _, err := demo.CreateInstance(context.Background(), srv.URL(), testUserSecret, testOrgSecret, "zendesk", map[string]string{
		"subdomain": "e2e", "email": "e2e@example.com", "api_token": "zd-token", "base.url": zs.URL,
		"event.notification.callback.url": h.recvURL, "event.poller.refresh_interval": "0.01",
	}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "more polls than the exports allow in a minute", func() bool {
		st := zd.Stats()
		return st.ByEndpoint["GET /api/v2/incremental/tickets/cursor"] >= 10
	})
	time.Sleep(3 * time.Second) // polls go on past the limit: they must wait for it, not hit it
	st := zd.Stats()
	if st.RateLimited != 0 {
		t.Errorf("the vendor answered %d 429s: %v", st.RateLimited, st.ByStatus)
	}
	if n := st.ByEndpoint["GET /api/v2/incremental/tickets/cursor"]; n > 10 {
		t.Errorf("%d ticket export requests within the minute, more than its 10", n)
	}
}
