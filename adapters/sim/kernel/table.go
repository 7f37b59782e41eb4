package kernel

import "slices"

// Table holds the records of one resource by id, in id order. It is not safe for concurrent use:
// the vendor guards its tables with its own lock. R is the vendor's record type.
type Table[R any] struct {
	byID map[int64]*R
	ids  []int64 // ascending
	rows []*R    // rows[i] has id ids[i]
	next int64
}

// NewTable returns an empty table whose first allocated id is first.
func NewTable[R any](first int64) *Table[R] {
	return &Table[R]{byID: map[int64]*R{}, next: first}
}

// Alloc returns a new id: the next after every id allocated or stored so far.
func (t *Table[R]) Alloc() int64 {
	id := t.next
	t.next++
	return id
}

// Next is the id Alloc will return next.
func (t *Table[R]) Next() int64 { return t.next }

// Get returns the record with id, or nil.
func (t *Table[R]) Get(id int64) *R { return t.byID[id] }

// Put stores r under id, replacing any record with that id.
func (t *Table[R]) Put(id int64, r *R) {
	if _, ok := t.byID[id]; ok {
		t.byID[id] = r
		i, _ := slices.BinarySearch(t.ids, id)
		t.rows[i] = r
		return
	}
	t.byID[id] = r
	t.next = max(t.next, id+1)
	if n := len(t.ids); n == 0 || t.ids[n-1] < id { // the usual case: ids rise
		t.ids, t.rows = append(t.ids, id), append(t.rows, r)
		return
	}
	i, _ := slices.BinarySearch(t.ids, id)
	t.ids, t.rows = slices.Insert(t.ids, i, id), slices.Insert(t.rows, i, r)
}

// Delete removes the record with id (a hard delete); it does nothing when there is none.
func (t *Table[R]) Delete(id int64) {
	if _, ok := t.byID[id]; !ok {
		return
	}
	delete(t.byID, id)
	i, _ := slices.BinarySearch(t.ids, id)
	t.ids, t.rows = slices.Delete(t.ids, i, i+1), slices.Delete(t.rows, i, i+1)
}

// Len is the number of records.
func (t *Table[R]) Len() int { return len(t.ids) }

// IDs returns the ids, ascending, in a new slice.
func (t *Table[R]) IDs() []int64 { return slices.Clone(t.ids) }

// Rows returns the records in id order. The slice is the table's own: read it, do not keep it
// across a Put or Delete.
func (t *Table[R]) Rows() []*R { return t.rows }
