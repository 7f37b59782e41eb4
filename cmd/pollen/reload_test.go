package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

// TestHotReload drives the drop-in workflow against a running server: copy incidents.json to a
// new resource file and edit it, add the resource to an instance with PATCH, and see its events;
// then break the file (the last good version keeps serving and GET /definitions says where it is
// broken), fix it, remove it (the job pauses), and bring it back (the job resumes from its
// cursor). No restart.
func TestHotReload(t *testing.T) {
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	w.DefinitionsDir = t.TempDir()
	var requester map[string]any
	w.Desk.InThePast(func() {
		requester = w.Desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})
	})
	srv := w.Start()
	api := srv.API
	id := w.CreateInstance(api, nil)

	// Copy and edit, as a user would: a resource "escalations" of urgent tickets.
	src, err := os.ReadFile("../../definitions/freshdeskv2/resources/incidents.json")
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(string(src), "/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
		"/hubs/helpdesk/escalations?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' AND priority = 4", 1)
	path := filepath.Join(w.DefinitionsDir, "freshdeskv2", "resources", "escalations.json")
	rig.WriteFile(t, path, good)
	rig.Until(t, "escalations.json loaded", func() bool { return definitionState(api, "escalations.json") == "loaded" })

	// Add it to the instance with PATCH: the whole poller configuration, as clients send it.
	api.Must(http.MethodPatch, fmt.Sprintf("/instances/%d", id), `{"configuration": {"event.poller.configuration": {"incidents": {}, "contacts": {}, "escalations": {}}}}`)
	urgent := w.Desk.CreateTicket(map[string]any{"subject": "urgent", "priority": 4, "requester_id": requester["id"]})
	low := w.Desk.CreateTicket(map[string]any{"subject": "low", "priority": 1, "requester_id": requester["id"]})
	w.WaitFor(api, id, "CREATED escalations "+idOf(urgent), "CREATED incidents "+idOf(urgent), "CREATED incidents "+idOf(low))

	// Broken: the last good version keeps serving, and the API says which file and where.
	rig.WriteFile(t, path, `{"vendorPath": "/api/v2/tickets", "polling": {"url": 42}}`)
	rig.Until(t, "escalations.json failed", func() bool { return definitionState(api, "escalations.json") == "failed" })
	if body := api.Get("/definitions"); !strings.Contains(body, "/polling/url") {
		t.Errorf("GET /definitions does not point at the broken field: %s", body)
	}
	urgent2 := w.Desk.CreateTicket(map[string]any{"subject": "urgent while broken", "priority": 4, "requester_id": requester["id"]})
	w.WaitFor(api, id, "CREATED escalations "+idOf(urgent2))

	// Fixed: the error clears.
	rig.WriteFile(t, path, good)
	rig.Until(t, "escalations.json loaded again", func() bool { return definitionState(api, "escalations.json") == "loaded" })

	// Removed: the job pauses, visibly.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	rig.Until(t, "escalations paused", func() bool { return pollerState(api, id, "escalations") == "paused" })
	whilePaused := w.Desk.CreateTicket(map[string]any{"subject": "urgent while paused", "priority": 4, "requester_id": requester["id"]})

	// Back: it resumes from its cursor, so the change made while paused arrives.
	rig.WriteFile(t, path, good)
	rig.Until(t, "escalations polling", func() bool { return pollerState(api, id, "escalations") == "polling" })
	w.WaitFor(api, id, "CREATED escalations "+idOf(whilePaused))
	w.Recv.ExpectExactly(t,
		"CREATED escalations "+idOf(urgent), "CREATED incidents "+idOf(urgent), "CREATED incidents "+idOf(low),
		"CREATED escalations "+idOf(urgent2), "CREATED incidents "+idOf(urgent2),
		"CREATED escalations "+idOf(whilePaused), "CREATED incidents "+idOf(whilePaused),
	)
}

// definitionState is the state GET /definitions gives the file of the --definitions folder
// whose name ends with suffix.
func definitionState(api *rig.Client, suffix string) string {
	var resp struct {
		Files []struct {
			File, State, Source string
		} `json:"files"`
	}
	api.JSON("/definitions", &resp)
	for _, f := range resp.Files {
		if f.Source == "directory" && strings.HasSuffix(f.File, suffix) {
			return f.State
		}
	}
	return ""
}

// pollerState is the state of the instance's poller of objectType.
func pollerState(api *rig.Client, id int64, objectType string) string {
	for _, p := range api.Pollers(id) {
		if p.ObjectType == objectType {
			return p.State
		}
	}
	return ""
}
