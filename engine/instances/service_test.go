package instances

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/egress"
)

// memStore is a small in-memory Store.
type memStore struct {
	mu     sync.Mutex
	recs   map[int64]engine.InstanceRecord
	owners map[int64][2]int64
}

func (m *memStore) CreateInstance(_ context.Context, in *engine.InstanceRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	in.ID = int64(len(m.owners) + 1)
	m.recs[in.ID], m.owners[in.ID] = *in, [2]int64{in.UserID, in.OrganizationID}
	return nil
}

func (m *memStore) UpdateInstance(_ context.Context, in *engine.InstanceRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[in.ID]; !ok {
		return engine.ErrNotFound
	}
	c := *in
	c.Configuration = maps.Clone(in.Configuration)
	m.recs[in.ID] = c
	return nil
}

func (m *memStore) Instance(_ context.Context, id int64) (*engine.InstanceRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return nil, engine.ErrNotFound
	}
	r.Configuration = maps.Clone(r.Configuration)
	return &r, nil
}

func (m *memStore) InstanceByToken(_ context.Context, token string) (*engine.InstanceRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if r.Token == token {
			return &r, nil
		}
	}
	return nil, engine.ErrNotFound
}

func (m *memStore) Instances(_ context.Context, sc engine.Scope) ([]*engine.InstanceRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*engine.InstanceRecord
	for _, r := range m.recs {
		if sc.Holds(r.ID, r.UserID, r.OrganizationID) {
			out = append(out, &r)
		}
	}
	return out, nil
}

func (m *memStore) DeleteInstance(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, id)
	return nil
}

func (m *memStore) InstanceOwner(_ context.Context, id int64) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.owners[id]
	if !ok {
		return 0, 0, engine.ErrNotFound
	}
	return o[0], o[1], nil
}

// nullRuntime records what it is handed.
type nullRuntime struct {
	cat     *engine.Catalog
	mu      sync.Mutex
	applied map[int64]*engine.Instance
}

func (r *nullRuntime) Catalog() *engine.Catalog { return r.cat }
func (r *nullRuntime) Apply(in *engine.Instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied[in.ID] = in
}
func (r *nullRuntime) Remove(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.applied, id)
}
func (r *nullRuntime) Status(int64) []engine.JobStatus       { return nil }
func (r *nullRuntime) Valid(int64) (bool, string)            { return true, "" }
func (r *nullRuntime) SkipRecord(int64, string, string) bool { return false }

const body = `{"element":{"key":"freshdeskv2"},"name":"n","configuration":{"subdomain":"acme","username":"fd-KEY-0a1b",
  "event.notification.callback.url":"https://hooks.example.com/in?token=cb-TOK-2c3d","event.poller.refresh_interval":"15"}}`

func newService(t *testing.T) (*Service, *memStore, *nullRuntime) {
	t.Helper()
	cat, probs := definitions.Compile(definitions.Builtin())
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	pol, _ := egress.New(egress.Options{})
	st := &memStore{recs: map[int64]engine.InstanceRecord{}, owners: map[int64][2]int64{}}
	rt := &nullRuntime{cat: cat, applied: map[int64]*engine.Instance{}}
	s, err := New(Options{Store: st, Runtime: rt, Limits: engine.Limits{Egress: pol}})
	if err != nil {
		t.Fatal(err)
	}
	return s, st, rt
}

func TestOwnershipAndMaskedWriteBack(t *testing.T) {
	s, st, rt := newService(t)
	ctx := context.Background()
	ann := engine.Principal{UserID: 10, OrganizationID: 1, Role: engine.RoleUser}
	ben := engine.Principal{UserID: 11, OrganizationID: 1, Role: engine.RoleUser}
	boss := engine.Principal{UserID: 12, OrganizationID: 1, Role: engine.RoleOrgAdmin}
	other := engine.Principal{UserID: 20, OrganizationID: 2, Role: engine.RoleOrgAdmin}
	in, err := s.Create(ctx, ann, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	id := in.Record.ID
	for _, p := range []engine.Principal{ben, other} {
		if _, err := s.Get(ctx, p, id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("%+v reads ann's: %v", p, err)
		}
		if err := s.Delete(ctx, p, id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("%+v deletes ann's: %v", p, err)
		}
		if _, err := s.Narrow(ctx, p, in.Record.Token); !errors.Is(err, ErrBadToken) {
			t.Errorf("%+v narrows to ann's token: %v", p, err)
		}
	}
	if _, err := s.Get(ctx, boss, id); err != nil {
		t.Errorf("the admin reads it: %v", err)
	}
	// Masked values written back keep the stored ones.
	patch := `{"configuration":{"username":"********","event.notification.callback.url":"https://hooks.example.com/in?token=********"}}`
	if _, err := s.Patch(ctx, ann, id, []byte(patch)); err != nil {
		t.Fatal(err)
	}
	rec, _ := st.Instance(ctx, id)
	if rec.Configuration["username"] != "fd-KEY-0a1b" || !strings.Contains(rec.Configuration[engine.KeyCallbackURL].(string), "token=cb-TOK-2c3d") {
		t.Errorf("stored: %v", rec.Configuration)
	}
	// A bad PATCH changes nothing and lists every problem, scrubbed of the secrets.
	_, err = s.Patch(ctx, ann, id, []byte(`{"configuration":{"base.url":"http://127.0.0.1/","event.poller.refresh_interval":"NaN"},"bogus":1}`))
	var pe *ProblemsError
	if !errors.As(err, &pe) || len(pe.Problems) != 3 {
		t.Fatalf("bad patch: %v", err)
	}
	if strings.Contains(pe.Error(), "fd-KEY-0a1b") {
		t.Errorf("secret in problems: %v", pe)
	}
	// Resume hands every stored instance to the runtime.
	rt.applied = map[int64]*engine.Instance{}
	if n, err := s.Resume(ctx); err != nil || n != 1 || rt.applied[id] == nil || rt.applied[id].UserID != ann.UserID {
		t.Errorf("resume: %d %v %+v", n, err, rt.applied)
	}
}

// A value is the same when the platform would show it the same: what a client read and writes
// back is no change.
func TestSameValue(t *testing.T) {
	for _, tc := range []struct {
		a, b any
		same bool
	}{
		{"15", json.Number("15"), true},
		{"0.05", 0.05, true},
		{"true", true, true},
		{"x", "x", true},
		{"15", "15.0", false},
		{`{"a": {"url": "/x"}, "b": {}}`, map[string]any{"b": map[string]any{}, "a": map[string]any{"url": "/x"}}, true},
		{`{"a":{"url":"/y"}}`, map[string]any{"a": map[string]any{"url": "/x"}}, false},
		{"{not json", map[string]any{}, false},
		{"", nil, true},
		{"false", nil, false},
	} {
		if got := sameValue(tc.a, tc.b); got != tc.same {
			t.Errorf("sameValue(%#v, %#v) = %v", tc.a, tc.b, got)
		}
	}
}

// keepEchoed keeps the stored form of values written back unchanged, and leaves a default written
// back for an unset key unstored.
func TestKeepEchoed(t *testing.T) {
	cat, probs := definitions.Compile(definitions.Builtin())
	if len(probs) > 0 {
		t.Fatal(definitions.Describe(probs))
	}
	el, _ := cat.Element("freshdeskv2")
	stored := map[string]any{"event.poller.refresh_interval": json.Number("15"), "subdomain": "acme"}
	conf := map[string]any{"event.poller.refresh_interval": "15", "subdomain": "acme2", "filter.response.nulls": "true",
		"event.vendor.type": "polling", "base.url": "https://x.example"}
	keepEchoed(el, conf, stored)
	want := map[string]any{"event.poller.refresh_interval": json.Number("15"), "subdomain": "acme2", "base.url": "https://x.example"}
	if !maps.Equal(conf, want) {
		t.Errorf("got %#v, want %#v", conf, want)
	}
}
