package api

import "net/http"

// EventStore reads event history and requeues deliveries.
type EventStore interface{}

// routeEvents registers the event history and redelivery routes.
func (s *Server) routeEvents(m *http.ServeMux) {}
