package api

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/instances"
)

// masked replaces the value of every secret configuration key in responses.
const masked = engine.Masked

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
	// Node, also Pollen's, is the node that polls the instance, when several share the store.
	Node string `json:"node,omitempty"`
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

// viewDelivery renders how an instance's delivery stands, when something holds it back.
func viewDelivery(st *engine.DeliveryState) *deliveryJSON {
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
	State      string `json:"state"` // polling, failing, held, paused, idle, remote
	Reason     string `json:"reason,omitempty"`
	LastPoll   string `json:"lastPoll,omitempty"`
	NextPoll   string `json:"nextPoll,omitempty"`
	LastError  string `json:"lastError,omitempty"`
	// ConsecutiveFailures counts the polls that failed in a row, up to the last one.
	ConsecutiveFailures int `json:"consecutiveFailures,omitempty"`
	// Held is the record that holds the job's position below it (no id, a date that does not
	// read), and why; HeldRecord names it for an operator's skip.
	Held       string `json:"held,omitempty"`
	HeldRecord string `json:"heldRecord,omitempty"`
	// Stopped says why the last poll ended before the end of its lists (its deadline, its page
	// budget, the vendor's rate budget); it went on from there at its next turn.
	Stopped string `json:"stopped,omitempty"`
	// LastEvents is the number of events the last poll produced; present exactly when lastPoll is.
	LastEvents *int `json:"lastEvents,omitempty"`
	// LastGap is the last time the vendor would not let a poll read every record, and why.
	LastGap string `json:"lastGap,omitempty"`
	// Node is the node that polls the job, when several share the store.
	Node string `json:"node,omitempty"`
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

// userJSON is the instance's owner, as the platform shows it.
type userJSON struct {
	ID           int64  `json:"id"`
	EmailAddress string `json:"emailAddress"`
	FirstName    string `json:"firstName"`
	LastName     string `json:"lastName"`
}

// usersKey holds, in a request's context, the owners already looked up for it.
type usersKey struct{}

// instanceView is view with the owner's user object filled in from the tenants service (looked up
// once per user and request).
func (s *Server) instanceView(ctx context.Context, in *instances.Instance) instanceJSON {
	v := s.view(in)
	v.User = s.owner(ctx, v.User.ID)
	return v
}

// owner returns the user object of an instance's owner. The principal sees the instance, so they
// see who owns it: themselves, or a user of the organization they administer.
func (s *Server) owner(ctx context.Context, id int64) userJSON {
	u := userJSON{ID: id}
	cache, _ := ctx.Value(usersKey{}).(map[int64]userJSON)
	if c, ok := cache[id]; ok {
		return c
	}
	if s.tenants != nil {
		if user, err := s.tenants.FindUser(ctx, strconv.FormatInt(id, 10)); err == nil {
			u.EmailAddress, u.FirstName, u.LastName = user.Email, user.FirstName, user.LastName
		} else if !errors.Is(err, engine.ErrNotFound) {
			s.log.Warn("instance owner not read", "user", id, "error", err, "requestId", requestID(ctx))
		}
	}
	if cache != nil {
		cache[id] = u
	}
	return u
}

// view renders an instance of the service in the platform's shape: compiled when it still loads
// with the current definitions (jobs whose resource is gone show as paused pollers), otherwise
// from the record alone with valid false. Secret keys are masked, and so are the credentials in
// its URLs; poller reasons and errors are scrubbed of its secrets.
func (s *Server) view(in *instances.Instance) instanceJSON {
	rec, el := in.Record, in.Element
	c := make(map[string]string, len(rec.Configuration)+4)
	if in.Compiled != nil {
		el = in.Compiled.Element
		for k, v := range in.Compiled.Config {
			c[k] = v
		}
		if pc, ok := rec.Configuration[engine.KeyPollerConfig]; ok {
			c[engine.KeyPollerConfig] = configString(pc)
		}
	} else {
		for k, raw := range rec.Configuration {
			c[k] = configString(raw)
		}
	}
	for k, v := range c {
		switch {
		case instances.IsSecretKey(el, k):
			c[k] = masked
		case instances.URLKey(k):
			c[k] = engine.MaskURL(v)
		}
	}
	v := baseView(rec.ID, rec.Name, rec.Token, rec.CreatedAt, rec.Tags, rec.Disabled)
	v.User = userJSON{ID: rec.UserID}
	if el != nil {
		v.Element = viewElement(el)
		v.ElementID = el.ID
	} else {
		v.Element = elementJSON{Key: rec.ElementKey, Resources: []any{}, Parameters: []any{}, ProtocolType: "http"}
	}
	v.Configuration = c
	v.Valid = in.Valid
	if in.Compiled != nil {
		v.EventsEnabled = in.Compiled.EventsEnabled
	} else if s, set := c[engine.KeyEventsEnabled]; set {
		v.EventsEnabled = s == "true"
	} else {
		v.EventsEnabled = c[engine.KeyCallbackURL] != ""
	}
	if in.Problems != nil {
		s.log.Warn("stored instance does not load with the current definitions", "instance", rec.ID,
			"element", rec.ElementKey, "problems", definitions.Describe(in.Problems))
	}
	v.Pollers = viewPollers(in)
	v.Node = in.Node
	v.Delivery = viewDelivery(in.Delivery)
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
		Pollers:                []pollerJSON{},
	}
}

// viewPollers renders the runtime's job states. Reasons and errors are scrubbed of the
// instance's secrets, should a definition error or a vendor error ever quote one.
func viewPollers(in *instances.Instance) []pollerJSON {
	out := make([]pollerJSON, 0, len(in.Status))
	for _, st := range in.Status {
		p := pollerJSON{
			ObjectType: st.ObjectType,
			State:      st.State,
			Reason:     in.Scrub(st.Reason),
			LastError:  in.Scrub(st.LastError),
			LastGap:    st.LastGap,

			ConsecutiveFailures: st.Failures,
			Held:                in.Scrub(st.Held),
			HeldRecord:          in.Scrub(st.HeldRecord),
			Stopped:             st.Stopped,
			Node:                st.Node,
		}
		if !st.NextPoll.IsZero() {
			p.NextPoll = st.NextPoll.UTC().Format(time.RFC3339)
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
