package api

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// GET /readyz answers 200 while Options.Ready finds nothing wrong and 503 with its reason when it
// does, without authentication; the answers conform to the document.
func TestReadyz(t *testing.T) {
	var mu sync.Mutex
	var notReady error
	var checked bool
	h := newHarness(t, 0, func(c *harnessConfig) {
		c.api.Ready = func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := ctx.Deadline(); !ok {
				t.Error("readiness check without a deadline")
			}
			checked = true
			return notReady
		}
	})
	c := openAPICompiler(t)
	r := h.do("GET", "/readyz", nil, map[string]string{})
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ready"}` || !checked {
		t.Errorf("ready: %d %s (checked %v)", r.status, r.body, checked)
	}
	conformsTo(t, c, "Readiness", r)

	mu.Lock()
	notReady = errors.New("store: database is locked")
	mu.Unlock()
	r = h.do("GET", "/readyz", nil, map[string]string{})
	if r.status != 503 || strings.TrimSpace(string(r.body)) != `{"status":"unavailable","reason":"store: database is locked"}` {
		t.Errorf("not ready: %d %s", r.status, r.body)
	}
	conformsTo(t, c, "Readiness", r)
	if r := h.do("POST", "/readyz", nil, nil); r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /readyz: %d, Allow %q", r.status, r.header.Get("Allow"))
	}

	// Without a check, the server is ready.
	if r := newHarness(t, 0).do("GET", "/readyz", nil, map[string]string{}); r.status != 200 {
		t.Errorf("no Ready: %d %s", r.status, r.body)
	}
}

type nodeFake struct{}

func (nodeFake) Node() string      { return "node-2" }
func (nodeFake) Leased() []string  { return []string{"https://a.example", "https://b.example"} }
func (nodeFake) Lacking() []string { return []string{"zendesk/tickets"} }

// With several nodes on one store, GET /readyz names the node and counts its leases (never
// lists them: no authentication), and GET /definitions says which resources the node lacks.
func TestNodeInReadyzAndDefinitions(t *testing.T) {
	h := newHarness(t, 0, func(c *harnessConfig) { c.api.Node = nodeFake{} })
	c := openAPICompiler(t)
	r := h.do("GET", "/readyz", nil, map[string]string{})
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ready","node":"node-2","leases":2}` {
		t.Errorf("readyz: %d %s", r.status, r.body)
	}
	conformsTo(t, c, "Readiness", r)
	r = h.do("GET", "/definitions", nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"lacking":["zendesk/tickets"]`) || !strings.Contains(string(r.body), `"node":"node-2"`) {
		t.Errorf("definitions: %d %s", r.status, r.body)
	}
	conformsTo(t, c, "DefinitionFiles", r)
}
