// Package api serves Pollen's platform HTTP API: the Cloud Elements surface clients use to create,
// read and update element instances (shared/reference/cloud-elements-events.md §1), and the state
// of the definition files.
//
//	POST  /instances         create (body loaded by definitions.LoadInstance)
//	GET   /instances         list, by id
//	GET   /instances/{id}    read
//	PATCH /instances/{id}    any of name, tags (replaced) and configuration (merged key by key;
//	                         null removes a key; event.poller.configuration is replaced whole)
//	PUT   /instances/{id}    {"name", "tags"}: replaces both (tags left out: none)
//	GET   /definitions       {"files": [definitions.FileStatus...]}
//	GET   /metrics           Prometheus metrics (Options.Metrics), when configured
//
// Every route but GET /healthz, GET /openapi.json and GET /metrics requires
//
//	Authorization: User <user secret>, Organization <organization secret>[, Element <token>]
//
// (parts in any order, scheme words case-insensitive). The secrets are compared in constant time.
// With Options.Sessions, a signed-in session of the web console (adapters/console: its cookie and
// CSRF header) stands in for the two secrets, when the header is absent or holds only an Element
// token.
// GET /metrics is public, as metrics endpoints usually are, so that Prometheus scrapes it without
// the platform's secrets: it holds only aggregate counts (adapters/metrics), never an instance's
// id, URL, configuration or secret. Keep the listener off the public internet, or put a proxy in
// front, if even those counts are private.
// An Element token is parsed into the request context for the hub routes of later slices.
//
// Instance bodies go through definitions.LoadInstance, the one load path shared with
// `pollen validate`: nothing here re-checks a body. A body with problems is answered 400 with every
// problem and its JSON pointer. A created instance is stored with its configuration exactly as sent,
// then handed to the Runtime. A PATCH is merged into the stored body and the result loaded the same
// strict way; only a body that loads is stored and applied. A PUT changes no configuration, so its
// result is loaded like a stored record (definitions.LoadStoredInstance): jobs whose resource is
// gone stay paused rather than failing the rename. Stored records are compiled by Compile, also
// leniently, so that an instance whose resource file was removed resumes with that job paused.
//
// Every instance view carries "pollers" (Pollen's addition to the platform's shape): the runtime's
// state of each configured job (polling, paused with its reason, idle), last poll, error and
// event count.
//
// Responses use the platform's instance shape. Secrets never leave the process: configuration keys
// the element marks secret (and, as a second net, keys named username, password, *secret*, *key*,
// *token*) are masked as "********", and problem messages, poller reasons and poller errors are
// scrubbed of any secret value the instance carries. Every request is logged once at Info with method, path, status, duration and request id;
// headers and bodies are never logged. Every response, errors included, carries X-Request-Id, and
// errors are JSON {"requestId", "message"}.
package api
