package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
)

// The hub API reads an instance's vendor as its pollers do:
//
//	GET /hubs/{hub}/{resource}?where=<CEQL>&orderBy=<field> asc|desc&page=N&pageSize=M
//	GET /hubs/{hub}/{resource}/{id}
//
// A poller url is a hub URL: calling it (its macros written out) answers what the poller reads.
// Authorization is User, Organization and Element; the Element token selects the instance, which
// the user must see.

// Hub API response header and query parameter of the next page.
const (
	nextPageHeader = "elements-next-page-token"
	nextPageParam  = "nextPage"
	// defaultHubPageSize is the page size of a call without pageSize, when the vendor allows it.
	defaultHubPageSize = 200
)

// routeHub registers the hub API routes.
func (s *Server) routeHub(m *http.ServeMux) {
	m.Handle("GET /hubs/{hub}/{resource}", s.hubAuthed(s.hubList))
	m.Handle("/hubs/{hub}/{resource}", s.hubAuthed(hubMethodNotAllowed))
	m.Handle("GET /hubs/{hub}/{resource}/{id}", s.hubAuthed(s.hubGet))
	m.Handle("/hubs/{hub}/{resource}/{id}", s.hubAuthed(hubMethodNotAllowed))
}

func hubMethodNotAllowed(w http.ResponseWriter, r *http.Request, _ *hubCall) {
	methodNotAllowed("GET, HEAD")(w, r)
}

// hubCall is an authenticated hub request: the instance its Element token names, compiled, and
// the instance the service handed out, whose secrets are scrubbed from every message.
type hubCall struct {
	in       *engine.Instance
	inst     *instances.Instance
	resource string
}

const hubAuthHelp = "Authorization must be: User <user secret>, Organization <organization secret>, Element <instance token>"

// hubAuthed wraps h so that it runs only for requests carrying the User and Organization secrets
// and the Element token of an enabled instance the user sees, of the path's hub and resource.
func (s *Server) hubAuthed(h func(http.ResponseWriter, *http.Request, *hubCall)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r, hubAuthHelp)
		if !ok {
			return
		}
		if p.InstanceID == 0 {
			w.Header().Set("WWW-Authenticate", `User realm="pollen", Organization realm="pollen", Element realm="pollen"`)
			writeError(w, r, http.StatusUnauthorized, hubAuthHelp)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		inst, err := s.svc.Get(r.Context(), p, p.InstanceID)
		if err != nil {
			s.serviceError(w, r, err, "read instance")
			return
		}
		rec := inst.Record
		if rec.Disabled {
			writeError(w, r, http.StatusForbidden, fmt.Sprintf("Instance %d is disabled; enable it to call the hub API", rec.ID))
			return
		}
		call := &hubCall{resource: r.PathValue("resource"), inst: inst}
		if inst.Compiled == nil {
			writeError(w, r, http.StatusConflict, fmt.Sprintf("Instance %d does not load with the current definitions: %s",
				rec.ID, definitions.Describe(inst.Problems)))
			return
		}
		in := inst.Compiled
		call.in = in
		if hub := r.PathValue("hub"); hub != in.Element.Hub {
			writeError(w, r, http.StatusNotFound, fmt.Sprintf("No hub %q for instance %d: element %s serves hub %q", hub, in.ID, in.Element.Key, in.Element.Hub))
			return
		}
		if _, ok := in.Element.Resources[call.resource]; !ok {
			writeError(w, r, http.StatusNotFound, fmt.Sprintf("No resource %q in hub %s of element %s; resources: %s",
				call.resource, in.Element.Hub, in.Element.Key, strings.Join(in.Element.ResourceNames(), ", ")))
			return
		}
		h(w, r, call)
	})
}

// hubList serves GET /hubs/{hub}/{resource}: one vendor page of records that match where.
func (s *Server) hubList(w http.ResponseWriter, r *http.Request, c *hubCall) {
	params := r.URL.Query()
	var probs engine.Errors
	bad := func(ptr, format string, args ...any) {
		probs = append(probs, &engine.FieldError{Pointer: ptr, Msg: fmt.Sprintf(format, args...)})
	}
	page, cont := 1, ""
	// The usual paging helper sends the page number along with the token: the token says where
	// the page starts, so it wins.
	switch p, tok := params.Get("page"), params.Get(nextPageParam); {
	case tok != "":
		next, ok := decodePageToken(tok)
		if !ok {
			bad("/"+nextPageParam, "%q is not a token from the %s header", tok, nextPageHeader)
		}
		cont = next
	case p != "":
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			bad("/page", "%q must be a whole number, 1 or more", p)
		}
		page = n
	}
	max := c.in.Element.Spec.Paging.MaxPageSize
	size := defaultHubPageSize
	if p := params.Get("pageSize"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			bad("/pageSize", "%q must be a whole number, 1 or more", p)
		}
		size = n
	}
	if max > 0 && size > max {
		size = max // the vendor's largest page
	}
	if len(probs) > 0 {
		s.badHubQuery(w, r, c, probs)
		return
	}
	q, err := c.in.HubQuery(c.resource, params.Get("where"), params.Get("orderBy"), page, size)
	if err == nil && cont != "" {
		err = q.Continue(cont)
	}
	if err != nil {
		s.badHubQuery(w, r, c, engine.AsErrors(err))
		return
	}
	if !s.hasSource(w, r) {
		return
	}
	recs, next, err := q.Run(r.Context(), s.src)
	if err != nil {
		s.vendorFailed(w, r, c, err, "")
		return
	}
	if filterNulls(c.in) {
		for i, rec := range recs {
			recs[i] = dropNulls(rec)
		}
	}
	if next != "" {
		w.Header().Set(nextPageHeader, encodePageToken(next))
	}
	writeJSON(w, http.StatusOK, recs)
}

// hubGet serves GET /hubs/{hub}/{resource}/{id}: one record.
func (s *Server) hubGet(w http.ResponseWriter, r *http.Request, c *hubCall) {
	if !s.hasSource(w, r) {
		return
	}
	id := r.PathValue("id")
	rec, err := c.in.HubGet(r.Context(), s.src, c.resource, id)
	if err != nil {
		s.vendorFailed(w, r, c, err, fmt.Sprintf("No %s record with id %q at the vendor", c.resource, id))
		return
	}
	if filterNulls(c.in) {
		rec = dropNulls(rec)
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) hasSource(w http.ResponseWriter, r *http.Request) bool {
	if s.src == nil {
		writeError(w, r, http.StatusServiceUnavailable, "The hub API is not configured with a vendor source")
		return false
	}
	return true
}

// badHubQuery answers 400 with every problem of the call's parameters, each with the pointer of
// the parameter at fault (/where, /orderBy, /page, /pageSize, /nextPage).
func (s *Server) badHubQuery(w http.ResponseWriter, r *http.Request, c *hubCall, es engine.Errors) {
	e := apiError{RequestID: requestID(r.Context()), Errors: make([]problemJSON, len(es))}
	for i, p := range es {
		e.Errors[i] = problemJSON{Pointer: p.Pointer, Message: c.inst.Scrub(p.Msg)}
	}
	e.Message = fmt.Sprintf("Invalid hub query: %d problems", len(es))
	if len(es) == 1 {
		e.Message = "Invalid hub query: " + e.Errors[0].Pointer + ": " + e.Errors[0].Message
	}
	writeJSON(w, http.StatusBadRequest, e)
}

// hubErrorJSON is the body of a failed vendor call: the error body, and what the vendor answered.
type hubErrorJSON struct {
	RequestID     string `json:"requestId"`
	Message       string `json:"message"`
	VendorStatus  int    `json:"vendorStatus,omitempty"`
	VendorCode    string `json:"vendorCode,omitempty"`
	VendorMessage string `json:"vendorMessage,omitempty"`
}

// vendorFailed answers a failed vendor call: 502 with the vendor's status and message, 404 when
// notFound is set and the vendor answered 404, 504 on a timeout. Messages are scrubbed of the
// instance's secrets; the vendor's body is never passed on whole.
func (s *Server) vendorFailed(w http.ResponseWriter, r *http.Request, c *hubCall, err error, notFound string) {
	e := hubErrorJSON{RequestID: requestID(r.Context())}
	status := http.StatusBadGateway
	var vs engine.VendorStatus
	switch {
	case errors.As(err, &vs):
		e.VendorStatus, e.VendorCode = vs.HTTPStatus(), c.inst.Scrub(vs.VendorCode())
		e.VendorMessage = c.inst.Scrub(vs.VendorMessage())
		e.Message = fmt.Sprintf("The vendor answered %d %s", e.VendorStatus, http.StatusText(e.VendorStatus))
		for _, part := range []string{e.VendorCode, e.VendorMessage} {
			if part != "" {
				e.Message += ": " + part
			}
		}
		if e.VendorStatus == http.StatusNotFound && notFound != "" {
			status, e.Message = http.StatusNotFound, notFound
		}
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
		e.Message = "The vendor did not answer in time"
	case errors.Is(err, engine.ErrVendorBody):
		e.Message = "The vendor's answer does not fit resource " + c.resource + "'s definition: " + c.inst.Scrub(err.Error())
	default:
		e.Message = "The vendor request failed: " + c.inst.Scrub(err.Error())
	}
	s.log.Warn("hub call failed", "instance", c.in.ID, "resource", c.resource, "status", status,
		"error", c.inst.Scrub(err.Error()), "requestId", e.RequestID)
	writeJSON(w, status, e)
}

// filterNulls reports whether the instance drops null-valued fields from hub responses
// (filter.response.nulls, default true).
func filterNulls(in *engine.Instance) bool {
	v, err := strconv.ParseBool(strings.TrimSpace(in.Config[engine.KeyFilterNulls]))
	return err != nil || v
}

// encodePageToken is the opaque next-page token of a hub call's continuation (HubQuery.Run).
func encodePageToken(next string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("next:" + next))
}

// decodePageToken returns the continuation of a next-page token; the engine checks it
// (HubQuery.Continue).
func decodePageToken(tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil {
		return "", false
	}
	next, ok := strings.CutPrefix(string(b), "next:")
	return next, ok && next != ""
}
