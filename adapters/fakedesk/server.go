package fakedesk

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
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
	// Seed seeds the generator of sample data.
	Seed int64
	// PathPrefix is removed from request paths before routing and kept in Link headers, so
	// that one HTTP server can host many simulated accounts side by side (base URL
	// http://host/a/17 with PathPrefix "/a/17"); "" means none.
	PathPrefix string
	// Logger receives one debug line per request and per change; nil means no logging.
	Logger hclog.Logger

	// Fault knobs (see the package documentation); all off when zero. Each has a setter.

	// Skew is added to Now to make the vendor's clock: it stamps created_at and updated_at,
	// fills the Date header and drives the rate-limit windows (SetSkew).
	Skew time.Duration
	// VisibleAfter hides a record from list responses until the vendor's clock reaches its
	// updated_at plus VisibleAfter; views see it at once (SetVisibleAfter).
	VisibleAfter time.Duration
	// ShiftDuringWalk is the probability that a ticket or contact list request for page 2 or
	// later first updates (moves to now) a random live record of an earlier page of the same
	// query (SetShiftDuringWalk).
	ShiftDuringWalk float64
	// FailRate is the probability that a request (after rate limiting and FailNext) is answered
	// with a status drawn from FailStatuses (SetFailRate).
	FailRate float64
	// FailStatuses are the statuses FailRate draws from; empty means 429, 500, 502, 503, 504.
	FailStatuses []int
	// OnListPage is called on every list request, outside the lock, before anything else is
	// done with it (see Server.OnListPage).
	OnListPage func(resource string, page int)
}

// Stats counts what the server has seen and holds.
type Stats struct {
	Requests     int            // every request received
	ByEndpoint   map[string]int // e.g. "GET /api/v2/tickets", "PUT /api/v2/tickets/{id}"
	ByStatus     map[int]int    // responses by HTTP status
	RateLimited  int            // 429s sent, injected ones included
	ServerErrors int            // 5xx sent, injected ones included
	Unauthorized int            // 401s sent
	Injected     int            // answers forced by FailNext or FailRate

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
	ErrNotFound   = errors.New("fakedesk: no such record")
	ErrDeleted    = errors.New("fakedesk: record is deleted")
	ErrNotDeleted = errors.New("fakedesk: record is not deleted")
	ErrNotClosed  = errors.New("fakedesk: only closed tickets can be archived")
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
	return "fakedesk: validation failed: " + strings.Join(parts, "; ")
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
	maxBody        = 1 << 20
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
	opts  Options
	clock func() time.Time
	log   hclog.Logger

	mu          sync.Mutex
	apiKey      string
	rng         *rand.Rand
	tickets     map[int64]*record
	ticketSeq   []*record // every ticket, by id ascending (tickets are never removed)
	contacts    map[int64]*record
	companies   map[int64]*record
	agents      map[int64]*record
	groups      map[int64]*record
	nextTicket  int64
	nextContact int64
	nextCompany int64
	nextAgent   int64
	nextGroup   int64

	winStart time.Time
	winUsed  int
	listUsed map[string]int

	failN      int
	failStatus int

	// fault knobs (see Options)
	faultRng        *rand.Rand // FailRate and ShiftDuringWalk draws, seeded from Options.Seed
	skew            time.Duration
	visibleAfter    time.Duration
	shiftDuringWalk float64
	failRate        float64
	failStatuses    []int
	onListPage      func(resource string, page int)

	changes []Change

	stats Stats
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
		opts:        opts,
		clock:       opts.Now,
		log:         opts.Logger,
		apiKey:      opts.APIKey,
		rng:         rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)),
		tickets:     map[int64]*record{},
		contacts:    map[int64]*record{},
		companies:   map[int64]*record{},
		agents:      map[int64]*record{},
		groups:      map[int64]*record{},
		nextTicket:  1,
		nextContact: firstContactID,
		nextCompany: firstCompanyID,
		nextAgent:   firstAgentID,
		nextGroup:   firstGroupID,
		listUsed:    map[string]int{},
		stats:       Stats{ByEndpoint: map[string]int{}, ByStatus: map[int]int{}},

		faultRng:        rand.New(rand.NewPCG(uint64(opts.Seed)^0x5bd1e9955bd1e995, uint64(opts.Seed)+0x2545f4914f6cdd1d)),
		skew:            opts.Skew,
		visibleAfter:    opts.VisibleAfter,
		shiftDuringWalk: opts.ShiftDuringWalk,
		failRate:        opts.FailRate,
		failStatuses:    slices.Clone(opts.FailStatuses),
		onListPage:      opts.OnListPage,
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	return s
}

// now is the vendor's clock in UTC truncated to the second, like Freshdesk's timestamps.
func (s *Server) now() time.Time { return s.vendorClock().Truncate(time.Second) }

// vendorClock is the vendor's clock, Options.Now plus the skew, in UTC.
func (s *Server) vendorClock() time.Time { return s.clock().Add(s.skew).UTC() }

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
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
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
	st.Tickets, st.Contacts = len(s.tickets), len(s.contacts)
	st.Companies, st.Agents, st.Groups = len(s.companies), len(s.agents), len(s.groups)
	for _, r := range s.tickets {
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
	for _, r := range s.contacts {
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
	b, err := appendJSON(nil, v)
	if err != nil {
		b = []byte(`{"code":"internal_error","message":"fakedesk: ` + err.Error() + `"}`)
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
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	var bodyErr error
	if r.Body != nil {
		body, bodyErr = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if bodyErr == nil && len(body) > maxBody {
			bodyErr = errors.New("body too large")
		}
	}
	path, ok := strings.CutPrefix(r.URL.Path, s.opts.PathPrefix)
	if !ok {
		path = "" // outside the account: no route
	}
	rt := parseRoute(r.Method, path)
	if r.Method == http.MethodGet && isListKind(rt.kind) {
		s.mu.Lock()
		fn := s.onListPage
		s.mu.Unlock()
		if fn != nil {
			fn(rt.kind, listPage(r.URL.Query()))
		}
	}

	s.mu.Lock()
	resp, cost := s.handle(r, rt, body, bodyErr)
	s.stats.ByStatus[resp.status]++
	switch {
	case resp.status == http.StatusTooManyRequests:
		s.stats.RateLimited++
	case resp.status == http.StatusUnauthorized:
		s.stats.Unauthorized++
	case resp.status >= 500:
		s.stats.ServerErrors++
	}
	remaining := s.opts.RatePerMinute - s.winUsed
	date := s.vendorClock()
	s.mu.Unlock()

	h := w.Header()
	for k, v := range resp.hdr {
		h[k] = v
	}
	h.Set("X-RateLimit-Total", s.formatRate(s.opts.RatePerMinute))
	h.Set("X-RateLimit-Remaining", s.formatRate(max(remaining, 0)))
	h.Set("X-RateLimit-Used-CurrentRequest", strconv.Itoa(cost))
	h.Set("Date", date.Format(http.TimeFormat)) // net/http keeps a Date the handler sets
	if resp.body != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	}
	w.WriteHeader(resp.status)
	if resp.body != nil && r.Method != http.MethodHead {
		_, _ = w.Write(resp.body)
	}
	s.log.Debug("request", "method", r.Method, "uri", r.URL.RequestURI(), "status", resp.status, "remaining", max(remaining, 0))
}

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

// handle runs with s.mu held.
func (s *Server) handle(r *http.Request, rt route, body []byte, bodyErr error) (response, int) {
	s.stats.Requests++
	s.stats.ByEndpoint[rt.name]++
	now := s.vendorClock()

	// Rate limit: fixed window per clock minute.
	if win := now.Truncate(time.Minute); !win.Equal(s.winStart) {
		s.winStart, s.winUsed = win, 0
		clear(s.listUsed)
	}
	retry := int((s.winStart.Add(time.Minute).Sub(now) + time.Second - 1) / time.Second)
	retry = max(retry, 1)
	tooMany := func() (response, int) {
		resp := jsonResponse(http.StatusTooManyRequests, map[string]string{"message": "You have exceeded the limit of requests per minute"})
		resp.hdr = http.Header{"Retry-After": {strconv.Itoa(retry)}}
		return resp, 1
	}
	if s.winUsed >= s.opts.RatePerMinute {
		return tooMany()
	}
	isList := r.Method == http.MethodGet && (rt.kind == "tickets" || rt.kind == "contacts")
	if isList && s.opts.ListRatePerMinute > 0 && s.listUsed[rt.kind] >= s.opts.ListRatePerMinute {
		return tooMany()
	}
	cost := requestCost(r, rt)
	s.winUsed += cost
	if isList {
		s.listUsed[rt.kind]++
	}

	if status := s.injectFault(); status != 0 {
		s.stats.Injected++
		if status == http.StatusTooManyRequests { // like a real 429: no credits used
			s.winUsed -= cost
			if isList {
				s.listUsed[rt.kind]--
			}
			resp := jsonResponse(http.StatusTooManyRequests, map[string]string{"message": "You have exceeded the limit of requests per minute"})
			resp.hdr = http.Header{"Retry-After": {"1"}}
			return resp, 1
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
		if bodyErr != nil {
			return codeResponse(http.StatusBadRequest, "invalid_json", "Request body has invalid json format"), cost
		}
		fields, err = decodeObject(body)
		if err != nil {
			return codeResponse(http.StatusBadRequest, "invalid_json", "Request body has invalid json format"), cost
		}
	}

	q := r.URL.Query()
	switch rt.kind + " " + r.Method {
	case "tickets GET":
		return s.listTickets(r, q), cost
	case "contacts GET":
		return s.listContacts(r, q), cost
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
		rec := s.tickets[rt.id]
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
		rec := s.tickets[rt.id]
		if rec == nil || !rec.archived {
			return emptyResponse(http.StatusNotFound), cost
		}
		return jsonResponse(http.StatusOK, ticketView(rec)), cost
	case "ticketConversations GET":
		rec := s.tickets[rt.id]
		if rec == nil || rec.archived {
			return emptyResponse(http.StatusNotFound), cost
		}
		return response{status: http.StatusOK, body: []byte("[]")}, cost
	case "contact GET":
		rec := s.contacts[rt.id]
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
	if resp, ok := s.handleDirectory(r, rt, q, fields); ok {
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

// decodeObject decodes a JSON object body, numbers normalised to int64 or float64.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
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
