// Package api serves Pollen's platform HTTP API: the Cloud Elements surface clients use to create,
// read and update element instances (shared/reference/cloud-elements-events.md §1), their event
// history, the hub API, the organization's users, and the state of the definition files.
//
//	POST  /instances         create (instances.Service.Create)
//	GET   /instances         the instances the principal sees, by id; searchText, tags[] and
//	                         paging (instanceFilter)
//	GET   /instances/{id}    read
//	PATCH /instances/{id}    any of name, tags (replaced) and configuration (merged key by key;
//	                         null removes a key; event.poller.configuration is replaced whole)
//	PUT   /instances/{id}    name and tags replace both (tags left out: none); a configuration
//	                         merges as in PATCH
//	GET   /users ...         the organization's users (users.go)
//	GET   /definitions       {"files": [definitions.FileStatus...]}
//	GET   /metrics           Prometheus metrics (Options.Metrics), when configured
//	GET   /readyz            200 when Options.Ready finds nothing wrong, else 503 with the reason
//
// The package maps HTTP to engine/instances (the instance lifecycle, with its ownership checks)
// and engine/tenants (users and organizations), and nothing more: it holds no state of its own.
//
// Every route but GET /healthz, GET /readyz, GET /openapi.json and GET /metrics requires a principal, which
// the Options.Authenticator makes of the request: by default HeaderAuthenticator, for
//
//	Authorization: User <user secret>, Organization <organization secret>[, Element <token>]
//
// An Element token narrows the principal to that instance, which must be one the user sees. A
// principal sees its own instances, all of its organization's when it is an organization
// administrator, and nothing else: anything else answers 404, like what does not exist. Failed
// authentications are throttled per client address (429 with Retry-After). GET /metrics is
// public, as metrics endpoints usually are: it holds only aggregate counts (adapters/metrics).
//
// The platform was lenient where its clients rely on it, and so is this package, with Pollen's
// checks on what matters: what GET returns may be sent back changed with PUT or PATCH (read-only
// fields are ignored when they name the same instance, readOnlyFields; masked secrets and echoed
// defaults keep what is stored, instances.Service.Update), DELETE ignores a body, a list's page
// and nextPage may come together (the token wins), unknown query parameters of instance lists are
// ignored, and the history finds a notification by its message.eventId. Browser scripts of the
// configured origins may call the API (cors.go).
//
// A body with problems is answered 400 with every problem and its JSON pointer. Every instance
// view carries "pollers" (Pollen's addition to the platform's shape): the runtime's state of each
// configured job (polling, paused with its reason, idle), last poll, error and event count.
//
// Responses use the platform's instance shape. Secrets never leave the process: configuration keys
// the element marks secret (and, as a second net, keys named username, password, *secret*, *key*,
// *token*) are masked as "********", so are the password of base.url and the credential-looking
// query parameters of URLs; problem messages, poller reasons and errors, hub errors and delivery
// errors are scrubbed of every form of the instance's secrets (engine.Instance.Scrub). Every
// request is logged once at Info with method, path, status, duration and request id; headers and
// bodies are never logged. Every response, errors included, carries X-Request-Id, and errors are
// JSON {"requestId", "message"}.
package api
