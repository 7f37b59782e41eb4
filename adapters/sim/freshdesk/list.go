package freshdesk

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// liveIDs are the ids of m's records neither deleted nor archived, ascending.
func liveIDs(m *kernel.Table[record]) []int64 {
	var ids []int64
	for _, r := range m.Rows() {
		if !r.deleted && !r.archived {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// checkQuery rejects parameters outside allowed, as Freshdesk does.
func (s *Server) checkQuery(q url.Values, allowed ...string) (response, bool) {
	var errs []FieldError
	for _, k := range sortedKeys(q) {
		if !contains(allowed, k) {
			errs = append(errs, FieldError{Field: k, Message: "Unexpected/invalid field in request", Code: "invalid_field"})
		}
	}
	if len(errs) > 0 {
		return jsonResponse(http.StatusBadRequest, &ValidationError{Errors: errs}), false
	}
	return response{}, true
}

// pageParams parses per_page and page.
func pageParams(q url.Values) (perPage, page int, errs []FieldError) {
	perPage, page = defaultPerPage, 1
	if v, ok := q["per_page"]; ok {
		n, err := strconv.Atoi(v[0])
		switch {
		case err != nil || n <= 0:
			errs = append(errs, FieldError{Field: "per_page", Message: "It should be a Positive Integer", Code: "invalid_value"})
		case n > maxPerPage:
			errs = append(errs, FieldError{Field: "per_page", Message: fmt.Sprintf("It should be a Positive Integer less than or equal to %d", maxPerPage), Code: "invalid_value"})
		default:
			perPage = n
		}
	}
	if v, ok := q["page"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n <= 0 {
			errs = append(errs, FieldError{Field: "page", Message: "It should be a Positive Integer", Code: "invalid_value"})
		} else {
			page = n
		}
	}
	return perPage, page, errs
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

func positiveInt(q url.Values, field string, errs *[]FieldError) (int64, bool) {
	v, ok := q[field]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || n <= 0 {
		*errs = append(*errs, FieldError{Field: field, Message: "It should be a Positive Integer", Code: "invalid_value"})
		return 0, false
	}
	return n, true
}

func (s *Server) listTickets(c *kernel.Call, q url.Values) response {
	if resp, ok := s.checkQuery(q, "updated_since", "order_by", "order_type", "filter", "per_page", "page",
		"include", "requester_id", "email", "company_id"); !ok {
		return resp
	}
	var errs []FieldError
	var since time.Time
	hasSince := false
	if v, ok := q["updated_since"]; ok {
		if since, hasSince = parseTime(v[0]); !hasSince {
			errs = append(errs, FieldError{Field: "updated_since", Message: "It should be in the 'valid date time' format", Code: "invalid_value"})
		}
	}
	orderBy := "created_at"
	if v, ok := q["order_by"]; ok {
		if !contains([]string{"created_at", "due_by", "updated_at", "status"}, v[0]) {
			errs = append(errs, FieldError{Field: "order_by", Message: "It should be one of these values: 'created_at,due_by,updated_at,status'", Code: "invalid_value"})
		}
		orderBy = v[0]
	}
	desc := true
	if v, ok := q["order_type"]; ok {
		switch v[0] {
		case "asc":
			desc = false
		case "desc":
		default:
			errs = append(errs, FieldError{Field: "order_type", Message: "It should be one of these values: 'asc,desc'", Code: "invalid_value"})
		}
	}
	filter := q.Get("filter")
	if _, ok := q["filter"]; ok {
		switch filter {
		case "deleted", "spam":
		case "new_and_my_open", "watching":
			errs = append(errs, FieldError{Field: "filter", Message: "the simulator does not simulate agent-specific filters; use deleted or spam", Code: "invalid_value"})
		default:
			errs = append(errs, FieldError{Field: "filter", Message: "It should be one of these values: 'new_and_my_open,watching,spam,deleted'", Code: "invalid_value"})
		}
	}
	requesterID, hasRequester := positiveInt(q, "requester_id", &errs)
	companyID, hasCompany := positiveInt(q, "company_id", &errs)
	email, hasEmail := strings.ToLower(q.Get("email")), q.Has("email")
	if hasEmail && !validEmail(email) {
		errs = append(errs, FieldError{Field: "email", Message: "It should be in the 'valid email address' format", Code: "invalid_value"})
	}
	var includes []string
	if v, ok := q["include"]; ok {
		for _, inc := range strings.Split(v[0], ",") {
			inc = strings.TrimSpace(inc)
			if !includeAllowed("tickets", inc) {
				errs = append(errs, FieldError{Field: "include", Message: "It should be one of these values: 'requester,stats,description,company'", Code: "invalid_value"})
				break
			}
			if !contains(includes, inc) {
				includes = append(includes, inc)
			}
		}
	}
	perPage, page, perrs := pageParams(q)
	errs = append(errs, perrs...)
	// An endless walk (the Paging knob) goes past the page cap.
	endless := false
	if page > s.opts.PageCap {
		endless = len(errs) == 0 && c.Endless()
	}
	if page > s.opts.PageCap && !endless {
		errs = append(errs, FieldError{Field: "page", Message: fmt.Sprintf("You cannot access tickets beyond the %s page. Please provide a smaller page number.", ordinal(s.opts.PageCap)), Code: "invalid_value"})
	}
	if len(errs) > 0 {
		return jsonResponse(http.StatusBadRequest, &ValidationError{Errors: errs})
	}

	var requesterByEmail int64 = -1
	if hasEmail {
		if c := s.contactByEmail(email); c != nil {
			requesterByEmail = c.id
		}
	}
	windowStart := s.k.Stamp().Add(-s.opts.DefaultWindow)
	selectRows := func() []*record {
		hidden := s.k.HiddenFunc()
		var rows []*record
		for _, t := range s.tickets.Rows() { // by id: sorting is then near linear
			switch {
			case t.archived:
				continue
			case filter == "deleted" && !t.deleted:
				continue
			case filter == "spam" && (!t.spam || t.deleted):
				continue
			case filter == "" && (t.deleted || t.spam):
				continue
			case hasSince && t.updated.Before(since):
				continue
			case !hasSince && t.created.Before(windowStart):
				continue
			case hasRequester && t.f["requester_id"] != requesterID:
				continue
			case hasEmail && t.f["requester_id"] != requesterByEmail:
				continue
			case hasCompany && t.f["company_id"] != companyID:
				continue
			case hidden(t.updated):
				continue
			}
			rows = append(rows, t)
		}
		type keyed struct {
			n int64  // created_at, updated_at (Unix seconds) or status
			s string // due_by, a fixed-width timestamp
			r *record
		}
		ks := make([]keyed, len(rows))
		for i, t := range rows {
			k := keyed{r: t}
			switch orderBy {
			case "updated_at":
				k.n = t.updated.Unix()
			case "due_by":
				k.s, _ = t.f["due_by"].(string)
			case "status":
				k.n = t.f["status"].(int64)
			default:
				k.n = t.created.Unix()
			}
			ks[i] = k
		}
		// Sorted ascending then reversed for desc: ties are broken by id in the direction asked
		// for, so that walking a query both ways reaches both ends of a block of records
		// sharing one timestamp.
		slices.SortFunc(ks, func(a, b keyed) int {
			if a.n != b.n {
				return cmp.Compare(a.n, b.n)
			}
			if a.s != b.s {
				return strings.Compare(a.s, b.s)
			}
			return cmp.Compare(a.r.id, b.r.id)
		})
		if desc {
			slices.Reverse(ks)
		}
		for i, k := range ks {
			rows[i] = k.r
		}
		return rows
	}
	rows := selectRows()
	if s.maybeShift(c, "tickets", rows, perPage, page) {
		rows = selectRows()
	}
	pageRows, next := paginate(rows, perPage, page)
	out := make([]Ticket, 0, len(pageRows))
	for _, t := range pageRows {
		v := ticketListView(t)
		if len(includes) > 0 {
			s.addIncludes(v, t, strings.Join(includes, ","), "tickets")
		}
		out = append(out, v)
	}
	resp := jsonResponse(http.StatusOK, out)
	if next || endless || c.Endless() {
		resp.hdr = http.Header{"Link": {nextLink(c.R, page+1)}}
	}
	return resp
}

// addIncludes adds the embedded objects of include=... to a ticket view.
func (s *Server) addIncludes(v Ticket, t *record, include, kind string) []FieldError {
	if include == "" {
		return nil
	}
	for _, inc := range strings.Split(include, ",") {
		inc = strings.TrimSpace(inc)
		switch {
		case !includeAllowed(kind, inc):
			return []FieldError{{Field: "include", Message: "It should be one of these values: 'conversations,requester,company,stats'", Code: "invalid_value"}}
		case inc == "description":
			v["description"] = t.f["description"]
			v["description_text"] = t.f["description_text"]
		case inc == "requester":
			if c := s.contacts.Get(t.f["requester_id"].(int64)); c != nil {
				v["requester"] = map[string]any{"id": c.id, "name": c.f["name"], "email": c.f["email"], "mobile": c.f["mobile"], "phone": c.f["phone"]}
			} else {
				v["requester"] = nil
			}
		case inc == "company":
			if id, ok := t.f["company_id"].(int64); ok {
				v["company"] = map[string]any{"id": id, "name": s.companyName(id)}
			} else {
				v["company"] = nil
			}
		case inc == "conversations":
			v["conversations"] = []any{}
		case inc == "stats":
			ts := func(t time.Time) any {
				if t.IsZero() {
					return nil
				}
				return fmtTime(t)
			}
			v["stats"] = map[string]any{
				"agent_responded_at": nil, "requester_responded_at": nil, "first_responded_at": nil,
				"status_updated_at": ts(t.statusUpdatedAt), "reopened_at": nil,
				"resolved_at": ts(t.resolvedAt), "closed_at": ts(t.closedAt), "pending_since": ts(t.pendingSince),
			}
		}
	}
	return nil
}

func paginate(rows []*record, perPage, page int) ([]*record, bool) {
	start := (page - 1) * perPage
	if start >= len(rows) {
		return nil, false
	}
	end := min(start+perPage, len(rows))
	return rows[start:end], end < len(rows)
}

// nextLink is the request's absolute URL with page replaced by (or extended with) next; every
// other parameter is kept in its original order and encoding.
func nextLink(r *http.Request, next int) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	var parts []string
	replaced := false
	for _, p := range strings.Split(r.URL.RawQuery, "&") {
		if p == "" {
			continue
		}
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == "page" {
			if !replaced {
				parts = append(parts, "page="+strconv.Itoa(next))
				replaced = true
			}
			continue
		}
		parts = append(parts, p)
	}
	if !replaced {
		parts = append(parts, "page="+strconv.Itoa(next))
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: strings.Join(parts, "&")}
	return "<" + u.String() + `>; rel="next"`
}

func (s *Server) listContacts(call *kernel.Call, q url.Values) response {
	if resp, ok := s.checkQuery(q, "_updated_since", "state", "email", "phone", "mobile", "company_id", "per_page", "page"); !ok {
		return resp
	}
	var errs []FieldError
	var since time.Time
	hasSince := false
	if v, ok := q["_updated_since"]; ok {
		if since, hasSince = parseTime(v[0]); !hasSince {
			errs = append(errs, FieldError{Field: "_updated_since", Message: "It should be in the 'valid date time' format", Code: "invalid_value"})
		}
	}
	state := q.Get("state")
	if q.Has("state") && !contains([]string{"blocked", "deleted", "unverified", "verified"}, state) {
		errs = append(errs, FieldError{Field: "state", Message: "It should be one of these values: 'blocked,deleted,unverified,verified'", Code: "invalid_value"})
	}
	companyID, hasCompany := positiveInt(q, "company_id", &errs)
	email, hasEmail := strings.ToLower(q.Get("email")), q.Has("email")
	phone, hasPhone := q.Get("phone"), q.Has("phone")
	mobile, hasMobile := q.Get("mobile"), q.Has("mobile")
	perPage, page, perrs := pageParams(q)
	errs = append(errs, perrs...)
	if len(errs) > 0 {
		return jsonResponse(http.StatusBadRequest, &ValidationError{Errors: errs})
	}
	selectRows := func() []*record {
		hidden := s.k.HiddenFunc()
		var rows []*record
		for _, c := range s.contacts.Rows() {
			active, _ := c.f["active"].(bool)
			switch {
			case state == "deleted" && !c.deleted:
				continue
			case state != "deleted" && c.deleted:
				continue
			case state == "" && c.blocked:
				continue
			case state == "blocked" && !c.blocked:
				continue
			case state == "verified" && (c.blocked || !active):
				continue
			case state == "unverified" && (c.blocked || active):
				continue
			case hasSince && c.updated.Before(since):
				continue
			case hasEmail && c.f["email"] != email && !contains(c.f["other_emails"].([]string), email):
				continue
			case hasPhone && c.f["phone"] != phone:
				continue
			case hasMobile && c.f["mobile"] != mobile:
				continue
			case hasCompany && c.f["company_id"] != companyID:
				continue
			case hidden(c.updated):
				continue
			}
			rows = append(rows, c)
		}
		slices.SortFunc(rows, func(a, b *record) int {
			if c := a.updated.Compare(b.updated); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		return rows
	}
	rows := selectRows()
	if s.maybeShift(call, "contacts", rows, perPage, page) {
		rows = selectRows()
	}
	pageRows, next := paginate(rows, perPage, page)
	out := make([]Contact, 0, len(pageRows))
	for _, c := range pageRows {
		out = append(out, contactView(c, false))
	}
	resp := jsonResponse(http.StatusOK, out)
	if next || call.Endless() {
		resp.hdr = http.Header{"Link": {nextLink(call.R, page+1)}}
	}
	return resp
}
