// Package zendesk is an in-memory simulator of the Zendesk Support API as a poller meets it:
// the incremental exports (cursor-based for tickets and users, time-based for organizations,
// tickets and users) and the REST views of tickets, users and organizations. It backs
// `pollen demo --element zendesk` and the tests, beside adapters/sim/freshdesk, on the shared
// kernel (adapters/sim/kernel), which gives it every fault knob.
//
// A *Server is an http.Handler and is safe for concurrent use. Tests and the demo change its
// data through the REST surface or the direct methods (CreateTicket, UpdateTicket, DeleteTicket,
// CreateUser, ..., Seed, Mutate), which share the same validation and effects. It is
// deterministic for Options.Seed and the clock.
//
// # Surface
//
// A ".json" suffix is optional on every path.
//
//	GET    /api/v2/incremental/tickets/cursor.json  start_time or cursor; per_page, exclude_deleted
//	GET    /api/v2/incremental/users/cursor.json    start_time or cursor; per_page
//	GET    /api/v2/incremental/organizations.json   start_time; per_page (time-based)
//	GET    /api/v2/incremental/tickets.json         start_time; per_page, exclude_deleted (time-based)
//	GET    /api/v2/incremental/users.json           start_time; per_page (time-based)
//	GET    /api/v2/{tickets,users,organizations}.json          list live records (page, per_page <= 100)
//	POST   /api/v2/{tickets,users,organizations}.json          create: {"ticket": {...}} -> 201 {"ticket": {...}}
//	GET    /api/v2/{tickets,users,organizations}/{id}.json     view -> {"ticket": {...}}
//	PUT    /api/v2/{tickets,users,organizations}/{id}.json     update -> 200 {"ticket": {...}}
//	DELETE /api/v2/{tickets,organizations}/{id}.json           soft delete -> 204
//	DELETE /api/v2/users/{id}.json                             soft delete -> 200 {"user": {..., "active": false}}
//
// # Facts taken from Zendesk's documentation
//
//   - Cursor export body: {"tickets": [...], "after_url", "after_cursor", "before_url",
//     "before_cursor", "end_of_stream"}; the first request takes start_time (Unix seconds), the
//     next ones cursor=after_cursor, and after_cursor is still given with end_of_stream true so
//     a poller resumes from it. Time-based body: {"organizations": [...], "next_page",
//     "end_time", "count", "end_of_stream"}, next_page being start_time=end_time.
//   - Items created or changed within the minute before the request are excluded, and a
//     start_time must be at least one minute old (Options.MinAge).
//   - Rate limits: each incremental export endpoint allows 10 requests a minute
//     (Options.RatePerMinute), the cursor-based user export 20 (UsersCursorRatePerMinute),
//     apart from the account-wide limit of every request (AccountRatePerMinute, 700 on
//     Enterprise) that X-Rate-Limit and X-Rate-Limit-Remaining report on every response. Beyond
//     either: 429 with Retry-After. At most 1000 items a page.
//   - Ticket exports compare start_time with, and order by, generated_timestamp, which moves on
//     every change of the ticket, system updates included (TouchTicket: updated_at stays).
//     Users and organizations order by updated_at.
//   - Time-based pages hold at most per_page items and end_time is the time of the last one;
//     next_page is start_time=end_time, so items at end_time come again (duplicates). When more
//     items than a page holds share one second, the page at that second has end_time equal to
//     its start_time and next_page is the same request: a client must move past that second
//     itself (the items beyond the page are out of reach of time-based paging).
//   - Deleted tickets stay in the ticket export with status "deleted" (exclude_deleted=true
//     leaves them out); deleted users stay in the user export with "active": false.
//   - API-token basic auth: username "{email}/token", password the token. A failure is a 401
//     {"error":"Couldn't authenticate you"}. Tickets carry generated_timestamp in the exports.
//
// # Choices where the documentation is silent or the brief left it open
//
//   - Records are held as maps with every field of Zendesk's shape; empty fields are null,
//     empty lists []; ids are int64, timestamps "2024-03-01T10:00:00Z". Values returned by the
//     direct methods are deep copies, with urls on Options.BaseURL (default
//     https://pollen.zendesk.com); over HTTP, urls and links use BaseURL, else the request's
//     scheme and host and PathPrefix.
//   - Export order: generated_timestamp (tickets) or updated_at ascending, ties by id. A cursor
//     is an opaque token for the position (time, id) of the last record returned (URL-safe base64 of
//     "<unix>.0||<id>|"); a request with it returns every record after that position, so a
//     record updated again moves after the cursor and is exported again. With start_time, the
//     position is "just before start_time" (time >= start_time). An empty page keeps the
//     position. before_cursor is the request's cursor (null on a start_time request); following
//     it re-exports that page (walking backwards is not simulated).
//   - A record is exported once its time is at least MinAge old (at least one second with a
//     negative MinAge), never before: since changes are stamped with the clock, nothing can
//     later appear at or before a position a poller has passed, which is why a cursor is safe.
//   - start_time more recent than now-MinAge, missing or not an integer: 400
//     {"error":"InvalidValue","description":"Too recent start_time. Use a start_time older than
//     1 minute"} (or a like message). An undecodable cursor or a bad per_page: 400
//     InvalidPaginationParameter. per_page above 1000 is capped. Unknown query parameters are
//     ignored, as Zendesk does.
//   - end_of_stream is true when the page holds every item exportable now (a time-based page
//     of exactly per_page items that are all there is says true). An empty time-based page has
//     end_time = start_time.
//   - Rate windows are fixed windows of the vendor's clock minute; every authenticated, routed
//     request counts in the account's (400s too), every such export request in its endpoint's;
//     429s count in neither. The export 429 body is {"error":"APIRateLimitExceeded",
//     "description":"Number of allowed incremental export API requests per minute exceeded"},
//     the account one says "API requests". The export limits are not reported in headers.
//   - Checks run in this order: injected failures, auth (401), route (404
//     {"error":"InvalidEndpoint"}), the account's window, the export endpoint's window, then the
//     handler. Missing or deleted records: 404
//     {"error":"RecordNotFound","description":"Not found"}; validation errors: 422
//     {"error":"RecordInvalid","description":"Record validation errors","details":{field:
//     [{"description","error"}]}}; a body without its wrapper: 400 ParameterMissing.
//     Unknown body fields are ignored.
//   - Deletion is soft and bumps updated_at. A deleted ticket or organization answers 404 over
//     REST and refuses updates (ErrDeleted); a deleted user stays readable with active false. A
//     deleted organization shows deleted_at and its users lose organization_id (their updated_at
//     moves). Closed tickets cannot be updated (422). An update that changes nothing leaves
//     updated_at alone; a comment counts as a change (comments themselves are not stored,
//     except the first one, which is the description).
//   - Ticket creation over REST needs comment.body; the requester is requester_id, else
//     "requester": {"name","email"} (found by email or created), else the oldest admin or agent.
//     organization_id defaults to the requester's; a ticket given an assignee and no status is
//     "open". Assignees must be agents or admins, referenced users and organizations must exist.
//     User emails are unique (422 DuplicateValue), organization names too.
//   - Direct Create* methods panic on invalid fields and generate what is missing; they also
//     accept created_at and updated_at (time.Time or RFC 3339), and for tickets description,
//     via, recipient, satisfaction_rating, has_incidents, for users last_login_at.
//   - Ids: tickets from 1, users from 9000000001, organizations from 7000000001. Groups, custom
//     fields, brand and ticket form are fixed ids (not simulated as records).
//   - Mutate and the generators use math/rand/v2.
//
// # Fault knobs
//
// Every knob of package kernel, set in Options or by a setter, all off by default: Skew (the
// vendor's clock stamps records, the Date header and the rate windows), VisibleAfter, Latency,
// Drip, Body (truncated, cut before any record, HTML, wrong shape at the records key), Paging
// (endless exports: end_of_stream false with their next URL; a redirect loop), Fail and
// FailNext (429 and 5xx, alone or in bursts; an injected 429 carries Retry-After: 1), Shift
// (an export request past the start of a walk, a cursor request or any time-based one, first
// updates a record the walk has passed: it moves to the end of the order). Kernel() gives the
// kernel itself for scoped knobs and the in-flight statistics. Export and REST list requests
// are the pages the page faults act on.
//
//   - BurstCreate and BurstUpdate make many changes in one second of the vendor's clock: more
//     than a time-based page holds, the end_time-equals-start_time case.
//   - OnExport (Options or method): a hook run before each export request, to change records
//     between the pages of a walk.
//   - SetCredentials rotates the accepted token; MinAge and the rate options set the lag and
//     the limits.
//   - Changes returns the change log (created / updated / deleted, with updated_at), from which
//     a test derives the events a poller must deliver; Stats counts requests, export requests,
//     429s, 401s, faults and pages in flight.
package zendesk
