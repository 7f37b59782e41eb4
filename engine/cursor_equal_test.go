package engine

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestCursorEqual(t *testing.T) {
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	seen := []SeenRecord{{ID: "1", Updated: t0.UnixNano()}, {ID: "2", Updated: t0.UnixNano()}}
	mark := func(change func(m *Mark)) *Mark {
		m := &Mark{Since: t0, Seen: append([]SeenRecord(nil), seen...), Token: "tok"}
		if change != nil {
			change(m)
		}
		return m
	}
	base := func() Cursor {
		return Cursor{Streams: map[string]*Mark{StreamChanges: mark(nil), StreamDeleted: mark(func(m *Mark) { m.Seen = nil })}}
	}
	with := func(name string, m *Mark) Cursor {
		c := base()
		c.Streams[name] = m
		return c
	}
	without := func(name string) Cursor {
		c := base()
		delete(c.Streams, name)
		return c
	}
	for _, tc := range []struct {
		name  string
		c     Cursor
		equal bool
	}{
		{"same", base(), true},
		{"since in another zone", with(StreamChanges, mark(func(m *Mark) { m.Since = t0.In(time.FixedZone("X", 3600)) })), true},
		{"seen nil and empty", with(StreamDeleted, mark(func(m *Mark) { m.Seen = []SeenRecord{} })), true},
		{"since a nanosecond later", with(StreamChanges, mark(func(m *Mark) { m.Since = t0.Add(1) })), false},
		{"a seen pair more", with(StreamChanges, mark(func(m *Mark) { m.Seen = append(m.Seen, SeenRecord{ID: "3", Updated: 1}) })), false},
		{"a seen pair less", with(StreamChanges, mark(func(m *Mark) { m.Seen = m.Seen[:1] })), false},
		{"a seen id", with(StreamChanges, mark(func(m *Mark) { m.Seen[1].ID = "3" })), false},
		{"a seen date", with(StreamChanges, mark(func(m *Mark) { m.Seen[1].Updated++ })), false},
		{"seen in another order", with(StreamChanges, mark(func(m *Mark) { m.Seen[0], m.Seen[1] = m.Seen[1], m.Seen[0] })), false},
		{"done", with(StreamChanges, mark(func(m *Mark) { m.Done = true })), false},
		{"token", with(StreamChanges, mark(func(m *Mark) { m.Token = "tok2" })), false},
		{"no token", with(StreamChanges, mark(func(m *Mark) { m.Token = "" })), false},
		{"past", with(StreamChanges, mark(func(m *Mark) { m.Past = true })), false},
		{"a skipped record", with(StreamChanges, mark(func(m *Mark) { m.Skip = []string{"7"} })), false},
		{"a stream more", with(StreamBackfill, mark(nil)), false},
		{"a stream less", without(StreamDeleted), false},
		{"a stream renamed", func() Cursor { c := without(StreamDeleted); c.Streams[StreamBackfill] = mark(nil); return c }(), false},
		{"a nil mark", with(StreamDeleted, nil), false},
		{"no streams", Cursor{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base()
			if got := b.Equal(tc.c); got != tc.equal {
				t.Errorf("base.Equal = %v, want %v", got, tc.equal)
			}
			if got := tc.c.Equal(b); got != tc.equal {
				t.Errorf("Equal(base) = %v, want %v", got, tc.equal)
			}
		})
	}

	if !(Cursor{}).Equal(Cursor{Streams: map[string]*Mark{}}) || !(*Mark)(nil).Equal(nil) || (*Mark)(nil).Equal(&Mark{}) || (&Mark{}).Equal(nil) {
		t.Error("empty cursors and nil marks")
	}
	// What a store gives back equals what it was given.
	b, err := json.Marshal(base())
	if err != nil {
		t.Fatal(err)
	}
	var back Cursor
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(base()) {
		t.Errorf("a cursor read back from JSON differs: %s", b)
	}
	// Equal must compare every field of a Mark: one added here must be added there.
	if n := reflect.TypeFor[Mark]().NumField(); n != 6 {
		t.Errorf("Mark has %d fields; Mark.Equal compares 6 (Since, Seen, Done, Token, Past, Skip): update it and this test", n)
	}
}
