// Package storetest is the contract every Pollen store passes: one test suite, run against
// adapters/sqlite, adapters/postgres and the engine's in-memory outbox, so that what the engine
// and the API rely on is written down once and the stores are shown to agree on it.
//
// A store's test calls Run with a function that opens a new, empty store for one test:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, o storetest.Options) storetest.Stores {
//			s, err := sqlite.Open(":memory:", sqlite.Options{Sealer: o.Sealer, Clock: o.Clock})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return storetest.Stores{Store: s, Outbox: s, Instances: s, Events: s, Tenants: s, Prune: s.Prune}
//		})
//	}
//
// Store and Outbox are required; a nil Instances, Events, Tenants, Prune or Raw skips the tests
// that need it (the engine's in-memory outbox has neither instances nor history: its instance ids
// are made up, and any id is accepted).
//
// What the suite holds a store to, beyond the doc comments of the interfaces:
//   - Errors: a missing instance, user, organization, event or notification is engine.ErrNotFound
//     (errors.Is); a taken organization name or user email is engine.ErrConflict; an unknown page
//     token is engine.ErrBadPageToken; a bad requeue filter engine.ErrBadFilter.
//   - Times come back in UTC and equal to the microsecond at least (the suite's times are whole
//     microseconds); the zero time comes back zero.
//   - The store's clock is Options.Clock: it dates what the caller leaves undated (an instance,
//     an organization, a user; a notification without CreatedAt is due at its commit), and a
//     requeued notification is due at its Now.
//   - CommitPoll refuses an event or a notification without an id, and a commit that fails,
//     however late, writes nothing.
//   - Seqs are only compared with each other: increasing in commit order, never reused, a
//     requeued notification's new one above every other.
//   - Configurations are sealed with Options.Sealer: no secret value of one is in Raw's bytes.
//   - The bootstrap organization and user (tenants.BootstrapOrganizationID, BootstrapUserID) exist
//     in a new store.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// Options are what a test asks of the store it opens.
type Options struct {
	// Sealer seals instance configurations. Never nil.
	Sealer engine.Sealer
	// Clock is the store's clock: its Now is the store's now. Never nil; the suite moves it.
	Clock engine.Clock
}

// Stores is one store implementation, opened empty for one test, as the engine and the API see
// it: usually one value behind every interface.
type Stores struct {
	Store  engine.Store  // required
	Outbox engine.Outbox // required
	// Instances keeps instances and their owners; nil: instance ids are made up, and the
	// instance tests are skipped.
	Instances instances.Store
	// Events is the event history and redelivery; nil skips the history tests.
	Events instances.EventStore
	// Tenants keeps organizations and users; nil skips their tests.
	Tenants tenants.Store
	// Prune deletes settled history older than a cut-off and returns how many events it
	// deleted; nil skips the retention tests.
	Prune func(ctx context.Context, olderThan time.Time) (int, error)
	// Raw returns every byte the store holds at rest (its files, or a dump of every table), to
	// look for secrets in clear; nil skips those checks.
	Raw func(t *testing.T) []byte
}

// Opener returns a new, empty store, closed when t ends. Run calls it once per test; the
// benchmarks (Bench...) once per benchmark.
type Opener func(t testing.TB, o Options) Stores

// Run runs the contract against the stores open returns, one new store per test.
func Run(t *testing.T, open Opener) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &Clock{T: t0.Add(time.Hour)}
			s := open(t, Options{Sealer: newSealer(t), Clock: clock})
			if s.Store == nil || s.Outbox == nil {
				t.Fatal("storetest: Stores.Store and Stores.Outbox are required")
			}
			tc.run(t, &env{Stores: s, clock: clock})
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// tests is every test of the contract, in the order Run runs them; each file adds its own.
var tests []testCase

func register(name string, run func(t *testing.T, e *env)) {
	tests = append(tests, testCase{name, run})
}

// env is one test's store and clock.
type env struct {
	Stores
	clock  *Clock
	mu     sync.Mutex
	lastID int64 // the last made-up instance id, without Instances
}

// Clock is an engine.Clock that stands still until Set. Its timers never fire: stores only read
// its Now.
type Clock struct {
	mu sync.Mutex
	T  time.Time
}

// Now returns the time the clock was set to.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.T
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.T = t
}

// NewTimer returns a timer that never fires.
func (c *Clock) NewTimer(time.Duration) engine.Timer { return (&engine.FixedClock{}).NewTimer(0) }

// AfterFunc returns a timer that never fires: f is never called.
func (c *Clock) AfterFunc(time.Duration, func()) engine.Timer {
	return (&engine.FixedClock{}).AfterFunc(0, nil)
}

var _ engine.Clock = (*Clock)(nil)
