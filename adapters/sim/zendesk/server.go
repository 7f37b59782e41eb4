package zendesk

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Email and APIToken are the credentials accepted with API-token basic auth: username
	// "{email}/token", password the token. "" accepts any email, respectively any non-empty token.
	Email, APIToken string
	// Now is the clock; nil means time.Now. Timestamps are UTC, truncated to the second.
	Now func() time.Time
	// Seed seeds the generator of sample data (Seed, and the values CreateX fills in), and apart
	// from it the fault draws.
	Seed int64
	// RatePerMinute is the number of requests each incremental export endpoint allows per
	// minute of the vendor's clock; 0 means 10 (Zendesk's). Beyond it: 429 with Retry-After.
	RatePerMinute int
	// UsersCursorRatePerMinute is the limit of the cursor-based user export, which Zendesk sets
	// apart; 0 means twice RatePerMinute (20 by default).
	UsersCursorRatePerMinute int
	// AccountRatePerMinute is the account-wide limit of every request, reported by X-Rate-Limit
	// and X-Rate-Limit-Remaining; 0 means 700 (Zendesk Enterprise).
	AccountRatePerMinute int
	// MinAge: a start_time more recent than now-MinAge is a 400, and records whose updated_at is
	// within the last MinAge are not exported yet. 0 means 1 minute (Zendesk's); a negative value
	// means no lag, except that the current second is never exported.
	MinAge time.Duration
	// PerPage is the default page size of the incremental exports; 0 means 1000 (Zendesk's
	// maximum). A per_page query parameter overrides it, up to 1000.
	PerPage int
	// BaseURL prefixes the "url" of records and the after_url / next_page links, e.g.
	// "https://acme.zendesk.com". "" means the scheme and host of each request, plus PathPrefix
	// (https://pollen.zendesk.com for the values the direct methods return).
	BaseURL string
	// PathPrefix is removed from request paths before routing and kept in the links, so that one
	// HTTP server can host many simulated accounts side by side; "" means none.
	PathPrefix string
	// Logger receives one debug line per request and per change; nil means no logging.
	Logger hclog.Logger
	// Sleep waits for Latency and Drip (see kernel.Options.Sleep); nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnExport, when set, is called on every incremental export request (resource "tickets",
	// "users" or "organizations"), outside the lock, before anything else is done with it, so a
	// test can change records between the pages of a walk (see also Server.OnExport).
	OnExport func(resource string)

	// Fault knobs (see the package documentation and package kernel); all off when zero. Each
	// has a setter.

	// Skew is added to Now to make the vendor's clock: it stamps records, fills the Date header
	// and drives the rate windows (SetSkew).
	Skew time.Duration
	// VisibleAfter hides a record from exports and lists until the vendor's clock reaches its
	// updated time plus VisibleAfter, on top of MinAge (SetVisibleAfter).
	VisibleAfter time.Duration
	// ShiftDuringWalk is the probability that an export request past the start of a walk (a
	// cursor request, or any time-based one) first updates, to now, a random live record the
	// walk has already passed (SetShift).
	ShiftDuringWalk float64
	// FailRate is the probability that a request is answered with a status drawn from
	// FailStatuses (SetFail); FailBurst makes each such failure the first of FailBurst in a row.
	FailRate     float64
	FailStatuses []int
	FailBurst    int
	// Latency delays export and list pages (SetLatency).
	Latency kernel.Latency
	// Drip sends export and list pages a few bytes at a time (SetDrip).
	Drip kernel.Drip
	// Body spoils export and list pages: truncated, cut before any record, HTML, wrong shape
	// (SetBody).
	Body kernel.BodyFault
	// Paging makes exports endless (end_of_stream false, with a next URL) or a redirect loop
	// (SetPaging).
	Paging kernel.PagingFault
}

// Stats counts what the server has seen (the kernel's counters: requests, statuses, faults,
// pages in flight) and holds.
type Stats struct {
	kernel.Stats
	ExportRequests int // requests to the incremental export endpoints, 429s included

	Tickets              int // stored tickets, deleted ones included
	DeletedTickets       int
	Users                int // stored users, deleted ones included
	DeletedUsers         int
	Organizations        int // stored organizations, deleted ones included
	DeletedOrganizations int
}

// Change is one entry of the change log (see Server.Changes): Resource "tickets", "users" or
// "organizations", Kind "created", "updated" or "deleted", UpdatedAt the record's updated_at
// after the change.
type Change = kernel.Change

const (
	defaultRate        = 10
	defaultAccountRate = 700
	defaultMinAge      = time.Minute
	maxPerPage         = 1000
	listPerPage        = 100
	defaultBaseURL     = "https://pollen.zendesk.com"

	firstTicketID = 1
	firstUserID   = 9000000001
	firstOrgID    = 7000000001

	accountWindow = "account"
)

// Server is the simulator. It implements http.Handler and is safe for concurrent use.
type Server struct {
	opts  Options
	k     *kernel.Kernel
	log   hclog.Logger
	lag   time.Duration // how old a change must be to be exported (at least 1s)
	minAg time.Duration // how old a start_time must be (0 when MinAge < 0)

	mu      sync.Mutex
	email   string
	token   string
	rng     *rand.Rand
	tickets *kernel.Table[record]
	users   *kernel.Table[record]
	orgs    *kernel.Table[record]
}

// New returns an empty Server.
func New(opts Options) *Server {
	if opts.RatePerMinute <= 0 {
		opts.RatePerMinute = defaultRate
	}
	if opts.UsersCursorRatePerMinute <= 0 {
		opts.UsersCursorRatePerMinute = 2 * opts.RatePerMinute
	}
	if opts.AccountRatePerMinute <= 0 {
		opts.AccountRatePerMinute = defaultAccountRate
	}
	if opts.PerPage <= 0 || opts.PerPage > maxPerPage {
		opts.PerPage = maxPerPage
	}
	s := &Server{
		opts:    opts,
		email:   opts.Email,
		token:   opts.APIToken,
		rng:     rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)),
		tickets: kernel.NewTable[record](firstTicketID),
		users:   kernel.NewTable[record](firstUserID),
		orgs:    kernel.NewTable[record](firstOrgID),
	}
	switch {
	case opts.MinAge == 0:
		s.lag, s.minAg = defaultMinAge, defaultMinAge
	case opts.MinAge < 0:
		s.lag, s.minAg = time.Second, 0
	default:
		s.lag, s.minAg = max(opts.MinAge, time.Second), opts.MinAge
	}
	ko := kernel.Options{
		Now: opts.Now, Seed: opts.Seed, PathPrefix: opts.PathPrefix, Logger: opts.Logger, Sleep: opts.Sleep,
		Skew: opts.Skew, VisibleAfter: opts.VisibleAfter,
		Latency: opts.Latency, Drip: opts.Drip, Body: opts.Body, Paging: opts.Paging,
		Fail:  kernel.Fail{Rate: opts.FailRate, Statuses: opts.FailStatuses, Burst: opts.FailBurst},
		Shift: kernel.Shift{Rate: opts.ShiftDuringWalk},
	}
	if opts.OnExport != nil {
		ko.OnPage = exportHook(opts.OnExport)
	}
	s.k = kernel.New(ko)
	s.log = s.k.Logger()
	return s
}

// Kernel is the server's kernel: every fault knob, rate window and statistic it shares with
// the other simulators (SetLatency, SetBody, Stats, ...).
func (s *Server) Kernel() *kernel.Kernel { return s.k }

// VendorNow is the vendor's clock: Options.Now plus the skew, in UTC.
func (s *Server) VendorNow() time.Time { return s.k.VendorNow() }

// now is the time a change made now carries (the vendor's clock to the second, or the second of
// a burst).
func (s *Server) now() time.Time { return s.k.Stamp() }

// SetCredentials changes the accepted email and API token ("" accepts any), e.g. to simulate a
// revoked token.
func (s *Server) SetCredentials(email, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email, s.token = email, token
}

// Changes returns a copy of the change log: every creation, update and deletion of a ticket,
// user or organization, in the order made, whatever made it (REST, direct methods, Seed, Mutate,
// bursts, shifts), side effects included (users losing a deleted organization).
func (s *Server) Changes() []Change { return s.k.Changes() }

// change appends to the change log; it runs with s.mu held.
func (s *Server) change(resource string, r *record, kind string) {
	s.k.Log(resource, r.id, kind, r.updated)
	s.log.Debug("change", "resource", resource, "id", r.id, "kind", kind)
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{Stats: s.k.Stats()}
	for ep, n := range st.ByEndpoint {
		if strings.HasPrefix(ep, "GET /api/v2/incremental/") {
			st.ExportRequests += n
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	count := func(t *kernel.Table[record]) (n, deleted int) {
		for _, r := range t.Rows() {
			if r.deleted {
				deleted++
			}
		}
		return t.Len(), deleted
	}
	st.Tickets, st.DeletedTickets = count(s.tickets)
	st.Users, st.DeletedUsers = count(s.users)
	st.Organizations, st.DeletedOrganizations = count(s.orgs)
	return st
}

// ResetStats zeroes the request counters of Stats. The records, the change log and the rate
// windows are left alone.
func (s *Server) ResetStats() { s.k.ResetStats() }

// response is computed under the lock and written after it is released.
type response struct {
	status int
	hdr    http.Header
	body   []byte
}

func jsonResponse(status int, v any) response {
	b, err := kernel.AppendJSON(nil, v)
	if err != nil {
		return response{status: http.StatusInternalServerError, body: []byte(`{"error":"InternalError","description":"zendesk: ` + err.Error() + `"}`)}
	}
	return response{status: status, body: b}
}

// errorBody is Zendesk's {"error": ..., "description": ...}.
func errorBody(status int, code, desc string) response {
	return jsonResponse(status, map[string]any{"error": code, "description": desc})
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
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.k.Serve(w, r, s) }

// Route implements kernel.Vendor: the exports and the REST lists are pages.
func (s *Server) Route(r *http.Request, path string) kernel.Route {
	rt := parseRoute(r.Method, path)
	kr := kernel.Route{Endpoint: rt.name, Resource: rt.resource, Kind: rt.kind}
	if rt.export() || (rt.kind == "list" && r.Method == http.MethodGet) {
		kr.Page, kr.Records = true, rt.resource
	}
	return kr
}

func (rt route) export() bool { return rt.kind == "cursor" || rt.kind == "time" }

func exportHook(fn func(resource string)) func(kernel.Route) {
	return func(rt kernel.Route) {
		if rt.Kind == "cursor" || rt.Kind == "time" {
			fn(rt.Resource)
		}
	}
}

// Respond implements kernel.Vendor. Checks run in this order: injected faults, auth (401),
// route (404), the account-wide limit, the export endpoint's limit, then the handler.
func (s *Server) Respond(c *kernel.Call) kernel.Response {
	rt := parseRoute(c.R.Method, c.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := s.handle(c, rt)
	h := resp.hdr
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Rate-Limit", strconv.Itoa(s.opts.AccountRatePerMinute))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(s.k.Remaining(accountWindow, s.accountLimit())))
	return kernel.Response{Status: resp.status, Header: h, Body: resp.body}
}

func (s *Server) accountLimit() kernel.Limit { return kernel.Limit{N: s.opts.AccountRatePerMinute} }

// exportLimit is the limit of an export endpoint: 10 a minute, 20 for the users cursor export.
func (s *Server) exportLimit(rt route) kernel.Limit {
	if rt.kind == "cursor" && rt.resource == "users" {
		return kernel.Limit{N: s.opts.UsersCursorRatePerMinute}
	}
	return kernel.Limit{N: s.opts.RatePerMinute}
}

// handle runs with s.mu held.
func (s *Server) handle(c *kernel.Call, rt route) response {
	r := c.R
	if status, retry := c.Fault(); status != 0 {
		if status == http.StatusTooManyRequests {
			resp := errorBody(http.StatusTooManyRequests, "APIRateLimitExceeded", "Number of allowed API requests per minute exceeded")
			resp.hdr = http.Header{"Retry-After": {strconv.Itoa(max(int(retry/time.Second), 1))}}
			return resp
		}
		code, desc := "InternalError", "Something went wrong. Please try again."
		if status == http.StatusServiceUnavailable {
			code, desc = "ServiceUnavailable", "The server is temporarily unavailable."
		}
		return errorBody(status, code, desc)
	}
	if !s.authorized(r) {
		resp := jsonResponse(http.StatusUnauthorized, map[string]any{"error": "Couldn't authenticate you"})
		resp.hdr = http.Header{"Www-Authenticate": {`Basic realm="Web Password"`}}
		return resp
	}
	if rt.kind == "" {
		return invalidEndpoint()
	}
	if a := c.Take(accountWindow, s.accountLimit(), 1); !a.OK {
		resp := errorBody(http.StatusTooManyRequests, "APIRateLimitExceeded", "Number of allowed API requests per minute exceeded")
		resp.hdr = http.Header{"Retry-After": {strconv.Itoa(a.RetryAfter)}}
		return resp
	}
	if rt.export() {
		if a := c.Take(rt.name, s.exportLimit(rt), 1); !a.OK {
			s.k.Refund(accountWindow, 1)
			resp := errorBody(http.StatusTooManyRequests, "APIRateLimitExceeded", "Number of allowed incremental export API requests per minute exceeded")
			resp.hdr = http.Header{"Retry-After": {strconv.Itoa(a.RetryAfter)}}
			return resp
		}
	}

	base := s.baseURL(r)
	q := r.URL.Query()
	switch rt.kind {
	case "cursor":
		return s.exportCursor(c, rt.resource, q, base)
	case "time":
		return s.exportTime(c, rt.resource, q, base)
	}

	var in map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if c.BodyErr != nil {
			return errorBody(http.StatusBadRequest, "InvalidJSON", "The request body could not be read")
		}
		obj, err := kernel.DecodeObject(c.Body)
		if err != nil {
			return errorBody(http.StatusBadRequest, "InvalidJSON", "The request body is not a valid JSON object")
		}
		in, _ = obj[singular[rt.resource]].(map[string]any)
		if in == nil {
			return errorBody(http.StatusBadRequest, "ParameterMissing", "param is missing or the value is empty: "+singular[rt.resource])
		}
	}
	return s.handleREST(r.Method, rt, q, in, base)
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
	return scheme + "://" + r.Host + s.k.PathPrefix()
}

// directBase is the base of the urls in the values the direct methods return.
func (s *Server) directBase() string { return s.baseURL(nil) }
