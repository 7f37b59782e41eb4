package api

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
	"github.com/pollen-hq/pollen/schemas"
)

// The instance lifecycle routes:
//
//	DELETE /instances/{id}                                stop its jobs, delete it (pending deliveries cancelled)
//	PUT    /instances/enabled                             enable the instance of the Element token
//	DELETE /instances/enabled                             disable it, configuration kept
//	POST   /instances/{id}/pollers/{resource}/skip        {"record"}: read past a held record (pollers.go)
//	PUT    /instances/{id}/enabled                        enable an instance by id
//	DELETE /instances/{id}/enabled                        disable it
//	GET    /instances/{id}/configuration                  [{"id", "key", "propertyValue"}] (lifecycle_config.go)
//	GET    /instances/{id}/configuration/{configId}       one entry
//	PATCH  /instances/{id}/configuration/{configId}       {"propertyValue"} (or {"id", "key", "propertyValue"})
//	GET    /instances/configuration                       the entries of the Element token's instance
//	GET    /instances/configuration/{configId}            one of them (through instancesByPath)
//	PATCH  /instances/configuration/{configId}            change it (through instancesByPath)
//	GET    /elements                                      the catalog, for forms (lifecycle_elements.go)
//	GET    /elements/{key}                                one element, by key or id
//	GET    /elements/metadata                             every element's metadata
//	GET    /elements/{key}/metadata                       one element's: events supported, their methods, resources
//	GET    /elements/{key}/instances                      the element's instances, filtered as GET /instances
//	POST   /elements/{key}/instances                      create one (the body's element may be left out)
//	GET    /elements/{key}/instances/{id}                 and GET, PUT, PATCH, DELETE as under /instances/{id}
//	GET    /openapi.json                                  the OpenAPI document of the whole API; no auth (openapi.go)
//
// DELETE routes, and PUT or DELETE .../enabled, take no body and ignore one: common HTTP clients
// send "null" or "{}" with them.

// operation is one route: a ServeMux pattern with its method, and what serves it.
type operation struct {
	pattern string // "METHOD /path"
	public  bool   // served without the User and Organization secrets
	serve   func(*Server, http.ResponseWriter, *http.Request)
	// dispatched routes are served by instancesByPath rather than registered as they are (see
	// routeEvents).
	dispatched bool
}

// lifecycleRoutes are the routes routeLifecycle registers, in one table so that openapi_test.go
// can compare them with the OpenAPI document.
var lifecycleRoutes = []operation{
	{pattern: "DELETE /instances/{id}", serve: (*Server).deleteInstance},
	{pattern: "PUT /instances/enabled", serve: (*Server).enableInstance},
	{pattern: "DELETE /instances/enabled", serve: (*Server).disableInstance},
	{pattern: "POST /instances/{id}/pollers/{resource}/skip", serve: (*Server).skipRecord},
	{pattern: "PUT /instances/{id}/enabled", serve: (*Server).enableInstanceID},
	{pattern: "DELETE /instances/{id}/enabled", serve: (*Server).disableInstanceID},
	{pattern: "GET /instances/{id}/configuration", serve: (*Server).listConfiguration},
	{pattern: "GET /instances/{id}/configuration/{configId}", serve: (*Server).getConfiguration},
	{pattern: "PATCH /instances/{id}/configuration/{configId}", serve: (*Server).patchConfiguration},
	{pattern: "GET /instances/configuration", serve: (*Server).listTokenConfiguration},
	{pattern: "GET /instances/configuration/{configId}", serve: (*Server).getTokenConfiguration, dispatched: true},
	{pattern: "PATCH /instances/configuration/{configId}", serve: (*Server).patchTokenConfiguration, dispatched: true},
	{pattern: "GET /elements", serve: (*Server).listElements},
	{pattern: "GET /elements/{key}", serve: (*Server).getElement},
	{pattern: "GET /elements/metadata", serve: (*Server).listElementMetadata},
	{pattern: "GET /elements/{key}/metadata", serve: (*Server).getElementMetadata},
	{pattern: "GET /elements/{key}/instances", serve: (*Server).listElementInstances},
	{pattern: "POST /elements/{key}/instances", serve: (*Server).createElementInstance},
	{pattern: "GET /elements/{key}/instances/{id}", serve: (*Server).getElementInstance},
	{pattern: "PUT /elements/{key}/instances/{id}", serve: (*Server).putElementInstance},
	{pattern: "PATCH /elements/{key}/instances/{id}", serve: (*Server).patchElementInstance},
	{pattern: "DELETE /elements/{key}/instances/{id}", serve: (*Server).deleteElementInstance},
	{pattern: "GET /openapi.json", public: true, serve: (*Server).getOpenAPI},
}

// sharedPaths are paths of lifecycleRoutes that routes() also serves; its method-less pattern
// answers their other methods with 405.
var sharedPaths = []string{"/instances/{id}"}

// routeMethods are the methods answered 405 on a lifecycle path that does not serve them. They
// are registered one by one, never as a method-less pattern: a method-less "/instances/{id}/x"
// would conflict in the ServeMux with any "GET /instances/events/{eventId}".
var routeMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}

// routeLifecycle registers the instance lifecycle routes (delete, enable/disable, configuration
// entries, elements, OpenAPI), and answers the methods their paths do not serve with 405.
func (s *Server) routeLifecycle(m *http.ServeMux) {
	served := map[string][]string{} // path: methods
	public := map[string]bool{}
	var paths []string
	for _, op := range lifecycleRoutes {
		if op.dispatched {
			continue
		}
		s.handle(m, op.pattern, op.public, func(w http.ResponseWriter, r *http.Request) { op.serve(s, w, r) })
		method, path, _ := strings.Cut(op.pattern, " ")
		if served[path] == nil {
			paths = append(paths, path)
		}
		served[path] = append(served[path], method)
		public[path] = public[path] || op.public
	}
	for _, path := range paths {
		if slices.Contains(sharedPaths, path) {
			continue
		}
		methods := served[path]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		for _, method := range routeMethods {
			if !slices.Contains(methods, method) {
				s.handle(m, method+" "+path, public[path], methodNotAllowed(allow))
			}
		}
	}
}

// handle registers h for pattern, behind the User and Organization secrets unless public. A
// pattern must carry a method: a method-less one conflicts in the ServeMux with the
// method-specific patterns of broader paths.
func (s *Server) handle(m *http.ServeMux, pattern string, public bool, h http.HandlerFunc) {
	if method, _, ok := strings.Cut(pattern, " "); !ok || method == "" || strings.HasPrefix(method, "/") {
		panic("api: lifecycle pattern without a method: " + pattern)
	}
	if public {
		m.Handle(pattern, h)
		return
	}
	m.Handle(pattern, s.authed(h))
}

// deleteInstance serves DELETE /instances/{id}: the runtime stops its jobs, then the store deletes
// it, cancelling its pending notifications (they stay in the event history as CANCELLED). The
// platform answers 200; so does Pollen, with {"id", "deleted": true}.
func (s *Server) deleteInstance(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if !s.ignoreBody(w, r) {
		return
	}
	if err := s.svc.Delete(r.Context(), principal(r.Context()), id); err != nil {
		s.serviceError(w, r, err, "delete instance")
		return
	}
	writeJSON(w, http.StatusOK, deletedJSON{ID: id, Deleted: true})
}

// deletedJSON answers DELETE /instances/{id}.
type deletedJSON struct {
	ID      int64 `json:"id"`
	Deleted bool  `json:"deleted"`
}

// enableInstance serves PUT /instances/enabled.
func (s *Server) enableInstance(w http.ResponseWriter, r *http.Request) { s.setDisabled(w, r, false) }

// disableInstance serves DELETE /instances/enabled.
func (s *Server) disableInstance(w http.ResponseWriter, r *http.Request) { s.setDisabled(w, r, true) }

// enableInstanceID serves PUT /instances/{id}/enabled.
func (s *Server) enableInstanceID(w http.ResponseWriter, r *http.Request) {
	s.setDisabledID(w, r, false)
}

// disableInstanceID serves DELETE /instances/{id}/enabled.
func (s *Server) disableInstanceID(w http.ResponseWriter, r *http.Request) {
	s.setDisabledID(w, r, true)
}

// setDisabled enables or disables the instance whose token the Authorization header's Element
// part carries, keeping its configuration (instances.Service.SetDisabled).
func (s *Server) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) {
	p := principal(r.Context())
	if p.InstanceID == 0 {
		s.serviceError(w, r, instances.ErrNoToken, "")
		return
	}
	if !s.ignoreBody(w, r) {
		return
	}
	in, _, err := s.svc.SetDisabled(r.Context(), p, disabled)
	if err != nil {
		s.serviceError(w, r, err, "enable or disable instance")
		return
	}
	writeJSON(w, http.StatusOK, s.instanceView(r.Context(), in))
}

// setDisabledID enables or disables the instance the path names.
func (s *Server) setDisabledID(w http.ResponseWriter, r *http.Request, disabled bool) {
	id, ok := pathID(w, r)
	if !ok || !s.ignoreBody(w, r) {
		return
	}
	in, _, err := s.svc.SetDisabledID(r.Context(), principal(r.Context()), id, disabled)
	if err != nil {
		s.serviceError(w, r, err, "enable or disable instance")
		return
	}
	writeJSON(w, http.StatusOK, s.instanceView(r.Context(), in))
}

// ignoreBody reads and drops the body of a request that takes none: HTTP clients send "null",
// "{}" or an object with DELETE, and the platform ignores it. Only a body larger than the limit
// is refused (413). It answers itself and then returns false.
func (s *Server) ignoreBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 {
		return true
	}
	_, ok := s.readBody(w, r)
	return ok
}

// noBody checks that a request that takes no body has none: an empty body, or an empty JSON
// object, is fine; a JSON object's fields are each reported unknown (400); another content type
// is 415, a body that is too large 413. It answers itself and then returns false.
func (s *Server) noBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 {
		return true
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return true
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		writeError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	what := r.Method + " " + r.URL.Path + " takes no body"
	var probs []definitions.Problem
	v, err := schemas.Decode(data)
	fields, isObject := v.(map[string]any)
	if err != nil || !isObject {
		probs = []definitions.Problem{{Message: what}}
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		probs = append(probs, definitions.Problem{Pointer: engine.Pointer(k), Message: "unknown field; " + what})
	}
	if len(probs) == 0 {
		return true
	}
	s.badRequest(w, r, "Invalid request body", probs)
	return false
}
