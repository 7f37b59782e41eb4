package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// InstanceStore keeps instances. *sqlite.Store implements it.
type InstanceStore interface {
	CreateInstance(ctx context.Context, in *sqlite.Instance) error
	UpdateInstance(ctx context.Context, in *sqlite.Instance) error
	Instance(ctx context.Context, id int64) (*sqlite.Instance, error)
	InstanceByToken(ctx context.Context, token string) (*sqlite.Instance, error)
	Instances(ctx context.Context) ([]*sqlite.Instance, error)
	DeleteInstance(ctx context.Context, id int64) error
}

// Runtime runs the pollers of instances.
type Runtime interface {
	// Catalog returns the current catalog; it may change between calls (hot reload).
	Catalog() *engine.Catalog
	// Apply starts or updates an instance's polling.
	Apply(in *engine.Instance)
	// Remove stops an instance's polling.
	Remove(id int64)
	// Status returns where each configured job of an instance stands; nil when it is not running.
	Status(id int64) []engine.JobStatus
	// Valid reports whether the vendor accepts the instance (false after it rejected its
	// credentials), and why not.
	Valid(id int64) (bool, string)
}

// DefinitionsStatus reports the state of the definition files. *definitions.Registry implements it.
type DefinitionsStatus interface {
	Status() []definitions.FileStatus
}

// Options configures a Server. Zero values select the defaults noted.
type Options struct {
	Store   InstanceStore // required
	Runtime Runtime       // required
	// UserSecret and OrganizationSecret are what the Authorization header must carry; required.
	UserSecret, OrganizationSecret string
	Logger                         hclog.Logger     // nil = no logging
	Now                            func() time.Time // nil = time.Now
	MaxBodyBytes                   int64            // largest request body; 0 = 1 MiB
	// Definitions serves GET /definitions; nil answers an empty list.
	Definitions DefinitionsStatus
	// Events serves the event history and redelivery routes (events.go).
	Events EventStore
	// Source serves the hub API (hub.go): it reads the vendor as the pollers do.
	Source engine.Source
	// Metrics serves GET /metrics without authentication (the Prometheus exposition of
	// adapters/metrics: aggregate counts, no instance data, no secret); nil = no such route.
	Metrics http.Handler
	// Sessions, when set, lets a web console session stand in for the User and Organization
	// secrets (auth.go); nil = only the Authorization header authenticates.
	Sessions SessionAuthenticator
}

const defaultMaxBody = 1 << 20

// Server is the platform HTTP API. It is an http.Handler, safe for concurrent use.
type Server struct {
	store   InstanceStore
	rt      Runtime
	userSum [sha256.Size]byte
	orgSum  [sha256.Size]byte
	log     hclog.Logger
	now     func() time.Time
	maxBody int64
	defs    DefinitionsStatus
	src     engine.Source // the hub API's vendor source (hub.go)
	events  EventStore    // the event history (events.go); nil = not configured
	metrics http.Handler  // GET /metrics; nil = not served
	mux     *http.ServeMux
	// writeMu serializes the read-merge-store-apply of instance updates, so that concurrent
	// PATCH and PUT requests neither lose each other's changes nor apply out of order.
	writeMu sync.Mutex
	// sessions authenticates console sessions (auth.go); nil = none.
	sessions SessionAuthenticator
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("api: Options.Store is required")
	case opts.Runtime == nil:
		return nil, errors.New("api: Options.Runtime is required")
	case opts.UserSecret == "" || opts.OrganizationSecret == "":
		return nil, errors.New("api: Options.UserSecret and Options.OrganizationSecret are required")
	case opts.MaxBodyBytes < 0:
		return nil, errors.New("api: Options.MaxBodyBytes must not be negative")
	}
	s := &Server{
		store:   opts.Store,
		rt:      opts.Runtime,
		userSum: sha256.Sum256([]byte(opts.UserSecret)),
		orgSum:  sha256.Sum256([]byte(opts.OrganizationSecret)),
		log:     opts.Logger,
		now:     opts.Now,
		maxBody: opts.MaxBodyBytes,
		defs:    opts.Definitions,
		src:     opts.Source,
		events:  opts.Events,
		metrics: opts.Metrics,
	}
	s.sessions = opts.Sessions
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody == 0 {
		s.maxBody = defaultMaxBody
	}
	s.routes()
	return s, nil
}

// routes registers the handlers. Method-less patterns catch the methods a path does not serve
// (405 with Allow) and "/" catches unknown paths (404), so that every answer is a JSON error
// rather than ServeMux's plain text.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("/healthz", methodNotAllowed("GET, HEAD"))
	if s.metrics != nil {
		m.Handle("GET /metrics", s.metrics)
		m.HandleFunc("/metrics", methodNotAllowed("GET, HEAD"))
	}

	m.Handle("POST /instances", s.authed(s.createInstance))
	m.Handle("GET /instances", s.authed(s.listInstances))
	m.Handle("/instances", s.authed(methodNotAllowed("GET, HEAD, POST")))
	m.Handle("GET /instances/{id}", s.authed(s.getInstance))
	m.Handle("PATCH /instances/{id}", s.authed(s.patchInstance))
	m.Handle("PUT /instances/{id}", s.authed(s.putInstance))
	m.Handle("/instances/{id}", s.authed(methodNotAllowed("DELETE, GET, HEAD, PATCH, PUT")))

	m.Handle("GET /definitions", s.authed(s.getDefinitions))
	m.Handle("/definitions", s.authed(methodNotAllowed("GET, HEAD")))

	s.routeLifecycle(m) // lifecycle.go
	s.routeEvents(m)    // events.go
	s.routeHub(m)       // hub.go

	m.Handle("/", s.authed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "No such resource: "+r.Method+" "+r.URL.Path)
	}))
	s.mux = m
}

// ServeHTTP gives the request an id, serves it, and logs it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := newRequestID()
	w.Header().Set("X-Request-Id", rid)
	rw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, rid))
	s.mux.ServeHTTP(rw, r)
	s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rw.status(),
		"duration", time.Since(start), "requestId", rid)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, r, http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed on "+r.URL.Path+"; allowed: "+allow)
	}
}

type requestIDKey struct{}

// requestID returns the id ServeHTTP gave the request.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// newRequestID returns 12 random bytes in hex.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// statusWriter records the status a handler writes.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The production implementations.
var (
	_ InstanceStore     = (*sqlite.Store)(nil)
	_ Runtime           = (*engine.Runtime)(nil)
	_ DefinitionsStatus = (*definitions.Registry)(nil)
)
