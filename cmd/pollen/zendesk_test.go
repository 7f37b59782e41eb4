package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/zendesk"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

// TestZendeskEndToEnd: an instance of the zendesk element, created through POST /instances from
// its example body and pointed at the Zendesk simulator, delivers CREATED, UPDATED and DELETED for
// tickets and CREATED and UPDATED for users; after a restart it resumes from the vendor cursor
// kept with its job cursor, delivering what changed while it was down, once, and nothing again.
func TestZendeskEndToEnd(t *testing.T) {
	zd := rig.NewZendesk(t, zendesk.Options{Seed: 7, MinAge: -1, RatePerMinute: 100_000})
	// Records that predate the instance: they are the ones updated and deleted below, so that
	// every expected event is observable whatever the polls' timing (a record created and then
	// changed between two polls is, rightly, seen only in its final state).
	var oldUser, oldTicket, doomed map[string]any
	zd.InThePast(func() {
		oldUser = zd.CreateUser(map[string]any{"name": "Ada", "email": "ada@example.com"})
		oldTicket = zd.CreateTicket(map[string]any{"subject": "Help", "requester_id": oldUser["id"]})
		doomed = zd.CreateTicket(map[string]any{"subject": "Spam", "requester_id": oldUser["id"]})
	})
	recv := rig.NewReceiver(t)
	cfg := rig.Loopback(t.TempDir())
	cfg.DefinitionsDir = liftZendeskLimits(t)
	srv := rig.Start(t, cfg)
	id := srv.API.CreateInstance("zendesk", zd.Instance(recv))
	wait := func(api *rig.Client, want ...string) {
		t.Helper()
		rig.Until(t, fmt.Sprint(want), func() bool { return recv.Has(want...) })
		api.Settle(id)
	}

	user := zd.CreateUser(map[string]any{"name": "Grace", "email": "grace@example.com"})
	ticket := zd.CreateTicket(map[string]any{"subject": "New", "requester_id": user["id"]})
	_, err := zd.UpdateTicket(oldTicket["id"].(int64), map[string]any{"status": "pending"})
	must(t, err)
	_, err = zd.UpdateUser(oldUser["id"].(int64), map[string]any{"phone": "+15550100"})
	must(t, err)
	must(t, zd.DeleteTicket(doomed["id"].(int64)))
	first := []string{
		"CREATED contacts " + idOf(user), "UPDATED contacts " + idOf(oldUser),
		"CREATED incidents " + idOf(ticket), "UPDATED incidents " + idOf(oldTicket), "DELETED incidents " + idOf(doomed),
	}
	wait(srv.API, first...)
	srv.Stop()

	// While Pollen is down: a later change of a record already reported, and a new record.
	zd.NextSecond() // a new vendor second, so that the change has its own date
	_, err = zd.UpdateTicket(oldTicket["id"].(int64), map[string]any{"status": "solved"})
	must(t, err)
	later := zd.CreateUser(map[string]any{"name": "Linus", "email": "linus@example.com"})
	srv = rig.Start(t, cfg)
	wait(srv.API, "CREATED contacts "+idOf(later), "UPDATED incidents "+idOf(oldTicket))

	recv.ExpectExactly(t, append(first, "UPDATED incidents "+idOf(oldTicket), "CREATED contacts "+idOf(later))...)
}

// TestZendeskOverfullSecond: 150 organizations updated in one second, more than a page of the
// time-based export holds, make its end_time equal its start_time. Every one still arrives, once,
// and a later change arrives too: the job moves past that second instead of re-reading it forever.
func TestZendeskOverfullSecond(t *testing.T) {
	zd := rig.NewZendesk(t, zendesk.Options{Seed: 8, MinAge: -1, RatePerMinute: 100_000})
	var ids []int64
	zd.InThePast(func() { ids = zd.BurstCreate("organizations", 150, nil) })
	recv := rig.NewReceiver(t)
	cfg := rig.Loopback(t.TempDir())
	cfg.DefinitionsDir = liftZendeskLimits(t)
	srv := rig.Start(t, cfg)
	conf := zd.Instance(recv)
	conf["event.poller.configuration"] = `{"accounts": {}}`
	instance := srv.API.CreateInstance("zendesk", conf)
	// The instance's first poll sets where its changes start.
	srv.API.Polled(instance, time.Time{})
	if err := zd.BurstUpdate("organizations", ids, map[string]any{"notes": "renewed"}); err != nil {
		t.Fatal(err)
	}
	rig.Until(t, "150 organizations", func() bool { return len(recv.Events()) >= 150 })
	later := zd.CreateOrganization(map[string]any{"name": "Later"})
	rig.Until(t, "the organization created after the burst", func() bool { return recv.Has("CREATED accounts " + idOf(later)) })
	srv.API.Settle(instance)
	want := []string{"CREATED accounts " + idOf(later)}
	for _, id := range ids {
		want = append(want, fmt.Sprintf("UPDATED accounts %d", id))
	}
	recv.ExpectExactly(t, want...)
}

// TestZendeskEndpointLimits: Zendesk's incremental exports allow 10 requests a minute each (20
// for users), apart from the account-wide limit. Polling every 0.6 s, Pollen paces each export
// to its limit: the vendor never answers 429, and polls that would wait long end early instead.
func TestZendeskEndpointLimits(t *testing.T) {
	zd := rig.NewZendesk(t, zendesk.Options{Seed: 9, MinAge: -1})
	recv := rig.NewReceiver(t)
	srv := rig.Start(t, rig.Loopback(t.TempDir()))
	id := srv.API.CreateInstance("zendesk", zd.Instance(recv))
	rig.Until(t, "as many ticket export requests as the limit allows in a minute", func() bool {
		return zd.Stats().ByEndpoint["GET /api/v2/incremental/tickets/cursor"] >= 10
	})
	// Polls go on past the limit: they must wait for it, not hit it.
	for range 3 {
		srv.API.Polled(id, time.Now())
	}
	st := zd.Stats()
	if st.RateLimited != 0 {
		t.Errorf("the vendor answered %d 429s: %v", st.RateLimited, st.ByStatus)
	}
	if n := st.ByEndpoint["GET /api/v2/incremental/tickets/cursor"]; n > 10 {
		t.Errorf("%d ticket export requests within the minute, more than its 10", n)
	}
}

// liftZendeskLimits returns a definitions folder that lifts the Zendesk exports' own limits (10
// requests a minute, TestZendeskEndpointLimits), for tests that poll every 0.6 s and wait seconds,
// not minutes.
func liftZendeskLimits(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, res := range []string{"incidents", "contacts", "accounts"} {
		src, err := os.ReadFile("../../definitions/zendesk/resources/" + res + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var def map[string]any
		if err := json.Unmarshal(src, &def); err != nil {
			t.Fatal(err)
		}
		def["rateLimit"] = map[string]any{"requests": 10_000, "seconds": 60}
		b, _ := json.Marshal(def)
		rig.WriteFile(t, filepath.Join(dir, "zendesk", "resources", res+".json"), string(b))
	}
	return dir
}
