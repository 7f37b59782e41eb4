package engine

import (
	"net/url"
	"time"
)

// Test helpers exported to the external tests and benchmarks (package engine_test), which use
// enginetest's fakes and so cannot live in this package.
var (
	NewTestInstance = testInstance
	TicketPage      = ticketPage
	TicketJSON      = ticketJSON
)

// NewOutboxFake returns the deliverer tests' in-memory Store and Outbox, its clock now, for the
// store contract (outbox_contract_test.go).
func NewOutboxFake(now func() time.Time) interface {
	Store
	Outbox
} {
	return &outboxFake{now: now}
}

// testWalk is a walk of one stream of a poll of job at now from mark, for reading pages into
// directly.
func testWalk(in *Instance, job *JobSpec, stream string, mark *Mark, now time.Time) *walk {
	r := (&Poller{}).newRun(in, job, Cursor{Streams: map[string]*Mark{stream: mark}}, true, now)
	w := r.newWalk(stream)
	r.walks = append(r.walks, w)
	return w
}

// query returns the request URL's query.
func (r Request) query() url.Values {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil
	}
	return u.Query()
}
