package freshdesk

import (
	"fmt"
	"html"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Linus",
		"Frances", "John", "Katherine", "Dennis", "Hedy", "Tim", "Sophie", "Niklaus", "Joan", "Guido",
		"Priya", "Mateo", "Aiko", "Kwame", "Ingrid", "Omar", "Lucia", "Chen", "Fatima", "Lars"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Perlman",
		"Torvalds", "Allen", "McCarthy", "Johnson", "Ritchie", "Lamarr", "Berners-Lee", "Wilson", "Wirth", "Clarke",
		"van Rossum", "Raman", "Garcia", "Tanaka", "Mensah", "Larsen", "Haddad", "Rossi", "Wei", "Khan", "Nilsson"}
	companies = []struct {
		id     int64
		name   string
		domain string
	}{
		{67000000001, "Acme Corp", "acme.example.com"},
		{67000000002, "Globex", "globex.example.com"},
		{67000000003, "Initech", "initech.example.com"},
		{67000000004, "Umbrella Health", "umbrella.example.org"},
		{67000000005, "Stark Logistics", "stark.example.net"},
	}
	freeDomains = []string{"example.com", "mail.example.org", "inbox.example.net"}
	jobTitles   = []string{"Office Manager", "CTO", "Support Lead", "Accountant", "Developer", "Operations Analyst", "Buyer"}
	timeZones   = []string{"Eastern Time (US & Canada)", "Pacific Time (US & Canada)", "London", "Berlin", "Chennai", "Tokyo"}
	languages   = []string{"en", "en", "en", "de", "fr", "es"}
	products    = []string{"invoice export", "mobile app", "billing portal", "API token", "SSO login", "CSV import", "dashboard", "password reset"}
	problems    = []string{"is not working", "returns an error", "is very slow", "shows the wrong totals", "keeps logging me out", "cannot be found", "stopped syncing"}
	subjectsFmt = []string{"%s %s", "Urgent: %s %s", "Question about %s (%s)", "Re: %s %s", "Help needed - %s %s"}
	ticketTags  = []string{"billing", "bug", "vip", "how-to", "integration", "refund", "outage", "feedback"}
	categories  = []string{"Primary", "Secondary", "Tertiary"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// companyName is the name of a stored company, else of one of the sample companies Seed's
// contacts refer to, else nil.
func (s *Server) companyName(id int64) any {
	if c := s.companies.Get(id); c != nil {
		return c.f["name"]
	}
	for _, c := range companies {
		if c.id == id {
			return c.name
		}
	}
	return nil
}

func genName(rng *rand.Rand) string { return pick(rng, firstNames) + " " + pick(rng, lastNames) }

func genSubject(rng *rand.Rand) string {
	p := pick(rng, products)
	f := pick(rng, subjectsFmt)
	if strings.HasPrefix(f, "Question") {
		return fmt.Sprintf(f, p, pick(rng, problems))
	}
	s := fmt.Sprintf(f, p, pick(rng, problems))
	return strings.ToUpper(s[:1]) + s[1:]
}

func genDescription(rng *rand.Rand, subject any) string {
	subj, _ := subject.(string)
	lines := []string{
		"Hi team,",
		fmt.Sprintf("Since %s our %s.", pick(rng, []string{"this morning", "yesterday", "the last update", "Monday"}), strings.ToLower(subj)),
		pick(rng, []string{"Could you take a look?", "This is blocking our month-end close.", "Steps to reproduce are attached.", "Thanks in advance."}),
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("<div>" + html.EscapeString(l) + "</div>")
	}
	return b.String()
}

// uniqueEmail derives an unused email address from a name.
func (s *Server) uniqueEmail(rng *rand.Rand, name string) string {
	local := strings.ToLower(strings.NewReplacer(" ", ".", "-", "").Replace(name))
	domain := pick(rng, freeDomains)
	if rng.IntN(2) == 0 {
		domain = pick(rng, companies).domain
	}
	email := local + "@" + domain
	for n := 2; s.contactByEmail(email) != nil; n++ {
		email = fmt.Sprintf("%s%d@%s", local, n, domain)
	}
	return email
}

func genPhone(rng *rand.Rand) string {
	return fmt.Sprintf("+1 %03d %03d %04d", 200+rng.IntN(700), rng.IntN(1000), rng.IntN(10000))
}

// genContactFields returns plausible contact fields (without timestamps).
func (s *Server) genContactFields(rng *rand.Rand) map[string]any {
	name := genName(rng)
	f := map[string]any{
		"name":      name,
		"email":     s.uniqueEmail(rng, name),
		"language":  pick(rng, languages),
		"time_zone": pick(rng, timeZones),
		"active":    rng.IntN(10) < 8,
	}
	if rng.IntN(2) == 0 {
		f["phone"] = genPhone(rng)
	}
	if rng.IntN(3) == 0 {
		f["mobile"] = genPhone(rng)
	}
	if rng.IntN(2) == 0 {
		c := pick(rng, companies)
		f["company_id"] = c.id
		f["job_title"] = pick(rng, jobTitles)
	}
	if rng.IntN(5) == 0 {
		f["tags"] = []string{pick(rng, []string{"vip", "beta", "reseller", "partner"})}
	}
	return f
}

// genTicketFields returns plausible ticket fields (without requester or timestamps).
func genTicketFields(rng *rand.Rand) map[string]any {
	subj := genSubject(rng)
	f := map[string]any{
		"subject":       subj,
		"description":   genDescription(rng, subj),
		"status":        pick(rng, []int64{2, 2, 2, 3, 3, 4, 4, 5}),
		"priority":      pick(rng, []int64{1, 1, 1, 2, 2, 3, 4}),
		"source":        pick(rng, []int64{1, 1, 1, 2, 2, 3, 7, 9, 10}),
		"type":          pick(rng, []any{nil, "Question", "Incident", "Problem", "Feature Request", "Refund"}),
		"custom_fields": map[string]any{"cf_category": pick(rng, categories)},
	}
	if rng.IntN(2) == 0 {
		f["tags"] = []string{pick(rng, ticketTags)}
	}
	if rng.IntN(3) == 0 {
		f["responder_id"] = int64(67000100000 + rng.IntN(5))
		f["group_id"] = int64(67000200000 + rng.IntN(3))
	}
	return f
}

// randomTime is uniform in [lo, hi], to the second.
func randomTime(rng *rand.Rand, lo, hi time.Time) time.Time {
	if !hi.After(lo) {
		return lo
	}
	return lo.Add(time.Duration(rng.Int64N(int64(hi.Sub(lo)/time.Second)+1)) * time.Second)
}

func (s *Server) latestCreated(m *kernel.Table[record]) time.Time {
	var t time.Time
	for _, r := range m.Rows() {
		if r.created.After(t) {
			t = r.created
		}
	}
	return t
}

// pastTimes returns n ascending creation times in [from, now-1h], after the latest creation of m.
func (s *Server) pastTimes(rng *rand.Rand, n int, from, now time.Time, m *kernel.Table[record]) []time.Time {
	lo, hi := from, now.Add(-time.Hour)
	if l := s.latestCreated(m); l.After(lo) {
		lo = l
	}
	if lo.After(hi) {
		hi = lo
	}
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = randomTime(rng, lo, hi)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts
}

// pastUpdate is created for 40% of records, else a time between created and a minute ago.
func pastUpdate(rng *rand.Rand, created, now time.Time) time.Time {
	if rng.IntN(10) < 4 || !now.Add(-time.Minute).After(created) {
		return created
	}
	return randomTime(rng, created, now.Add(-time.Minute))
}

// Seed adds realistic sample records created in the past: contacts over the last 120 days,
// tickets over the last 60 days (so some fall outside the default 30-day window), ids rising
// with creation time, some updated since. About 3% of tickets are deleted and 2% spam; about 2%
// of contacts are deleted and 1% blocked. Deterministic for Options.Seed and the sequence of calls.
func (s *Server) Seed(tickets, contacts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.k.Stamp()
	rng := s.rng
	times := func(n int, from time.Time, m *kernel.Table[record]) []time.Time {
		return s.pastTimes(rng, n, from, now, m)
	}
	updatedAfter := func(created time.Time) time.Time { return pastUpdate(rng, created, now) }

	for _, created := range times(contacts, now.Add(-120*24*time.Hour), s.contacts) {
		f := s.genContactFields(rng)
		f["created_at"] = created
		f["updated_at"] = updatedAfter(created)
		if rng.IntN(100) == 0 {
			f["blocked"] = true
		}
		r, err := s.createContactLocked(f, true, rng)
		if err != nil {
			panic(err)
		}
		if rng.IntN(50) == 0 {
			r.deleted = true
			s.k.Log("contacts", r.id, "deleted", r.updated)
		}
	}

	var byCreated []*record // live contacts by creation, for requesters
	for _, id := range liveIDs(s.contacts) {
		byCreated = append(byCreated, s.contacts.Get(id))
	}
	slices.SortFunc(byCreated, func(a, b *record) int { return a.created.Compare(b.created) })

	for _, created := range times(tickets, now.Add(-60*24*time.Hour), s.tickets) {
		f := genTicketFields(rng)
		f["created_at"] = created
		f["updated_at"] = updatedAfter(created)
		// a requester that existed when the ticket was raised, when there is one
		n, _ := slices.BinarySearchFunc(byCreated, created, func(r *record, t time.Time) int {
			if r.created.After(t) {
				return 1
			}
			return -1
		})
		switch {
		case n > 0:
			f["requester_id"] = byCreated[rng.IntN(n)].id
		case len(byCreated) > 0:
			f["requester_id"] = byCreated[rng.IntN(len(byCreated))].id
		}
		if rng.IntN(50) == 0 {
			f["spam"] = true
		}
		r, err := s.createTicketLocked(f, true, rng)
		if err != nil {
			panic(err)
		}
		if _, ok := f["requester_id"]; !ok { // a requester was created for it
			byCreated = append(byCreated, s.contacts.Get(r.f["requester_id"].(int64)))
		}
		if rng.IntN(33) == 0 {
			r.deleted = true
			s.k.Log("tickets", r.id, "deleted", r.updated)
		}
	}
}

// Mutate makes one random, realistic change at the current time and returns a one-line
// description of it ("<kind> <id> <verb>..."): about 85% of changes create, update, delete or
// restore a ticket or a contact, 15% create, update or delete a company, an agent or a group.
func (s *Server) Mutate(rng *rand.Rand) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rng.IntN(100) < 15 {
		return s.mutateDirectory(rng)
	}
	return s.mutateTicketOrContact(rng)
}

// MutateTicketOrContact is Mutate without companies, agents and groups: it creates, updates,
// deletes or restores a ticket or a contact, for an account polled for those alone.
func (s *Server) MutateTicketOrContact(rng *rand.Rand) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mutateTicketOrContact(rng)
}

func (s *Server) mutateTicketOrContact(rng *rand.Rand) string {
	liveT, liveC := liveIDs(s.tickets), liveIDs(s.contacts)
	var deadT, deadC []int64
	for _, id := range s.tickets.IDs() {
		if s.tickets.Get(id).deleted && !s.tickets.Get(id).archived {
			deadT = append(deadT, id)
		}
	}
	for _, id := range s.contacts.IDs() {
		if s.contacts.Get(id).deleted {
			deadC = append(deadC, id)
		}
	}
	roll := rng.IntN(100)
	switch {
	case roll < 20 || len(liveT) == 0:
		f := genTicketFields(rng)
		f["status"] = int64(2)
		if len(liveC) > 0 && rng.IntN(4) > 0 {
			f["requester_id"] = liveC[rng.IntN(len(liveC))]
		} else {
			name := genName(rng)
			f["name"] = name
			f["email"] = s.uniqueEmail(rng, name)
		}
		r, err := s.createTicketLocked(f, true, rng)
		if err != nil {
			return "create ticket failed: " + err.Error()
		}
		return fmt.Sprintf("ticket %d created by contact %d: %q", r.id, r.f["requester_id"], r.f["subject"])
	case roll < 65:
		id := liveT[rng.IntN(len(liveT))]
		r := s.tickets.Get(id)
		var f map[string]any
		var what string
		switch rng.IntN(4) {
		case 0, 1:
			old := r.f["status"].(int64)
			next := map[int64]int64{2: 3, 3: pick(rng, []int64{2, 4}), 4: pick(rng, []int64{5, 2}), 5: 2}[old]
			f, what = map[string]any{"status": next}, fmt.Sprintf("status %s -> %s", statusName(old), statusName(next))
		case 2:
			p := pick(rng, ticketPriorities)
			f, what = map[string]any{"priority": p}, fmt.Sprintf("priority -> %d", p)
		default:
			tags := append(slices.Clone(r.f["tags"].([]string)), pick(rng, ticketTags))
			tags = slices.Compact(slices.Sorted(slices.Values(tags)))
			f, what = map[string]any{"tags": tags}, "tags -> "+strings.Join(tags, ",")
		}
		if _, err := s.updateTicketLocked(id, f, true); err != nil {
			return "update ticket failed: " + err.Error()
		}
		return fmt.Sprintf("ticket %d updated: %s", id, what)
	case roll < 70:
		id := liveT[rng.IntN(len(liveT))]
		if err := s.setDeletedLocked(s.tickets, "ticket", id, true); err != nil {
			return "delete ticket failed: " + err.Error()
		}
		return fmt.Sprintf("ticket %d deleted", id)
	case roll < 73 && len(deadT) > 0:
		id := deadT[rng.IntN(len(deadT))]
		if err := s.setDeletedLocked(s.tickets, "ticket", id, false); err != nil {
			return "restore ticket failed: " + err.Error()
		}
		return fmt.Sprintf("ticket %d restored", id)
	case roll < 83 || len(liveC) == 0:
		r, err := s.createContactLocked(s.genContactFields(rng), true, rng)
		if err != nil {
			return "create contact failed: " + err.Error()
		}
		return fmt.Sprintf("contact %d created: %s <%s>", r.id, r.f["name"], r.f["email"])
	case roll < 95:
		id := liveC[rng.IntN(len(liveC))]
		var f map[string]any
		switch rng.IntN(3) {
		case 0:
			f = map[string]any{"job_title": pick(rng, jobTitles)}
		case 1:
			f = map[string]any{"phone": genPhone(rng)}
		default:
			f = map[string]any{"time_zone": pick(rng, timeZones)}
		}
		if _, err := s.updateContactLocked(id, f, true); err != nil {
			return "update contact failed: " + err.Error()
		}
		k := sortedKeys(f)[0]
		return fmt.Sprintf("contact %d updated: %s -> %v", id, k, f[k])
	case roll < 98 || len(deadC) == 0:
		id := liveC[rng.IntN(len(liveC))]
		if err := s.setDeletedLocked(s.contacts, "contact", id, true); err != nil {
			return "delete contact failed: " + err.Error()
		}
		return fmt.Sprintf("contact %d deleted", id)
	default:
		id := deadC[rng.IntN(len(deadC))]
		if err := s.setDeletedLocked(s.contacts, "contact", id, false); err != nil {
			return "restore contact failed: " + err.Error()
		}
		return fmt.Sprintf("contact %d restored", id)
	}
}

func statusName(st int64) string {
	switch st {
	case 2:
		return "open"
	case 3:
		return "pending"
	case 4:
		return "resolved"
	case 5:
		return "closed"
	}
	return fmt.Sprint(st)
}

// ---- companies, agents and groups ----

var (
	companyPrefixes = []string{"Northwind", "Contoso", "Fabrikam", "Tailspin", "Wide World", "Blue Yonder", "Litware",
		"Proseware", "Adventure Works", "Alpine", "Coho", "Lucerne", "Trey", "Wingtip", "Woodgrove", "Southridge",
		"Humongous", "Fourth Coffee", "Margie's", "Graphic Design"}
	companySuffixes = []string{"Traders", "Insurance", "Airlines", "Importers", "Labs", "Bank", "Publishing", "Health",
		"Logistics", "Systems", "Foods", "Media"}
	industries   = []any{nil, "Software", "Retail", "Healthcare", "Finance", "Logistics", "Manufacturing", "Education", "Media"}
	accountTiers = []any{nil, "Basic", "Premium", "Enterprise"}
	healthScores = []any{nil, "At risk", "Doing okay", "Happy"}
	groupNames   = []string{"Billing", "Technical Support", "Escalations", "Sales", "Onboarding", "Returns", "VIP Support",
		"Product Feedback", "Accounts", "Field Service", "Partnerships", "Tier 2"}
	agentTitles = []any{nil, "Support Agent", "Senior Support Agent", "Support Lead", "Billing Specialist", "Support Engineer"}
	roleIDs     = []int64{67000300001, 67000300002, 67000300003} // agent, supervisor, administrator (roles are not simulated)
	skillIDs    = []int64{67000400001, 67000400002, 67000400003}
	agentDomain = "helpdesk.example.com"
)

// uniqueName returns base, or base followed by the first free number, per taken.
func uniqueName(base string, taken func(string) bool) string {
	name := base
	for n := 2; taken(name); n++ {
		name = fmt.Sprintf("%s %d", base, n)
	}
	return name
}

func (s *Server) uniqueCompanyName(rng *rand.Rand) string {
	base := pick(rng, companyPrefixes) + " " + pick(rng, companySuffixes)
	return uniqueName(base, func(n string) bool { return byName(s.companies, n) != nil })
}

func (s *Server) uniqueGroupName(rng *rand.Rand) string {
	base := pick(rng, groupNames)
	return uniqueName(base, func(n string) bool { return byName(s.groups, n) != nil })
}

// uniqueAgentEmail derives an email no agent or contact uses from a name, at the helpdesk's domain.
func (s *Server) uniqueAgentEmail(rng *rand.Rand, name string) string {
	local := strings.ToLower(strings.NewReplacer(" ", ".", "-", "", "'", "").Replace(name))
	email := local + "@" + agentDomain
	for n := 2; ; n++ {
		if _, taken := s.agentEmailTaken(email, 0); !taken {
			return email
		}
		email = fmt.Sprintf("%s%d@%s", local, n, agentDomain)
	}
}

func domainOf(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String() + ".example.com"
}

// genCompanyFields returns plausible company fields (without timestamps). While the store holds
// fewer companies than the sample table, the next company is the sample one whose id it gets, so
// that Seed's contacts' company_id refer to stored companies.
func (s *Server) genCompanyFields(rng *rand.Rand) map[string]any {
	var name, domain string
	if i := s.companies.Next() - firstCompanyID; i < int64(len(companies)) && companies[i].id == s.companies.Next() &&
		byName(s.companies, companies[i].name) == nil {
		name, domain = companies[i].name, companies[i].domain
	} else {
		name = s.uniqueCompanyName(rng)
		domain = domainOf(name)
	}
	f := map[string]any{
		"name":         name,
		"domains":      []string{domain},
		"industry":     pick(rng, industries),
		"account_tier": pick(rng, accountTiers),
		"health_score": pick(rng, healthScores),
	}
	if rng.IntN(3) == 0 {
		f["description"] = fmt.Sprintf("%s customer since %d", name, 2015+rng.IntN(10))
	}
	if rng.IntN(4) == 0 {
		f["note"] = pick(rng, []string{"Prefers email over phone.", "Key account: escalate quickly.", "Invoices go to the finance team."})
	}
	return f
}

// genAgentFields returns plausible agent fields (without groups or timestamps).
func (s *Server) genAgentFields(rng *rand.Rand) map[string]any {
	name := genName(rng)
	f := map[string]any{
		"name":         name,
		"email":        s.uniqueAgentEmail(rng, name),
		"job_title":    pick(rng, agentTitles),
		"language":     pick(rng, languages),
		"time_zone":    pick(rng, timeZones),
		"occasional":   rng.IntN(100) < 15,
		"ticket_scope": pick(rng, []int64{1, 1, 1, 2, 3}),
		"role_ids":     []int64{pick(rng, []int64{roleIDs[0], roleIDs[0], roleIDs[0], roleIDs[1], roleIDs[2]})},
		"active":       rng.IntN(20) > 0,
		"focus_mode":   rng.IntN(4) > 0,
	}
	if rng.IntN(2) == 0 {
		f["signature"] = "<div>" + html.EscapeString(name) + "<br>Customer Support</div>"
	}
	if rng.IntN(3) == 0 {
		f["phone"] = genPhone(rng)
	}
	if rng.IntN(3) == 0 {
		f["skill_ids"] = []int64{pick(rng, skillIDs)}
	}
	return f
}

// genGroupFields returns plausible group fields; members are picked from candidates.
func (s *Server) genGroupFields(rng *rand.Rand, candidates []int64) map[string]any {
	name := s.uniqueGroupName(rng)
	f := map[string]any{
		"name":               name,
		"description":        "Handles " + strings.ToLower(name) + " requests",
		"unassigned_for":     pick(rng, unassignedFor),
		"auto_ticket_assign": rng.IntN(3) == 0,
	}
	var members []int64
	for _, id := range candidates {
		if rng.IntN(3) == 0 {
			members = append(members, id)
		}
	}
	if len(members) > 0 {
		f["agent_ids"] = members
		if rng.IntN(2) == 0 {
			f["escalate_to"] = pick(rng, members)
		}
	}
	return f
}

// SeedDirectory adds realistic companies, agents and groups created in the past (companies over
// the last 2 years, agents and groups over the last year), ids rising with creation time, some
// updated since; groups get agents that existed when they were made. The first five companies,
// agents and three groups have the ids that Seed's contacts and tickets use as company_id,
// responder_id and group_id. Deterministic for Options.Seed and the sequence of calls.
func (s *Server) SeedDirectory(companies, agents, groups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.k.Stamp()
	rng := s.rng
	for _, created := range s.pastTimes(rng, companies, now.Add(-730*24*time.Hour), now, s.companies) {
		f := s.genCompanyFields(rng)
		f["created_at"] = created
		f["updated_at"] = pastUpdate(rng, created, now)
		if _, err := s.createCompanyLocked(f, true, rng); err != nil {
			panic(err)
		}
	}
	for _, created := range s.pastTimes(rng, agents, now.Add(-365*24*time.Hour), now, s.agents) {
		f := s.genAgentFields(rng)
		f["created_at"] = created
		f["updated_at"] = pastUpdate(rng, created, now)
		if rng.IntN(2) == 0 {
			f["available"] = true
		}
		if _, err := s.createAgentLocked(f, true, rng); err != nil {
			panic(err)
		}
	}
	for _, created := range s.pastTimes(rng, groups, now.Add(-365*24*time.Hour), now, s.groups) {
		var candidates []int64
		for _, id := range s.agents.IDs() {
			if !s.agents.Get(id).created.After(created) {
				candidates = append(candidates, id)
			}
		}
		f := s.genGroupFields(rng, candidates)
		f["created_at"] = created
		f["updated_at"] = pastUpdate(rng, created, now)
		if _, err := s.createGroupLocked(f, true, rng); err != nil {
			panic(err)
		}
	}
}

// mutateDirectory creates, updates or deletes a company, an agent or a group. Deletions only
// happen while more than three records of the kind remain.
func (s *Server) mutateDirectory(rng *rand.Rand) string {
	comps, agents, groups := s.companies.IDs(), s.agents.IDs(), s.groups.IDs()
	roll := rng.IntN(20)
	switch {
	case roll < 8: // companies
		switch {
		case roll < 2 || len(comps) == 0:
			r, err := s.createCompanyLocked(s.genCompanyFields(rng), true, rng)
			if err != nil {
				return "create company failed: " + err.Error()
			}
			return fmt.Sprintf("company %d created: %s", r.id, r.f["name"])
		case roll < 7 || len(comps) <= 3:
			id := pick(rng, comps)
			var f map[string]any
			switch rng.IntN(4) {
			case 0:
				f = map[string]any{"health_score": pick(rng, healthScores[1:])}
			case 1:
				f = map[string]any{"account_tier": pick(rng, accountTiers[1:])}
			case 2:
				f = map[string]any{"industry": pick(rng, industries[1:])}
			default:
				f = map[string]any{"note": pick(rng, []string{"Renewal call booked.", "New billing contact.", "Asked for a discount."})}
			}
			if _, err := s.updateCompanyLocked(id, f, true); err != nil {
				return "update company failed: " + err.Error()
			}
			k := sortedKeys(f)[0]
			return fmt.Sprintf("company %d updated: %s -> %v", id, k, f[k])
		default:
			id := pick(rng, comps)
			if err := s.deleteCompanyLocked(id); err != nil {
				return "delete company failed: " + err.Error()
			}
			return fmt.Sprintf("company %d deleted", id)
		}
	case roll < 15: // agents
		switch {
		case roll < 10 || len(agents) == 0:
			r, err := s.createAgentLocked(s.genAgentFields(rng), true, rng)
			if err != nil {
				return "create agent failed: " + err.Error()
			}
			c := r.f["contact"].(map[string]any)
			return fmt.Sprintf("agent %d created: %s <%s>", r.id, c["name"], c["email"])
		case roll < 14 || len(agents) <= 3:
			id := pick(rng, agents)
			a := s.agents.Get(id)
			var f map[string]any
			var what string
			switch rng.IntN(4) {
			case 0:
				occ := a.f["occasional"] != true
				f, what = map[string]any{"occasional": occ}, fmt.Sprintf("occasional -> %v", occ)
			case 1:
				sc := pick(rng, []int64{1, 2, 3})
				f, what = map[string]any{"ticket_scope": sc}, fmt.Sprintf("ticket_scope -> %d", sc)
			case 2:
				av := a.f["available"] != true
				f, what = map[string]any{"available": av}, fmt.Sprintf("available -> %v", av)
			default:
				if len(groups) == 0 {
					jt := pick(rng, agentTitles[1:])
					f, what = map[string]any{"job_title": jt}, fmt.Sprintf("job_title -> %v", jt)
					break
				}
				gids := slices.Clone(a.f["group_ids"].([]int64))
				g := pick(rng, groups)
				if i := slices.Index(gids, g); i >= 0 {
					gids = slices.Delete(gids, i, i+1)
				} else {
					gids = append(gids, g)
				}
				f, what = map[string]any{"group_ids": gids}, "group_ids -> "+joinInts(gids)
			}
			if _, err := s.updateAgentLocked(id, f, true); err != nil {
				return "update agent failed: " + err.Error()
			}
			return fmt.Sprintf("agent %d updated: %s", id, what)
		default:
			id := pick(rng, agents)
			if err := s.deleteAgentLocked(id); err != nil {
				return "delete agent failed: " + err.Error()
			}
			return fmt.Sprintf("agent %d deleted (now a contact)", id)
		}
	default: // groups
		switch {
		case roll < 16 || len(groups) == 0:
			r, err := s.createGroupLocked(s.genGroupFields(rng, agents), true, rng)
			if err != nil {
				return "create group failed: " + err.Error()
			}
			return fmt.Sprintf("group %d created: %s", r.id, r.f["name"])
		case roll < 19 || len(groups) <= 3:
			id := pick(rng, groups)
			var f map[string]any
			var what string
			if rng.IntN(2) == 0 || len(agents) == 0 {
				u := pick(rng, unassignedFor)
				f, what = map[string]any{"unassigned_for": u}, "unassigned_for -> "+u
			} else {
				ids := s.membership()[id]
				a := pick(rng, agents)
				if i := slices.Index(ids, a); i >= 0 {
					ids = slices.Delete(slices.Clone(ids), i, i+1)
				} else {
					ids = append(slices.Clone(ids), a)
				}
				f, what = map[string]any{"agent_ids": ids}, "agent_ids -> "+joinInts(ids)
			}
			if _, err := s.updateGroupLocked(id, f, true); err != nil {
				return "update group failed: " + err.Error()
			}
			return fmt.Sprintf("group %d updated: %s", id, what)
		default:
			id := pick(rng, groups)
			if err := s.deleteGroupLocked(id); err != nil {
				return "delete group failed: " + err.Error()
			}
			return fmt.Sprintf("group %d deleted", id)
		}
	}
}
