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
