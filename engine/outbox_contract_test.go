package engine_test

import (
	"testing"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/storetest"
)

// The deliverer's tests run against an in-memory outbox (outboxFake). It passes the store
// contract's outbox part, the one SQLite and PostgreSQL pass, so that the delivery rules the
// deliverer is tested against are the stores' own; the tests of instances, history and tenants
// are skipped (it has none).
func TestOutboxFakeContract(t *testing.T) {
	storetest.Run(t, func(t testing.TB, o storetest.Options) storetest.Stores {
		f := engine.NewOutboxFake(o.Clock.Now)
		return storetest.Stores{Store: f, Outbox: f}
	})
}
