package api

import (
	"testing"
)

// TestSessionStandsInForSecrets checks the console's hook: a live session authenticates a
// request without an Authorization header, or with one holding only an Element token; it never
// overrides a header that carries secrets, right or wrong.
func TestSessionStandsInForSecrets(t *testing.T) {
	h := newHarness(t, 4096, func(c *harnessConfig) { c.session = map[string]bool{"1": true} })
	if r := h.post(seed000Example); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	token := h.record(1).Token

	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		want   int
	}{
		{"session alone", "GET", "/instances/1", map[string]string{"X-Test-Session": "1"}, 200},
		{"no session", "GET", "/instances/1", map[string]string{}, 401},
		{"session not signed in", "GET", "/instances/1", map[string]string{"X-Test-Session": "2"}, 401},
		{"session and wrong secrets", "GET", "/instances/1",
			map[string]string{"X-Test-Session": "1", "Authorization": "User nope, Organization nope"}, 401},
		{"session and a malformed header", "GET", "/instances/1",
			map[string]string{"X-Test-Session": "1", "Authorization": "Bearer x"}, 401},
		{"session and the Element token", "DELETE", "/instances/enabled",
			map[string]string{"X-Test-Session": "1", "Authorization": "Element " + token}, 200},
		{"Element token without a session", "PUT", "/instances/enabled",
			map[string]string{"Authorization": "Element " + token}, 401},
		{"session, no Element token", "PUT", "/instances/enabled", map[string]string{"X-Test-Session": "1"}, 401},
		{"session and the Element token, enable", "PUT", "/instances/enabled",
			map[string]string{"X-Test-Session": "1", "Authorization": "Element " + token}, 200},
		{"secrets still work", "GET", "/instances", map[string]string{"Authorization": goodAuth}, 200},
	}
	for _, tc := range tests {
		r := h.do(tc.method, tc.path, nil, tc.header)
		if r.status != tc.want {
			t.Errorf("%s: %s %s: status %d, want %d: %s", tc.name, tc.method, tc.path, r.status, tc.want, r.body)
		}
	}
	if h.record(1).Disabled {
		t.Error("instance left disabled: the session's enable did not reach it")
	}
}

// TestNoSessionsConfigured checks that without a Session seam nothing but the secrets
// authenticates.
func TestNoSessionsConfigured(t *testing.T) {
	h := newHarness(t, 4096)
	if r := h.do("GET", "/instances", nil, map[string]string{"X-Test-Session": "1"}); r.status != 401 {
		t.Errorf("status %d, want 401", r.status)
	}
}
