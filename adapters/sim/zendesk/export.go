package zendesk

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
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

// cutoff is the newest stamp exported now: changes younger than the lag are held back.
func (s *Server) cutoff() time.Time { return s.now().Add(-s.lag) }

// exportable lists the records of a resource visible to the export after (t, id), in order:
// neither younger than the lag nor hidden by VisibleAfter.
func (s *Server) exportable(resource string, t, id int64, excludeDeleted bool) []*record {
	cut, hidden := s.cutoff(), s.k.HiddenFunc()
	var out []*record
	for _, r := range s.store(resource).Rows() {
		st := r.stamp()
		if st.After(cut) || hidden(st) || !r.after(t, id) || (excludeDeleted && r.deleted) {
			continue
		}
		out = append(out, r)
	}
	exportOrder(out)
	return out
}

// maybeShift implements the Shift knob for an export request past the start of a walk: it
// updates, to now, a random live record at or before the position (t, id), which the walk has
// passed, so that it moves to the end of the export order (it shows again once the lag has
// passed). It runs with s.mu held.
func (s *Server) maybeShift(c *kernel.Call, resource string, t, id int64) {
	if !c.Shift() {
		return
	}
	var cands []*record
	for _, r := range s.store(resource).Rows() {
		if !r.deleted && !r.after(t, id) {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return
	}
	r := cands[s.k.IntN(len(cands))]
	if now := s.now(); now.After(r.updated) {
		r.updated = now
		s.change(resource, r, "updated")
	}
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
func (s *Server) exportCursor(c *kernel.Call, resource string, q url.Values, base string) response {
	perPage, exclude, carry, bad := s.pageParams(resource, q)
	if bad != nil {
		return *bad
	}
	var t, id int64
	var before any
	if cur := q.Get("cursor"); cur != "" {
		var ok bool
		if t, id, ok = decodeCursor(cur); !ok {
			return errorBody(http.StatusBadRequest, "InvalidPaginationParameter", "Invalid cursor")
		}
		before = cur
		s.maybeShift(c, resource, t, id)
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
	link := func(cur any) any {
		if cur == nil {
			return nil
		}
		v := url.Values{"cursor": {cur.(string)}}
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
		"end_of_stream": len(all) <= perPage && !c.Endless(),
	})
}

// exportTime serves GET /api/v2/incremental/{tickets,users,organizations} (time-based); it runs
// with s.mu held. A page holds at most per_page records with a stamp at or after start_time, and
// end_time is the stamp of its last record: the next page (start_time=end_time) repeats the
// records at end_time (time-based exports have duplicates). When more than per_page records
// share one second, a page of them all at start_time answers end_time equal to start_time, and
// next_page is the same request: the client must move past that second itself.
func (s *Server) exportTime(c *kernel.Call, resource string, q url.Values, base string) response {
	perPage, exclude, carry, bad := s.pageParams(resource, q)
	if bad != nil {
		return *bad
	}
	start, bad := s.startTime(q)
	if bad != nil {
		return *bad
	}
	s.maybeShift(c, resource, start-1, 1<<62) // what a walk from before start_time has passed
	all := s.exportable(resource, start, 0, exclude)
	page := all[:min(perPage, len(all))]
	items := make([]any, len(page))
	for i, r := range page {
		items[i] = s.view(resource, r, base)
	}
	end := start
	if n := len(page); n > 0 {
		end = page[n-1].stamp().Unix()
	}
	v := url.Values{"start_time": {strconv.FormatInt(end, 10)}}
	for k, vs := range carry {
		v[k] = vs
	}
	return jsonResponse(http.StatusOK, map[string]any{
		resource:        items,
		"count":         len(page),
		"end_time":      end,
		"next_page":     base + "/api/v2/incremental/" + resource + ".json?" + v.Encode(),
		"end_of_stream": len(all) <= perPage && !c.Endless(),
	})
}
