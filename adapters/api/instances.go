package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
)

// createInstance serves POST /instances.
func (s *Server) createInstance(w http.ResponseWriter, r *http.Request) {
	if !jsonContentType(r.Header.Get("Content-Type")) {
		writeError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return
	}
	in, err := s.svc.Create(r.Context(), principal(r.Context()), data)
	if err != nil {
		s.serviceError(w, r, err, "create instance")
		return
	}
	writeJSON(w, http.StatusOK, s.view(in))
}

// listInstances serves GET /instances: every instance the principal sees, by id.
func (s *Server) listInstances(w http.ResponseWriter, r *http.Request) {
	list, err := s.svc.List(r.Context(), principal(r.Context()))
	if err != nil {
		s.internalError(w, r, "list instances", err)
		return
	}
	out := make([]instanceJSON, 0, len(list))
	for _, in := range list {
		out = append(out, s.view(in))
	}
	writeJSON(w, http.StatusOK, out)
}

// getInstance serves GET /instances/{id}.
func (s *Server) getInstance(w http.ResponseWriter, r *http.Request) {
	in, ok := s.instance(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.view(in))
}

// pathID reads the path's {id}; it answers 404 itself and then returns false.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, r, http.StatusNotFound, "No instance found with id "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// instance reads the instance the path's {id} names, if the principal sees it. It answers 404 or
// 500 itself and then returns false.
func (s *Server) instance(w http.ResponseWriter, r *http.Request) (*instances.Instance, bool) {
	id, ok := pathID(w, r)
	if !ok {
		return nil, false
	}
	in, err := s.svc.Get(r.Context(), principal(r.Context()), id)
	if err != nil {
		s.serviceError(w, r, err, "read instance")
		return nil, false
	}
	return in, true
}

// serviceError answers an error of the instance service: 404 for what does not exist or the
// principal may not see, 400 with every problem, 409, 401 for a bad token, 500 otherwise.
func (s *Server) serviceError(w http.ResponseWriter, r *http.Request, err error, what string) {
	var pe *instances.ProblemsError
	var ce *instances.ConflictError
	switch {
	case errors.As(err, &pe):
		s.badRequest(w, r, pe.What, pe.Problems)
	case errors.As(err, &ce):
		writeJSON(w, http.StatusConflict, problemsError(r, ce.Msg, ce.Problems))
	case errors.Is(err, engine.ErrNotFound):
		msg := "No such resource"
		if id := r.PathValue("id"); id != "" {
			msg = "No instance found with id " + id
		}
		writeError(w, r, http.StatusNotFound, msg)
	case errors.Is(err, instances.ErrNoToken):
		w.Header().Set("WWW-Authenticate", `Element realm="pollen"`)
		writeError(w, r, http.StatusUnauthorized, "Authorization must carry the instance token: User <user secret>, Organization <organization secret>, Element <instance token>")
	case errors.Is(err, instances.ErrBadToken):
		w.Header().Set("WWW-Authenticate", `Element realm="pollen"`)
		writeError(w, r, http.StatusUnauthorized, "No instance of yours has this Element token")
	default:
		s.internalError(w, r, what, err)
	}
}

// badRequest answers 400 with problems of a request body: "<what>: 1 problem: /pointer:
// message" or "<what>: n problems", and every problem in errors.
func (s *Server) badRequest(w http.ResponseWriter, r *http.Request, what string, probs []definitions.Problem) {
	e := problemsError(r, what, probs)
	s.log.Info("request body rejected", "problems", len(probs), "requestId", e.RequestID)
	writeJSON(w, http.StatusBadRequest, e)
}

// problemsError is the error body listing problems.
func problemsError(r *http.Request, what string, probs []definitions.Problem) apiError {
	e := apiError{RequestID: requestID(r.Context()), Errors: make([]problemJSON, len(probs))}
	for i, p := range probs {
		e.Errors[i] = problemJSON{Pointer: p.Pointer, Message: p.Message}
	}
	e.Message = fmt.Sprintf("%s: %d problems", what, len(probs))
	if len(probs) == 1 {
		ptr := e.Errors[0].Pointer
		if ptr == "" {
			ptr = "/"
		}
		e.Message = what + ": 1 problem: " + ptr + ": " + e.Errors[0].Message
	}
	return e
}

// readBody reads the request body, at most s.maxBody bytes. It answers 413 or 400 itself and
// then returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	tooLarge := fmt.Sprintf("Request body is larger than %d bytes", s.maxBody)
	if r.ContentLength > s.maxBody {
		writeError(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, false
	case err != nil:
		writeError(w, r, http.StatusBadRequest, "Cannot read the request body")
		return nil, false
	}
	return data, true
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	rid := requestID(r.Context())
	s.log.Error("request failed", "step", what, "error", err, "requestId", rid)
	writeError(w, r, http.StatusInternalServerError, "Internal error; quote request id "+rid)
}

// jsonContentType reports whether a Content-Type header allows a JSON body: absent,
// application/json, or an application/*+json type.
func jsonContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
