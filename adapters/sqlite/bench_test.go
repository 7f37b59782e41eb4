package sqlite

import (
	"testing"

	"github.com/pollen-hq/pollen/engine/storetest"
)

// The store contract's benchmarks (engine/storetest), on this store: the same figures for every
// store.

func BenchmarkCommitPoll(b *testing.B)         { storetest.BenchCommitPoll(b, openContract) }
func BenchmarkCommitPollParallel(b *testing.B) { storetest.BenchCommitPollParallel(b, openContract) }
func BenchmarkRecordAttempt(b *testing.B)      { storetest.BenchRecordAttempt(b, openContract) }
func BenchmarkPending(b *testing.B)            { storetest.BenchPending(b, openContract) }
func BenchmarkCommitPollIdle(b *testing.B)     { storetest.BenchCommitPollIdle(b, openContract) }
func BenchmarkCursor(b *testing.B)             { storetest.BenchCursor(b, openContract) }
