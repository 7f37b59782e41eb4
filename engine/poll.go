package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/vm"
	"github.com/hashicorp/go-hclog"
	"github.com/tidwall/gjson"
)

// Poller runs polls. One Poller serves every job; it holds no per-job state.
type Poller struct {
	Source  Source
	Store   Store
	Clock   Clock
	Account Account
	Logger  hclog.Logger
}

// PollResult says what one poll did.
type PollResult struct {
	Pages   int
	Records int // records read from the vendor
	Skipped int // records that could not be read (no id, bad date)
	Events  int
	// Gaps are records the vendor would not let the poll read (more records in one second than
	// its paging reaches from either end). The poll moved past them; they are reported, not looped
	// on.
	Gaps []string
}

// Poll runs one poll of one job: query the vendor from the job's cursor, turn new changes into
// events, and commit events and the advanced cursor together. On any error nothing is committed
// and the cursor stays where it was, so the next poll reads the same window again. A poll that
// finds no events and leaves the cursor where it was commits nothing either: it has nothing to
// write.
func (p *Poller) Poll(ctx context.Context, in *Instance, job *JobSpec) (PollResult, error) {
	log := p.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	key := JobKey{InstanceID: in.ID, ObjectType: job.ObjectType}
	cur, found, err := p.Store.Cursor(ctx, key)
	if err != nil {
		return PollResult{}, fmt.Errorf("read cursor: %w", err)
	}
	if !found || cur.Streams == nil {
		cur = Cursor{Streams: map[string]*Mark{}}
	}
	now := p.Clock.Now().UTC()
	next := Cursor{Streams: map[string]*Mark{}}
	streams := []string{StreamChanges}
	if job.Resource.HasDeletedQuery() {
		streams = append(streams, StreamDeleted)
	}
	if b := in.BackfillFrom; !b.IsZero() && b.Before(in.origin()) {
		if m := cur.Streams[StreamBackfill]; m != nil && m.Done {
			next.Streams[StreamBackfill] = m
		} else {
			streams = append(streams, StreamBackfill) // after the live streams: history never delays them
		}
	}

	var res PollResult
	var events []Event
	for _, name := range streams {
		mark, fresh := cur.Streams[name], false
		if mark == nil {
			// First poll: changes from the instance's creation on (or its backfill date), none
			// from before.
			mark, fresh = &Mark{Since: in.origin()}, true
			if name == StreamBackfill {
				mark.Since = in.BackfillFrom.UTC()
			}
		}
		w := newWindow(in, job, name, mark, fresh, now)
		err := p.walk(ctx, w, &res)
		if err != nil {
			return res, fmt.Errorf("%s %s: %w", job.ObjectType, name, err)
		}
		res.Records += w.records
		res.Skipped += w.skipped
		for _, s := range w.skips {
			log.Warn("record skipped", "stream", name, "reason", s)
		}
		if events == nil {
			events = w.events // the usual single stream with events: no copy
		} else {
			events = append(events, w.events...)
		}
		if fresh && !w.origin.IsZero() {
			// The stream starts at the instance's creation in the vendor's clock: when that runs
			// behind Pollen's, a poll that finds nothing must not leave the cursor in Pollen's.
			mark.Since = w.origin
		}
		m := mark.advance(w.processed, job.overlap()+job.tolerance)
		m.Token = w.token
		switch {
		case job.cursor != nil && !w.passed.IsZero() && job.cursor.value.Expand(m.Since) == job.cursor.value.Expand(w.passed):
			m.Past = true // an overfull second, read from both ends
		case mark.Past && m.Since.Equal(mark.Since):
			m.Past = true // nothing newer: that second is still read to its end
		case w.settled(m.Since):
			m.Past = true
		}
		if name == StreamBackfill {
			m.Done = !w.partial
			if m.Done {
				log.Info("backfill complete", "instance", in.ID, "resource", job.ObjectType)
			}
		}
		next.Streams[name] = m
	}

	if len(events) == 0 && found && next.Equal(cur) {
		// The steady state of most jobs: nothing new, and the cursor stays where it is. There is
		// nothing to write, so no write transaction. A first poll always commits, so that where
		// its streams start (the origin, in the vendor's clock) is recorded.
		return res, nil
	}
	notes, err := BuildNotifications(in, p.Account, job.ObjectType, now, events)
	if err != nil {
		return res, err
	}
	if err := p.Store.CommitPoll(ctx, Commit{Key: key, Cursor: next, Events: events, Notifications: notes}); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.Events = len(events)
	return res, nil
}

// errEndOfWindow stops paging when the rest of a list is known to be older than the window.
var errEndOfWindow = errors.New("end of the poll's window")

// firstPollMargin is how far before the instance's creation a first poll asks the vendor for
// changes, so that a vendor clock running behind Pollen's cannot hide changes made just after the
// creation; the vendor's own clock (its Date header) then sets where changes start.
const firstPollMargin = 2 * time.Minute

// backfillPagesPerPoll bounds the history one poll reads, so that a backfill never delays live
// changes by more than this many pages.
const backfillPagesPerPoll = 50

// origin is where an instance's changes start: its creation, to the second.
func (in *Instance) origin() time.Time { return in.CreatedAt.UTC().Truncate(time.Second) }

// overlap is how far before the cursor a poll re-reads.
func (j *JobSpec) overlap() time.Duration { return j.pollDelay + j.lookback }

// window is the state of one stream of one poll while its pages are read.
type window struct {
	in      *Instance
	job     *JobSpec
	deleted bool      // the deleted stream: every record is a deletion
	lower   time.Time // the query's lower bound: the cursor less the overlap
	floor   time.Time // records changed before it are dropped: lower, but never before the origin
	upper   time.Time // zero: no upper bound
	origin  time.Time // where the stream's changes start, in the vendor's clock once known
	now     time.Time
	clocked bool // the vendor's clock has been read from a page
	budget  int  // pages this window may read; 0 = no limit
	pages   int
	partial bool      // stopped at the budget: the stream goes on at the next poll
	token   string    // the vendor's own cursor: where the last page read stopped
	passed  time.Time // the last overfull second the walk read to its end
	keyset  bool      // walked by the change cursor (see walk)
	opened  time.Time // the vendor's clock (Date header) on the stream's first page
	ended   bool      // the walk reached records past the window's upper bound
	seen    seenSet
	view    recordView
	env     recordEnv
	vm      vm.VM

	records, skipped int
	skips            []string
	stream           string

	// Per page, for the walk: the updated date of the page's last record, and whether the page
	// met a record already seen in the second the walk is closing in on (meetKey), or passed it.
	pageLast   time.Time
	pageCount  int
	pageNew    int // records on the page not read before
	meetKey    string
	met, below bool
	// The oldest-first walk remembers the records it read of its anchor's second
	// ([secondFrom, secondTo)), so that a newest-first walk of that second knows when it meets
	// them; records seen by earlier polls, or moved into the second since, do not count.
	secondFrom, secondTo time.Time
	ascRead              map[SeenRecord]struct{}
	processed            []SeenRecord
	events               []Event
}

func newWindow(in *Instance, job *JobSpec, stream string, mark *Mark, fresh bool, now time.Time) *window {
	w := &window{in: in, job: job, deleted: stream == StreamDeleted, stream: stream, now: now, seen: newSeenSet(mark), token: mark.Token}
	w.env.Record = &w.view
	w.lower = mark.Since.Add(-job.overlap())
	if mark.Past && job.overlap() == 0 && job.cursor != nil {
		w.lower = job.nextCursorStep(mark.Since) // that second was read to its end already
	}
	w.origin = in.origin()
	switch {
	case stream == StreamBackfill:
		// History up to the origin; the live streams read from there on.
		w.origin = time.Time{}
		w.upper = in.origin().Add(-time.Nanosecond)
		if job.cursor != nil && job.Resource.ascending() {
			w.budget = backfillPagesPerPoll
		}
	case fresh:
		w.lower = w.lower.Add(-firstPollMargin)
	}
	if job.byCurrent && w.upper.IsZero() {
		w.upper = now
	}
	w.setFloor()
	if len(job.tpls) > 0 {
		w.env.Tpl = make([]string, len(job.tpls))
		for i, t := range job.tpls {
			w.env.Tpl[i] = t.Expand(w.lower)
		}
	}
	return w
}

// settled reports whether this poll read the second of since to its end after that second was
// over at the vendor, so that the next poll may start after it (Mark.Past) instead of paging
// through it again: a keyset walk that ran to the end of the list, and whose first page the
// vendor served (by its Date header) a full second after that second ended. No record can join
// a second once the vendor's clock has passed it, except one that becomes visible late, and a
// job that expects those sets a lookback, which keeps the next poll re-reading anyway.
func (w *window) settled(since time.Time) bool {
	return w.keyset && !w.partial && !w.ended && !w.opened.IsZero() &&
		!w.opened.Before(w.job.nextCursorStep(since).Add(time.Second))
}

// setFloor drops what the window must not report: changes before its lower bound, or before
// the stream's origin.
func (w *window) setFloor() {
	w.floor = w.lower
	if w.floor.Before(w.origin) {
		w.floor = w.origin
	}
}

// clock reads the vendor's clock from a page's Date header. Where it differs from Pollen's by
// more than the header's precision, the origin (the instance's creation) and the poll's time
// are moved into the vendor's clock, so that windows are bounded by vendor time only.
func (w *window) clock(pg Page) {
	if w.clocked || pg.Date.IsZero() || pg.Sent.IsZero() {
		return
	}
	w.clocked = true
	skew := pg.Date.Sub(pg.Sent)
	if skew > -2*time.Second && skew < 2*time.Second {
		return
	}
	skew = skew.Round(time.Second)
	if !w.origin.IsZero() {
		w.origin = w.origin.Add(skew)
		w.setFloor()
	}
	if w.job.byCurrent && w.stream != StreamBackfill {
		w.upper = w.now.Add(skew)
	}
}

// page processes one vendor page. A page that is not what the definition describes is an error:
// the poll fails and the cursor does not move.
func (w *window) page(pg Page) error {
	if w.pages == 0 {
		w.opened = pg.Date
	}
	w.clock(pg)
	w.pages++
	if rs := w.job.Resource.Spec.Resume; rs != nil {
		if t := gjson.GetBytes(pg.Body, rs.From); t.Exists() && t.String() != "" {
			w.token = t.String() // kept only if the poll commits
		}
	}
	// The body is only read while this page is processed; events copy what they keep.
	body := unsafe.String(unsafe.SliceData(pg.Body), len(pg.Body))
	arr := body
	if p := w.job.Resource.records; p != "@this" {
		arr = gjson.Get(body, p).Raw
	}
	isArray, err := w.view.forEachRecord(arr, w.record)
	if !isArray {
		return fmt.Errorf("page %d: no JSON array of records at %q", pg.Number, w.job.Resource.records)
	}
	return err
}

// record is the per-record path: extract, window, de-duplicate, filter, classify, emit.
// The record is already loaded into w.view.
func (w *window) record(rec string) error {
	j := w.job
	w.records++
	idr := w.view.get(j.idPath)
	var id string
	switch idr.Type {
	case gjson.String:
		id = idr.Str
	case gjson.Number:
		id = idr.Raw
	}
	if id == "" {
		return w.skip("no id at %q", j.Poller.IDField)
	}
	updated, ok, err := j.updated.parse(&w.view)
	if err != nil || !ok {
		return w.skip("record %s: bad or missing date at %q: %v", id, j.updated.path.full, err)
	}
	updated = updated.UTC()
	w.pageLast = updated
	w.pageCount++
	switch {
	case w.meetKey != "":
		switch k := j.cursor.value.Expand(updated); {
		case k < w.meetKey:
			w.below = true
		case k == w.meetKey:
			if _, read := w.ascRead[SeenRecord{ID: id, Updated: updated.UnixNano()}]; read {
				w.met = true
			}
		}
	case w.ascRead != nil && !updated.Before(w.secondFrom) && updated.Before(w.secondTo):
		w.ascRead[SeenRecord{ID: id, Updated: updated.UnixNano()}] = struct{}{}
	}
	if updated.Before(w.floor) {
		if j.Resource.descending {
			return errEndOfWindow // newest first: every record after this one is older still
		}
		return nil
	}
	if !w.upper.IsZero() && updated.After(w.upper) {
		if w.stream == StreamBackfill && j.Resource.ascending() {
			return errEndOfWindow // oldest first: the rest is the live streams' business
		}
		return nil
	}
	pair := SeenRecord{ID: id, Updated: updated.UnixNano()}
	if _, dup := w.seen.pairs[pair]; dup {
		return nil
	}
	// Seen from now on, in this poll too: a record listed twice (pages shifting under an update)
	// gives one event.
	w.seen.pairs[pair] = struct{}{}
	w.pageNew++
	w.processed = append(w.processed, pair)

	for _, p := range [...]*vm.Program{j.residual, j.Resource.filter, j.filter} {
		if p == nil {
			continue
		}
		keep, err := runRecordExpr(&w.vm, p, &w.env)
		if err != nil {
			return w.skip("record %s: filter: %v", id, err)
		}
		if !keep {
			return nil
		}
	}

	typ, emit, err := w.classify(id, updated)
	if err != nil {
		return w.skip("record %s: %v", id, err)
	}
	if !emit {
		return nil
	}
	w.events = append(w.events, Event{
		ID:         EventID(w.in.ID, j.ObjectType, id, updated, typ),
		InstanceID: w.in.ID,
		ObjectType: j.ObjectType,
		ObjectID:   id,
		Type:       typ,
		Date:       updated,
		PollDate:   w.now,
		Record:     []byte(rec),
	})
	return nil
}

// classify tells CREATED, UPDATED and DELETED apart. A record is CREATED when it was created
// inside this poll's window (createdCheckTolerance seconds earlier included, for vendors whose
// created and updated dates differ slightly at creation) and no earlier poll has seen it.
func (w *window) classify(id string, updated time.Time) (EventType, bool, error) {
	j := w.job
	if w.deleted {
		return Deleted, true, nil
	}
	if p := j.Resource.deletedWhen; p != nil {
		gone, err := runRecordExpr(&w.vm, p, &w.env)
		if err != nil {
			return "", false, fmt.Errorf("deleted signal: %w", err)
		}
		if gone {
			// With a deleted query, that stream reports the deletion once.
			return Deleted, !j.Resource.HasDeletedQuery(), nil
		}
	}
	if !j.byUpdated {
		return Created, true, nil
	}
	if j.created.path == nil {
		return Updated, true, nil
	}
	created, ok, err := j.created.parse(&w.view)
	if err != nil {
		return "", false, fmt.Errorf("created date: %w", err)
	}
	_, seenBefore := w.seen.ids[id]
	w.seen.ids[id] = struct{}{}
	if ok && !seenBefore && !created.Before(w.floor.Add(-j.tolerance)) {
		return Created, true, nil
	}
	return Updated, true, nil
}

func (w *window) skip(format string, args ...any) error {
	w.skipped++
	if len(w.skips) < 10 {
		w.skips = append(w.skips, fmt.Sprintf(format, args...))
	}
	return nil
}
