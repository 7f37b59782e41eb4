// Package kernel is what the vendor simulators (adapters/sim/freshdesk, adapters/sim/zendesk)
// share: the vendor's clock, the fault knobs, rate windows, request statistics, the in-flight
// count of page requests, the change log, a record table and the HTTP plumbing. Each vendor
// keeps only its personality: routes, record shapes, paging, query parameters, errors, limits.
//
// A vendor's ServeHTTP calls Kernel.Serve with itself as the Vendor. Serve reads the request,
// removes PathPrefix, asks the vendor for the Route, counts the request, and for a page (a list
// or export request: Route.Page):
//
//  1. enters the in-flight count (Stats.InFlight, MaxInFlight, by resource) until the response
//     is written;
//  2. runs the OnPage hook, outside every lock;
//  3. answers a 302 to the same URL when PagingRedirectLoop acts;
//  4. otherwise has the vendor Respond: the vendor checks in its own order rate windows
//     (Call.Take), injected failures (Call.Fault), credentials and its parameters, and asks
//     Call.Endless and Call.Shift while it builds the page;
//  5. spoils a 200 page's body (BodyFault), then waits Latency and sends the body (Drip), giving
//     up when the client cancels (Stats.Cancelled).
//
// Every response carries a Date header from the vendor's clock (Options.Now plus Skew).
//
// # Fault knobs
//
// Every knob is off at its zero value, is set in Options at construction or by a setter at run
// time (SetSkew, SetVisibleAfter, SetLatency, SetDrip, SetBody, SetPaging, SetFail, SetShift,
// SetOnPage, FailNext), and is safe for concurrent use. The page knobs and Fail carry a Scope:
// a resource or endpoint they apply to ("" every one), and a number of times they act before
// switching themselves off (0 no limit): Body: BodyFault{Kind: BodyTruncated, Scope:
// Scope{Resource: "tickets", Times: 1}} truncates the next page of tickets. Random draws
// (Latency, Fail, Shift, and Kernel.IntN) come from a generator seeded by Options.Seed.
//
//   - Skew: the vendor's clock runs ahead or behind; it stamps records (Stamp), fills Date and
//     drives the rate windows.
//   - VisibleAfter: replication lag; a vendor hides a record from lists until its updated time
//     plus VisibleAfter (Hidden, HiddenFunc).
//   - Latency: a fixed or uniform wait per page before the headers.
//   - Drip: the body a few bytes at a time.
//   - Body: truncated mid-record, cut before any record, an HTML page, or an object where the
//     records array belongs; always with a 200 and an exact Content-Length.
//   - Paging: endless next pages (the vendor's own way, through Call.Endless), or a same-origin
//     redirect loop.
//   - Fail and FailNext: 429 and 5xx, alone (Rate), in bursts of Burst in a row, or the next n.
//   - Shift: rows move during a walk (the vendor's own way, through Call.Shift).
//   - Burst: changes stamped with one second however long they take: an overfull second.
//
// Rate windows (Take, Refund, Remaining) are fixed windows of the vendor's clock, any number of
// them by name, each with its limit and its Retry-After: a vendor takes the account-wide one and
// an endpoint's own. Stats counts requests by endpoint and status, injected failures, page
// faults by knob, cancelled responses and how many page requests overlapped, per account (one
// Kernel) and per resource, and the pages that show two walks of one resource under way at once
// (WalkOverlaps: see walks.go). Changes is the change log vendors write with Log.
package kernel
