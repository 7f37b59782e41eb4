package engine

import (
	"context"
	"errors"
	"sort"
	"time"
)

// hotSecond is a second of a keyset walk that spanned several pages, read by page number. When a
// row of it leaves the second while the walk reads it (the vendor updates it, which moves it to the
// tail of the list, or deletes it), every row after it moves up one place, and the row that moves
// over the page boundary the walk is at is skipped. Such a row is still in the second, so reading
// the page before the boundary again finds it. The walk knows which rows left (the poll meets them
// again later, newer, or in the deleted stream) and, from the vendor's Date header of each page,
// at which pages they can have left; it reads only those pages again.
type hotSecond struct {
	w      *walk
	second time.Time         // the anchor of the walk's queries of the second
	end    time.Time         // the first time after the second
	pages  map[string]int    // id -> page it was read on: oldest first positive, newest first negative
	dates  map[int]time.Time // page -> the vendor's clock when it answered
	movers []mover
	done   bool
}

type mover struct {
	page int       // where the row was read
	left time.Time // its newer updated date: no earlier than when it left
}

// markHot registers the walk's current second as read over several pages, from its second page
// on: the rows it reads from then on are watched as they are read (walk.record), so that a row
// that leaves the second and shows again on the same page as the second's last rows counts.
func (r *pollRun) markHot(w *walk, anchor time.Time) {
	if w.hot != nil {
		return
	}
	h := &hotSecond{w: w, second: anchor, end: w.secondTo, pages: w.secondRead, dates: w.pageDates}
	r.hot = append(r.hot, h)
	if r.hotIDs == nil {
		r.hotIDs = map[string]*hotSecond{}
	}
	for id := range h.pages {
		r.hotIDs[id] = h
	}
	w.hot = h
}

// watch marks a row just read in the walk's hot second.
func (r *pollRun) watch(w *walk, id string) {
	if w.hot != nil {
		r.hotIDs[id] = w.hot
	}
}

// moved notes a record met again in this poll: when it was read in a hot second and is now newer
// than that second, or deleted, it left the second while the poll ran.
func (r *pollRun) moved(w *walk, id string, updated time.Time) {
	h := r.hotIDs[id]
	if h == nil || h.done || (w.stream != StreamDeleted && updated.Before(h.end)) {
		return
	}
	h.movers = append(h.movers, mover{page: h.pages[id], left: updated})
	delete(r.hotIDs, id)
}

// hotPin is the position a keyset walk's mark may not pass: its earliest hot second not yet
// checked. Zero: none.
func (r *pollRun) hotPin(w *walk) time.Time {
	var pin time.Time
	for _, h := range r.hot {
		if h.w == w && !h.done && (pin.IsZero() || h.second.Before(pin)) {
			pin = h.second
		}
	}
	return pin
}

// settleHot reads again, in every hot second that rows left, the pages where a row may have been
// skipped, pass after pass until a pass finds nothing new; then the walks may commit past them.
func (r *pollRun) settleHot(ctx context.Context) error {
	for _, h := range r.hot {
		if len(h.movers) > 0 && !h.w.partial {
			if err := h.reread(ctx); err != nil {
				return err
			}
		}
		h.done = true
	}
	r.hotIDs = nil
	return nil
}

func (h *hotSecond) reread(ctx context.Context) error {
	w := h.w
	pages := h.targets()
	w.remember(h.second)
	for pass := 0; pass < maxRereads; pass++ {
		found := 0
		for _, p := range pages {
			n, reverse := p, false
			if p < 0 {
				n, reverse = -p, true
			}
			u, err := w.url(h.second, n, reverse)
			if err != nil {
				return err
			}
			w.pageNo = p
			if _, _, err := w.read(ctx, u); err != nil && !errors.Is(err, errEndOfWindow) {
				return err
			}
			found += w.pageNew
		}
		if found == 0 {
			return nil
		}
	}
	return nil
}

// targets are the pages to read again: for each row that left, the pages before each boundary
// the walk may have been at when it left (from its page onward, where the vendor's clock allows),
// and the one before that, in case later leavers moved the skipped row up further.
func (h *hotSecond) targets() []int {
	last := map[bool]int{} // the last page read in each direction
	for p := range h.dates {
		if p > 0 && p > last[false] {
			last[false] = p
		}
		if p < 0 && -p > last[true] {
			last[true] = -p
		}
	}
	for _, p := range h.pages {
		if p > 0 && p > last[false] {
			last[false] = p
		}
		if p < 0 && -p > last[true] {
			last[true] = -p
		}
	}
	want := map[int]bool{}
	for _, m := range h.movers {
		sign, from := 1, m.page
		if from < 0 {
			sign, from = -1, -from
		}
		if from == 0 {
			from = 1
		}
		n := last[sign < 0]
		for b := from; b < n; b++ {
			if !h.maybeAt(sign*b, sign*(b+1), m.left) {
				continue
			}
			want[sign*b] = true
			if b > 1 {
				want[sign*(b-1)] = true
			}
		}
	}
	out := make([]int, 0, len(want))
	for p := range want {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// maybeAt reports whether a row that left at the vendor time left can have left between the
// answers to pages a and b: the vendor's clock (to the second) at a no later than left, and at b
// no earlier. Unknown clocks allow it.
func (h *hotSecond) maybeAt(a, b int, left time.Time) bool {
	da, okA := h.dates[a]
	db, okB := h.dates[b]
	if okA && da.After(left.Add(time.Second)) {
		return false
	}
	if okB && db.Before(left.Add(-time.Second)) {
		return false
	}
	return true
}
