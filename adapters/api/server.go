package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// DefinitionsStatus reports the state of the definition files. *definitions.Registry implements it.
type DefinitionsStatus interface {
	Status() []definitions.FileStatus
}

// Node is a node sharing its store with others (*engine.Cluster implements it): its name, the
// vendor accounts it holds the lease of, and the resources existing instances use that its
// definitions lack.
type Node interface {
	Node() string
	Leased() []string
	Lacking() []string
}

// Options configures a Server. Zero values select the defaults noted.
type Options struct {
	// Instances runs the instance lifecycle (engine/instances); required.
	Instances *instances.Service
	// Tenants manages users and organizations; required for the /users routes and the default
	// Authenticator.
	Tenants *tenants.Service
	// Authenticator turns a request into the principal it acts for; nil = HeaderAuthenticator
	// over Tenants and Instances. The web console plugs its session in here.
	Authenticator Authenticator
	// Throttle limits failed authentications per client address; nil = tenants' defaults (10 at
	// once, then one a second).
	Throttle *tenants.Throttle
	Logger   hclog.Logger     // nil = no logging
	Now      func() time.Time // nil = time.Now
	// MaxBodyBytes is the largest request body; 0 = 1 MiB.
	MaxBodyBytes int64
	// Definitions serves GET /definitions; nil answers an empty list.
	Definitions DefinitionsStatus
	// Source serves the hub API (hub.go): it reads the vendor as the pollers do.
	Source engine.Source
	// Metrics serves GET /metrics without authentication (the Prometheus exposition of
	// adapters/metrics: aggregate counts, no instance data, no secret); nil = no such route.
	Metrics http.Handler
	// Ready answers GET /readyz (readyz.go): nil when the server can do its work, else why not.
	// Nil = always ready.
	Ready func(ctx context.Context) error
	// Node, when several nodes share the store, names this one in GET /readyz (with the count of
	// its leases) and GET /definitions (with the resources it lacks); nil = a single node.
	Node Node
	// CORSOrigins are the origins whose scripts may call the API from a browser (cors.go):
	// "https://app.example.com", "https://*.example.com", or "*" for any origin, without
	// credentials. Empty = no cross-origin access.
	CORSOrigins []string
}

const defaultMaxBody = 1 << 20

// Server is the platform HTTP API. It is an http.Handler, safe for concurrent use.
type Server struct {
	svc      *instances.Service
	tenants  *tenants.Service
	auth     Authenticator
	throttle *tenants.Throttle
	log      hclog.Logger
	now      func() time.Time
	maxBody  int64
	defs     DefinitionsStatus
	src      engine.Source // the hub API's vendor source (hub.go)
	metrics  http.Handler  // GET /metrics; nil = not served
	mux      *http.ServeMux
	handler  http.Handler                    // mux, behind CORS when origins are configured
	ready    func(ctx context.Context) error // GET /readyz (readyz.go); nil = always ready
	node     Node                            // nil = a single node
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Instances == nil:
		return nil, errors.New("api: Options.Instances is required")
	case opts.Authenticator == nil && opts.Tenants == nil:
		return nil, errors.New("api: Options.Tenants is required without an Options.Authenticator")
	case opts.MaxBodyBytes < 0:
		return nil, errors.New("api: Options.MaxBodyBytes must not be negative")
	}
	s := &Server{
		svc:      opts.Instances,
		tenants:  opts.Tenants,
		auth:     opts.Authenticator,
		throttle: opts.Throttle,
		log:      opts.Logger,
		now:      opts.Now,
		maxBody:  opts.MaxBodyBytes,
		defs:     opts.Definitions,
		src:      opts.Source,
		metrics:  opts.Metrics,
		ready:    opts.Ready,
		node:     opts.Node,
	}
	if s.auth == nil {
		s.auth = &HeaderAuthenticator{Tenants: opts.Tenants, Instances: opts.Instances}
	}
	if s.throttle == nil {
		s.throttle = tenants.NewThrottle(tenants.ThrottleOptions{})
	}
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
	s.handler = s.mux
	if len(opts.CORSOrigins) > 0 {
		c, err := newCORS(opts.CORSOrigins)
		if err != nil {
			return nil, err
		}
		s.handler = c.Handler(s.mux)
	}
	return s, nil
}

// routes registers the handlers. Method-less patterns catch the methods a path does not serve
// (405 with Allow) and "/" catches unknown paths (404), so that every answer is a JSON error
// rather than ServeMux's plain text.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("/healthz", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("GET /readyz", s.readyz)
	m.HandleFunc("/readyz", methodNotAllowed("GET, HEAD"))
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

	s.routeUsers(m) // users.go

	s.routeLifecycle(m) // lifecycle.go
	s.routeEvents(m)    // events.go
	s.routeHub(m)       // hub.go
	s.routeTry(m)       // try.go

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
	ctx := context.WithValue(r.Context(), requestIDKey{}, rid)
	r = r.WithContext(context.WithValue(ctx, usersKey{}, map[int64]userJSON{}))
	s.handler.ServeHTTP(rw, r)
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
var _ DefinitionsStatus = (*definitions.Registry)(nil)
