package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
)

// Many attempts recorded at once are committed in groups; each caller learns its own outcome: an
// attempt for a notification that does not exist fails alone, and every other one is recorded
// with its own status.
func TestRecordAttemptsConcurrently(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	var ids []string
	for i := range 20 {
		in := mkInstance(t, s, fmt.Sprint("i", i))
		c := mkCommit(in.ID, "tickets", fmt.Sprint("c", i), 100, t0, cursorAt(t0, "1"))
		mustCommit(t, s, c)
		for _, n := range c.Notifications {
			ids = append(ids, n.ID)
		}
	}
	ids = append(ids, "no-such-notification")
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := engine.Attempt{NotificationID: id, At: t0.Add(time.Minute), HTTPStatus: 200, Status: engine.StatusDelivered}
			if i%10 == 0 { // some fail, to be retried
				a = engine.Attempt{NotificationID: id, At: t0.Add(time.Minute), HTTPStatus: 503, Error: "HTTP 503",
					Status: engine.StatusPending, Next: t0.Add(2 * time.Minute)}
			}
			errs[i] = s.RecordAttempt(ctx, a)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case ids[i] == "no-such-notification":
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", ids[i], err)
			}
		case err != nil:
			t.Errorf("%s: %v", ids[i], err)
		}
	}
	st := mustStats(t, s)
	if st.Attempts != 200 || st.Notifications["NOTIFIED"] != 180 || st.Notifications["PENDING"] != 20 {
		t.Errorf("stats %+v; want 200 attempts, 180 NOTIFIED, 20 PENDING", st)
	}
	if got := due(t, s, t0.Add(3*time.Minute), 100); len(got) != 20 {
		t.Errorf("due after the failures: %d; want one per instance", len(got))
	}
}
