// Package api serves Pollen's platform HTTP API: the Cloud Elements surface clients use to create
// and read element instances (shared/reference/cloud-elements-events.md §1).
//
// Every route but GET /healthz requires
//
//	Authorization: User <user secret>, Organization <organization secret>[, Element <token>]
//
// (parts in any order, scheme words case-insensitive). The secrets are compared in constant time.
// An Element token is parsed into the request context for the hub routes of later slices.
//
// Instance bodies go through definitions.LoadInstance, the one load path shared with
// `pollen validate`: nothing here re-checks a body. A body with problems is answered 400 with every
// problem and its JSON pointer. A created instance is stored with its configuration exactly as sent,
// then handed to the Runtime.
//
// Responses use the platform's instance shape. Secrets never leave the process: configuration keys
// the element marks secret (and, as a second net, keys named username, password, *secret*, *key*,
// *token*) are masked as "********", and problem messages are scrubbed of any secret value the body
// carried. Every request is logged once at Info with method, path, status, duration and request id;
// headers and bodies are never logged. Every response, errors included, carries X-Request-Id, and
// errors are JSON {"requestId", "message"}.
package api
