package freshdesk

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// Change is one entry of the change log (see Server.Changes). Resource is "tickets",
// "contacts", "companies", "agents" or "groups"; Kind "created", "updated", "deleted",
// "restored" or "archived". For the hard deletes of companies, agents and groups, UpdatedAt is
// the vendor's time of the deletion (to the second).
type Change = kernel.Change

// Changes returns a copy of the change log: every creation, update, deletion, restoration and
// archiving of a ticket, contact, company, agent or group, in the order made, whatever made it
// (REST, direct methods, Seed, SeedDirectory, Mutate, Burst*, ShiftDuringWalk). Side effects are
// logged too: a contact created for a ticket's requester or for a deleted agent, contacts that
// lose a deleted company, agents and groups whose membership changes.
func (s *Server) Changes() []Change { return s.k.Changes() }

// ResetStats zeroes the request counters of Stats (Requests, ByEndpoint, ByStatus, RateLimited,
// ServerErrors, Unauthorized, Injected, Faults, the in-flight maxima). The record counts, the
// rate-limit windows and the change log are left alone.
func (s *Server) ResetStats() { s.k.ResetStats() }

// SetSkew sets the vendor's clock skew (Options.Skew).
func (s *Server) SetSkew(d time.Duration) { s.k.SetSkew(d) }

// SetVisibleAfter sets the replication lag of list responses (Options.VisibleAfter).
func (s *Server) SetVisibleAfter(d time.Duration) { s.k.SetVisibleAfter(d) }

// SetShiftDuringWalk sets the probability of a shift per list page request (Options.ShiftDuringWalk).
func (s *Server) SetShiftDuringWalk(p float64) { s.k.SetShift(kernel.Shift{Rate: p}) }

// SetShift sets the shift knob with its scope ("contacts", Times 1: the next contacts page from
// page 2 on shifts a row).
func (s *Server) SetShift(sh kernel.Shift) { s.k.SetShift(sh) }

// SetFailRate sets the probability of an injected failure per request (Options.FailRate);
// statuses, when given, replace Options.FailStatuses. It keeps Options.FailBurst.
func (s *Server) SetFailRate(rate float64, statuses ...int) {
	if len(statuses) == 0 {
		statuses = s.opts.FailStatuses
	}
	s.k.SetFail(kernel.Fail{Rate: rate, Statuses: statuses, Burst: s.opts.FailBurst})
}

// SetFail sets the failure knob whole: rate, statuses, bursts, Retry-After and scope.
func (s *Server) SetFail(f kernel.Fail) { s.k.SetFail(f) }

// SetLatency sets Options.Latency.
func (s *Server) SetLatency(l kernel.Latency) { s.k.SetLatency(l) }

// SetDrip sets Options.Drip.
func (s *Server) SetDrip(d kernel.Drip) { s.k.SetDrip(d) }

// SetBody sets Options.Body.
func (s *Server) SetBody(b kernel.BodyFault) { s.k.SetBody(b) }

// SetPaging sets Options.Paging.
func (s *Server) SetPaging(p kernel.PagingFault) { s.k.SetPaging(p) }

// OnListPage installs fn, called on every GET of a list route (tickets, contacts, companies,
// agents, groups) with the resource and the requested page (1 when absent, 0 when not a
// positive integer), outside the lock and before the request is rate limited, authenticated or
// answered: fn may change records (through the direct methods) between the pages of a walk. nil
// removes it.
func (s *Server) OnListPage(fn func(resource string, page int)) {
	if fn == nil {
		s.k.SetOnPage(nil)
		return
	}
	s.k.SetOnPage(listHook(fn))
}

func listHook(fn func(resource string, page int)) func(kernel.Route) {
	return func(rt kernel.Route) { fn(rt.Resource, rt.PageNumber) }
}

func isListKind(kind string) bool {
	switch kind {
	case "tickets", "contacts", "companies", "agents", "groups":
		return true
	}
	return false
}

// listPage is the page a list request asks for: 1 when absent, 0 when invalid.
func listPage(q url.Values) int {
	v, ok := q["page"]
	if !ok {
		return 1
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// maybeShift implements the Shift knob: for page 2 or later, when the kernel draws a shift, it
// moves the updated_at of a random live record among rows[:(page-1)*perPage] (the earlier pages
// of the query) to now. It reports whether a record changed, the caller then selecting rows
// anew.
func (s *Server) maybeShift(c *kernel.Call, resource string, rows []*record, perPage, page int) bool {
	if page < 2 || !c.Shift() {
		return false
	}
	var cands []*record
	for _, r := range rows[:min((page-1)*perPage, len(rows))] {
		if !r.deleted {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return false
	}
	r := cands[s.k.IntN(len(cands))]
	now := s.k.Stamp()
	if !now.After(r.updated) {
		return false
	}
	r.touch(now)
	s.k.Log(resource, r.id, "updated", r.updated)
	s.log.Debug("record shifted during walk", "resource", resource, "id", r.id, "page", page)
	return true
}

// BurstUpdate applies fields to every record of resource ("tickets", "contacts", "companies",
// "agents" or "groups") named by ids, as the Update methods would, all with the same updated_at:
// the current second of the vendor's clock however long it takes (kernel.Burst), unless fields
// sets "updated_at". Nil fields only move updated_at. It checks every id first: when one is
// missing (or an archived ticket) or deleted, nothing changes and the error wraps ErrNotFound or
// ErrDeleted. The first update validates fields before changing anything, so a
// *ValidationError leaves every record unchanged (a unique name given to several companies or
// groups excepted).
func (s *Server) BurstUpdate(resource string, ids []int64, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, update := s.updater(resource)
	for _, id := range ids {
		r := t.Get(id)
		switch {
		case r == nil || r.archived:
			return fmt.Errorf("%s %d: %w", resource, id, ErrNotFound)
		case r.deleted:
			return fmt.Errorf("%s %d: %w", resource, id, ErrDeleted)
		}
	}
	var err error
	s.k.Burst(func(time.Time) {
		for _, id := range ids {
			if _, err = update(id, maps.Clone(fields)); err != nil {
				return
			}
		}
	})
	return err
}

// BurstCreate creates n records of resource ("tickets", "contacts", "companies", "agents" or
// "groups") as the Create methods would, all created and updated in the same second of the
// vendor's clock however long it takes (kernel.Burst), unless fields sets "created_at" or
// "updated_at", and returns their ids, ascending: an overfull second. Without a requester in
// fields, each ticket gets a random live contact (one is created when there is none). It panics
// on invalid fields or an unknown resource.
func (s *Server) BurstCreate(resource string, n int, fields map[string]any) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, hasReq := fields["requester_id"]
	_, hasEmail := fields["email"]
	_, hasPhone := fields["phone"]
	pickRequester := resource == "tickets" && !hasReq && !hasEmail && !hasPhone
	create := s.creator(resource)
	var contacts []int64
	ids := make([]int64, 0, n)
	s.k.Burst(func(time.Time) {
		for range n {
			f := maps.Clone(fields)
			if f == nil {
				f = map[string]any{}
			}
			if pickRequester {
				if len(contacts) == 0 {
					contacts = liveIDs(s.contacts)
				}
				if len(contacts) > 0 {
					f["requester_id"] = contacts[s.rng.IntN(len(contacts))]
				}
			}
			r, err := create(f)
			if err != nil {
				panic(err)
			}
			ids = append(ids, r.id)
		}
	})
	return ids
}

// BurstUpdateTickets is BurstUpdate("tickets", ids, fields).
func (s *Server) BurstUpdateTickets(ids []int64, fields map[string]any) error {
	return s.BurstUpdate("tickets", ids, fields)
}

// BurstCreateTickets is BurstCreate("tickets", n, fields).
func (s *Server) BurstCreateTickets(n int, fields map[string]any) []int64 {
	return s.BurstCreate("tickets", n, fields)
}

// creator returns the direct create of resource; it panics on an unknown one.
func (s *Server) creator(resource string) func(map[string]any) (*record, error) {
	switch resource {
	case "tickets":
		return func(f map[string]any) (*record, error) { return s.createTicketLocked(f, true, s.rng) }
	case "contacts":
		return func(f map[string]any) (*record, error) { return s.createContactLocked(f, true, s.rng) }
	case "companies":
		return func(f map[string]any) (*record, error) { return s.createCompanyLocked(f, true, s.rng) }
	case "agents":
		return func(f map[string]any) (*record, error) { return s.createAgentLocked(f, true, s.rng) }
	case "groups":
		return func(f map[string]any) (*record, error) { return s.createGroupLocked(f, true, s.rng) }
	}
	panic("freshdesk: no resource " + resource)
}

// updater returns the table and the direct update of resource; it panics on an unknown one.
func (s *Server) updater(resource string) (*kernel.Table[record], func(int64, map[string]any) (*record, error)) {
	switch resource {
	case "tickets":
		return s.tickets, func(id int64, f map[string]any) (*record, error) { return s.updateTicketLocked(id, f, true) }
	case "contacts":
		return s.contacts, func(id int64, f map[string]any) (*record, error) { return s.updateContactLocked(id, f, true) }
	case "companies":
		return s.companies, func(id int64, f map[string]any) (*record, error) { return s.updateCompanyLocked(id, f, true) }
	case "agents":
		return s.agents, func(id int64, f map[string]any) (*record, error) { return s.updateAgentLocked(id, f, true) }
	case "groups":
		return s.groups, func(id int64, f map[string]any) (*record, error) { return s.updateGroupLocked(id, f, true) }
	}
	panic("freshdesk: no resource " + resource)
}

// visibleRows drops the rows VisibleAfter hides.
func (s *Server) visibleRows(rows []*record) []*record {
	hidden := s.k.HiddenFunc()
	return slices.DeleteFunc(rows, func(r *record) bool { return hidden(r.updated) })
}
