// Package freshdesk is an in-memory simulator of the Freshdesk REST API v2, as a poller meets it
// (see shared/reference/freshdesk-api-v2.md). It backs `pollen demo`, the end-to-end tests, the
// load harness and `pollen fakedesk --listen ADDR`. It runs on the shared kernel
// (adapters/sim/kernel), which holds its clock, rate windows, fault knobs, statistics, change log
// and records; this package keeps Freshdesk's personality.
//
// A *Server is an http.Handler and is safe for concurrent use. Tests and the demo change its data
// either through the REST surface or through the direct methods (CreateTicket, UpdateTicket,
// DeleteTicket, ...), which go through the same validation and have the same effect.
//
// # Surface
//
//	GET    /api/v2/tickets                  list (updated_since, order_by, order_type, filter, per_page, page,
//	                                        include, requester_id, email, company_id)
//	POST   /api/v2/tickets                  create (201)
//	GET    /api/v2/tickets/{id}             view (deleted tickets stay readable, with "deleted": true)
//	PUT    /api/v2/tickets/{id}             update (200)
//	DELETE /api/v2/tickets/{id}             soft delete (204)
//	PUT    /api/v2/tickets/{id}/restore     restore (204)
//	GET    /api/v2/tickets/{id}/conversations  always [] (conversations are not simulated)
//	GET    /api/v2/tickets/archived/{id}    view an archived ticket (see ArchiveTicket)
//	GET    /api/v2/contacts                 list (_updated_since, state, email, phone, mobile, company_id, per_page, page)
//	POST   /api/v2/contacts                 create (201)
//	GET    /api/v2/contacts/{id}            view
//	PUT    /api/v2/contacts/{id}            update (200)
//	DELETE /api/v2/contacts/{id}            soft delete (204)
//	PUT    /api/v2/contacts/{id}/restore    restore (204)
//	GET    /api/v2/companies                list (per_page, page)
//	POST   /api/v2/companies                create (201)
//	GET    /api/v2/companies/{id}           view
//	PUT    /api/v2/companies/{id}           update (200)
//	DELETE /api/v2/companies/{id}           hard delete (204)
//	GET    /api/v2/agents                   list (email, mobile, phone, state, per_page, page)
//	POST   /api/v2/agents                   create (201)
//	GET    /api/v2/agents/{id}              view
//	PUT    /api/v2/agents/{id}              update (200)
//	DELETE /api/v2/agents/{id}              delete: the agent becomes a contact (204)
//	GET    /api/v2/groups                   list (per_page, page)
//	POST   /api/v2/groups                   create (201)
//	GET    /api/v2/groups/{id}              view
//	PUT    /api/v2/groups/{id}              update (200)
//	DELETE /api/v2/groups/{id}              hard delete (204)
//
// # Choices where Freshdesk is silent or the brief left it open
//
//   - Records are map[string]any (Ticket, Contact, Company, Agent, Group) holding every field of Freshdesk's shape; empty
//     fields are null, empty lists are [], ids are int64, timestamps are "YYYY-MM-DDTHH:MM:SSZ" strings.
//     Values returned by the direct methods are deep copies.
//   - "deleted": true is present only on deleted records, for tickets as for contacts (the reference
//     states it for contacts and only says deleted tickets carry it); it is absent otherwise.
//   - Ticket lists omit description and description_text unless include=description, as Freshdesk
//     does; views and the direct methods return them. include=requester,stats,description,company
//     costs 2 extra credits each.
//   - Unknown query parameters and unknown body fields are a 400 with code invalid_field, as in
//     Freshdesk, so a poller sending a parameter Freshdesk would reject fails here too.
//   - Ticket list order: order_by (created_at by default), ties broken by id in the direction of
//     order_type (asc: id ascending, desc: id descending), so that walking a query both ways
//     reaches both ends of a block of records sharing one timestamp. Contacts (order undocumented
//     by Freshdesk): updated_at ascending, then id ascending.
//   - Without updated_since, only tickets created within DefaultWindow are listed; that window
//     also applies with filter=deleted and filter=spam. filter=deleted lists only deleted tickets
//     (spam or not), filter=spam only non-deleted spam tickets; new_and_my_open and watching depend
//     on an agent and are answered with a 400; any other filter value is a 400 as well.
//   - Contacts: without state, deleted and blocked contacts are excluded ("by default only verified
//     and unverified contacts are returned"); state=verified means active, unverified not active.
//   - The Link header is sent whenever another page holds rows, including from page PageCap to
//     page PageCap+1, which then answers the 400 page-cap error: that is how connectors meet it.
//   - Rate limit: one fixed window per wall-clock minute of the vendor's clock, shared by every
//     request (401, 404 and 400 answers count too; 429 answers do not). Retry-After is the whole
//     number of seconds until the minute ends (at least 1). Options.ListRatePerMinute adds the
//     Tickets List / Contacts List sub-limits, each its own window.
//   - Checks run in this order: the redirect loop (list pages), rate limit, injected faults
//     (FailNext, then the Fail knob), auth (401),
//     Accept (406), route (404 empty body / 405), Content-Type (415), JSON body (400
//     invalid_json), validation. Every response carries a Date header from the vendor's clock.
//   - Creating a ticket with an email or phone that matches no contact creates that contact, as
//     Freshdesk does. Seed and direct CreateTicket without a requester pick an existing contact, or
//     create one when there is none.
//   - Fields Freshdesk's API does not let a client write, but tests need, are accepted by the
//     direct methods only: tickets "spam", "created_at", "updated_at"; contacts "active", "blocked",
//     "created_at", "updated_at" (time.Time or a timestamp string). REST calls reject them.
//   - Direct Create* methods panic on invalid fields (like regexp.MustCompile); they fill missing
//     required fields with generated values. Update/Delete/Restore return errors: ErrNotFound,
//     ErrDeleted (updating or deleting a deleted record) or ErrNotDeleted (restoring a live one),
//     or a *ValidationError. Over REST all three sentinel errors are a 404 with an empty body.
//   - Creating a contact whose email is already used (deleted contacts included) is a 409 with
//     code duplicate_value. Deleting a contact does not delete its tickets.
//   - Companies, agents and groups have no "changed since" filter, as in Freshdesk: updated_since,
//     _updated_since or any other unknown parameter is a 400 invalid_field. Their lists have no
//     page cap and no list sub-limit. Order (undocumented by Freshdesk): companies by created_at
//     ascending then id; agents and groups by id ascending. Lists and views have the same shape.
//   - Deleting a company or a group is a hard delete: it is gone from the list and its view is a
//     404; there is no deleted flag and no restore. A deleted company's contacts lose their
//     company_id (and their updated_at moves); tickets keep their company_id and group_id.
//   - Deleting an agent removes it from /agents and, as Freshdesk converts it to a contact,
//     stores a contact with the same id (agents and contacts share Freshdesk's user ids), its
//     name, email, phone, mobile, job title, language, time zone and active flag, updated_at now;
//     no contact is made when one already holds its email. The agent leaves its groups, and
//     groups escalating to it get escalate_to null.
//   - An agent's group_ids and a group's agent_ids are one relation. A write to either side moves
//     the updated_at of every record on the other side whose list changes (never backwards), so
//     that a record's JSON never changes without its updated_at moving.
//   - Company and group names are required and unique ignoring case (409 duplicate_value); an
//     agent's email is required and must not be used by another agent or by a contact (409, with
//     additional_info.user_id). Contacts are not checked against agents' emails. Only email is
//     required to create an agent (Freshdesk also wants ticket_scope and a role): ticket_scope
//     defaults to 1 and a missing name is the email's local part. agent_type (1, 2, 3 = support_agent,
//     field_agent, collaborator, shown as "type") is accepted on create only.
//   - group_ids and agent_ids must name stored groups and agents, escalate_to a stored agent
//     (400 invalid_value); role_ids and skill_ids are not checked (roles and skills are not
//     simulated). auto_ticket_assign takes true/false or 1/0 and is shown as a boolean.
//     renewal_date is shown as a date, "YYYY-MM-DD".
//   - Writable only through the direct methods: companies and groups "created_at", "updated_at";
//     agents "available" (which sets available_since), "active" (contact.active), "created_at",
//     "updated_at". An agent's contact.updated_at moves only when a contact field changes.
//   - Company ids start at 67000000001, agent ids at 67000100000, group ids at 67000200000: the
//     ids Seed's contacts and tickets use as company_id, responder_id and group_id, so that after
//     SeedDirectory(5, 5, 3) they all resolve. include=company on tickets uses stored companies.
//   - Mutate and the generators use math/rand/v2.
//
// # Fault knobs
//
// To prove a poller never misses a change, the simulator can be hostile. Every knob is off by
// default, is set in Options at construction or by a method at run time, and is safe for
// concurrent use; Kernel() gives the kernel itself (scoped knobs, in-flight statistics). Random
// draws (Latency, FailRate, ShiftDuringWalk) come from their own generator seeded by
// Options.Seed, apart from the sample data's, so they are deterministic for a seed and a
// sequence of requests. The page knobs act on the GETs of the five list routes.
//
//   - Skew (SetSkew): the vendor's clock is Options.Now plus Skew. It stamps created_at,
//     updated_at and the other times the server sets, fills the Date header (http.TimeFormat),
//     bounds the default 30-day window and drives the rate-limit minute. VendorNow returns it.
//   - VisibleAfter (SetVisibleAfter): replication lag. A record whose updated_at is T is absent
//     from every list response (tickets, contacts, companies, agents, groups) until the vendor's
//     clock reaches T + VisibleAfter; the list answers as if the record were not there (not with
//     its previous version). Views and the direct methods see it at once.
//   - OnListPage(fn): fn(resource, page) runs on every GET of a list route, outside the lock,
//     before anything else is done with the request, so a test can change records between the
//     pages of a walk.
//   - ShiftDuringWalk (SetShiftDuringWalk, SetShift): the probability that a ticket or contact
//     list request for page 2 or later first updates a random live record shown on an earlier
//     page of the same query (its updated_at becomes now: with updated_at ascending order it
//     moves to the tail), so that every later record moves up one place and a walker going page
//     by page skips one.
//   - FailRate, FailStatuses and FailBurst (SetFailRate, SetFail), FailNext: the probability
//     that a request is answered with a status drawn from FailStatuses (default 429, 500, 502,
//     503, 504), after rate limiting, each failure the first of FailBurst in a row. An injected
//     429 has the rate-limit body and Retry-After (1 s by default) and uses no credits; 5xx
//     have a Freshdesk-style error body. Stats counts 429s (RateLimited), 5xx (ServerErrors)
//     and injected answers (Injected); ResetStats zeroes the request counters.
//   - Latency and Drip (SetLatency, SetDrip): each list page waits (fixed, or uniform in a
//     range) before its headers, and its body is sent a few bytes at a time.
//   - Body (SetBody): list pages truncated in their last record, cut just after "[", replaced by
//     an HTML page, or wrapped in {"items": ...}; always a 200 with an exact Content-Length.
//   - Paging (SetPaging): endless, every list page that would be the last gets a Link to the
//     next page number, past the page cap (which answers empty pages); or a same-origin redirect
//     loop.
//   - BurstCreate and BurstUpdate (BurstCreateTickets, BurstUpdateTickets) make many changes
//     in one second of the vendor's clock, however long they take: more records sharing one
//     updated_at than a query can page through (PageCap pages).
//   - Changes returns the change log, every creation, update, deletion, restoration and
//     archiving of any record, whatever made it, from which a test derives the events a poller
//     must deliver. Stats also counts the list pages in flight, per account and per resource.
package freshdesk
