package freshdesk

import (
	"cmp"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// Companies, agents and groups: the "directory" resources. Freshdesk gives them no "changed
// since" filter; pollers page through them and compare updated_at.

var (
	unassignedFor = []string{"30m", "1h", "2h", "4h", "8h", "12h", "1d", "2d", "3d"}
	groupTypes    = []string{"support_agent_group", "field_agent_group"}
	agentTypes    = map[int64]string{1: "support_agent", 2: "field_agent", 3: "collaborator"}
)

var companySpecs = map[string]fieldSpec{
	"name":          {kind: kString},
	"description":   {kind: kNullString},
	"note":          {kind: kNullString},
	"domains":       {kind: kStrings},
	"custom_fields": {kind: kObject},
	"health_score":  {kind: kNullString},
	"account_tier":  {kind: kNullString},
	"renewal_date":  {kind: kNullTime},
	"industry":      {kind: kNullString},
	"created_at":    {kind: kTime, direct: true},
	"updated_at":    {kind: kTime, direct: true},
}

var agentSpecs = map[string]fieldSpec{
	"name":         {kind: kString},
	"email":        {kind: kEmail},
	"phone":        {kind: kNullString},
	"mobile":       {kind: kNullString},
	"job_title":    {kind: kNullString},
	"language":     {kind: kString},
	"time_zone":    {kind: kString},
	"occasional":   {kind: kBool},
	"signature":    {kind: kNullString},
	"ticket_scope": {kind: kInt, ints: []int64{1, 2, 3}},
	"group_ids":    {kind: kInts},
	"role_ids":     {kind: kInts},
	"skill_ids":    {kind: kInts},
	"agent_type":   {kind: kInt, ints: []int64{1, 2, 3}}, // create only
	"focus_mode":   {kind: kBool},
	"available":    {kind: kBool, direct: true},
	"active":       {kind: kBool, direct: true},
	"created_at":   {kind: kTime, direct: true},
	"updated_at":   {kind: kTime, direct: true},
}

var groupSpecs = map[string]fieldSpec{
	"name":               {kind: kString},
	"description":        {kind: kNullString},
	"escalate_to":        {kind: kNullInt},
	"unassigned_for":     {kind: kString, strs: unassignedFor},
	"business_hours_id":  {kind: kNullInt},
	"group_type":         {kind: kString, strs: groupTypes},
	"auto_ticket_assign": {kind: kFlag},
	"agent_ids":          {kind: kInts},
	"created_at":         {kind: kTime, direct: true},
	"updated_at":         {kind: kTime, direct: true},
}

// Public field sets.
var (
	companyKeys = []string{
		"id", "name", "description", "note", "domains", "custom_fields", "health_score", "account_tier",
		"renewal_date", "industry", "created_at", "updated_at",
	}
	agentKeys = []string{
		"available", "occasional", "id", "ticket_scope", "signature", "group_ids", "role_ids", "skill_ids",
		"available_since", "contact", "created_at", "updated_at", "type", "focus_mode",
	}
	agentContactKeys = []string{
		"active", "email", "job_title", "language", "last_login_at", "mobile", "name", "phone", "time_zone",
		"created_at", "updated_at",
	}
	groupKeys = []string{
		"id", "name", "description", "escalate_to", "unassigned_for", "business_hours_id", "group_type",
		"auto_ticket_assign", "agent_ids", "created_at", "updated_at",
	}
)

// ---- views ----

func companyView(r *record) Company {
	v := make(Company, len(companyKeys))
	for _, k := range companyKeys {
		v[k] = kernel.DeepCopy(r.f[k])
	}
	return v
}

func agentView(r *record) Agent {
	v := make(Agent, len(agentKeys))
	for _, k := range agentKeys {
		v[k] = kernel.DeepCopy(r.f[k])
	}
	return v
}

// groupView renders a group; members maps group ids to their agents (see membership).
func groupView(r *record, members map[int64][]int64) Group {
	v := make(Group, len(groupKeys))
	for _, k := range groupKeys {
		v[k] = kernel.DeepCopy(r.f[k])
	}
	v["agent_ids"] = append([]int64{}, members[r.id]...)
	return v
}

// membership maps each group id to its agents, ascending. An agent's group_ids is the one
// stored side of the relation; a group's agent_ids is derived from it.
func (s *Server) membership() map[int64][]int64 {
	m := map[int64][]int64{}
	for _, aid := range s.agents.IDs() {
		for _, gid := range s.agents.Get(aid).f["group_ids"].([]int64) {
			m[gid] = append(m[gid], aid)
		}
	}
	return m
}

// bump moves updated_at to t, never backwards.
func (r *record) bump(t time.Time) {
	if t.After(r.updated) {
		r.touch(t)
	}
}

// ---- shared validation ----

// createTimes returns the created_at and updated_at of a new record: now, unless the direct
// methods set them.
func (s *Server) createTimes(vals map[string]any) (created, updated time.Time, errs []FieldError) {
	now := s.k.Stamp()
	created, updated = now, now
	if t, ok := vals["created_at"].(time.Time); ok {
		created, updated = t, t
	}
	if t, ok := vals["updated_at"].(time.Time); ok {
		updated = t
	}
	if updated.Before(created) {
		errs = append(errs, FieldError{Field: "updated_at", Message: "It should be on or after created_at", Code: "invalid_value"})
	}
	return created, updated, errs
}

// updateTime is the time of an update: now, unless the direct methods set updated_at.
func (s *Server) updateTime(vals map[string]any) time.Time {
	if t, ok := vals["updated_at"].(time.Time); ok {
		return t
	}
	return s.k.Stamp()
}

// checkName requires a non-blank name (on create, a present one) and trims it.
func checkName(vals map[string]any, errs []FieldError, create bool) []FieldError {
	v, ok := vals["name"]
	switch {
	case !ok && create && !hasFieldErr(errs, "name"):
		errs = append(errs, FieldError{Field: "name", Message: "It should be a/an String", Code: "missing_field"})
	case ok && strings.TrimSpace(v.(string)) == "":
		errs = append(errs, FieldError{Field: "name", Message: "It should not be blank", Code: "invalid_value"})
	case ok:
		vals["name"] = strings.TrimSpace(v.(string))
	}
	return errs
}

func rejectOnUpdate(vals map[string]any, errs []FieldError, fields ...string) []FieldError {
	for _, k := range fields {
		if _, ok := vals[k]; ok {
			errs = append(errs, FieldError{Field: k, Message: "Unexpected/invalid field in request", Code: "invalid_field"})
		}
	}
	return errs
}

// missingIDs checks that every id of vals[field] is a key of m.
func missingIDs(vals map[string]any, field string, m *kernel.Table[record]) []FieldError {
	ids, _ := vals[field].([]int64)
	var missing []int64
	for _, id := range ids {
		if m.Get(id) == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []FieldError{{Field: field, Message: "There are no records matching the ids: '" + joinInts(missing) + "'", Code: "invalid_value"}}
}

func duplicate(field string, info map[string]any) error {
	return &ValidationError{Status: http.StatusConflict, Errors: []FieldError{{Field: field, Message: "It should be a unique value", Code: "duplicate_value", AdditionalInfo: info}}}
}

// byName finds a record of m whose name equals name, ignoring case.
func byName(m *kernel.Table[record], name string) *record {
	for _, id := range m.IDs() {
		if n, _ := m.Get(id).f["name"].(string); strings.EqualFold(n, name) {
			return m.Get(id)
		}
	}
	return nil
}

// ---- companies ----

func (s *Server) createCompanyLocked(in map[string]any, direct bool, rng *rand.Rand) (*record, error) {
	vals, errs := validate(in, companySpecs, direct)
	if _, ok := in["name"]; direct && !ok {
		vals["name"] = s.uniqueCompanyName(rng)
	}
	errs = checkName(vals, errs, true)
	created, updated, terrs := s.createTimes(vals)
	errs = append(errs, terrs...)
	if len(errs) > 0 {
		return nil, &ValidationError{Status: http.StatusBadRequest, Errors: errs}
	}
	if byName(s.companies, vals["name"].(string)) != nil {
		return nil, duplicate("name", nil)
	}
	r := &record{id: s.companies.Alloc(), created: created}
	r.f = map[string]any{
		"id": r.id, "name": "", "description": nil, "note": nil, "domains": []string{},
		"custom_fields": map[string]any{}, "health_score": nil, "account_tier": nil, "renewal_date": nil,
		"industry": nil, "created_at": fmtTime(created),
	}
	applyCompany(r, vals)
	r.touch(updated)
	s.companies.Put(r.id, r)
	s.k.Log("companies", r.id, "created", r.updated)
	s.log.Debug("company created", "id", r.id)
	return r, nil
}

func applyCompany(r *record, vals map[string]any) {
	for k, v := range vals {
		switch k {
		case "created_at", "updated_at":
		case "renewal_date":
			if t, ok := v.(time.Time); ok {
				r.f[k] = t.Format(time.DateOnly)
			} else {
				r.f[k] = nil
			}
		case "custom_fields":
			cf := r.f["custom_fields"].(map[string]any)
			for ck, cv := range v.(map[string]any) {
				cf[ck] = cv
			}
		default:
			r.f[k] = v
		}
	}
}

func (s *Server) updateCompanyLocked(id int64, in map[string]any, direct bool) (*record, error) {
	r := s.companies.Get(id)
	if r == nil {
		return nil, ErrNotFound
	}
	vals, errs := validate(in, companySpecs, direct)
	errs = rejectOnUpdate(vals, errs, "created_at")
	errs = checkName(vals, errs, false)
	if len(errs) > 0 {
		return nil, &ValidationError{Status: http.StatusBadRequest, Errors: errs}
	}
	if name, ok := vals["name"].(string); ok {
		if c := byName(s.companies, name); c != nil && c.id != id {
			return nil, duplicate("name", nil)
		}
	}
	applyCompany(r, vals)
	r.touch(s.updateTime(vals))
	s.k.Log("companies", id, "updated", r.updated)
	s.log.Debug("company updated", "id", id)
	return r, nil
}

// deleteCompanyLocked removes a company for good, as Freshdesk does. Its contacts lose their
// company_id (their updated_at moves); tickets keep theirs.
func (s *Server) deleteCompanyLocked(id int64) error {
	if s.companies.Get(id) == nil {
		return ErrNotFound
	}
	s.companies.Delete(id)
	now := s.k.Stamp()
	s.k.Log("companies", id, "deleted", now)
	for _, cid := range s.contacts.IDs() {
		if c := s.contacts.Get(cid); c.f["company_id"] == id {
			c.f["company_id"] = nil
			c.bump(now)
			s.k.Log("contacts", cid, "updated", c.updated)
		}
	}
	s.log.Debug("company deleted", "id", id)
	return nil
}

// ---- agents ----

func (s *Server) agentByEmail(email string) *record {
	email = strings.ToLower(email)
	for _, id := range s.agents.IDs() {
		if s.agents.Get(id).f["contact"].(map[string]any)["email"] == email {
			return s.agents.Get(id)
		}
	}
	return nil
}

// agentEmailTaken returns the id of the agent or contact using email, other than self.
func (s *Server) agentEmailTaken(email string, self int64) (int64, bool) {
	if a := s.agentByEmail(email); a != nil && a.id != self {
		return a.id, true
	}
	if c := s.contactByEmail(email); c != nil {
		return c.id, true
	}
	return 0, false
}

func (s *Server) createAgentLocked(in map[string]any, direct bool, rng *rand.Rand) (*record, error) {
	vals, errs := validate(in, agentSpecs, direct)
	if direct {
		if _, ok := in["name"]; !ok {
			vals["name"] = genName(rng)
		}
		if _, ok := in["email"]; !ok {
			name, _ := vals["name"].(string)
			if strings.TrimSpace(name) == "" {
				name = genName(rng)
			}
			vals["email"] = s.uniqueAgentEmail(rng, name)
		}
	}
	email, hasEmail := vals["email"].(string)
	if !hasEmail && !hasFieldErr(errs, "email") {
		errs = append(errs, FieldError{Field: "email", Message: "It should be a/an String", Code: "missing_field"})
	}
	if _, ok := vals["name"]; !ok && hasEmail && !hasFieldErr(errs, "name") {
		vals["name"], _, _ = strings.Cut(email, "@")
	}
	errs = checkName(vals, errs, false)
	errs = append(errs, missingIDs(vals, "group_ids", s.groups)...)
	created, updated, terrs := s.createTimes(vals)
	errs = append(errs, terrs...)
	if len(errs) > 0 {
		return nil, &ValidationError{Status: http.StatusBadRequest, Errors: errs}
	}
	if uid, taken := s.agentEmailTaken(email, 0); taken {
		return nil, duplicate("email", map[string]any{"user_id": uid})
	}
	r := &record{id: s.agents.Alloc(), created: created}
	r.f = map[string]any{
		"available": false, "occasional": false, "id": r.id, "ticket_scope": int64(1), "signature": nil,
		"group_ids": []int64{}, "role_ids": []int64{}, "skill_ids": []int64{}, "available_since": nil,
		"contact": map[string]any{
			"active": false, "email": nil, "job_title": nil, "language": "en", "last_login_at": nil,
			"mobile": nil, "name": nil, "phone": nil, "time_zone": "Eastern Time (US & Canada)",
			"created_at": fmtTime(created),
		},
		"created_at": fmtTime(created), "type": "support_agent", "focus_mode": true,
	}
	s.applyAgent(r, vals, updated)
	r.touch(updated)
	r.f["contact"].(map[string]any)["updated_at"] = fmtTime(updated)
	s.agents.Put(r.id, r)
	s.k.Log("agents", r.id, "created", r.updated)
	s.log.Debug("agent created", "id", r.id)
	return r, nil
}

// applyAgent writes validated values at time at; it reports whether the embedded contact changed.
func (s *Server) applyAgent(r *record, vals map[string]any, at time.Time) bool {
	contact := r.f["contact"].(map[string]any)
	contactChanged := false
	for _, k := range sortedKeys(vals) {
		v := vals[k]
		switch k {
		case "created_at", "updated_at":
		case "name", "email", "phone", "mobile", "job_title", "language", "time_zone", "active":
			contact[k] = v
			contactChanged = true
		case "agent_type":
			r.f["type"] = agentTypes[v.(int64)]
		case "available":
			if r.f["available"] != v {
				r.f["available_since"] = fmtTime(at)
			}
			r.f["available"] = v
		case "group_ids":
			s.setAgentGroups(r, v.([]int64), at)
		default:
			r.f[k] = v
		}
	}
	return contactChanged
}

// setAgentGroups replaces an agent's group_ids; the groups joined or left get their updated_at
// moved to at, since their agent_ids change.
func (s *Server) setAgentGroups(a *record, ids []int64, at time.Time) {
	old := a.f["group_ids"].([]int64)
	for _, gid := range old {
		if g := s.groups.Get(gid); g != nil && !slices.Contains(ids, gid) {
			g.bump(at)
			s.k.Log("groups", gid, "updated", g.updated)
		}
	}
	for _, gid := range ids {
		if g := s.groups.Get(gid); g != nil && !slices.Contains(old, gid) {
			g.bump(at)
			s.k.Log("groups", gid, "updated", g.updated)
		}
	}
	a.f["group_ids"] = slices.Clone(ids)
}

// setGroupAgents makes ids the agents of group gid; the agents joining or leaving get their
// updated_at moved to at, since their group_ids change.
func (s *Server) setGroupAgents(gid int64, ids []int64, at time.Time) {
	for _, aid := range s.agents.IDs() {
		a := s.agents.Get(aid)
		gids := a.f["group_ids"].([]int64)
		has, want := slices.Contains(gids, gid), slices.Contains(ids, aid)
		switch {
		case has == want:
			continue
		case want:
			gids = append(slices.Clone(gids), gid)
			slices.Sort(gids)
		default:
			gids = slices.DeleteFunc(slices.Clone(gids), func(x int64) bool { return x == gid })
		}
		a.f["group_ids"] = gids
		a.bump(at)
		s.k.Log("agents", aid, "updated", a.updated)
	}
}

func (s *Server) updateAgentLocked(id int64, in map[string]any, direct bool) (*record, error) {
	r := s.agents.Get(id)
	if r == nil {
		return nil, ErrNotFound
	}
	vals, errs := validate(in, agentSpecs, direct)
	errs = rejectOnUpdate(vals, errs, "created_at", "agent_type")
	errs = checkName(vals, errs, false)
	errs = append(errs, missingIDs(vals, "group_ids", s.groups)...)
	if len(errs) > 0 {
		return nil, &ValidationError{Status: http.StatusBadRequest, Errors: errs}
	}
	if email, ok := vals["email"].(string); ok {
		if uid, taken := s.agentEmailTaken(email, id); taken {
			return nil, duplicate("email", map[string]any{"user_id": uid})
		}
	}
	t := s.updateTime(vals)
	if s.applyAgent(r, vals, t) {
		r.f["contact"].(map[string]any)["updated_at"] = fmtTime(t)
	}
	r.touch(t)
	s.k.Log("agents", id, "updated", r.updated)
	s.log.Debug("agent updated", "id", id)
	return r, nil
}

// deleteAgentLocked removes an agent. As in Freshdesk, the person stays as a contact with the
// same id (unless a contact already holds its email); the agent leaves its groups and stops
// being any group's escalate_to, those groups' updated_at moving.
func (s *Server) deleteAgentLocked(id int64) error {
	a := s.agents.Get(id)
	if a == nil {
		return ErrNotFound
	}
	now := s.k.Stamp()
	s.setAgentGroups(a, nil, now)
	for _, gid := range s.groups.IDs() {
		if g := s.groups.Get(gid); g.f["escalate_to"] == id {
			g.f["escalate_to"] = nil
			g.bump(now)
			s.k.Log("groups", gid, "updated", g.updated)
		}
	}
	s.agents.Delete(id)
	s.k.Log("agents", id, "deleted", now)
	ac := a.f["contact"].(map[string]any)
	email, _ := ac["email"].(string)
	if s.contacts.Get(id) == nil && s.contactByEmail(email) == nil {
		c := newContactRecord(id, a.created)
		for _, k := range []string{"name", "email", "phone", "mobile", "job_title", "language", "time_zone", "active"} {
			c.f[k] = ac[k]
		}
		c.touch(now)
		s.contacts.Put(id, c)
		s.k.Log("contacts", id, "created", c.updated)
	}
	s.log.Debug("agent deleted", "id", id)
	return nil
}

// ---- groups ----

func (s *Server) checkEscalateTo(vals map[string]any) []FieldError {
	if id, ok := vals["escalate_to"].(int64); ok && s.agents.Get(id) == nil {
		return []FieldError{{Field: "escalate_to", Message: "There is no agent matching the given escalate_to", Code: "invalid_value"}}
	}
	return nil
}

func (s *Server) createGroupLocked(in map[string]any, direct bool, rng *rand.Rand) (*record, error) {
	vals, errs := validate(in, groupSpecs, direct)
	if _, ok := in["name"]; direct && !ok {
		vals["name"] = s.uniqueGroupName(rng)
	}
	errs = checkName(vals, errs, true)
	errs = append(errs, missingIDs(vals, "agent_ids", s.agents)...)
	errs = append(errs, s.checkEscalateTo(vals)...)
	created, updated, terrs := s.createTimes(vals)
	errs = append(errs, terrs...)
	if len(errs) > 0 {
		return nil, &ValidationError{Status: http.StatusBadRequest, Errors: errs}
	}
	if byName(s.groups, vals["name"].(string)) != nil {
		return nil, duplicate("name", nil)
	}
	r := &record{id: s.groups.Alloc(), created: created}
	r.f = map[string]any{
		"id": r.id, "name": "", "description": nil, "escalate_to": nil, "unassigned_for": "30m",
		"business_hours_id": nil, "group_type": "support_agent_group", "auto_ticket_assign": false,
		"created_at": fmtTime(created),
	}
	s.groups.Put(r.id, r)
	s.applyGroup(r, vals, updated)
	r.touch(updated)
	s.k.Log("groups", r.id, "created", r.updated)
	s.log.Debug("group created", "id", r.id)
	return r, nil
}

func (s *Server) applyGroup(r *record, vals map[string]any, at time.Time) {
	for k, v := range vals {
		switch k {
		case "created_at", "updated_at":
		case "agent_ids":
			s.setGroupAgents(r.id, v.([]int64), at)
		default:
			r.f[k] = v
		}
	}
}

func (s *Server) updateGroupLocked(id int64, in map[string]any, direct bool) (*record, error) {
	r := s.groups.Get(id)
	if r == nil {
		return nil, ErrNotFound
	}
	vals, errs := validate(in, groupSpecs, direct)
	errs = rejectOnUpdate(vals, errs, "created_at")
	errs = checkName(vals, errs, false)
	errs = append(errs, missingIDs(vals, "agent_ids", s.agents)...)
	errs = append(errs, s.checkEscalateTo(vals)...)
	if len(errs) > 0 {
		return nil, &ValidationError{Status: http.StatusBadRequest, Errors: errs}
	}
	if name, ok := vals["name"].(string); ok {
		if g := byName(s.groups, name); g != nil && g.id != id {
			return nil, duplicate("name", nil)
		}
	}
	t := s.updateTime(vals)
	s.applyGroup(r, vals, t)
	r.touch(t)
	s.k.Log("groups", id, "updated", r.updated)
	s.log.Debug("group updated", "id", id)
	return r, nil
}

// deleteGroupLocked removes a group for good; its agents leave it (their updated_at moves).
// Tickets keep their group_id.
func (s *Server) deleteGroupLocked(id int64) error {
	if s.groups.Get(id) == nil {
		return ErrNotFound
	}
	now := s.k.Stamp()
	s.setGroupAgents(id, nil, now)
	s.groups.Delete(id)
	s.k.Log("groups", id, "deleted", now)
	s.log.Debug("group deleted", "id", id)
	return nil
}

// ---- REST ----

// handleDirectory serves the company, agent and group routes; ok is false for other routes.
func (s *Server) handleDirectory(c *kernel.Call, rt route, q url.Values, fields map[string]any) (response, bool) {
	r := c.R
	one := func(rec *record, err error, status int, view func(*record) map[string]any) response {
		if err != nil {
			return errorResponse(err)
		}
		return jsonResponse(status, view(rec))
	}
	viewGroup := func(rec *record) map[string]any { return groupView(rec, s.membership()) }
	switch rt.kind + " " + r.Method {
	case "companies GET":
		return s.listCompanies(c, q), true
	case "companies POST":
		rec, err := s.createCompanyLocked(fields, false, s.rng)
		return one(rec, err, http.StatusCreated, companyView), true
	case "company GET":
		return one(s.companies.Get(rt.id), nilErr(s.companies.Get(rt.id)), http.StatusOK, companyView), true
	case "company PUT":
		rec, err := s.updateCompanyLocked(rt.id, fields, false)
		return one(rec, err, http.StatusOK, companyView), true
	case "company DELETE":
		return errorResponseOr(s.deleteCompanyLocked(rt.id), http.StatusNoContent), true

	case "agents GET":
		return s.listAgents(c, q), true
	case "agents POST":
		rec, err := s.createAgentLocked(fields, false, s.rng)
		return one(rec, err, http.StatusCreated, agentView), true
	case "agent GET":
		return one(s.agents.Get(rt.id), nilErr(s.agents.Get(rt.id)), http.StatusOK, agentView), true
	case "agent PUT":
		rec, err := s.updateAgentLocked(rt.id, fields, false)
		return one(rec, err, http.StatusOK, agentView), true
	case "agent DELETE":
		return errorResponseOr(s.deleteAgentLocked(rt.id), http.StatusNoContent), true

	case "groups GET":
		return s.listGroups(c, q), true
	case "groups POST":
		rec, err := s.createGroupLocked(fields, false, s.rng)
		return one(rec, err, http.StatusCreated, viewGroup), true
	case "group GET":
		return one(s.groups.Get(rt.id), nilErr(s.groups.Get(rt.id)), http.StatusOK, viewGroup), true
	case "group PUT":
		rec, err := s.updateGroupLocked(rt.id, fields, false)
		return one(rec, err, http.StatusOK, viewGroup), true
	case "group DELETE":
		return errorResponseOr(s.deleteGroupLocked(rt.id), http.StatusNoContent), true
	}
	return response{}, false
}

func nilErr(r *record) error {
	if r == nil {
		return ErrNotFound
	}
	return nil
}

// pagedList answers one page of rows (already filtered and ordered), with a Link header when
// another page holds rows. Directory lists have no page cap.
func pagedList(c *kernel.Call, rows []*record, perPage, page int, view func(*record) map[string]any) response {
	pageRows, next := paginate(rows, perPage, page)
	out := make([]map[string]any, 0, len(pageRows))
	for _, rec := range pageRows {
		out = append(out, view(rec))
	}
	resp := jsonResponse(http.StatusOK, out)
	if next || c.Endless() {
		resp.hdr = http.Header{"Link": {nextLink(c.R, page+1)}}
	}
	return resp
}

func validationResponse(errs []FieldError) response {
	return jsonResponse(http.StatusBadRequest, &ValidationError{Errors: errs})
}

func (s *Server) listCompanies(c *kernel.Call, q url.Values) response {
	if resp, ok := s.checkQuery(q, "per_page", "page"); !ok {
		return resp
	}
	perPage, page, errs := pageParams(q)
	if len(errs) > 0 {
		return validationResponse(errs)
	}
	rows := slices.Clone(s.companies.Rows()) // sorted and filtered in place below
	slices.SortFunc(rows, func(a, b *record) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return pagedList(c, s.visibleRows(rows), perPage, page, companyView)
}

func (s *Server) listAgents(c *kernel.Call, q url.Values) response {
	if resp, ok := s.checkQuery(q, "email", "mobile", "phone", "state", "per_page", "page"); !ok {
		return resp
	}
	perPage, page, errs := pageParams(q)
	state := q.Get("state")
	if q.Has("state") && state != "fulltime" && state != "occasional" {
		errs = append(errs, FieldError{Field: "state", Message: "It should be one of these values: 'fulltime,occasional'", Code: "invalid_value"})
	}
	email, hasEmail := strings.ToLower(q.Get("email")), q.Has("email")
	if hasEmail && !validEmail(email) {
		errs = append(errs, FieldError{Field: "email", Message: "It should be in the 'valid email address' format", Code: "invalid_value"})
	}
	phone, hasPhone := q.Get("phone"), q.Has("phone")
	mobile, hasMobile := q.Get("mobile"), q.Has("mobile")
	if len(errs) > 0 {
		return validationResponse(errs)
	}
	var rows []*record
	for _, id := range s.agents.IDs() {
		a := s.agents.Get(id)
		c := a.f["contact"].(map[string]any)
		switch {
		case state == "fulltime" && a.f["occasional"] == true,
			state == "occasional" && a.f["occasional"] != true,
			hasEmail && c["email"] != email,
			hasPhone && c["phone"] != phone,
			hasMobile && c["mobile"] != mobile:
			continue
		}
		rows = append(rows, a)
	}
	return pagedList(c, s.visibleRows(rows), perPage, page, agentView)
}

func (s *Server) listGroups(c *kernel.Call, q url.Values) response {
	if resp, ok := s.checkQuery(q, "per_page", "page"); !ok {
		return resp
	}
	perPage, page, errs := pageParams(q)
	if len(errs) > 0 {
		return validationResponse(errs)
	}
	rows := make([]*record, 0, s.groups.Len())
	for _, id := range s.groups.IDs() {
		rows = append(rows, s.groups.Get(id))
	}
	members := s.membership()
	return pagedList(c, s.visibleRows(rows), perPage, page, func(g *record) map[string]any { return groupView(g, members) })
}

// ---- direct methods ----

// CreateCompany stores a company as POST /api/v2/companies would and returns it. A missing name
// is generated; "created_at" and "updated_at" may be set too. It panics on invalid fields or a
// duplicate name.
func (s *Server) CreateCompany(fields map[string]any) Company {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createCompanyLocked(fields, true, s.rng)
	if err != nil {
		panic(err)
	}
	return companyView(r)
}

// UpdateCompany changes a company as PUT /api/v2/companies/{id} would; "updated_at" may be set too.
func (s *Server) UpdateCompany(id int64, fields map[string]any) (Company, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.updateCompanyLocked(id, fields, true)
	if err != nil {
		return nil, err
	}
	return companyView(r), nil
}

// DeleteCompany removes a company for good (Freshdesk's delete is a hard delete); its contacts
// lose their company_id.
func (s *Server) DeleteCompany(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteCompanyLocked(id)
}

// Company returns a stored company.
func (s *Server) Company(id int64) (Company, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.companies.Get(id)
	if r == nil {
		return nil, false
	}
	return companyView(r), true
}

// CreateAgent stores an agent as POST /api/v2/agents would and returns it. A missing name and
// email are generated; "available", "active", "created_at" and "updated_at" may be set too. It
// panics on invalid fields or an email already used by an agent or a contact.
func (s *Server) CreateAgent(fields map[string]any) Agent {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createAgentLocked(fields, true, s.rng)
	if err != nil {
		panic(err)
	}
	return agentView(r)
}

// UpdateAgent changes an agent as PUT /api/v2/agents/{id} would; "available", "active" and
// "updated_at" may be set too.
func (s *Server) UpdateAgent(id int64, fields map[string]any) (Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.updateAgentLocked(id, fields, true)
	if err != nil {
		return nil, err
	}
	return agentView(r), nil
}

// DeleteAgent removes an agent as DELETE /api/v2/agents/{id} would: it becomes a contact with
// the same id.
func (s *Server) DeleteAgent(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteAgentLocked(id)
}

// Agent returns a stored agent.
func (s *Server) Agent(id int64) (Agent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.agents.Get(id)
	if r == nil {
		return nil, false
	}
	return agentView(r), true
}

// CreateGroup stores a group as POST /api/v2/groups would and returns it. A missing name is
// generated; "created_at" and "updated_at" may be set too. It panics on invalid fields or a
// duplicate name.
func (s *Server) CreateGroup(fields map[string]any) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createGroupLocked(fields, true, s.rng)
	if err != nil {
		panic(err)
	}
	return groupView(r, s.membership())
}

// UpdateGroup changes a group as PUT /api/v2/groups/{id} would; "updated_at" may be set too.
func (s *Server) UpdateGroup(id int64, fields map[string]any) (Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.updateGroupLocked(id, fields, true)
	if err != nil {
		return nil, err
	}
	return groupView(r, s.membership()), nil
}

// DeleteGroup removes a group for good; its agents leave it.
func (s *Server) DeleteGroup(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteGroupLocked(id)
}

// Group returns a stored group.
func (s *Server) Group(id int64) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.groups.Get(id)
	if r == nil {
		return nil, false
	}
	return groupView(r, s.membership()), true
}
