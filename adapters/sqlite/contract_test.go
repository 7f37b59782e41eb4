package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pollen-hq/pollen/engine/storetest"
)

// The store passes the contract every store passes, on a database file (the WAL included in what
// is checked for secrets in clear).
func TestContract(t *testing.T) {
	storetest.Run(t, openContract)
}

// openContract opens a new store for one test or benchmark of the contract.
func openContract(t testing.TB, o storetest.Options) storetest.Stores {
	path := filepath.Join(t.TempDir(), "pollen.db")
	s, err := Open(path, Options{Sealer: o.Sealer, Clock: o.Clock, PruneBatch: 3}) // several batches
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return storetest.Stores{Store: s, Outbox: s, Instances: s, Events: s, Tenants: s, Prune: s.Prune,
		Raw: func(t *testing.T) []byte {
			var all []byte
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				b, err := os.ReadFile(p)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			return all
		}}
}
