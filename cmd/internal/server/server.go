// Package server assembles a running Pollen: the store, the definitions, the runtime (polls and
// delivery), metrics, the HTTP API and the web console, on one listener. pollen serve builds it
// from its flags, pollen demo in-process beside its simulator, and the end-to-end tests through
// cmd/internal/rig.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/api"
	"github.com/pollen-hq/pollen/adapters/console"
	"github.com/pollen-hq/pollen/adapters/httpsource"
	"github.com/pollen-hq/pollen/adapters/metrics"
	"github.com/pollen-hq/pollen/adapters/postgres"
	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/adapters/webhook"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/egress"
	"github.com/pollen-hq/pollen/engine/instances"
	"github.com/pollen-hq/pollen/engine/seal"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// Config is everything `pollen serve` is configured with.
type Config struct {
	Listen  string
	DataDir string
	// Store is where state lives: "" for the embedded SQLite file DATA-DIR/pollen.db, or a
	// PostgreSQL URL (postgres://, postgresql://). It may hold a password: never log it.
	Store            string
	DefinitionsDir   string
	UserSecret       string
	OrgSecret        string
	PollWorkers      int           // polls under way over all accounts
	PollsPerAccount  int           // polls under way at one vendor account
	PollDeadline     time.Duration // longest one poll runs
	PollPages        int           // most pages one poll reads
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

	// AllowPrivateNetworks and AllowHosts open the egress policy (engine/egress) to loopback and
	// private addresses, and to the hosts, addresses and prefixes listed.
	AllowPrivateNetworks bool
	AllowHosts           []string
	// MinInterval is the shortest refresh interval an instance may set; 0 = 1s.
	MinInterval time.Duration
	// CORSOrigins are the origins whose browser scripts may call the API (api.Options.CORSOrigins).
	CORSOrigins []string
	// KeyFile holds the keys sealing secrets at rest; "" = DATA-DIR/pollen.key, generated at the
	// first start. Key, when set (POLLEN_KEY), holds them instead: base64 keys, comma-separated,
	// the primary first.
	KeyFile, Key string
	// HTTP bounds the API's connections; zero fields take defaultHTTPLimits'.
	HTTP HTTPLimits
	// Node names this node among those sharing a PostgreSQL store (cluster.go); "" =
	// DefaultNodeName(). LeasePeriod is how long a node's heartbeat, and with it
	// every vendor account lease the node holds, lasts unless the node beats again;
	// 0 = engine.DefaultLeasePeriod. Both are ignored with SQLite.
	Node        string
	LeasePeriod time.Duration
}

// HTTPLimits bound what a client may hold of the server: a slow or idle client is cut off.
type HTTPLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
}

// defaultHTTPLimits: a request's headers within 5 s and its whole body (1 MiB at most) within
// 15 s; a response within 2 minutes (a hub call waits for the vendor, with retries); an idle
// keep-alive connection closed after a minute; headers of 64 KiB at most.
var defaultHTTPLimits = HTTPLimits{ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: 2 * time.Minute,
	Idle: time.Minute, MaxHeaderBytes: 64 << 10}

func (l HTTPLimits) withDefaults() HTTPLimits {
	d := defaultHTTPLimits
	if l.ReadHeader > 0 {
		d.ReadHeader = l.ReadHeader
	}
	if l.Read > 0 {
		d.Read = l.Read
	}
	if l.Write > 0 {
		d.Write = l.Write
	}
	if l.Idle > 0 {
		d.Idle = l.Idle
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	return d
}

// Server is a running Pollen: store, catalog, runtime, metrics and HTTP API. serve, demo and the
// end-to-end tests all build it the same way.
type Server struct {
	cfg     Config
	log     hclog.Logger
	store   Store
	egress  *egress.Policy
	svc     *instances.Service
	tenants *tenants.Service
	defs    *definitions.Registry
	runtime *engine.Runtime
	cluster *engine.Cluster  // nil unless the store is shared (PostgreSQL)
	metrics *metrics.Metrics // served at GET /metrics
	http    *http.Server
	ln      net.Listener
	// sessions are the web console's; admin is the bootstrap admin, whom pollen demo signs in.
	sessions *console.Sessions
	admin    console.Principal
}

// Store is what the server keeps its state in: adapters/sqlite's Store, or adapters/postgres's.
type Store interface {
	engine.Store
	engine.Outbox
	instances.Store
	instances.EventStore
	tenants.Store
	// Ping checks that the store answers a read (GET /readyz).
	Ping(ctx context.Context) error
	// Prune deletes settled event history older than a cut-off and returns how many events.
	Prune(ctx context.Context, olderThan time.Time) (int, error)
	// Reseal seals every configuration again with the sealer's primary key (pollen keys rotate).
	Reseal(ctx context.Context) (int, error)
	Close() error
}

var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)

// IsPostgres reports whether a store setting (Config.Store) names a PostgreSQL database.
func IsPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// CheckStore refuses a store setting that names neither the embedded SQLite file ("") nor a
// PostgreSQL URL. Its message never repeats the setting, which may hold a password.
func CheckStore(store string) error {
	if store == "" || IsPostgres(store) {
		return nil
	}
	return errors.New("--store (POLLEN_STORE) must be a PostgreSQL URL (postgres://user@host:5432/database?sslmode=...), or empty for the embedded SQLite file in the data directory")
}

// OpenStore opens the store that store names (Config.Store: "" for the SQLite file in dataDir,
// or a PostgreSQL URL), its configurations sealed with sealer (nil: none, for what reads no
// configuration). pollen serve, users and keys open their store with it.
func OpenStore(ctx context.Context, store, dataDir string, sealer engine.Sealer, log hclog.Logger) (Store, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := CheckStore(store); err != nil {
		return nil, err
	}
	if IsPostgres(store) {
		s, err := postgres.Open(ctx, store, postgres.Options{Logger: log, Sealer: sealer})
		if err != nil {
			return nil, err
		}
		log.Info("PostgreSQL store", "schema", s.Schema())
		return s, nil
	}
	s, err := sqlite.Open(filepath.Join(dataDir, DBFile), sqlite.Options{Logger: log, Sealer: sealer})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// SecretsFile holds the bootstrap admin's generated secrets in the data directory, mode 0600: a
// JSON object with the keys "user" and "organization".
const SecretsFile = "secrets.json"

type platformSecrets struct {
	User         string `json:"user"`
	Organization string `json:"organization"`
}

// loadSecrets returns the bootstrap admin's secrets: from the configuration (environment) when
// given, else from the data directory, generating and storing them on first start.
func loadSecrets(cfg *Config, log hclog.Logger) error {
	if cfg.UserSecret != "" && cfg.OrgSecret != "" {
		return nil
	}
	if cfg.UserSecret != "" || cfg.OrgSecret != "" {
		return errors.New("set both POLLEN_USER_SECRET and POLLEN_ORGANIZATION_SECRET, or neither")
	}
	path := filepath.Join(cfg.DataDir, SecretsFile)
	var s platformSecrets
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil || s.User == "" || s.Organization == "" {
			return fmt.Errorf("%s: not a secrets file (%v); remove it to generate new secrets", path, err)
		}
		log.Info("bootstrap admin's secrets read from the data directory", "file", path)
	case errors.Is(err, os.ErrNotExist):
		s = platformSecrets{User: tenants.NewSecret(), Organization: tenants.NewSecret()}
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("storing generated secrets: %w", err)
		}
		log.Info("bootstrap admin's secrets generated; clients authenticate with 'Authorization: User <user>, Organization <organization>' from this file", "file", path)
	default:
		return err
	}
	cfg.UserSecret, cfg.OrgSecret = s.User, s.Organization
	return nil
}

// DBFile and KeysFile are the database and the key file in the data directory.
const (
	DBFile   = "pollen.db"
	KeysFile = "pollen.key"
)

// LoadKeys returns the keyring sealing secrets at rest: from POLLEN_KEY, from --key-file, or from
// DATA-DIR/pollen.key, generated (0600) when neither the key file nor a database exists yet. A
// database without its generated key file, or a key file without its database, is refused: one
// of them was lost, and starting anew would lose every instance.
//
// With a PostgreSQL store the database is not in the data directory, and is not checked here: a
// key that does not open its configurations stops the server when it resumes the instances.
func LoadKeys(cfg Config, log hclog.Logger) (*seal.Keyring, error) {
	if cfg.Key != "" {
		keys, err := seal.ParseKeys(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("POLLEN_KEY: %w", err)
		}
		return seal.NewKeyring(sqlite.SealPurpose, keys...)
	}
	pg := IsPostgres(cfg.Store)
	path, generated := cfg.KeyFile, cfg.KeyFile == ""
	if generated {
		path = filepath.Join(cfg.DataDir, KeysFile)
	}
	keys, err := seal.ReadFile(path)
	switch {
	case err == nil:
		if _, err := os.Stat(filepath.Join(cfg.DataDir, DBFile)); generated && !pg && errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing but its key file %s is there: restore the database from a backup, or remove the key file to start with no instances",
				filepath.Join(cfg.DataDir, DBFile), path)
		}
	case errors.Is(err, os.ErrNotExist) && generated:
		if !pg && hasInstances(filepath.Join(cfg.DataDir, DBFile)) {
			return nil, fmt.Errorf("%s has sealed instance configurations but no key file %s: restore the key file, or give the key with --key-file or POLLEN_KEY",
				filepath.Join(cfg.DataDir, DBFile), path)
		}
		keys = [][]byte{seal.GenerateKey()}
		if err := seal.WriteFile(path, keys); err != nil {
			return nil, fmt.Errorf("generating the key for secrets at rest: %w", err)
		}
		log.Info("key for secrets at rest generated; back it up with the database: without it the instances' secrets cannot be read", "file", path)
	default:
		return nil, fmt.Errorf("key file: %w", err)
	}
	return seal.NewKeyring(sqlite.SealPurpose, keys...)
}

// hasInstances reports whether a database file exists and holds sealed instance configurations
// (a database of a Pollen from before sealing holds them in clear, and is sealed at open).
func hasInstances(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte("PS\x01"))
}

// New opens the store, loads definitions and instances, and listens; Run serves.
func New(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	secretsGiven := cfg.UserSecret != "" && cfg.OrgSecret != ""
	if err := loadSecrets(&cfg, log); err != nil {
		return nil, err
	}
	keys, err := LoadKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, cfg.Store, cfg.DataDir, keys, log.Named("store"))
	if err != nil {
		return nil, err
	}
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		store.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: store, metrics: m}
	fail := func(err error) (*Server, error) {
		store.Close()
		return nil, err
	}
	if s.tenants, err = tenants.New(tenants.Options{Store: store}); err != nil {
		return fail(err)
	}
	if err := checkShared(ctx, cfg, store, s.tenants, secretsGiven); err != nil { // cluster.go
		return fail(err)
	}
	if err := s.tenants.Bootstrap(ctx, cfg.UserSecret, cfg.OrgSecret); err != nil {
		return fail(fmt.Errorf("the bootstrap admin's secrets: %w", err))
	}
	if s.egress, err = egress.New(egress.Options{AllowPrivate: cfg.AllowPrivateNetworks, AllowHosts: cfg.AllowHosts}); err != nil {
		return fail(err)
	}
	s.defs = definitions.NewRegistry(definitions.RegistryOptions{Dir: cfg.DefinitionsDir, Logger: log.Named("definitions")})
	cat := s.defs.Reload()
	for _, el := range cat.Elements() {
		log.Info("element loaded", "element", el.Key, "resources", el.ResourceNames())
	}
	source := httpsource.New(httpsource.Options{Logger: log.Named("vendor"), OnResponse: s.metrics.VendorResponse, Dial: EgressDial(s.egress)})
	// One clock for the runtime (polls, schedule, delivery, suspensions) and the instances'
	// dates.
	clock := engine.SystemClock{}
	s.runtime = engine.NewRuntime(engine.RuntimeOptions{
		Clock:           clock,
		Catalog:         cat,
		Source:          source,
		Store:           store,
		Outbox:          store,
		Sink:            webhook.New(webhook.Options{Logger: log.Named("webhook"), Dial: EgressDial(s.egress)}),
		Account:         engine.Account{AccountID: 1, CompanyID: 1, UserID: 1, User: "pollen"},
		Logger:          log,
		PollConcurrency: cfg.PollWorkers,
		PollsPerAccount: cfg.PollsPerAccount,
		PollDeadline:    cfg.PollDeadline,
		PollPages:       cfg.PollPages,
		DeliveryWorkers: cfg.DeliveryWorkers,
		OnPoll:          s.metrics.Poll,
		Deliverer:       cfg.Delivery(s.metrics),
	})
	s.metrics.Runtime(s.runtime)
	// With a shared store, the instance service hands instances to the cluster, which runs here
	// those of the vendor accounts this node holds the lease of.
	var rt instances.Runtime = s.runtime
	var changed func(id int64)
	if s.cluster, err = s.newCluster(cfg, store, log); err != nil {
		return fail(err)
	}
	if s.cluster != nil {
		rt, changed = s.cluster, s.cluster.Changed
		s.metrics.Cluster(s.cluster)
	}
	s.svc, err = instances.New(instances.Options{Store: store, Runtime: rt, Events: store, Logger: log.Named("instances"), Clock: clock,
		Limits: engine.Limits{MinInterval: cfg.MinInterval, Egress: s.egress}, Changed: changed})
	if err != nil {
		return fail(err)
	}
	n, err := s.svc.Resume(ctx)
	if err != nil {
		if errors.Is(err, seal.ErrUnknownKey) {
			err = fmt.Errorf("%w: is the key (the key file, or POLLEN_KEY) the one this database was sealed with?", err)
		}
		return fail(err)
	}
	if n > 0 {
		log.Info("instances resumed", "instances", n, "jobs", s.runtime.Jobs())
	}
	// The web console signs users in with their secrets, as the API authenticates them; a
	// session then stands in for the secrets in its pages' API calls.
	throttle := tenants.NewThrottle(tenants.ThrottleOptions{})
	s.sessions = console.NewSessions(console.SessionOptions{})
	if s.admin, err = (consoleAccounts{s.tenants}).SignIn(ctx, cfg.UserSecret, cfg.OrgSecret); err != nil {
		return fail(fmt.Errorf("the bootstrap admin: %w", err))
	}
	var node api.Node
	if s.cluster != nil {
		node = s.cluster
	}
	handler, err := api.New(api.Options{Instances: s.svc, Tenants: s.tenants, Definitions: s.defs, Source: source, Node: node,
		Metrics: s.metrics.Handler(), Ready: s.Ready, Logger: log.Named("api"), Throttle: throttle, CORSOrigins: cfg.CORSOrigins,
		Authenticator: &api.HeaderAuthenticator{Tenants: s.tenants, Instances: s.svc, Session: s.sessions.Principal}})
	if err != nil {
		return fail(err)
	}
	web, err := console.New(console.Options{API: handler, Sessions: s.sessions, Catalog: s.runtime.Catalog, Logger: log.Named("console"),
		Accounts: consoleAccounts{s.tenants}, Throttle: throttle})
	if err != nil {
		return fail(err)
	}
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(err)
	}
	// Instances may not point Pollen at its own API.
	if err := s.egress.AddSelf(s.ln.Addr().String()); err != nil {
		s.ln.Close()
		return fail(err)
	}
	lim := cfg.HTTP.withDefaults()
	s.http = &http.Server{Handler: web, ReadHeaderTimeout: lim.ReadHeader, ReadTimeout: lim.Read, WriteTimeout: lim.Write,
		IdleTimeout: lim.Idle, MaxHeaderBytes: lim.MaxHeaderBytes,
		ErrorLog: log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	return s, nil
}

// Ready is GET /readyz's check: the store answers a read, and the definitions are loaded (the
// registry has built a catalog with at least one element).
func (s *Server) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if cat := s.defs.Catalog(); cat == nil || len(cat.Elements()) == 0 {
		return errors.New("definitions: no element loaded")
	}
	return nil
}

// EgressDial is how Pollen connects to what tenants point it at (vendors, callbacks): every
// connection checked by the egress policy at connect time, since DNS may have changed since the
// write-time check.
func EgressDial(p *egress.Policy) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &egress.Dialer{Policy: p, Dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}}
	return d.DialContext
}

// Delivery is how the runtime delivers notifications: the retry schedule, the per-callback
// limits, and each attempt counted in m.
func (cfg Config) Delivery(m *metrics.Metrics) engine.DelivererOptions {
	return engine.DelivererOptions{Retries: cfg.Retries, PerCallback: cfg.CallbackConcurrency,
		RatePerCallback: cfg.CallbackRate, OnAttempt: m.Delivery}
}

// pruneHistory deletes delivered event history older than the retention, at start and hourly.
// Pending and queued notifications are never pruned.
func (s *Server) pruneHistory(ctx context.Context) {
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

// Runtime is the server's runtime: its instances, jobs and their state.
func (s *Server) Runtime() *engine.Runtime { return s.runtime }

// Tenants is the server's organizations and users.
func (s *Server) Tenants() *tenants.Service { return s.tenants }

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// SignInLink returns a link that signs a browser in to the console once, within ttl.
func (s *Server) SignInLink(ttl time.Duration) string {
	return s.URL() + s.sessions.SignInLink(s.admin, ttl)
}

// Close releases a server that was never Run: its listener and its store.
func (s *Server) Close() error {
	return errors.Join(s.ln.Close(), s.store.Close())
}

// Run serves until ctx ends, then stops accepting requests and polls, lets deliveries under way
// finish (or stay pending), and closes the store.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("listening", "addr", s.ln.Addr().String(), "console", s.URL()+"/")
	var wg sync.WaitGroup
	wg.Add(1)
	runCtx, stopRuntime := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer wg.Done()
		_ = s.runtime.Run(runCtx)
	}()
	apply := s.runtime.Reload
	if s.cluster != nil {
		apply = s.cluster.Reload
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.cluster.Run(runCtx)
		}()
	}
	if s.cfg.DefinitionsDir != "" {
		// ReloadInto: GET /definitions says a file is loaded only once the runtime serves it.
		reload := func([]string) { s.defs.ReloadInto(apply) }
		w, err := definitions.NewWatcher(definitions.WatcherOptions{Dir: s.cfg.DefinitionsDir, Logger: s.log.Named("watch"), OnChange: reload})
		if err != nil {
			s.log.Error("definitions folder not watched: changes need a restart", "dir", s.cfg.DefinitionsDir, "error", err)
		} else {
			// A file changed between newServer's load and the watch is seen now, not at the next
			// re-scan.
			reload(nil)
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

// consoleAccounts signs the web console's users in with the tenants service: the User and
// Organization secrets the API's Authorization header would carry.
type consoleAccounts struct{ t *tenants.Service }

func (a consoleAccounts) SignIn(ctx context.Context, user, org string) (console.Principal, error) {
	p, err := a.t.Authenticate(ctx, user, org)
	switch {
	case errors.Is(err, tenants.ErrUnauthenticated):
		return console.Principal{}, fmt.Errorf("%w: %v", console.ErrSignIn, err)
	case err != nil:
		return console.Principal{}, err
	}
	return console.Principal{ID: strconv.FormatInt(p.UserID, 10), Name: p.Email, As: p}, nil
}

var _ console.Accounts = consoleAccounts{}
