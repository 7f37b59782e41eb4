package instances

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/pollen-hq/pollen/engine"
)

// EventStore reads the event history and requeues queued notifications. adapters/sqlite's Store
// implements it.
type EventStore interface {
	Events(ctx context.Context, f engine.EventFilter) ([]engine.EventRecord, string, error)
	Event(ctx context.Context, id string) (*engine.EventRecord, []engine.Attempt, error)
	// Notification returns a notification of the history by its id, the message.eventId of its
	// body.
	Notification(ctx context.Context, id string) (*engine.NotificationRecord, error)
	Queued(ctx context.Context, instanceID int64, limit int) ([]engine.QueuedNotification, error)
	Requeue(ctx context.Context, f engine.RequeueFilter) (int, error)
	// NotificationInstance returns the instance a notification belongs to.
	NotificationInstance(ctx context.Context, id string) (int64, error)
}

// ErrNoHistory is returned by the history methods of a Service without an EventStore.
var ErrNoHistory = errors.New("event history is not configured")

// HasHistory reports whether the service keeps an event history.
func (s *Service) HasHistory() bool { return s.events != nil }

// Events returns the events of the instances the principal sees (deleted ones included), newest
// first, and the token of the next page. f.InstanceID, when set, must be one of them.
func (s *Service) Events(ctx context.Context, p engine.Principal, f engine.EventFilter) ([]engine.EventRecord, string, error) {
	if s.events == nil {
		return nil, "", ErrNoHistory
	}
	if f.InstanceID != 0 {
		if err := s.Owns(ctx, p, f.InstanceID); err != nil {
			return nil, "", err
		}
	}
	f.Scope = p.Scope()
	evs, next, err := s.events.Events(ctx, f)
	if err != nil {
		return nil, "", err
	}
	scrub := s.scrubber(ctx)
	for i := range evs {
		evs[i].Record = scrubBytes(scrub, evs[i].InstanceID, evs[i].Record)
	}
	return evs, next, nil
}

// scrubBytes is scrub for vendor data: what a vendor echoes of an instance's credentials never
// leaves through the history.
func scrubBytes(scrub func(int64, string) string, id int64, b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	if out := scrub(id, string(b)); out != string(b) {
		return []byte(out)
	}
	return b
}

// Event returns one event of an instance the principal sees, with its delivery attempts, their
// errors scrubbed of the instance's secrets.
func (s *Service) Event(ctx context.Context, p engine.Principal, id string) (*engine.EventRecord, []engine.Attempt, error) {
	if s.events == nil {
		return nil, nil, ErrNoHistory
	}
	ev, atts, err := s.events.Event(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Owns(ctx, p, ev.InstanceID); err != nil {
		return nil, nil, fmt.Errorf("event %s: %w", id, engine.ErrNotFound)
	}
	scrub := s.scrubber(ctx)
	for i := range atts {
		atts[i].Error = scrub(ev.InstanceID, atts[i].Error)
	}
	ev.Record = scrubBytes(scrub, ev.InstanceID, ev.Record)
	return ev, atts, nil
}

// Notification returns one notification of an instance the principal sees, by its id (the
// message.eventId its receiver got), with its events and delivery attempts, their errors scrubbed
// of the instance's secrets.
func (s *Service) Notification(ctx context.Context, p engine.Principal, id string) (*engine.NotificationRecord, error) {
	if s.events == nil {
		return nil, ErrNoHistory
	}
	n, err := s.events.Notification(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.Owns(ctx, p, n.InstanceID); err != nil {
		return nil, fmt.Errorf("notification %s: %w", id, engine.ErrNotFound)
	}
	scrub := s.scrubber(ctx)
	for i := range n.Attempts {
		n.Attempts[i].Error = scrub(n.InstanceID, n.Attempts[i].Error)
	}
	for i := range n.Events {
		n.Events[i].Record = scrubBytes(scrub, n.InstanceID, n.Events[i].Record)
	}
	n.Body = scrubBytes(scrub, n.InstanceID, n.Body)
	return n, nil
}

// Queued returns up to limit (<= 0: all) queued notifications of the instances the principal
// sees, or of one of them, oldest first; their last errors scrubbed of the instance's secrets.
func (s *Service) Queued(ctx context.Context, p engine.Principal, instanceID int64, limit int) ([]engine.QueuedNotification, error) {
	if s.events == nil {
		return nil, ErrNoHistory
	}
	var qs []engine.QueuedNotification
	if instanceID != 0 {
		if _, err := s.record(ctx, p, instanceID); err != nil {
			return nil, err
		}
		var err error
		if qs, err = s.events.Queued(ctx, instanceID, limit); err != nil {
			return nil, err
		}
	} else {
		all, err := s.events.Queued(ctx, 0, 0)
		if err != nil {
			return nil, err
		}
		seen := map[int64]bool{}
		qs = []engine.QueuedNotification{}
		for _, n := range all {
			ok, known := seen[n.InstanceID]
			if !known {
				ok = s.Owns(ctx, p, n.InstanceID) == nil
				seen[n.InstanceID] = ok
			}
			if ok {
				qs = append(qs, n)
				if limit > 0 && len(qs) == limit {
					break
				}
			}
		}
	}
	scrub := s.scrubber(ctx)
	for i := range qs {
		qs[i].LastError = scrub(qs[i].InstanceID, qs[i].LastError)
	}
	return qs, nil
}

// Requeue sends again the queued notifications f selects, among those of the instances the
// principal sees: All is every one of theirs. It returns how many it requeued.
func (s *Service) Requeue(ctx context.Context, p engine.Principal, f engine.RequeueFilter) (int, error) {
	if s.events == nil {
		return 0, ErrNoHistory
	}
	var inst int64
	switch {
	case f.All && f.NotificationID == "" && f.EventID == "" && f.InstanceID == 0:
		recs, err := s.store.Instances(ctx, p.Scope())
		if err != nil {
			return 0, err
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
		total := 0
		for _, rec := range recs {
			n, err := s.events.Requeue(ctx, engine.RequeueFilter{InstanceID: rec.ID})
			if err != nil && !errors.Is(err, engine.ErrNotFound) {
				return total, err
			}
			total += n
		}
		return total, nil
	case f.InstanceID != 0:
		inst = f.InstanceID
	case f.EventID != "":
		ev, _, err := s.events.Event(ctx, f.EventID)
		if err != nil {
			return 0, err
		}
		inst = ev.InstanceID
	case f.NotificationID != "":
		var err error
		if inst, err = s.events.NotificationInstance(ctx, f.NotificationID); err != nil {
			return 0, err
		}
	}
	if inst != 0 {
		if err := s.Owns(ctx, p, inst); err != nil {
			return 0, engine.ErrNotFound
		}
	}
	return s.events.Requeue(ctx, f)
}

// scrubber returns a function that scrubs text of an instance's secrets, reading each instance
// once; text of an instance that is gone is returned as it is.
func (s *Service) scrubber(ctx context.Context) func(id int64, text string) string {
	cache := map[int64]*Instance{}
	cat := s.rt.Catalog()
	return func(id int64, text string) string {
		in, ok := cache[id]
		if !ok {
			if rec, err := s.store.Instance(ctx, id); err == nil {
				in = &Instance{Record: rec}
				in.Element, _ = cat.Element(rec.ElementKey)
				in.Compiled, _ = s.compile(cat, rec)
			}
			cache[id] = in
		}
		if in == nil {
			return text
		}
		return in.Scrub(text)
	}
}
