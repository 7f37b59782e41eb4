// Package enginetest provides fakes of the engine's ports for tests and benchmarks: an in-memory
// Store and a Source that serves recorded vendor pages and records the queries it was sent.
package enginetest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
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
// query of a poll, the pages the vendor returned, in order. Each request is answered with the next
// page of the current answer; while the answer has more, the page carries a Link rel="next" to
// the same URL with PageParam set to the next page number, as page-numbered vendors do. When an answer is
// used up, the next request starts the next one; when there are none left, the vendor answers an
// empty list ([]). Every request is recorded.
type PageSource struct {
	mu       sync.Mutex
	Answers  [][][]byte
	Requests []engine.Request
	// PageParam names the page number in the next-page links; "" = "page".
	PageParam string
	// Err, when set, is returned once the answers are used up.
	Err error
	// Now and Skew, when Now is set, stamp every page as sent at Now and answered with the
	// vendor's clock at Now+Skew (the Date header).
	Now     time.Time
	Skew    time.Duration
	current [][]byte
	served  int // pages of the current answer served
}

// Fetch implements engine.Source.
func (s *PageSource) Fetch(_ context.Context, req engine.Request) (engine.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Requests = append(s.Requests, req)
	if len(s.current) == 0 {
		s.served = 0
		if len(s.Answers) == 0 {
			if s.Err != nil {
				return engine.Page{}, s.Err
			}
			return s.page(req, []byte("[]"), false), nil
		}
		s.current, s.Answers = s.Answers[0], s.Answers[1:]
	}
	body := s.current[0]
	s.current = s.current[1:]
	s.served++
	return s.page(req, body, len(s.current) > 0), nil
}

func (s *PageSource) page(req engine.Request, body []byte, more bool) engine.Page {
	pg := engine.Page{URL: req.URL, Status: http.StatusOK, Body: body, Header: http.Header{}}
	if more {
		u, err := url.Parse(req.URL)
		if err == nil {
			param := s.PageParam
			if param == "" {
				param = "page"
			}
			q := u.Query()
			q.Set(param, strconv.Itoa(s.served+1))
			u.RawQuery = q.Encode()
			pg.Header.Set("Link", "<"+u.String()+`>; rel="next"`)
		}
	}
	if !s.Now.IsZero() {
		pg.Sent, pg.Date = s.Now, s.Now.Add(s.Skew).Truncate(time.Second)
	}
	return pg
}

// Describe prints a request the way golden files show it: the path and the query, sorted.
func Describe(r engine.Request) string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return "GET " + r.URL
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	return "GET " + u.Path + "?" + strings.Join(parts, "&")
}

var (
	_ engine.Store  = (*MemStore)(nil)
	_ engine.Source = (*PageSource)(nil)
)
