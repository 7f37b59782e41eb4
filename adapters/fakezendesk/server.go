package fakezendesk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Email and APIToken are the credentials accepted with API-token basic auth: username
	// "{email}/token", password the token. "" accepts any email, respectively any non-empty token.
	Email, APIToken string
	// Now is the clock; nil means time.Now. Timestamps are UTC, truncated to the second.
	Now func() time.Time
	// Seed seeds the generator of sample data (Seed, and the values CreateX fills in).
	Seed int64
	// RatePerMinute is the number of incremental export requests allowed per clock minute;
	// 0 means 10 (Zendesk's). Beyond it: 429 with Retry-After. Other endpoints are not limited.
	RatePerMinute int
	// MinAge: a start_time more recent than now-MinAge is a 400, and records whose updated_at is
	// within the last MinAge are not exported yet. 0 means 1 minute (Zendesk's); a negative value
	// means no lag, except that the current second is never exported.
	MinAge time.Duration
	// PerPage is the default page size of the incremental exports; 0 means 1000 (Zendesk's
	// maximum). A per_page query parameter overrides it, up to 1000.
	PerPage int
	// BaseURL prefixes the "url" of records and the after_url / next_page links, e.g.
	// "https://acme.zendesk.com". "" means the scheme and host of each request
	// (https://pollen.zendesk.com for the values the direct methods return).
	BaseURL string
	// Logger receives one debug line per request and per change; nil means no logging.
	Logger hclog.Logger
	// OnExport, when set, is called on every incremental export request (resource "tickets",
	// "users" or "organizations"), outside the lock, before anything else is done with it, so a
	// test can change records between the pages of a walk (see also Server.OnExport).
	OnExport func(resource string)
}

// Stats counts what the server has seen and holds.
type Stats struct {
	Requests       int            // every request received
	ExportRequests int            // requests to the incremental export endpoints, 429s included
	ByEndpoint     map[string]int // e.g. "GET /api/v2/incremental/tickets/cursor", "PUT /api/v2/users/{id}"
	ByStatus       map[int]int    // responses by HTTP status
	RateLimited    int            // 429s sent, injected ones included
	Unauthorized   int            // 401s sent
	ServerErrors   int            // 5xx sent
	Injected       int            // answers forced by FailNext

	Tickets              int // stored tickets, deleted ones included
	DeletedTickets       int
	Users                int // stored users, deleted ones included
	DeletedUsers         int
	Organizations        int // stored organizations, deleted ones included
	DeletedOrganizations int
}

// Change is one entry of the change log (see Server.Changes).
type Change struct {
	Resource  string    // "tickets", "users" or "organizations"
	ID        int64     //
	Kind      string    // "created", "updated" or "deleted"
	UpdatedAt time.Time // the record's updated_at after the change
	At        time.Time // when the change was made, by the Options.Now clock (not truncated)
}

const (
	defaultRate    = 10
	defaultMinAge  = time.Minute
	maxPerPage     = 1000
	listPerPage    = 100
	maxBody        = 1 << 20
	defaultBaseURL = "https://pollen.zendesk.com"

	firstTicketID = 1
	firstUserID   = 9000000001
	firstOrgID    = 7000000001
)

// Server is the simulator. It implements http.Handler and is safe for concurrent use.
type Server struct {
	opts  Options
	clock func() time.Time
	log   hclog.Logger
	rate  int
	lag   time.Duration // how old a change must be to be exported (at least 1s)
	minAg time.Duration // how old a start_time must be (0 when MinAge < 0)

	mu        sync.Mutex
	email     string
	token     string
	rng       *rand.Rand
	tickets   map[int64]*record
	users     map[int64]*record
	orgs      map[int64]*record
	nextID    map[string]int64
	onExport  func(resource string)
	changes   []Change
	stats     Stats
	winStart  time.Time
	winUsed   int
	failN     int
	failState int
}

// New returns an empty Server.
func New(opts Options) *Server {
	s := &Server{
		opts:     opts,
		clock:    opts.Now,
		log:      opts.Logger,
		rate:     opts.RatePerMinute,
		email:    opts.Email,
		token:    opts.APIToken,
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)),
		tickets:  map[int64]*record{},
		users:    map[int64]*record{},
		orgs:     map[int64]*record{},
		nextID:   map[string]int64{"tickets": firstTicketID, "users": firstUserID, "organizations": firstOrgID},
		onExport: opts.OnExport,
		stats:    Stats{ByEndpoint: map[string]int{}, ByStatus: map[int]int{}},
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.rate <= 0 {
		s.rate = defaultRate
	}
	switch {
	case opts.MinAge == 0:
		s.lag, s.minAg = defaultMinAge, defaultMinAge
	case opts.MinAge < 0:
		s.lag, s.minAg = time.Second, 0
	default:
		s.lag, s.minAg = max(opts.MinAge, time.Second), opts.MinAge
	}
	if s.opts.PerPage <= 0 || s.opts.PerPage > maxPerPage {
		s.opts.PerPage = maxPerPage
	}
	return s
}

// now is the clock in UTC truncated to the second, like Zendesk's timestamps.
func (s *Server) now() time.Time { return s.clock().UTC().Truncate(time.Second) }

// SetCredentials changes the accepted email and API token ("" accepts any), e.g. to simulate a
// revoked token.
func (s *Server) SetCredentials(email, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email, s.token = email, token
}

// FailNext makes the next n requests answer status (e.g. 500 or 503) before authentication
// and rate limiting; a 429 carries Retry-After: 1 and uses no rate-limit allowance.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failState = n, status
}

// OnExport sets (or, with nil, clears) the hook of Options.OnExport.
func (s *Server) OnExport(fn func(resource string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onExport = fn
}

// Changes returns a copy of the change log: every creation, update and deletion of a ticket,
// user or organization, in the order made, whatever made it (REST, direct methods, Seed, Mutate),
// side effects included (users losing a deleted organization).
func (s *Server) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.changes)
}

// change appends to the change log; it runs with s.mu held.
func (s *Server) change(resource string, r *record, kind string) {
	s.changes = append(s.changes, Change{Resource: resource, ID: r.id, Kind: kind, UpdatedAt: r.updated, At: s.clock().UTC()})
	s.log.Debug("change", "resource", resource, "id", r.id, "kind", kind, "updated_at", fmtTime(r.updated))
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByEndpoint = make(map[string]int, len(s.stats.ByEndpoint))
	for k, v := range s.stats.ByEndpoint {
		st.ByEndpoint[k] = v
	}
	st.ByStatus = make(map[int]int, len(s.stats.ByStatus))
	for k, v := range s.stats.ByStatus {
		st.ByStatus[k] = v
	}
	count := func(m map[int64]*record) (n, deleted int) {
		for _, r := range m {
			n++
			if r.deleted {
				deleted++
			}
		}
		return n, deleted
	}
	st.Tickets, st.DeletedTickets = count(s.tickets)
	st.Users, st.DeletedUsers = count(s.users)
	st.Organizations, st.DeletedOrganizations = count(s.orgs)
	return st
}

// ResetStats zeroes the request counters of Stats. The records, the change log and the
// rate-limit window are left alone.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByEndpoint: map[string]int{}, ByStatus: map[int]int{}}
}

// response is computed under the lock and written after it is released.
type response struct {
	status int
	hdr    http.Header
	body   []byte
}

func jsonResponse(status int, v any) response {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return response{status: http.StatusInternalServerError, body: []byte(`{"error":"InternalError","description":"fakezendesk: ` + err.Error() + `"}`)}
	}
	return response{status: status, body: bytes.TrimSuffix(buf.Bytes(), []byte("\n"))}
}

// errorBody is Zendesk's {"error": ..., "description": ...}.
func errorBody(status int, code, desc string) response {
	return jsonResponse(status, map[string]string{"error": code, "description": desc})
}

func notFound() response { return errorBody(http.StatusNotFound, "RecordNotFound", "Not found") }

func invalidEndpoint() response {
	return errorBody(http.StatusNotFound, "InvalidEndpoint", "Not found")
}

// route identifies an endpoint.
type route struct {
	name     string // stats key, e.g. "GET /api/v2/tickets/{id}"
	kind     string // "cursor", "time", "list", "one"; "" when unknown
	resource string // "tickets", "users", "organizations"
	id       int64
}

var singular = map[string]string{"tickets": "ticket", "users": "user", "organizations": "organization"}

func parseRoute(method, path string) route {
	unknown := route{name: method + " (unknown)"}
	p := strings.TrimSuffix(strings.TrimPrefix(path, "/"), ".json")
	seg := strings.Split(p, "/")
	if len(seg) < 3 || seg[0] != "api" || seg[1] != "v2" || slices.Contains(seg, "") {
		return unknown
	}
	if seg[2] == "incremental" {
		if method != http.MethodGet || len(seg) < 4 {
			return unknown
		}
		res := seg[3]
		if _, ok := singular[res]; !ok {
			return unknown
		}
		switch {
		case len(seg) == 4:
			return route{name: "GET /api/v2/incremental/" + res, kind: "time", resource: res}
		case len(seg) == 5 && seg[4] == "cursor" && res != "organizations":
			return route{name: "GET /api/v2/incremental/" + res + "/cursor", kind: "cursor", resource: res}
		}
		return unknown
	}
	res := seg[2]
	if _, ok := singular[res]; !ok {
		return unknown
	}
	switch len(seg) {
	case 3:
		if method != http.MethodGet && method != http.MethodPost {
			return unknown
		}
		return route{name: method + " /api/v2/" + res, kind: "list", resource: res}
	case 4:
		id, err := strconv.ParseInt(seg[3], 10, 64)
		if err != nil || id <= 0 || (method != http.MethodGet && method != http.MethodPut && method != http.MethodDelete) {
			return unknown
		}
		return route{name: method + " /api/v2/" + res + "/{id}", kind: "one", resource: res, id: id}
	}
	return unknown
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	var bodyErr error
	if r.Body != nil {
		body, bodyErr = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if bodyErr == nil && len(body) > maxBody {
			bodyErr = errors.New("body too large")
		}
	}
	rt := parseRoute(r.Method, r.URL.Path)
	export := rt.kind == "cursor" || rt.kind == "time"
	if export {
		s.mu.Lock()
		fn := s.onExport
		s.mu.Unlock()
		if fn != nil {
			fn(rt.resource)
		}
	}

	s.mu.Lock()
	resp, remaining := s.handle(r, rt, body, bodyErr)
	s.stats.ByStatus[resp.status]++
	switch {
	case resp.status == http.StatusTooManyRequests:
		s.stats.RateLimited++
	case resp.status == http.StatusUnauthorized:
		s.stats.Unauthorized++
	case resp.status >= 500:
		s.stats.ServerErrors++
	}
	date := s.clock().UTC()
	s.mu.Unlock()

	h := w.Header()
	for k, v := range resp.hdr {
		h[k] = v
	}
	if export {
		h.Set("X-Rate-Limit", strconv.Itoa(s.rate))
		h.Set("X-Rate-Limit-Remaining", strconv.Itoa(max(remaining, 0)))
	}
	h.Set("Date", date.Format(http.TimeFormat))
	if resp.body != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	}
	w.WriteHeader(resp.status)
	if resp.body != nil && r.Method != http.MethodHead {
		_, _ = w.Write(resp.body)
	}
	s.log.Debug("request", "method", r.Method, "uri", r.URL.RequestURI(), "status", resp.status)
}

// handle runs with s.mu held. It returns the response and the export allowance left.
func (s *Server) handle(r *http.Request, rt route, body []byte, bodyErr error) (response, int) {
	s.stats.Requests++
	s.stats.ByEndpoint[rt.name]++
	export := rt.kind == "cursor" || rt.kind == "time"
	if export {
		s.stats.ExportRequests++
	}
	now := s.clock().UTC()
	if win := now.Truncate(time.Minute); !win.Equal(s.winStart) {
		s.winStart, s.winUsed = win, 0
	}

	if s.failN > 0 {
		s.failN--
		s.stats.Injected++
		if s.failState == http.StatusTooManyRequests {
			resp := rateLimited()
			resp.hdr = http.Header{"Retry-After": {"1"}}
			return resp, s.rate - s.winUsed
		}
		code, desc := "InternalError", "Something went wrong. Please try again."
		if s.failState == http.StatusServiceUnavailable {
			code, desc = "ServiceUnavailable", "The server is temporarily unavailable."
		}
		return errorBody(s.failState, code, desc), s.rate - s.winUsed
	}
	if !s.authorized(r) {
		resp := jsonResponse(http.StatusUnauthorized, map[string]string{"error": "Couldn't authenticate you"})
		resp.hdr = http.Header{"Www-Authenticate": {`Basic realm="Web Password"`}}
		return resp, s.rate - s.winUsed
	}
	if rt.kind == "" {
		return invalidEndpoint(), s.rate - s.winUsed
	}
	if export {
		if s.winUsed >= s.rate {
			retry := int((s.winStart.Add(time.Minute).Sub(now) + time.Second - 1) / time.Second)
			resp := rateLimited()
			resp.hdr = http.Header{"Retry-After": {strconv.Itoa(max(retry, 1))}}
			return resp, 0
		}
		s.winUsed++
	}

	base := s.baseURL(r)
	q := r.URL.Query()
	switch rt.kind {
	case "cursor":
		return s.exportCursor(rt.resource, q, base), s.rate - s.winUsed
	case "time":
		return s.exportTime(rt.resource, q, base), s.rate - s.winUsed
	}

	var in map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if bodyErr != nil {
			return errorBody(http.StatusBadRequest, "InvalidJSON", "The request body could not be read"), 0
		}
		obj, err := decodeObject(body)
		if err != nil {
			return errorBody(http.StatusBadRequest, "InvalidJSON", "The request body is not a valid JSON object"), 0
		}
		in, _ = obj[singular[rt.resource]].(map[string]any)
		if in == nil {
			return errorBody(http.StatusBadRequest, "ParameterMissing", "param is missing or the value is empty: "+singular[rt.resource]), 0
		}
	}
	return s.handleREST(r.Method, rt, q, in, base), 0
}

func rateLimited() response {
	return errorBody(http.StatusTooManyRequests, "APIRateLimitExceeded", "Number of allowed incremental export API requests per minute exceeded")
}

// authorized checks API-token basic auth: "{email}/token:{token}".
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || pass == "" {
		return false
	}
	email, ok := strings.CutSuffix(user, "/token")
	if !ok || email == "" {
		return false
	}
	if s.email != "" && !strings.EqualFold(email, s.email) {
		return false
	}
	return s.token == "" || pass == s.token
}

func (s *Server) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimSuffix(s.opts.BaseURL, "/")
	}
	if r == nil || r.Host == "" {
		return defaultBaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// directBase is the base of the urls in the values the direct methods return.
func (s *Server) directBase() string { return s.baseURL(nil) }

// decodeObject decodes a JSON object body, numbers normalised to int64 or float64.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	return normalize(m).(map[string]any), nil
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	}
	return v
}
