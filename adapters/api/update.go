package api

import (
	"net/http"

	"github.com/pollen-hq/pollen/definitions"
)

// patchInstance serves PATCH /instances/{id} (instances.Service.Patch).
func (s *Server) patchInstance(w http.ResponseWriter, r *http.Request) {
	s.update(w, r, "PATCH")
}

// putInstance serves PUT /instances/{id} (instances.Service.Put).
func (s *Server) putInstance(w http.ResponseWriter, r *http.Request) {
	s.update(w, r, "PUT")
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, method string) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		writeError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return
	}
	p := principal(r.Context())
	update := s.svc.Patch
	if method == "PUT" {
		update = s.svc.Put
	}
	in, err := update(r.Context(), p, id, data)
	if err != nil {
		s.serviceError(w, r, err, "update instance")
		return
	}
	writeJSON(w, http.StatusOK, s.view(in))
}

// getDefinitions serves GET /definitions: the state of every definition file.
func (s *Server) getDefinitions(w http.ResponseWriter, r *http.Request) {
	var files []definitions.FileStatus
	if s.defs != nil {
		files = s.defs.Status()
	}
	if files == nil {
		files = []definitions.FileStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
}
