package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/engine"
)

// tryPages answers a trial's vendor queries (now is testNow, 18:46:38; the last hour is the
// window): a ticket created in the window, one changed before it, one created long ago and changed
// in it, and one whose subject echoes the API key. The deleted query lists nothing.
func tryPages(req engine.Request) (engine.Page, error) {
	u, _ := url.Parse(req.URL)
	body := `[]`
	if u.Query().Get("filter") == "" {
		body = `[
 {"id": 1, "subject": "new", "created_at": "2017-08-07T18:00:00Z", "updated_at": "2017-08-07T18:00:00Z"},
 {"id": 3, "subject": "old, changed", "created_at": "2017-01-01T00:00:00Z", "updated_at": "2017-08-07T18:10:00Z"},
 {"id": 4, "subject": "key ` + hubAPIKey + `", "created_at": "2017-08-07T18:20:00Z", "updated_at": "2017-08-07T18:20:00Z"},
 {"id": 2, "subject": "before", "created_at": "2017-08-07T17:00:00Z", "updated_at": "2017-08-07T17:00:00Z"}]`
	}
	return engine.Page{Status: http.StatusOK, Body: []byte(body), Header: http.Header{}}, nil
}

func TestTryResource(t *testing.T) {
	h, src := newHubHarness(t)
	src.set(tryPages)
	type trial struct {
		engine.TrialReport
		Findings []findingJSON `json:"findings"`
	}
	for _, c := range []struct {
		name     string
		body     string
		verdicts map[string]int
		finding  string // pointer: message start, of a finding
	}{
		{name: "the instance's configuration, the last hour", body: ``,
			verdicts: map[string]int{"event": 3}, finding: `/updatedOrder`},
		{name: "a wider window", body: `{"since": "2h"}`, verdicts: map[string]int{"event": 4}},
		{name: "an edited configuration", body: `{"configuration": {"idField": "ticket_id"}}`,
			verdicts: map[string]int{"unreadable": 1},
			finding:  `/configuration/event.poller.configuration/incidents/idField: "ticket_id" is not a string or number in 4 of 4 records`},
		{name: "as a JSON string", body: `{"configuration": "{\"filter\": \"record.priorty == 1\"}"}`,
			verdicts: map[string]int{"filtered": 3},
			finding:  `/configuration/event.poller.configuration/incidents/filter: the filter reads record.priorty, which is in no record`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", "/instances/1/pollers/incidents/try", strings.NewReader(c.body),
				map[string]string{"Authorization": goodAuth, "Content-Type": "application/json"})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got trial
			r.json(t, &got)
			for k, n := range c.verdicts {
				if got.Verdicts[k] != n {
					t.Errorf("verdicts %v, want %s: %d", got.Verdicts, k, n)
				}
			}
			if got.Resource != "incidents" || len(got.Requests) < 2 || got.Requests[0].Status != 200 || got.Requests[0].Records != 4 {
				t.Errorf("trial %+v", got.TrialReport)
			}
			found := c.finding == ""
			for _, f := range got.Findings {
				found = found || strings.HasPrefix(f.Pointer+": "+f.Message, c.finding)
			}
			if !found {
				t.Errorf("no finding %q in %+v", c.finding, got.Findings)
			}
		})
	}
	// The vendor lists these newest first, yet the resource says oldest first: the finding names
	// the resource definition.
	r := h.do("POST", "/instances/1/pollers/incidents/try", nil, nil)
	if !strings.Contains(string(r.body), `"in":"resource freshdeskv2/incidents","pointer":"/updatedOrder"`) {
		t.Errorf("finding on the resource definition: %s", r.body)
	}
	// A trial commits nothing: the fake runtime saw nothing applied.
	if n := len(h.rt.applied); n != 0 {
		t.Errorf("a trial applied %d instances", n)
	}

	alice := h.newTenant("acme", engine.RoleUser, "alice@acme.example")
	for _, c := range []struct {
		name, method, path, body string
		auth                     *tenant
		status                   int
		pointer                  string
	}{
		{name: "another tenant's instance", method: "POST", path: "/instances/1/pollers/incidents/try", auth: &alice, status: 404},
		{name: "no such instance", method: "POST", path: "/instances/99/pollers/incidents/try", status: 404},
		{name: "no such resource", method: "POST", path: "/instances/1/pollers/tickets/try", status: 400,
			pointer: "/configuration/event.poller.configuration/tickets"},
		{name: "a bad window", method: "POST", path: "/instances/1/pollers/incidents/try", body: `{"since": "a week"}`, status: 400, pointer: "/since"},
		{name: "a window too wide", method: "POST", path: "/instances/1/pollers/incidents/try", body: `{"since": "200h"}`, status: 400, pointer: "/since"},
		{name: "an unknown field", method: "POST", path: "/instances/1/pollers/incidents/try", body: `{"window": "1h"}`, status: 400},
		{name: "a bad configuration", method: "POST", path: "/instances/1/pollers/incidents/try", body: `{"configuration": {"idFeld": "id"}}`, status: 400,
			pointer: "/configuration/event.poller.configuration/incidents"},
		{name: "GET", method: "GET", path: "/instances/1/pollers/incidents/try", status: 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": goodAuth, "Content-Type": "application/json"}
			if c.auth != nil {
				hdr["Authorization"] = c.auth.auth
			}
			e := assertError(t, h.do(c.method, c.path, strings.NewReader(c.body), hdr), c.status)
			if c.pointer == "" {
				return
			}
			for _, p := range e.Errors {
				if strings.HasPrefix(p.Pointer, c.pointer) {
					return
				}
			}
			t.Errorf("no problem at %s in %+v", c.pointer, e.Errors)
		})
	}
	h.assertNoSecrets(hubAPIKey)
}
