package engine

import (
	"context"
	"net/http"
	"time"
)

// Clock tells the time. Tests use a fake one instead of sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Request is one vendor request: one page, its URL fully built by the resource's pager (the
// fixed query, the where parameters, the page or the vendor's next-page link), and what the
// Source needs to send it: the instance's endpoint and credentials and the rate limits to respect.
type Request struct {
	Endpoint Endpoint
	// URL is the page's absolute URL, query included. It always lies under Endpoint.BaseURL.
	URL string
	// RateLimit names the element's account-wide rate-limit headers; nil = the defaults.
	RateLimit *RateLimitSpec
	// Limit is the resource endpoint's own budget, beside the account-wide one (some vendors'
	// incremental exports: 10 requests a minute); nil = none. Requests of one endpoint of one
	// account (base URL and Limit.Key) share it.
	Limit *EndpointLimit
	// JSON says the body must be one complete JSON value: one that is not (truncated, an HTML
	// error page with a 200) is a failed request, retried like a 5xx.
	JSON bool
}

// EndpointLimit is a budget of requests per period for one vendor endpoint.
type EndpointLimit struct {
	Key      string // the endpoint, e.g. the resource's vendor path
	Requests int
	Per      time.Duration
}

// Page is one vendor response, as received.
type Page struct {
	URL    string // the URL that was asked for
	Status int    // the HTTP status of the answer; 0 when the Source does not say
	Body   []byte
	Header http.Header
	// Date is the vendor's clock at the response (its Date header), zero when unknown.
	Date time.Time
	// Sent is the local time the request was sent, for estimating the vendor's clock skew.
	Sent time.Time
}

// Source fetches pages from vendors: one request per call. It authenticates, waits for the
// account's (and the endpoint's) rate budget, retries transient failures (5xx, timeouts, resets,
// 429 after Retry-After, a 2xx body that is not complete JSON when Request.JSON is set), and
// returns the first page that succeeds or the error that ended the tries. Paging is the engine's:
// the caller builds every URL.
type Source interface {
	Fetch(ctx context.Context, req Request) (Page, error)
}

// Deferred is implemented by Source errors that say a request cannot be sent before a time (the
// rate budget is spent for longer than a poll should wait): the poll stops there, commits what it
// has read, and goes on at its next turn. It is no failure.
type Deferred interface {
	DeferredUntil() time.Time
}

// VendorStatus is implemented by Source errors that carry the vendor's answer, so that the
// engine can tell a rejected credential (401) or a feature missing from the account's plan (403)
// from a passing fault.
type VendorStatus interface {
	HTTPStatus() int
	VendorCode() string
	// VendorMessage is the vendor's own explanation, when its error body gave one.
	VendorMessage() string
}

// JobKey names one (instance, object type) job.
type JobKey struct {
	InstanceID int64
	ObjectType string
}

// Commit is what one poll writes: its events, the notifications that carry them, and the advanced
// cursor. A Store writes a Commit in one transaction or not at all.
type Commit struct {
	Key           JobKey
	Cursor        Cursor
	Events        []Event
	Notifications []Notification
}

// Store keeps cursors and the outbox.
type Store interface {
	// Cursor returns the job's cursor; ok is false when the job has never committed.
	Cursor(ctx context.Context, key JobKey) (c Cursor, ok bool, err error)
	// CommitPoll writes the poll's events, notifications and cursor atomically.
	CommitPoll(ctx context.Context, c Commit) error
}

// Delivery is a notification due to be sent.
type Delivery struct {
	Notification
	Attempts int
	// Seq is the notification's place in the outbox's order, for asking for the due ones after it.
	Seq int64
}

// Outbox hands out notifications to deliver and records how their delivery went.
type Outbox interface {
	// DueDeliveries returns up to limit notifications whose next attempt is due at now, oldest
	// first, at most the oldest pending one per instance so that an instance's notifications
	// arrive in order, and only those after the one with Seq after (0: from the start), so that a
	// caller that cannot send the first ones can look past them. Their Body is left out:
	// NotificationBody reads it for the ones that are sent.
	DueDeliveries(ctx context.Context, now time.Time, after int64, limit int) ([]Delivery, error)
	// NotificationBody returns a notification's body, as built when its poll committed.
	NotificationBody(ctx context.Context, id string) ([]byte, error)
	// RecordAttempt records one delivery attempt. next is when to try again; the zero time
	// means the notification is settled (delivered, or given up as Status says).
	RecordAttempt(ctx context.Context, a Attempt) error
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	NotificationID string
	At             time.Time
	HTTPStatus     int
	Error          string
	Status         DeliveryStatus
	Next           time.Time
}

// DeliveryStatus is where a notification stands.
type DeliveryStatus string

// Delivery statuses.
const (
	StatusPending   DeliveryStatus = "PENDING"
	StatusDelivered DeliveryStatus = "NOTIFIED"
	StatusFailed    DeliveryStatus = "FAILED"
	StatusQueued    DeliveryStatus = "QUEUED"
)

// Outgoing is one notification on its way to a callback.
type Outgoing struct {
	URL  string
	ID   string // message.eventId: Elements-Webhook-Id, and webhook-id
	Body []byte
	// Keys sign the body: the current signature key first, then, during a rotation, the previous
	// one. None: unsigned.
	Keys []string
	// StandardWebhooks adds the Standard Webhooks headers (webhook-id, webhook-timestamp,
	// webhook-signature over id.timestamp.body, one signature per key), so that receivers can
	// reject replays.
	StandardWebhooks bool
	Timestamp        time.Time
}

// Sink sends notifications to callbacks.
type Sink interface {
	// Send POSTs the notification and returns the HTTP status. Any 2xx status is a delivery.
	Send(ctx context.Context, o Outgoing) (status int, err error)
}
