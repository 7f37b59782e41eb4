// Package enginetest provides fakes of the engine's ports for tests and benchmarks: an in-memory
// Store and a Source that serves recorded vendor pages and records the queries it was sent.
package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

// MemStore is an in-memory engine.Store. Commits are atomic under its lock.
type MemStore struct {
	mu            sync.Mutex
	cursors       map[engine.JobKey][]byte // stored as JSON, as a real store would
	Events        []engine.Event
	Notifications []engine.Notification
	ids           map[string]bool
	// FailCommit, when set, makes CommitPoll fail with it (and write nothing).
	FailCommit error
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{cursors: map[engine.JobKey][]byte{}, ids: map[string]bool{}}
}

// Cursor implements engine.Store.
func (s *MemStore) Cursor(_ context.Context, key engine.JobKey) (engine.Cursor, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.cursors[key]
	if !ok {
		return engine.Cursor{}, false, nil
	}
	var c engine.Cursor
	err := json.Unmarshal(b, &c)
	return c, true, err
}

// CommitPoll implements engine.Store. Events already stored (same id) are not stored again.
func (s *MemStore) CommitPoll(_ context.Context, c engine.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailCommit != nil {
		return s.FailCommit
	}
	b, err := json.Marshal(c.Cursor)
	if err != nil {
		return err
	}
	s.cursors[c.Key] = b
	for _, e := range c.Events {
		if !s.ids[e.ID] {
			s.ids[e.ID] = true
			s.Events = append(s.Events, e)
		}
	}
	s.Notifications = append(s.Notifications, c.Notifications...)
	return nil
}

// Reset forgets stored events and notifications but keeps cursors.
func (s *MemStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Events, s.Notifications = nil, nil
}

// PageSource is an engine.Source that serves recorded vendor pages: Answers holds, per vendor
// query of a poll, the pages the vendor returned, in order. Each request is answered with the
// next pages of the current answer (one at a time when the poll stops after each page, as it does
// when it walks a list by its cursor), HasNext telling whether the answer has more; when an
// answer is used up, the next request starts the next one. Every request is recorded.
type PageSource struct {
	mu       sync.Mutex
	Answers  [][][]byte
	Requests []engine.Request
	// Err, when set, is returned by List once the answers are used up.
	Err error
	// Now and Skew, when Now is set, stamp every page as sent at Now and answered with the
	// vendor's clock at Now+Skew (the Date header).
	Now     time.Time
	Skew    time.Duration
	current [][]byte
	started bool
}

// List implements engine.Source.
func (s *PageSource) List(_ context.Context, req engine.Request, fn func(engine.Page) error) error {
	s.mu.Lock()
	s.Requests = append(s.Requests, req)
	if !s.started || len(s.current) == 0 {
		s.current = nil
		if len(s.Answers) > 0 {
			s.current, s.Answers = s.Answers[0], s.Answers[1:]
		}
		s.started = true
	}
	s.mu.Unlock()
	n := 0
	for {
		s.mu.Lock()
		if len(s.current) == 0 {
			s.started = false
			err := s.Err
			s.mu.Unlock()
			if n == 0 {
				// The vendor answers an empty list.
				return fn(engine.Page{Number: 1, Body: []byte("[]")})
			}
			return err
		}
		body := s.current[0]
		s.current = s.current[1:]
		more := len(s.current) > 0
		if !more {
			s.started = false
		}
		s.mu.Unlock()
		n++
		pg := engine.Page{Number: n, Body: body, HasNext: more}
		if !s.Now.IsZero() {
			pg.Sent, pg.Date = s.Now, s.Now.Add(s.Skew).Truncate(time.Second)
		}
		if err := fn(pg); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// Describe prints a request the way golden files show it: the path and the query, sorted.
func Describe(r engine.Request) string {
	keys := make([]string, 0, len(r.Query))
	for k := range r.Query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range r.Query[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	if r.PageSize > 0 {
		parts = append(parts, fmt.Sprintf("(pageSize %d)", r.PageSize))
	}
	return "GET " + r.Path + "?" + strings.Join(parts, "&")
}

// FixedClock is an engine.Clock that returns T.
type FixedClock struct{ T time.Time }

// Now implements engine.Clock.
func (c *FixedClock) Now() time.Time { return c.T }

var (
	_ engine.Store  = (*MemStore)(nil)
	_ engine.Source = (*PageSource)(nil)
	_ engine.Clock  = (*FixedClock)(nil)
)
