package engine

import (
	"context"
	"net/http"
	"net/url"
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

// Request is one vendor list query, resolved except for paging, which the Source does as Paging
// declares.
type Request struct {
	Endpoint  Endpoint
	Paging    PagingSpec
	RateLimit *RateLimitSpec
	Path      string
	Query     url.Values
	PageSize  int
}

// Page is one page of a vendor list, as received.
type Page struct {
	Number int
	Body   []byte
	Header http.Header
	// HasNext says the vendor has a next page for this query (a Link rel="next", or a full page
	// under page-number paging).
	HasNext bool
	// Date is the vendor's clock at the response (its Date header), zero when unknown.
	Date time.Time
	// Sent is the local time the request was sent, for estimating the vendor's clock skew.
	Sent time.Time
}

// Source lists records at a vendor: it authenticates, pages, respects rate limits and retries
// transient failures. It calls fn for each page in order and stops at the first error fn returns.
type Source interface {
	List(ctx context.Context, req Request, fn func(Page) error) error
}

// VendorStatus is implemented by Source errors that carry the vendor's answer, so that the
// engine can tell a rejected credential (401) or a feature missing from the account's plan (403)
// from a passing fault.
type VendorStatus interface {
	HTTPStatus() int
	VendorCode() string
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
