package kernel

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBody is the largest request body read; a larger one is Call.BodyErr.
const MaxBody = 1 << 20

// Vendor is a simulator's personality: its routes and answers. Kernel.Serve does the rest.
type Vendor interface {
	// Route names the endpoint of a request. path is the request path with PathPrefix removed,
	// "" when the request is outside it.
	Route(r *http.Request, path string) Route
	// Respond answers a request. It runs without the Kernel's lock held; it calls the Call's
	// methods (Take, Fault, Endless, Shift) at the points of its own order of checks.
	Respond(c *Call) Response
}

// Route identifies the endpoint of a request.
type Route struct {
	// Endpoint names the endpoint in Stats.ByEndpoint, e.g. "GET /api/v2/tickets/{id}".
	Endpoint string
	// Resource is the resource the endpoint serves ("tickets"), "" when none.
	Resource string
	// Kind is the vendor's own classification of the route ("list", "cursor", ...).
	Kind string
	// Page marks a list or export page: the page faults (Latency, Drip, Body, Paging, Shift),
	// the OnPage hook and the in-flight count apply to it.
	Page bool
	// PageNumber is the page a page request asks for, when the vendor pages by number (1 when
	// absent, 0 when invalid); 0 otherwise.
	PageNumber int
	// Records is the gjson path of the records in a page's body ("@this" when the body is the
	// array, "tickets"); BodyTruncated, BodyNoRecords and BodyWrongShape work on it.
	Records string
}

// Response is a vendor's answer. Kernel.Serve adds the Date header (vendor clock),
// Content-Type (JSON unless Header has one) and Content-Length.
type Response struct {
	Status int
	Header http.Header
	Body   []byte // nil: no body
}

// Call is one request being served: what Respond gets.
type Call struct {
	k       *Kernel
	R       *http.Request
	Route   Route
	Path    string // the request path without PathPrefix
	Body    []byte // the request body, at most MaxBody bytes
	BodyErr error  // the body could not be read, or was larger than MaxBody
}

// Take admits the request into a rate window (see Kernel.Take).
func (c *Call) Take(name string, lim Limit, cost int) Admission { return c.k.Take(name, lim, cost) }

// Fault returns the status of an injected failure for this request (FailNext first, then the
// Fail knob), with the Retry-After a 429 carries, or 0. The vendor calls it at the point of its
// order of checks where failures happen, and answers the status in its own error shape.
func (c *Call) Fault() (status int, retryAfter time.Duration) {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	status, retryAfter = c.k.drawFail(c.Route)
	if status != 0 {
		c.k.stats.Injected++
	}
	return status, retryAfter
}

// Endless reports whether this page must say another page follows (PagingEndless). The vendor
// asks once per page request it serves.
func (c *Call) Endless() bool {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	return c.Route.Page && c.k.drawPaging(c.Route, PagingEndless)
}

// Shift reports whether this page must first move a record an earlier page of the walk showed
// (the Shift knob). The vendor asks only for pages after the first of a walk, and picks the
// record with Kernel.IntN.
func (c *Call) Shift() bool {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	return c.Route.Page && c.k.drawShift(c.Route)
}

// Serve serves one request for v: it reads the body, routes it (PathPrefix removed), counts it,
// runs the OnPage hook and the redirect loop of page requests, has v respond, spoils the body of
// 200 pages (Body), then sends the response with the page's Latency and Drip, giving up when the
// client cancels. Every response carries the Date of the vendor's clock.
func (k *Kernel) Serve(w http.ResponseWriter, r *http.Request, v Vendor) {
	c := &Call{k: k, R: r}
	if r.Body != nil {
		c.Body, c.BodyErr = io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
		if c.BodyErr == nil && len(c.Body) > MaxBody {
			c.BodyErr = errors.New("body too large")
		}
	}
	path, ok := strings.CutPrefix(r.URL.Path, k.prefix)
	if !ok {
		path = ""
	}
	c.Path = path
	c.Route = v.Route(r, path)
	rt := c.Route
	k.arrive(rt, walkQuery(r, rt))
	// A page leaves the in-flight count just before its last bytes are written, so that a client
	// that waits for the whole response before its next request is never seen overlapping itself.
	leave := func() {}
	if rt.Page {
		leave = sync.OnceFunc(func() { k.leave(rt) })
		defer leave()
		k.mu.Lock()
		hook := k.onPage
		k.mu.Unlock()
		if hook != nil {
			hook(rt)
		}
	}

	var resp Response
	k.mu.Lock()
	loop := rt.Page && k.drawPaging(rt, PagingRedirectLoop)
	k.mu.Unlock()
	if loop {
		resp = Response{Status: http.StatusFound, Header: http.Header{"Location": {requestURL(r)}}}
	} else {
		resp = v.Respond(c)
	}

	var delay time.Duration
	var drip Drip
	if rt.Page {
		k.mu.Lock()
		if resp.Status == http.StatusOK {
			resp = spoil(resp, k.drawBody(rt), rt.Records)
		}
		delay, drip = k.drawLatency(rt), k.drawDrip(rt)
		k.mu.Unlock()
	}
	k.answered(resp.Status)
	date := k.VendorNow()

	if delay > 0 {
		if err := k.sleep(r.Context(), delay); err != nil {
			k.count(func(st *Stats) { st.Cancelled++ })
			return
		}
	}
	h := w.Header()
	for name, vs := range resp.Header {
		h[name] = vs
	}
	h.Set("Date", date.Format(http.TimeFormat)) // net/http keeps a Date the handler sets
	if resp.Body != nil {
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json; charset=utf-8")
		}
		h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	if resp.Body == nil || r.Method == http.MethodHead {
		leave()
	}
	w.WriteHeader(resp.Status)
	if resp.Body != nil && r.Method != http.MethodHead {
		if drip.Bytes > 0 {
			if !k.dripWrite(w, r, resp.Body, drip, leave) {
				k.count(func(st *Stats) { st.Cancelled++ })
			}
		} else {
			leave()
			_, _ = w.Write(resp.Body)
		}
	}
	k.log.Debug("request", "method", r.Method, "uri", r.URL.RequestURI(), "status", resp.Status)
}

// dripWrite writes body d.Bytes at a time, d.Every apart, flushing each piece, and calls last
// before the last piece; it reports false when the client went away first.
func (k *Kernel) dripWrite(w http.ResponseWriter, r *http.Request, body []byte, d Drip, last func()) bool {
	rc := http.NewResponseController(w)
	for off := 0; off < len(body); off += d.Bytes {
		if off > 0 {
			if err := k.sleep(r.Context(), d.Every); err != nil {
				return false
			}
		}
		if off+d.Bytes >= len(body) {
			last()
		}
		if _, err := w.Write(body[off:min(off+d.Bytes, len(body))]); err != nil {
			return false
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
	}
	return true
}

// requestURL is the absolute URL of r, as the client asked for it.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}
