package api

import (
	"encoding/base64"
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
	s.create(w, r, data)
}

// create creates an instance from a POST /instances body.
func (s *Server) create(w http.ResponseWriter, r *http.Request, data []byte) {
	in, err := s.svc.Create(r.Context(), principal(r.Context()), data)
	if err != nil {
		s.serviceError(w, r, err, "create instance")
		return
	}
	writeJSON(w, http.StatusOK, s.instanceView(r.Context(), in))
}

// listInstances serves GET /instances: the instances the principal sees, by id, that the query
// selects (instanceFilter).
func (s *Server) listInstances(w http.ResponseWriter, r *http.Request) {
	s.writeInstances(w, r, "")
}

// writeInstances answers a list of instances, of one element when elementKey is set: a bare
// array, the next page's token in the elements-next-page-token header when the list is paged and
// more follow.
func (s *Server) writeInstances(w http.ResponseWriter, r *http.Request, elementKey string) {
	f, ok := instanceFilter(w, r)
	if !ok {
		return
	}
	f.ElementKey = elementKey
	list, more, err := s.svc.List(r.Context(), principal(r.Context()), f)
	if err != nil {
		s.internalError(w, r, "list instances", err)
		return
	}
	out := make([]instanceJSON, 0, len(list))
	for _, in := range list {
		out = append(out, s.instanceView(r.Context(), in))
	}
	if more && len(list) > 0 {
		w.Header().Set(nextPageHeader, encodeListToken(list[len(list)-1].Record.ID))
	}
	writeJSON(w, http.StatusOK, out)
}

// Paging of instance lists: off unless the query asks for it.
const (
	defaultListPageSize = 200
	maxListPageSize     = 200
)

// instanceFilter reads the query of an instance list, as the platform's clients send it:
//
//	searchText   instances whose name contains it, ignoring case
//	tags[], tags instances carrying any of the tags (repeat the parameter for several)
//	pageSize     paged lists: at most this many (default 200, at most 200)
//	page         the page of that size (1 first)
//	nextPage     the elements-next-page-token of the previous page; it wins over page
//
// Other parameters are ignored, as the platform ignores them. It answers 400 itself for a bad
// number or token and then returns false.
func instanceFilter(w http.ResponseWriter, r *http.Request) (instances.ListFilter, bool) {
	q := r.URL.Query()
	f := instances.ListFilter{SearchText: strings.TrimSpace(q.Get("searchText"))}
	for _, t := range append(q["tags[]"], q["tags"]...) {
		if t = strings.TrimSpace(t); t != "" {
			f.Tags = append(f.Tags, t)
		}
	}
	page, size, tok := q.Get("page"), q.Get("pageSize"), q.Get(nextPageParam)
	if page == "" && size == "" && tok == "" {
		return f, true
	}
	f.Limit = defaultListPageSize
	if size != "" {
		n, err := strconv.Atoi(size)
		if err != nil || n < 1 {
			writeError(w, r, http.StatusBadRequest, fmt.Sprintf("pageSize %q must be a whole number, 1 or more", size))
			return f, false
		}
		f.Limit = min(n, maxListPageSize)
	}
	switch {
	case tok != "":
		after, ok := decodeListToken(tok)
		if !ok {
			writeError(w, r, http.StatusBadRequest, fmt.Sprintf("%s %q is not a token from the %s header", nextPageParam, tok, nextPageHeader))
			return f, false
		}
		f.AfterID = after
	case page != "":
		n, err := strconv.Atoi(page)
		if err != nil || n < 1 {
			writeError(w, r, http.StatusBadRequest, fmt.Sprintf("page %q must be a whole number, 1 or more", page))
			return f, false
		}
		f.Offset = (n - 1) * f.Limit
	}
	return f, true
}

// encodeListToken is the next-page token of an instance list: after the instance of this id.
func encodeListToken(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("instances-after:" + strconv.FormatInt(id, 10)))
}

func decodeListToken(tok string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "instances-after:")
	id, err := strconv.ParseInt(v, 10, 64)
	return id, ok && err == nil && id > 0
}

// getInstance serves GET /instances/{id}.
func (s *Server) getInstance(w http.ResponseWriter, r *http.Request) {
	in, ok := s.instance(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.instanceView(r.Context(), in))
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
