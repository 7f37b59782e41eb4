package api

import (
	"encoding/json"
	"net/http"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
)

// The platform's element routes beside the catalog: an element's metadata, and its instances
// (GET, POST /elements/{key}/instances and GET, PUT, PATCH, DELETE /elements/{key}/instances/{id}),
// which are the instance routes restricted to one element.

// elementMetadataJSON is the platform's element metadata: what the element supports. Pollen's
// elements are read through the hub API and emit events by polling; bulk, discovery and custom
// fields are not supported.
type elementMetadataJSON struct {
	ID                 int64                  `json:"id"`
	Name               string                 `json:"name"`
	Key                string                 `json:"key"`
	Image              string                 `json:"image"`
	DisplayOrder       int                    `json:"displayOrder"`
	Active             bool                   `json:"active"`
	Beta               bool                   `json:"beta"`
	Description        string                 `json:"description"`
	Transformations    bool                   `json:"transformations"`
	ElementType        string                 `json:"elementType"`
	Churros            bool                   `json:"churros"`
	NormalizedPaging   bool                   `json:"normalizedPaging"`
	SwaggerValidated   bool                   `json:"swaggerValidated"`
	Cloneable          bool                   `json:"cloneable"`
	AuthenticationType string                 `json:"authenticationType"`
	Hub                string                 `json:"hub"`
	Events             metadataEventsJSON     `json:"events"`
	Discovery          metadataDiscoveryJSON  `json:"discovery"`
	Bulk               metadataBulkJSON       `json:"bulk"`
	Usage              metadataUsageJSON      `json:"usage"`
	API                metadataAPIJSON        `json:"api"`
	Resources          []metadataResourceJSON `json:"resources"`
}

// metadataEventsJSON says how the element emits events: supported, the methods ("polling"), and
// for polling the default poller configuration of each resource that can be polled.
type metadataEventsJSON struct {
	Supported bool                         `json:"supported"`
	Methods   []string                     `json:"methods"`
	Polling   map[string]engine.PollerSpec `json:"polling,omitempty"`
}

type metadataDiscoveryJSON struct {
	CustomFields          bool `json:"customFields"`
	CustomObjects         bool `json:"customObjects"`
	EndpointCustomFields  bool `json:"endpointCustomFields"`
	EndpointCustomObjects bool `json:"endpointCustomObjects"`
}

type metadataBulkJSON struct {
	Upload   bool `json:"upload"`
	Download bool `json:"download"`
}

// metadataUsageJSON counts the caller's instances of the element.
type metadataUsageJSON struct {
	InstanceCount int `json:"instanceCount"`
	CustomerCount int `json:"customerCount"`
	Traffic       int `json:"traffic"`
}

type metadataAPIJSON struct {
	Type        string `json:"type"`
	ContentType string `json:"contentType"`
}

type metadataResourceJSON struct {
	CanonicalName string                   `json:"canonicalName"`
	Operations    []string                 `json:"operations"`
	Events        metadataResourceEvents   `json:"events"`
	Bulk          metadataResourceBulk     `json:"bulk"`
	CustomField   metadataCustomFieldsJSON `json:"customField"`
}

type metadataResourceEvents struct {
	Supported  bool     `json:"supported"`
	Methods    []string `json:"methods"`
	EventTypes []string `json:"eventTypes"`
}

type metadataResourceBulk struct {
	Upload   metadataSupport `json:"upload"`
	Download metadataSupport `json:"download"`
}

type metadataSupport struct {
	Supported bool `json:"supported"`
	Native    bool `json:"native"`
}

type metadataCustomFieldsJSON struct {
	Get    bool `json:"get"`
	Create bool `json:"create"`
	Update bool `json:"update"`
	Delete bool `json:"delete"`
}

// listElementMetadata serves GET /elements/metadata: every element's metadata, by key.
func (s *Server) listElementMetadata(w http.ResponseWriter, r *http.Request) {
	els := s.svc.Catalog().Elements()
	out := make([]elementMetadataJSON, 0, len(els))
	for _, el := range els {
		out = append(out, s.metadata(r, el))
	}
	writeJSON(w, http.StatusOK, out)
}

// getElementMetadata serves GET /elements/{key}/metadata (?expand=true is the same answer).
func (s *Server) getElementMetadata(w http.ResponseWriter, r *http.Request) {
	if el, ok := s.element(w, r); ok {
		writeJSON(w, http.StatusOK, s.metadata(r, el))
	}
}

func (s *Server) metadata(r *http.Request, el *engine.Element) elementMetadataJSON {
	sp := el.Spec
	out := elementMetadataJSON{
		ID: sp.ID, Name: sp.Name, Key: sp.Key, Image: sp.Image, Active: true, Description: sp.Description,
		ElementType: "REST", NormalizedPaging: true, AuthenticationType: sp.Authentication.Type, Hub: sp.Hub,
		Events:    metadataEventsJSON{Methods: []string{}},
		API:       metadataAPIJSON{Type: "REST", ContentType: "application/json"},
		Resources: []metadataResourceJSON{},
	}
	polling := sp.Events.Type == "" || sp.Events.Type == "polling"
	if polling && len(el.Resources) > 0 {
		out.Events = metadataEventsJSON{Supported: true, Methods: []string{"polling"}, Polling: map[string]engine.PollerSpec{}}
	}
	for _, name := range el.ResourceNames() {
		res := el.Resources[name]
		rr := metadataResourceJSON{CanonicalName: name, Operations: []string{"GET"},
			Events: metadataResourceEvents{Methods: []string{}, EventTypes: []string{}}}
		if out.Events.Supported {
			out.Events.Polling[name] = res.Spec.Polling
			types := []string{"CREATED", "UPDATED"}
			if res.Spec.Deleted != nil {
				types = append(types, "DELETED")
			}
			rr.Events = metadataResourceEvents{Supported: true, Methods: []string{"polling"}, EventTypes: types}
		}
		out.Resources = append(out.Resources, rr)
	}
	if list, _, err := s.svc.List(r.Context(), principal(r.Context()), instances.ListFilter{ElementKey: sp.Key}); err == nil {
		out.Usage.InstanceCount = len(list)
	}
	return out
}

// listElementInstances serves GET /elements/{key}/instances: GET /instances of one element.
func (s *Server) listElementInstances(w http.ResponseWriter, r *http.Request) {
	if el, ok := s.element(w, r); ok {
		s.writeInstances(w, r, el.Key)
	}
}

// createElementInstance serves POST /elements/{key}/instances: POST /instances whose element is
// the path's. The body may leave its element out; when it names one, it must be that one.
func (s *Server) createElementInstance(w http.ResponseWriter, r *http.Request) {
	el, ok := s.element(w, r)
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
	var body map[string]json.RawMessage
	if json.Unmarshal(data, &body) == nil && body != nil {
		var ref struct {
			Key *string `json:"key"`
			ID  *int64  `json:"id"`
		}
		given, named := body["element"]
		switch {
		case !named || string(given) == "null":
			b, _ := marshal(map[string]string{"key": el.Key})
			body["element"] = b
			if d, err := marshal(body); err == nil {
				data = d
			}
		case json.Unmarshal(given, &ref) == nil && (ref.Key != nil && *ref.Key != el.Key || ref.ID != nil && *ref.ID != el.ID):
			writeJSON(w, http.StatusBadRequest, problemsError(r, "Invalid instance body", []definitions.Problem{{
				Pointer: "/element", Message: "names another element than the path's, " + el.Key}}))
			return
		}
	}
	s.create(w, r, data)
}

// elementInstance checks that the instance the path's {id} names is of the path's element; it
// answers 404 itself and then returns false.
func (s *Server) elementInstance(w http.ResponseWriter, r *http.Request) bool {
	el, ok := s.element(w, r)
	if !ok {
		return false
	}
	in, ok := s.instance(w, r)
	if !ok {
		return false
	}
	if in.Record.ElementKey != el.Key {
		writeError(w, r, http.StatusNotFound, "No instance found with id "+r.PathValue("id")+" of element "+el.Key)
		return false
	}
	return true
}

// getElementInstance serves GET /elements/{key}/instances/{id}.
func (s *Server) getElementInstance(w http.ResponseWriter, r *http.Request) {
	if s.elementInstance(w, r) {
		s.getInstance(w, r)
	}
}

// putElementInstance serves PUT /elements/{key}/instances/{id}.
func (s *Server) putElementInstance(w http.ResponseWriter, r *http.Request) {
	if s.elementInstance(w, r) {
		s.putInstance(w, r)
	}
}

// patchElementInstance serves PATCH /elements/{key}/instances/{id}.
func (s *Server) patchElementInstance(w http.ResponseWriter, r *http.Request) {
	if s.elementInstance(w, r) {
		s.patchInstance(w, r)
	}
}

// deleteElementInstance serves DELETE /elements/{key}/instances/{id}.
func (s *Server) deleteElementInstance(w http.ResponseWriter, r *http.Request) {
	if s.elementInstance(w, r) {
		s.deleteInstance(w, r)
	}
}
