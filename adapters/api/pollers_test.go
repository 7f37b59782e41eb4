package api

import (
	"strings"
	"testing"
)

// An operator skips a held record through the instance's poller: the runtime is told, for that
// job; a job the instance does not run, an instance the principal does not see, or no record is
// refused.
func TestSkipHeldRecord(t *testing.T) {
	h := newHarness(t, 4096)
	if r := h.post(seed000Example); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r := h.do("POST", "/instances/1/pollers/incidents/skip", strings.NewReader(`{"record": "302"}`), nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"record":"302"`) {
		t.Fatalf("skip: %d %s", r.status, r.body)
	}
	if got := h.rt.skips; len(got) != 1 || got[0] != "1 incidents 302" {
		t.Errorf("runtime skips %q", got)
	}
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/instances/1/pollers/accounts/skip", `{"record": "302"}`, 404},
		{"/instances/9/pollers/incidents/skip", `{"record": "302"}`, 404},
		{"/instances/x/pollers/incidents/skip", `{"record": "302"}`, 404},
		{"/instances/1/pollers/incidents/skip", `{"record": " "}`, 400},
		{"/instances/1/pollers/incidents/skip", `[]`, 400},
	} {
		if r := h.do("POST", c.path, strings.NewReader(c.body), nil); r.status != c.want {
			t.Errorf("POST %s %s: %d, want %d: %s", c.path, c.body, r.status, c.want, r.body)
		}
	}
}
