package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/enginetest"
)

const trialKey = "TRIAL-api-key-0451"

// trialInstance is a freshdeskv2 instance polling incidents with a key that pages echo.
func trialInstance(t *testing.T) (*engine.Instance, *engine.JobSpec) {
	t.Helper()
	cat, probs := definitions.Compile(definitions.Builtin())
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	body := fmt.Sprintf(`{"element": {"key": "freshdeskv2"}, "name": "t", "configuration": {"subdomain": "acme",
		"username": %q, "event.notification.callback.url": "https://example.com/hook",
		"event.poller.configuration": {"incidents": {}}}}`, trialKey)
	in, probs := definitions.LoadInstance(cat, "body", []byte(body))
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	in.ID = 9
	in.CreatedAt = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	job, _ := in.Job("incidents")
	return in, job
}

// A trial's report explains every record, ties it to its page, shows the record that holds its
// stream, and carries no secret, not even one the vendor echoes.
func TestTrialReport(t *testing.T) {
	in, job := trialInstance(t)
	at := func(m int) string { return fmt.Sprintf("2024-03-01T10:%02d:00Z", m) }
	changes := fmt.Sprintf("[%s,%s,%s]",
		engine.TicketJSON(1, at(1), at(1), ""),
		engine.TicketJSON(2, "2024-02-01T00:00:00Z", "2024-02-29T23:59:00Z", ""), // before the window
		engine.TicketJSON(3, "2024-02-01T00:00:00Z", at(3), `,"echo":"`+trialKey+`"`))
	deleted := fmt.Sprintf("[%s]", engine.TicketJSON(4, at(1), "yesterday", `,"deleted":true`))
	src := &enginetest.PageSource{Answers: [][][]byte{{[]byte(changes)}, {[]byte(deleted)}}}
	p := &engine.Poller{Clock: &engine.FixedClock{T: in.CreatedAt.Add(5 * time.Minute)}}
	tr, err := p.Try(context.Background(), src, in, job, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := tr.Report(in, job, in.CreatedAt, true, nil)
	if len(rep.Requests) != 2 || rep.Requests[0].Records != 3 || rep.Requests[0].Status != 200 || rep.Requests[1].Records != 1 {
		t.Errorf("requests %+v", rep.Requests)
	}
	var got []string
	for _, r := range rep.Records {
		got = append(got, fmt.Sprintf("%d %s %s %s %s", r.Request, r.Stream, r.ID, r.Verdict, r.Type))
	}
	want := []string{"0 changes 1 event CREATED", "0 changes 2 below ", "0 changes 3 event UPDATED", "1 deleted 4 unreadable "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := rep.Records[1].Reason; !strings.Contains(r, "before the window's lower bound 2024-03-01T10:00:00Z") {
		t.Errorf("below: %q", r)
	}
	if r := rep.Records[3].Reason; !strings.Contains(r, `date at "updated_at" does not read`) || rep.Held == "" {
		t.Errorf("unreadable: %q, held %q", r, rep.Held)
	}
	if rep.Verdicts["event"] != 2 || rep.Verdicts["below"] != 1 || rep.Verdicts["unreadable"] != 1 {
		t.Errorf("verdicts %v", rep.Verdicts)
	}
	if len(rep.Notifications) != 1 || len(rep.Notifications[0].Body) == 0 {
		t.Fatalf("notifications %+v", rep.Notifications)
	}
	out, _ := json.Marshal(rep)
	if strings.Contains(string(out), trialKey) || !strings.Contains(string(rep.Notifications[0].Body), `"echo":"`+engine.Masked+`"`) {
		t.Errorf("the key is not masked in the report: %s", out)
	}
	if rep.Cursor.Streams[engine.StreamChanges] == nil || !rep.Cursor.Streams[engine.StreamChanges].Since.Equal(time.Date(2024, 3, 1, 10, 3, 0, 0, time.UTC)) {
		t.Errorf("cursor %+v", rep.Cursor.Streams[engine.StreamChanges])
	}
	if len(tr.Answers()) != 2 || !strings.HasPrefix(tr.Query(1, in), "GET /api/v2/tickets?filter=deleted&") {
		t.Errorf("answers %v, query %q", tr.Answers(), tr.Query(1, in))
	}
}

// A failed request's error is scrubbed like every other message.
func TestTrialReportError(t *testing.T) {
	in, job := trialInstance(t)
	src := &enginetest.PageSource{Err: errors.New("vendor said: bad key " + trialKey)}
	src.Answers = nil
	p := &engine.Poller{Clock: &engine.FixedClock{T: in.CreatedAt.Add(time.Minute)}}
	tr, err := p.Try(context.Background(), src, in, job, nil)
	if err == nil || tr == nil {
		t.Fatalf("trial %v, error %v", tr, err)
	}
	rep := tr.Report(in, job, in.CreatedAt, false, err)
	out, _ := json.Marshal(rep)
	if strings.Contains(string(out), trialKey) || !strings.Contains(rep.Error, "bad key "+engine.Masked) ||
		len(rep.Requests) != 1 || !strings.Contains(rep.Requests[0].Error, engine.Masked) {
		t.Errorf("report %s", out)
	}
}
