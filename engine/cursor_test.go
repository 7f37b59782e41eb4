package engine

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"
)

func TestMarkAdvance(t *testing.T) {
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(sec int) int64 { return t0.Add(time.Duration(sec) * time.Second).UnixNano() }
	p := func(id string, sec int) SeenRecord { return SeenRecord{ID: id, Updated: at(sec)} }
	for _, tc := range []struct {
		name      string
		since     int // seconds after t0
		seen      []SeenRecord
		processed []SeenRecord
		keep      time.Duration
		wantSince int
		wantSeen  []SeenRecord
	}{
		{name: "nothing processed", since: 60, seen: []SeenRecord{p("a", 60)},
			wantSince: 60, wantSeen: []SeenRecord{p("a", 60)}},
		{name: "moves to the newest", since: 0, processed: []SeenRecord{p("a", 30), p("b", 90), p("c", 45)},
			wantSince: 90, wantSeen: []SeenRecord{p("b", 90)}},
		{name: "never back", since: 100, processed: []SeenRecord{p("a", 30), p("b", 90)},
			wantSince: 100, wantSeen: nil},
		{name: "keep window", since: 0, keep: 10 * time.Second,
			processed: []SeenRecord{p("a", 89), p("b", 90), p("c", 100), p("d", 80), p("e", 79)},
			wantSince: 100, wantSeen: []SeenRecord{p("b", 90), p("c", 100)}},
		{name: "keep window includes old pairs", since: 95, keep: 10 * time.Second,
			seen:      []SeenRecord{p("x", 84), p("y", 95)},
			processed: []SeenRecord{p("z", 92)},
			wantSince: 95, wantSeen: []SeenRecord{p("y", 95), p("z", 92)}},
		{name: "old pairs dropped once since moves", since: 95, keep: 10 * time.Second,
			seen:      []SeenRecord{p("x", 90), p("y", 95)},
			processed: []SeenRecord{p("z", 120)},
			wantSince: 120, wantSeen: []SeenRecord{p("z", 120)}},
		{name: "boundary second kept with keep 0", since: 0,
			processed: []SeenRecord{p("a", 50), p("b", 50), p("c", 49)},
			wantSince: 50, wantSeen: []SeenRecord{p("a", 50), p("b", 50)}},
		{name: "de-duplicates", since: 50, keep: time.Minute,
			seen:      []SeenRecord{p("a", 50), p("a", 50)},
			processed: []SeenRecord{p("a", 50), p("b", 40), p("b", 40), p("a", 45)},
			wantSince: 50, wantSeen: []SeenRecord{p("a", 50), p("b", 40), p("a", 45)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Mark{Since: t0.Add(time.Duration(tc.since) * time.Second), Seen: append([]SeenRecord(nil), tc.seen...)}
			before := append([]SeenRecord(nil), m.Seen...)
			next := m.advance(tc.processed, tc.keep, time.Time{})
			if want := t0.Add(time.Duration(tc.wantSince) * time.Second); !next.Since.Equal(want) {
				t.Errorf("since %v, want %v", next.Since, want)
			}
			if !sameSeen(next.Seen, tc.wantSeen) {
				t.Errorf("seen %v, want %v", next.Seen, tc.wantSeen)
			}
			if !m.Since.Equal(t0.Add(time.Duration(tc.since)*time.Second)) || !reflect.DeepEqual(m.Seen, before) {
				t.Error("advance changed the mark it was called on")
			}
		})
	}
}

func sameSeen(a, b []SeenRecord) bool {
	if len(a) != len(b) {
		return false
	}
	sortSeen := func(s []SeenRecord) []SeenRecord {
		s = append([]SeenRecord(nil), s...)
		sort.Slice(s, func(i, j int) bool {
			if s[i].ID != s[j].ID {
				return s[i].ID < s[j].ID
			}
			return s[i].Updated < s[j].Updated
		})
		return s
	}
	return reflect.DeepEqual(sortSeen(a), sortSeen(b))
}

// Advancing repeatedly never moves Since back, and a pair stays seen as long as it is within
// keep of Since.
func TestMarkAdvanceSequence(t *testing.T) {
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	keep := 5 * time.Second
	m := &Mark{Since: t0}
	rounds := [][]int{{3, 1, 2}, {}, {2}, {10, 7}, {6}, {30}}
	for i, secs := range rounds {
		var proc []SeenRecord
		for _, s := range secs {
			proc = append(proc, SeenRecord{ID: "r", Updated: t0.Add(time.Duration(s) * time.Second).UnixNano()})
		}
		prev := m.Since
		m = m.advance(proc, keep, time.Time{})
		if m.Since.Before(prev) {
			t.Fatalf("round %d: since moved back from %v to %v", i, prev, m.Since)
		}
		floor := m.Since.Add(-keep).UnixNano()
		seen := newSeenSet(m)
		for _, p := range m.Seen {
			if p.Updated < floor {
				t.Errorf("round %d: kept %v older than keep", i, p)
			}
		}
		for _, p := range proc {
			if _, ok := seen.pairs[p]; (p.Updated >= floor) != ok {
				t.Errorf("round %d: pair %v kept=%v, floor %v", i, p, ok, time.Unix(0, floor).UTC())
			}
		}
	}
	if !m.Since.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("final since %v", m.Since)
	}
}

// A cursor survives the JSON a store keeps it in.
func TestCursorJSONRoundTrip(t *testing.T) {
	c := Cursor{Streams: map[string]*Mark{
		StreamChanges: {Since: time.Date(2024, 3, 1, 10, 0, 0, 123456789, time.UTC), Seen: []SeenRecord{{ID: "1", Updated: 1709287200123456789}}},
		StreamDeleted: {Since: time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)},
	}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Cursor
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for name, m := range c.Streams {
		got := back.Streams[name]
		if got == nil || !got.Since.Equal(m.Since) || !reflect.DeepEqual(got.Seen, m.Seen) {
			t.Errorf("stream %s: %+v, want %+v", name, got, m)
		}
	}
}
