package engine

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Trial is what one poll of a job would do, run without committing anything (pollen try): every
// vendor request, every record's verdict with its reason, the position the job would move to, and
// the notifications it would send.
type Trial struct {
	Now           time.Time // the poll's time, by the Poller's clock
	Requests      []TrialRequest
	Records       []TrialRecord
	Cursor        Cursor // where the job would stand after the poll
	Notifications []Notification
	Result        PollResult
	// Notes say where a walk stopped on its own: a newest-first walk at its first record below the
	// window.
	Notes []string
}

// TrialRequest is one vendor request of a trial.
type TrialRequest struct {
	URL      string
	Duration time.Duration
	Bytes    int
	Err      error // nil when the vendor answered a page
	Page     Page  // the page, when it answered one
}

// TrialRecord is one record's verdict in a trial.
type TrialRecord struct {
	Stream  string
	Request int // the index in Trial.Requests of the page the record came from
	Judgement
}

// Try runs one poll of job for the instance from cursor cur (nil: the job's first poll, from the
// instance's creation) against src, and commits nothing: the store it writes to is the trial's.
// Every judgement explains itself.
func (p *Poller) Try(ctx context.Context, src Source, in *Instance, job *JobSpec, cur *Cursor) (*Trial, error) {
	t := &Trial{}
	rec := &recordingSource{Source: src, trial: t}
	store := &trialStore{trial: t}
	if cur != nil {
		store.cur, store.found = *cur, true
	}
	tp := *p
	tp.Source, tp.Store, tp.OnCommit, tp.Skips = rec, store, nil, nil
	r, err := tp.start(ctx, in, job)
	if err != nil {
		return nil, err
	}
	r.explain = true
	t.Now = r.now
	r.observe = func(stream string, j Judgement) {
		t.Records = append(t.Records, TrialRecord{Stream: stream, Request: len(t.Requests) - 1, Judgement: j})
	}
	res, err := r.poll(ctx)
	t.Result = res
	t.Cursor = r.cur
	for _, w := range r.walks {
		if w.ended && w.job.Resource.descending {
			t.Notes = append(t.Notes, w.stream+": the walk stopped at the first record below the window: the vendor lists newest first (updatedOrder desc), so the rest are older")
		}
	}
	slices.SortStableFunc(t.Records, func(a, b TrialRecord) int { return a.Request - b.Request })
	return t, err
}

// recordingSource records a trial's requests.
type recordingSource struct {
	Source
	mu    sync.Mutex
	trial *Trial
}

func (s *recordingSource) Fetch(ctx context.Context, req Request) (Page, error) {
	// A request's duration is what the person trying sees, measured on the machine's monotonic
	// clock: the trial's own clock stands still at the trial's time (FixedClock).
	start := time.Now()
	pg, err := s.Source.Fetch(ctx, req)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trial.Requests = append(s.trial.Requests, TrialRequest{URL: req.URL, Duration: time.Since(start), Bytes: len(pg.Body), Err: err, Page: pg})
	return pg, err
}

// trialStore is the Store of a trial: it starts from the given cursor and keeps what the poll
// commits in the trial.
type trialStore struct {
	trial *Trial
	cur   Cursor
	found bool
}

func (s *trialStore) Cursor(context.Context, JobKey) (Cursor, bool, error) {
	return s.cur, s.found, nil
}

func (s *trialStore) CommitPoll(_ context.Context, c Commit) error {
	s.cur, s.found = c.Cursor, true
	s.trial.Notifications = append(s.trial.Notifications, c.Notifications...)
	return nil
}
