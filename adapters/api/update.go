package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
	"github.com/pollen-hq/pollen/schemas"
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
	cur, ok := s.instance(w, r)
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
	data, probs := readOnlyFields(data, cur)
	if len(probs) > 0 {
		s.badRequest(w, r, "Invalid instance body", probs)
		return
	}
	p := principal(r.Context())
	update := s.svc.Patch
	if method == "PUT" {
		update = s.svc.Put
	}
	in, err := update(r.Context(), p, cur.Record.ID, data)
	if err != nil {
		s.serviceError(w, r, err, "update instance")
		return
	}
	writeJSON(w, http.StatusOK, s.instanceView(r.Context(), in))
}

// ignoredFields are the fields of the instance view that a client may write back and that Pollen
// ignores: they are read-only (derived, or changed by their own routes) and do not name the
// instance.
var ignoredFields = []string{"createdDate", "updatedDate", "valid", "disabled", "provisionInteractions",
	"maxCacheSize", "cacheTimeToLive", "eventsEnabled", "traceLoggingEnabled", "cachingEnabled",
	"externalAuthentication", "user", "pollers", "providerData", "description"}

// readOnlyFields takes out of a PUT or PATCH body the read-only fields of the instance view, so
// that what GET returned can be sent back changed: those in ignoredFields, and id, token, element
// and elementId when they name this very instance and its element. One that names another
// instance, token or element is a problem; an element that names another one is left for the
// service to refuse. A body that is not a JSON object is passed on as it is, for the service to
// report.
func readOnlyFields(data []byte, in *instances.Instance) ([]byte, []definitions.Problem) {
	v, err := schemas.Decode(data)
	body, isObject := v.(map[string]any)
	if err != nil || !isObject {
		return data, nil
	}
	rec := in.Record
	elementID := int64(0)
	if in.Element != nil {
		elementID = in.Element.ID
	}
	var probs []definitions.Problem
	bad := func(field, msg string) {
		probs = append(probs, definitions.Problem{Pointer: engine.Pointer(field), Message: msg})
	}
	changed := false
	drop := func(k string) {
		delete(body, k)
		changed = true
	}
	for _, k := range ignoredFields {
		if _, ok := body[k]; ok {
			drop(k)
		}
	}
	if x, ok := body["id"]; ok {
		if !sameID(x, rec.ID) {
			bad("id", fmt.Sprintf("is read-only and names another instance; this is instance %d", rec.ID))
		}
		drop("id")
	}
	if x, ok := body["token"]; ok {
		if t, isStr := x.(string); !isStr || t != rec.Token {
			bad("token", "is read-only, and this is not the instance's token")
		}
		drop("token")
	}
	if x, ok := body["elementId"]; ok {
		if !sameID(x, elementID) {
			bad("elementId", fmt.Sprintf("is read-only and names another element; this instance's is %d", elementID))
		}
		drop("elementId")
	}
	if el, ok := body["element"].(map[string]any); ok {
		key, hasKey := el["key"]
		id, hasID := el["id"]
		if (hasKey || hasID) && (!hasKey || key == rec.ElementKey) && (!hasID || sameID(id, elementID)) {
			drop("element")
		}
	}
	if !changed || len(probs) > 0 {
		return data, probs
	}
	out, err := marshal(body)
	if err != nil {
		return data, nil
	}
	return out, nil
}

// sameID reports whether a JSON value (a number, or a string holding one) is the id.
func sameID(v any, id int64) bool {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n == id
}

// getDefinitions serves GET /definitions: the state of every definition file; with several
// nodes on one store, also this node's name and the resources its definitions lack for existing
// instances.
func (s *Server) getDefinitions(w http.ResponseWriter, r *http.Request) {
	var files []definitions.FileStatus
	if s.defs != nil {
		files = s.defs.Status()
	}
	if files == nil {
		files = []definitions.FileStatus{}
	}
	body := map[string]any{"files": files}
	if s.node != nil {
		lacking := s.node.Lacking()
		if lacking == nil {
			lacking = []string{}
		}
		body["node"], body["lacking"] = s.node.Node(), lacking
	}
	writeJSON(w, http.StatusOK, body)
}
