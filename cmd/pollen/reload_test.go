package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHotReload drives the drop-in workflow against a running server: copy incidents.json to a
// new resource file and edit it, add the resource to an instance with PATCH, and see its events;
// then break the file (the last good version keeps serving and GET /definitions says where it is
// broken), fix it, remove it (the job pauses), and bring it back (the job resumes from its
// cursor). No restart.
func TestHotReload(t *testing.T) {
	h := newHarness(t)
	h.defsDir = t.TempDir()
	var requester map[string]any
	h.inThePast(func() {
		requester = h.desk.CreateContact(map[string]any{"name": "Requester", "email": "req@example.com"})
	})
	srv := h.start()
	id := h.createInstance(srv)

	// Copy and edit, as a user would: a resource "escalations" of urgent tickets.
	src, err := os.ReadFile("../../definitions/freshdeskv2/resources/incidents.json")
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(string(src), "/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
		"/hubs/helpdesk/escalations?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' AND priority = 4", 1)
	path := filepath.Join(h.defsDir, "freshdeskv2", "resources", "escalations.json")
	writeAtomically(t, path, good)
	waitUntil(t, "escalations.json loaded", func() bool { return definitionState(t, srv, "escalations.json") == "loaded" })

	// Add it to the instance with PATCH: the whole poller configuration, as clients send it.
	patch(t, srv, id, `{"configuration": {"event.poller.configuration": {"incidents": {}, "contacts": {}, "escalations": {}}}}`)
	urgent := h.desk.CreateTicket(map[string]any{"subject": "urgent", "priority": 4, "requester_id": requester["id"]})
	low := h.desk.CreateTicket(map[string]any{"subject": "low", "priority": 1, "requester_id": requester["id"]})
	h.waitFor("CREATED escalations "+idOf(urgent), "CREATED incidents "+idOf(urgent), "CREATED incidents "+idOf(low))

	// Broken: the last good version keeps serving, and the API says which file and where.
	writeAtomically(t, path, `{"vendorPath": "/api/v2/tickets", "polling": {"url": 42}}`)
	waitUntil(t, "escalations.json failed", func() bool { return definitionState(t, srv, "escalations.json") == "failed" })
	if body := get(t, srv.URL()+"/definitions"); !strings.Contains(body, "/polling/url") {
		t.Errorf("GET /definitions does not point at the broken field: %s", body)
	}
	urgent2 := h.desk.CreateTicket(map[string]any{"subject": "urgent while broken", "priority": 4, "requester_id": requester["id"]})
	h.waitFor("CREATED escalations " + idOf(urgent2))

	// Fixed: the error clears.
	writeAtomically(t, path, good)
	waitUntil(t, "escalations.json loaded again", func() bool { return definitionState(t, srv, "escalations.json") == "loaded" })

	// Removed: the job pauses, visibly.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "escalations paused", func() bool { return pollerState(t, srv, id, "escalations") == "paused" })
	whilePaused := h.desk.CreateTicket(map[string]any{"subject": "urgent while paused", "priority": 4, "requester_id": requester["id"]})

	// Back: it resumes from its cursor, so the change made while paused arrives.
	writeAtomically(t, path, good)
	waitUntil(t, "escalations polling", func() bool { return pollerState(t, srv, id, "escalations") == "polling" })
	h.waitFor("CREATED escalations " + idOf(whilePaused))
	h.expectExactly(
		"CREATED escalations "+idOf(urgent), "CREATED incidents "+idOf(urgent), "CREATED incidents "+idOf(low),
		"CREATED escalations "+idOf(urgent2), "CREATED incidents "+idOf(urgent2),
		"CREATED escalations "+idOf(whilePaused), "CREATED incidents "+idOf(whilePaused),
	)
}

// writeAtomically saves a file the way many editors do: a temporary file renamed over it.
func writeAtomically(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func definitionState(t *testing.T, srv *runningServer, suffix string) string {
	var resp struct {
		Files []struct {
			File, State, Source string
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(get(t, srv.URL()+"/definitions")), &resp); err != nil {
		t.Fatal(err)
	}
	for _, f := range resp.Files {
		if f.Source == "directory" && strings.HasSuffix(f.File, suffix) {
			return f.State
		}
	}
	return ""
}

func pollerState(t *testing.T, srv *runningServer, id int64, objectType string) string {
	var resp struct {
		Pollers []struct {
			ObjectType, State string
		} `json:"pollers"`
	}
	if err := json.Unmarshal([]byte(get(t, srv.URL()+fmt.Sprintf("/instances/%d", id))), &resp); err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Pollers {
		if p.ObjectType == objectType {
			return p.State
		}
	}
	return ""
}

func patch(t *testing.T, srv *runningServer, id int64, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, srv.URL()+fmt.Sprintf("/instances/%d", id), bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "User user-secret-0f3e-49ab-a8c1-5d72e6, Organization org-secret-7b21-4c9d-9e05-a3f86b")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %s %s", resp.Status, b)
	}
}
