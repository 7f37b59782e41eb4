package api

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// memStore is an in-memory InstanceStore.
type memStore struct {
	mu     sync.Mutex
	nextID int64
	recs   map[int64]sqlite.Instance
}

func newMemStore() *memStore { return &memStore{recs: map[int64]sqlite.Instance{}} }

func (m *memStore) CreateInstance(_ context.Context, in *sqlite.Instance) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	in.ID = m.nextID
	m.recs[in.ID] = clone(in)
	return nil
}

func (m *memStore) UpdateInstance(_ context.Context, in *sqlite.Instance) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.recs[in.ID]
	if !ok {
		return fmt.Errorf("update instance %d: %w", in.ID, sqlite.ErrNotFound)
	}
	in.CreatedAt = old.CreatedAt
	m.recs[in.ID] = clone(in)
	return nil
}

func (m *memStore) Instance(_ context.Context, id int64) (*sqlite.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return nil, fmt.Errorf("instance %d: %w", id, sqlite.ErrNotFound)
	}
	c := clone(&r)
	return &c, nil
}

func (m *memStore) InstanceByToken(_ context.Context, token string) (*sqlite.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if token != "" && r.Token == token {
			c := clone(&r)
			return &c, nil
		}
	}
	return nil, fmt.Errorf("instance by token: %w", sqlite.ErrNotFound)
}

func (m *memStore) Instances(_ context.Context) ([]*sqlite.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*sqlite.Instance
	// Deliberately out of id order: the server must sort.
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(m.recs))) {
		r := m.recs[id]
		c := clone(&r)
		out = append(out, &c)
	}
	return out, nil
}

func (m *memStore) DeleteInstance(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[id]; !ok {
		return fmt.Errorf("delete instance %d: %w", id, sqlite.ErrNotFound)
	}
	delete(m.recs, id)
	return nil
}

func clone(in *sqlite.Instance) sqlite.Instance {
	c := *in
	c.Tags = slices.Clone(in.Tags)
	c.Configuration = maps.Clone(in.Configuration)
	return c
}

// fakeRuntime records Apply and Remove, and answers Status from status.
type fakeRuntime struct {
	mu      sync.Mutex
	cat     *engine.Catalog
	applied []*engine.Instance
	removed []int64
	status  map[int64][]engine.JobStatus
}

func (f *fakeRuntime) Valid(int64) (bool, string) { return true, "" }

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
	_ InstanceStore     = (*memStore)(nil)
	_ Runtime           = (*fakeRuntime)(nil)
	_ DefinitionsStatus = fakeDefinitions{}
)
