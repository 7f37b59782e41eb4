package freshdesk

import (
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

const timeLayout = "2006-01-02T15:04:05Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Field kinds for validation.
type kind int

const (
	kString kind = iota
	kNullString
	kInt
	kNullInt
	kBool
	kNullBool
	kStrings
	kEmails
	kObject
	kTime
	kEmail
	kNullEmail
	kInts     // array of positive integers, sorted and de-duplicated
	kNullTime // a timestamp or null
	kFlag     // true/false, or 1/0 as Freshdesk also accepts
)

type fieldSpec struct {
	kind     kind
	ints     []int64  // allowed integer values
	strs     []string // allowed string values
	direct   bool     // only the direct methods may set it
	readOnly bool     // not writable at all
}

var (
	ticketStatuses   = []int64{2, 3, 4, 5}
	ticketPriorities = []int64{1, 2, 3, 4}
	ticketSources    = []int64{1, 2, 3, 5, 6, 7, 9, 10}
	ticketTypes      = []string{"Question", "Incident", "Problem", "Feature Request", "Refund"}
)

var ticketSpecs = map[string]fieldSpec{
	"subject":         {kind: kString},
	"description":     {kind: kString},
	"status":          {kind: kInt, ints: ticketStatuses},
	"priority":        {kind: kInt, ints: ticketPriorities},
	"source":          {kind: kInt, ints: ticketSources},
	"type":            {kind: kNullString, strs: ticketTypes},
	"requester_id":    {kind: kInt},
	"email":           {kind: kEmail},
	"phone":           {kind: kString},
	"name":            {kind: kString},
	"responder_id":    {kind: kNullInt},
	"group_id":        {kind: kNullInt},
	"company_id":      {kind: kNullInt},
	"product_id":      {kind: kNullInt},
	"email_config_id": {kind: kNullInt},
	"cc_emails":       {kind: kEmails},
	"tags":            {kind: kStrings},
	"custom_fields":   {kind: kObject},
	"due_by":          {kind: kTime},
	"fr_due_by":       {kind: kTime},
	"spam":            {kind: kBool, direct: true},
	"created_at":      {kind: kTime, direct: true},
	"updated_at":      {kind: kTime, direct: true},
}

var contactSpecs = map[string]fieldSpec{
	"name":               {kind: kString},
	"email":              {kind: kNullEmail},
	"phone":              {kind: kNullString},
	"mobile":             {kind: kNullString},
	"twitter_id":         {kind: kNullString},
	"unique_external_id": {kind: kNullString},
	"address":            {kind: kNullString},
	"description":        {kind: kNullString},
	"job_title":          {kind: kNullString},
	"language":           {kind: kString},
	"time_zone":          {kind: kString},
	"company_id":         {kind: kNullInt},
	"view_all_tickets":   {kind: kNullBool},
	"other_emails":       {kind: kEmails},
	"tags":               {kind: kStrings},
	"custom_fields":      {kind: kObject},
	"active":             {kind: kBool, direct: true},
	"blocked":            {kind: kBool, direct: true},
	"created_at":         {kind: kTime, direct: true},
	"updated_at":         {kind: kTime, direct: true},
}

// Public field sets.
var (
	ticketListKeys = []string{
		"cc_emails", "fwd_emails", "reply_cc_emails", "ticket_cc_emails", "fr_escalated", "spam",
		"email_config_id", "group_id", "priority", "requester_id", "responder_id", "source", "company_id",
		"status", "subject", "association_type", "support_email", "to_emails", "product_id", "id", "type",
		"due_by", "fr_due_by", "is_escalated", "custom_fields", "created_at", "updated_at",
		"associated_tickets_count", "tags", "nr_due_by", "nr_escalated",
	}
	ticketViewExtra = []string{"description", "description_text", "attachments"}
	contactKeys     = []string{
		"active", "address", "company_id", "description", "email", "id", "job_title", "language", "mobile",
		"name", "phone", "time_zone", "twitter_id", "other_emails", "facebook_id", "unique_external_id",
		"view_all_tickets", "tags", "custom_fields", "csat_rating", "preferred_source", "created_at", "updated_at",
	}
)

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "Null"
	case string:
		return "String"
	case bool:
		return "Boolean"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "Integer"
	case float32, float64:
		return "Number"
	case []any, []string, []int64, []int:
		return "Array"
	case map[string]any:
		return "key/value pair"
	}
	return fmt.Sprintf("%T", v)
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), x <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case float32:
		return asInt(float64(x))
	}
	return 0, false
}

func asInts(v any) ([]int64, bool) {
	switch x := v.(type) {
	case []int64:
		return append([]int64{}, x...), true
	case []int:
		out := make([]int64, len(x))
		for i, n := range x {
			out[i] = int64(n)
		}
		return out, true
	case []any:
		out := make([]int64, 0, len(x))
		for _, e := range x {
			n, ok := asInt(e)
			if !ok {
				return nil, false
			}
			out = append(out, n)
		}
		return out, true
	}
	return nil, false
}

func asStrings(v any) ([]string, bool) {
	switch x := v.(type) {
	case []string:
		return append([]string{}, x...), true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\r\n<>,;\"") &&
		!strings.Contains(domain, "@") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// parseTime accepts the ISO-8601 forms Freshdesk takes: RFC 3339 (with or without fractional
// seconds), a date-time without zone (UTC), or a date (midnight UTC).
func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func mismatch(field string, v any, want string) FieldError {
	return FieldError{Field: field, Message: fmt.Sprintf("Value set is of type %s.It should be a/an %s", typeName(v), want), Code: "datatype_mismatch"}
}

func joinInts(xs []int64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}

// validate checks and converts fields against specs, returning canonical values.
func validate(in map[string]any, specs map[string]fieldSpec, direct bool) (map[string]any, []FieldError) {
	out := make(map[string]any, len(in))
	var errs []FieldError
	for _, k := range sortedKeys(in) {
		v := in[k]
		spec, ok := specs[k]
		if !ok || spec.readOnly || (spec.direct && !direct) {
			errs = append(errs, FieldError{Field: k, Message: "Unexpected/invalid field in request", Code: "invalid_field"})
			continue
		}
		if v == nil {
			switch spec.kind {
			case kNullString, kNullInt, kNullBool, kNullEmail, kNullTime:
				out[k] = nil
			default:
				errs = append(errs, mismatch(k, v, kindName(spec.kind)))
			}
			continue
		}
		switch spec.kind {
		case kString, kNullString:
			s, ok := v.(string)
			if !ok {
				errs = append(errs, mismatch(k, v, "String"))
				continue
			}
			if len(spec.strs) > 0 && !contains(spec.strs, s) {
				errs = append(errs, FieldError{Field: k, Message: "It should be one of these values: '" + strings.Join(spec.strs, ",") + "'", Code: "invalid_value"})
				continue
			}
			out[k] = s
		case kEmail, kNullEmail:
			s, ok := v.(string)
			if !ok {
				errs = append(errs, mismatch(k, v, "String"))
				continue
			}
			if !validEmail(s) {
				errs = append(errs, FieldError{Field: k, Message: "It should be in the 'valid email address' format", Code: "invalid_value"})
				continue
			}
			out[k] = strings.ToLower(s)
		case kInt, kNullInt:
			n, ok := asInt(v)
			if !ok {
				errs = append(errs, mismatch(k, v, "Integer"))
				continue
			}
			if len(spec.ints) > 0 && !containsInt(spec.ints, n) {
				errs = append(errs, FieldError{Field: k, Message: "It should be one of these values: '" + joinInts(spec.ints) + "'", Code: "invalid_value"})
				continue
			}
			if len(spec.ints) == 0 && n <= 0 {
				errs = append(errs, FieldError{Field: k, Message: "It should be a/an Positive Integer", Code: "invalid_value"})
				continue
			}
			out[k] = n
		case kBool, kNullBool:
			b, ok := v.(bool)
			if !ok {
				errs = append(errs, mismatch(k, v, "Boolean"))
				continue
			}
			out[k] = b
		case kStrings, kEmails:
			ss, ok := asStrings(v)
			if !ok {
				errs = append(errs, mismatch(k, v, "Array"))
				continue
			}
			if spec.kind == kEmails {
				bad := false
				for i, s := range ss {
					if !validEmail(s) {
						bad = true
						break
					}
					ss[i] = strings.ToLower(s)
				}
				if bad {
					errs = append(errs, FieldError{Field: k, Message: "It should contain elements that are in the 'valid email address' format", Code: "invalid_value"})
					continue
				}
			}
			out[k] = ss
		case kObject:
			m, ok := v.(map[string]any)
			if !ok {
				errs = append(errs, mismatch(k, v, "key/value pair"))
				continue
			}
			out[k] = kernel.DeepCopy(kernel.Normalize(kernel.DeepCopy(m)))
		case kInts:
			ns, ok := asInts(v)
			if !ok {
				errs = append(errs, mismatch(k, v, "Array"))
				continue
			}
			if slices.ContainsFunc(ns, func(n int64) bool { return n <= 0 }) {
				errs = append(errs, FieldError{Field: k, Message: "It should contain elements that are of type Positive Integer", Code: "invalid_value"})
				continue
			}
			slices.Sort(ns)
			out[k] = slices.Compact(ns)
		case kFlag:
			if b, ok := v.(bool); ok {
				out[k] = b
				continue
			}
			if n, ok := asInt(v); ok && (n == 0 || n == 1) {
				out[k] = n == 1
				continue
			}
			errs = append(errs, mismatch(k, v, "Boolean"))
		case kTime, kNullTime:
			var t time.Time
			switch x := v.(type) {
			case time.Time:
				t = x.UTC()
			case string:
				var ok bool
				if t, ok = parseTime(x); !ok {
					errs = append(errs, FieldError{Field: k, Message: "It should be in the 'valid date time' format", Code: "invalid_value"})
					continue
				}
			default:
				errs = append(errs, mismatch(k, v, "date time"))
				continue
			}
			out[k] = t.Truncate(time.Second)
		}
	}
	return out, errs
}

func kindName(k kind) string {
	switch k {
	case kString, kEmail:
		return "String"
	case kInt:
		return "Integer"
	case kBool, kFlag:
		return "Boolean"
	case kStrings, kEmails, kInts:
		return "Array"
	case kObject:
		return "key/value pair"
	case kTime:
		return "date time"
	}
	return "value"
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func containsInt(xs []int64, n int64) bool {
	for _, x := range xs {
		if x == n {
			return true
		}
	}
	return false
}

// stripHTML turns a description into description_text.
func stripHTML(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
}

// slaDue returns first-response and resolution due times for a priority.
func slaDue(created time.Time, priority int64) (fr, due time.Time) {
	switch priority {
	case 4:
		return created.Add(time.Hour), created.Add(4 * time.Hour)
	case 3:
		return created.Add(4 * time.Hour), created.Add(24 * time.Hour)
	case 2:
		return created.Add(8 * time.Hour), created.Add(48 * time.Hour)
	}
	return created.Add(24 * time.Hour), created.Add(72 * time.Hour)
}

// ---- views ----

func ticketView(r *record) Ticket {
	v := make(Ticket, len(ticketListKeys)+4)
	for _, k := range ticketListKeys {
		v[k] = kernel.DeepCopy(r.f[k])
	}
	for _, k := range ticketViewExtra {
		v[k] = kernel.DeepCopy(r.f[k])
	}
	if r.deleted {
		v["deleted"] = true
	}
	return v
}

func ticketListView(r *record) Ticket {
	v := make(Ticket, len(ticketListKeys)+1)
	for _, k := range ticketListKeys {
		v[k] = kernel.DeepCopy(r.f[k])
	}
	if r.deleted {
		v["deleted"] = true
	}
	return v
}

func contactView(r *record, single bool) Contact {
	v := make(Contact, len(contactKeys)+2)
	for _, k := range contactKeys {
		v[k] = kernel.DeepCopy(r.f[k])
	}
	if single {
		v["avatar"] = nil
	}
	if r.deleted {
		v["deleted"] = true
	}
	return v
}

func (r *record) touch(t time.Time) {
	r.updated = t
	r.f["updated_at"] = fmtTime(t)
}

// ---- contacts ----

func (s *Server) contactByEmail(email string) *record {
	email = strings.ToLower(email)
	for _, c := range s.contacts.Rows() {
		if e, _ := c.f["email"].(string); e != "" && e == email {
			return c
		}
		if others, _ := c.f["other_emails"].([]string); contains(others, email) {
			return c
		}
	}
	return nil
}

func (s *Server) contactByPhone(phone string) *record {
	for _, id := range s.contacts.IDs() {
		c := s.contacts.Get(id)
		if p, _ := c.f["phone"].(string); p == phone {
			return c
		}
		if m, _ := c.f["mobile"].(string); m == phone {
			return c
		}
	}
	return nil
}

var contactIdentifiers = []string{"email", "phone", "mobile", "twitter_id", "unique_external_id"}

func (s *Server) createContactLocked(in map[string]any, direct bool, rng *rand.Rand) (*record, error) {
	vals, errs := validate(in, contactSpecs, direct)
	if direct {
		if _, ok := vals["name"]; !ok {
			if _, bad := in["name"]; !bad {
				vals["name"] = genName(rng)
			}
		}
		hasID := false
		for _, k := range contactIdentifiers {
			if vals[k] != nil {
				hasID = true
			}
		}
		if !hasID && !hasFieldErr(errs, contactIdentifiers...) {
			name, _ := vals["name"].(string)
			if name == "" {
				name = genName(rng)
			}
			vals["email"] = s.uniqueEmail(rng, name)
		}
	}
	if _, ok := vals["name"]; !ok && !hasFieldErr(errs, "name") {
		errs = append(errs, FieldError{Field: "name", Message: "It should be a/an String", Code: "missing_field"})
	}
	hasID := false
	for _, k := range contactIdentifiers {
		if vals[k] != nil {
			hasID = true
		}
	}
	if !hasID && !hasFieldErr(errs, contactIdentifiers...) {
		errs = append(errs, FieldError{Field: "email", Message: "Please fill at least 1 of email, mobile, phone, twitter_id, unique_external_id fields", Code: "missing_field"})
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Status: 400, Errors: errs}
	}
	if e, ok := vals["email"].(string); ok {
		if c := s.contactByEmail(e); c != nil {
			return nil, &ValidationError{Status: 409, Errors: []FieldError{{Field: "email", Message: "It should be a unique value", Code: "duplicate_value", AdditionalInfo: map[string]any{"user_id": c.id}}}}
		}
	}
	now := s.k.Stamp()
	created, updated := now, now
	if t, ok := vals["created_at"].(time.Time); ok {
		created, updated = t, t
	}
	if t, ok := vals["updated_at"].(time.Time); ok {
		updated = t
	}
	if updated.Before(created) {
		return nil, &ValidationError{Status: 400, Errors: []FieldError{{Field: "updated_at", Message: "It should be on or after created_at", Code: "invalid_value"}}}
	}
	r := newContactRecord(s.contacts.Alloc(), created)
	s.applyContact(r, vals)
	r.touch(updated)
	s.contacts.Put(r.id, r)
	s.k.Log("contacts", r.id, "created", r.updated)
	s.log.Debug("contact created", "id", r.id)
	return r, nil
}

// newContactRecord is a contact with every field at its default.
func newContactRecord(id int64, created time.Time) *record {
	r := &record{id: id, created: created}
	r.f = map[string]any{
		"id": r.id, "name": nil, "email": nil, "phone": nil, "mobile": nil, "company_id": nil,
		"active": false, "address": nil, "description": nil, "job_title": nil, "language": "en",
		"time_zone": "Eastern Time (US & Canada)", "twitter_id": nil, "facebook_id": nil,
		"unique_external_id": nil, "view_all_tickets": nil, "other_emails": []string{}, "tags": []string{},
		"custom_fields": map[string]any{}, "csat_rating": nil, "preferred_source": nil,
		"created_at": fmtTime(created),
	}
	return r
}

func (s *Server) applyContact(r *record, vals map[string]any) {
	for k, v := range vals {
		switch k {
		case "created_at", "updated_at":
		case "blocked":
			r.blocked = v.(bool)
		default:
			r.f[k] = v
		}
	}
}

func (s *Server) updateContactLocked(id int64, in map[string]any, direct bool) (*record, error) {
	r := s.contacts.Get(id)
	if r == nil {
		return nil, ErrNotFound
	}
	if r.deleted {
		return nil, ErrDeleted
	}
	vals, errs := validate(in, contactSpecs, direct)
	if _, ok := vals["created_at"]; ok {
		errs = append(errs, FieldError{Field: "created_at", Message: "Unexpected/invalid field in request", Code: "invalid_field"})
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Status: 400, Errors: errs}
	}
	if e, ok := vals["email"].(string); ok {
		if c := s.contactByEmail(e); c != nil && c.id != id {
			return nil, &ValidationError{Status: 409, Errors: []FieldError{{Field: "email", Message: "It should be a unique value", Code: "duplicate_value", AdditionalInfo: map[string]any{"user_id": c.id}}}}
		}
	}
	s.applyContact(r, vals)
	t := s.k.Stamp()
	if u, ok := vals["updated_at"].(time.Time); ok {
		t = u
	}
	r.touch(t)
	s.k.Log("contacts", id, "updated", r.updated)
	s.log.Debug("contact updated", "id", id)
	return r, nil
}

// ---- tickets ----

func hasFieldErr(errs []FieldError, fields ...string) bool {
	for _, e := range errs {
		if contains(fields, e.Field) {
			return true
		}
	}
	return false
}

// resolveRequester finds or creates the requester named by vals (requester_id, email, phone).
// It returns (nil, nil) when vals names none.
func (s *Server) resolveRequester(vals map[string]any, at time.Time, rng *rand.Rand) (*record, []FieldError) {
	if id, ok := vals["requester_id"].(int64); ok {
		c := s.contacts.Get(id)
		if c == nil || c.deleted {
			return nil, []FieldError{{Field: "requester_id", Message: "There is no contact matching the given requester_id", Code: "invalid_value"}}
		}
		return c, nil
	}
	name, _ := vals["name"].(string)
	if email, ok := vals["email"].(string); ok {
		if c := s.contactByEmail(email); c != nil {
			if c.deleted {
				return nil, []FieldError{{Field: "email", Message: "The requester with this email is deleted", Code: "invalid_value"}}
			}
			return c, nil
		}
		if name == "" {
			local, _, _ := strings.Cut(email, "@")
			name = local
		}
		c, err := s.createContactLocked(map[string]any{"name": name, "email": email, "created_at": at}, true, rng)
		if err != nil {
			return nil, err.(*ValidationError).Errors
		}
		return c, nil
	}
	if phone, ok := vals["phone"].(string); ok {
		if c := s.contactByPhone(phone); c != nil && !c.deleted {
			return c, nil
		}
		if name == "" {
			return nil, []FieldError{{Field: "name", Message: "It should be a/an String", Code: "missing_field"}}
		}
		c, err := s.createContactLocked(map[string]any{"name": name, "phone": phone, "created_at": at}, true, rng)
		if err != nil {
			return nil, err.(*ValidationError).Errors
		}
		return c, nil
	}
	return nil, nil
}

func (s *Server) createTicketLocked(in map[string]any, direct bool, rng *rand.Rand) (*record, error) {
	vals, errs := validate(in, ticketSpecs, direct)
	if direct {
		if _, ok := in["subject"]; !ok {
			vals["subject"] = genSubject(rng)
		}
		if _, ok := in["description"]; !ok {
			vals["description"] = genDescription(rng, vals["subject"])
		}
		if _, ok := in["status"]; !ok {
			vals["status"] = int64(2)
		}
		if _, ok := in["priority"]; !ok {
			vals["priority"] = int64(1)
		}
	}
	for _, k := range []string{"subject", "description", "status", "priority"} {
		if _, ok := vals[k]; !ok && !hasFieldErr(errs, k) {
			want := "String"
			if k == "status" || k == "priority" {
				want = "Integer"
			}
			errs = append(errs, FieldError{Field: k, Message: "It should be a/an " + want, Code: "missing_field"})
		}
	}
	now := s.k.Stamp()
	created, updated := now, now
	if t, ok := vals["created_at"].(time.Time); ok {
		created, updated = t, t
	}
	if t, ok := vals["updated_at"].(time.Time); ok {
		updated = t
	}
	if updated.Before(created) {
		errs = append(errs, FieldError{Field: "updated_at", Message: "It should be on or after created_at", Code: "invalid_value"})
	}
	_, hasReqID := vals["requester_id"]
	_, hasEmail := vals["email"]
	_, hasPhone := vals["phone"]
	if !hasReqID && !hasEmail && !hasPhone && !hasFieldErr(errs, "requester_id", "email", "phone") && !direct {
		errs = append(errs, FieldError{Field: "requester_id", Message: "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, unique_external_id fields", Code: "missing_field"})
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Status: 400, Errors: errs}
	}
	requester, rerrs := s.resolveRequester(vals, created, rng)
	if len(rerrs) > 0 {
		return nil, &ValidationError{Status: 400, Errors: rerrs}
	}
	if requester == nil { // direct only: pick an existing live contact, or make one
		ids := liveIDs(s.contacts)
		if len(ids) > 0 {
			requester = s.contacts.Get(ids[rng.IntN(len(ids))])
		} else {
			var err error
			requester, err = s.createContactLocked(map[string]any{"created_at": created}, true, rng)
			if err != nil {
				return nil, err
			}
		}
	}

	r := &record{id: s.tickets.Alloc(), created: created}
	priority := vals["priority"].(int64)
	fr, due := slaDue(created, priority)
	r.f = map[string]any{
		"id": r.id, "cc_emails": []string{}, "fwd_emails": []string{}, "reply_cc_emails": []string{},
		"ticket_cc_emails": []string{}, "fr_escalated": false, "spam": false, "email_config_id": nil,
		"group_id": nil, "priority": priority, "requester_id": requester.id, "responder_id": nil, "source": int64(2),
		"company_id": requester.f["company_id"], "status": int64(2), "subject": "", "association_type": nil,
		"support_email": nil, "to_emails": nil, "product_id": nil, "type": nil,
		"due_by": fmtTime(due), "fr_due_by": fmtTime(fr), "is_escalated": false,
		"custom_fields": map[string]any{"cf_category": nil}, "created_at": fmtTime(created),
		"associated_tickets_count": nil, "tags": []string{}, "nr_due_by": nil, "nr_escalated": false,
		"description": "", "description_text": "", "attachments": []any{},
	}
	r.statusUpdatedAt = created
	s.applyTicket(r, vals, created)
	r.touch(updated)
	s.tickets.Put(r.id, r)
	s.k.Log("tickets", r.id, "created", r.updated)
	s.log.Debug("ticket created", "id", r.id)
	return r, nil
}

// applyTicket writes validated values; at is the time of the change (for stats).
func (s *Server) applyTicket(r *record, vals map[string]any, at time.Time) {
	for k, v := range vals {
		switch k {
		case "created_at", "updated_at", "email", "phone", "name", "requester_id":
		case "spam":
			r.spam = v.(bool)
			r.f["spam"] = v
		case "description":
			r.f["description"] = v
			r.f["description_text"] = stripHTML(v.(string))
		case "due_by", "fr_due_by":
			r.f[k] = fmtTime(v.(time.Time))
		case "cc_emails":
			r.f["cc_emails"] = v
			r.f["ticket_cc_emails"] = kernel.DeepCopy(v)
			r.f["reply_cc_emails"] = kernel.DeepCopy(v)
		case "custom_fields":
			cf, _ := r.f["custom_fields"].(map[string]any)
			for ck, cv := range v.(map[string]any) {
				cf[ck] = cv
			}
		case "status":
			st := v.(int64)
			if old, _ := r.f["status"].(int64); old != st {
				r.statusUpdatedAt = at
				switch st {
				case 3:
					r.pendingSince = at
				case 4:
					r.resolvedAt = at
				case 5:
					r.closedAt = at
					if r.resolvedAt.IsZero() {
						r.resolvedAt = at
					}
				}
			}
			r.f["status"] = st
		case "priority":
			if _, explicit := vals["due_by"]; !explicit {
				fr, due := slaDue(r.created, v.(int64))
				r.f["due_by"] = fmtTime(due)
				if _, explicitFR := vals["fr_due_by"]; !explicitFR {
					r.f["fr_due_by"] = fmtTime(fr)
				}
			}
			r.f["priority"] = v
		default:
			r.f[k] = v
		}
	}
}

func (s *Server) updateTicketLocked(id int64, in map[string]any, direct bool) (*record, error) {
	r := s.tickets.Get(id)
	if r == nil || r.archived {
		return nil, ErrNotFound
	}
	if r.deleted {
		return nil, ErrDeleted
	}
	vals, errs := validate(in, ticketSpecs, direct)
	if _, ok := vals["created_at"]; ok {
		errs = append(errs, FieldError{Field: "created_at", Message: "Unexpected/invalid field in request", Code: "invalid_field"})
	}
	t := s.k.Stamp()
	if u, ok := vals["updated_at"].(time.Time); ok {
		t = u
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Status: 400, Errors: errs}
	}
	requester, rerrs := s.resolveRequester(vals, t, s.rng)
	if len(rerrs) > 0 {
		return nil, &ValidationError{Status: 400, Errors: rerrs}
	}
	if requester != nil {
		r.f["requester_id"] = requester.id
	}
	s.applyTicket(r, vals, t)
	r.touch(t)
	s.k.Log("tickets", id, "updated", r.updated)
	s.log.Debug("ticket updated", "id", id)
	return r, nil
}

func (s *Server) setDeletedLocked(m *kernel.Table[record], what string, id int64, deleted bool) error {
	r := m.Get(id)
	if r == nil || r.archived {
		return ErrNotFound
	}
	if r.deleted == deleted {
		if deleted {
			return ErrDeleted
		}
		return ErrNotDeleted
	}
	r.deleted = deleted
	r.touch(s.k.Stamp())
	kind := "restored"
	if deleted {
		kind = "deleted"
	}
	s.k.Log(what+"s", id, kind, r.updated)
	s.log.Debug(what+" deletion changed", "id", id, "deleted", deleted)
	return nil
}

// ---- direct methods ----

// CreateTicket stores a ticket as POST /api/v2/tickets would and returns it. Missing subject,
// description, status (2), priority (1) and requester are filled in; "spam", "created_at" and
// "updated_at" may be set too. It panics on invalid fields.
func (s *Server) CreateTicket(fields map[string]any) Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createTicketLocked(fields, true, s.rng)
	if err != nil {
		panic(err)
	}
	return ticketView(r)
}

// UpdateTicket changes a ticket as PUT /api/v2/tickets/{id} would; "spam" and "updated_at" may
// be set too.
func (s *Server) UpdateTicket(id int64, fields map[string]any) (Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.updateTicketLocked(id, fields, true)
	if err != nil {
		return nil, err
	}
	return ticketView(r), nil
}

// DeleteTicket soft-deletes a ticket: deleted=true, updated_at bumped.
func (s *Server) DeleteTicket(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setDeletedLocked(s.tickets, "ticket", id, true)
}

// RestoreTicket undoes DeleteTicket, bumping updated_at.
func (s *Server) RestoreTicket(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setDeletedLocked(s.tickets, "ticket", id, false)
}

// ArchiveTicket archives a closed ticket, as Freshdesk does after about 120 days: it vanishes
// from every list and from GET /tickets/{id} without being deleted and without updated_at
// changing; GET /api/v2/tickets/archived/{id} still returns it.
func (s *Server) ArchiveTicket(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.tickets.Get(id)
	if r == nil || r.archived {
		return ErrNotFound
	}
	if st, _ := r.f["status"].(int64); st != 5 {
		return ErrNotClosed
	}
	r.archived = true
	s.k.Log("tickets", id, "archived", r.updated)
	return nil
}

// Ticket returns a stored ticket (deleted ones too; archived ones too).
func (s *Server) Ticket(id int64) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.tickets.Get(id)
	if r == nil {
		return nil, false
	}
	return ticketView(r), true
}

// CreateContact stores a contact as POST /api/v2/contacts would and returns it. A missing name
// and identifier are generated; "active", "blocked", "created_at" and "updated_at" may be set too.
// It panics on invalid fields or a duplicate email.
func (s *Server) CreateContact(fields map[string]any) Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createContactLocked(fields, true, s.rng)
	if err != nil {
		panic(err)
	}
	return contactView(r, true)
}

// UpdateContact changes a contact as PUT /api/v2/contacts/{id} would; "active", "blocked" and
// "updated_at" may be set too.
func (s *Server) UpdateContact(id int64, fields map[string]any) (Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.updateContactLocked(id, fields, true)
	if err != nil {
		return nil, err
	}
	return contactView(r, true), nil
}

// DeleteContact soft-deletes a contact: deleted=true, updated_at bumped.
func (s *Server) DeleteContact(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setDeletedLocked(s.contacts, "contact", id, true)
}

// RestoreContact undoes DeleteContact, bumping updated_at.
func (s *Server) RestoreContact(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setDeletedLocked(s.contacts, "contact", id, false)
}

// Contact returns a stored contact (deleted ones too).
func (s *Server) Contact(id int64) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.contacts.Get(id)
	if r == nil {
		return nil, false
	}
	return contactView(r, true), true
}
