package api

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
)

// catalogElementJSON is an element of the catalog as GET /elements shows it: what a UI needs to
// build an instance form. It holds definitions only, never an instance's values.
type catalogElementJSON struct {
	ID             int64               `json:"id"`
	Key            string              `json:"key"`
	Name           string              `json:"name"`
	HookName       string              `json:"hookName,omitempty"`
	Description    string              `json:"description,omitempty"`
	Image          string              `json:"image,omitempty"`
	Hub            string              `json:"hub"`
	Authentication authJSON            `json:"authentication"`
	Configuration  []catalogConfigJSON `json:"configuration"`
	Events         catalogEventsJSON   `json:"events"`
	Resources      []catalogResource   `json:"resources"`
}

// catalogConfigJSON is one configuration key an instance of the element accepts.
type catalogConfigJSON struct {
	ID          int64  `json:"id"` // the id of the key's configuration entries (configID)
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required"`
	Secret      bool   `json:"secret"`
	Hidden      bool   `json:"hidden"`
	// DefaultValue is the value an instance that does not set the key gets, as the platform names
	// it; for event.poller.configuration, the default poller configuration as JSON text.
	DefaultValue string `json:"defaultValue,omitempty"`
}

// catalogEventsJSON is the element's event defaults.
type catalogEventsJSON struct {
	Type                     string   `json:"type"`
	DefaultResources         []string `json:"defaultResources"`
	RefreshInterval          float64  `json:"refreshInterval,omitempty"` // minutes
	MaxEventsPerNotification int      `json:"maxEventsPerNotification,omitempty"`
}

// catalogResource is one resource of the element: what it polls and how it can be queried.
type catalogResource struct {
	Name                       string             `json:"name"`
	Description                string             `json:"description,omitempty"`
	HubPath                    string             `json:"hubPath"`
	VendorPath                 string             `json:"vendorPath"`
	Where                      []catalogWhereJSON `json:"where"`
	Fields                     map[string]string  `json:"fields,omitempty"`
	DefaultPollerConfiguration engine.PollerSpec  `json:"defaultPollerConfiguration"`
}

// catalogWhereJSON is a CEQL where field of a resource.
type catalogWhereJSON struct {
	Field     string   `json:"field"`
	Operators []string `json:"operators"`
	// Cursor marks the change cursor (updated since): polls fill it in from their window.
	Cursor bool `json:"cursor,omitempty"`
}

// listElements serves GET /elements: every element of the current catalog, by key.
func (s *Server) listElements(w http.ResponseWriter, r *http.Request) {
	els := s.svc.Catalog().Elements()
	out := make([]catalogElementJSON, 0, len(els))
	for _, el := range els {
		out = append(out, viewCatalogElement(el))
	}
	writeJSON(w, http.StatusOK, out)
}

// getElement serves GET /elements/{key}: one element, by key or numeric id.
func (s *Server) getElement(w http.ResponseWriter, r *http.Request) {
	if el, ok := s.element(w, r); ok {
		writeJSON(w, http.StatusOK, viewCatalogElement(el))
	}
}

// element resolves the path's {key}, an element key or numeric id. It answers 404 itself and then
// returns false.
func (s *Server) element(w http.ResponseWriter, r *http.Request) (*engine.Element, bool) {
	cat := s.svc.Catalog()
	ref := r.PathValue("key")
	el, ok := cat.Element(ref)
	if !ok {
		if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
			el, ok = cat.ElementByID(id)
		}
	}
	if !ok {
		known := strings.Join(cat.Keys(), ", ")
		if known == "" {
			known = "none"
		}
		writeError(w, r, http.StatusNotFound, "No element "+strconv.Quote(ref)+"; known elements: "+known)
		return nil, false
	}
	return el, true
}

func viewCatalogElement(el *engine.Element) catalogElementJSON {
	sp := el.Spec
	out := catalogElementJSON{
		ID:             sp.ID,
		Key:            sp.Key,
		Name:           sp.Name,
		HookName:       sp.HookName,
		Description:    sp.Description,
		Image:          sp.Image,
		Hub:            sp.Hub,
		Authentication: authJSON{Type: sp.Authentication.Type},
		Configuration:  make([]catalogConfigJSON, 0, len(sp.Configuration)),
		Events: catalogEventsJSON{
			Type:                     sp.Events.Type,
			DefaultResources:         slices.Clone(sp.Events.DefaultResources),
			RefreshInterval:          sp.Events.RefreshIntervalMinutes,
			MaxEventsPerNotification: sp.Events.MaxEventsPerNotification,
		},
		Resources: make([]catalogResource, 0, len(el.Resources)),
	}
	if out.Events.DefaultResources == nil {
		out.Events.DefaultResources = []string{}
	}
	for _, k := range sp.Configuration {
		def := k.Default
		if k.Key == engine.KeyPollerConfig && def == "" {
			def = defaultPollerConfiguration(el)
		}
		out.Configuration = append(out.Configuration, catalogConfigJSON{
			ID: configID(k.Key), Key: k.Key, Name: k.Name, Type: k.Type, Description: k.Description,
			Required: k.Required, Secret: k.Secret || instances.IsSecretKey(el, k.Key), Hidden: k.Hidden, DefaultValue: def,
		})
	}
	for _, name := range el.ResourceNames() {
		res := el.Resources[name]
		rs := res.Spec
		cr := catalogResource{
			Name:                       name,
			Description:                rs.Description,
			HubPath:                    "/hubs/" + sp.Hub + "/" + name,
			VendorPath:                 res.VendorPath,
			Where:                      make([]catalogWhereJSON, 0, len(rs.Where)),
			Fields:                     maps.Clone(rs.Fields),
			DefaultPollerConfiguration: rs.Polling,
		}
		for _, f := range slices.Sorted(maps.Keys(rs.Where)) {
			ops := slices.Clone(rs.Where[f].Operators)
			if len(ops) == 0 {
				ops = []string{"="}
			}
			cr.Where = append(cr.Where, catalogWhereJSON{Field: f, Operators: ops, Cursor: rs.Where[f].Cursor})
		}
		out.Resources = append(out.Resources, cr)
	}
	return out
}
