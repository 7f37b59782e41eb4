package httpsource

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkFetch fetches 5 pages of 100 records of about 1 KB each per iteration, JSON checked.
func BenchmarkFetch(b *testing.B) {
	const pages = 5
	var page strings.Builder
	page.WriteByte('[')
	for i := range 100 {
		if i > 0 {
			page.WriteByte(',')
		}
		fmt.Fprintf(&page, `{"id":%d,"subject":"Support needed","status":2,"priority":1,"updated_at":"2024-05-01T12:00:00Z","description_text":%q}`,
			i, strings.Repeat("lorem ipsum ", 75))
	}
	page.WriteByte(']')
	body := []byte(page.String())

	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("page"))
		n = max(n, 1)
		if n < pages {
			w.Header().Set("Link", "<"+srv.URL+r.URL.Path+"?per_page=100&page="+strconv.Itoa(n+1)+`>; rel="next"`)
		}
		w.Header().Set("X-RateLimit-Remaining", "699.0")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	c := New(Options{})
	req := request(srv.URL)
	ctx := context.Background()
	b.SetBytes(int64(pages * len(body)))
	b.ReportAllocs()
	for b.Loop() {
		for n := 1; n <= pages; n++ {
			req.URL = srv.URL + "/api/v2/tickets?per_page=100&page=" + strconv.Itoa(n)
			if _, err := c.Fetch(ctx, req); err != nil {
				b.Fatalf("page %d: %v", n, err)
			}
		}
	}
}
