package api

import "net/http"

// routeHub registers the hub API routes.
func (s *Server) routeHub(m *http.ServeMux) {}
