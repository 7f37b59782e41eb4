package golden

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// The scrubber replaces secrets everywhere, the rule's fields and email addresses consistently,
// and never the job's own fields.
func TestScrub(t *testing.T) {
	secrets := func(s string) string { return strings.ReplaceAll(s, "KEY-123", engine.Masked) }
	rule := ScrubRule{Fields: []string{"name", "*_name", "emails"}, Emails: true, Keep: []string{"display_name"}}
	for _, c := range []struct {
		name, in, want string
	}{
		{"names, one stand-in per value",
			`[{"id": 1, "name": "Ann", "first_name": "Ann"}, {"id": 2, "name": "Bob"}, {"id": 3, "name": "Ann"}]`,
			`[{"first_name":"first_name 1","id":1,"name":"name 1"},{"id":2,"name":"name 2"},{"id":3,"name":"name 1"}]`},
		{"emails anywhere, the same address the same stand-in",
			`{"users": [{"note": "mail ann@corp.example or bob@corp.example", "emails": ["ann@corp.example"]}]}`,
			`{"users":[{"emails":["person1@example.com"],"note":"mail person1@example.com or person2@example.com"}]}`},
		{"secrets and the live origin, wherever they are",
			`{"next": "http://127.0.0.1:9/api?key=KEY-123", "echo": "KEY-123"}`,
			`{"echo":"********","next":"https://vendor.example/api?key=********"}`},
		{"the job's id and date fields, and the rule's keep, are kept",
			`[{"id": "ann@corp.example", "updated_at": "2024-01-01 ann@corp.example", "display_name": "Ann", "name": null, "last_name": 7}]`,
			`[{"display_name":"Ann","id":"ann@corp.example","last_name":7,"name":null,"updated_at":"2024-01-01 ann@corp.example"}]`},
		{"nested fields are found at any depth; kept paths only where they are",
			`{"tickets": [{"id": 5, "requester": {"id": 9, "name": "Cy", "email": "cy@x.example"}}]}`,
			`{"tickets":[{"id":5,"requester":{"email":"person1@example.com","id":9,"name":"name 1"}}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := newScrubber(rule, secrets, []string{"id", "updated_at"}, "http://127.0.0.1:9", "https://vendor.example")
			out, err := scrubPage([]byte(c.in), sc)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			compact, _ := json.Marshal(v)
			if string(compact) != c.want {
				t.Errorf("got  %s\nwant %s", compact, c.want)
			}
		})
	}
}

// Numbers keep their digits: ids beyond float64's precision survive a recording.
func TestScrubKeepsNumbers(t *testing.T) {
	sc := newScrubber(DefaultScrub, func(s string) string { return s }, nil, "", "")
	out, err := scrubPage([]byte(`[{"id": 67000000000000123, "score": 1.50}]`), sc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "67000000000000123") || !strings.Contains(string(out), "1.50") {
		t.Errorf("%s", out)
	}
}

func TestReadScrubRule(t *testing.T) {
	for _, c := range []struct {
		in, err string
	}{
		{`{"fields": ["name", "*_email"], "emails": true}`, ""},
		{`{"fields": ["name"], "email": true}`, `unknown field "email"`},
		{`{"fields": ["[name"]}`, `field pattern "[name"`},
	} {
		_, err := ReadScrubRule([]byte(c.in))
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.in, err, c.err)
		}
	}
}

// Find returns a case itself, or every case below a folder; a folder without one is an error.
func TestFind(t *testing.T) {
	got, err := Find("../../testdata/golden/zendesk-tickets")
	if err != nil || len(got) != 1 {
		t.Errorf("one case: %v %v", got, err)
	}
	all, err := Find("../../testdata/golden")
	if err != nil || len(all) < 10 {
		t.Errorf("all cases: %d %v", len(all), err)
	}
	if _, err := Find(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no recorded case") {
		t.Errorf("empty folder: %v", err)
	}
}

// Lint names the file at fault: a definition given, or the case's instance.json where its own
// poller configuration sets the field; a case whose given definition does not load is not
// checked.
func TestLintPlaces(t *testing.T) {
	src := "../../testdata/golden/zendesk-tickets"
	dir := t.TempDir()
	for _, f := range []string{CaseFile, ExpectedFile, "p1.json", "p2.json", "p3.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The instance sets its own id field.
	body := `{"element": {"key": "zendesk"}, "name": "zendesk", "configuration": {"subdomain": "acme",
		"email": "admin@acme.example.com", "api_token": "tok", "event.notification.callback.url": "https://hooks.example.com/zd",
		"event.poller.configuration": {"incidents": {"idField": "ticket_id"}}}}`
	if err := os.WriteFile(filepath.Join(dir, InstanceFile), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	for _, f := range definitions.Builtin() {
		if f.Name == "builtin:zendesk/resources/incidents.json" {
			_ = json.Unmarshal(f.Data, &def)
		}
	}
	def["records"] = "ticket"
	data, _ := json.Marshal(def)
	given := definitions.File{Name: "mine/zendesk/resources/incidents.json", Kind: definitions.KindResource, Element: "zendesk", Resource: "incidents", Data: data}
	probs, why := c.Lint([]definitions.File{given})
	if why != "" {
		t.Fatalf("not checked: %s", why)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.File+": "+p.Pointer)
	}
	want := []string{"mine/zendesk/resources/incidents.json: /records"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	def["records"] = "tickets"
	data, _ = json.Marshal(def)
	given.Data = data
	probs, _ = c.Lint([]definitions.File{given})
	if len(probs) != 1 || probs[0].File != filepath.Join(dir, InstanceFile) ||
		probs[0].Pointer != "/configuration/event.poller.configuration/incidents/idField" {
		t.Errorf("the instance's own id field: %+v", probs)
	}
	given.Data = []byte(`{"vendorPath": 5}`)
	if probs, why := c.Lint([]definitions.File{given}); why == "" || len(probs) != 0 {
		t.Errorf("a broken given file: %+v, %q", probs, why)
	}
}

// Record refuses what would not replay as it ran.
func TestRecordRefuses(t *testing.T) {
	since := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	ok := engine.TrialRequest{URL: "https://acme.example/x", Page: engine.Page{Body: []byte(`[]`)}}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		dir   string
		trial engine.Trial
		since time.Time
		err   string
	}{
		{"from a stored cursor", t.TempDir(), engine.Trial{Requests: []engine.TrialRequest{ok}}, time.Time{}, "give --since"},
		{"a failed request", t.TempDir(), engine.Trial{Requests: []engine.TrialRequest{{URL: ok.URL, Err: errors.New("503")}}}, since, "a request failed: 503"},
		{"no request", t.TempDir(), engine.Trial{}, since, "made no request"},
		{"stopped early", t.TempDir(), engine.Trial{Requests: []engine.TrialRequest{ok}, Result: engine.PollResult{Stopped: "page budget"}}, since, "stopped before the end of its lists (page budget)"},
		{"a folder in use", full, engine.Trial{Requests: []engine.TrialRequest{ok}}, since, "is not empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Record(Recording{Dir: c.dir, Trial: &c.trial, Since: c.since, Instance: &engine.Instance{}, Rule: DefaultScrub})
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("error %v, want %q", err, c.err)
			}
		})
	}
}
