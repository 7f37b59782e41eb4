package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// walk reads one stream of a poll from the vendor.
//
// A resource the vendor lists oldest first (updatedOrder "asc") and filters by the change cursor
// is walked by that filter: each query restarts from the updated date of the last record read
// (inclusive; what was read is de-duplicated) instead of asking for the next page number. When
// a record is updated during the walk it moves to the tail of the list and every record after it
// shifts up one place; a page-number walk would skip the record that shifted over a page
// boundary, this walk cannot. Only a page lying entirely within one second is followed by page
// number, and when more records share one second than the vendor lets a query page through,
// that second is walked from its other end too (reverseQuery); what neither end reaches is
// reported as a gap and the walk moves on, never loops.
//
// Other resources are read page after page, as the vendor links them.
func (p *Poller) walk(ctx context.Context, w *window, res *PollResult) error {
	j := w.job
	pageParam := j.paging(w.in).PageParam
	if j.cursor == nil || !j.Resource.ascending() || pageParam == "" || w.token != "" {
		err := p.Source.List(ctx, j.query(w, w.lower, 0, false), func(pg Page) error {
			res.Pages++
			return w.page(pg)
		})
		if errors.Is(err, errEndOfWindow) {
			err = nil
		}
		return err
	}
	w.keyset = true
	maxPages := j.maxPages(w.in)
	anchor, page := w.lower, 1
	w.ascRead = map[SeenRecord]struct{}{}
	defer func() { w.ascRead = nil }()
	w.remember(anchor)
	for {
		pg, err := p.onePage(ctx, w, j.query(w, anchor, page, false), res)
		if err != nil {
			return err
		}
		progressed := w.pageCount > 0 && w.pageLast.After(anchor) && j.cursor.value.Expand(w.pageLast) != j.cursor.value.Expand(anchor)
		last := w.pageLast
		if page > 1 && (progressed || !pg.HasNext || w.ended) {
			// The anchor's second took several pages to read by page number: read them again
			// until nothing new shows, so a record that shifted onto a page already read (when
			// one before it was updated away) is not left behind.
			if err := p.rereadSecond(ctx, w, anchor, page, res); err != nil {
				return err
			}
		}
		if !pg.HasNext || w.ended {
			return nil
		}
		if w.budget > 0 && w.pages >= w.budget {
			w.partial = true
			return nil
		}
		if progressed {
			anchor, page = last, 1 // progress: restart from the last date read
			w.remember(anchor)
			continue
		}
		// The page lies within the anchor's second (or has no readable date): page on.
		page++
		if page > maxWalkPages {
			return fmt.Errorf("the vendor still offers a next page after %d pages of one query", maxWalkPages)
		}
		if maxPages > 0 && page > maxPages {
			if err := p.walkSecondFromTop(ctx, w, anchor, page-1, res); err != nil {
				return err
			}
			if err := p.rereadSecond(ctx, w, anchor, maxPages, res); err != nil {
				return err
			}
			w.passed = anchor
			anchor, page = j.nextCursorStep(anchor), 1
			w.remember(anchor)
		}
	}
}

// remember starts remembering the records read of anchor's second (and forgets the previous
// second's): a newest-first walk of it stops when it meets one of them.
func (w *window) remember(anchor time.Time) {
	clear(w.ascRead)
	w.secondFrom, w.secondTo = anchor.Truncate(time.Second), w.job.nextCursorStep(anchor)
}

// walkSecondFromTop reads an overfull second from its newest end, until it meets what the
// oldest-first walk read, or passes below the second, or reaches the vendor's page cap.
func (p *Poller) walkSecondFromTop(ctx context.Context, w *window, second time.Time, pagesUp int, res *PollResult) error {
	j := w.job
	key := j.cursor.value.Expand(second)
	maxPages := j.maxPages(w.in)
	gap := func(why string) {
		res.Gaps = append(res.Gaps, fmt.Sprintf("%s %s: more records were updated in the second %s than the vendor lets a query page through; "+
			"%d pages were read oldest first%s; records in between may not have been read", j.ObjectType, w.stream, key, pagesUp, why))
	}
	if j.Resource.reverseQuery == nil {
		gap(" and the resource declares no reverseQuery to read the rest from the newest end")
		return nil
	}
	w.meetKey = key
	defer func() { w.meetKey = "" }()
	for page := 1; maxPages == 0 || page <= maxPages; page++ {
		w.met, w.below = false, false
		pg, err := p.onePage(ctx, w, j.query(w, second, page, true), res)
		if err != nil {
			return err
		}
		if w.met || w.below || !pg.HasNext {
			return nil
		}
	}
	gap(fmt.Sprintf(" and %d newest first", maxPages))
	return nil
}

// maxWalkPages bounds a query's pages when the vendor declares no cap, against a vendor that
// always offers a next page.
const maxWalkPages = 100_000

// rereadSecond reads the first pages of a second again, pass after pass, until a pass finds no
// record it had not read. Records only leave a past second (an update moves them to a later one),
// so every pass can only find the few that shifted, and the passes end.
func (p *Poller) rereadSecond(ctx context.Context, w *window, second time.Time, pages int, res *PollResult) error {
	j := w.job
	key := j.cursor.value.Expand(second)
	for pass := 0; pass < maxRereads; pass++ {
		found := 0
		for page := 1; page <= pages; page++ {
			pg, err := p.onePage(ctx, w, j.query(w, second, page, false), res)
			if err != nil {
				return err
			}
			found += w.pageNew
			if !pg.HasNext || w.pageCount == 0 || j.cursor.value.Expand(w.pageLast) != key {
				break // past the second
			}
		}
		if found == 0 {
			return nil
		}
	}
	return nil
}

// maxRereads bounds the passes over a second that spans pages.
const maxRereads = 5

// errOnePage stops a listing after the page the walk asked for.
var errOnePage = errors.New("one page read")

// onePage reads one page of a query into the window.
func (p *Poller) onePage(ctx context.Context, w *window, req Request, res *PollResult) (Page, error) {
	var got Page
	w.pageCount, w.pageNew = 0, 0
	err := p.Source.List(ctx, req, func(pg Page) error {
		res.Pages++
		got = pg
		if err := w.page(pg); err != nil {
			return err
		}
		return errOnePage
	})
	if errors.Is(err, errEndOfWindow) {
		w.ended = true
		err = nil
	}
	if errors.Is(err, errOnePage) {
		err = nil
	}
	return got, err
}

// query builds a vendor query of the window's stream: the change cursor filled with at, the
// other where parameters with the window's lower bound, page when above 1, and the newest-first
// ordering when reverse.
func (j *JobSpec) query(w *window, at time.Time, page int, reverse bool) Request {
	r := j.Resource
	q := make(url.Values, len(r.query)+len(j.pushed)+2)
	for k, v := range r.query {
		q[k] = v
	}
	if reverse {
		for k, v := range r.reverseQuery {
			q[k] = v
		}
	}
	resuming := j.Resource.Spec.Resume != nil && w.token != ""
	for _, p := range j.pushed {
		if p.cursor && resuming {
			continue // the vendor's own cursor says where to go on from
		}
		t := w.lower
		if p.cursor {
			t = at
		}
		if age := j.Resource.minAge; age > 0 && t.After(w.now.Add(-age)) {
			t = w.now.Add(-age) // the vendor refuses or omits the most recent changes
		}
		q.Set(p.param, p.value.Expand(t))
	}
	if resuming {
		q.Set(j.Resource.Spec.Resume.Param, w.token)
	}
	if w.deleted {
		for k, v := range r.deletedQuery {
			q[k] = v
		}
	}
	paging := j.paging(w.in)
	if page > 1 {
		q.Set(paging.PageParam, strconv.Itoa(page))
	}
	return Request{
		Endpoint:  w.in.Endpoint,
		Paging:    paging,
		RateLimit: w.in.Element.Spec.RateLimit,
		Path:      r.VendorPath,
		Query:     q,
		PageSize:  j.pageSize,
	}
}

// nextCursorStep is the first time after t that the cursor parameter writes differently: the
// next second for a cursor written to the second.
func (j *JobSpec) nextCursorStep(t time.Time) time.Time {
	key := j.cursor.value.Expand(t)
	next := t.Truncate(time.Second).Add(time.Second)
	for i := 0; i < 3600 && j.cursor.value.Expand(next) == key; i++ {
		next = next.Add(time.Second)
	}
	return next
}

// ascending reports whether the vendor lists the resource oldest first by updated date.
func (r *Resource) ascending() bool { return r.Spec.UpdatedOrder == "asc" }

// paging is how the resource's list pages: its own paging, else the element's.
func (j *JobSpec) paging(in *Instance) PagingSpec {
	if p := j.Resource.Spec.Paging; p != nil {
		return *p
	}
	return in.Element.Spec.Paging
}

// maxPages is how many pages one query can reach: the resource's cap, else the element's.
func (j *JobSpec) maxPages(in *Instance) int {
	if n := j.Resource.Spec.MaxPages; n > 0 {
		return n
	}
	return in.Element.Spec.Paging.MaxPages
}
