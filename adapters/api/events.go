package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/engine"
)

// The event history and redelivery routes:
//
//	GET /instances/events                    every instance's events, newest first
//	GET /instances/{id}/events               one instance's events, newest first
//	GET /instances/events/{eventId}          one event with its delivery attempts, or one notification
//	                                         by its message.eventId (the platform's event)
//	GET /instances/{id}/events/{eventId}     the same, of one instance
//	GET /instances/events/queued             queued notifications, oldest first (?instanceId=, ?pageSize=)
//	PUT /instances/events/redeliver          {"notificationId"} | {"eventId"} | {"instanceId"} | {"all": true}
//	PUT /instances/{id}/events/redeliver     every queued notification of one instance
//
// The event lists take status, objectType, since, until (RFC 3339, or epoch milliseconds; they
// bound the poll date, since inclusive, until exclusive), instanceId (GET /instances/events
// only), pageSize (default 50, at most 500: more is served as 500) and nextPageToken. As on the
// platform's lists, the body is a bare array and the token of the next page comes in the
// Elements-Next-Page-Token header, absent on the last page. Redelivery answers {"requeued": n}.

// eventOperation is one event route: a ServeMux pattern with its method, and what serves it.
type eventOperation struct {
	pattern string
	serve   func(*Server, http.ResponseWriter, *http.Request)
	// dispatched routes are served by eventsByPath rather than registered as they are (see
	// routeEvents).
	dispatched bool
}

// eventRoutes are the event history and redelivery routes, in one table so that openapi_test.go
// can compare them with the OpenAPI document.
var eventRoutes = []eventOperation{
	{pattern: "GET /instances/events", serve: (*Server).listEvents},
	{pattern: "GET /instances/{id}/events", serve: (*Server).listInstanceEvents},
	{pattern: "GET /instances/events/{eventId}", serve: (*Server).getEvent, dispatched: true},
	{pattern: "GET /instances/{id}/events/{eventId}", serve: (*Server).getInstanceEvent},
	{pattern: "GET /instances/events/queued", serve: (*Server).listQueued},
	{pattern: "PUT /instances/events/redeliver", serve: (*Server).redeliver},
	{pattern: "PUT /instances/{id}/events/redeliver", serve: (*Server).redeliverInstance},
}

// eventMethods are the methods registered one by one on the event paths, those a path does not
// serve answering 405 with Allow. No pattern here is method-less: a method-less pattern conflicts
// in the ServeMux with any method-specific one of a broader path, such as "GET /instances/{id}".
var eventMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}

// routeEvents registers the event routes, and 405s for the methods their paths do not serve.
//
// "GET /instances/events/{eventId}" cannot be registered as it is: it conflicts with every
// "GET /instances/{id}/<word>" pattern (GET /instances/{id}/events here, GET
// /instances/{id}/configuration in lifecycle.go), since both match /instances/events/<word> and
// neither is more specific; so do "GET /instances/configuration/{configId}" and its PATCH. So
// "/instances/{id}/{sub}", less specific than all of them, is registered method by method and
// dispatches (instancesByPath).
func (s *Server) routeEvents(m *http.ServeMux) {
	served := map[string][]string{} // path: methods, of the routes registered as they are
	var paths []string
	for _, op := range eventRoutes {
		if op.dispatched {
			continue
		}
		m.Handle(op.pattern, s.authed(func(w http.ResponseWriter, r *http.Request) { op.serve(s, w, r) }))
		method, path, _ := strings.Cut(op.pattern, " ")
		if served[path] == nil {
			paths = append(paths, path)
		}
		served[path] = append(served[path], method)
	}
	for _, path := range paths {
		methods := served[path]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		for _, method := range eventMethods {
			if !slices.Contains(methods, method) {
				m.Handle(method+" "+path, s.authed(methodNotAllowed(allow)))
			}
		}
	}
	for _, method := range eventMethods {
		m.Handle(method+" /instances/{id}/{sub}", s.authed(s.instancesByPath))
	}
}

// instancesByPath serves /instances/{id}/{sub}, for every method in eventMethods:
// GET /instances/events/{eventId}, GET and PATCH /instances/configuration/{configId}, and 405 for
// their other methods. Any other path of that shape is not a resource (404): the paths of the
// other routes of that shape have more specific patterns and never reach it.
func (s *Server) instancesByPath(w http.ResponseWriter, r *http.Request) {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch id := r.PathValue("id"); {
	case id == "events" && get:
		s.getEvent(w, r)
	case id == "events":
		methodNotAllowed("GET, HEAD")(w, r)
	case id == "configuration" && get:
		s.getTokenConfiguration(w, r)
	case id == "configuration" && r.Method == http.MethodPatch:
		s.patchTokenConfiguration(w, r)
	case id == "configuration":
		methodNotAllowed("GET, HEAD, PATCH")(w, r)
	default:
		writeError(w, r, http.StatusNotFound, "No such resource: "+r.Method+" "+r.URL.Path)
	}
}

// hasHistory answers 404 itself when the service keeps no event history, and then returns false.
func (s *Server) hasHistory(w http.ResponseWriter, r *http.Request) bool {
	if !s.svc.HasHistory() {
		writeError(w, r, http.StatusNotFound, "Event history is not configured")
		return false
	}
	return true
}

// listEvents serves GET /instances/events: the events of the instances the principal sees.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	if !s.hasHistory(w, r) {
		return
	}
	f, ok := eventFilter(w, r, true)
	if !ok {
		return
	}
	s.writeEvents(w, r, f)
}

// listInstanceEvents serves GET /instances/{id}/events: 404 when the instance does not exist or
// is not the principal's (the history of a deleted instance stays listed under
// GET /instances/events?instanceId=).
func (s *Server) listInstanceEvents(w http.ResponseWriter, r *http.Request) {
	if !s.hasHistory(w, r) {
		return
	}
	in, ok := s.instance(w, r)
	if !ok {
		return
	}
	f, ok := eventFilter(w, r, false)
	if !ok {
		return
	}
	f.InstanceID = in.Record.ID
	s.writeEvents(w, r, f)
}

func (s *Server) writeEvents(w http.ResponseWriter, r *http.Request, f engine.EventFilter) {
	evs, next, err := s.svc.Events(r.Context(), principal(r.Context()), f)
	switch {
	case errors.Is(err, engine.ErrBadPageToken):
		writeError(w, r, http.StatusBadRequest, "nextPageToken is not a token this listing returned")
		return
	case errors.Is(err, engine.ErrNotFound):
		writeError(w, r, http.StatusNotFound, fmt.Sprintf("No instance found with id %d", f.InstanceID))
		return
	case err != nil:
		s.internalError(w, r, "list events", err)
		return
	}
	out := make([]eventJSON, 0, len(evs))
	for i := range evs {
		out = append(out, viewEvent(&evs[i]))
	}
	if next != "" {
		w.Header().Set(headerNextPage, next)
	}
	writeJSON(w, http.StatusOK, out)
}

// getEvent serves GET /instances/events/{eventId} (through instancesByPath).
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	if s.hasHistory(w, r) {
		s.writeEvent(w, r, r.PathValue("sub"), 0)
	}
}

// getInstanceEvent serves GET /instances/{id}/events/{eventId}: 404 unless the event or
// notification is of that instance, which the principal sees.
func (s *Server) getInstanceEvent(w http.ResponseWriter, r *http.Request) {
	if !s.hasHistory(w, r) {
		return
	}
	if in, ok := s.instance(w, r); ok {
		s.writeEvent(w, r, r.PathValue("eventId"), in.Record.ID)
	}
}

// writeEvent answers one entry of the history: the event of this id with its delivery attempts,
// or else the notification whose message.eventId it is, with its events and attempts. A non-zero
// instanceID restricts it to that instance. Attempt errors and vendor data are scrubbed of the
// instance's secrets.
func (s *Server) writeEvent(w http.ResponseWriter, r *http.Request, id string, instanceID int64) {
	p := principal(r.Context())
	notFound := func() { writeError(w, r, http.StatusNotFound, "No event found with id "+strconv.Quote(id)) }
	ev, atts, err := s.svc.Event(r.Context(), p, id)
	switch {
	case err == nil && (instanceID == 0 || ev.InstanceID == instanceID):
		out := eventDetailJSON{eventJSON: viewEvent(ev), Attempts: viewAttempts(atts)}
		writeJSON(w, http.StatusOK, out)
		return
	case err == nil:
		notFound()
		return
	case !errors.Is(err, engine.ErrNotFound):
		s.internalError(w, r, "read event", err)
		return
	}
	n, err := s.svc.Notification(r.Context(), p, id)
	switch {
	case errors.Is(err, engine.ErrNotFound) || err == nil && instanceID != 0 && n.InstanceID != instanceID:
		notFound()
	case err != nil:
		s.internalError(w, r, "read notification", err)
	default:
		writeJSON(w, http.StatusOK, viewNotification(n))
	}
}

// listQueued serves GET /instances/events/queued: the queued notifications, oldest first (the
// order redelivery sends them in), of the principal's instances or of ?instanceId=; at most
// pageSize.
func (s *Server) listQueued(w http.ResponseWriter, r *http.Request) {
	if !s.hasHistory(w, r) {
		return
	}
	q := r.URL.Query()
	var instanceID int64
	if v := q.Get("instanceId"); v != "" {
		id, ok := positiveID(v)
		if !ok {
			writeError(w, r, http.StatusBadRequest, "instanceId must be a positive integer")
			return
		}
		instanceID = id
	}
	size, ok := pageSize(w, r)
	if !ok {
		return
	}
	if !onlyParams(w, r, "instanceId", "pageSize") {
		return
	}
	qs, err := s.svc.Queued(r.Context(), principal(r.Context()), instanceID, size)
	if errors.Is(err, engine.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, fmt.Sprintf("No instance found with id %d", instanceID))
		return
	}
	if err != nil {
		s.internalError(w, r, "list queued notifications", err)
		return
	}
	out := make([]queuedJSON, 0, len(qs))
	for _, n := range qs {
		ids := n.EventIDs
		if ids == nil {
			ids = []string{}
		}
		out = append(out, queuedJSON{ID: n.ID, InstanceID: n.InstanceID, ObjectType: n.ObjectType,
			CreatedDate: formatTime(n.CreatedAt), Attempts: n.Attempts, LastError: n.LastError, EventIDs: ids})
	}
	writeJSON(w, http.StatusOK, out)
}

// redeliver serves PUT /instances/events/redeliver.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	if !s.hasHistory(w, r) {
		return
	}
	f, ok := s.redeliverBody(w, r)
	if !ok {
		return
	}
	s.requeue(w, r, f)
}

// redeliverInstance serves PUT /instances/{id}/events/redeliver. A body, if any, is ignored.
func (s *Server) redeliverInstance(w http.ResponseWriter, r *http.Request) {
	if !s.hasHistory(w, r) {
		return
	}
	id, ok := positiveID(r.PathValue("id"))
	if !ok {
		writeError(w, r, http.StatusNotFound, "No instance found with id "+strconv.Quote(r.PathValue("id")))
		return
	}
	s.requeue(w, r, engine.RequeueFilter{InstanceID: id})
}

func (s *Server) requeue(w http.ResponseWriter, r *http.Request, f engine.RequeueFilter) {
	n, err := s.svc.Requeue(r.Context(), principal(r.Context()), f)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "Nothing to redeliver: "+describeFilter(f))
		return
	case errors.Is(err, engine.ErrBadFilter):
		writeError(w, r, http.StatusBadRequest, "Set exactly one of notificationId, eventId, instanceId and all")
		return
	case err != nil:
		s.internalError(w, r, "requeue", err)
		return
	}
	s.log.Info("notifications requeued", "selected", describeFilter(f), "requeued", n, "requestId", requestID(r.Context()))
	writeJSON(w, http.StatusOK, requeuedJSON{Requeued: n})
}
