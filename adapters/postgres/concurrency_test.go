package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/engine"
)

// Pending never returns a notification whose Seq is above one a transaction still under way will
// commit (engine.Outbox, "Order"): a deliverer that reads what is new after the last Seq it saw
// misses nothing, however many polls commit at once. Writers commit large polls side by side
// while a reader follows the outbox as the deliverer does; every notification committed must have
// been read, each once, in Seq order.
func TestPendingNeverSkipsConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pgtest.URL(t))
	const writers, commits = 12, 15
	ids := make([]int64, writers)
	for i := range ids {
		ids[i] = mkInstance(t, s, fmt.Sprint("w", i)).ID
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for c := range commits {
				// 60 events in 6 notifications: transactions long enough to overlap.
				if err := s.CommitPoll(ctx, mkCommit(ids[w], "tickets", fmt.Sprintf("w%d-c%d", w, c), 60, t0, cursorAt(t0))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	go func() { wg.Wait(); done.Store(true) }()

	seen := map[string]int{}
	var after int64
	follow := func() {
		ds, err := s.Pending(ctx, engine.PendingQuery{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Seq <= after {
				t.Fatalf("Pending after %d returned %s at seq %d", after, d.ID, d.Seq)
			}
			after = d.Seq
			seen[d.ID]++
		}
	}
	reads := 0
	for !done.Load() {
		follow()
		reads++
	}
	follow() // what committed since the last read
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := s.Pending(ctx, engine.PendingQuery{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if want := writers * commits * 6; len(all) != want {
		t.Fatalf("%d notifications pending, want %d", len(all), want)
	}
	var missed []string
	for _, d := range all {
		if seen[d.ID] != 1 {
			missed = append(missed, fmt.Sprintf("%s (seq %d) read %d times", d.ID, d.Seq, seen[d.ID]))
		}
	}
	if len(missed) > 0 {
		t.Errorf("the reader, following the outbox in %d reads, did not read %d of %d notifications once: %v",
			reads, len(missed), len(all), missed[:min(len(missed), 5)])
	}
}

// Attempts recorded at once are committed in groups; an attempt on a notification that does not
// exist fails alone (ErrNotFound), and the others are recorded, whether a group is written in
// one pipeline (distinct notifications) or one attempt after the other (one notification twice).
func TestRecordAttemptGroups(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pgtest.URL(t))
	in := mkInstance(t, s, "a")
	c := mkCommit(in.ID, "tickets", "g", 400, t0, cursorAt(t0)) // g-n000..g-n039
	mustCommit(t, s, c)
	var wg sync.WaitGroup
	errs := make([]error, 60)
	for i := range errs {
		id := fmt.Sprintf("g-n%03d", i)
		switch {
		case i%10 == 9:
			id = fmt.Sprint("missing-", i)
		case i >= 40:
			id = fmt.Sprintf("g-n%03d", i-40) // a second attempt on one of the first 20
		}
		wg.Go(func() {
			errs[i] = s.RecordAttempt(ctx, engine.Attempt{NotificationID: id, At: t0, HTTPStatus: 200, Status: engine.StatusDelivered})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 9) != errors.Is(err, ErrNotFound) {
			t.Errorf("attempt %d: %v", i, err)
		}
	}
	st := mustStats(t, s)
	// 36 notifications attempted (g-n009, n019, n029, n039 never), 54 attempts recorded.
	if st.Notifications["NOTIFIED"] != 36 || st.Notifications["PENDING"] != 4 || st.Attempts != 54 {
		t.Errorf("after the attempts: %+v", st)
	}
}
