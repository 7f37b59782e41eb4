package fakezendesk

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A cursor is an opaque token for a position in the export order: everything after
// (updated_at, id). It is URL-safe base64 of "<unix seconds>.0||<id>|", after the shape of
// Zendesk's own cursors.

func encodeCursor(t, id int64) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.0||%d|", t, id))
}

func decodeCursor(c string) (t, id int64, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "="))
	if err != nil {
		return 0, 0, false
	}
	ts, rest, found := strings.Cut(string(raw), ".0||")
	if !found {
		return 0, 0, false
	}
	ids, found := strings.CutSuffix(rest, "|")
	if !found {
		return 0, 0, false
	}
	t, err1 := strconv.ParseInt(ts, 10, 64)
	id, err2 := strconv.ParseInt(ids, 10, 64)
	if err1 != nil || err2 != nil || id < 0 {
		return 0, 0, false
	}
	return t, id, true
}

// cutoff is the newest updated_at exported now: changes younger than the lag are held back.
func (s *Server) cutoff() time.Time { return s.now().Add(-s.lag) }

// exportable lists the records of a resource visible to the export after (t, id), in order.
func (s *Server) exportable(resource string, t, id int64, excludeDeleted bool) []*record {
	cut := s.cutoff()
	var out []*record
	for _, r := range s.store(resource) {
		if r.updated.After(cut) || !r.after(t, id) || (excludeDeleted && r.deleted) {
			continue
		}
		out = append(out, r)
	}
	exportOrder(out)
	return out
}

// pageParams reads per_page and exclude_deleted and the query to carry into the next links.
func (s *Server) pageParams(resource string, q url.Values) (perPage int, exclude bool, carry url.Values, bad *response) {
	perPage, carry = s.opts.PerPage, url.Values{}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			r := errorBody(http.StatusBadRequest, "InvalidPaginationParameter", "per_page must be a positive integer")
			return 0, false, nil, &r
		}
		perPage = min(n, maxPerPage)
		carry.Set("per_page", strconv.Itoa(perPage))
	}
	if resource == "tickets" && q.Get("exclude_deleted") == "true" {
		exclude = true
		carry.Set("exclude_deleted", "true")
	}
	return perPage, exclude, carry, nil
}

// startTime reads and checks start_time: required, an integer, and at least MinAge old.
func (s *Server) startTime(q url.Values) (int64, *response) {
	v := q.Get("start_time")
	if v == "" {
		r := errorBody(http.StatusBadRequest, "InvalidValue", "start_time is required")
		return 0, &r
	}
	st, err := strconv.ParseInt(v, 10, 64)
	if err != nil || st < 0 {
		r := errorBody(http.StatusBadRequest, "InvalidValue", "start_time must be a Unix epoch time in seconds")
		return 0, &r
	}
	if st > s.now().Add(-s.minAg).Unix() {
		r := errorBody(http.StatusBadRequest, "InvalidValue", "Too recent start_time. Use a start_time older than "+humanAge(s.minAg))
		return 0, &r
	}
	return st, nil
}

func humanAge(d time.Duration) string {
	switch {
	case d <= 0:
		return "now"
	case d == time.Minute:
		return "1 minute"
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return fmt.Sprintf("%d seconds", (d+time.Second-1)/time.Second)
}

// exportCursor serves GET /api/v2/incremental/{tickets,users}/cursor; it runs with s.mu held.
func (s *Server) exportCursor(resource string, q url.Values, base string) response {
	perPage, exclude, carry, bad := s.pageParams(resource, q)
	if bad != nil {
		return *bad
	}
	var t, id int64
	var before any
	if c := q.Get("cursor"); c != "" {
		var ok bool
		if t, id, ok = decodeCursor(c); !ok {
			return errorBody(http.StatusBadRequest, "InvalidPaginationParameter", "Invalid cursor")
		}
		before = c
	} else {
		st, bad := s.startTime(q)
		if bad != nil {
			return *bad
		}
		t, id = st, 0 // everything with updated_at >= start_time
	}
	all := s.exportable(resource, t, id, exclude)
	page := all[:min(perPage, len(all))]
	items := make([]any, len(page))
	for i, r := range page {
		items[i] = s.view(resource, r, base)
	}
	if len(page) > 0 {
		last := page[len(page)-1]
		t, id = last.updated.Unix(), last.id
	}
	after := encodeCursor(t, id)
	link := func(c any) any {
		if c == nil {
			return nil
		}
		v := url.Values{"cursor": {c.(string)}}
		for k, vs := range carry {
			v[k] = vs
		}
		return base + "/api/v2/incremental/" + resource + "/cursor.json?" + v.Encode()
	}
	return jsonResponse(http.StatusOK, map[string]any{
		resource:        items,
		"after_cursor":  after,
		"after_url":     link(after),
		"before_cursor": before,
		"before_url":    link(before),
		"end_of_stream": len(all) <= perPage,
	})
}

// exportTime serves GET /api/v2/incremental/{tickets,users,organizations} (time-based); it runs
// with s.mu held.
func (s *Server) exportTime(resource string, q url.Values, base string) response {
	perPage, exclude, carry, bad := s.pageParams(resource, q)
	if bad != nil {
		return *bad
	}
	start, bad := s.startTime(q)
	if bad != nil {
		return *bad
	}
	all := s.exportable(resource, start, 0, exclude)
	n := min(perPage, len(all))
	// A page never ends inside a block of records sharing one updated_at: it is extended to
	// the end of the block, so that start_time=end_time cannot skip any of them.
	for n > 0 && n < len(all) && all[n].updated.Equal(all[n-1].updated) {
		n++
	}
	page := all[:n]
	items := make([]any, len(page))
	for i, r := range page {
		items[i] = s.view(resource, r, base)
	}
	end := start
	if n > 0 {
		end = page[n-1].updated.Unix()
		if end == start && n >= perPage {
			end = start + 1 // the whole block at start_time was returned: move on
		}
	}
	v := url.Values{"start_time": {strconv.FormatInt(end, 10)}}
	for k, vs := range carry {
		v[k] = vs
	}
	return jsonResponse(http.StatusOK, map[string]any{
		resource:        items,
		"count":         n,
		"end_time":      end,
		"next_page":     base + "/api/v2/incremental/" + resource + ".json?" + v.Encode(),
		"end_of_stream": n < perPage,
	})
}
