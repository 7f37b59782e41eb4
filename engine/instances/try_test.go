package instances

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/engine"
)

// A trial body polls the one resource tried: with the configuration given, the body's own (an
// object or a JSON string), or the definition's default.
func TestTrialBody(t *testing.T) {
	for _, c := range []struct {
		name, pollers, conf, want, err string
	}{
		{name: "not configured: the default", pollers: `{"contacts": {}}`, want: `{"incidents":{}}`},
		{name: "the body's own, others left out", pollers: `{"incidents": {"idField": "x"}, "contacts": {}}`, want: `{"incidents":{"idField":"x"}}`},
		{name: "the body's own, as a JSON string", pollers: `"{\"incidents\": {\"pageSize\": 5}}"`, want: `{"incidents":{"pageSize":5}}`},
		{name: "the one given wins", pollers: `{"incidents": {"idField": "x"}}`, conf: `{"idField": "y"}`, want: `{"incidents":{"idField":"y"}}`},
		{name: "the one given, as a JSON string", conf: `"{\"idField\": \"z\"}"`, want: `{"incidents":{"idField":"z"}}`},
		{name: "no poller configuration at all", want: `{"incidents":{}}`},
		{name: "a bad one given", conf: `{"idField": `, err: "not JSON"},
		{name: "a bad string given", conf: `"{"`, err: "not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := map[string]any{"subdomain": "acme", engine.KeyRefreshInterval: "0.001"}
			if c.pollers != "" {
				var v any
				if err := json.Unmarshal([]byte(c.pollers), &v); err != nil {
					t.Fatal(err)
				}
				conf[engine.KeyPollerConfig] = v
			}
			body, _ := json.Marshal(map[string]any{"element": map[string]any{"key": "freshdeskv2"}, "configuration": conf})
			out, err := TrialBody(body, "incidents", json.RawMessage(c.conf))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b struct {
				Configuration map[string]json.RawMessage `json:"configuration"`
			}
			if err := json.Unmarshal(out, &b); err != nil {
				t.Fatal(err)
			}
			if got := string(b.Configuration[engine.KeyPollerConfig]); got != c.want {
				t.Errorf("poller configuration %s, want %s", got, c.want)
			}
			if string(b.Configuration["subdomain"]) != `"acme"` {
				t.Errorf("the rest of the configuration is lost: %s", out)
			}
			if _, ok := b.Configuration[engine.KeyRefreshInterval]; ok {
				t.Errorf("the interval is kept: %s", out)
			}
		})
	}
}

// Service.Trial compiles an instance the principal sees for a trial of one resource, and nothing
// else: another principal gets ErrNotFound, a bad configuration its problems, scrubbed.
func TestServiceTrial(t *testing.T) {
	s, _, rt := newService(t)
	ctx := context.Background()
	ann := engine.Principal{UserID: 10, OrganizationID: 1, Role: engine.RoleUser}
	other := engine.Principal{UserID: 20, OrganizationID: 2, Role: engine.RoleOrgAdmin}
	in, err := s.Create(ctx, ann, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	id := in.Record.ID
	applied := len(rt.applied)
	tin, job, err := s.Trial(ctx, ann, id, "groups", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tin.ID != id || job.ObjectType != "groups" || len(tin.Jobs) != 1 || tin.CreatedAt.IsZero() {
		t.Errorf("trial instance %d, job %s, %d jobs", tin.ID, job.ObjectType, len(tin.Jobs))
	}
	if len(rt.applied) != applied {
		t.Errorf("a trial applied an instance")
	}
	if _, _, err := s.Trial(ctx, other, id, "incidents", nil); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("another organization's trial: %v", err)
	}
	_, _, err = s.Trial(ctx, ann, id, "incidents", json.RawMessage(`{"idField": 5, "filter": "fd-KEY-0a1b =="}`))
	var pe *ProblemsError
	if !errors.As(err, &pe) || len(pe.Problems) == 0 {
		t.Fatalf("bad configuration: %v", err)
	}
	if strings.Contains(pe.Error(), "fd-KEY-0a1b") || !strings.HasPrefix(pe.Problems[0].Pointer, "/configuration/event.poller.configuration/incidents") {
		t.Errorf("problems %+v", pe.Problems)
	}
}
