package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Configuration keys of the events framework, shared by every element.
const (
	KeyEventsEnabled   = "event.notification.enabled"
	KeyVendorType      = "event.vendor.type"
	KeyCallbackURL     = "event.notification.callback.url"
	KeySignatureKey    = "event.notification.signature.key"
	KeyRefreshInterval = "event.poller.refresh_interval"
	KeyPollerConfig    = "event.poller.configuration"
	KeyBaseURL         = "base.url"
	KeyFilterNulls     = "filter.response.nulls"
	KeyBackfillFrom    = "event.poller.backfill.from"
	// KeyPollerURLs is the platform's legacy, pipe-separated form of the poller configuration:
	// resource names or hub URLs ("incidents|contacts"). It is read only when
	// event.poller.configuration is absent.
	KeyPollerURLs = "event.poller.urls"
	// KeyPreviousSignatureKey holds the key being rotated out: notifications carry a Standard
	// Webhooks signature with it too, so that receivers holding either key verify them.
	KeyPreviousSignatureKey = "event.notification.signature.key.previous"
	// KeyStandardWebhooks adds the Standard Webhooks headers (webhook-id, webhook-timestamp,
	// webhook-signature), which let receivers reject replays.
	KeyStandardWebhooks = "event.notification.signature.standard"
)

// Instance is a compiled element instance: an account at a vendor, its credentials, and what to
// poll and where to deliver. Config holds secrets; never log it or return it unmasked.
type Instance struct {
	ID        int64
	Name      string
	Tags      []string
	Token     string
	CreatedAt time.Time
	Disabled  bool

	Element          *Element
	Spec             InstanceSpec // the body it was compiled from, to compile again after a reload
	Config           map[string]string
	EventsEnabled    bool
	CallbackURL      string
	SignatureKey     string
	PreviousKey      string // during a key rotation
	StandardWebhooks bool
	Interval         time.Duration
	BackfillFrom     time.Time // changes from this date are reported too; zero = from creation only
	Endpoint         Endpoint
	Jobs             []*JobSpec // sorted by ObjectType
	// Paused lists the configured jobs that do not compile against the current definitions (their
	// resource was removed, or changed so that the configuration no longer fits). They resume,
	// from their cursors, when a reload makes them compile again.
	Paused []PausedJob
	// Invalid, when set, says why the vendor refuses the instance as a whole (its credentials):
	// every job is paused until the configuration changes or a later probe succeeds.
	Invalid string
	// UserID and OrganizationID own the instance (see InstanceRecord).
	UserID, OrganizationID int64
	// Fence, when set, is the lease its vendor account is polled under on this node (Cluster):
	// every commit of its polls and every delivery attempt of its notifications carries it.
	Fence *Fence
	// PolledUntil, when set, is until when its jobs were polled on their slots by another node:
	// the node that held its vendor account's lease before this one took it over from a dead
	// node (Cluster). A job whose slot fell after it was missed, and the Scheduler polls it at
	// once (spread over a moment) instead of waiting for its next slot. Only a new job reads it.
	PolledUntil time.Time

	limits Limits    // what it was compiled within, to compile again after a reload
	scrub  *scrubber // its secrets, in every form a message may quote them
}

// PausedJob is a configured job that is not polling, and why.
type PausedJob struct {
	ObjectType string
	Resource   string
	Reason     string
}

// Endpoint is where and as whom an instance calls its vendor.
type Endpoint struct {
	BaseURL string
	Auth    Credentials
	Headers map[string]string
}

// Credentials are resolved vendor credentials. String never shows them.
type Credentials struct {
	Type     string // basic, header, none
	Username string
	Password string
	Headers  map[string]string
}

// equal reports whether two sets of credentials are the same.
func (c Credentials) equal(d Credentials) bool {
	return c.Type == d.Type && c.Username == d.Username && c.Password == d.Password && maps.Equal(c.Headers, d.Headers)
}

// String masks the credentials so that they cannot leak through %v.
func (c Credentials) String() string { return "Credentials{" + c.Type + ", ****}" }

// GoString masks the credentials so that they cannot leak through %#v.
func (c Credentials) GoString() string { return c.String() }

// signatureKeys are the keys notifications are signed with: the current one, then the previous.
func (in *Instance) signatureKeys() []string {
	switch {
	case in.SignatureKey == "":
		return nil
	case in.PreviousKey == "":
		return []string{in.SignatureKey}
	}
	return []string{in.SignatureKey, in.PreviousKey}
}

// Job returns the instance's job for an object type.
func (in *Instance) Job(objectType string) (*JobSpec, bool) {
	for _, j := range in.Jobs {
		if j.ObjectType == objectType {
			return j, true
		}
	}
	return nil, false
}

// IsSecret reports whether a configuration key holds a secret: the element marks it so, or it is
// the signature key.
func (in *Instance) IsSecret(key string) bool {
	if key == KeySignatureKey || key == KeyPreviousSignatureKey {
		return true
	}
	k, ok := in.Element.ConfigKey(key)
	return ok && k.Secret
}

// CompileInstance checks an instance body against the catalog, within the default Limits, and
// compiles it. Every problem is reported, each with the JSON pointer of the body value at fault.
func CompileInstance(cat *Catalog, spec InstanceSpec) (*Instance, error) {
	return Limits{}.Compile(cat, spec)
}

// CompileStoredInstance is Limits.CompileStored with the default Limits.
func CompileStoredInstance(cat *Catalog, spec InstanceSpec) (*Instance, error) {
	return Limits{}.CompileStored(cat, spec)
}

// Recompile compiles the instance's body again against cat, within the limits it was compiled
// with, keeping its identity; jobs that no longer compile are paused.
func (in *Instance) Recompile(cat *Catalog) (*Instance, error) {
	out, err := in.limits.CompileStored(cat, in.Spec)
	if err != nil {
		return nil, err
	}
	out.ID, out.Token, out.CreatedAt, out.Disabled = in.ID, in.Token, in.CreatedAt, in.Disabled
	out.UserID, out.OrganizationID, out.Fence, out.PolledUntil = in.UserID, in.OrganizationID, in.Fence, in.PolledUntil
	return out, nil
}

func compileInstance(cat *Catalog, spec InstanceSpec, lim Limits, lenient bool) (*Instance, error) {
	var c errs
	el, ok := cat.Element(spec.Element.Key)
	if !ok && spec.Element.Key == "" && spec.Element.ID != 0 {
		el, ok = cat.ElementByID(spec.Element.ID)
	}
	if !ok {
		ref := spec.Element.Key
		if ref == "" {
			ref = strconv.FormatInt(spec.Element.ID, 10)
		}
		return nil, Errors{{Pointer: "/element/key", Msg: fmt.Sprintf("unknown element %q; known elements: %s", ref, strings.Join(cat.Keys(), ", "))}}
	}
	in := &Instance{Name: spec.Name, Tags: spec.Tags, Element: el, Spec: spec, Config: map[string]string{}, limits: lim}
	if in.Tags == nil {
		in.Tags = []string{}
	}
	var pollerRaw any
	for key, v := range spec.Configuration {
		ptr := Pointer("configuration", key)
		decl, known := el.ConfigKey(key)
		if !known {
			c.add(ptr, "unknown configuration key %q for element %s; known keys: %s", key, el.Key, strings.Join(configKeyNames(el), ", "))
			continue
		}
		if key == KeyPollerConfig {
			pollerRaw = v
			continue
		}
		s, err := configString(v, decl.Type)
		if err != nil {
			c.wrap(ptr, err)
			continue
		}
		in.Config[key] = s
	}
	for _, k := range el.Spec.Configuration {
		if _, set := in.Config[k.Key]; !set && k.Default != "" && k.Key != KeyPollerConfig {
			in.Config[k.Key] = k.Default
		}
		if k.Required && in.Config[k.Key] == "" {
			c.add(Pointer("configuration", k.Key), "is required (%s)", describeKey(k))
		}
	}
	in.compileEvents(el, pollerRaw, lim, lenient, &c)
	in.compileEndpoint(el, &c)
	in.scrub = newScrubber(in)
	switch {
	case lenient: // written before: checked then, and at every connection
	case lim.Egress != nil:
		in.checkEndpoint(el, lim, &c)
		if in.CallbackURL != "" {
			if err := lim.Egress.CheckURL(in.CallbackURL); err != nil {
				c.add(Pointer("configuration", KeyCallbackURL), "%v", err)
			}
		}
	case in.CallbackURL != "":
		if u, err := url.Parse(in.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.add(Pointer("configuration", KeyCallbackURL), "must be an absolute http or https URL")
		}
	}
	if len(c.list) > 0 {
		c.list.Sort()
		return nil, c.list
	}
	return in, nil
}

func (in *Instance) compileEvents(el *Element, pollerRaw any, lim Limits, lenient bool, c *errs) {
	cfg := in.Config
	in.CallbackURL = cfg[KeyCallbackURL]
	in.SignatureKey = cfg[KeySignatureKey]
	in.PreviousKey = cfg[KeyPreviousSignatureKey]
	in.StandardWebhooks = cfg[KeyStandardWebhooks] == "true"
	if in.PreviousKey != "" && in.SignatureKey == "" {
		c.add(Pointer("configuration", KeyPreviousSignatureKey), "needs %s: the previous key only accompanies a current one", KeySignatureKey)
	}
	// The callback URL is checked with the egress policy, once everything is compiled.
	// The platform's documented default is false, yet its own examples enable polling by giving a
	// callback url and a poller configuration without the flag. Pollen follows the examples: when
	// the flag is absent, events are on exactly when a callback url is given.
	if v, set := cfg[KeyEventsEnabled]; set {
		in.EventsEnabled = v == "true"
	} else {
		in.EventsEnabled = in.CallbackURL != ""
	}
	if in.EventsEnabled && in.CallbackURL == "" {
		c.add(Pointer("configuration", KeyCallbackURL), "is required when events are enabled")
	}
	if vt := cfg[KeyVendorType]; vt != "" && vt != "polling" {
		c.add(Pointer("configuration", KeyVendorType), "%q is not supported; element %s delivers events by polling", vt, el.Key)
	}
	minutes := el.Spec.Events.RefreshIntervalMinutes
	if minutes <= 0 {
		minutes = 15
	}
	in.Interval, _ = lim.interval(strconv.FormatFloat(minutes, 'f', -1, 64), true)
	if s := cfg[KeyRefreshInterval]; s != "" {
		d, err := lim.interval(s, lenient)
		if err != nil {
			c.add(Pointer("configuration", KeyRefreshInterval), "%v", err)
		} else {
			in.Interval = d
		}
	}
	if s := strings.TrimSpace(cfg[KeyBackfillFrom]); s != "" {
		t, err := parseBackfill(s)
		if err != nil {
			c.add(Pointer("configuration", KeyBackfillFrom), "%q must be a date such as 2024-01-31 or 2024-01-31T00:00:00Z", s)
		}
		in.BackfillFrom = t
	}

	specs, ptrs, err := decodePollerConfig(pollerRaw)
	if err != nil {
		c.wrap(Pointer("configuration", KeyPollerConfig), err)
		return
	}
	fromURLs := false
	if specs == nil {
		specs = pollerURLs(cfg[KeyPollerURLs])
		fromURLs = specs != nil
	}
	if specs == nil {
		specs = map[string]PollerSpec{}
		for _, name := range el.Spec.Events.DefaultResources {
			specs[name] = PollerSpec{}
		}
	}
	for _, name := range sortedKeys(specs) {
		ps := specs[name]
		ptr := Pointer("configuration", KeyPollerConfig, name)
		if fromURLs {
			ptr = Pointer("configuration", KeyPollerURLs)
		}
		// What the instance leaves out comes from the default of the resource its url names (or,
		// without a url, of the resource the entry is named after).
		resName := name
		if ps.URL != "" {
			path, _, _ := strings.Cut(ps.URL, "?")
			resName = path[strings.LastIndexByte(path, '/')+1:]
		}
		var problems Errors
		switch {
		case ptrs[name] != nil:
			problems = Errors{{Pointer: ptr, Msg: ptrs[name].Error(), Err: ptrs[name]}}
		case el.Resources[resName] == nil && ps.URL == "":
			problems = Errors{{Pointer: ptr, Msg: fmt.Sprintf("element %s has no resource %q; it has %s", el.Key, name, strings.Join(el.ResourceNames(), ", "))}}
		default:
			if r, ok := el.Resources[resName]; ok {
				ps = mergePoller(ps, r.Default.Poller)
			}
			job, err := compileJobSpec(el, nil, name, ps, ptr)
			if err == nil {
				in.Jobs = append(in.Jobs, job)
				continue
			}
			problems = AsErrors(err)
		}
		if lenient {
			in.Paused = append(in.Paused, PausedJob{ObjectType: name, Resource: resName, Reason: problems.Error()})
		} else {
			c.list = append(c.list, problems...)
		}
	}
}

// pollerURLs reads the legacy event.poller.urls: resource names or hub URLs separated by '|'. A
// URL polls the resource its path names, with that URL. Nil when it names nothing.
func pollerURLs(v string) map[string]PollerSpec {
	var specs map[string]PollerSpec
	for _, part := range strings.Split(v, "|") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if specs == nil {
			specs = map[string]PollerSpec{}
		}
		if !strings.HasPrefix(part, "/") {
			specs[part] = PollerSpec{}
			continue
		}
		path, _, _ := strings.Cut(part, "?")
		specs[path[strings.LastIndexByte(path, '/')+1:]] = PollerSpec{URL: part}
	}
	return specs
}

// decodePollerConfig decodes event.poller.configuration, given as an object or as a JSON-encoded
// string. Unknown fields are errors, reported per resource.
func decodePollerConfig(raw any) (map[string]PollerSpec, map[string]error, error) {
	if raw == nil {
		return nil, nil, nil
	}
	var data []byte
	switch v := raw.(type) {
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, nil, nil
		}
		data = []byte(v)
	case map[string]any:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, nil, err
		}
		data = b
	default:
		return nil, nil, fmt.Errorf("must be an object keyed by resource name, or that object as a JSON string")
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, nil, fmt.Errorf("must be an object keyed by resource name, or that object as a JSON string: %v", err)
	}
	specs := map[string]PollerSpec{}
	errs := map[string]error{}
	for name, e := range entries {
		var ps PollerSpec
		dec := json.NewDecoder(bytes.NewReader(e))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ps); err != nil {
			errs[name] = err
		}
		specs[name] = ps
	}
	return specs, errs, nil
}

func (in *Instance) compileEndpoint(el *Element, c *errs) {
	base := in.Config[KeyBaseURL]
	if base == "" {
		base = el.baseURL.expand(in.Config)
	} else if u, err := url.Parse(base); err != nil || u.Scheme == "" || u.Host == "" {
		c.add(Pointer("configuration", KeyBaseURL), "must be an absolute URL")
	}
	in.Endpoint = Endpoint{BaseURL: strings.TrimRight(base, "/"), Headers: el.Spec.Headers}
	a := el.Spec.Authentication
	in.Endpoint.Auth = Credentials{Type: a.Type}
	switch a.Type {
	case "basic":
		in.Endpoint.Auth.Username = el.authUser.expand(in.Config)
		in.Endpoint.Auth.Password = el.authPass.expand(in.Config)
	case "header":
		in.Endpoint.Auth.Headers = map[string]string{}
		for h, t := range el.authHeader {
			in.Endpoint.Auth.Headers[h] = t.expand(in.Config)
		}
	}
}

// configString normalises a configuration value to the string the platform stores.
func configString(v any, typ string) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		if typ == "boolean" {
			if _, err := strconv.ParseBool(x); err != nil {
				return "", fmt.Errorf("%q is not a boolean", x)
			}
		}
		if typ == "number" && strings.TrimSpace(x) != "" {
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
				return "", fmt.Errorf("%q is not a number", x)
			}
		}
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", err
		}
		if typ != "json" {
			return "", fmt.Errorf("must be a %s value, not %s", typ, string(b))
		}
		return string(b), nil
	}
}

func configKeyNames(el *Element) []string {
	var out []string
	for _, k := range el.Spec.Configuration {
		out = append(out, k.Key)
	}
	sort.Strings(out)
	return out
}

func describeKey(k ConfigKey) string {
	if k.Name != "" {
		return k.Name
	}
	return k.Type
}

// parseBackfill reads a backfill date: RFC 3339, or a date (midnight UTC).
func parseBackfill(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date")
}
