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

// listConfiguration serves GET /instances/{id}/configuration.
func (s *Server) listConfiguration(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.instance(w, r); ok {
		writeJSON(w, http.StatusOK, s.configEntries(in))
	}
}

// listTokenConfiguration serves GET /instances/configuration: the entries of the instance the
// Element token names.
func (s *Server) listTokenConfiguration(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.tokenInstance(w, r); ok {
		writeJSON(w, http.StatusOK, s.configEntries(in))
	}
}

// tokenInstance reads the instance the request's Element token narrowed the principal to. It
// answers 401 without a token, 404 or 500 itself, and then returns false.
func (s *Server) tokenInstance(w http.ResponseWriter, r *http.Request) (*instances.Instance, bool) {
	if !hasElement(r.Context()) {
		s.serviceError(w, r, instances.ErrNoToken, "")
		return nil, false
	}
	p := principal(r.Context())
	in, err := s.svc.Get(r.Context(), p, p.InstanceID)
	if err != nil {
		s.serviceError(w, r, err, "read instance")
		return nil, false
	}
	return in, true
}

// configEntries lists one entry for every key the instance's element declares, set or not, and
// for every other key it holds, sorted by key, so that a client finds any key it may set. Values
// are as the instance view shows them (secrets masked); a key not set shows its effective value:
// the element's default, whether events are on for event.notification.enabled, the default
// poller configuration for event.poller.configuration, or "".
func (s *Server) configEntries(in *instances.Instance) []configEntryJSON {
	v := s.view(in)
	keys := slices.Collect(maps.Keys(v.Configuration))
	keys = slices.AppendSeq(keys, maps.Keys(in.Record.Configuration))
	if in.Element != nil {
		for _, k := range in.Element.Spec.Configuration {
			keys = append(keys, k.Key)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	out := make([]configEntryJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, configEntryJSON{ID: configID(k), Key: k, PropertyValue: entryValue(v, in.Element, k)})
	}
	return out
}

// entryValue is the value a configuration entry shows (configEntries).
func entryValue(v instanceJSON, el *engine.Element, key string) string {
	if val, set := v.Configuration[key]; set {
		return val
	}
	switch key {
	case engine.KeyEventsEnabled:
		return strconv.FormatBool(v.EventsEnabled)
	case engine.KeyPollerConfig:
		if el != nil {
			return defaultPollerConfiguration(el)
		}
	}
	if el != nil {
		if k, ok := el.ConfigKey(key); ok {
			return k.Default
		}
	}
	return ""
}

// getConfiguration serves GET /instances/{id}/configuration/{configId}: one entry of the list.
func (s *Server) getConfiguration(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.instance(w, r); ok {
		s.writeConfigEntry(w, r, in, r.PathValue("configId"))
	}
}

// getTokenConfiguration serves GET /instances/configuration/{configId} (through instancesByPath).
func (s *Server) getTokenConfiguration(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.tokenInstance(w, r); ok {
		s.writeConfigEntry(w, r, in, r.PathValue("sub"))
	}
}

func (s *Server) writeConfigEntry(w http.ResponseWriter, r *http.Request, in *instances.Instance, raw string) {
	key, ok := configKey(w, r, in, raw)
	if !ok {
		return
	}
	v := s.view(in)
	writeJSON(w, http.StatusOK, configEntryJSON{ID: configID(key), Key: key, PropertyValue: entryValue(v, in.Element, key)})
}

// configKey resolves an entry id against the keys of the instance (the view's configuration, and
// what is stored) and the keys its element declares. It answers 404 itself and then returns
// false.
func configKey(w http.ResponseWriter, r *http.Request, in *instances.Instance, raw string) (string, bool) {
	rec := in.Record
	keys := slices.Collect(maps.Keys(rec.Configuration))
	if in.Compiled != nil {
		keys = slices.AppendSeq(keys, maps.Keys(in.Compiled.Config))
	}
	if in.Element != nil {
		for _, k := range in.Element.Spec.Configuration {
			keys = append(keys, k.Key)
		}
	}
	slices.Sort(keys)
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

// defaultPollerConfiguration is the poller configuration an instance of the element gets when it
// sets none, as JSON text: its default resources, each with its default poller configuration.
func defaultPollerConfiguration(el *engine.Element) string {
	pc := map[string]engine.PollerSpec{}
	for _, name := range el.Spec.Events.DefaultResources {
		if res, ok := el.Resources[name]; ok {
			pc[name] = res.Spec.Polling
		}
	}
	b, err := marshal(pc)
	if err != nil {
		return ""
	}
	return string(b)
}

// patchConfiguration serves PATCH /instances/{id}/configuration/{configId} with
// {"propertyValue": "..."}, or the entry as GET returned it changed, {"id", "key", "propertyValue"}
// (id and key, when given, must be the entry's):
// the entry's key is set to the value through the same merge, validation, store and apply as
// PATCH /instances/{id} with {"configuration": {key: value}} (instances.Service.Update, strict
// like a POST). The answer is the entry, masked as in the list. In a 400, the problems of the
// value itself point at /propertyValue; a problem of another key (a callback url that events now
// need) keeps its /configuration/<key> pointer.
func (s *Server) patchConfiguration(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.instance(w, r); ok {
		s.patchConfigEntry(w, r, in, r.PathValue("configId"))
	}
}

// patchTokenConfiguration serves PATCH /instances/configuration/{configId} (through
// instancesByPath).
func (s *Server) patchTokenConfiguration(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.tokenInstance(w, r); ok {
		s.patchConfigEntry(w, r, in, r.PathValue("sub"))
	}
}

func (s *Server) patchConfigEntry(w http.ResponseWriter, r *http.Request, in *instances.Instance, raw string) {
	key, ok := configKey(w, r, in, raw)
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
		if id, given := req["id"]; given && !sameID(id, configID(key)) {
			probs = append(probs, definitions.Problem{Pointer: "/id", Message: fmt.Sprintf("must be %d, the id of configuration entry %q, or be left out", configID(key), key)})
		}
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
		Method: "PATCH", Fields: []string{"id", "key", "propertyValue"}, Strict: true, Merge: merge, Body: data})
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
		writeJSON(w, http.StatusOK, configEntryJSON{ID: configID(key), Key: key, PropertyValue: entryValue(s.view(upd), upd.Element, key)})
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
