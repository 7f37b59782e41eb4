package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

func idOf(rec map[string]any) string { return fmt.Sprint(rec["id"]) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestEndToEnd: seed 000's body against the simulator; new, updated and deleted tickets and
// contacts each give exactly one signed event, and records that predate the instance none.
func TestEndToEnd(t *testing.T) {
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	desk := w.Desk
	var oldTicket, oldTicket2 map[string]any
	var oldContact, oldContact2 map[string]any
	desk.InThePast(func() {
		oldContact = desk.CreateContact(map[string]any{"name": "Old Contact", "email": "old@example.com"})
		oldContact2 = desk.CreateContact(map[string]any{"name": "Old Contact 2", "email": "old2@example.com"})
		oldTicket = desk.CreateTicket(map[string]any{"subject": "old ticket", "requester_id": oldContact["id"]})
		oldTicket2 = desk.CreateTicket(map[string]any{"subject": "old ticket 2", "requester_id": oldContact["id"]})
	})
	srv := w.Start()
	id := w.CreateInstance(srv.API, nil)

	newContact := desk.CreateContact(map[string]any{"name": "New Contact", "email": "new@example.com"})
	newTicket := desk.CreateTicket(map[string]any{"subject": "new ticket", "requester_id": newContact["id"]})
	_, err := desk.UpdateTicket(oldTicket["id"].(int64), map[string]any{"priority": 4})
	must(t, err)
	_, err = desk.UpdateContact(oldContact["id"].(int64), map[string]any{"job_title": "CTO"})
	must(t, err)
	must(t, desk.DeleteTicket(oldTicket2["id"].(int64)))
	must(t, desk.DeleteContact(oldContact2["id"].(int64)))

	want := []string{
		"CREATED contacts " + idOf(newContact), "CREATED incidents " + idOf(newTicket),
		"UPDATED incidents " + idOf(oldTicket), "UPDATED contacts " + idOf(oldContact),
		"DELETED incidents " + idOf(oldTicket2), "DELETED contacts " + idOf(oldContact2),
	}
	w.WaitFor(srv.API, id, want...)
	w.Recv.ExpectExactly(t, want...)

	// The instance as the API shows it never carries the API key or the signature key.
	body := srv.API.Get(fmt.Sprintf("/instances/%d", id))
	for _, secret := range []string{rig.APIKey, rig.SignatureKey, rig.UserSecret, rig.OrgSecret} {
		if strings.Contains(body, secret) {
			t.Errorf("GET /instances/%d shows a secret: %s", id, body)
		}
	}
}

// TestRestart: changes made while Pollen is down arrive after it starts again, once, and what
// was delivered before is not delivered again.
func TestRestart(t *testing.T) {
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	desk := w.Desk
	var old map[string]any
	desk.InThePast(func() {
		c := desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})
		old = desk.CreateTicket(map[string]any{"subject": "old", "requester_id": c["id"]})
	})
	srv := w.Start()
	id := w.CreateInstance(srv.API, nil)
	first := desk.CreateTicket(map[string]any{"subject": "before the restart", "requester_id": old["requester_id"]})
	w.WaitFor(srv.API, id, "CREATED incidents "+idOf(first))
	srv.Stop()

	// While Pollen is down.
	_, err := desk.UpdateTicket(old["id"].(int64), map[string]any{"status": 4})
	must(t, err)
	down := desk.CreateContact(map[string]any{"name": "Made While Down", "email": "down@example.com"})
	must(t, desk.DeleteTicket(first["id"].(int64)))

	srv = w.Start()
	want := []string{
		"CREATED incidents " + idOf(first),
		"UPDATED incidents " + idOf(old), "CREATED contacts " + idOf(down), "DELETED incidents " + idOf(first),
	}
	w.WaitFor(srv.API, id, want...)
	w.Recv.ExpectExactly(t, want...)
}
