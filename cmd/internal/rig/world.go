package rig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/definitions"
)

// World is what an end-to-end test runs Pollen against: a simulated Freshdesk and a receiver on
// loopback, and a data directory that the test's servers share, one after another (a restart
// keeps the instances and their cursors).
type World struct {
	T       testing.TB
	Desk    *Freshdesk
	Recv    *Receiver
	DataDir string
	// DefinitionsDir is the servers' --definitions folder; "" for none (Override sets one).
	DefinitionsDir string
	// Config, when set, adjusts the configuration of each server Start runs.
	Config func(*server.Config)
}

// NewWorld starts a simulated Freshdesk configured by o and a receiver.
func NewWorld(t testing.TB, o FreshdeskOptions) *World {
	return &World{T: t, Desk: NewFreshdesk(t, o), Recv: NewReceiver(t), DataDir: t.TempDir()}
}

// Loopback is the configuration of a server on dataDir that tests point at simulators and
// receivers on loopback: the egress policy open to private networks, intervals from 100 ms.
func Loopback(dataDir string) server.Config {
	return server.Config{DataDir: dataDir, AllowPrivateNetworks: true, MinInterval: 100 * time.Millisecond}
}

// Start runs a Pollen server in this process on the world's data directory (Loopback), with the
// world's definitions folder.
func (w *World) Start() *Pollen {
	w.T.Helper()
	cfg := Loopback(w.DataDir)
	cfg.DefinitionsDir = w.DefinitionsDir
	if w.Config != nil {
		w.Config(&cfg)
	}
	return Start(w.T, cfg)
}

// CreateInstance creates, through api, a freshdeskv2 instance from seed 000's example body,
// polling the world's simulator every 0.6 s and calling back its receiver, with the keys of
// conf set on top ("" removes nothing: it sets the empty string).
func (w *World) CreateInstance(api *Client, conf map[string]string) int64 {
	w.T.Helper()
	c := w.Desk.Instance(w.Recv)
	for k, v := range conf {
		c[k] = v
	}
	return api.CreateInstance("freshdeskv2", c)
}

// WaitFor waits until every wanted event ("TYPE objectType id") has arrived, then until the
// instance has settled (Client.Settle), so that anything more shows.
func (w *World) WaitFor(api *Client, id int64, want ...string) {
	w.T.Helper()
	Until(w.T, "events "+join(want), func() bool { return w.Recv.Has(want...) })
	api.Settle(id)
}

// Override writes a definition file of the world's --definitions folder (creating the folder):
// the built-in resource of element with the top-level fields of fields replaced. Servers started
// afterwards load it.
func (w *World) Override(element, resource string, fields map[string]any) {
	w.T.Helper()
	if w.DefinitionsDir == "" {
		w.DefinitionsDir = w.T.TempDir()
	}
	def := BuiltinResource(w.T, element, resource)
	for k, v := range fields {
		def[k] = v
	}
	b, _ := json.MarshalIndent(def, "", "  ")
	WriteFile(w.T, filepath.Join(w.DefinitionsDir, element, "resources", resource+".json"), string(b))
}

// BuiltinResource returns a built-in resource definition, decoded.
func BuiltinResource(t testing.TB, element, resource string) map[string]any {
	t.Helper()
	for _, f := range definitions.Builtin() {
		if f.Kind == definitions.KindResource && f.Element == element && f.Resource == resource {
			var m map[string]any
			if err := json.Unmarshal(f.Data, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no built-in %s/%s", element, resource)
	return nil
}

// WriteFile saves a file the way many editors do, creating its folder: a temporary file renamed
// over it, so that a watcher never reads it half written.
func WriteFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func join(ss []string) string {
	b, _ := json.Marshal(ss)
	return string(b)
}
