package api

import "net/http"

// routeLifecycle registers the instance lifecycle routes (delete, enable/disable, configuration
// entries, elements, OpenAPI).
func (s *Server) routeLifecycle(m *http.ServeMux) {}
