package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/schemas"
)

// patchInstance serves PATCH /instances/{id}: any of name, tags (replacing the stored ones) and
// configuration (keys given overwrite the stored ones, null removes one; a given
// event.poller.configuration replaces the stored one whole). The merged body is loaded through
// definitions.LoadInstance exactly like a POST body; a body with problems changes nothing.
func (s *Server) patchInstance(w http.ResponseWriter, r *http.Request) {
	s.updateInstance(w, r, "PATCH", []string{"name", "tags", "configuration"}, true, mergePatch)
}

// putInstance serves PUT /instances/{id}: {"name", "tags"} replace the stored name and tags
// (tags left out means none). The configuration is not touched, so the merged body is loaded
// leniently, like a stored record: an instance with paused jobs can still be renamed.
func (s *Server) putInstance(w http.ResponseWriter, r *http.Request) {
	s.updateInstance(w, r, "PUT", []string{"name", "tags"}, false, mergePut)
}

// merge applies a request body to the body of a stored record, reporting what does not fit.
type merge func(body, req map[string]any) []definitions.Problem

// updateInstance reads the stored record, merges the request body into the body it stands for,
// loads the result (strictly, like a POST body, or leniently, like a stored record), and only when
// it loads stores it, hands it to the runtime and answers the instance view. fields are the
// top-level fields the request body may carry.
func (s *Server) updateInstance(w http.ResponseWriter, r *http.Request, method string, fields []string, strict bool, mergeBody merge) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	rec, ok := s.record(w, r)
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
	cat := s.rt.Catalog()
	el, _ := cat.Element(rec.ElementKey)
	secrets := secretValues(el, rec.Configuration)

	v, err := schemas.Decode(data)
	if err != nil {
		s.reject(w, r, []definitions.Problem{{Message: "not valid JSON: " + err.Error()}}, secrets)
		return
	}
	req, isObject := v.(map[string]any)
	if !isObject {
		s.reject(w, r, []definitions.Problem{{Message: method + " body must be a JSON object with " + strings.Join(fields, ", ")}}, secrets)
		return
	}
	if c, ok := req["configuration"].(map[string]any); ok {
		secrets = secretsIn(el, rec.Configuration, c)
	}
	var probs []definitions.Problem
	for _, k := range slices.Sorted(maps.Keys(req)) {
		switch {
		case slices.Contains(fields, k):
		case k == "element":
			probs = append(probs, definitions.Problem{Pointer: engine.Pointer(k), Message: "the element of an instance cannot be changed; create another instance"})
		default:
			probs = append(probs, definitions.Problem{Pointer: engine.Pointer(k), Message: fmt.Sprintf("unknown field; %s accepts %s", method, strings.Join(fields, ", "))})
		}
	}
	body := recordBody(rec)
	probs = append(probs, mergeBody(body, req)...)
	if len(probs) > 0 {
		s.reject(w, r, probs, secrets)
		return
	}
	merged, err := json.Marshal(body)
	if err != nil {
		s.internalError(w, r, "encode merged body", err)
		return
	}
	load := definitions.LoadStoredInstance
	if strict {
		load = definitions.LoadInstance
	}
	in, probs := load(cat, "body", merged)
	if len(probs) > 0 {
		s.reject(w, r, probs, secrets)
		return
	}
	conf := body["configuration"].(map[string]any)
	upd := *rec
	upd.Name, upd.Tags, upd.Configuration, upd.UpdatedAt = in.Name, in.Tags, conf, s.now().UTC()
	if err := s.store.UpdateInstance(r.Context(), &upd); errors.Is(err, sqlite.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, fmt.Sprintf("No instance found with id %d", rec.ID))
		return
	} else if err != nil {
		s.internalError(w, r, "update instance", err)
		return
	}
	in.ID, in.Token, in.CreatedAt, in.Disabled = upd.ID, upd.Token, upd.CreatedAt, upd.Disabled
	s.rt.Apply(in)
	var keys []string
	if c, ok := req["configuration"].(map[string]any); ok {
		keys = slices.Sorted(maps.Keys(c))
	}
	s.log.Info("instance updated", "instance", in.ID, "method", method, "fields", slices.Sorted(maps.Keys(req)),
		"configurationKeys", keys, "resources", len(in.Jobs), "paused", len(in.Paused),
		"requestId", requestID(r.Context()))
	writeJSON(w, http.StatusOK, s.view(in, conf))
}

// mergePatch applies a PATCH body: name and tags replace, configuration merges key by key.
// Types are left to the instance schema, which sees the merged body.
func mergePatch(body, req map[string]any) []definitions.Problem {
	for _, k := range []string{"name", "tags"} {
		if v, ok := req[k]; ok {
			body[k] = v
		}
	}
	raw, ok := req["configuration"]
	if !ok {
		return nil
	}
	patch, ok := raw.(map[string]any)
	if !ok {
		return []definitions.Problem{{Pointer: "/configuration", Message: "must be an object of the configuration keys to change (null removes a key)"}}
	}
	conf := body["configuration"].(map[string]any)
	for k, v := range patch {
		if v == nil {
			delete(conf, k)
		} else {
			conf[k] = v
		}
	}
	return nil
}

// mergePut applies a PUT body: name (required) and tags replace the stored ones.
func mergePut(body, req map[string]any) []definitions.Problem {
	name, ok := req["name"]
	if !ok {
		return []definitions.Problem{{Pointer: "", Message: `"name" is required; PUT replaces the name and tags`}}
	}
	body["name"] = name
	if tags, ok := req["tags"]; ok {
		body["tags"] = tags
	} else {
		delete(body, "tags")
	}
	return nil
}

// recordBody is the instance body a stored record stands for, as a map to merge into. The
// configuration is a copy.
func recordBody(rec *sqlite.Instance) map[string]any {
	body := map[string]any{
		"element":       map[string]any{"key": rec.ElementKey},
		"name":          rec.Name,
		"configuration": maps.Clone(rec.Configuration),
	}
	if body["configuration"].(map[string]any) == nil {
		body["configuration"] = map[string]any{}
	}
	if len(rec.Tags) > 0 {
		body["tags"] = slices.Clone(rec.Tags)
	}
	return body
}

// secretsIn returns the secret values of several configurations, longest first.
func secretsIn(el *engine.Element, confs ...map[string]any) []string {
	var out []string
	for _, c := range confs {
		out = append(out, secretValues(el, c)...)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
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
