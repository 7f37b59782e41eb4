package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults of a Poller's bounds.
const (
	// DefaultPollDeadline bounds one poll. A real account's changes of one interval are read well
	// within it; a vendor that stalls or never stops paging is cut off there, and the poll goes on
	// from what it committed at its next turn.
	DefaultPollDeadline = 10 * time.Minute
	// DefaultPageBudget bounds the pages one poll reads: 100,000 changed records at 100 a page.
	DefaultPageBudget = 1000
	// DefaultSavePages and DefaultSaveInterval: a long walk commits what it has read every so many
	// pages, or so often, whichever comes first.
	DefaultSavePages    = 10
	DefaultSaveInterval = 2 * time.Second
)

// Poller runs polls. One Poller serves every job; it holds no per-job state.
type Poller struct {
	Source  Source
	Store   Store
	Clock   Clock
	Account Account
	Logger  hclog.Logger
	// Deadline bounds one poll (0 = DefaultPollDeadline); PageBudget its pages (0 =
	// DefaultPageBudget). A poll that reaches either commits what it has safely read and goes on
	// from there at its next turn.
	Deadline   time.Duration
	PageBudget int
	// SavePages and SaveInterval: a long walk commits every SavePages pages or SaveInterval,
	// whichever comes first (0 = the defaults), so its first events go out while it goes on and
	// its memory stays bounded by a few pages.
	SavePages    int
	SaveInterval time.Duration
	// OnCommit, when set, is called after every commit that wrote events (to wake delivery).
	OnCommit func()
	// Skips, when set, returns the unreadable records an operator skipped for a job (Runtime.SkipRecord).
	Skips func(JobKey) []string
}

// PollResult says what one poll did.
type PollResult struct {
	Pages   int
	Records int // records read from the vendor
	Skipped int // unreadable records an operator had skipped, and records a filter could not judge
	Events  int
	Commits int
	// Gaps are records the vendor would not let the poll read (more records in one second than
	// its paging reaches from either end). The poll moved past them; they are reported, not looped
	// on.
	Gaps []string
	// Held is the record that does not read (no id, or a date that does not parse) and holds a
	// stream's position below it, and why; "" when none. HeldKey names it for Runtime.SkipRecord.
	Held, HeldKey string
	// Stopped says why the poll ended before the end of its lists ("page budget", "deadline",
	// "cancelled", the vendor's rate budget); it goes on from there at its next turn.
	Stopped string
}

// Poll runs one poll of one job: it walks each of the job's streams (the changes query, the
// deleted query, a backfill), judging every record, and commits events, their notifications and
// the advanced cursor together, every few pages and at the end. A commit holds only positions the
// poll has safely read past, so a poll that fails or is cut off anywhere loses nothing: the next
// poll reads on from the last commit, and what it reads again is de-duplicated. A poll that finds
// nothing and leaves the cursor where it was commits nothing.
func (p *Poller) Poll(ctx context.Context, in *Instance, job *JobSpec) (PollResult, error) {
	r, err := p.start(ctx, in, job)
	if err != nil {
		return PollResult{}, err
	}
	return r.poll(ctx)
}

// pollRun is one poll under way: the job's streams, the committed cursor, and the poll's budget.
type pollRun struct {
	p         *Poller
	in        *Instance
	job       *JobSpec
	key       JobKey
	log       hclog.Logger
	cur       Cursor // as last committed
	found     bool   // the store held a cursor when the poll began
	now       time.Time
	pagesLeft int
	res       PollResult
	walks     []*walk
	saved     time.Time
	skips     int

	hot    []*hotSecond
	hotIDs map[string]*hotSecond

	// observe, when set, sees every record's judgement, and explain has the judge say why for
	// every verdict (pollen try).
	observe func(stream string, j Judgement)
	explain bool
}

func (p *Poller) start(ctx context.Context, in *Instance, job *JobSpec) (*pollRun, error) {
	key := JobKey{InstanceID: in.ID, ObjectType: job.ObjectType}
	cur, found, err := p.Store.Cursor(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read cursor: %w", err)
	}
	if !found || cur.Streams == nil {
		cur = Cursor{Streams: map[string]*Mark{}}
	}
	return p.newRun(in, job, cur, found, p.Clock.Now().UTC()), nil
}

// newRun starts a poll of job at now from the cursor cur (found: the store had it).
func (p *Poller) newRun(in *Instance, job *JobSpec, cur Cursor, found bool, now time.Time) *pollRun {
	log := p.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	r := &pollRun{p: p, in: in, job: job, key: JobKey{InstanceID: in.ID, ObjectType: job.ObjectType},
		log: log.With("instance", in.ID, "resource", job.ObjectType), cur: cur, found: found, now: now, pagesLeft: p.PageBudget}
	if r.pagesLeft <= 0 {
		r.pagesLeft = DefaultPageBudget
	}
	r.saved = now
	return r
}

func (r *pollRun) poll(ctx context.Context) (PollResult, error) {
	deadline := r.p.Deadline
	if deadline <= 0 {
		deadline = DefaultPollDeadline
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	job, in := r.job, r.in
	streams := []string{StreamChanges}
	if job.Resource.HasDeletedQuery() {
		streams = append(streams, StreamDeleted)
	}
	if b := in.BackfillFrom; !b.IsZero() && b.Before(in.origin()) {
		if m := r.cur.Streams[StreamBackfill]; m == nil || !m.Done {
			streams = append(streams, StreamBackfill) // after the live streams: history never delays them
		}
	}
	var failed error
	for _, name := range streams {
		w := r.newWalk(name)
		r.walks = append(r.walks, w)
		err := w.runStream(ctx)
		if stop, why := r.stopped(parent, ctx, err); stop {
			w.partial = true
			r.res.Stopped = why
			break
		}
		if errors.Is(err, errHeld) {
			err = nil
			r.res.Held, r.res.HeldKey = w.held.Reason, w.held.Key
			r.log.Warn("record does not read; the stream's position stays below it until it does or an operator skips it",
				"stream", name, "record", w.held.Key, "reason", w.held.Reason)
		}
		if err != nil {
			failed = fmt.Errorf("%s %s: %w", job.ObjectType, name, err)
			w.partial = true
			break
		}
		w.done = true
	}
	if failed == nil && r.res.Stopped == "" {
		if err := r.settleHot(ctx); err != nil {
			if stop, why := r.stopped(parent, ctx, err); stop {
				r.res.Stopped = why
			} else {
				failed = err
			}
		}
	}
	// What was read whole is committed even when the poll failed or was cut off: the next poll
	// goes on from there.
	if err := r.save(context.WithoutCancel(ctx), true); err != nil {
		if failed == nil {
			failed = fmt.Errorf("commit: %w", err)
		}
	}
	return r.res, failed
}

// stopped reports whether err ends the poll early without failing it: the poll's own deadline or
// page budget, a rate budget spent for longer than a poll waits, or the poll cancelled (its
// instance deleted, disabled or reconfigured, or shutdown).
func (r *pollRun) stopped(parent, ctx context.Context, err error) (bool, string) {
	var d Deferred
	switch {
	case err == nil:
		return false, ""
	case errors.Is(err, errBudget):
		return true, "page budget"
	case parent.Err() != nil:
		return true, "cancelled"
	case ctx.Err() != nil:
		return true, "deadline"
	case errors.As(err, &d):
		return true, "rate budget, until " + d.DeferredUntil().UTC().Format(time.RFC3339)
	}
	return false, ""
}

func (r *pollRun) newWalk(stream string) *walk {
	job, in := r.job, r.in
	mark, fresh := r.cur.Streams[stream], false
	if mark == nil {
		// First poll: changes from the instance's creation on (or its backfill date), none from
		// before.
		mark, fresh = &Mark{Since: in.origin()}, true
		if stream == StreamBackfill {
			mark.Since = in.BackfillFrom.UTC()
		}
	}
	if r.p.Skips != nil {
		if ids := r.p.Skips(r.key); len(ids) > 0 {
			m := *mark
			m.Skip = append(slices.Clip(m.Skip), ids...)
			if n := len(m.Skip); n > maxSkips {
				m.Skip = m.Skip[n-maxSkips:]
			}
			mark = &m
		}
	}
	jd := newJudge(in, job, stream, mark, r.now)
	jd.explain = r.explain
	lower := mark.Since.Add(-job.overlap())
	if mark.Past && job.overlap() == 0 && job.cursor != nil {
		lower = job.nextCursorStep(mark.Since) // that second was read to its end already
	}
	w := &walk{run: r, in: in, job: job, pager: job.Resource.pager, stream: stream, jd: jd, start: mark, base: mark,
		fresh: fresh, budget: -1, token: mark.Token}
	switch {
	case stream == StreamBackfill:
		// History up to the origin; the live streams read from there on.
		jd.origin = time.Time{}
		jd.upper = in.origin().Add(-time.Nanosecond)
		if job.cursor != nil && job.Resource.ascending() {
			w.budget = backfillPagesPerPoll
		}
	case fresh:
		lower = lower.Add(-firstPollMargin)
	}
	if job.byCurrent && jd.upper.IsZero() {
		jd.upper = r.now
	}
	jd.setLower(lower)
	return w
}

// maxSkips bounds the skipped record ids a stream's mark keeps.
const maxSkips = 100

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

// keep is how far below a stream's position the cursor keeps the (id, updated) pairs it read: the
// overlap the next poll re-reads, the created-check tolerance, and the window the vendor hides
// (minAge), so that nothing re-read is reported twice and nothing seen is CREATED twice.
func (j *JobSpec) keep() time.Duration { return j.overlap() + j.tolerance + j.Resource.minAge }

// maybeSave commits what the walks have read when a commit is due: every SavePages pages or
// SaveInterval, whichever comes first.
func (r *pollRun) maybeSave(ctx context.Context) error {
	pages, every := r.p.SavePages, r.p.SaveInterval
	if pages <= 0 {
		pages = DefaultSavePages
	}
	if every <= 0 {
		every = DefaultSaveInterval
	}
	w := r.walks[len(r.walks)-1]
	if w.sinceSave < pages && r.p.Clock.Now().Sub(r.saved) < every {
		return nil
	}
	return r.save(ctx, false)
}

// save commits the walks' events, their notifications and their positions in one transaction.
func (r *pollRun) save(ctx context.Context, final bool) error {
	next := Cursor{Streams: make(map[string]*Mark, len(r.cur.Streams)+1)}
	for name, m := range r.cur.Streams {
		next.Streams[name] = m
	}
	var events []Event
	marks := make([]*Mark, len(r.walks))
	read := false
	for i, w := range r.walks {
		marks[i] = w.base
		if w.pages == 0 {
			continue // nothing read: nothing learnt, the stream stays where it was
		}
		read = true
		marks[i] = w.mark()
		next.Streams[w.stream] = marks[i]
		if events == nil {
			events = w.events // the usual single stream with events: no copy
		} else {
			events = append(events, w.events...)
		}
	}
	r.saved = r.p.Clock.Now()
	if !read || len(events) == 0 && r.found && next.Equal(r.cur) {
		// The steady state of most jobs: nothing new, and the cursor stays where it is. There is
		// nothing to write, so no write transaction. A first poll always commits, so that where
		// its streams start (the origin, in the vendor's clock) is recorded.
		r.resetWalks(marks)
		return nil
	}
	notes, err := BuildNotifications(r.in, r.p.Account, r.job.ObjectType, r.now, events)
	if err != nil {
		return err
	}
	if err := r.p.Store.CommitPoll(ctx, Commit{Key: r.key, Cursor: next, Events: events, Notifications: notes, Fence: r.in.Fence}); err != nil {
		return err
	}
	r.cur, r.found = next, true
	r.res.Events += len(events)
	r.res.Commits++
	r.resetWalks(marks)
	if len(events) > 0 && r.p.OnCommit != nil {
		r.p.OnCommit()
	}
	for _, w := range r.walks {
		if w.done && w.stream == StreamBackfill && final && !w.partial {
			r.log.Info("backfill complete")
		}
	}
	return nil
}

// resetWalks records the committed marks as the walks' new bases.
func (r *pollRun) resetWalks(marks []*Mark) {
	for i, w := range r.walks {
		w.base, w.processed, w.events, w.sinceSave = marks[i], nil, nil, 0
	}
}

// skipped logs a record a filter could not judge (a type mismatch in a where condition, say): it
// is left out, and said so, at most ten times a poll.
func (r *pollRun) skipped(reason string) {
	r.res.Skipped++
	if r.skips++; r.skips <= 10 {
		r.log.Warn("record left out: a filter could not judge it", "reason", reason)
	}
}

// mark is the walk's position as it stands: the committed base advanced by the pairs read since,
// never past a position the walk has not safely read past.
func (w *walk) mark() *Mark {
	j := w.job
	base := w.base
	if w.fresh && base == w.start && !w.jd.origin.IsZero() {
		// The stream starts at the instance's creation in the vendor's clock: when that runs
		// behind Pollen's, a poll that finds nothing must not leave the cursor in Pollen's.
		b := *base
		b.Since = w.jd.origin
		base = &b
	}
	m := base.advance(w.processed, j.keep(), w.pin(base))
	m.Token = w.token
	m.Skip = base.Skip
	if w.done && !w.partial {
		switch {
		case j.cursor != nil && !w.passed.IsZero() && j.cursor.value.Expand(m.Since) == j.cursor.value.Expand(w.passed):
			m.Past = true // an overfull second, read from both ends
		case w.start.Past && m.Since.Equal(w.start.Since):
			m.Past = true // nothing newer: that second is still read to its end
		case w.settled(m.Since):
			m.Past = true
		}
		if m.Past && j.keep() == 0 {
			// The next poll starts after Since's second and reads nothing of it again, and no
			// tolerance looks back at it: its pairs (an overfull second's: tens of thousands) would
			// only weigh on every later poll's cursor.
			m.Seen = nil
		}
	}
	if w.stream == StreamBackfill {
		m.Done = w.done && !w.partial
	}
	return m
}

// pin is the position the stream's mark may not pass: a walk that has not read its whole list,
// in no known order, has not read past anything; a keyset walk whose multi-page second may have
// lost a shifted row to a page boundary stays at that second until it is checked. Zero: none.
func (w *walk) pin(base *Mark) time.Time {
	if w.keyset {
		return w.run.hotPin(w)
	}
	if (!w.done || w.partial) && !w.job.Resource.ascending() {
		return base.Since
	}
	return time.Time{}
}
