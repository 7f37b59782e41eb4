package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/freshdesk"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/cmd/internal/trial"
	"github.com/pollen-hq/pollen/definitions/golden"
)

// tryAPIKey is the simulated vendor's API key: it must appear nowhere pollen try writes.
const tryAPIKey = "try-api-key-7c0ffee5ecret"

// tryDesk starts a simulated Freshdesk with sample tickets (over the last 60 days), one of
// which echoes the API key in its subject, and returns its base URL.
func tryDesk(t *testing.T) string {
	t.Helper()
	desk := rig.NewFreshdesk(t, rig.FreshdeskOptions{Desk: freshdesk.Options{APIKey: tryAPIKey, Seed: 19}})
	desk.Seed(25, 10)
	desk.CreateTicket(map[string]any{"subject": "the key is " + tryAPIKey, "email": "jane.roe@customer.example"})
	return desk.URL
}

// tryBody writes an instance body polling incidents of the desk at base, with the poller
// configuration given, and returns its file.
func tryBody(t *testing.T, dir, base string, poller map[string]any) string {
	t.Helper()
	if poller == nil {
		poller = map[string]any{}
	}
	body := map[string]any{
		"element": map[string]any{"key": "freshdeskv2"},
		"name":    "try",
		"configuration": map[string]any{
			"subdomain": "acme", "username": tryAPIKey, "base.url": base,
			"event.notification.callback.url": "https://example.com/hooks",
			"event.poller.configuration":      map[string]any{"incidents": poller},
		},
	}
	b, _ := json.MarshalIndent(body, "", "  ")
	p := filepath.Join(dir, "body.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeResource writes a resource definition into a definitions folder and returns its file.
func writeResource(t *testing.T, defs, element, resource string, def map[string]any) string {
	t.Helper()
	p := filepath.Join(defs, element, "resources", resource+".json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(def, "", "  ")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		m = m[k].(map[string]any)
	}
	return m
}

// A recording replays in go test to what it recorded, holds no secret and no email address, and
// is what validate --samples lints.
func TestTryRecordReplays(t *testing.T) {
	base := tryDesk(t)
	dir := t.TempDir()
	body := tryBody(t, dir, base, nil)
	rec := filepath.Join(dir, "case")
	code, out, errOut := runCLI(t, "try", body, "incidents", "--since", "90d", "--allow-private-networks", "--record", rec, "--show-bodies")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "CREATED") || !strings.Contains(out, "Recorded in "+rec) {
		t.Errorf("output:\n%s", out)
	}
	if !strings.Contains(out, "the key is ********") {
		t.Errorf("the echoed key is not shown masked:\n%s", out)
	}
	c, err := golden.Read(rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Run()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(rec, golden.ExpectedFile))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) || !strings.Contains(got, "CREATED incidents") {
		t.Errorf("replay:\n%s\nrecorded expected.txt:\n%s", got, want)
	}
	if strings.Contains(out+errOut, tryAPIKey) {
		t.Errorf("the API key is in the output")
	}
	files, _ := filepath.Glob(filepath.Join(rec, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, leak := range []string{tryAPIKey, "jane.roe@customer.example", "127.0.0.1"} {
			if strings.Contains(string(b), leak) {
				t.Errorf("%s holds %q", f, leak)
			}
		}
	}
	// The recording is a sample the built-in definitions pass.
	code, out, errOut = runCLI(t, "validate", "--samples", rec)
	if code != cli.ExitOK {
		t.Errorf("validate --samples: exit %d\n%s\n%s", code, out, errOut)
	}
	// And a recording is tried offline as it was online.
	code, out, errOut = runCLI(t, "try", "--from", rec)
	if code != cli.ExitOK || !strings.Contains(out, "against the recording in "+rec) || !strings.Contains(out, "CREATED") {
		t.Errorf("try --from: exit %d\n%s\n%s", code, out, errOut)
	}
}

// Planted faults are found by try against the vendor and by validate --samples against a
// recording, each as FILE: /pointer: message on the file at fault.
func TestTryFindsPlantedFaults(t *testing.T) {
	base := tryDesk(t)
	dir := t.TempDir()
	good := tryBody(t, dir, base, nil)
	rec := filepath.Join(dir, "case")
	if code, out, errOut := runCLI(t, "try", good, "incidents", "--since", "90d", "--allow-private-networks", "--record", rec); code != cli.ExitOK {
		t.Fatalf("recording: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, c := range []struct {
		name   string
		def    func(map[string]any)       // edits the resource definition; nil: the built-in one
		poller map[string]any             // the instance body's poller configuration
		file   func(def, b string) string // the file the finding names
		want   string                     // pointer: message, after the file
		sample bool                       // validate --samples finds it in the recording too
	}{
		{
			name: "wrong records path",
			def:  func(d map[string]any) { d["records"] = "tickets" },
			file: func(def, _ string) string { return def },
			want: `/records: "tickets" finds no array of records in `, sample: true,
		},
		{
			name: "date format that does not match",
			def: func(d map[string]any) {
				dig(d, "polling", "datesConfiguration")["updatedDateFormat"] = "dd/MM/yyyy HH:mm"
			},
			file: func(def, _ string) string { return def },
			want: `/polling/datesConfiguration/updatedDateFormat: "dd/MM/yyyy HH:mm" does not read `, sample: true,
		},
		{
			name: "reversed updatedOrder",
			def:  func(d map[string]any) { d["updatedOrder"] = "desc" },
			file: func(def, _ string) string { return def },
			want: `/updatedOrder: is "desc", but the vendor does not list this query newest first`, sample: true,
		},
		{
			name: "filter on a field that does not exist",
			def:  func(d map[string]any) { d["filter"] = "record.priorty >= 1" },
			file: func(def, _ string) string { return def },
			want: `/filter: the filter reads record.priorty, which is in no record of the samples`, sample: true,
		},
		{
			name:   "poller filter comparing a number with a string",
			poller: map[string]any{"filter": `record.status == "open"`},
			file:   func(_, b string) string { return b },
			want:   `/configuration/event.poller.configuration/incidents/filter: the filter compares record.status with a string, but the samples hold number there`,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			defs := filepath.Join(dir, "defs")
			var defFile string
			args := []string{}
			if c.def != nil {
				d := rig.BuiltinResource(t, "freshdeskv2", "incidents")
				c.def(d)
				defFile = writeResource(t, defs, "freshdeskv2", "incidents", d)
				args = append(args, "--definitions", defs)
			}
			body := tryBody(t, dir, base, c.poller)
			finding := c.file(defFile, body) + ": " + c.want
			code, out, errOut := runCLI(t, append([]string{"try", body, "incidents", "--since", "90d", "--allow-private-networks"}, args...)...)
			if code != cli.ExitFail || !strings.Contains(out, finding) {
				t.Errorf("try: exit %d, want %d and %q in\n%s\n%s", code, cli.ExitFail, finding, out, errOut)
			}
			if strings.Contains(out+errOut, tryAPIKey) {
				t.Errorf("the API key is in the output")
			}
			if !c.sample {
				return
			}
			code, out, errOut = runCLI(t, "validate", defs, "--samples", rec)
			if code != cli.ExitFail || !strings.Contains(out, finding) {
				t.Errorf("validate --samples: exit %d, want %d and %q in\n%s\n%s", code, cli.ExitFail, finding, out, errOut)
			}
		})
	}
}

// The window of a trial: a duration before now, or a date.
func TestParseSince(t *testing.T) {
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "1h", want: now.Add(-time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "3d", want: now.Add(-72 * time.Hour)},
		{in: "2024-02-01", want: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2024-02-01T08:30:00Z", want: time.Date(2024, 2, 1, 8, 30, 0, 0, time.UTC)},
		{in: "2024-02-01T08:30:00+02:00", want: time.Date(2024, 2, 1, 6, 30, 0, 0, time.UTC)},
		{in: "-1h", bad: true},
		{in: "0s", bad: true},
		{in: "2025-01-01", bad: true}, // the future
		{in: "yesterday", bad: true},
		{in: "1.5d", bad: true},
	} {
		got, err := trial.ParseSince(c.in, now)
		switch {
		case c.bad && err == nil:
			t.Errorf("%q: %v, want an error", c.in, got)
		case !c.bad && (err != nil || !got.Equal(c.want)):
			t.Errorf("%q: %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// Usage errors exit 2 and say what is wrong.
func TestTryUsage(t *testing.T) {
	for _, c := range []struct {
		args  []string
		errIn string
	}{
		{[]string{"try"}, "no BODY given"},
		{[]string{"try", "a.json", "incidents", "extra"}, "unexpected arguments"},
		{[]string{"try", "--instance", "4", "--from", "x"}, "not both"},
		{[]string{"try", "--from", "x", "--since", "1h"}, "do not go with --from"},
		{[]string{"try", "a.json", "--scrub", "r.json"}, "--scrub goes with --record"},
		{[]string{"try", "a.json", "--since", "soon"}, `--since "soon"`},
		{[]string{"try", "a.json", "--format", "xml"}, "--format must be"},
	} {
		code, _, errOut := runCLI(t, c.args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, c.errIn) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, cli.ExitUsage, c.errIn)
		}
	}
}

// A stored instance is tried from its stored cursor (what its next poll would read), with its
// sealed credentials, while the server runs; or from --since.
func TestTryInstance(t *testing.T) {
	w := rig.NewWorld(t, rig.FreshdeskOptions{})
	srv := w.Start()
	id := w.CreateInstance(srv.API, nil)
	ticket := w.Desk.CreateTicket(map[string]any{"subject": "after the instance"})
	w.WaitFor(srv.API, id, "CREATED incidents "+idOf(ticket)) // delivered, so committed: the cursor is past it
	code, out, errOut := runCLI(t, "try", "--instance", fmt.Sprint(id), "--data-dir", w.DataDir, "incidents", "--allow-private-networks")
	if code != cli.ExitOK || !strings.Contains(out, "from its stored cursor") || strings.Contains(out, "CREATED    "+idOf(ticket)) {
		t.Errorf("from the stored cursor: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "try", "--instance", fmt.Sprint(id), "--data-dir", w.DataDir, "incidents", "--allow-private-networks", "--since", "1h", "--format", "json")
	var rep struct {
		Since   *time.Time `json:"since"`
		Records []struct{ ID, Verdict, Type string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errOut)
	}
	found := false
	for _, r := range rep.Records {
		found = found || r.ID == idOf(ticket) && r.Verdict == "event" && r.Type == "CREATED"
	}
	if code != cli.ExitOK || rep.Since == nil || !found {
		t.Errorf("from --since 1h: exit %d, %+v\n%s", code, rep, errOut)
	}
	if strings.Contains(out+errOut, rig.APIKey) {
		t.Error("the API key is in the output")
	}
	if code, _, errOut := runCLI(t, "try", "--instance", "99", "--data-dir", w.DataDir, "incidents"); code != cli.ExitFail || !strings.Contains(errOut, "instance 99") {
		t.Errorf("no such instance: exit %d, %s", code, errOut)
	}
}

// validate --samples: a recorded case lints clean with the definitions it was recorded with;
// a folder without a case is a usage error.
func TestValidateSamples(t *testing.T) {
	for _, c := range []struct {
		args  []string
		code  int
		errIn string
	}{
		{[]string{"validate", "--samples", "../../testdata/golden/zendesk-agents"}, cli.ExitOK, "1 recorded cases linted"},
		{[]string{"validate", "../../definitions", "--samples", "../../testdata/golden/zendesk-tickets", "--samples", "../../testdata/golden/zendesk-users"}, cli.ExitOK, "2 recorded cases linted"},
		{[]string{"validate", "--samples", "../../testdata/golden/bad-page"}, cli.ExitFail, "1 problems"},
		{[]string{"validate", "--samples", "../../definitions"}, cli.ExitUsage, "no recorded case"},
	} {
		code, out, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.errIn) {
			t.Errorf("%v: exit %d, want %d and %q\n%s\n%s", c.args, code, c.code, c.errIn, out, errOut)
		}
	}
}
