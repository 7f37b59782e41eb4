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
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, readiness{Status: "unavailable", Reason: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, readiness{Status: "ready"})
}

// readiness is the body of GET /readyz.
type readiness struct {
	Status string `json:"status"`           // "ready" or "unavailable"
	Reason string `json:"reason,omitempty"` // why not ready
}
