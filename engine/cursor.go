package engine

import (
	"slices"
	"time"
)

// Cursor is where a job stands: one Mark per stream of the job (the changes query, and the
// deleted query where the resource has one).
type Cursor struct {
	Streams map[string]*Mark `json:"streams"`
}

// Mark is one stream's position: the vendor time up to which records have been processed, and
// the (id, updated) pairs near that boundary. The next poll re-reads from Since minus its overlap
// (the vendor's inclusive "since" filter, pollDelay, lookback) and drops the pairs already seen, so
// records sharing the boundary second are neither lost nor emitted twice.
type Mark struct {
	Since time.Time    `json:"since"`
	Seen  []SeenRecord `json:"seen,omitempty"`
	Done  bool         `json:"done,omitempty"` // a backfill stream that has caught up
	// Token is the vendor's own cursor (ResourceSpec.Resume) where the last poll stopped.
	Token string `json:"token,omitempty"`
	// Past says Since's second was read to its end from both ends (an overfull second): the next
	// poll starts after it instead of paging through it again.
	Past bool `json:"past,omitempty"`
	// Skip lists the ids of records that do not read (no id, a date that does not parse) which an
	// operator chose to skip: the stream reads past them instead of holding below them.
	Skip []string `json:"skip,omitempty"`
}

// Equal reports whether c and d stand at the same place: the same streams, each at an Equal mark.
// A poll that found no events and whose next cursor is Equal to the stored one has nothing to
// commit.
func (c Cursor) Equal(d Cursor) bool {
	if len(c.Streams) != len(d.Streams) {
		return false
	}
	for name, m := range c.Streams {
		n, ok := d.Streams[name]
		if !ok || !m.Equal(n) {
			return false
		}
	}
	return true
}

// Equal reports whether m and n are the same position: Since the same instant (in any zone), the
// same seen pairs in the same order, and the same Done, Token and Past. A nil mark equals only a
// nil mark. Seen is compared in order, as advance keeps it: the same pairs in another order are
// unequal, which costs at most one needless commit.
func (m *Mark) Equal(n *Mark) bool {
	if m == nil || n == nil {
		return m == n
	}
	return m.Since.Equal(n.Since) && slices.Equal(m.Seen, n.Seen) &&
		m.Done == n.Done && m.Token == n.Token && m.Past == n.Past && slices.Equal(m.Skip, n.Skip)
}

// SeenRecord is one processed (id, updated date) pair.
type SeenRecord struct {
	ID      string `json:"id"`
	Updated int64  `json:"u"` // unix nanoseconds
}

// Stream names.
const (
	StreamChanges  = "changes"
	StreamDeleted  = "deleted"
	StreamBackfill = "backfill" // history before the instance's creation, when asked for
)

// seenSet indexes a mark's pairs for one poll.
type seenSet struct {
	pairs map[SeenRecord]struct{}
	ids   map[string]struct{}
}

func newSeenSet(m *Mark) seenSet {
	s := seenSet{pairs: make(map[SeenRecord]struct{}, len(m.Seen)), ids: make(map[string]struct{}, len(m.Seen))}
	for _, p := range m.Seen {
		s.pairs[p] = struct{}{}
		s.ids[p.ID] = struct{}{}
	}
	return s
}

// advance returns the mark after a poll that processed the given pairs: Since moves to the newest
// processed date (never back, and never past pin unless pin is zero), and the pairs within keep
// of it are retained, with every pair above it.
func (m *Mark) advance(processed []SeenRecord, keep time.Duration, pin time.Time) *Mark {
	next := &Mark{Since: m.Since}
	for _, p := range processed {
		if t := time.Unix(0, p.Updated).UTC(); t.After(next.Since) {
			next.Since = t
		}
	}
	if !pin.IsZero() && next.Since.After(pin) {
		next.Since = pin
		if pin.Before(m.Since) {
			next.Since = m.Since
		}
	}
	floor := next.Since.Add(-keep).UnixNano()
	dedup := make(map[SeenRecord]struct{}, len(m.Seen)+len(processed))
	for _, list := range [][]SeenRecord{m.Seen, processed} {
		for _, p := range list {
			if _, dup := dedup[p]; dup || p.Updated < floor {
				continue
			}
			dedup[p] = struct{}{}
			next.Seen = append(next.Seen, p)
		}
	}
	return next
}
