package httpsource

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/egress"
)

const (
	defaultTimeout     = 30 * time.Second
	defaultMaxRetries  = 4
	defaultBaseBackoff = 500 * time.Millisecond
	defaultMaxBackoff  = 30 * time.Second
	defaultUserAgent   = "pollen"
	maxThrottled       = 10 // 429s in a row before giving up
	maxRedirects       = 5  // same-origin redirects followed; more is an error, not retried
	defaultMaxWait     = 5 * time.Second
	maxBody            = 64 << 20 // largest page body read
	maxErrorRead       = 64 << 10 // error bodies read for parsing; the rest is drained and dropped
)

// Options configures a Client. Zero values select the defaults noted.
type Options struct {
	// Client sends the requests. nil = one built here: keep-alive, transparent gzip, 16 idle
	// connections per host, redirects followed within the same scheme and host only.
	Client *http.Client
	// Dial, when set, opens the built-in client's connections (an egress policy's guard); a
	// connection it refuses with egress.ErrRefused is not retried.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds one request, body included; 0 = 30s.
	Timeout time.Duration
	// MaxRetries is how many times a page is retried after a 5xx, a timeout or a transport
	// error; 0 = 4, negative = never.
	MaxRetries int
	// BaseBackoff and MaxBackoff shape the exponential backoff with full jitter; 0 = 500ms, 30s.
	BaseBackoff, MaxBackoff time.Duration
	// Sleep waits d or until ctx is done; nil = a real timer. Tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now tells the time for rate budgets and Page.Sent; nil = time.Now.
	Now func() time.Time
	// RateReserve is how many requests of each rate window are left unused (see the package
	// doc); 0 = 1, negative = none.
	RateReserve int
	// Logger receives one Debug line per request; nil = no logging.
	Logger hclog.Logger
	// UserAgent is sent on every request; "" = "pollen".
	UserAgent string
	// MaxWait is the longest a request waits for a rate budget (the account's or its
	// endpoint's); a longer wait is a DeferredError at once, so that a poll ends and goes on at its
	// next turn instead of holding its place; 0 = 5s.
	MaxWait time.Duration
	// OnResponse, when set, is called once per HTTP attempt, retries included: with the response's
	// status, or 0 and the error when none arrived. An attempt whose body could not be read
	// reports both its status and the error. It must not block; it is meant for metrics, and sees
	// no URL or header, so no credential.
	OnResponse func(status int, err error)
}

// Client is an engine.Source over HTTP. It is safe for concurrent use; rate budgets are kept per
// base URL (and endpoint limits per base URL and endpoint) across all requests of one Client, so
// share one Client per process.
type Client struct {
	hc          *http.Client
	timeout     time.Duration
	maxRetries  int
	base, limit time.Duration
	sleep       func(context.Context, time.Duration) error
	now         func() time.Time
	log         hclog.Logger
	userAgent   string
	reserve     int
	onResponse  func(status int, err error)

	maxWait time.Duration

	mu      sync.Mutex
	budgets map[string]*budget
	limits  map[string]*endpointLimit
}

var _ engine.Source = (*Client)(nil)

// New returns a Client configured by opts.
func New(opts Options) *Client {
	c := &Client{
		hc:         opts.Client,
		timeout:    opts.Timeout,
		maxRetries: opts.MaxRetries,
		base:       opts.BaseBackoff,
		limit:      opts.MaxBackoff,
		sleep:      opts.Sleep,
		now:        opts.Now,
		log:        opts.Logger,
		userAgent:  opts.UserAgent,
		reserve:    opts.RateReserve,
		onResponse: opts.OnResponse,
		maxWait:    opts.MaxWait,
		budgets:    make(map[string]*budget),
		limits:     make(map[string]*endpointLimit),
	}
	if c.maxWait <= 0 {
		c.maxWait = defaultMaxWait
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient(opts.Dial)
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.base <= 0 {
		c.base = defaultBaseBackoff
	}
	if c.limit <= 0 {
		c.limit = defaultMaxBackoff
	}
	if c.limit < c.base {
		c.limit = c.base
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent
	}
	if c.onResponse == nil {
		c.onResponse = func(int, error) {}
	}
	switch {
	case c.reserve == 0:
		c.reserve = defaultRateReserve
	case c.reserve < 0:
		c.reserve = 0
	}
	return c
}

func defaultHTTPClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if dial != nil {
		t.DialContext = dial
	}
	t.MaxIdleConns = 100
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: t,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errTooManyRedirects
			}
			if !sameOrigin(r.URL, via[0].URL) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

func (c *Client) budgetFor(baseURL string) *budget {
	key := strings.TrimRight(baseURL, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.budgets[key]
	if !ok {
		b = newBudget(c.reserve)
		c.budgets[key] = b
	}
	return b
}

// Fetch sends one request and returns its page. See the package doc.
func (c *Client) Fetch(ctx context.Context, req engine.Request) (engine.Page, error) {
	u, err := pageURL(&req)
	if err != nil {
		return engine.Page{}, err
	}
	hdr, err := c.requestHeader(&req)
	if err != nil {
		return engine.Page{}, err
	}
	l := &listing{header: hdr, names: headersOf(req.RateLimit), budget: c.budgetFor(req.Endpoint.BaseURL),
		limit: c.limitFor(req.Endpoint.BaseURL, req.Limit), json: req.JSON}
	l.sizeHint = l.budget.pageSize.Load()
	res, err := c.fetch(ctx, l, u)
	if err != nil {
		return engine.Page{}, err
	}
	l.budget.pageSize.Store(int64(len(res.body)))
	pg := engine.Page{URL: u.String(), Status: res.status, Body: res.body, Header: res.header, Sent: res.sent}
	if t, err := http.ParseTime(res.header.Get("Date")); err == nil {
		pg.Date = t
	}
	return pg, nil
}

// listing is the state of one Fetch.
type listing struct {
	header   http.Header // request headers, credentials included; cloned per request
	names    rateHeaders
	budget   *budget
	limit    *endpointLimit // nil: none
	json     bool
	sizeHint int64 // the host's previous page size, to size the body's first read
}

// pageURL validates a request's URL: absolute http(s), on the endpoint's scheme and host, so
// that credentials go nowhere else.
func pageURL(req *engine.Request) (*url.URL, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("vendor: bad URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("vendor: bad URL %s: want an absolute http or https URL", u.Redacted())
	}
	base, err := url.Parse(req.Endpoint.BaseURL)
	if err != nil || !sameOrigin(u, base) {
		return nil, fmt.Errorf("vendor: %s is not on the instance's vendor %s", u.Redacted(), redacted(req.Endpoint.BaseURL))
	}
	return u, nil
}

func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a bad base URL)"
	}
	return u.Redacted()
}

// requestHeader builds the headers every request of a listing carries.
func (c *Client) requestHeader(req *engine.Request) (http.Header, error) {
	h := make(http.Header, 4+len(req.Endpoint.Headers)+len(req.Endpoint.Auth.Headers))
	for k, v := range req.Endpoint.Headers {
		h.Set(k, v)
	}
	h.Set("Accept", "application/json")
	h.Set("User-Agent", c.userAgent)
	auth := req.Endpoint.Auth
	switch strings.ToLower(auth.Type) {
	case "", "none":
	case "basic":
		r := http.Request{Header: h}
		r.SetBasicAuth(auth.Username, auth.Password)
	case "header":
		for k, v := range auth.Headers {
			h.Set(k, v)
		}
	default:
		return nil, fmt.Errorf("vendor: unknown auth type %q", auth.Type)
	}
	return h, nil
}

// response is a page as fetched.
type response struct {
	status int
	body   []byte
	header http.Header
	sent   time.Time // when the successful request was sent (Options.Now)
}

// fetch gets one page, waiting for the rate budgets and retrying as the package doc says.
func (c *Client) fetch(ctx context.Context, l *listing, u *url.URL) (*response, error) {
	failures, throttled := 0, 0
	for {
		if err := c.waitLimit(ctx, l, u); err != nil {
			return nil, err
		}
		d, m := l.budget.take(c.now())
		if d > 0 {
			if d > c.maxWait {
				return nil, &DeferredError{URL: u.Redacted(), Until: c.now().Add(d), Why: "the account's rate budget is spent"}
			}
			c.log.Debug("vendor rate budget spent; waiting", "host", u.Host, "wait", d)
			if err := c.sleep(ctx, d); err != nil {
				return nil, fmt.Errorf("vendor: GET %s: waiting for the rate budget: %w", u.Redacted(), err)
			}
			l.budget.release(m)
			continue
		}

		status, res, err := c.do(ctx, l, u, failures+throttled+1)
		if err != nil {
			l.budget.abandon(m)
		} else if status == http.StatusTooManyRequests {
			d, ok := retryAfter(res.header, l.names.retryAfter, c.now())
			if !ok {
				d = defaultRetryWait
			}
			l.budget.throttle(m, c.now(), d)
		} else {
			c.observe(l, m, u, res.header)
		}
		var last error
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("vendor: GET %s: %w", u.Redacted(), ctx.Err())
			}
			if !retryable(err) {
				return nil, fmt.Errorf("vendor: GET %s: %w", u.Redacted(), err)
			}
			last = err
		case status == http.StatusTooManyRequests:
			throttled++
			serr := newStatusError(http.MethodGet, u.Redacted(), status, res.body)
			if throttled >= maxThrottled {
				return nil, fmt.Errorf("vendor: GET %s: still rate limited after %d 429s in a row: %w", u.Redacted(), throttled, serr)
			}
			c.log.Debug("vendor rate limited", "host", u.Host)
			continue // take waits out the Retry-After
		case status >= 200 && status < 300 && l.json && !gjson.ValidBytes(res.body):
			last = fmt.Errorf("%w: %s", ErrBadBody, describeBody(res.body))
		case status >= 200 && status < 300:
			return res, nil
		case status >= 500:
			last = newStatusError(http.MethodGet, u.Redacted(), status, res.body)
		default:
			return nil, newStatusError(http.MethodGet, u.Redacted(), status, res.body)
		}
		throttled = 0
		failures++
		if failures > c.maxRetries {
			return nil, fmt.Errorf("vendor: GET %s: giving up after %d attempts: %w", u.Redacted(), failures, last)
		}
		d = c.backoff(failures)
		if err := c.sleep(ctx, d); err != nil {
			return nil, fmt.Errorf("vendor: GET %s: backing off after %v: %w", u.Redacted(), last, err)
		}
	}
}

// ErrBadBody is wrapped by the error of a request whose 2xx body is not one complete JSON value
// (cut short, an HTML page, empty) when the request asks for JSON.
var ErrBadBody = errors.New("the body is not complete JSON")

// describeBody says what a body that is not JSON looks like, without repeating much of it.
func describeBody(b []byte) string {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "it is empty"
	case b[0] == '<':
		return fmt.Sprintf("%d bytes of HTML or XML", len(b))
	}
	return fmt.Sprintf("%d bytes that end before the JSON does, or hold something else", len(b))
}

// DeferredError is the error of a request that cannot be sent before Until: a rate budget is
// spent for longer than the Client waits (Options.MaxWait). It implements engine.Deferred, and
// engine.VendorStatus as a 429, so that the hub API answers it as the vendor would.
type DeferredError struct {
	URL   string
	Until time.Time
	Why   string
}

func (e *DeferredError) Error() string {
	return fmt.Sprintf("vendor: GET %s: %s until %s", e.URL, e.Why, e.Until.UTC().Format(time.RFC3339))
}

// DeferredUntil implements engine.Deferred.
func (e *DeferredError) DeferredUntil() time.Time { return e.Until }

// HTTPStatus implements engine.VendorStatus: 429.
func (e *DeferredError) HTTPStatus() int { return http.StatusTooManyRequests }

// VendorCode implements engine.VendorStatus.
func (e *DeferredError) VendorCode() string { return "" }

// VendorMessage implements engine.VendorStatus.
func (e *DeferredError) VendorMessage() string { return e.Why }

var (
	_ engine.Deferred     = (*DeferredError)(nil)
	_ engine.VendorStatus = (*DeferredError)(nil)
)

// observe settles request m with its response's rate headers.
func (c *Client) observe(l *listing, m mark, u *url.URL, h http.Header) {
	if until, spent := l.budget.observe(m, h, l.names, c.now()); spent {
		c.log.Debug("vendor rate budget spent", "host", u.Host, "limit", h.Get(l.names.limit), "until", until)
	}
}

// backoff returns the wait before retry n (1-based): full jitter over an exponential ceiling.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.limit
	if n-1 < 32 {
		if d := c.base << (n - 1); d > 0 && d < ceil {
			ceil = d
		}
	}
	return rand.N(ceil + 1)
}

// do sends one request. For a 2xx it returns the whole body; otherwise at most maxErrorRead bytes.
func (c *Client) do(ctx context.Context, l *listing, u *url.URL, attempt int) (int, *response, error) {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, err
	}
	hr.Header = l.header.Clone()

	sent, start := c.now(), time.Now()
	resp, err := c.hc.Do(hr)
	if err != nil {
		err = unwrapURLError(err)
		c.onResponse(0, err)
		c.log.Debug("vendor request", "method", "GET", "url", u.Redacted(), "attempt", attempt,
			"duration", time.Since(start), "error", err)
		return 0, nil, err
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	var body []byte
	if ok {
		hint := resp.ContentLength
		if hint < 0 {
			hint = l.sizeHint + l.sizeHint/16
		}
		body, err = readBody(resp.Body, maxBody, hint, true)
	} else {
		body, _ = readBody(resp.Body, maxErrorRead, resp.ContentLength, false) // the status is what matters
		_, _ = io.CopyN(io.Discard, resp.Body, maxErrorRead)                   // let the connection be reused
	}
	c.onResponse(resp.StatusCode, err)
	if err != nil {
		c.log.Debug("vendor request", "method", "GET", "url", u.Redacted(), "attempt", attempt,
			"status", resp.StatusCode, "duration", time.Since(start), "error", err)
		return 0, nil, err
	}
	c.log.Debug("vendor request", "method", "GET", "url", u.Redacted(), "attempt", attempt,
		"status", resp.StatusCode, "bytes", len(body), "duration", time.Since(start))
	return resp.StatusCode, &response{status: resp.StatusCode, body: body, header: resp.Header, sent: sent}, nil
}

var errBodyTooLarge = errors.New("response body too large")

// readBody reads at most limit bytes of r; beyond that it fails when fail is set and truncates
// otherwise. hint is the expected size (the Content-Length, else the listing's previous page), so
// that a page is read into one allocation most of the time.
func readBody(r io.Reader, limit int64, hint int64, fail bool) ([]byte, error) {
	if hint <= 0 {
		hint = 4 << 10
	}
	buf := make([]byte, 0, min(hint, limit)+512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			if fail {
				return nil, fmt.Errorf("%w (over %d bytes)", errBodyTooLarge, limit)
			}
			return buf[:limit], nil
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// unwrapURLError drops *url.Error's wrapping: callers add the method and URL themselves.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errTooManyRedirects ends a redirect loop; it is not retried: the next try would loop again.
var errTooManyRedirects = fmt.Errorf("stopped after %d redirects", maxRedirects)

// retryable reports whether a transport error may pass on a retry.
func retryable(err error) bool {
	if errors.Is(err, errBodyTooLarge) || errors.Is(err, errTooManyRedirects) || errors.Is(err, egress.ErrRefused) {
		return false
	}
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
		dns *net.DNSError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		return false
	case errors.As(err, &dns) && dns.IsNotFound:
		return false
	}
	return true
}
