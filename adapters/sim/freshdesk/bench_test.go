package freshdesk

import (
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkListPage serves page 50 of 100 tickets out of 10,000 updated in one second: the
// simulator's cost per page in a load test.
func BenchmarkListPage(b *testing.B) {
	s := New(Options{Seed: 1, RatePerMinute: 1 << 30, Now: func() time.Time { return t0 }})
	s.BurstCreateTickets(10000, nil)
	req := httptest.NewRequest("GET", "/api/v2/tickets?updated_since=2026-03-01T00:00:00Z&order_by=updated_at&order_type=asc&per_page=100&page=50", nil)
	req.SetBasicAuth("key", "X")
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
