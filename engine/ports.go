package engine

import (
	"context"
	"net/http"
	"time"
)

// Clock tells the time and waits. Everything the engine reads of time, and every wait it makes,
// goes through the one Clock a Runtime is given: the poller's now, the scheduler's slots and
// timer, the deliverer's due times and its look at the outbox, a suspension's end. SystemClock is
// the time package's; tests run the engine in a testing/synctest bubble, where that clock is
// virtual, or give it a fake that moves only when told to (FixedClock, moved by hand).
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once d has passed.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a Clock's timer, as a time.Timer: Stop and Reset report whether it was active.
type Timer interface {
	// C delivers the time when the timer fires; nil for a timer of AfterFunc.
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// SystemClock is the time package's clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

// AfterFunc returns time.AfterFunc's timer.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer {
	return systemTimer{time.AfterFunc(d, f)}
}

type systemTimer struct{ t *time.Timer }

func (s systemTimer) C() <-chan time.Time        { return s.t.C }
func (s systemTimer) Stop() bool                 { return s.t.Stop() }
func (s systemTimer) Reset(d time.Duration) bool { return s.t.Reset(d) }

// FixedClock is a clock stopped at T: a trial's or a replayed poll's time. Its timers never fire.
type FixedClock struct{ T time.Time }

// Now returns T.
func (c *FixedClock) Now() time.Time { return c.T }

// NewTimer returns a timer that never fires.
func (c *FixedClock) NewTimer(time.Duration) Timer { return stoppedTimer{} }

// AfterFunc returns a timer that never fires: f is never called.
func (c *FixedClock) AfterFunc(time.Duration, func()) Timer { return stoppedTimer{} }

type stoppedTimer struct{}

func (stoppedTimer) C() <-chan time.Time      { return nil }
func (stoppedTimer) Stop() bool               { return false }
func (stoppedTimer) Reset(time.Duration) bool { return false }

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
	// Fence, when set, is the lease the poll ran under: a store shared by several nodes writes
	// nothing and returns ErrFenced when that lease has moved on or expired.
	Fence *Fence
}

// Store keeps cursors and the outbox.
type Store interface {
	// Cursor returns the job's cursor; ok is false when the job has never committed.
	Cursor(ctx context.Context, key JobKey) (c Cursor, ok bool, err error)
	// CommitPoll writes the poll's events, notifications and cursor atomically.
	CommitPoll(ctx context.Context, c Commit) error
}

// Delivery is a PENDING notification as the deliverer holds it: everything but its body and
// event ids.
type Delivery struct {
	ID         string
	InstanceID int64
	ObjectType string
	Lanes      LaneSet
	Events     int       // how many events it carries
	Attempts   int       // since it was committed or last redelivered
	Due        time.Time // when its next attempt may start
	Seq        int64     // its place in the outbox's order
}

// PendingQuery selects PENDING notifications.
type PendingQuery struct {
	After      int64 // only those with Seq > After
	InstanceID int64 // only this instance's; 0 = every instance's
	Limit      int   // at most this many; <= 0 returns none
}

// DeliveryStop is an instance whose delivery its callback stopped (410 Gone).
type DeliveryStop struct {
	InstanceID int64
	Seq        int64     // of the QUEUED notification whose attempt was answered 410
	At         time.Time // of that attempt
}

// Outbox is the durable queue of notifications: the truth about what is yet to be delivered. The
// deliverer keeps an index of part of it in memory and writes every outcome back, so a crash
// anywhere loses nothing; a notification whose outcome was not recorded is sent again, under the
// same id with the same events.
//
// Order. Seq is a notification's place in the outbox's order: increasing in the order the
// notifications were committed, so that an instance's notifications about one record have
// increasing Seqs, and never reused. A notification made PENDING again by redelivery takes a new
// Seq after every other (the instance's QUEUED notifications keep their relative order). Pending
// relies on it to find what is new: a notification it has not returned yet must never have a
// Seq at or below one it has returned. SQLite's single writer gives that; a store whose
// transactions commit concurrently (PostgreSQL) must return only rows whose writers have
// finished, e.g. those older than pg_snapshot_xmin(pg_current_snapshot()), or take Seq from a
// counter updated by the committing transaction.
//
// Several deliverers. An instance's notifications must be sent by one deliverer at a time: the
// deliverer orders an instance's deliveries in memory, and sends only those of the instances its
// Instances function reports live. Nodes sharing one store (PostgreSQL) must agree on who
// delivers each instance, e.g. the node holding the instance's lease (a lease row claimed with
// FOR UPDATE SKIP LOCKED, renewed, its fencing token checked by RecordAttempt so that a node that
// lost the lease cannot record over the new holder). Pending may return any instance's
// notifications: those of instances not live here are dropped from the index, and read again
// from the outbox when the instance becomes live.
type Outbox interface {
	// Pending returns PENDING notifications that q selects, in Seq order, whether due or not,
	// whatever their instance's state (the deliverer knows which instances are live). QUEUED,
	// delivered and cancelled ones are never returned.
	Pending(ctx context.Context, q PendingQuery) ([]Delivery, error)
	// NotificationBody returns a notification's body, as built when its poll committed.
	NotificationBody(ctx context.Context, id string) ([]byte, error)
	// RecordAttempt records one delivery attempt. a.Next is when to try again; the zero time
	// means the notification is settled (delivered, or given up as a.Status says). A notification
	// settled as QUEUED holds its instance's later notifications: they become QUEUED too (and so
	// do those committed until it is redelivered), so that nothing overtakes it. A notification
	// that became QUEUED that way while it was being sent stays QUEUED unless this attempt
	// delivered it.
	RecordAttempt(ctx context.Context, a Attempt) error
	// RequeueInstance makes an instance's QUEUED notifications PENDING again, due now, with a
	// whole retry schedule ahead, as redelivery does, and returns how many.
	RequeueInstance(ctx context.Context, instanceID int64) (int, error)
	// Stopped returns the instances that have a QUEUED notification whose last attempt was
	// answered 410 Gone (recorded with HTTPStatus 410 and Status QUEUED), each with the latest
	// such notification and attempt.
	Stopped(ctx context.Context) ([]DeliveryStop, error)
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	NotificationID string
	At             time.Time
	HTTPStatus     int
	Error          string
	Status         DeliveryStatus
	Next           time.Time
	// Fence, when set, is the lease the attempt was made under: an outbox shared by several
	// nodes records nothing and returns ErrFenced when that lease has moved on or expired.
	Fence *Fence
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

// Response is a callback's answer to a notification.
type Response struct {
	Status int
	// RetryAfter is how long the callback asked to be left alone (its Retry-After header on a 429
	// or a 503, in seconds or as an HTTP date); 0 when it did not ask.
	RetryAfter time.Duration
}

// Sink sends notifications to callbacks.
type Sink interface {
	// Send POSTs the notification and returns the callback's answer. Any 2xx status is a
	// delivery. An error means no answer (the request could not be made, or timed out).
	Send(ctx context.Context, o Outgoing) (Response, error)
}
