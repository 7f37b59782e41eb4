package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
)

// walk reads one stream of one poll from the vendor, page by page: it builds every query (through
// the one query builder), asks the Source for one page at a time, hands each record to the judge,
// and keeps the stream's resumable position, which the poll commits every few pages.
//
// A resource the vendor lists oldest first (updatedOrder "asc") and filters by the change cursor,
// with page numbers, is walked by that filter (keysetWalk): each query restarts from the updated
// date of the last record read (inclusive; what was read is de-duplicated) instead of asking for
// the next page number, so a record that an update moves to the tail cannot shift past the walk.
// Only a second that spans several pages is read by page number; when more records share one
// second than the vendor lets a query page through, that second is read from its other end too
// (reverseQuery) until the two meet, and what neither end reaches is reported as a gap. Rows that
// leave such a second while it is read (updated again, or deleted) shift the rows after them up a
// page; the walk notices the rows that left and reads again only the pages where a row may have
// slipped past (hotSecond).
//
// Other resources are read as the vendor pages them (linkWalk): Link headers, page numbers, or the
// next URL in the body, resuming from the vendor's own cursor where the resource declares one.
type walk struct {
	run    *pollRun
	in     *Instance
	job    *JobSpec
	pager  *pager
	stream string
	jd     *judge
	start  *Mark // the stream's mark when the poll began
	base   *Mark // the stream's mark as last committed by this poll (start until then)
	fresh  bool  // the stream's first poll

	budget  int    // pages this walk may read; -1: the poll's budget only
	pages   int    // pages read
	token   string // the vendor's own cursor after the last page read whole
	partial bool   // stopped before the end of the list: budget, deadline, deferral or a held record
	held    *Judgement
	keyset  bool      // walked by the change cursor
	opened  time.Time // the vendor's clock (Date header) on the stream's first page
	clocked bool      // the vendor's clock has been read from a page
	ended   bool      // the walk reached records past the window
	passed  time.Time // the last overfull second the walk read to its end
	gapped  bool      // a gap was reported
	done    bool      // the walk has ended

	// Per page, for the keyset walk: the updated date of the page's last record, how many records
	// it had and how many were not read before, and whether the page met a record already read
	// in the second a newest-first walk is closing in on (meetKey), or passed below it.
	pageLast  time.Time
	pageCount int
	pageNew   int
	meetKey   string
	met       bool
	below     bool
	// The keyset walk remembers the records it read of its anchor's second ([secondFrom,
	// secondTo)) and on which page (asc positive, desc negative), so that a newest-first walk of
	// that second knows when it meets them, and a second read over several pages can be checked
	// for rows that shifted (hotSecond).
	secondFrom, secondTo time.Time
	secondRead           map[string]int
	pageNo               int // the page being read, as secondRead counts them
	pageDates            map[int]time.Time
	hot                  *hotSecond // the second being read, once it spans pages

	processed []SeenRecord // pairs judged since the last commit
	events    []Event      // events since the last commit
	sinceSave int          // pages read since the last commit
}

// Errors that end a walk early without failing the poll.
var (
	errEndOfWindow = errors.New("end of the poll's window")
	errBudget      = errors.New("the poll's page budget is spent")
	errHeld        = errors.New("a record that does not read holds the stream")
	errBadShape    = errors.New("page is not what the resource describes")
)

// overallMaxPages bounds a query's pages when the vendor declares no cap, against a vendor that
// always offers a next page.
const overallMaxPages = 100_000

// maxRereads bounds the passes over a second whose rows shifted.
const maxRereads = 5

// badShapeTries is how often a page of the wrong shape (no array at the records path) is asked
// for again before the poll fails.
const badShapeTries = 3

// runStream walks the stream to the end of its list, or until it stops early.
func (w *walk) runStream(ctx context.Context) error {
	j := w.job
	if j.cursor != nil && j.Resource.ascending() && w.pager.numbered() && w.token == "" {
		return w.keysetWalk(ctx)
	}
	return w.linkWalk(ctx)
}

// linkWalk reads the stream's query page after page, as the vendor links them.
func (w *walk) linkWalk(ctx context.Context) error {
	u, err := w.url(w.jd.lower, 1, false)
	if err != nil {
		return err
	}
	size, bigger := w.job.pageSize, false
	for n := 1; ; n++ {
		pg, count, err := w.read(ctx, u)
		if errors.Is(err, errEndOfWindow) {
			w.ended = true
			return nil
		}
		if err != nil {
			return err
		}
		if second, stuck := w.stuckSecond(u, pg, size); stuck {
			// A time-based export that cannot page past one second: ask for it again with the
			// largest page the vendor serves; if that cannot either, go on after the second.
			if max := w.in.Element.Spec.Paging.MaxPageSize; !bigger && max > size && w.pager.sizeParam != "" {
				u, size, bigger = withQuery(u, w.pager.sizeParam, strconv.Itoa(max)), max, true
				continue
			}
			key := w.job.cursor.value.Expand(second)
			w.gap(fmt.Sprintf("more than %d records were updated in the second %s, more than the vendor's export pages through; the rest of that second was not read", size, key))
			w.token = w.job.cursor.value.Expand(w.job.nextCursorStep(second))
			if u, err = w.url(w.jd.lower, 1, false); err != nil {
				return err
			}
			size, bigger = w.job.pageSize, false
			continue
		}
		bigger = false
		next, more, err := w.pager.next(u, pg, n, count, size)
		if err != nil {
			return fmt.Errorf("page %d: %w", n, err)
		}
		if !more {
			return nil
		}
		if n >= w.maxPages() {
			return fmt.Errorf("the vendor still offers a next page after %d pages of one query", n)
		}
		u = next
	}
}

// stuckSecond reports whether a full page of a time-based export (the resource's resume token is
// the change cursor's time) ends where it started: more records share its first second than the
// page holds, so the vendor's next page would be the same one. It returns that second.
func (w *walk) stuckSecond(u *url.URL, pg *Page, size int) (time.Time, bool) {
	rs := w.job.Resource.Spec.Resume
	if rs == nil || !rs.Time || w.pageCount == 0 || w.pageCount < size || w.job.cursor == nil {
		return time.Time{}, false
	}
	asked := u.Query().Get(rs.Param)
	if asked == "" || gjson.GetBytes(pg.Body, rs.From).String() != asked {
		return time.Time{}, false
	}
	return w.pageLast, true
}

// withQuery is a copy of u with query parameter k set to v.
func withQuery(u *url.URL, k, v string) *url.URL {
	c := *u
	q := c.Query()
	q.Set(k, v)
	c.RawQuery = q.Encode()
	return &c
}

// keysetWalk reads the stream by its change cursor (see walk).
func (w *walk) keysetWalk(ctx context.Context) error {
	j := w.job
	w.keyset = true
	maxPages := w.pager.maxPages
	anchor, page := w.jd.lower, 1
	w.remember(anchor)
	for {
		u, err := w.url(anchor, page, false)
		if err != nil {
			return err
		}
		w.pageNo = page
		pg, count, err := w.read(ctx, u)
		if errors.Is(err, errEndOfWindow) {
			w.ended = true
			err = nil
		}
		if err != nil {
			return err
		}
		progressed := w.pageCount > 0 && w.pageLast.After(anchor) && j.cursor.value.Expand(w.pageLast) != j.cursor.value.Expand(anchor)
		last := w.pageLast
		_, more, err := w.pager.next(u, pg, page, count, j.pageSize)
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		if !more || w.ended {
			return nil
		}
		if progressed {
			// Progress: restart from the last date read, or from the window's floor when all that
			// was read lies below it (a first poll's margin before the instance's creation).
			anchor, page = later(last, w.jd.floor), 1
			w.remember(anchor)
			continue
		}
		// The page lies within the anchor's second (or has no readable date): page on. Read by
		// page number, the second's rows may shift under the walk.
		w.run.markHot(w, anchor)
		page++
		if page > overallMaxPages {
			return fmt.Errorf("the vendor still offers a next page after %d pages of one query", overallMaxPages)
		}
		if maxPages > 0 && page > maxPages {
			if err := w.secondFromTop(ctx, anchor, page-1); err != nil {
				return err
			}
			w.passed = anchor
			anchor, page = j.nextCursorStep(anchor), 1
			w.remember(anchor)
		}
	}
}

// remember starts remembering the records read of anchor's second (and forgets the previous
// second's).
func (w *walk) remember(anchor time.Time) {
	w.secondRead = map[string]int{}
	w.pageDates = map[int]time.Time{}
	w.hot = nil
	w.secondFrom, w.secondTo = anchor.Truncate(time.Second), w.job.nextCursorStep(anchor)
}

// secondFromTop reads an overfull second from its newest end, until it meets what the oldest-first
// walk read, or passes below the second, or reaches the vendor's page cap.
func (w *walk) secondFromTop(ctx context.Context, second time.Time, pagesUp int) error {
	j := w.job
	key := j.cursor.value.Expand(second)
	maxPages := w.pager.maxPages
	gap := func(why string) {
		w.gap(fmt.Sprintf("more records were updated in the second %s than the vendor lets a query page through; "+
			"%d pages were read oldest first%s; records in between may not have been read", key, pagesUp, why))
	}
	if j.Resource.reverseQuery == nil {
		gap(" and the resource declares no reverseQuery to read the rest from the newest end")
		return nil
	}
	w.meetKey = key
	defer func() { w.meetKey = "" }()
	for page := 1; maxPages == 0 || page <= maxPages; page++ {
		w.met, w.below = false, false
		u, err := w.url(second, page, true)
		if err != nil {
			return err
		}
		w.pageNo = -page
		pg, count, err := w.read(ctx, u)
		if errors.Is(err, errEndOfWindow) {
			err = nil
		}
		if err != nil {
			return err
		}
		_, more, err := w.pager.next(u, pg, page, count, j.pageSize)
		if err != nil {
			return fmt.Errorf("page %d newest first: %w", page, err)
		}
		if w.met || w.below || !more {
			return nil
		}
	}
	gap(fmt.Sprintf(" and %d newest first", maxPages))
	return nil
}

func (w *walk) gap(msg string) {
	w.gapped = true
	w.run.res.Gaps = append(w.run.res.Gaps, w.job.ObjectType+" "+w.stream+": "+msg)
}

// url builds the URL of page n of the stream's query: the change cursor filled with at, the other
// where parameters with the window's lower bound, newest first when reverse.
func (w *walk) url(at time.Time, n int, reverse bool) (*url.URL, error) {
	j := w.job
	q := vendorQuery{res: j.Resource, pushed: j.pushed, at: at, lower: w.jd.lower, token: w.token,
		reverse: reverse, deleted: w.stream == StreamDeleted}
	if age := j.Resource.minAge; age > 0 {
		q.ceiling = w.jd.now.Add(-age) // the vendor refuses or omits the most recent changes
	}
	return w.pager.url(w.in.Endpoint.BaseURL, j.Resource.VendorPath, q.values(), j.pageSize, n)
}

func (w *walk) maxPages() int {
	if w.pager.maxPages > 0 {
		return w.pager.maxPages
	}
	return overallMaxPages
}

// read fetches one page and reads its records, then commits when a commit is due. It returns
// the page and how many records it held.
func (w *walk) read(ctx context.Context, u *url.URL) (*Page, int, error) {
	if w.budget == 0 || w.run.pagesLeft == 0 {
		w.partial = true
		return nil, 0, errBudget
	}
	for try := 1; ; try++ {
		pg, err := w.run.p.Source.Fetch(ctx, w.job.Resource.request(w.in, u))
		if err != nil {
			return nil, 0, err
		}
		w.pages++
		w.run.pagesLeft--
		w.run.res.Pages++
		if w.budget > 0 {
			w.budget--
		}
		count, err := w.page(&pg)
		if errors.Is(err, errBadShape) && try < badShapeTries && w.run.pagesLeft != 0 {
			continue // a page that is not what the definition describes is a failed request
		}
		if err == nil || errors.Is(err, errEndOfWindow) {
			w.sinceSave++
			if cerr := w.run.maybeSave(ctx); cerr != nil {
				return nil, 0, cerr
			}
		}
		return &pg, count, err
	}
}

// page reads one vendor page: the vendor's clock, its own cursor, and every record, in order.
func (w *walk) page(pg *Page) (int, error) {
	if w.pages == 1 {
		w.opened = pg.Date
	}
	w.clock(pg)
	if !pg.Date.IsZero() && w.pageNo != 0 {
		w.pageDates[w.pageNo] = pg.Date
	}
	w.pageCount, w.pageNew = 0, 0
	// The body is only read while this page is processed; events copy what they keep.
	body := unsafe.String(unsafe.SliceData(pg.Body), len(pg.Body))
	arr := body
	if p := w.job.Resource.records; p != "@this" {
		arr = gjson.Get(body, p).Raw
	}
	isArray, err := w.jd.view.forEachRecord(arr, w.record)
	if !isArray {
		return 0, fmt.Errorf("%w: %s: no JSON array of records at %q", errBadShape, redactedURL(pg.URL), w.job.Resource.records)
	}
	if err == nil {
		if rs := w.job.Resource.Spec.Resume; rs != nil {
			if t := gjson.Get(body, rs.From); t.Exists() && t.String() != "" {
				w.token = t.String() // the page was read whole
			}
		}
	}
	return w.pageCount, err
}

// clock reads the vendor's clock from a page's Date header. Where it differs from Pollen's by
// more than the header's precision, the origin (the instance's creation) and the poll's time are
// moved into the vendor's clock, so that windows are bounded by vendor time only.
func (w *walk) clock(pg *Page) {
	if w.clocked || pg.Date.IsZero() || pg.Sent.IsZero() {
		return
	}
	w.clocked = true
	skew := pg.Date.Sub(pg.Sent)
	if skew > -2*time.Second && skew < 2*time.Second {
		return
	}
	skew = skew.Round(time.Second)
	jd := w.jd
	if !jd.origin.IsZero() {
		jd.origin = jd.origin.Add(skew)
		jd.setFloor()
	}
	if w.job.byCurrent && w.stream != StreamBackfill {
		jd.upper = jd.now.Add(skew)
	}
}

// record is the per-record path: the judge's verdict, and what the walk keeps of it.
func (w *walk) record(rec string) error {
	jd := w.jd
	w.run.res.Records++
	jg, ok := jd.identify()
	if !ok {
		if jg.Verdict == VerdictSkipped {
			w.run.res.Skipped++
			return nil
		}
		// Nothing past this record is judged: the stream's position stays below it until it reads
		// (a vendor that served it broken once), or an operator skips it.
		held := jg // a copy: the per-record judgement stays on the stack
		w.held = &held
		w.partial = true
		w.observe(jg)
		return errHeld
	}
	updated := jg.Updated
	w.pageLast = updated
	w.pageCount++
	w.run.moved(w, jg.ID, updated)
	if w.secondRead != nil && !updated.Before(w.secondFrom) && updated.Before(w.secondTo) {
		p, read := w.secondRead[jg.ID]
		if w.meetKey != "" && read && p > 0 {
			w.met = true // a newest-first walk met what the oldest-first walk read
		}
		if !read {
			w.secondRead[jg.ID] = w.pageNo
			w.run.watch(w, jg.ID)
		}
	}
	if w.meetKey != "" && w.job.cursor.value.Expand(updated) < w.meetKey {
		w.below = true
	}
	if updated.Before(jd.floor) && w.job.Resource.descending {
		jg.Verdict, jg.Reason = VerdictBelow, "before the window's lower bound; the vendor lists newest first, so the walk stops here"
		w.observe(jg)
		return errEndOfWindow // newest first: every record after this one is older still
	}
	if !jd.upper.IsZero() && updated.After(jd.upper) && w.stream == StreamBackfill && w.job.Resource.ascending() {
		jg.Verdict, jg.Reason = VerdictAbove, "after the backfill's upper bound (the instance's creation); the live streams read on from there"
		w.observe(jg)
		return errEndOfWindow // oldest first: the rest is the live streams' business
	}
	jg = jd.verdict(jg)
	switch jg.Verdict {
	case VerdictEvent:
		w.pageNew++
		w.processed = append(w.processed, SeenRecord{ID: jg.ID, Updated: updated.UnixNano()})
		w.events = append(w.events, jd.event(jg, rec))
	case VerdictFiltered:
		w.pageNew++
		w.processed = append(w.processed, SeenRecord{ID: jg.ID, Updated: updated.UnixNano()})
		if jg.Reason != "" && !jd.explain {
			w.run.skipped(jg.Reason)
		}
	}
	w.observe(jg)
	return nil
}

// observe shows a record's judgement to the poll's observer (pollen try), if any.
func (w *walk) observe(jg Judgement) {
	if w.run.observe != nil {
		w.run.observe(w.stream, jg)
	}
}

// settled reports whether this poll read the second of since to its end after that second was
// over at the vendor, so that the next poll may start after it (Mark.Past) instead of paging
// through it again: a keyset walk that ran to the end of the list, and whose first page the
// vendor served (by its Date header) a full second after that second ended. No record can join
// a second once the vendor's clock has passed it, except one that becomes visible late, and a
// job that expects those sets a lookback, which keeps the next poll re-reading anyway.
func (w *walk) settled(since time.Time) bool {
	return w.keyset && !w.partial && !w.ended && !w.opened.IsZero() &&
		!w.opened.Before(w.job.nextCursorStep(since).Add(time.Second))
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

// redactedURL is a URL for messages, without userinfo passwords.
func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the vendor's page"
	}
	return u.Redacted()
}
