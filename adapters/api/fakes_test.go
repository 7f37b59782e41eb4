package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// memStore is an in-memory instances.Store and tenants.Store.
type memStore struct {
	mu     sync.Mutex
	nextID int64
	recs   map[int64]engine.InstanceRecord
	owners map[int64][2]int64 // instance: user, organization; kept after delete
	orgs   map[int64]engine.Organization
	users  map[int64]engine.User
}

func newMemStore() *memStore {
	return &memStore{recs: map[int64]engine.InstanceRecord{}, owners: map[int64][2]int64{},
		orgs:  map[int64]engine.Organization{1: {ID: 1, Name: "default"}},
		users: map[int64]engine.User{1: {ID: 1, OrganizationID: 1, Email: "admin", Role: engine.RoleOrgAdmin, Active: true}}}
}

func (m *memStore) CreateInstance(_ context.Context, in *engine.InstanceRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	in.ID = m.nextID
	m.recs[in.ID] = clone(in)
	m.owners[in.ID] = [2]int64{in.UserID, in.OrganizationID}
	return nil
}

func (m *memStore) UpdateInstance(_ context.Context, in *engine.InstanceRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.recs[in.ID]
	if !ok {
		return fmt.Errorf("update instance %d: %w", in.ID, engine.ErrNotFound)
	}
	in.CreatedAt, in.UserID, in.OrganizationID = old.CreatedAt, old.UserID, old.OrganizationID
	m.recs[in.ID] = clone(in)
	return nil
}

func (m *memStore) Instance(_ context.Context, id int64) (*engine.InstanceRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return nil, fmt.Errorf("instance %d: %w", id, engine.ErrNotFound)
	}
	c := clone(&r)
	return &c, nil
}

func (m *memStore) InstanceByToken(_ context.Context, token string) (*engine.InstanceRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if token != "" && r.Token == token {
			c := clone(&r)
			return &c, nil
		}
	}
	return nil, fmt.Errorf("instance by token: %w", engine.ErrNotFound)
}

func (m *memStore) Instances(_ context.Context, sc engine.Scope) ([]*engine.InstanceRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*engine.InstanceRecord
	// Deliberately out of id order: the service must sort.
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(m.recs))) {
		r := m.recs[id]
		if !sc.Holds(r.ID, r.UserID, r.OrganizationID) {
			continue
		}
		c := clone(&r)
		out = append(out, &c)
	}
	return out, nil
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

func (m *memStore) DeleteInstance(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[id]; !ok {
		return fmt.Errorf("delete instance %d: %w", id, engine.ErrNotFound)
	}
	delete(m.recs, id)
	return nil
}

func clone(in *engine.InstanceRecord) engine.InstanceRecord {
	c := *in
	c.Tags = slices.Clone(in.Tags)
	c.Configuration = maps.Clone(in.Configuration)
	return c
}

// The tenants.Store half.

func (m *memStore) CreateOrganization(_ context.Context, o *engine.Organization) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.orgs {
		if x.Name == o.Name {
			return errors.New("organization already exists")
		}
	}
	o.ID = int64(len(m.orgs) + 1)
	m.orgs[o.ID] = *o
	return nil
}

func (m *memStore) SetOrganizationSecret(_ context.Context, id int64, digest []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orgs[id]
	if !ok {
		return engine.ErrNotFound
	}
	o.SecretDigest = digest
	m.orgs[id] = o
	return nil
}

func (m *memStore) Organization(_ context.Context, id int64) (*engine.Organization, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orgs[id]
	if !ok {
		return nil, engine.ErrNotFound
	}
	return &o, nil
}

func (m *memStore) OrganizationByName(_ context.Context, name string) (*engine.Organization, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.orgs {
		if o.Name == name {
			return &o, nil
		}
	}
	return nil, engine.ErrNotFound
}

func (m *memStore) Organizations(context.Context) ([]*engine.Organization, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*engine.Organization
	for _, id := range slices.Sorted(maps.Keys(m.orgs)) {
		o := m.orgs[id]
		out = append(out, &o)
	}
	return out, nil
}

func (m *memStore) CreateUser(_ context.Context, u *engine.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.users {
		if x.Email == u.Email {
			return errors.New("user already exists")
		}
	}
	u.ID = int64(len(m.users) + 1)
	m.users[u.ID] = *u
	return nil
}

func (m *memStore) UpdateUser(_ context.Context, u *engine.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.ID]; !ok {
		return engine.ErrNotFound
	}
	m.users[u.ID] = *u
	return nil
}

func (m *memStore) User(_ context.Context, id int64) (*engine.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return nil, engine.ErrNotFound
	}
	return &u, nil
}

func (m *memStore) UserByEmail(_ context.Context, email string) (*engine.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Email == email {
			return &u, nil
		}
	}
	return nil, engine.ErrNotFound
}

func (m *memStore) UserBySecret(_ context.Context, digest []byte) (*engine.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if len(digest) > 0 && bytes.Equal(u.SecretDigest, digest) {
			return &u, nil
		}
	}
	return nil, engine.ErrNotFound
}

func (m *memStore) Users(_ context.Context, orgID int64) ([]*engine.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*engine.User
	for _, id := range slices.Sorted(maps.Keys(m.users)) {
		if u := m.users[id]; orgID == 0 || u.OrganizationID == orgID {
			out = append(out, &u)
		}
	}
	return out, nil
}

// fakeRuntime records Apply and Remove, and answers Status from status.
type fakeRuntime struct {
	mu      sync.Mutex
	cat     *engine.Catalog
	applied []*engine.Instance
	removed []int64
	status  map[int64][]engine.JobStatus
	skips   []string // "id objectType record"
}

func (f *fakeRuntime) Valid(int64) (bool, string) { return true, "" }

// SkipRecord records an operator's skip of a job's held record; the job must be configured.
func (f *fakeRuntime) SkipRecord(id int64, objectType, record string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.applied) - 1; i >= 0; i-- {
		in := f.applied[i]
		if in.ID != id {
			continue
		}
		if _, ok := in.Job(objectType); !ok {
			return false
		}
		f.skips = append(f.skips, fmt.Sprintf("%d %s %s", id, objectType, record))
		return true
	}
	return false
}

func (f *fakeRuntime) Status(id int64) []engine.JobStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.status[id])
}

func (f *fakeRuntime) setStatus(id int64, st []engine.JobStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status == nil {
		f.status = map[int64][]engine.JobStatus{}
	}
	f.status[id] = st
}

func (f *fakeRuntime) Catalog() *engine.Catalog {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cat
}

func (f *fakeRuntime) setCatalog(c *engine.Catalog) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cat = c
}

func (f *fakeRuntime) Apply(in *engine.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, in)
}

func (f *fakeRuntime) Remove(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
}

func (f *fakeRuntime) appliedList() []*engine.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

// fakeDefinitions answers Status with files.
type fakeDefinitions struct{ files []definitions.FileStatus }

func (f fakeDefinitions) Status() []definitions.FileStatus { return f.files }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	_ instances.Store   = (*memStore)(nil)
	_ tenants.Store     = (*memStore)(nil)
	_ instances.Runtime = (*fakeRuntime)(nil)
	_ DefinitionsStatus = fakeDefinitions{}
)

// compileRecord rebuilds the engine instance of a stored record as the service does at startup.
func compileRecord(cat *engine.Catalog, rec *engine.InstanceRecord) (*engine.Instance, []definitions.Problem) {
	body := map[string]any{"element": map[string]any{"key": rec.ElementKey}, "name": rec.Name, "configuration": rec.Configuration}
	if len(rec.Tags) > 0 {
		body["tags"] = rec.Tags
	}
	if rec.Configuration == nil {
		body["configuration"] = map[string]any{}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, []definitions.Problem{{Message: err.Error()}}
	}
	in, probs := definitions.LoadStoredInstance(cat, fmt.Sprintf("instance %d", rec.ID), data)
	if len(probs) > 0 {
		return nil, probs
	}
	in.ID, in.Token, in.CreatedAt, in.Disabled = rec.ID, rec.Token, rec.CreatedAt, rec.Disabled
	return in, nil
}
