package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/api"
	"github.com/pollen-hq/pollen/adapters/console"
	"github.com/pollen-hq/pollen/adapters/metrics"
	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/adapters/vendor"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// serverConfig is everything `pollen serve` is configured with.
type serverConfig struct {
	Listen           string
	DataDir          string
	DefinitionsDir   string
	UserSecret       string
	OrgSecret        string
	PollWorkers      int
	DeliveryWorkers  int
	Retries          []time.Duration // nil = the platform's schedule
	HistoryRetention time.Duration   // 0 = 7 days
	CPUProfile       string          // serve only: where to write a CPU profile at exit
	MemProfile       string          // serve only: where to write a heap profile at exit
	Logger           hclog.Logger

	// CallbackConcurrency bounds the notifications in flight to one callback URL (0 = the
	// deliverer's default, 4); CallbackRate, when above 0, those started per second to it.
	CallbackConcurrency int
	CallbackRate        float64
}

// server is a running Pollen: store, catalog, runtime, metrics and HTTP API. serve, demo and the
// end-to-end tests all build it the same way.
type server struct {
	cfg     serverConfig
	log     hclog.Logger
	store   *sqlite.Store
	defs    *definitions.Registry
	runtime *engine.Runtime
	metrics *metrics.Metrics // served at GET /metrics
	http    *http.Server
	ln      net.Listener
	// sessions are the web console's; admin is who Pollen's one secret pair signs in as.
	sessions *console.Sessions
	admin    console.Principal
}

// secretsFile holds generated platform secrets in the data directory, mode 0600.
const secretsFile = "secrets.json"

type platformSecrets struct {
	User         string `json:"user"`
	Organization string `json:"organization"`
}

// loadSecrets returns the platform secrets: from the configuration (environment) when given,
// else from the data directory, generating and storing them on first start.
func loadSecrets(cfg *serverConfig, log hclog.Logger) error {
	if cfg.UserSecret != "" && cfg.OrgSecret != "" {
		return nil
	}
	if cfg.UserSecret != "" || cfg.OrgSecret != "" {
		return errors.New("set both POLLEN_USER_SECRET and POLLEN_ORGANIZATION_SECRET, or neither")
	}
	path := filepath.Join(cfg.DataDir, secretsFile)
	var s platformSecrets
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil || s.User == "" || s.Organization == "" {
			return fmt.Errorf("%s: not a secrets file (%v); remove it to generate new secrets", path, err)
		}
		log.Info("platform secrets read from the data directory", "file", path)
	case errors.Is(err, os.ErrNotExist):
		s = platformSecrets{User: randomSecret(), Organization: randomSecret()}
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("storing generated secrets: %w", err)
		}
		log.Info("platform secrets generated; clients authenticate with 'Authorization: User <user>, Organization <organization>' from this file", "file", path)
	default:
		return err
	}
	cfg.UserSecret, cfg.OrgSecret = s.User, s.Organization
	return nil
}

func randomSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newServer opens the store, loads definitions and instances, and listens; Run serves.
func newServer(ctx context.Context, cfg serverConfig) (*server, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := loadSecrets(&cfg, log); err != nil {
		return nil, err
	}
	store, err := sqlite.Open(filepath.Join(cfg.DataDir, "pollen.db"), sqlite.Options{Logger: log.Named("store")})
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, store: store, metrics: metrics.New()}
	s.defs = definitions.NewRegistry(definitions.RegistryOptions{Dir: cfg.DefinitionsDir, Logger: log.Named("definitions")})
	cat := s.defs.Reload()
	for _, el := range cat.Elements() {
		log.Info("element loaded", "element", el.Key, "resources", el.ResourceNames())
	}
	source := vendor.New(vendor.Options{Logger: log.Named("vendor"), OnResponse: s.metrics.VendorResponse})
	s.runtime = engine.NewRuntime(engine.RuntimeOptions{
		Catalog:         cat,
		Source:          source,
		Store:           store,
		Outbox:          store,
		Sink:            webhook.New(webhook.Options{Logger: log.Named("webhook")}),
		Account:         engine.Account{AccountID: 1, CompanyID: 1, UserID: 1, User: "pollen"},
		Logger:          log,
		PollWorkers:     cfg.PollWorkers,
		DeliveryWorkers: cfg.DeliveryWorkers,
		OnPoll:          s.metrics.Poll,
		Deliverer:       cfg.delivery(s.metrics),
	})
	s.metrics.Runtime(s.runtime)
	if err := s.resume(ctx, cat); err != nil {
		store.Close()
		return nil, err
	}
	s.sessions = console.NewSessions(console.SessionOptions{})
	s.admin = console.Principal{ID: "1", Name: "admin"}
	handler, err := api.New(api.Options{Store: store, Runtime: s.runtime, Definitions: s.defs, Events: store, Source: source,
		Metrics: s.metrics.Handler(), UserSecret: cfg.UserSecret, OrganizationSecret: cfg.OrgSecret, Logger: log.Named("api"),
		Sessions: s.sessions})
	if err != nil {
		store.Close()
		return nil, err
	}
	web, err := console.New(console.Options{API: handler, Sessions: s.sessions, Catalog: s.runtime.Catalog, Logger: log.Named("console"),
		Accounts: console.SingleAccount{User: cfg.UserSecret, Organization: cfg.OrgSecret, Principal: s.admin}})
	if err != nil {
		store.Close()
		return nil, err
	}
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		store.Close()
		return nil, err
	}
	s.http = &http.Server{Handler: web, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	return s, nil
}

// delivery is how the runtime delivers notifications: the retry schedule, the per-callback
// limits, and each attempt counted in m.
func (cfg serverConfig) delivery(m *metrics.Metrics) engine.DelivererOptions {
	return engine.DelivererOptions{Retries: cfg.Retries, PerCallback: cfg.CallbackConcurrency,
		RatePerCallback: cfg.CallbackRate, OnAttempt: m.Delivery}
}

// resume restarts polling for every stored instance, from its stored cursors.
func (s *server) resume(ctx context.Context, cat *engine.Catalog) error {
	recs, err := s.store.Instances(ctx)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		in, probs := api.Compile(cat, rec)
		if len(probs) > 0 {
			s.log.Error("instance not resumed: its configuration no longer loads", "instance", rec.ID, "problems", definitions.Describe(probs))
			continue
		}
		for _, p := range in.Paused {
			s.log.Warn("job paused: its definition does not load; it resumes from its cursor when it does", "instance", in.ID, "resource", p.ObjectType, "reason", p.Reason)
		}
		s.runtime.Apply(in)
	}
	if len(recs) > 0 {
		s.log.Info("instances resumed", "instances", len(recs), "jobs", s.runtime.Jobs())
	}
	return nil
}

// pruneHistory deletes delivered event history older than the retention, at start and hourly.
// Pending and queued notifications are never pruned.
func (s *server) pruneHistory(ctx context.Context) {
	keep := s.cfg.HistoryRetention
	if keep <= 0 {
		keep = 7 * 24 * time.Hour
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := s.store.Prune(ctx, time.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("pruning event history failed", "error", err)
		case n > 0:
			s.log.Info("event history pruned", "events", n, "older_than", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// URL is the server's base URL.
func (s *server) URL() string { return "http://" + s.ln.Addr().String() }

// signInLink returns a link that signs a browser in to the console once, within ttl.
func (s *server) signInLink(ttl time.Duration) string {
	return s.URL() + s.sessions.SignInLink(s.admin, ttl)
}

// Run serves until ctx ends, then stops accepting requests and polls, lets deliveries under way
// finish (or stay pending), and closes the store.
func (s *server) Run(ctx context.Context) error {
	s.log.Info("listening", "addr", s.ln.Addr().String(), "console", s.URL()+"/")
	var wg sync.WaitGroup
	wg.Add(1)
	runCtx, stopRuntime := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer wg.Done()
		_ = s.runtime.Run(runCtx)
	}()
	if s.cfg.DefinitionsDir != "" {
		w, err := definitions.NewWatcher(definitions.WatcherOptions{Dir: s.cfg.DefinitionsDir, Logger: s.log.Named("watch"),
			OnChange: func([]string) { s.runtime.Reload(s.defs.Reload()) }})
		if err != nil {
			s.log.Error("definitions folder not watched: changes need a restart", "dir", s.cfg.DefinitionsDir, "error", err)
		} else {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = w.Run(runCtx)
			}()
			s.log.Info("watching definitions", "dir", s.cfg.DefinitionsDir)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pruneHistory(runCtx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.http.Shutdown(shutCtx)
	stopRuntime()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	s.log.Info("stopped")
	return err
}
