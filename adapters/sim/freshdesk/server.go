package freshdesk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/adapters/sim/kernel"
)

// Ticket is a ticket record in Freshdesk's JSON shape.
type Ticket = map[string]any

// Contact is a contact record in Freshdesk's JSON shape.
type Contact = map[string]any

// Company is a company record in Freshdesk's JSON shape.
type Company = map[string]any

// Agent is an agent record in Freshdesk's JSON shape (with its embedded "contact").
type Agent = map[string]any

// Group is a group record in Freshdesk's JSON shape.
type Group = map[string]any

// Options configures a Server. The zero value is usable.
type Options struct {
	// APIKey is the basic-auth username accepted; "" accepts any non-empty key.
	APIKey string
	// Now is the clock; nil means time.Now. Timestamps are UTC, truncated to the second.
	Now func() time.Time
	// RatePerMinute is the account's requests per minute before 429; 0 means 700.
	RatePerMinute int
	// ListRatePerMinute is the per-minute sub-limit applied separately to Tickets List and
	// Contacts List (Freshdesk: 20/100/200 by plan); 0 means no sub-limit.
	ListRatePerMinute int
	// FloatRateHeaders formats X-RateLimit-Total and X-RateLimit-Remaining as "700.0".
	FloatRateHeaders bool
	// PageCap is the maximum page number of a ticket query; 0 means 300.
	PageCap int
	// DefaultWindow: tickets listed without updated_since are only those created within it; 0 means 30 days.
	DefaultWindow time.Duration
	// Seed seeds the generator of sample data, and apart from it the fault draws.
	Seed int64
	// PathPrefix is removed from request paths before routing and kept in Link headers, so
	// that one HTTP server can host many simulated accounts side by side (base URL
	// http://host/a/17 with PathPrefix "/a/17"); "" means none.
	PathPrefix string
	// Logger receives one debug line per request and per change; nil means no logging.
	Logger hclog.Logger
	// Sleep waits for Latency and Drip (see kernel.Options.Sleep); nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	// Fault knobs (see the package documentation and package kernel); all off when zero. Each
	// has a setter.

	// Skew is added to Now to make the vendor's clock: it stamps created_at and updated_at,
	// fills the Date header and drives the rate-limit windows (SetSkew).
	Skew time.Duration
	// VisibleAfter hides a record from list responses until the vendor's clock reaches its
	// updated_at plus VisibleAfter; views see it at once (SetVisibleAfter).
	VisibleAfter time.Duration
	// ShiftDuringWalk is the probability that a ticket or contact list request for page 2 or
	// later first updates (moves to now) a random live record of an earlier page of the same
	// query (SetShiftDuringWalk; SetShift scopes it).
	ShiftDuringWalk float64
	// FailRate is the probability that a request (after rate limiting and FailNext) is answered
	// with a status drawn from FailStatuses (SetFailRate; SetFail scopes it).
	FailRate float64
	// FailStatuses are the statuses FailRate draws from; empty means 429, 500, 502, 503, 504.
	FailStatuses []int
	// FailBurst makes each failure FailRate draws the first of FailBurst failures in a row.
	FailBurst int
	// Latency delays list pages (SetLatency).
	Latency kernel.Latency
	// Drip sends list pages a few bytes at a time (SetDrip).
	Drip kernel.Drip
	// Body spoils list pages: truncated, cut before any record, HTML, wrong shape (SetBody).
	Body kernel.BodyFault
	// Paging makes list pages endless (a Link to the next page, past the page cap) or a redirect
	// loop (SetPaging).
	Paging kernel.PagingFault
	// OnListPage is called on every list request, outside the lock, before anything else is
	// done with it (see Server.OnListPage).
	OnListPage func(resource string, page int)
}

// Stats counts what the server has seen (the kernel's counters: requests, statuses, faults,
// pages in flight) and holds.
type Stats struct {
	kernel.Stats

	Tickets         int // stored tickets, deleted, spam and archived included
	DeletedTickets  int
	SpamTickets     int
	ArchivedTickets int
	Contacts        int // stored contacts, deleted included
	DeletedContacts int
	Companies       int // stored companies (deletion is a hard delete)
	Agents          int // stored agents (a deleted agent becomes a contact)
	Groups          int // stored groups (deletion is a hard delete)
}

// Sentinel errors of the direct methods.
var (
	ErrNotFound   = errors.New("freshdesk: no such record")
	ErrDeleted    = errors.New("freshdesk: record is deleted")
	ErrNotDeleted = errors.New("freshdesk: record is not deleted")
	ErrNotClosed  = errors.New("freshdesk: only closed tickets can be archived")
)

// FieldError is one entry of a Freshdesk validation error.
type FieldError struct {
	Field          string         `json:"field"`
	Message        string         `json:"message"`
	Code           string         `json:"code"`
	AdditionalInfo map[string]any `json:"additional_info,omitempty"`
}

// ValidationError is Freshdesk's {"description":"Validation failed","errors":[...]} (HTTP 400, or
// 409 for duplicate values).
type ValidationError struct {
	Status int
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return "freshdesk: validation failed: " + strings.Join(parts, "; ")
}

// MarshalJSON renders Freshdesk's body.
func (e *ValidationError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Description string       `json:"description"`
		Errors      []FieldError `json:"errors"`
	}{"Validation failed", e.Errors})
}

const (
	firstContactID = 67042965499
	firstCompanyID = 67000000001 // the ids Seed's contacts use as company_id
	firstAgentID   = 67000100000 // the ids Seed's tickets use as responder_id
	firstGroupID   = 67000200000 // the ids Seed's tickets use as group_id
	maxPerPage     = 100
	defaultPerPage = 30
)

// record is one stored ticket, contact, company, agent or group.
type record struct {
	id      int64
	f       map[string]any // every public field except "deleted"; created_at/updated_at kept in sync
	created time.Time
	updated time.Time
	deleted bool

	// tickets
	spam, archived  bool
	statusUpdatedAt time.Time
	resolvedAt      time.Time
	closedAt        time.Time
	pendingSince    time.Time

	// contacts
	blocked bool
}

// Server is the simulator. It implements http.Handler and is safe for concurrent use.
type Server struct {
	opts Options
	k    *kernel.Kernel
	log  hclog.Logger

	mu        sync.Mutex
	apiKey    string
	rng       *rand.Rand
	tickets   *kernel.Table[record] // tickets are never removed
	contacts  *kernel.Table[record]
	companies *kernel.Table[record]
	agents    *kernel.Table[record]
	groups    *kernel.Table[record]
}

// New returns an empty Server.
func New(opts Options) *Server {
	if opts.RatePerMinute <= 0 {
		opts.RatePerMinute = 700
	}
	if opts.PageCap <= 0 {
		opts.PageCap = 300
	}
	if opts.DefaultWindow <= 0 {
		opts.DefaultWindow = 30 * 24 * time.Hour
	}
	s := &Server{
		opts:      opts,
		apiKey:    opts.APIKey,
		rng:       rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)),
		tickets:   kernel.NewTable[record](1),
		contacts:  kernel.NewTable[record](firstContactID),
		companies: kernel.NewTable[record](firstCompanyID),
		agents:    kernel.NewTable[record](firstAgentID),
		groups:    kernel.NewTable[record](firstGroupID),
	}
	ko := kernel.Options{
		Now: opts.Now, Seed: opts.Seed, PathPrefix: opts.PathPrefix, Logger: opts.Logger, Sleep: opts.Sleep,
		Skew: opts.Skew, VisibleAfter: opts.VisibleAfter,
		Latency: opts.Latency, Drip: opts.Drip, Body: opts.Body, Paging: opts.Paging,
		Fail:  kernel.Fail{Rate: opts.FailRate, Statuses: opts.FailStatuses, Burst: opts.FailBurst},
		Shift: kernel.Shift{Rate: opts.ShiftDuringWalk, Scope: kernel.Scope{Resource: "GET /api/v2/tickets"}},
	}
	if opts.ShiftDuringWalk > 0 {
		ko.Shift.Scope = kernel.Scope{} // tickets and contacts: the only lists that shift
	}
	if opts.OnListPage != nil {
		ko.OnPage = listHook(opts.OnListPage)
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

// SetAPIKey changes the accepted API key ("" accepts any non-empty key), e.g. to simulate a
// rotated key.
func (s *Server) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

// FailNext makes the next n authenticated-or-not requests (after rate limiting) answer status
// (e.g. 500 or 503) with a Freshdesk-style error body; a 429 gets the rate-limit body and
// Retry-After: 1 and, like a real 429, uses no credits.
func (s *Server) FailNext(n, status int) { s.k.FailNext(n, status) }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{Stats: s.k.Stats()}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Tickets, st.Contacts = s.tickets.Len(), s.contacts.Len()
	st.Companies, st.Agents, st.Groups = s.companies.Len(), s.agents.Len(), s.groups.Len()
	for _, r := range s.tickets.Rows() {
		if r.deleted {
			st.DeletedTickets++
		}
		if r.spam {
			st.SpamTickets++
		}
		if r.archived {
			st.ArchivedTickets++
		}
	}
	for _, r := range s.contacts.Rows() {
		if r.deleted {
			st.DeletedContacts++
		}
	}
	return st
}

// response is computed under the lock and written after it is released.
type response struct {
	status int
	hdr    http.Header
	body   []byte
}

func jsonResponse(status int, v any) response {
	b, err := kernel.AppendJSON(nil, v)
	if err != nil {
		b = []byte(`{"code":"internal_error","message":"freshdesk: ` + err.Error() + `"}`)
		status = http.StatusInternalServerError
	}
	return response{status: status, body: b}
}

func codeResponse(status int, code, msg string) response {
	return jsonResponse(status, map[string]string{"code": code, "message": msg})
}

func emptyResponse(status int) response { return response{status: status} }

// route identifies an endpoint.
type route struct {
	name    string   // "GET /api/v2/tickets/{id}" (stats key)
	kind    string   // tickets, ticket, ticketRestore, ticketConversations, archivedTicket, contacts, contact, contactRestore, companies, company, agents, agent, groups, group
	id      int64    // for single-record routes
	allowed []string // methods the path accepts; nil when the path is unknown
}

func parseRoute(method, path string) route {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	unknown := route{name: method + " (unknown)"}
	if len(seg) < 3 || seg[0] != "api" || seg[1] != "v2" || strings.HasSuffix(path, "//") {
		return unknown
	}
	res := seg[2]
	single, ok := singular[res]
	if !ok {
		return unknown
	}
	base := "/api/v2/" + res
	rt := route{}
	switch {
	case len(seg) == 3:
		rt = route{name: base, kind: res, allowed: []string{"GET", "POST"}}
	case len(seg) == 5 && res == "tickets" && seg[3] == "archived":
		id, err := strconv.ParseInt(seg[4], 10, 64)
		if err != nil {
			return unknown
		}
		rt = route{name: base + "/archived/{id}", kind: "archivedTicket", id: id, allowed: []string{"GET"}}
	case len(seg) == 4 || len(seg) == 5:
		id, err := strconv.ParseInt(seg[3], 10, 64)
		if err != nil || id <= 0 {
			return unknown
		}
		switch {
		case len(seg) == 4:
			rt = route{name: base + "/{id}", kind: single, id: id, allowed: []string{"GET", "PUT", "DELETE"}}
		case seg[4] == "restore" && (res == "tickets" || res == "contacts"):
			rt = route{name: base + "/{id}/restore", kind: single + "Restore", id: id, allowed: []string{"PUT"}}
		case seg[4] == "conversations" && res == "tickets":
			rt = route{name: base + "/{id}/conversations", kind: "ticketConversations", id: id, allowed: []string{"GET"}}
		default:
			return unknown
		}
	default:
		return unknown
	}
	rt.name = method + " " + rt.name
	return rt
}

// singular names the single-record route kind of each resource.
var singular = map[string]string{"tickets": "ticket", "contacts": "contact", "companies": "company", "agents": "agent", "groups": "group"}

// bodyKinds are the route kinds whose POST and PUT carry a JSON body.
var bodyKinds = []string{"tickets", "ticket", "contacts", "contact", "companies", "company", "agents", "agent", "groups", "group"}

func (rt route) allows(method string) bool {
	for _, m := range rt.allowed {
		if m == method {
			return true
		}
	}
	return false
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.k.Serve(w, r, s) }

// Route implements kernel.Vendor: GETs of the five list routes are pages.
func (s *Server) Route(r *http.Request, path string) kernel.Route {
	rt := parseRoute(r.Method, path)
	kr := kernel.Route{Endpoint: rt.name, Resource: resourceOf(rt.kind), Kind: rt.kind}
	if r.Method == http.MethodGet && isListKind(rt.kind) {
		kr.Page, kr.PageNumber, kr.Records = true, listPage(r.URL.Query()), "@this"
	}
	return kr
}

// Respond implements kernel.Vendor.
func (s *Server) Respond(c *kernel.Call) kernel.Response {
	rt := parseRoute(c.R.Method, c.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	resp, cost := s.handle(c, rt)
	h := resp.hdr
	if h == nil {
		h = http.Header{}
	}
	remaining := s.k.Remaining(accountWindow, s.accountLimit())
	h.Set("X-RateLimit-Total", s.formatRate(s.opts.RatePerMinute))
	h.Set("X-RateLimit-Remaining", s.formatRate(remaining))
	h.Set("X-RateLimit-Used-CurrentRequest", strconv.Itoa(cost))
	return kernel.Response{Status: resp.status, Header: h, Body: resp.body}
}

// resourceOf is the resource a route kind serves: "tickets" for ticket, ticketRestore, ...
func resourceOf(kind string) string {
	for res, single := range singular {
		if kind == res || strings.HasPrefix(kind, single) {
			return res
		}
	}
	if kind == "archivedTicket" {
		return "tickets"
	}
	return ""
}

// The rate windows: the account's, and the Tickets List and Contacts List sub-limits.
const accountWindow = "account"

func (s *Server) accountLimit() kernel.Limit { return kernel.Limit{N: s.opts.RatePerMinute} }

func (s *Server) formatRate(n int) string {
	if s.opts.FloatRateHeaders {
		return strconv.Itoa(n) + ".0"
	}
	return strconv.Itoa(n)
}

// requestCost is the credits a request uses: 1, plus 2 per valid include on ticket reads.
func requestCost(r *http.Request, rt route) int {
	if r.Method != http.MethodGet || (rt.kind != "tickets" && rt.kind != "ticket") {
		return 1
	}
	inc := r.URL.Query().Get("include")
	if inc == "" {
		return 1
	}
	seen := map[string]bool{}
	for _, v := range strings.Split(inc, ",") {
		v = strings.TrimSpace(v)
		if includeAllowed(rt.kind, v) {
			seen[v] = true
		}
	}
	return 1 + 2*len(seen)
}

func includeAllowed(kind, v string) bool {
	switch v {
	case "requester", "stats", "company":
		return true
	case "description":
		return kind == "tickets"
	case "conversations":
		return kind == "ticket"
	}
	return false
}

// handle runs with s.mu held: rate limit, injected faults, auth, Accept, route, body, then the
// endpoint. It returns the response and the credits the request used.
func (s *Server) handle(c *kernel.Call, rt route) (response, int) {
	r := c.R
	tooMany := func(retry int) (response, int) {
		resp := jsonResponse(http.StatusTooManyRequests, map[string]string{"message": "You have exceeded the limit of requests per minute"})
		resp.hdr = http.Header{"Retry-After": {strconv.Itoa(retry)}}
		return resp, 1
	}
	cost := requestCost(r, rt)
	a := c.Take(accountWindow, s.accountLimit(), cost)
	if !a.OK {
		return tooMany(a.RetryAfter)
	}
	isList := r.Method == http.MethodGet && (rt.kind == "tickets" || rt.kind == "contacts")
	listWindow := rt.kind + " list"
	if isList && s.opts.ListRatePerMinute > 0 {
		if l := c.Take(listWindow, kernel.Limit{N: s.opts.ListRatePerMinute}, 1); !l.OK {
			s.k.Refund(accountWindow, cost)
			return tooMany(l.RetryAfter)
		}
	}

	if status, retry := c.Fault(); status != 0 {
		if status == http.StatusTooManyRequests { // like a real 429: no credits used
			s.k.Refund(accountWindow, cost)
			if isList && s.opts.ListRatePerMinute > 0 {
				s.k.Refund(listWindow, 1)
			}
			return tooMany(max(int(retry/time.Second), 1))
		}
		code := "internal_error"
		msg := "We're sorry, but something went wrong."
		if status == http.StatusServiceUnavailable {
			code, msg = "service_unavailable", "The server is temporarily unavailable."
		}
		return codeResponse(status, code, msg), cost
	}

	if !s.authorized(r) {
		return codeResponse(http.StatusUnauthorized, "invalid_credentials", "You have to be logged in to perform this action."), cost
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		return codeResponse(http.StatusNotAcceptable, "invalid_accept_header", "Only 'application/json' and '*/*' are supported in 'Accept' header."), cost
	}
	if rt.allowed == nil {
		return emptyResponse(http.StatusNotFound), cost
	}
	if !rt.allows(r.Method) {
		resp := jsonResponse(http.StatusMethodNotAllowed, map[string]string{
			"message": fmt.Sprintf("%s Method is not allowed. It should be one of these method(s): %s", r.Method, strings.Join(rt.allowed, ", ")),
		})
		resp.hdr = http.Header{"Allow": {strings.Join(rt.allowed, ", ")}}
		return resp, cost
	}

	// Bodies of creates and updates.
	var fields map[string]any
	if (r.Method == http.MethodPost || r.Method == http.MethodPut) && contains(bodyKinds, rt.kind) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return codeResponse(http.StatusUnsupportedMediaType, "invalid_content_type", "Content-Type header should have application/json"), cost
		}
		if c.BodyErr != nil {
			return codeResponse(http.StatusBadRequest, "invalid_json", "Request body has invalid json format"), cost
		}
		fields, err = kernel.DecodeObject(c.Body)
		if err != nil {
			return codeResponse(http.StatusBadRequest, "invalid_json", "Request body has invalid json format"), cost
		}
	}

	q := r.URL.Query()
	switch rt.kind + " " + r.Method {
	case "tickets GET":
		return s.listTickets(c, q), cost
	case "contacts GET":
		return s.listContacts(c, q), cost
	case "tickets POST":
		rec, err := s.createTicketLocked(fields, false, s.rng)
		if err != nil {
			return errorResponse(err), cost
		}
		return jsonResponse(http.StatusCreated, ticketView(rec)), cost
	case "contacts POST":
		rec, err := s.createContactLocked(fields, false, s.rng)
		if err != nil {
			return errorResponse(err), cost
		}
		return jsonResponse(http.StatusCreated, contactView(rec, true)), cost
	case "ticket GET":
		rec := s.tickets.Get(rt.id)
		if rec == nil || rec.archived {
			return emptyResponse(http.StatusNotFound), cost
		}
		if resp, ok := s.checkQuery(q, "include"); !ok {
			return resp, cost
		}
		v := ticketView(rec)
		if errs := s.addIncludes(v, rec, q.Get("include"), "ticket"); errs != nil {
			return jsonResponse(http.StatusBadRequest, &ValidationError{Errors: errs}), cost
		}
		return jsonResponse(http.StatusOK, v), cost
	case "archivedTicket GET":
		rec := s.tickets.Get(rt.id)
		if rec == nil || !rec.archived {
			return emptyResponse(http.StatusNotFound), cost
		}
		return jsonResponse(http.StatusOK, ticketView(rec)), cost
	case "ticketConversations GET":
		rec := s.tickets.Get(rt.id)
		if rec == nil || rec.archived {
			return emptyResponse(http.StatusNotFound), cost
		}
		return response{status: http.StatusOK, body: []byte("[]")}, cost
	case "contact GET":
		rec := s.contacts.Get(rt.id)
		if rec == nil {
			return emptyResponse(http.StatusNotFound), cost
		}
		return jsonResponse(http.StatusOK, contactView(rec, true)), cost
	case "ticket PUT":
		rec, err := s.updateTicketLocked(rt.id, fields, false)
		if err != nil {
			return errorResponse(err), cost
		}
		return jsonResponse(http.StatusOK, ticketView(rec)), cost
	case "contact PUT":
		rec, err := s.updateContactLocked(rt.id, fields, false)
		if err != nil {
			return errorResponse(err), cost
		}
		return jsonResponse(http.StatusOK, contactView(rec, true)), cost
	case "ticket DELETE":
		return errorResponseOr(s.setDeletedLocked(s.tickets, "ticket", rt.id, true), http.StatusNoContent), cost
	case "contact DELETE":
		return errorResponseOr(s.setDeletedLocked(s.contacts, "contact", rt.id, true), http.StatusNoContent), cost
	case "ticketRestore PUT":
		return errorResponseOr(s.setDeletedLocked(s.tickets, "ticket", rt.id, false), http.StatusNoContent), cost
	case "contactRestore PUT":
		return errorResponseOr(s.setDeletedLocked(s.contacts, "contact", rt.id, false), http.StatusNoContent), cost
	}
	if resp, ok := s.handleDirectory(c, rt, q, fields); ok {
		return resp, cost
	}
	return emptyResponse(http.StatusNotFound), cost
}

func errorResponse(err error) response {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		st := ve.Status
		if st == 0 {
			st = http.StatusBadRequest
		}
		return jsonResponse(st, ve)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrDeleted), errors.Is(err, ErrNotDeleted), errors.Is(err, ErrNotClosed):
		return emptyResponse(http.StatusNotFound)
	}
	return codeResponse(http.StatusInternalServerError, "internal_error", err.Error())
}

func errorResponseOr(err error, status int) response {
	if err != nil {
		return errorResponse(err)
	}
	return emptyResponse(status)
}

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
	user, _, _ := strings.Cut(string(raw), ":")
	if user == "" {
		return false
	}
	return s.apiKey == "" || user == s.apiKey
}

// acceptsJSON reports whether the Accept header values allow application/json.
func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	empty := true
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			empty = false
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
					continue
				}
			}
			if mt == "*/*" || mt == "application/*" || mt == "application/json" {
				return true
			}
		}
	}
	return empty
}
