package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
)

// configEntryJSON is one configuration entry of an instance, the platform's
// GET /instances/{id}/configuration shape.
type configEntryJSON struct {
	ID            int64  `json:"id"`
	Key           string `json:"key"`
	PropertyValue string `json:"propertyValue"`
}

// configID is the id of a configuration entry: the FNV-1a 32-bit hash of its key, top bit
// cleared. It depends on the key alone, so it is the same for every instance, survives definition
// reloads and server restarts, and a key the instance has not set yet (but its element declares)
// already has one. The keys of each element are checked for collisions by the tests.
func configID(key string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int64(h.Sum32() & 0x7fffffff)
}

// listConfiguration serves GET /instances/{id}/configuration: one entry per key of the instance
// view's configuration (its keys as sent, the element's defaults, the poller configuration as a
// JSON string), values as the view shows them, secrets masked; sorted by key.
func (s *Server) listConfiguration(w http.ResponseWriter, r *http.Request) {
	in, ok := s.instance(w, r)
	if !ok {
		return
	}
	conf := s.view(in).Configuration
	out := make([]configEntryJSON, 0, len(conf))
	for _, k := range slices.Sorted(maps.Keys(conf)) {
		out = append(out, configEntryJSON{ID: configID(k), Key: k, PropertyValue: conf[k]})
	}
	writeJSON(w, http.StatusOK, out)
}

// getConfiguration serves GET /instances/{id}/configuration/{configId}: one entry of the list.
func (s *Server) getConfiguration(w http.ResponseWriter, r *http.Request) {
	in, ok := s.instance(w, r)
	if !ok {
		return
	}
	conf := s.view(in).Configuration
	key, ok := configKey(w, r, in, conf)
	if !ok {
		return
	}
	v, set := conf[key]
	if !set {
		writeError(w, r, http.StatusNotFound, fmt.Sprintf("Instance %d has no value for configuration key %q (entry %d)", in.Record.ID, key, configID(key)))
		return
	}
	writeJSON(w, http.StatusOK, configEntryJSON{ID: configID(key), Key: key, PropertyValue: v})
}

// configKey resolves the path's {configId} against the keys of the instance (conf, the view's
// configuration, and what is stored) and the keys its element declares. It answers 404 itself and
// then returns false.
func configKey(w http.ResponseWriter, r *http.Request, in *instances.Instance, conf map[string]string) (string, bool) {
	rec := in.Record
	keys := slices.Collect(maps.Keys(conf))
	keys = slices.AppendSeq(keys, maps.Keys(rec.Configuration))
	if in.Element != nil {
		for _, k := range in.Element.Spec.Configuration {
			keys = append(keys, k.Key)
		}
	}
	slices.Sort(keys)
	raw := r.PathValue("configId")
	if id, err := strconv.ParseInt(raw, 10, 64); err == nil {
		for _, k := range slices.Compact(keys) {
			if configID(k) == id {
				return k, true
			}
		}
	}
	writeError(w, r, http.StatusNotFound, fmt.Sprintf("Instance %d has no configuration entry %s; GET /instances/%d/configuration lists them",
		rec.ID, strconv.Quote(raw), rec.ID))
	return "", false
}

// patchConfiguration serves PATCH /instances/{id}/configuration/{configId} with
// {"propertyValue": "..."} or {"key": "...", "propertyValue": "..."} (the key must be the entry's):
// the entry's key is set to the value through the same merge, validation, store and apply as
// PATCH /instances/{id} with {"configuration": {key: value}} (instances.Service.Update, strict
// like a POST). The answer is the entry, masked as in the list. In a 400, the problems of the
// value itself point at /propertyValue; a problem of another key (a callback url that events now
// need) keeps its /configuration/<key> pointer.
func (s *Server) patchConfiguration(w http.ResponseWriter, r *http.Request) {
	in, ok := s.instance(w, r)
	if !ok {
		return
	}
	key, ok := configKey(w, r, in, nil)
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
	el := in.Element
	var sent any // the value, once the merge has it: a new secret to scrub from problems
	merge := func(body, req map[string]any) []definitions.Problem {
		var probs []definitions.Problem
		if k, given := req["key"]; given && k != key {
			probs = append(probs, definitions.Problem{Pointer: "/key", Message: fmt.Sprintf("must be %q, the key of configuration entry %d, or be left out", key, configID(key))})
		}
		v, given := req["propertyValue"]
		switch v.(type) {
		case string, json.Number, bool:
		case map[string]any, []any:
			if !jsonKey(el, key) {
				probs = append(probs, definitions.Problem{Pointer: "/propertyValue", Message: "must be a string"})
			}
		default:
			msg := "must be a string"
			if !given {
				msg = `"propertyValue" is required`
			}
			probs = append(probs, definitions.Problem{Pointer: "/propertyValue", Message: msg})
		}
		if len(probs) > 0 {
			return probs
		}
		sent = v
		body["configuration"].(map[string]any)[key] = v
		return nil
	}
	upd, err := s.svc.Update(r.Context(), principal(r.Context()), in.Record.ID, instances.Update{
		Method: "PATCH", Fields: []string{"key", "propertyValue"}, Strict: true, Merge: merge, Body: data})
	var pe *instances.ProblemsError
	switch {
	case errors.As(err, &pe):
		var secrets []string
		if instances.IsSecretKey(el, key) {
			secrets = instances.SecretValues(el, map[string]any{key: sent})
		}
		probs := make([]definitions.Problem, len(pe.Problems))
		own := engine.Pointer("configuration", key)
		for i, p := range pe.Problems {
			ptr := p.Pointer
			if rest, ok := strings.CutPrefix(ptr, own); ok && (rest == "" || rest[0] == '/') {
				ptr = "/propertyValue" + rest
			}
			msg := p.Message
			for _, sv := range secrets {
				msg = strings.ReplaceAll(msg, sv, engine.Masked)
			}
			probs[i] = definitions.Problem{Pointer: ptr, Message: msg}
		}
		s.badRequest(w, r, "Invalid configuration entry", probs)
	case err != nil:
		s.serviceError(w, r, err, "update configuration entry")
	default:
		s.log.Info("configuration entry updated", "instance", upd.Record.ID, "key", key, "requestId", requestID(r.Context()))
		writeJSON(w, http.StatusOK, configEntryJSON{ID: configID(key), Key: key, PropertyValue: s.view(upd).Configuration[key]})
	}
}

// jsonKey reports whether a configuration key takes JSON values (objects or arrays as such).
func jsonKey(el *engine.Element, key string) bool {
	if key == engine.KeyPollerConfig {
		return true
	}
	if el == nil {
		return false
	}
	k, ok := el.ConfigKey(key)
	return ok && k.Type == "json"
}
