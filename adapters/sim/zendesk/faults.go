package zendesk

import (
	"fmt"
	"maps"
	"time"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// FailNext makes the next n requests answer status (e.g. 500 or 503) before authentication
// and rate limiting; a 429 carries Retry-After: 1 and uses no rate-limit allowance.
func (s *Server) FailNext(n, status int) { s.k.FailNext(n, status) }

// OnExport sets (or, with nil, clears) the hook of Options.OnExport.
func (s *Server) OnExport(fn func(resource string)) {
	if fn == nil {
		s.k.SetOnPage(nil)
		return
	}
	s.k.SetOnPage(exportHook(fn))
}

// SetSkew sets the vendor's clock skew (Options.Skew).
func (s *Server) SetSkew(d time.Duration) { s.k.SetSkew(d) }

// SetVisibleAfter sets Options.VisibleAfter.
func (s *Server) SetVisibleAfter(d time.Duration) { s.k.SetVisibleAfter(d) }

// SetShift sets the shift knob with its scope (Options.ShiftDuringWalk is its Rate).
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

// BurstCreate creates n records of resource ("tickets", "users" or "organizations") as the
// Create methods would, all created and updated in the same second of the vendor's clock however
// long it takes (kernel.Burst), unless fields sets "created_at" or "updated_at", and returns
// their ids, ascending: an overfull second (more than 1,000 organizations in one second is
// the time-based export's end_time-equals-start_time case). Missing names and emails are
// generated, unique. It panics on invalid fields or an unknown resource.
func (s *Server) BurstCreate(resource string, n int, fields map[string]any) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	create := s.creator(resource)
	ids := make([]int64, 0, n)
	s.k.Burst(func(time.Time) {
		for range n {
			r, err := create(maps.Clone(fields))
			if err != nil {
				panic(err)
			}
			ids = append(ids, r.id)
		}
	})
	return ids
}

// BurstUpdate applies fields to every record of resource named by ids, as the Update methods
// would, all with the same updated_at: the current second of the vendor's clock however long it
// takes, unless fields sets "updated_at". Nil fields only move updated_at. It checks every id
// first: when one is missing or deleted, nothing changes and the error wraps ErrNotFound or
// ErrDeleted.
func (s *Server) BurstUpdate(resource string, ids []int64, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	update := s.updater(resource)
	for _, id := range ids {
		switch r := s.store(resource).Get(id); {
		case r == nil:
			return fmt.Errorf("%s %d: %w", resource, id, ErrNotFound)
		case r.deleted:
			return fmt.Errorf("%s %d: %w", resource, id, ErrDeleted)
		}
	}
	var err error
	s.k.Burst(func(at time.Time) {
		for _, id := range ids {
			f := maps.Clone(fields)
			if f == nil {
				f = map[string]any{}
			}
			if _, ok := f["updated_at"]; !ok {
				f["updated_at"] = at
			}
			if _, err = update(id, f); err != nil {
				return
			}
		}
	})
	return err
}

// TouchTicket makes a system update of a ticket, as Zendesk's own processes do (SLA and
// metric updates): its generated_timestamp moves to now, its updated_at and fields do not. The
// ticket exports order by generated_timestamp, so the ticket is exported again, unchanged. It
// is not a change: the change log does not record it.
func (s *Server) TouchTicket(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.tickets.Get(id)
	if r == nil {
		return ErrNotFound
	}
	r.generated = s.now()
	return nil
}

// creator returns the direct create of resource; it panics on an unknown one.
func (s *Server) creator(resource string) func(map[string]any) (*record, error) {
	switch resource {
	case "tickets":
		return func(f map[string]any) (*record, error) { return s.createTicketLocked(f, true) }
	case "users":
		return func(f map[string]any) (*record, error) { return s.createUserLocked(f, true) }
	case "organizations":
		return func(f map[string]any) (*record, error) { return s.createOrgLocked(f, true) }
	}
	panic("zendesk: no resource " + resource)
}

// updater returns the direct update of resource; it panics on an unknown one.
func (s *Server) updater(resource string) func(int64, map[string]any) (*record, error) {
	switch resource {
	case "tickets":
		return func(id int64, f map[string]any) (*record, error) { return s.updateTicketLocked(id, f, true) }
	case "users":
		return func(id int64, f map[string]any) (*record, error) { return s.updateUserLocked(id, f, true) }
	case "organizations":
		return func(id int64, f map[string]any) (*record, error) { return s.updateOrgLocked(id, f, true) }
	}
	panic("zendesk: no resource " + resource)
}
