// Package webhook signs and sends event notifications to callback URLs, as the Cloud Elements
// events framework does (shared/reference/cloud-elements-events.md §4). It implements engine.Sink.
//
// A notification is POSTed as is with Content-Type: application/json, Elements-Webhook-Id (always,
// and never empty), Elements-Webhook-Signature (only when a signature key is set) and the
// User-Agent. The signature is "sha256=" + base64(HMAC-SHA256(key, body)); nothing time-based is
// signed, so receivers de-duplicate on message.eventId.
//
// Send returns the response status; a non-2xx status is not an error (the caller decides what to
// retry), transport errors are. On a 429 or a 503 it also returns the callback's Retry-After
// (seconds, or an HTTP date read against the response's Date header when it has one), so that
// the deliverer can leave the callback alone that long. The response body is read (at most 64 KB)
// and discarded so the connection can be reused. The Timeout covers the whole exchange.
//
// Choices: the built-in http.Client does not follow redirects. Following a 301/302/303 would turn
// the POST into a bodiless GET whose 2xx would count as a delivery, and following any redirect
// would hand the signature to another host; a 3xx is returned as the status instead. Logs and
// errors never carry the key or the signature, and show the callback URL without its query and
// userinfo, which often hold tokens.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/engine"
)

// Header names of a notification.
const (
	HeaderID        = "Elements-Webhook-Id"
	HeaderSignature = "Elements-Webhook-Signature"
)

const (
	maxIdleConns     = 1024
	defaultTimeout   = 30 * time.Second
	defaultUserAgent = "pollen"
	maxResponseRead  = 64 << 10
)

// Options configures a Sender. Zero values select the defaults noted.
type Options struct {
	// Client sends the requests; nil = one built here (keep-alive, no redirects followed).
	Client *http.Client
	// Dial, when set, opens the built-in client's connections (an egress policy's guard).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds one delivery, response body included; 0 = 30s.
	Timeout time.Duration
	// Logger receives one Debug line per delivery; nil = no logging.
	Logger hclog.Logger
	// UserAgent is sent on every request; "" = "pollen".
	UserAgent string
}

// Sender POSTs notifications. It is safe for concurrent use.
type Sender struct {
	hc        *http.Client
	timeout   time.Duration
	log       hclog.Logger
	userAgent string
}

var _ engine.Sink = (*Sender)(nil)

// New returns a Sender configured by opts.
func New(opts Options) *Sender {
	s := &Sender{hc: opts.Client, timeout: opts.Timeout, log: opts.Logger, userAgent: opts.UserAgent}
	if s.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Many instances' callbacks often share one host (a customer's endpoint); keep as many
		// connections to it, and over all hosts, as deliveries run at once (the deliverer's
		// default bound), or each delivery beyond the idle limit opens (and then closes) a
		// connection of its own.
		t.MaxIdleConnsPerHost = maxIdleConns
		t.MaxIdleConns = maxIdleConns
		if opts.Dial != nil {
			t.DialContext = opts.Dial
		}
		s.hc = &http.Client{
			Transport: t,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.userAgent == "" {
		s.userAgent = defaultUserAgent
	}
	return s
}

// Send POSTs the notification with its headers and returns the callback's answer: always
// Elements-Webhook-Id; Elements-Webhook-Signature (the current key's) when signed; and, when
// asked, the Standard Webhooks headers with a signature per key.
func (s *Sender) Send(ctx context.Context, o engine.Outgoing) (engine.Response, error) {
	callbackURL, id, body := o.URL, o.ID, o.Body
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return engine.Response{}, fmt.Errorf("webhook: bad callback URL %q", safeURL(callbackURL))
	}
	shown := safeURL(callbackURL)
	if id == "" {
		return engine.Response{}, fmt.Errorf("webhook: POST %s: empty notification id", shown)
	}

	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return engine.Response{}, fmt.Errorf("webhook: POST %s: %w", shown, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set(HeaderID, id)
	if len(o.Keys) > 0 && o.Keys[0] != "" {
		req.Header.Set(HeaderSignature, Sign(o.Keys[0], body))
	}
	if o.StandardWebhooks {
		ts := o.Timestamp
		if ts.IsZero() {
			ts = time.Now()
		}
		setStandardHeaders(req.Header, id, ts, body, o.Keys)
	}

	start := time.Now()
	resp, err := s.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its message repeats the full URL
			err = ue.Err
		}
		s.log.Debug("webhook delivery", "url", shown, "id", id, "duration", time.Since(start), "error", err)
		return engine.Response{}, fmt.Errorf("webhook: POST %s: %w", shown, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
	resp.Body.Close()
	out := engine.Response{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		now := time.Now()
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			now = t // an HTTP date in Retry-After is in the callback's clock
		}
		out.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	s.log.Debug("webhook delivery", "url", shown, "id", id, "status", resp.StatusCode,
		"bytes", len(body), "duration", time.Since(start))
	return out, nil
}

// maxRetryAfter bounds the Retry-After a Sender reports; the deliverer clamps it further.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads a Retry-After value, seconds or an HTTP date (against now): 0 when it is absent,
// unreadable or in the past, at most maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs > 0) { // also NaN
			return 0
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), maxRetryAfter)
}

// safeURL returns raw without its userinfo and query, for logs and errors.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	return u.String()
}

// Sign returns "sha256=" + base64(HMAC-SHA256(key, body)): the Elements-Webhook-Signature value.
func Sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header value in constant time.
func Verify(key string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(key, body)), []byte(signature))
}
