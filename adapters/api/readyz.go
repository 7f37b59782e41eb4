package api

import (
	"context"
	"net/http"
	"time"
)

// readyTimeout bounds one readiness check, so that a stuck store makes GET /readyz answer 503
// rather than hang the probe.
const readyTimeout = 2 * time.Second

// readyz serves GET /readyz, without authentication, for load balancers and orchestrators: 200
// {"status": "ready"} when Options.Ready finds nothing wrong, else 503 {"status": "unavailable",
// "reason": ...}. GET /healthz says only that the process serves HTTP.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var body readiness
	if s.node != nil {
		n := len(s.node.Leased())
		body.Node, body.Leases = s.node.Node(), &n
	}
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			body.Status, body.Reason = "unavailable", err.Error()
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
	}
	body.Status = "ready"
	writeJSON(w, http.StatusOK, body)
}

// readiness is the body of GET /readyz.
type readiness struct {
	Status string `json:"status"`           // "ready" or "unavailable"
	Reason string `json:"reason,omitempty"` // why not ready
	// Node names this node and Leases counts the vendor accounts it holds, when several nodes
	// share the store. (Counted, not listed: the route needs no authentication.)
	Node   string `json:"node,omitempty"`
	Leases *int   `json:"leases,omitempty"`
}
