package zendesk

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// Sentinel errors of the direct methods. Over REST both are a 404 RecordNotFound.
var (
	ErrNotFound = errors.New("zendesk: no such record")
	ErrDeleted  = errors.New("zendesk: record is deleted")
)

// FieldError is one entry of a Zendesk validation error's details.
type FieldError struct {
	Description string `json:"description"`
	Error       string `json:"error"`
}

// ValidationError is Zendesk's 422 {"error":"RecordInvalid","description":"Record validation
// errors","details":{"field":[{"description":...,"error":...}]}}.
type ValidationError struct {
	Details map[string][]FieldError
}

func (e *ValidationError) Error() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		for _, fe := range e.Details[k] {
			parts = append(parts, fe.Description)
		}
	}
	return "zendesk: record invalid: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, code, desc string) {
	if e.Details == nil {
		e.Details = map[string][]FieldError{}
	}
	e.Details[field] = append(e.Details[field], FieldError{Description: desc, Error: code})
}

func (e *ValidationError) orNil() error {
	if e == nil || len(e.Details) == 0 {
		return nil
	}
	return e
}

const timeLayout = "2006-01-02T15:04:05Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// record is one stored ticket, user or organization.
type record struct {
	id        int64
	f         map[string]any // public fields except id, url, created_at, updated_at (and the deletion markers)
	created   time.Time
	updated   time.Time
	deleted   bool
	deletedAt time.Time
	// generated is the time of a ticket's last system update (TouchTicket), which moves its
	// generated_timestamp and not its updated_at; zero when there was none.
	generated time.Time
}

// stamp is the time the exports order a record by: a ticket's generated_timestamp (its last
// change, system updates included), the updated_at of users and organizations.
func (r *record) stamp() time.Time {
	if r.generated.After(r.updated) {
		return r.generated
	}
	return r.updated
}

// after reports whether r comes after the position (t, id) in the export order (stamp, then id).
func (r *record) after(t, id int64) bool {
	u := r.stamp().Unix()
	return u > t || (u == t && r.id > id)
}

func (s *Server) store(resource string) *kernel.Table[record] {
	switch resource {
	case "tickets":
		return s.tickets
	case "users":
		return s.users
	}
	return s.orgs
}

// view renders a record in Zendesk's JSON shape; it runs with s.mu held.
func (s *Server) view(resource string, r *record, base string) map[string]any {
	v := kernel.DeepCopy(r.f).(map[string]any)
	v["id"] = r.id
	v["url"] = fmt.Sprintf("%s/api/v2/%s/%d.json", base, resource, r.id)
	v["created_at"] = fmtTime(r.created)
	v["updated_at"] = fmtTime(r.updated)
	switch resource {
	case "tickets":
		v["generated_timestamp"] = r.stamp().Unix()
		v["fields"] = kernel.DeepCopy(v["custom_fields"])
		if r.deleted {
			v["status"] = "deleted"
		}
	case "users":
		v["active"] = !r.deleted
	case "organizations":
		v["deleted_at"] = nil
		if r.deleted {
			v["deleted_at"] = fmtTime(r.deletedAt)
		}
	}
	return v
}

// Value conversion helpers. Inputs come from JSON (int64, float64, string, bool, []any,
// map[string]any) or from Go callers (int, []int64, []string, time.Time...).

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return l, true
	case []int64:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return l, true
	case []int:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = int64(e)
		}
		return l, true
	case []map[string]any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return l, true
	}
	return nil, false
}

func asIDs(v any) ([]any, bool) {
	l, ok := asList(v)
	if !ok {
		return nil, false
	}
	out := make([]any, 0, len(l))
	for _, e := range l {
		n, ok := asInt(e)
		if !ok || n <= 0 {
			return nil, false
		}
		if !slices.Contains(out, any(n)) {
			out = append(out, n)
		}
	}
	return out, true
}

// asTags normalises tags as Zendesk does: lower case, spaces split a tag, no duplicates.
func asTags(v any) ([]any, bool) {
	l, ok := asList(v)
	if !ok {
		if s, isStr := v.(string); isStr {
			l, ok = []any{s}, true
		} else {
			return nil, false
		}
	}
	out := []any{}
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		for _, t := range strings.Fields(strings.ToLower(s)) {
			if !slices.Contains(out, any(t)) {
				out = append(out, t)
			}
		}
	}
	return out, true
}

func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Truncate(time.Second), true
	case string:
		t, err := time.Parse(time.RFC3339, x)
		return t.UTC().Truncate(time.Second), err == nil
	}
	return time.Time{}, false
}

// setter applies validated values to a record's fields and reports whether anything changed.
type setter struct {
	f       map[string]any
	changed bool
	errs    *ValidationError
}

func (st *setter) set(k string, v any) {
	if old, ok := st.f[k]; ok && reflect.DeepEqual(old, v) {
		return
	}
	st.f[k] = v
	st.changed = true
}

func (st *setter) invalid(field, desc string) { st.errs.add(field, "InvalidValue", desc) }

func titleField(field string) string {
	s := strings.ReplaceAll(field, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// str sets a string (or null when nullable) field.
func (st *setter) str(in map[string]any, k string, nullable bool) {
	v, ok := in[k]
	if !ok {
		return
	}
	if v == nil && nullable {
		st.set(k, nil)
		return
	}
	s, isStr := v.(string)
	if !isStr {
		st.invalid(k, titleField(k)+": is invalid")
		return
	}
	if s == "" && nullable {
		st.set(k, nil)
		return
	}
	st.set(k, s)
}

func (st *setter) boolean(in map[string]any, k string) {
	v, ok := in[k]
	if !ok {
		return
	}
	b, isBool := v.(bool)
	if !isBool {
		st.invalid(k, titleField(k)+": is invalid")
		return
	}
	st.set(k, b)
}

func (st *setter) enum(in map[string]any, k string, nullable bool, allowed ...string) {
	v, ok := in[k]
	if !ok {
		return
	}
	if (v == nil || v == "") && nullable {
		st.set(k, nil)
		return
	}
	s, _ := v.(string)
	if !slices.Contains(allowed, s) {
		st.invalid(k, fmt.Sprintf("%s: %v is not valid", titleField(k), v))
		return
	}
	st.set(k, s)
}

// ref sets an id field that must name a live record of m (when m is not nil), or null.
func (st *setter) ref(in map[string]any, k string, m *kernel.Table[record], check func(*record) string) {
	v, ok := in[k]
	if !ok {
		return
	}
	if v == nil {
		st.set(k, nil)
		return
	}
	id, isInt := asInt(v)
	if !isInt || id <= 0 {
		st.invalid(k, titleField(k)+": is invalid")
		return
	}
	if m != nil {
		r := m.Get(id)
		if r == nil || r.deleted {
			st.invalid(k, fmt.Sprintf("%s: %d not found", titleField(k), id))
			return
		}
		if check != nil {
			if msg := check(r); msg != "" {
				st.invalid(k, msg)
				return
			}
		}
	}
	st.set(k, id)
}

func (st *setter) ids(in map[string]any, k string) {
	v, ok := in[k]
	if !ok {
		return
	}
	l, isIDs := asIDs(v)
	if !isIDs {
		st.invalid(k, titleField(k)+": is invalid")
		return
	}
	st.set(k, l)
}

func (st *setter) tags(in map[string]any, k string) {
	v, ok := in[k]
	if !ok {
		return
	}
	l, isTags := asTags(v)
	if !isTags {
		st.invalid(k, titleField(k)+": is invalid")
		return
	}
	st.set(k, l)
}

func (st *setter) strings(in map[string]any, k string) {
	v, ok := in[k]
	if !ok {
		return
	}
	l, isList := asList(v)
	if !isList {
		st.invalid(k, titleField(k)+": is invalid")
		return
	}
	out := []any{}
	for _, e := range l {
		s, isStr := e.(string)
		if !isStr {
			st.invalid(k, titleField(k)+": is invalid")
			return
		}
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" && !slices.Contains(out, any(s)) {
			out = append(out, s)
		}
	}
	st.set(k, out)
}

// merge sets keys of an object field (user_fields, organization_fields), keeping the others.
func (st *setter) merge(in map[string]any, k string) {
	v, ok := in[k]
	if !ok {
		return
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		st.invalid(k, titleField(k)+": is invalid")
		return
	}
	cur, _ := kernel.DeepCopy(st.f[k]).(map[string]any)
	if cur == nil {
		cur = map[string]any{}
	}
	for kk, vv := range m {
		cur[kk] = kernel.DeepCopy(vv)
	}
	st.set(k, cur)
}

// stamps reads the direct-only created_at / updated_at overrides.
func stamps(in map[string]any, direct bool, errs *ValidationError) (created, updated time.Time) {
	if !direct {
		return
	}
	for _, k := range []string{"created_at", "updated_at"} {
		v, ok := in[k]
		if !ok {
			continue
		}
		t, isTime := asTime(v)
		if !isTime {
			errs.add(k, "InvalidValue", titleField(k)+": is invalid")
			continue
		}
		if k == "created_at" {
			created = t
		} else {
			updated = t
		}
	}
	return
}

var (
	ticketStatuses   = []string{"new", "open", "pending", "hold", "solved", "closed"}
	ticketPriorities = []string{"urgent", "high", "normal", "low"}
	ticketTypes      = []string{"problem", "incident", "question", "task"}
	userRoles        = []string{"end-user", "agent", "admin"}
)

// ---- tickets ----

func newTicketFields() map[string]any {
	return map[string]any{
		"external_id": nil, "type": nil, "subject": "", "raw_subject": "", "description": "",
		"priority": nil, "status": "new", "recipient": nil, "requester_id": nil, "submitter_id": nil,
		"assignee_id": nil, "organization_id": nil, "group_id": nil, "collaborator_ids": []any{},
		"follower_ids": []any{}, "email_cc_ids": []any{}, "forum_topic_id": nil, "problem_id": nil,
		"has_incidents": false, "is_public": true, "due_at": nil, "tags": []any{},
		"custom_fields": defaultCustomFields(), "satisfaction_rating": nil, "sharing_agreement_ids": []any{},
		"followup_ids": []any{}, "ticket_form_id": ticketFormID, "brand_id": brandID,
		"allow_channelback": false, "allow_attachments": true, "from_messaging_channel": false,
		"via": map[string]any{"channel": "api", "source": map[string]any{"from": map[string]any{}, "to": map[string]any{}, "rel": nil}},
	}
}

// applyTicket validates in and applies it to f. create tells a creation; direct allows the
// fields only the direct methods may set. commented reports a comment (an update by itself).
func (s *Server) applyTicket(f map[string]any, in map[string]any, create, direct bool) (changed, commented bool, err error) {
	errs := &ValidationError{}
	st := &setter{f: f, errs: errs}
	if _, ok := in["subject"]; ok {
		st.str(in, "subject", false)
		if s, ok := f["subject"].(string); ok {
			st.set("raw_subject", s)
		}
	}
	if _, ok := in["raw_subject"]; ok && direct {
		st.str(in, "raw_subject", false)
	}
	st.enum(in, "status", false, ticketStatuses...)
	st.enum(in, "priority", true, ticketPriorities...)
	st.enum(in, "type", true, ticketTypes...)
	st.ref(in, "requester_id", s.users, nil)
	st.ref(in, "submitter_id", s.users, nil)
	st.ref(in, "assignee_id", s.users, func(r *record) string {
		if r.f["role"] == "end-user" {
			return fmt.Sprintf("Assignee: %d is not an agent", r.id)
		}
		return ""
	})
	st.ref(in, "organization_id", s.orgs, nil)
	st.ref(in, "group_id", nil, nil)
	st.ref(in, "problem_id", s.tickets, nil)
	st.ids(in, "collaborator_ids")
	st.ids(in, "follower_ids")
	st.ids(in, "email_cc_ids")
	st.tags(in, "tags")
	st.str(in, "external_id", true)
	if v, ok := in["due_at"]; ok {
		if v == nil {
			st.set("due_at", nil)
		} else if t, isTime := asTime(v); isTime {
			st.set("due_at", fmtTime(t))
		} else {
			st.invalid("due_at", "Due at: is invalid")
		}
	}
	if v, ok := in["custom_fields"]; ok {
		l, isList := asList(v)
		cur, _ := kernel.DeepCopy(f["custom_fields"]).([]any)
		for _, e := range l {
			m, _ := e.(map[string]any)
			id, isInt := asInt(m["id"])
			if m == nil || !isInt {
				isList = false
				break
			}
			found := false
			for _, c := range cur {
				if cm := c.(map[string]any); cm["id"] == id {
					cm["value"] = kernel.DeepCopy(m["value"])
					found = true
				}
			}
			if !found {
				cur = append(cur, map[string]any{"id": id, "value": kernel.DeepCopy(m["value"])})
			}
		}
		if !isList {
			st.invalid("custom_fields", "Custom fields: is invalid")
		} else {
			st.set("custom_fields", cur)
		}
	}
	if v, ok := in["comment"]; ok {
		m, _ := v.(map[string]any)
		body, _ := m["body"].(string)
		if body == "" {
			body, _ = m["html_body"].(string)
		}
		if strings.TrimSpace(body) == "" {
			errs.add("base", "BlankValue", "Comment: cannot be blank")
		} else {
			commented = true
			if create {
				st.set("description", body)
			}
			if pub, isBool := m["public"].(bool); create && isBool {
				st.set("is_public", pub)
			}
		}
	}
	if direct {
		st.str(in, "description", false)
		st.str(in, "recipient", true)
		for _, k := range []string{"via", "satisfaction_rating"} {
			if v, ok := in[k]; ok {
				st.set(k, kernel.DeepCopy(normalizeGo(v)))
			}
		}
		st.boolean(in, "has_incidents")
	}
	if create {
		if d, _ := f["description"].(string); strings.TrimSpace(d) == "" {
			errs.add("base", "BlankValue", "Description: cannot be blank")
		}
		if _, ok := in["status"]; !ok && f["assignee_id"] != nil {
			st.set("status", "open")
		}
	}
	return st.changed, commented, errs.orNil()
}

// normalizeGo turns Go values of direct callers into the JSON-like values stored.
func normalizeGo(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalizeGo(e)
		}
		return m
	case int:
		return int64(x)
	case time.Time:
		return fmtTime(x)
	}
	if l, ok := asList(v); ok {
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = normalizeGo(e)
		}
		return out
	}
	return v
}

func (s *Server) createTicketLocked(in map[string]any, direct bool) (*record, error) {
	now := s.now()
	f := newTicketFields()
	in = maps.Clone(in)
	if in == nil {
		in = map[string]any{}
	}
	if direct {
		// Fill what a caller leaves out, as a ticket raised through the API would have.
		if _, ok := in["subject"]; !ok {
			in["subject"] = genSubject(s.rng)
		}
		if _, ok := in["description"]; !ok {
			if _, ok := in["comment"]; !ok {
				in["description"] = genDescription(s.rng)
			}
		}
		if _, ok := in["requester_id"]; !ok {
			in["requester_id"] = s.requesterAt(s.rng, now).id
		}
	} else if err := s.resolveRequester(in); err != nil {
		return nil, err
	}
	_, _, err := s.applyTicket(f, in, true, direct)
	errs := &ValidationError{}
	created, updated := stamps(in, direct, errs)
	if err != nil {
		return nil, err
	}
	if err := errs.orNil(); err != nil {
		return nil, err
	}
	if f["submitter_id"] == nil {
		f["submitter_id"] = f["requester_id"]
	}
	if f["organization_id"] == nil {
		if id, ok := f["requester_id"].(int64); ok && s.users.Get(id) != nil {
			f["organization_id"] = s.users.Get(id).f["organization_id"]
		}
	}
	r := &record{id: s.allocID("tickets"), f: f, created: now, updated: now}
	if !created.IsZero() {
		r.created = created
		if updated.IsZero() {
			r.updated = created
		}
	}
	if !updated.IsZero() {
		r.updated = updated
	}
	s.tickets.Put(r.id, r)
	s.change("tickets", r, "created")
	return r, nil
}

// resolveRequester fills requester_id of a REST creation: from "requester": {"name", "email"}
// (an existing user with that email, else a new end-user), else the oldest admin or agent
// (the API user, as Zendesk makes the caller the requester).
func (s *Server) resolveRequester(in map[string]any) error {
	if v, ok := in["requester_id"]; ok && v != nil {
		return nil
	}
	if req, ok := in["requester"].(map[string]any); ok {
		email, _ := req["email"].(string)
		if u := s.userByEmail(email, 0); u != nil && email != "" {
			in["requester_id"] = u.id
			return nil
		}
		name, _ := req["name"].(string)
		if name == "" {
			name, _, _ = strings.Cut(email, "@")
		}
		u, err := s.createUserLocked(map[string]any{"name": name, "email": email}, false)
		if err != nil {
			return err
		}
		in["requester_id"] = u.id
		return nil
	}
	if ids := live(s.users, hasRole("admin", "agent")); len(ids) > 0 {
		in["requester_id"] = ids[0]
		return nil
	}
	errs := &ValidationError{}
	errs.add("requester", "BlankValue", "Requester: cannot be blank")
	return errs
}

func (s *Server) updateTicketLocked(id int64, in map[string]any, direct bool) (*record, error) {
	r := s.tickets.Get(id)
	if r == nil {
		return nil, ErrNotFound
	}
	if r.deleted {
		return nil, ErrDeleted
	}
	if r.f["status"] == "closed" {
		errs := &ValidationError{}
		errs.add("status", "StatusClosed", "Status: closed prevents ticket update")
		return nil, errs
	}
	f := kernel.DeepCopy(r.f).(map[string]any)
	changed, commented, err := s.applyTicket(f, in, false, direct)
	if err != nil {
		return nil, err
	}
	errs := &ValidationError{}
	created, updated := stamps(in, direct, errs)
	if err := errs.orNil(); err != nil {
		return nil, err
	}
	return s.commit("tickets", r, f, changed || commented, created, updated), nil
}

// commit stores f as r's fields, moving updated_at when something changed; it logs the update.
func (s *Server) commit(resource string, r *record, f map[string]any, changed bool, created, updated time.Time) *record {
	if !created.IsZero() && !created.Equal(r.created) {
		r.created, changed = created, true
	}
	if !changed && updated.IsZero() {
		return r
	}
	r.f = f
	if updated.IsZero() {
		updated = s.now()
	}
	r.updated = updated
	s.change(resource, r, "updated")
	return r
}

func (s *Server) allocID(resource string) int64 { return s.store(resource).Alloc() }

// ---- users ----

func newUserFields() map[string]any {
	return map[string]any{
		"name": "", "email": nil, "time_zone": "Eastern Time (US & Canada)", "iana_time_zone": "America/New_York",
		"phone": nil, "shared_phone_number": nil, "photo": nil, "locale_id": int64(1), "locale": "en-US",
		"organization_id": nil, "role": "end-user", "verified": false, "external_id": nil, "tags": []any{},
		"alias": nil, "shared": false, "shared_agent": false, "last_login_at": nil,
		"two_factor_auth_enabled": nil, "signature": nil, "details": "", "notes": "", "role_type": nil,
		"custom_role_id": nil, "moderator": false, "ticket_restriction": "requested",
		"only_private_comments": false, "restricted_agent": true, "suspended": false,
		"default_group_id": nil, "report_csv": false, "user_fields": map[string]any{},
	}
}

var ianaZones = map[string]string{
	"Eastern Time (US & Canada)": "America/New_York", "Pacific Time (US & Canada)": "America/Los_Angeles",
	"London": "Europe/London", "Berlin": "Europe/Berlin", "Chennai": "Asia/Kolkata", "Tokyo": "Asia/Tokyo",
	"Copenhagen": "Europe/Copenhagen", "UTC": "Etc/UTC",
}

func (s *Server) applyUser(f map[string]any, in map[string]any, selfID int64, create, direct bool) (bool, error) {
	errs := &ValidationError{}
	st := &setter{f: f, errs: errs}
	st.str(in, "name", false)
	if v, ok := in["email"]; ok {
		switch e, _ := v.(string); {
		case v == nil || e == "":
			st.set("email", nil)
		case !strings.Contains(e, "@") || strings.ContainsAny(e, " ,;"):
			st.invalid("email", "Email: "+e+" is not properly formatted")
		case s.userByEmail(e, selfID) != nil:
			errs.add("email", "DuplicateValue", "Email: "+e+" is already being used by another user")
		default:
			st.set("email", strings.ToLower(e))
		}
	}
	if _, ok := in["role"]; ok {
		st.enum(in, "role", false, userRoles...)
		switch f["role"] {
		case "end-user":
			st.set("ticket_restriction", "requested")
			st.set("restricted_agent", true)
		case "agent":
			st.set("ticket_restriction", nil)
			st.set("restricted_agent", false)
			st.set("role_type", int64(0))
		case "admin":
			st.set("ticket_restriction", nil)
			st.set("restricted_agent", false)
			st.set("role_type", nil)
		}
	}
	st.ref(in, "organization_id", s.orgs, nil)
	st.ref(in, "default_group_id", nil, nil)
	st.str(in, "phone", true)
	if v, ok := in["time_zone"]; ok {
		tz, _ := v.(string)
		iana, known := ianaZones[tz]
		if !known {
			st.invalid("time_zone", fmt.Sprintf("Time zone: %v is not valid", v))
		} else {
			st.set("time_zone", tz)
			st.set("iana_time_zone", iana)
		}
	}
	st.str(in, "locale", false)
	st.tags(in, "tags")
	st.str(in, "external_id", true)
	st.str(in, "details", false)
	st.str(in, "notes", false)
	st.str(in, "alias", true)
	st.str(in, "signature", true)
	st.boolean(in, "verified")
	st.boolean(in, "suspended")
	st.boolean(in, "moderator")
	st.boolean(in, "only_private_comments")
	st.merge(in, "user_fields")
	if direct {
		if v, ok := in["last_login_at"]; ok {
			if t, isTime := asTime(v); isTime {
				st.set("last_login_at", fmtTime(t))
			} else if v == nil {
				st.set("last_login_at", nil)
			} else {
				st.invalid("last_login_at", "Last login at: is invalid")
			}
		}
	}
	if create {
		if n, _ := f["name"].(string); strings.TrimSpace(n) == "" {
			errs.add("name", "BlankValue", "Name: is too short (minimum one character)")
		}
	}
	return st.changed, errs.orNil()
}

func (s *Server) userByEmail(email string, except int64) *record {
	for _, r := range s.users.Rows() {
		if r.id != except && r.f["email"] != nil && strings.EqualFold(r.f["email"].(string), email) {
			return r
		}
	}
	return nil
}

func (s *Server) createUserLocked(in map[string]any, direct bool) (*record, error) {
	now := s.now()
	f := newUserFields()
	in = maps.Clone(in)
	if in == nil {
		in = map[string]any{}
	}
	if direct {
		if _, ok := in["name"]; !ok {
			in["name"] = genName(s.rng)
		}
		if _, ok := in["email"]; !ok {
			in["email"] = s.uniqueEmail(s.rng, in["name"].(string), "")
		}
	}
	_, err := s.applyUser(f, in, 0, true, direct)
	errs := &ValidationError{}
	created, updated := stamps(in, direct, errs)
	if err != nil {
		return nil, err
	}
	if err := errs.orNil(); err != nil {
		return nil, err
	}
	r := &record{id: s.allocID("users"), f: f, created: now, updated: now}
	if !created.IsZero() {
		r.created, r.updated = created, created
	}
	if !updated.IsZero() {
		r.updated = updated
	}
	s.users.Put(r.id, r)
	s.change("users", r, "created")
	return r, nil
}

func (s *Server) updateUserLocked(id int64, in map[string]any, direct bool) (*record, error) {
	r := s.users.Get(id)
	if r == nil {
		return nil, ErrNotFound
	}
	if r.deleted {
		return nil, ErrDeleted
	}
	f := kernel.DeepCopy(r.f).(map[string]any)
	changed, err := s.applyUser(f, in, id, false, direct)
	if err != nil {
		return nil, err
	}
	errs := &ValidationError{}
	created, updated := stamps(in, direct, errs)
	if err := errs.orNil(); err != nil {
		return nil, err
	}
	return s.commit("users", r, f, changed, created, updated), nil
}

// ---- organizations ----

func newOrgFields() map[string]any {
	return map[string]any{
		"name": "", "shared_tickets": false, "shared_comments": false, "external_id": nil,
		"domain_names": []any{}, "details": nil, "notes": nil, "group_id": nil, "tags": []any{},
		"organization_fields": map[string]any{},
	}
}

func (s *Server) applyOrg(f map[string]any, in map[string]any, selfID int64, create bool) (bool, error) {
	errs := &ValidationError{}
	st := &setter{f: f, errs: errs}
	if v, ok := in["name"]; ok {
		n, _ := v.(string)
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			errs.add("name", "BlankValue", "Name: cannot be blank")
		case s.orgByName(n, selfID) != nil:
			errs.add("name", "DuplicateValue", "Name: has already been taken")
		default:
			st.set("name", n)
		}
	} else if create {
		errs.add("name", "BlankValue", "Name: cannot be blank")
	}
	st.strings(in, "domain_names")
	st.str(in, "details", true)
	st.str(in, "notes", true)
	st.ref(in, "group_id", nil, nil)
	st.boolean(in, "shared_tickets")
	st.boolean(in, "shared_comments")
	st.tags(in, "tags")
	st.str(in, "external_id", true)
	st.merge(in, "organization_fields")
	return st.changed, errs.orNil()
}

func (s *Server) orgByName(name string, except int64) *record {
	for _, r := range s.orgs.Rows() {
		if r.id != except && !r.deleted && strings.EqualFold(r.f["name"].(string), name) {
			return r
		}
	}
	return nil
}

func (s *Server) createOrgLocked(in map[string]any, direct bool) (*record, error) {
	now := s.now()
	f := newOrgFields()
	in = maps.Clone(in)
	if in == nil {
		in = map[string]any{}
	}
	if _, ok := in["name"]; !ok && direct {
		in["name"] = s.uniqueOrgName(s.rng)
	}
	_, err := s.applyOrg(f, in, 0, true)
	errs := &ValidationError{}
	created, updated := stamps(in, direct, errs)
	if err != nil {
		return nil, err
	}
	if err := errs.orNil(); err != nil {
		return nil, err
	}
	r := &record{id: s.allocID("organizations"), f: f, created: now, updated: now}
	if !created.IsZero() {
		r.created, r.updated = created, created
	}
	if !updated.IsZero() {
		r.updated = updated
	}
	s.orgs.Put(r.id, r)
	s.change("organizations", r, "created")
	return r, nil
}

func (s *Server) updateOrgLocked(id int64, in map[string]any, direct bool) (*record, error) {
	r := s.orgs.Get(id)
	if r == nil {
		return nil, ErrNotFound
	}
	if r.deleted {
		return nil, ErrDeleted
	}
	f := kernel.DeepCopy(r.f).(map[string]any)
	changed, err := s.applyOrg(f, in, id, false)
	if err != nil {
		return nil, err
	}
	errs := &ValidationError{}
	created, updated := stamps(in, direct, errs)
	if err := errs.orNil(); err != nil {
		return nil, err
	}
	return s.commit("organizations", r, f, changed, created, updated), nil
}

// deleteLocked soft-deletes a record: it stays in the export (ticket status "deleted", user
// active false, organization deleted_at set) with updated_at now.
func (s *Server) deleteLocked(resource string, id int64) (*record, error) {
	r := s.store(resource).Get(id)
	if r == nil {
		return nil, ErrNotFound
	}
	if r.deleted {
		return nil, ErrDeleted
	}
	now := s.now()
	r.deleted, r.deletedAt, r.updated = true, now, now
	s.change(resource, r, "deleted")
	if resource == "organizations" {
		// Its members lose their membership, as in Zendesk.
		for _, uid := range s.users.IDs() {
			u := s.users.Get(uid)
			if u.f["organization_id"] == id && !u.deleted {
				u.f["organization_id"] = nil
				u.updated = now
				s.change("users", u, "updated")
			}
		}
	}
	return r, nil
}

// ---- direct methods ----

func (s *Server) mustView(resource string, r *record, err error) map[string]any {
	if err != nil {
		panic(err)
	}
	return s.view(resource, r, s.directBase())
}

func (s *Server) viewOrErr(resource string, r *record, err error) (map[string]any, error) {
	if err != nil {
		return nil, err
	}
	return s.view(resource, r, s.directBase()), nil
}

// CreateTicket creates a ticket from fields in Zendesk's request shape ("subject", "comment":
// {"body": ...}, "priority", "status", "requester_id", "tags", "custom_fields", ...) and
// returns it in the API's shape. Missing subject, description and requester are generated
// (the requester among existing end-users). Direct calls may also set "description", "via",
// "recipient", "satisfaction_rating", "has_incidents", "created_at" and "updated_at"
// (time.Time or RFC 3339). It panics on invalid fields.
func (s *Server) CreateTicket(fields map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createTicketLocked(fields, true)
	return s.mustView("tickets", r, err)
}

// UpdateTicket updates a ticket. A change or a comment moves updated_at to now (or to the
// "updated_at" given); an update that changes nothing leaves the ticket alone. Errors:
// ErrNotFound, ErrDeleted, *ValidationError (closed tickets cannot be updated).
func (s *Server) UpdateTicket(id int64, fields map[string]any) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.updateTicketLocked(id, fields, true)
	return s.viewOrErr("tickets", r, err)
}

// DeleteTicket soft-deletes a ticket: the exports show it with status "deleted" and updated_at
// now; the REST views answer 404.
func (s *Server) DeleteTicket(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.deleteLocked("tickets", id)
	return err
}

// Ticket returns a ticket as the export shows it (deleted ones included).
func (s *Server) Ticket(id int64) (map[string]any, bool) { return s.get("tickets", id) }

// CreateUser creates a user ("name", "email", "role", "organization_id", "phone", "time_zone",
// "tags", "user_fields", ...); a missing name and email are generated. Direct calls may also
// set "last_login_at", "created_at" and "updated_at". It panics on invalid fields.
func (s *Server) CreateUser(fields map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createUserLocked(fields, true)
	return s.mustView("users", r, err)
}

// UpdateUser updates a user. Errors: ErrNotFound, ErrDeleted, *ValidationError.
func (s *Server) UpdateUser(id int64, fields map[string]any) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.updateUserLocked(id, fields, true)
	return s.viewOrErr("users", r, err)
}

// DeleteUser soft-deletes a user: "active" becomes false and updated_at now; the user stays
// in the users export and readable at /api/v2/users/{id}.
func (s *Server) DeleteUser(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.deleteLocked("users", id)
	return err
}

// User returns a user as the export shows it.
func (s *Server) User(id int64) (map[string]any, bool) { return s.get("users", id) }

// CreateOrganization creates an organization ("name", "domain_names", "details", "notes",
// "group_id", "shared_tickets", "shared_comments", "tags", "organization_fields", ...); a
// missing name is generated. Direct calls may also set "created_at" and "updated_at". It
// panics on invalid fields (a blank or taken name).
func (s *Server) CreateOrganization(fields map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createOrgLocked(fields, true)
	return s.mustView("organizations", r, err)
}

// UpdateOrganization updates an organization. Errors: ErrNotFound, ErrDeleted, *ValidationError.
func (s *Server) UpdateOrganization(id int64, fields map[string]any) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.updateOrgLocked(id, fields, true)
	return s.viewOrErr("organizations", r, err)
}

// DeleteOrganization deletes an organization: the export shows it with deleted_at and
// updated_at now, the REST view answers 404, and its users lose their organization_id.
func (s *Server) DeleteOrganization(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.deleteLocked("organizations", id)
	return err
}

// Organization returns an organization as the export shows it.
func (s *Server) Organization(id int64) (map[string]any, bool) { return s.get("organizations", id) }

func (s *Server) get(resource string, id int64) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.store(resource).Get(id)
	if r == nil {
		return nil, false
	}
	return s.view(resource, r, s.directBase()), true
}

// ---- REST ----

func errorResponse(err error) response {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		return jsonResponse(http.StatusUnprocessableEntity, map[string]any{
			"error": "RecordInvalid", "description": "Record validation errors", "details": ve.Details,
		})
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrDeleted):
		return notFound()
	}
	return errorBody(http.StatusInternalServerError, "InternalError", err.Error())
}

// handleREST serves the CRUD routes; it runs with s.mu held.
func (s *Server) handleREST(method string, rt route, q url.Values, in map[string]any, base string) response {
	res, one := rt.resource, singular[rt.resource]
	wrap := func(status int, r *record) response {
		return jsonResponse(status, map[string]any{one: s.view(res, r, base)})
	}
	switch {
	case rt.kind == "list" && method == http.MethodGet:
		return s.list(res, q, base)
	case rt.kind == "list" && method == http.MethodPost:
		var r *record
		var err error
		switch res {
		case "tickets":
			r, err = s.createTicketLocked(in, false)
		case "users":
			r, err = s.createUserLocked(in, false)
		default:
			r, err = s.createOrgLocked(in, false)
		}
		if err != nil {
			return errorResponse(err)
		}
		return wrap(http.StatusCreated, r)
	case method == http.MethodGet:
		r := s.store(res).Get(rt.id)
		// Deleted users stay readable (active false); deleted tickets and organizations do not.
		if r == nil || (r.deleted && res != "users") {
			return notFound()
		}
		return wrap(http.StatusOK, r)
	case method == http.MethodPut:
		var r *record
		var err error
		switch res {
		case "tickets":
			r, err = s.updateTicketLocked(rt.id, in, false)
		case "users":
			r, err = s.updateUserLocked(rt.id, in, false)
		default:
			r, err = s.updateOrgLocked(rt.id, in, false)
		}
		if err != nil {
			return errorResponse(err)
		}
		return wrap(http.StatusOK, r)
	case method == http.MethodDelete:
		r, err := s.deleteLocked(res, rt.id)
		if err != nil {
			return errorResponse(err)
		}
		if res == "users" {
			return wrap(http.StatusOK, r)
		}
		return response{status: http.StatusNoContent}
	}
	return invalidEndpoint()
}

// list serves GET /api/v2/{resource} with offset pagination (page, per_page up to 100), live
// records by id ascending.
func (s *Server) list(res string, q url.Values, base string) response {
	page, perPage := 1, listPerPage
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errorBody(http.StatusBadRequest, "InvalidPaginationParameter", "page must be a positive integer")
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errorBody(http.StatusBadRequest, "InvalidPaginationParameter", "per_page must be a positive integer")
		}
		perPage = min(n, listPerPage)
	}
	m := s.store(res)
	var live []*record
	for _, r := range m.Rows() {
		if !r.deleted {
			live = append(live, r)
		}
	}
	items := []any{}
	from := (page - 1) * perPage
	for i := from; i < len(live) && i < from+perPage; i++ {
		items = append(items, s.view(res, live[i], base))
	}
	link := func(p int) any {
		v := url.Values{"page": {strconv.Itoa(p)}, "per_page": {strconv.Itoa(perPage)}}
		return base + "/api/v2/" + res + ".json?" + v.Encode()
	}
	var next, prev any
	if from+perPage < len(live) {
		next = link(page + 1)
	}
	if page > 1 {
		prev = link(page - 1)
	}
	return jsonResponse(http.StatusOK, map[string]any{res: items, "next_page": next, "previous_page": prev, "count": len(live)})
}

// exportOrder sorts records by stamp (generated_timestamp for tickets, updated_at otherwise),
// then id.
func exportOrder(rs []*record) {
	slices.SortFunc(rs, func(a, b *record) int {
		if c := a.stamp().Compare(b.stamp()); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
}
