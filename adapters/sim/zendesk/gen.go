package zendesk

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

const (
	ticketFormID = int64(360000100001)
	brandID      = int64(360000200001)
	supportEmail = "support@pollen.zendesk.com"
)

// groups are the agent groups tickets are routed to (not simulated as records).
var groups = []struct {
	id   int64
	name string
}{{360000300001, "Support"}, {360000300002, "Billing"}, {360000300003, "Escalations"}}

// customFields are the ticket fields every ticket carries in custom_fields.
var customFields = []struct {
	id      int64
	name    string
	options []string // nil: free text
}{
	{360000400001, "product", []string{"web_app", "mobile_app", "api", "billing_portal"}},
	{360000400002, "order_number", nil},
	{360000400003, "plan", []string{"starter", "growth", "enterprise"}},
}

func defaultCustomFields() []any {
	l := make([]any, len(customFields))
	for i, cf := range customFields {
		l[i] = map[string]any{"id": cf.id, "value": nil}
	}
	return l
}

var (
	firstNames = []string{"Amara", "Bruno", "Chloé", "Dmitri", "Elif", "Felipe", "Greta", "Hiro", "Isla", "Jonas",
		"Kofi", "Leila", "Mikko", "Nadia", "Oscar", "Paola", "Quentin", "Rosa", "Sanjay", "Tove",
		"Ulla", "Viktor", "Wen", "Ximena", "Yusuf", "Zofia"}
	lastNames = []string{"Okafor", "Silva", "Martin", "Ivanov", "Yilmaz", "Gómez", "Berg", "Sato", "Murphy", "Weber",
		"Boateng", "Haddad", "Virtanen", "Rahman", "Lindqvist", "Ferrari", "Dubois", "Costa", "Iyer", "Nyström"}
	orgStems    = []string{"Northwind", "Bluebird", "Copperleaf", "Driftwood", "Evergreen", "Foxglove", "Granite", "Harbor", "Ironbark", "Juniper", "Kestrel", "Lighthouse"}
	orgSuffixes = []string{"Traders", "Labs", "Logistics", "Health", "Studios", "Foods", "Systems", "Outfitters"}
	freeDomains = []string{"example.com", "mail.example.org", "inbox.example.net"}
	products    = []string{"checkout page", "mobile app", "invoice PDF", "API key", "SSO login", "CSV export", "order tracking", "password reset email"}
	symptoms    = []string{"is not loading", "shows an error", "is very slow", "has the wrong totals", "keeps logging me out", "never arrives", "stopped syncing"}
	subjectFmts = []string{"%s %s", "URGENT: %s %s", "Question: %s %s", "Re: %s %s", "%s %s since this morning"}
	ticketTags  = []string{"billing", "bug", "vip", "how_to", "integration", "refund", "outage", "feedback", "churn_risk"}
	replies     = []string{"Thanks, that fixed it!", "Any update on this?", "I have attached a screenshot.", "We are still seeing the problem.", "Could you escalate this please?"}
	zones       = []string{"Eastern Time (US & Canada)", "Pacific Time (US & Canada)", "London", "Berlin", "Chennai", "Tokyo", "Copenhagen"}
	orgNotes    = []string{"Renewal due next quarter.", "Prefers email over phone.", "Key account: loop in the account manager.", "On the legacy plan."}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func genName(rng *rand.Rand) string { return pick(rng, firstNames) + " " + pick(rng, lastNames) }

func genSubject(rng *rand.Rand) string {
	p := pick(rng, products)
	return fmt.Sprintf(pick(rng, subjectFmts), strings.ToUpper(p[:1])+p[1:], pick(rng, symptoms))
}

func genDescription(rng *rand.Rand) string {
	return fmt.Sprintf("Hi,\n\nThe %s %s. It started %d hours ago and affects %d of our users.\n\nThanks",
		pick(rng, products), pick(rng, symptoms), 1+rng.IntN(48), 1+rng.IntN(40))
}

// slug turns a name into the local part of an email address.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
			b.WriteByte('.')
		case r == 'é':
			b.WriteByte('e')
		case r == 'ó':
			b.WriteByte('o')
		case r == 'ö':
			b.WriteByte('o')
		}
	}
	return b.String()
}

// uniqueEmail makes an address for name at domain ("" picks a free-mail domain) that no user has.
func (s *Server) uniqueEmail(rng *rand.Rand, name, domain string) string {
	if domain == "" {
		domain = pick(rng, freeDomains)
	}
	base := slug(name)
	for i := 0; ; i++ {
		e := base + "@" + domain
		if i > 0 {
			e = fmt.Sprintf("%s%d@%s", base, i+1, domain)
		}
		if s.userByEmail(e, 0) == nil {
			return e
		}
	}
}

func (s *Server) uniqueOrgName(rng *rand.Rand) string {
	base := pick(rng, orgStems) + " " + pick(rng, orgSuffixes)
	for i := 0; ; i++ {
		n := base
		if i > 0 {
			n = fmt.Sprintf("%s %d", base, i+1)
		}
		if s.orgByName(n, 0) == nil {
			return n
		}
	}
}

func orgDomain(name string) string {
	return strings.ReplaceAll(slug(name), ".", "-") + ".example.com"
}

// live returns the ids of the live records of m whose fields satisfy keep (nil: all), sorted.
func live(m *kernel.Table[record], keep func(*record) bool) []int64 {
	var ids []int64
	for _, r := range m.Rows() {
		if !r.deleted && (keep == nil || keep(r)) {
			ids = append(ids, r.id)
		}
	}
	return ids
}

func hasRole(roles ...string) func(*record) bool {
	return func(r *record) bool { return slices.Contains(roles, r.f["role"].(string)) }
}

// pickUser picks a live user with one of roles, or nil.
func (s *Server) pickUser(rng *rand.Rand, roles ...string) *record {
	ids := live(s.users, hasRole(roles...))
	if len(ids) == 0 {
		return nil
	}
	return s.users.Get(pick(rng, ids))
}

// between draws a second-precision time in [from, to].
func between(rng *rand.Rand, from, to time.Time) time.Time {
	if !to.After(from) {
		return from
	}
	return from.Add(time.Duration(rng.Int64N(int64(to.Sub(from)/time.Second)+1)) * time.Second)
}

func genTicketFields(rng *rand.Rand) map[string]any {
	subject := genSubject(rng)
	f := map[string]any{
		"subject":     subject,
		"description": genDescription(rng),
		"priority":    pick(rng, []any{nil, "low", "normal", "normal", "normal", "high", "urgent"}),
		"type":        pick(rng, []any{nil, "question", "question", "incident", "problem", "task"}),
		"group_id":    pick(rng, groups).id,
		"tags":        []any{pick(rng, ticketTags)},
	}
	cfs := []any{}
	for _, cf := range customFields {
		var v any
		switch {
		case rng.IntN(3) == 0:
		case cf.options != nil:
			v = pick(rng, cf.options)
		default:
			v = fmt.Sprintf("ORD-%06d", rng.IntN(1000000))
		}
		cfs = append(cfs, map[string]any{"id": cf.id, "value": v})
	}
	f["custom_fields"] = cfs
	return f
}

func genVia(rng *rand.Rand, requester *record) (via map[string]any, recipient any) {
	switch rng.IntN(3) {
	case 0:
		from := map[string]any{}
		if requester != nil {
			from = map[string]any{"address": requester.f["email"], "name": requester.f["name"]}
		}
		return map[string]any{"channel": "email", "source": map[string]any{
			"from": from, "to": map[string]any{"address": supportEmail, "name": "Pollen Support"}, "rel": nil}}, supportEmail
	case 1:
		return map[string]any{"channel": "web", "source": map[string]any{"from": map[string]any{}, "to": map[string]any{}, "rel": nil}}, nil
	}
	return map[string]any{"channel": "api", "source": map[string]any{"from": map[string]any{}, "to": map[string]any{}, "rel": nil}}, nil
}

// Seed adds realistic sample records in the past: organizations (created up to 400 days ago),
// users (a few admins and agents, end-users mostly members of an organization) and tickets
// (created up to 60 days ago, requested by end-users, many assigned to agents). Every
// updated_at is at least an hour old, so everything is exportable at once. It is deterministic
// for Options.Seed and the clock; call it before a poller starts (records land in the past).
func (s *Server) Seed(tickets, users, organizations int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rng := s.rng
	now := s.now()
	latest := now.Add(-time.Hour)
	must := func(r *record, err error) *record {
		if err != nil {
			panic(err)
		}
		return r
	}
	times := func(n int, from time.Time) []time.Time {
		ts := make([]time.Time, n)
		for i := range ts {
			ts[i] = between(rng, from, latest.Add(-24*time.Hour))
		}
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		return ts
	}

	for _, created := range times(organizations, now.Add(-400*24*time.Hour)) {
		name := s.uniqueOrgName(rng)
		in := map[string]any{
			"name": name, "domain_names": []any{orgDomain(name)}, "created_at": created,
			"updated_at": between(rng, created, latest), "shared_tickets": rng.IntN(3) == 0,
			"tags": []any{pick(rng, []string{"smb", "mid_market", "enterprise"})},
		}
		if rng.IntN(2) == 0 {
			in["notes"] = pick(rng, orgNotes)
		}
		if rng.IntN(3) == 0 {
			in["group_id"] = pick(rng, groups).id
		}
		must(s.createOrgLocked(in, true))
	}
	orgIDs := live(s.orgs, nil)

	for i, created := range times(users, now.Add(-300*24*time.Hour)) {
		name := genName(rng)
		role := "end-user"
		switch {
		case i == 0:
			role = "admin"
		case i%8 == 1:
			role = "agent"
		}
		in := map[string]any{"name": name, "role": role, "created_at": created,
			"updated_at": between(rng, created, latest), "time_zone": pick(rng, zones),
			"verified": rng.IntN(4) > 0}
		domain := ""
		if role != "end-user" {
			domain = "pollen.example.com"
		} else if len(orgIDs) > 0 && rng.IntN(10) < 6 {
			org := s.orgs.Get(pick(rng, orgIDs))
			in["organization_id"] = org.id
			domain = orgDomain(org.f["name"].(string))
		}
		in["email"] = s.uniqueEmail(rng, name, domain)
		if rng.IntN(3) == 0 {
			in["phone"] = fmt.Sprintf("+1555%07d", rng.IntN(10000000))
		}
		if role != "end-user" {
			in["last_login_at"] = between(rng, created, latest)
		}
		r := must(s.createUserLocked(in, true))
		if role == "end-user" && rng.IntN(40) == 0 {
			r.deleted, r.deletedAt = true, r.updated
			s.change("users", r, "deleted")
		}
	}

	for _, created := range times(tickets, now.Add(-60*24*time.Hour)) {
		f := genTicketFields(rng)
		f["created_at"] = created
		f["updated_at"] = between(rng, created, latest)
		requester := s.requesterAt(rng, created)
		if requester != nil {
			f["requester_id"] = requester.id
		}
		f["via"], f["recipient"] = genVia(rng, requester)
		status := pick(rng, []string{"new", "open", "open", "pending", "hold", "solved", "solved", "closed"})
		f["status"] = status
		if agent := s.pickUser(rng, "agent", "admin"); agent != nil && (status != "new" || rng.IntN(3) == 0) {
			f["assignee_id"] = agent.id
			if status == "new" {
				f["status"] = "open"
			}
		}
		if status == "solved" || status == "closed" {
			f["satisfaction_rating"] = pick(rng, []any{
				map[string]any{"score": "unoffered"},
				map[string]any{"score": "offered"},
				map[string]any{"id": int64(360000500000 + rng.IntN(100000)), "score": "good", "comment": "Quick and helpful, thanks!"},
				map[string]any{"id": int64(360000500000 + rng.IntN(100000)), "score": "bad", "comment": "Took too long."},
			})
		}
		r := must(s.createTicketLocked(f, true))
		if rng.IntN(50) == 0 {
			r.deleted, r.deletedAt = true, r.updated
			s.change("tickets", r, "deleted")
		}
	}
}

// requesterAt picks a live end-user created no later than at (any live end-user when none
// is); it creates one when there is no end-user at all.
func (s *Server) requesterAt(rng *rand.Rand, at time.Time) *record {
	ids := live(s.users, func(r *record) bool { return r.f["role"] == "end-user" && !r.created.After(at) })
	if len(ids) == 0 {
		ids = live(s.users, hasRole("end-user"))
	}
	if len(ids) == 0 {
		name := genName(rng)
		r, err := s.createUserLocked(map[string]any{"name": name, "email": s.uniqueEmail(rng, name, ""), "created_at": at}, true)
		if err != nil {
			panic(err)
		}
		return r
	}
	return s.users.Get(pick(rng, ids))
}

// Mutate makes one random realistic change (timestamps now) and describes it in one line:
// mostly ticket creations and updates (status moves, assignment, priority, tags, comments,
// custom fields), sometimes a ticket deletion, user or organization creations, updates and
// deletions. The choice is drawn from rng only, so a seeded rng repeats a sequence.
func (s *Server) Mutate(rng *rand.Rand) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	open := live(s.tickets, func(r *record) bool { return r.f["status"] != "closed" })
	endUsers := live(s.users, hasRole("end-user"))
	orgIDs := live(s.orgs, nil)
	roll := rng.IntN(100)
	switch {
	case roll < 25 || len(open) == 0:
		return s.mutateNewTicket(rng)
	case roll < 60:
		return s.mutateTicket(rng, s.tickets.Get(pick(rng, open)))
	case roll < 64:
		id := pick(rng, open)
		if _, err := s.deleteLocked("tickets", id); err != nil {
			return "delete ticket failed: " + err.Error()
		}
		return fmt.Sprintf("ticket %d deleted", id)
	case roll < 76 || len(endUsers) == 0:
		r := s.mutateNewUser(rng, orgIDs)
		return fmt.Sprintf("user %d created: %s <%v>", r.id, r.f["name"], r.f["email"])
	case roll < 86:
		return s.mutateUser(rng, s.users.Get(pick(rng, endUsers)), orgIDs)
	case roll < 89:
		id := pick(rng, endUsers)
		if _, err := s.deleteLocked("users", id); err != nil {
			return "delete user failed: " + err.Error()
		}
		return fmt.Sprintf("user %d deleted", id)
	case roll < 95 || len(orgIDs) == 0:
		name := s.uniqueOrgName(rng)
		r, err := s.createOrgLocked(map[string]any{"name": name, "domain_names": []any{orgDomain(name)},
			"tags": []any{pick(rng, []string{"smb", "mid_market", "enterprise"})}}, true)
		if err != nil {
			return "create organization failed: " + err.Error()
		}
		return fmt.Sprintf("organization %d created: %q", r.id, name)
	case roll < 99:
		r := s.orgs.Get(pick(rng, orgIDs))
		var in map[string]any
		var what string
		switch rng.IntN(3) {
		case 0:
			note := pick(rng, orgNotes)
			in, what = map[string]any{"notes": note}, fmt.Sprintf("notes %q", note)
		case 1:
			tags := append(slices.Clone(r.f["tags"].([]any)), pick(rng, []any{"renewal", "at_risk", "upsell", "partner"}))
			in, what = map[string]any{"tags": tags}, fmt.Sprintf("tags %v", tags)
		default:
			d := fmt.Sprintf("%s-%d.example.net", strings.ToLower(pick(rng, orgStems)), rng.IntN(100))
			doms := append(slices.Clone(r.f["domain_names"].([]any)), d)
			in, what = map[string]any{"domain_names": doms}, "domain "+d+" added"
		}
		if _, err := s.updateOrgLocked(r.id, in, true); err != nil {
			return "update organization failed: " + err.Error()
		}
		return fmt.Sprintf("organization %d updated: %s", r.id, what)
	default:
		id := pick(rng, orgIDs)
		if _, err := s.deleteLocked("organizations", id); err != nil {
			return "delete organization failed: " + err.Error()
		}
		return fmt.Sprintf("organization %d deleted", id)
	}
}

func (s *Server) mutateNewUser(rng *rand.Rand, orgIDs []int64) *record {
	name := genName(rng)
	in := map[string]any{"name": name, "time_zone": pick(rng, zones)}
	domain := ""
	if len(orgIDs) > 0 && rng.IntN(2) == 0 {
		org := s.orgs.Get(pick(rng, orgIDs))
		in["organization_id"] = org.id
		domain = orgDomain(org.f["name"].(string))
	}
	in["email"] = s.uniqueEmail(rng, name, domain)
	r, err := s.createUserLocked(in, true)
	if err != nil {
		panic(err) // generated values are valid
	}
	return r
}

func (s *Server) mutateNewTicket(rng *rand.Rand) string {
	var requester *record
	extra := ""
	if ids := live(s.users, hasRole("end-user")); len(ids) > 0 && rng.IntN(4) > 0 {
		requester = s.users.Get(pick(rng, ids))
	} else {
		requester = s.mutateNewUser(rng, live(s.orgs, nil))
		extra = fmt.Sprintf(" (new user %d)", requester.id)
	}
	f := genTicketFields(rng)
	f["requester_id"] = requester.id
	f["via"], f["recipient"] = genVia(rng, requester)
	r, err := s.createTicketLocked(f, true)
	if err != nil {
		return "create ticket failed: " + err.Error()
	}
	return fmt.Sprintf("ticket %d created by user %d%s: %q", r.id, requester.id, extra, r.f["subject"])
}

func (s *Server) mutateTicket(rng *rand.Rand, r *record) string {
	var in map[string]any
	var what string
	switch rng.IntN(6) {
	case 0, 1:
		next := map[string][]string{
			"new": {"open"}, "open": {"pending", "solved", "hold"}, "pending": {"open", "solved"},
			"hold": {"open"}, "solved": {"closed", "open"},
		}[r.f["status"].(string)]
		st := pick(rng, next)
		in, what = map[string]any{"status": st}, fmt.Sprintf("status %v -> %s", r.f["status"], st)
		if st == "solved" && rng.IntN(2) == 0 {
			in["comment"] = map[string]any{"body": "Glad we could help! Closing this one.", "public": true}
		}
	case 2:
		if agent := s.pickUser(rng, "agent", "admin"); agent != nil {
			in, what = map[string]any{"assignee_id": agent.id}, fmt.Sprintf("assigned to %d", agent.id)
			if r.f["status"] == "new" {
				in["status"] = "open"
			}
			break
		}
		fallthrough
	case 3:
		p := pick(rng, ticketPriorities)
		in, what = map[string]any{"priority": p}, "priority "+p
	case 4:
		tags := append(slices.Clone(r.f["tags"].([]any)), pick(rng, ticketTags))
		in, what = map[string]any{"tags": tags}, fmt.Sprintf("tags %v", tags)
	default:
		if rng.IntN(2) == 0 {
			body := pick(rng, replies)
			in, what = map[string]any{"comment": map[string]any{"body": body, "public": true}}, fmt.Sprintf("comment %q", body)
		} else {
			cf := customFields[0]
			v := pick(rng, cf.options)
			in, what = map[string]any{"custom_fields": []any{map[string]any{"id": cf.id, "value": v}}}, cf.name+" = "+v
		}
	}
	if _, err := s.updateTicketLocked(r.id, in, true); err != nil {
		return fmt.Sprintf("update ticket %d failed: %v", r.id, err)
	}
	return fmt.Sprintf("ticket %d updated: %s", r.id, what)
}

func (s *Server) mutateUser(rng *rand.Rand, r *record, orgIDs []int64) string {
	var in map[string]any
	var what string
	switch rng.IntN(4) {
	case 0:
		p := fmt.Sprintf("+1555%07d", rng.IntN(10000000))
		in, what = map[string]any{"phone": p}, "phone "+p
	case 1:
		tz := pick(rng, zones)
		in, what = map[string]any{"time_zone": tz}, "time zone "+tz
	case 2:
		if len(orgIDs) > 0 {
			org := pick(rng, orgIDs)
			in, what = map[string]any{"organization_id": org}, fmt.Sprintf("moved to organization %d", org)
			break
		}
		fallthrough
	default:
		tags := append(slices.Clone(r.f["tags"].([]any)), pick(rng, []any{"newsletter", "beta", "vip", "reseller"}))
		in, what = map[string]any{"tags": tags}, fmt.Sprintf("tags %v", tags)
	}
	if _, err := s.updateUserLocked(r.id, in, true); err != nil {
		return fmt.Sprintf("update user %d failed: %v", r.id, err)
	}
	return fmt.Sprintf("user %d updated: %s", r.id, what)
}
