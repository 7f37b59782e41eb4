package fakedesk

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Change is one entry of the change log (see Server.Changes).
type Change struct {
	Resource string // "tickets", "contacts", "companies", "agents" or "groups"
	ID       int64
	Kind     string // "created", "updated", "deleted", "restored" or "archived"
	// UpdatedAt is the record's updated_at after the change; for the hard deletes of companies,
	// agents and groups, the vendor's time of the deletion (to the second).
	UpdatedAt time.Time
	// At is when the change was made, by the Options.Now clock (without Skew, not truncated).
	At time.Time
}

// defaultFailStatuses are the statuses FailRate draws from when Options.FailStatuses is empty.
var defaultFailStatuses = []int{http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// change appends to the change log; it runs with s.mu held.
func (s *Server) change(resource string, id int64, kind string, updatedAt time.Time) {
	s.changes = append(s.changes, Change{Resource: resource, ID: id, Kind: kind, UpdatedAt: updatedAt, At: s.clock().UTC()})
}

// Changes returns a copy of the change log: every creation, update, deletion, restoration and
// archiving of a ticket, contact, company, agent or group, in the order made, whatever made it
// (REST, direct methods, Seed, SeedDirectory, Mutate, Burst*, ShiftDuringWalk). Side effects are
// logged too: a contact created for a ticket's requester or for a deleted agent, contacts that
// lose a deleted company, agents and groups whose membership changes.
func (s *Server) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.changes)
}

// ResetStats zeroes the request counters of Stats (Requests, ByEndpoint, ByStatus, RateLimited,
// ServerErrors, Unauthorized, Injected). The record counts, the rate-limit window and the change
// log are left alone.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByEndpoint: map[string]int{}, ByStatus: map[int]int{}}
}

// VendorNow is the vendor's clock: Options.Now plus the skew, in UTC.
func (s *Server) VendorNow() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vendorClock()
}

// SetSkew sets the vendor's clock skew (Options.Skew).
func (s *Server) SetSkew(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skew = d
}

// SetVisibleAfter sets the replication lag of list responses (Options.VisibleAfter).
func (s *Server) SetVisibleAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.visibleAfter = d
}

// SetShiftDuringWalk sets the probability of a shift per list page request (Options.ShiftDuringWalk).
func (s *Server) SetShiftDuringWalk(p float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shiftDuringWalk = p
}

// SetFailRate sets the probability of an injected failure per request (Options.FailRate);
// statuses, when given, replace Options.FailStatuses.
func (s *Server) SetFailRate(rate float64, statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRate = rate
	if len(statuses) > 0 {
		s.failStatuses = slices.Clone(statuses)
	}
}

// OnListPage installs fn, called on every GET of a list route (tickets, contacts, companies,
// agents, groups) with the resource and the requested page (1 when absent, 0 when not a
// positive integer), outside the lock and before the request is rate limited, authenticated or
// answered: fn may change records (through the direct methods) between the pages of a walk. nil
// removes it.
func (s *Server) OnListPage(fn func(resource string, page int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onListPage = fn
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

// injectFault returns the status of a forced failure (FailNext first, then FailRate), or 0.
func (s *Server) injectFault() int {
	if s.failN > 0 {
		s.failN--
		return s.failStatus
	}
	if s.failRate > 0 && s.faultRng.Float64() < s.failRate {
		statuses := s.failStatuses
		if len(statuses) == 0 {
			statuses = defaultFailStatuses
		}
		return statuses[s.faultRng.IntN(len(statuses))]
	}
	return 0
}

// hiddenAt reports whether VisibleAfter still hides r from lists at vendor time now.
func (s *Server) hiddenAt(r *record, now time.Time) bool {
	return s.visibleAfter > 0 && now.Before(r.updated.Add(s.visibleAfter))
}

// visibleRows drops the rows VisibleAfter hides.
func (s *Server) visibleRows(rows []*record) []*record {
	if s.visibleAfter <= 0 {
		return rows
	}
	now := s.vendorClock()
	return slices.DeleteFunc(rows, func(r *record) bool { return s.hiddenAt(r, now) })
}

// maybeShift implements ShiftDuringWalk: for page 2 or later, with its probability, it moves
// the updated_at of a random live record among rows[:(page-1)*perPage] (the earlier pages of
// the query) to now. It reports whether a record changed, the caller then selecting rows anew.
func (s *Server) maybeShift(resource string, rows []*record, perPage, page int) bool {
	if page < 2 || s.shiftDuringWalk <= 0 || s.faultRng.Float64() >= s.shiftDuringWalk {
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
	r := cands[s.faultRng.IntN(len(cands))]
	now := s.now()
	if !now.After(r.updated) {
		return false
	}
	r.touch(now)
	s.change(resource, r.id, "updated", r.updated)
	s.log.Debug("record shifted during walk", "resource", resource, "id", r.id, "page", page)
	return true
}

// BurstUpdateTickets applies fields to every ticket of ids, as UpdateTicket would, all with the
// same updated_at: the current second of the vendor's clock (unless fields sets "updated_at").
// Nil fields only move updated_at. It checks every id first: when one is missing, archived or
// deleted, nothing changes and the error wraps ErrNotFound or ErrDeleted; a *ValidationError
// also leaves every ticket unchanged.
func (s *Server) BurstUpdateTickets(ids []int64, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		r := s.tickets[id]
		switch {
		case r == nil || r.archived:
			return fmt.Errorf("ticket %d: %w", id, ErrNotFound)
		case r.deleted:
			return fmt.Errorf("ticket %d: %w", id, ErrDeleted)
		}
	}
	f := maps.Clone(fields)
	if f == nil {
		f = map[string]any{}
	}
	if _, ok := f["updated_at"]; !ok {
		f["updated_at"] = s.now()
	}
	// The first update validates before changing anything, and the others see the same fields.
	for _, id := range ids {
		if _, err := s.updateTicketLocked(id, f, true); err != nil {
			return err
		}
	}
	return nil
}

// BurstCreateTickets creates n tickets as CreateTicket would, all created and updated in the
// same second of the vendor's clock (unless fields sets "created_at" or "updated_at"), and
// returns their ids, ascending. Without a requester in fields, each gets a random live contact
// (one is created when there is none). It panics on invalid fields.
func (s *Server) BurstCreateTickets(n int, fields map[string]any) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := maps.Clone(fields)
	if f == nil {
		f = map[string]any{}
	}
	if _, ok := f["created_at"]; !ok {
		f["created_at"] = s.now()
	}
	_, hasReq := f["requester_id"]
	_, hasEmail := f["email"]
	_, hasPhone := f["phone"]
	pickRequester := !hasReq && !hasEmail && !hasPhone
	var contacts []int64
	ids := make([]int64, 0, n)
	for range n {
		if pickRequester {
			if len(contacts) == 0 {
				contacts = liveIDs(s.contacts)
			}
			if len(contacts) > 0 {
				f["requester_id"] = contacts[s.rng.IntN(len(contacts))]
			}
		}
		r, err := s.createTicketLocked(f, true, s.rng)
		if err != nil {
			panic(err)
		}
		ids = append(ids, r.id)
	}
	return ids
}
