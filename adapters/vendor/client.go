package vendor

import (
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/engine"
)

const (
	defaultTimeout     = 30 * time.Second
	defaultMaxRetries  = 4
	defaultBaseBackoff = 500 * time.Millisecond
	defaultMaxBackoff  = 30 * time.Second
	defaultUserAgent   = "pollen"
	maxThrottled       = 10       // 429s in a row before giving up
	maxBody            = 64 << 20 // largest page body read
	maxErrorRead       = 64 << 10 // error bodies read for parsing; the rest is drained and dropped
)

// Options configures a Client. Zero values select the defaults noted.
type Options struct {
	// Client sends the requests. nil = one built here: keep-alive, transparent gzip, 16 idle
	// connections per host, redirects followed within the same scheme and host only.
	Client *http.Client
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
	// OnResponse, when set, is called once per HTTP attempt, retries included: with the response's
	// status, or 0 and the error when none arrived. An attempt whose body could not be read
	// reports both its status and the error. It must not block; it is meant for metrics, and sees
	// no URL or header, so no credential.
	OnResponse func(status int, err error)
}

// Client is an engine.Source over HTTP. It is safe for concurrent use; rate budgets are kept per
// base URL across all List calls of one Client, so share one Client per process.
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

	mu      sync.Mutex
	budgets map[string]*budget
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
		budgets:    make(map[string]*budget),
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
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

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 100
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: t,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
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

// listing is the state of one List call.
type listing struct {
	header http.Header // request headers, credentials included; cloned per request
	names  rateHeaders
	budget *budget
	// sizeHint is the previous page's size. (Atomic only for tidiness: a listing is sequential.)
	sizeHint atomic.Int64
}

// List fetches req page by page and calls fn with each page in order. See the package doc.
func (c *Client) List(ctx context.Context, req engine.Request, fn func(engine.Page) error) error {
	first, err := firstURL(&req)
	if err != nil {
		return err
	}
	hdr, err := c.requestHeader(&req)
	if err != nil {
		return err
	}
	l := &listing{header: hdr, names: headersOf(req.RateLimit), budget: c.budgetFor(req.Endpoint.BaseURL)}
	l.sizeHint.Store(l.budget.pageSize.Load())
	defer func() { l.budget.pageSize.Store(l.sizeHint.Load()) }()

	pg := &pager{
		paging:    strings.ToLower(req.Paging.Type),
		pageParam: req.Paging.PageParam,
		pageSize:  req.PageSize,
		first:     first,
		nextPath:  req.Paging.NextPath,
		endPath:   req.Paging.EndPath,
	}
	if pg.pageParam == "" {
		pg.pageParam = "page"
	}
	if pg.paging == "page" {
		first = withParam(first, pg.pageParam, "1")
		pg.first = first
	}

	cur := first
	for n := 1; ; n++ {
		res, err := c.fetch(ctx, l, cur)
		if err != nil {
			return err
		}
		next, hasNext, nextErr := pg.next(n, cur, res)
		page := engine.Page{Number: n, Body: res.body, Header: res.header, HasNext: hasNext, Sent: res.sent}
		if t, err := http.ParseTime(res.header.Get("Date")); err == nil {
			page.Date = t
		}
		if err := fn(page); err != nil {
			return err
		}
		if nextErr != nil {
			return nextErr
		}
		if !hasNext {
			return nil
		}
		if maxPages := req.Paging.MaxPages; maxPages > 0 && n >= maxPages {
			return fmt.Errorf("vendor: GET %s: page %d is beyond the %d-page limit: %w", next.Redacted(), n+1, maxPages, ErrPageCap)
		}
		cur = next
	}
}

// pager applies a listing's paging rules (see the package doc).
type pager struct {
	paging, pageParam string
	nextPath, endPath string // "body" paging
	pageSize          int
	first             *url.URL
	sawLink           bool // an earlier page had a Link rel="next" ("page" paging)
}

// next returns the URL of the page after page n, fetched from cur, and whether the vendor has
// one. err reports a Link rel="next" that cannot be followed; hasNext is then true.
func (p *pager) next(n int, cur *url.URL, res *response) (next *url.URL, hasNext bool, err error) {
	switch p.paging {
	case "link":
		target := nextLink(res.header)
		if target == "" {
			return nil, false, nil
		}
		if next, err = cur.Parse(target); err != nil {
			return nil, true, fmt.Errorf("vendor: GET %s: bad Link rel=\"next\" %q: %w", cur.Redacted(), target, err)
		}
		if !sameOrigin(next, p.first) {
			return nil, true, fmt.Errorf("vendor: GET %s: Link rel=\"next\" leaves %s://%s: %s", cur.Redacted(), p.first.Scheme, p.first.Host, next.Redacted())
		}
		if next.String() == cur.String() {
			return nil, true, fmt.Errorf("vendor: GET %s: Link rel=\"next\" points to the same page", cur.Redacted())
		}
		return next, true, nil
	case "body":
		// The next page's URL is in the body (after_url, next_page), until a flag says the end.
		if p.endPath != "" && gjson.GetBytes(res.body, p.endPath).Bool() {
			return nil, false, nil
		}
		target := gjson.GetBytes(res.body, p.nextPath).String()
		if target == "" {
			return nil, false, nil
		}
		if next, err = cur.Parse(target); err != nil {
			return nil, true, fmt.Errorf("vendor: GET %s: bad next page URL %q in the body: %w", cur.Redacted(), target, err)
		}
		if !sameOrigin(next, p.first) {
			return nil, true, fmt.Errorf("vendor: GET %s: the next page URL leaves %s://%s: %s", cur.Redacted(), p.first.Scheme, p.first.Host, next.Redacted())
		}
		if next.String() == cur.String() {
			return nil, false, nil // the vendor points at the page it just gave: nothing newer
		}
		return next, true, nil
	case "page":
		hasLink := nextLink(res.header) != ""
		switch {
		case emptyPage(res.body):
			return nil, false, nil
		case hasLink:
			p.sawLink = true
		case p.sawLink:
			return nil, false, nil
		default:
			if k, ok := arrayLen(res.body); ok && p.pageSize > 0 && k < p.pageSize {
				return nil, false, nil
			}
		}
		return withParam(cur, p.pageParam, strconv.Itoa(n+1)), true, nil
	default: // "none"
		return nil, false, nil
	}
}

// firstURL builds the first page's URL and validates the request.
func firstURL(req *engine.Request) (*url.URL, error) {
	base := strings.TrimRight(req.Endpoint.BaseURL, "/")
	path := req.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(base + path)
	if err != nil {
		return nil, fmt.Errorf("vendor: bad URL %q: %w", base+path, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("vendor: bad URL %s: want http(s)://host/...", u.Redacted())
	}
	switch strings.ToLower(req.Paging.Type) {
	case "", "none", "link", "page", "body":
	default:
		return nil, fmt.Errorf("vendor: %s: unknown paging type %q", u.Redacted(), req.Paging.Type)
	}
	q := u.Query()
	for k, vs := range req.Query {
		q[k] = append(q[k][:0:0], vs...)
	}
	if req.Paging.SizeParam != "" && req.PageSize > 0 {
		q.Set(req.Paging.SizeParam, strconv.Itoa(req.PageSize))
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// withParam returns a copy of u with query parameter k set to v.
func withParam(u *url.URL, k, v string) *url.URL {
	n := *u
	q := n.Query()
	q.Set(k, v)
	n.RawQuery = q.Encode()
	return &n
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
	body   []byte
	header http.Header
	sent   time.Time // when the successful request was sent (Options.Now)
}

// fetch gets one page, waiting for the rate budget and retrying as the package doc says.
func (c *Client) fetch(ctx context.Context, l *listing, u *url.URL) (*response, error) {
	failures, throttled := 0, 0
	for {
		d, m := l.budget.take(c.now())
		if d > 0 {
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
			hint = l.sizeHint.Load() + l.sizeHint.Load()/16
		}
		if body, err = readBody(resp.Body, maxBody, hint, true); err == nil {
			l.sizeHint.Store(int64(len(body)))
		}
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
	return resp.StatusCode, &response{body: body, header: resp.Header, sent: sent}, nil
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

// retryable reports whether a transport error may pass on a retry.
func retryable(err error) bool {
	if errors.Is(err, errBodyTooLarge) {
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
