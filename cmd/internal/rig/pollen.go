package rig

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/cmd/internal/server"
)

// Pollen is a Pollen server running in the test's process, built as pollen serve builds it.
type Pollen struct {
	*server.Server
	API  *Client // the bootstrap admin's
	stop func()
}

// Start runs a server with cfg until the test ends or Stop. An empty Listen is 127.0.0.1:0, an
// empty DataDir a new temporary directory, empty secrets UserSecret and OrgSecret, a nil Logger
// warnings and errors into the test's log. The egress policy is cfg's: closed unless it opens it.
func Start(t testing.TB, cfg server.Config) *Pollen {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.UserSecret == "" && cfg.OrgSecret == "" {
		cfg.UserSecret, cfg.OrgSecret = UserSecret, OrgSecret
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	p := &Pollen{Server: srv, API: &Client{T: t, URL: srv.URL(), User: cfg.UserSecret, Org: cfg.OrgSecret}}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
	t.Cleanup(p.stop)
	return p
}

// Stop stops the server as a first signal does: polls end, deliveries under way finish, the
// store closes.
func (p *Pollen) Stop() { p.stop() }

// testWriter sends log output to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
