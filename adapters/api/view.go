package api

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/engine"
)

// masked replaces the value of every secret configuration key in responses.
const masked = "********"

// userID is the id shown as the instance's user: Pollen has one user, the holder of the
// configured secrets.
const userID = 1

// instanceJSON is the platform's instance shape (seed 003's example response).
type instanceJSON struct {
	ID                     int64             `json:"id"`
	Name                   string            `json:"name"`
	CreatedDate            string            `json:"createdDate"`
	Token                  string            `json:"token"`
	Element                elementJSON       `json:"element"`
	ElementID              int64             `json:"elementId"`
	Tags                   []string          `json:"tags"`
	ProvisionInteractions  []any             `json:"provisionInteractions"`
	Valid                  bool              `json:"valid"`
	Disabled               bool              `json:"disabled"`
	MaxCacheSize           int               `json:"maxCacheSize"`
	CacheTimeToLive        int               `json:"cacheTimeToLive"`
	Configuration          map[string]string `json:"configuration"`
	EventsEnabled          bool              `json:"eventsEnabled"`
	TraceLoggingEnabled    bool              `json:"traceLoggingEnabled"`
	CachingEnabled         bool              `json:"cachingEnabled"`
	ExternalAuthentication string            `json:"externalAuthentication"`
	User                   userJSON          `json:"user"`
	// Pollers is Pollen's addition to the platform's shape: where each configured job of the
	// instance stands, paused jobs included. Empty when the instance is not running.
	Pollers []pollerJSON `json:"pollers"`
	// Delivery, also Pollen's, is present when something holds the instance's deliveries back.
	Delivery *deliveryJSON `json:"delivery,omitempty"`
}

// deliveryJSON is an engine.DeliveryState.
type deliveryJSON struct {
	State  string `json:"state"` // stopped (410 Gone), paused (Retry-After)
	Reason string `json:"reason"`
	Since  string `json:"since,omitempty"`
	Until  string `json:"until,omitempty"`
}

// deliveryRuntime is a Runtime that tells how an instance's delivery stands (engine.Runtime does).
type deliveryRuntime interface {
	Delivery(id int64) *engine.DeliveryState
}

// viewDelivery renders how an instance's delivery stands, when the runtime tells and something
// holds it back.
func viewDelivery(rt Runtime, id int64) *deliveryJSON {
	dr, ok := rt.(deliveryRuntime)
	if !ok {
		return nil
	}
	st := dr.Delivery(id)
	if st == nil {
		return nil
	}
	v := &deliveryJSON{State: st.State, Reason: st.Reason}
	if !st.Since.IsZero() {
		v.Since = st.Since.UTC().Format(time.RFC3339)
	}
	if !st.Until.IsZero() {
		v.Until = st.Until.UTC().Format(time.RFC3339)
	}
	return v
}

// pollerJSON is one engine.JobStatus.
type pollerJSON struct {
	ObjectType string `json:"objectType"`
	State      string `json:"state"` // polling, paused, idle
	Reason     string `json:"reason,omitempty"`
	LastPoll   string `json:"lastPoll,omitempty"`
	LastError  string `json:"lastError,omitempty"`
	// LastEvents is the number of events the last poll produced; present exactly when lastPoll is.
	LastEvents *int `json:"lastEvents,omitempty"`
	// LastGap is the last time the vendor would not let a poll read every record, and why.
	LastGap string `json:"lastGap,omitempty"`
}

type elementJSON struct {
	ID                     int64    `json:"id"`
	Name                   string   `json:"name"`
	HookName               string   `json:"hookName"`
	Key                    string   `json:"key"`
	Description            string   `json:"description"`
	Image                  string   `json:"image"`
	Active                 bool     `json:"active"`
	Deleted                bool     `json:"deleted"`
	TypeOauth              bool     `json:"typeOauth"`
	TrialAccount           bool     `json:"trialAccount"`
	Resources              []any    `json:"resources"`
	TransformationsEnabled bool     `json:"transformationsEnabled"`
	BulkDownloadEnabled    bool     `json:"bulkDownloadEnabled"`
	BulkUploadEnabled      bool     `json:"bulkUploadEnabled"`
	Cloneable              bool     `json:"cloneable"`
	Extendable             bool     `json:"extendable"`
	Beta                   bool     `json:"beta"`
	Authentication         authJSON `json:"authentication"`
	Extended               bool     `json:"extended"`
	Hub                    string   `json:"hub"`
	ProtocolType           string   `json:"protocolType"`
	Parameters             []any    `json:"parameters"`
}

type authJSON struct {
	Type string `json:"type"`
}

type userJSON struct {
	ID int64 `json:"id"`
}

// viewInstance renders a compiled instance. conf is its configuration as sent, for
// event.poller.configuration, which the compiled instance holds only as jobs.
func viewInstance(in *engine.Instance, conf map[string]any) instanceJSON {
	c := make(map[string]string, len(in.Config)+1)
	for k, v := range in.Config {
		c[k] = v
	}
	if pc, ok := conf[engine.KeyPollerConfig]; ok {
		c[engine.KeyPollerConfig] = configString(pc)
	}
	for k := range c {
		if in.IsSecret(k) || secretName(k) {
			c[k] = masked
		}
	}
	v := baseView(in.ID, in.Name, in.Token, in.CreatedAt, in.Tags, in.Disabled)
	v.Element = viewElement(in.Element)
	v.ElementID = in.Element.ID
	v.Valid = true
	v.Configuration = c
	v.EventsEnabled = in.EventsEnabled
	return v
}

// viewRecord renders a stored record that no longer loads (its element was removed from the
// definitions, or its body no longer fits them): from the record alone, valid false, secrets masked by the
// element's declarations when the element is still known and by name always.
func viewRecord(el *engine.Element, rec *sqlite.Instance) instanceJSON {
	c := make(map[string]string, len(rec.Configuration))
	for k, raw := range rec.Configuration {
		if isSecretKey(el, k) {
			c[k] = masked
			continue
		}
		c[k] = configString(raw)
	}
	v := baseView(rec.ID, rec.Name, rec.Token, rec.CreatedAt, rec.Tags, rec.Disabled)
	if el != nil {
		v.Element = viewElement(el)
		v.ElementID = el.ID
	} else {
		v.Element = elementJSON{Key: rec.ElementKey, Resources: []any{}, Parameters: []any{}, ProtocolType: "http"}
	}
	v.Configuration = c
	if s, set := c[engine.KeyEventsEnabled]; set {
		v.EventsEnabled = s == "true"
	} else {
		v.EventsEnabled = c[engine.KeyCallbackURL] != ""
	}
	return v
}

func baseView(id int64, name, token string, created time.Time, tags []string, disabled bool) instanceJSON {
	if tags == nil {
		tags = []string{}
	}
	return instanceJSON{
		ID:                     id,
		Name:                   name,
		CreatedDate:            created.UTC().Format("2006-01-02T15:04:05Z"),
		Token:                  token,
		Tags:                   tags,
		ProvisionInteractions:  []any{},
		Disabled:               disabled,
		ExternalAuthentication: "none",
		User:                   userJSON{ID: userID},
		Pollers:                []pollerJSON{},
	}
}

// viewPollers renders the runtime's job states. Reasons and errors are scrubbed of the
// instance's secret values, should a definition error or a vendor error ever quote one.
func viewPollers(sts []engine.JobStatus, secrets []string) []pollerJSON {
	out := make([]pollerJSON, 0, len(sts))
	for _, st := range sts {
		p := pollerJSON{
			ObjectType: st.ObjectType,
			State:      st.State,
			Reason:     scrub(st.Reason, secrets),
			LastError:  scrub(st.LastError, secrets),
			LastGap:    st.LastGap,
		}
		if !st.LastPoll.IsZero() {
			n := st.LastEvents
			p.LastPoll = st.LastPoll.UTC().Format(time.RFC3339)
			p.LastEvents = &n
		}
		out = append(out, p)
	}
	return out
}

func viewElement(el *engine.Element) elementJSON {
	sp := el.Spec
	return elementJSON{
		ID:                     sp.ID,
		Name:                   sp.Name,
		HookName:               sp.HookName,
		Key:                    sp.Key,
		Description:            sp.Description,
		Image:                  sp.Image,
		Active:                 true,
		Resources:              []any{},
		TransformationsEnabled: true,
		BulkDownloadEnabled:    true,
		BulkUploadEnabled:      true,
		Cloneable:              true,
		Extendable:             true,
		Authentication:         authJSON{Type: sp.Authentication.Type},
		Hub:                    sp.Hub,
		ProtocolType:           "http",
		Parameters:             []any{},
	}
}

// configString renders a configuration value as the platform echoes it: a string as is, other
// scalars in their JSON form, objects and arrays as JSON text.
func configString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, err := marshal(x)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// isSecretKey reports whether a configuration key holds a secret: the element declares it so, it
// is the signature key, or its name says so.
func isSecretKey(el *engine.Element, key string) bool {
	if key == engine.KeySignatureKey || secretName(key) {
		return true
	}
	if el == nil {
		return false
	}
	k, ok := el.ConfigKey(key)
	return ok && k.Secret
}

// secretName reports whether a key's name suggests a secret: username (Freshdesk's API key),
// password, or a name containing secret, key or token.
func secretName(key string) bool {
	k := strings.ToLower(key)
	if k == "username" || k == "password" {
		return true
	}
	return strings.Contains(k, "secret") || strings.Contains(k, "key") || strings.Contains(k, "token")
}

// secretValues returns the non-empty values of a configuration's secret keys, longest first.
func secretValues(el *engine.Element, conf map[string]any) []string {
	var out []string
	for k, v := range conf {
		if !isSecretKey(el, k) {
			continue
		}
		switch v.(type) {
		case string, json.Number, float64:
			if s := configString(v); s != "" {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// scrub replaces every occurrence of a secret value in s.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, masked)
	}
	return s
}
