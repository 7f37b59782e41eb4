// Package instances is the one place where an instance's lifecycle happens: create, read,
// update, enable and disable, delete, and resume at startup, each checking that the principal
// may see the instance. The HTTP API and the web console map requests to it and nothing more.
//
// Bodies are loaded by definitions.LoadInstanceWithin, the load path `pollen validate` shares,
// within the operator's engine.Limits (refresh interval bounds, the egress policy). A created
// instance belongs to its creator (engine.InstanceRecord.UserID) and their organization; a
// principal that may not see an instance gets engine.ErrNotFound, exactly as for an instance
// that does not exist. A masked secret written back ("********", or a URL whose credentials
// were masked) keeps the stored value.
package instances

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/schemas"
)

// Store keeps instances. adapters/sqlite's Store implements it.
type Store interface {
	CreateInstance(ctx context.Context, in *engine.InstanceRecord) error
	UpdateInstance(ctx context.Context, in *engine.InstanceRecord) error
	Instance(ctx context.Context, id int64) (*engine.InstanceRecord, error)
	InstanceByToken(ctx context.Context, token string) (*engine.InstanceRecord, error)
	Instances(ctx context.Context, sc engine.Scope) ([]*engine.InstanceRecord, error)
	DeleteInstance(ctx context.Context, id int64) error
	// InstanceOwner returns who owns, or owned once deleted, an instance.
	InstanceOwner(ctx context.Context, id int64) (userID, orgID int64, err error)
}

// Runtime runs the pollers of instances. *engine.Runtime implements it.
type Runtime interface {
	// Catalog returns the current catalog; it may change between calls (hot reload).
	Catalog() *engine.Catalog
	// Apply starts or updates an instance's polling.
	Apply(in *engine.Instance)
	// Remove stops an instance's polling.
	Remove(id int64)
	// Status returns where each configured job of an instance stands; nil when it is not running.
	Status(id int64) []engine.JobStatus
	// Valid reports whether the vendor accepts the instance, and why not.
	Valid(id int64) (bool, string)
	// SkipRecord lets a job read past a record that does not read (one that holds it), from
	// its next poll on; false when the instance has no such running job.
	SkipRecord(id int64, objectType, recordID string) bool
}

// Options configure a Service.
type Options struct {
	Store   Store   // required
	Runtime Runtime // required
	// Limits bound what instances may configure: refresh intervals and the egress policy.
	Limits engine.Limits
	// Events keeps the event history (history.go); nil = none.
	Events EventStore
	Logger hclog.Logger // nil = no logging
	// Clock dates instances' creation and changes; nil = engine.SystemClock. A server gives the
	// Runtime's own.
	Clock engine.Clock
	// Changed, when set, is called after an instance was created, changed, enabled or disabled,
	// or deleted through this service: with several nodes on one store, to tell the others
	// (engine.Cluster.Changed), which Refresh it.
	Changed func(id int64)
}

// Service runs the instance lifecycle. It is safe for concurrent use.
type Service struct {
	store   Store
	rt      Runtime
	limits  engine.Limits
	events  EventStore
	log     hclog.Logger
	clock   engine.Clock
	changed func(id int64)
	// mu serializes the read-merge-store-apply of writes (and Refresh and Sync), so that
	// concurrent updates neither lose each other's changes nor apply out of order.
	mu sync.Mutex
	// applied is the version (UpdatedAt) of each stored instance last handed to the runtime, or
	// found not to load: Sync applies only what changed since.
	applied map[int64]time.Time
}

var (
	_ Runtime = (*engine.Runtime)(nil)
	_ Runtime = (*engine.Cluster)(nil)
)

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Runtime == nil {
		return nil, errors.New("instances: Options.Store and Options.Runtime are required")
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Clock == nil {
		o.Clock = engine.SystemClock{}
	}
	return &Service{store: o.Store, rt: o.Runtime, limits: o.Limits, events: o.Events, log: o.Logger, clock: o.Clock,
		changed: o.Changed, applied: map[int64]time.Time{}}, nil
}

// Catalog returns the runtime's current catalog.
func (s *Service) Catalog() *engine.Catalog { return s.rt.Catalog() }

// Instance is an instance as the service hands it out: the stored record, and the compiled
// instance when the record still loads with the current definitions.
type Instance struct {
	Record *engine.InstanceRecord
	// Compiled is nil when the record no longer loads; Problems say why.
	Compiled *engine.Instance
	Problems []definitions.Problem
	// Element is the record's element in the current catalog; nil when it was removed.
	Element *engine.Element
	// Status is where each configured job stands; Valid whether the vendor accepts it.
	Status []engine.JobStatus
	Valid  bool
	// Delivery says what holds the instance's deliveries back (its callback answered 410 Gone, or
	// asked with Retry-After to wait); nil when nothing does, or the runtime does not tell.
	Delivery *engine.DeliveryState
	// Node is the node that polls the instance, when several share the store; "" otherwise, or
	// while no node holds its vendor account's lease.
	Node string
}

// Scrub replaces the instance's secrets in s: every form of them when it loads, the values of its
// secret configuration keys otherwise.
func (in *Instance) Scrub(s string) string {
	if in.Compiled != nil {
		return in.Compiled.Scrub(s)
	}
	return scrubValues(s, SecretValues(in.Element, in.Record.Configuration))
}

// ProblemsError is a body with problems: every field at fault, messages scrubbed of the body's
// secrets.
type ProblemsError struct {
	What     string // "Invalid instance body", ...
	Problems []definitions.Problem
}

func (e *ProblemsError) Error() string {
	return fmt.Sprintf("%s: %s", e.What, definitions.Describe(e.Problems))
}

// ConflictError refuses a change the instance's current state does not allow (enabling an
// instance that no longer loads).
type ConflictError struct {
	Msg      string
	Problems []definitions.Problem
}

func (e *ConflictError) Error() string { return e.Msg }

// ErrNoToken is returned by SetDisabled without an Element token.
var ErrNoToken = errors.New("the request carries no Element token")

// ErrBadToken is returned for an Element token no instance the principal sees has.
var ErrBadToken = errors.New("no instance has this Element token")

// view completes an Instance from its record.
func (s *Service) view(rec *engine.InstanceRecord, cat *engine.Catalog, compiled *engine.Instance) *Instance {
	out := &Instance{Record: rec, Compiled: compiled}
	out.Element, _ = cat.Element(rec.ElementKey)
	if compiled == nil {
		out.Compiled, out.Problems = s.compile(cat, rec)
	}
	out.Status = s.rt.Status(rec.ID)
	out.Valid, _ = s.rt.Valid(rec.ID)
	if dr, ok := s.rt.(interface {
		Delivery(id int64) *engine.DeliveryState
	}); ok {
		out.Delivery = dr.Delivery(rec.ID) // *engine.Runtime tells
	}
	if nr, ok := s.rt.(interface{ PolledBy(id int64) string }); ok {
		out.Node = nr.PolledBy(rec.ID) // *engine.Cluster tells
	}
	if out.Compiled == nil {
		out.Valid = false
	}
	return out
}

// compile rebuilds the engine instance of a stored record against a catalog, leniently (a job
// whose resource no longer loads is paused), and sets the identity the body does not carry.
// Problems name the file "instance <id>".
func (s *Service) compile(cat *engine.Catalog, rec *engine.InstanceRecord) (*engine.Instance, []definitions.Problem) {
	name := fmt.Sprintf("instance %d", rec.ID)
	data, err := json.Marshal(recordBody(rec))
	if err != nil {
		return nil, []definitions.Problem{{File: name, Message: "cannot encode the stored instance: " + err.Error()}}
	}
	in, probs := definitions.LoadStoredInstanceWithin(cat, s.limits, name, data)
	if len(probs) > 0 {
		el, _ := cat.Element(rec.ElementKey)
		return nil, scrubProblems(probs, SecretValues(el, rec.Configuration))
	}
	identify(in, rec)
	return in, nil
}

func identify(in *engine.Instance, rec *engine.InstanceRecord) {
	in.ID, in.Token, in.CreatedAt, in.Disabled = rec.ID, rec.Token, rec.CreatedAt, rec.Disabled
	in.UserID, in.OrganizationID = rec.UserID, rec.OrganizationID
}

// Create loads a POST /instances body, stores it with its configuration as sent, owned by the
// principal, and hands it to the runtime.
func (s *Service) Create(ctx context.Context, p engine.Principal, body []byte) (*Instance, error) {
	cat := s.rt.Catalog()
	in, probs := definitions.LoadInstanceWithin(cat, s.limits, "body", body)
	if len(probs) > 0 {
		return nil, &ProblemsError{What: "Invalid instance body", Problems: scrubProblems(probs, bodySecrets(cat, body))}
	}
	conf, err := bodyConfiguration(body)
	if err != nil { // the body loaded, so this is a defect
		return nil, fmt.Errorf("decode accepted body: %w", err)
	}
	now := s.clock.Now().UTC()
	rec := &engine.InstanceRecord{Name: in.Name, Tags: in.Tags, Token: newToken(), ElementKey: in.Element.Key,
		Configuration: conf, CreatedAt: now, UpdatedAt: now, UserID: p.UserID, OrganizationID: p.OrganizationID}
	s.mu.Lock()
	if err := s.store.CreateInstance(ctx, rec); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("store instance: %w", err)
	}
	identify(in, rec)
	s.rt.Apply(in)
	s.applied[rec.ID] = rec.UpdatedAt
	s.mu.Unlock()
	s.announce(rec.ID)
	s.log.Info("instance created", "instance", in.ID, "element", in.Element.Key, "user", p.UserID,
		"organization", p.OrganizationID, "resources", len(in.Jobs))
	return s.view(rec, cat, in), nil
}

// ListFilter selects instances. Zero fields select everything.
type ListFilter struct {
	// ElementKey keeps the instances of one element.
	ElementKey string
	// SearchText keeps the instances whose name contains it, ignoring case.
	SearchText string
	// Tags keeps the instances that carry at least one of them.
	Tags []string
	// AfterID, Offset and Limit page the list: of the ids greater than AfterID, those after the
	// first Offset, at most Limit (<= 0: all).
	AfterID int64
	Offset  int
	Limit   int
}

// matches reports whether a record passes the filter's selection (not its paging).
func (f ListFilter) matches(rec *engine.InstanceRecord) bool {
	if f.ElementKey != "" && rec.ElementKey != f.ElementKey {
		return false
	}
	if f.SearchText != "" && !strings.Contains(strings.ToLower(rec.Name), strings.ToLower(f.SearchText)) {
		return false
	}
	if len(f.Tags) > 0 && !slices.ContainsFunc(rec.Tags, func(t string) bool { return slices.Contains(f.Tags, t) }) {
		return false
	}
	return true
}

// List returns the instances the principal sees that f selects, by id, and whether more follow
// the page.
func (s *Service) List(ctx context.Context, p engine.Principal, f ListFilter) ([]*Instance, bool, error) {
	recs, err := s.store.Instances(ctx, p.Scope())
	if err != nil {
		return nil, false, err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	cat := s.rt.Catalog()
	out := make([]*Instance, 0, len(recs))
	skip := f.Offset
	for _, rec := range recs {
		if !p.CanSee(rec) || rec.ID <= f.AfterID || !f.matches(rec) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if f.Limit > 0 && len(out) == f.Limit {
			return out, true, nil
		}
		out = append(out, s.view(rec, cat, nil))
	}
	return out, false, nil
}

// record reads an instance the principal sees: ErrNotFound otherwise.
func (s *Service) record(ctx context.Context, p engine.Principal, id int64) (*engine.InstanceRecord, error) {
	rec, err := s.store.Instance(ctx, id)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && !p.CanSee(rec)) {
		return nil, fmt.Errorf("instance %d: %w", id, engine.ErrNotFound)
	}
	return rec, err
}

// Get returns an instance the principal sees.
func (s *Service) Get(ctx context.Context, p engine.Principal, id int64) (*Instance, error) {
	rec, err := s.record(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.view(rec, s.rt.Catalog(), nil), nil
}

// ByToken returns the instance an Element token names, when the principal sees it; ErrBadToken
// otherwise.
func (s *Service) ByToken(ctx context.Context, p engine.Principal, token string) (*Instance, error) {
	rec, err := s.byToken(ctx, p, token)
	if err != nil {
		return nil, err
	}
	return s.view(rec, s.rt.Catalog(), nil), nil
}

func (s *Service) byToken(ctx context.Context, p engine.Principal, token string) (*engine.InstanceRecord, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	rec, err := s.store.InstanceByToken(ctx, token)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && !p.CanSee(rec)) {
		return nil, ErrBadToken
	}
	return rec, err
}

// Narrow returns the principal narrowed to the instance an Element token names: it then reaches
// that instance only. ErrBadToken when the principal does not see such an instance.
func (s *Service) Narrow(ctx context.Context, p engine.Principal, token string) (engine.Principal, error) {
	rec, err := s.byToken(ctx, p, token)
	if err != nil {
		return p, err
	}
	p.InstanceID = rec.ID
	return p, nil
}

// Owns reports whether the principal sees an instance, deleted ones included (for their event
// history): nil, or ErrNotFound.
func (s *Service) Owns(ctx context.Context, p engine.Principal, id int64) error {
	user, org, err := s.store.InstanceOwner(ctx, id)
	if err != nil {
		return err
	}
	if !p.Scope().Holds(id, user, org) {
		return fmt.Errorf("instance %d: %w", id, engine.ErrNotFound)
	}
	return nil
}

// Merge applies a request body to the body of a stored record (element, name, tags,
// configuration), reporting what does not fit.
type Merge func(body, req map[string]any) []definitions.Problem

// Update describes a change of an instance.
type Update struct {
	Method string   // for messages and logs: PATCH, PUT
	Fields []string // the top-level fields the request body may carry
	// Strict loads the result like a POST body when the configuration changed; otherwise, and
	// always without Strict, like a stored record, so that an instance with paused jobs can
	// still be renamed, and its configuration written back as it was read.
	Strict bool
	Merge  Merge
	Body   []byte
}

// Patch is PATCH /instances/{id}: any of name, tags (replaced) and configuration (merged key by
// key; null removes a key; event.poller.configuration is replaced whole).
func (s *Service) Patch(ctx context.Context, p engine.Principal, id int64, body []byte) (*Instance, error) {
	return s.Update(ctx, p, id, Update{Method: "PATCH", Fields: []string{"name", "tags", "configuration"}, Strict: true, Merge: MergePatch, Body: body})
}

// Put is PUT /instances/{id}: name and tags replace the stored ones (tags left out: none), and a
// configuration, when given, is merged as PATCH merges it.
func (s *Service) Put(ctx context.Context, p engine.Principal, id int64, body []byte) (*Instance, error) {
	return s.Update(ctx, p, id, Update{Method: "PUT", Fields: []string{"name", "tags", "configuration"}, Strict: true, Merge: MergePut, Body: body})
}

// Update reads the stored record, merges the request body into the body it stands for (masked
// secrets written back keep their stored values), loads the result, and only when it loads
// stores it and hands it to the runtime.
func (s *Service) Update(ctx context.Context, p engine.Principal, id int64, u Update) (*Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.record(ctx, p, id)
	if err != nil {
		return nil, err
	}
	cat := s.rt.Catalog()
	el, _ := cat.Element(rec.ElementKey)
	secrets := SecretValues(el, rec.Configuration)
	reject := func(probs []definitions.Problem) error {
		return &ProblemsError{What: "Invalid instance body", Problems: scrubProblems(probs, secrets)}
	}
	if ps := definitions.CheckUTF8("body", u.Body); ps != nil {
		return nil, reject(ps)
	}
	v, err := schemas.Decode(u.Body)
	if err != nil {
		return nil, reject([]definitions.Problem{{Message: "not valid JSON: " + err.Error()}})
	}
	req, isObject := v.(map[string]any)
	if !isObject {
		return nil, reject([]definitions.Problem{{Message: u.Method + " body must be a JSON object with " + strings.Join(u.Fields, ", ")}})
	}
	if c, ok := req["configuration"].(map[string]any); ok {
		secrets = append(secrets, SecretValues(el, c)...)
	}
	var probs []definitions.Problem
	for _, k := range slices.Sorted(maps.Keys(req)) {
		switch {
		case slices.Contains(u.Fields, k):
		case k == "element":
			probs = append(probs, definitions.Problem{Pointer: engine.Pointer(k), Message: "the element of an instance cannot be changed; create another instance"})
		default:
			probs = append(probs, definitions.Problem{Pointer: engine.Pointer(k), Message: fmt.Sprintf("unknown field; %s accepts %s", u.Method, strings.Join(u.Fields, ", "))})
		}
	}
	body := recordBody(rec)
	mergeProbs := u.Merge(body, req)
	probs = append(probs, mergeProbs...)
	conf := body["configuration"].(map[string]any)
	keepMasked(el, conf, rec.Configuration)
	keepEchoed(el, conf, rec.Configuration)
	merged, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode merged body: %w", err)
	}
	load := definitions.LoadStoredInstanceWithin
	if u.Strict && !sameConfiguration(conf, rec.Configuration) {
		load = definitions.LoadInstanceWithin
	}
	// The merged body is loaded even when the request has other faults, so that one answer lists
	// them all; unless the merge itself failed, which leaves nothing meaningful to load.
	var in *engine.Instance
	if len(mergeProbs) == 0 {
		var loadProbs []definitions.Problem
		in, loadProbs = load(cat, s.limits, "body", merged)
		probs = append(probs, loadProbs...)
	}
	if len(probs) > 0 {
		return nil, reject(probs)
	}
	upd := *rec
	upd.Name, upd.Tags, upd.Configuration, upd.UpdatedAt = in.Name, in.Tags, conf, s.clock.Now().UTC()
	if err := s.store.UpdateInstance(ctx, &upd); err != nil {
		return nil, err
	}
	identify(in, &upd)
	s.rt.Apply(in)
	s.applied[upd.ID] = upd.UpdatedAt
	s.announce(upd.ID)
	var keys []string
	if c, ok := req["configuration"].(map[string]any); ok {
		keys = slices.Sorted(maps.Keys(c))
	}
	s.log.Info("instance updated", "instance", in.ID, "method", u.Method, "fields", slices.Sorted(maps.Keys(req)),
		"configurationKeys", keys, "resources", len(in.Jobs), "paused", len(in.Paused))
	return s.view(&upd, cat, in), nil
}

// Delete stops an instance's jobs and deletes it; its pending notifications are cancelled.
func (s *Service) Delete(ctx context.Context, p engine.Principal, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.record(ctx, p, id)
	if err != nil {
		return err
	}
	s.rt.Remove(rec.ID)
	if err := s.store.DeleteInstance(ctx, rec.ID); err != nil {
		if !errors.Is(err, engine.ErrNotFound) {
			// Still stored: let it run on as it did.
			if in, probs := s.compile(s.rt.Catalog(), rec); len(probs) == 0 {
				s.rt.Apply(in)
			}
		}
		return err
	}
	delete(s.applied, rec.ID)
	s.announce(rec.ID)
	s.log.Info("instance deleted", "instance", rec.ID, "element", rec.ElementKey, "user", p.UserID)
	return nil
}

// SetDisabled enables or disables the instance the principal is narrowed to by an Element token
// (ErrNoToken without one), keeping its configuration: a disabled instance polls and delivers
// nothing; its pending notifications go out once it is enabled. A record that no longer loads can
// be disabled, not enabled (ConflictError). It reports whether anything changed.
func (s *Service) SetDisabled(ctx context.Context, p engine.Principal, disabled bool) (*Instance, bool, error) {
	if p.InstanceID == 0 {
		return nil, false, ErrNoToken
	}
	return s.SetDisabledID(ctx, p, p.InstanceID, disabled)
}

// SetDisabledID is SetDisabled for an instance the principal sees, named by its id.
func (s *Service) SetDisabledID(ctx context.Context, p engine.Principal, id int64, disabled bool) (*Instance, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.record(ctx, p, id)
	if err != nil {
		return nil, false, err
	}
	cat := s.rt.Catalog()
	upd := *rec
	upd.Disabled = disabled
	in, probs := s.compile(cat, &upd)
	if len(probs) > 0 && !disabled {
		return nil, false, &ConflictError{Msg: fmt.Sprintf("Instance %d cannot be enabled: its configuration no longer loads with the current definitions", rec.ID), Problems: probs}
	}
	changed := rec.Disabled != disabled
	if changed {
		upd.UpdatedAt = s.clock.Now().UTC()
		if err := s.store.UpdateInstance(ctx, &upd); err != nil {
			return nil, false, err
		}
		if in != nil {
			s.rt.Apply(in)
		} else {
			s.rt.Remove(rec.ID) // disabled, and it no longer compiles: nothing to run
		}
		s.applied[rec.ID] = upd.UpdatedAt
		s.announce(rec.ID)
	}
	s.log.Info("instance enabled or disabled", "instance", rec.ID, "disabled", disabled, "changed", changed)
	return s.view(&upd, cat, in), changed, nil
}

// Resume hands every stored instance to the runtime, from its stored cursors: at startup.
func (s *Service) Resume(ctx context.Context) (int, error) {
	recs, err := s.store.Instances(ctx, engine.Scope{})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cat := s.rt.Catalog()
	n := 0
	for _, rec := range recs {
		s.applied[rec.ID] = rec.UpdatedAt
		in, probs := s.compile(cat, rec)
		if len(probs) > 0 {
			s.log.Error("instance not resumed: its configuration no longer loads", "instance", rec.ID, "problems", definitions.Describe(probs))
			s.unloadable(rec)
			continue
		}
		for _, p := range in.Paused {
			s.log.Warn("job paused: its definition does not load; it resumes from its cursor when it does", "instance", in.ID, "resource", p.ObjectType, "reason", in.Scrub(p.Reason))
		}
		s.rt.Apply(in)
		n++
	}
	return n, nil
}

// unloadable tells a runtime that wants to know (*engine.Cluster) of a stored instance that does
// not load here.
func (s *Service) unloadable(rec *engine.InstanceRecord) {
	if u, ok := s.rt.(interface {
		Unloadable(id int64, element string)
	}); ok {
		u.Unloadable(rec.ID, rec.ElementKey)
	}
}

// announce tells the other nodes, if any, that an instance changed through this one.
func (s *Service) announce(id int64) {
	if s.changed != nil {
		s.changed(id)
	}
}

// Refresh reads an instance again from the store and hands it to the runtime as it now is, or
// stops it when it was deleted (or disabled and no longer loads): a change made through another
// node sharing the store.
func (s *Service) Refresh(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.store.Instance(ctx, id)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		if _, ok := s.applied[id]; ok {
			s.rt.Remove(id)
			delete(s.applied, id)
			s.log.Info("instance deleted through another node", "instance", id)
		}
		return nil
	case err != nil:
		return err
	}
	s.refresh(rec)
	return nil
}

// refresh applies a stored record read again. s.mu is held.
func (s *Service) refresh(rec *engine.InstanceRecord) {
	s.applied[rec.ID] = rec.UpdatedAt
	in, probs := s.compile(s.rt.Catalog(), rec)
	if len(probs) > 0 {
		s.rt.Remove(rec.ID)
		s.unloadable(rec)
		s.log.Error("instance changed through another node does not load here", "instance", rec.ID, "problems", definitions.Describe(probs))
		return
	}
	s.rt.Apply(in)
	s.log.Debug("instance read again from the store", "instance", rec.ID)
}

// Sync reads every stored instance again and applies those that changed since this service last
// applied them (and stops those deleted): a safety net for changes made through other nodes whose
// notices were missed. It returns how many it applied or stopped.
func (s *Service) Sync(ctx context.Context) (int, error) {
	// Read under the lock: a write between the read and the lock would be undone.
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.store.Instances(ctx, engine.Scope{})
	if err != nil {
		return 0, err
	}
	n := 0
	live := make(map[int64]bool, len(recs))
	for _, rec := range recs {
		live[rec.ID] = true
		if v, ok := s.applied[rec.ID]; ok && v.Equal(rec.UpdatedAt) {
			continue
		}
		s.refresh(rec)
		n++
	}
	for id := range s.applied {
		if !live[id] {
			s.rt.Remove(id)
			delete(s.applied, id)
			n++
		}
	}
	return n, nil
}

// recordBody is the instance body a stored record stands for, as a map to merge into. The
// configuration is a copy.
func recordBody(rec *engine.InstanceRecord) map[string]any {
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

// MergePatch applies a PATCH body: name and tags replace, configuration merges key by key.
// Types are left to the instance schema, which sees the merged body.
func MergePatch(body, req map[string]any) []definitions.Problem {
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

// MergePut applies a PUT body: name (required) and tags replace the stored ones; a configuration
// merges key by key, as in MergePatch.
func MergePut(body, req map[string]any) []definitions.Problem {
	name, ok := req["name"]
	if !ok {
		return []definitions.Problem{{Pointer: "", Message: `"name" is required; PUT replaces the name and tags`}}
	}
	if _, ok := req["tags"]; !ok {
		delete(body, "tags")
	}
	patch := map[string]any{"name": name}
	for _, k := range []string{"tags", "configuration"} {
		if v, ok := req[k]; ok {
			patch[k] = v
		}
	}
	return MergePatch(body, patch)
}

// keepMasked restores the stored values that a client wrote back masked: a secret key whose
// value is engine.Masked, and URLs whose credentials are.
func keepMasked(el *engine.Element, conf, stored map[string]any) {
	for k, v := range conf {
		sv, ok := v.(string)
		if !ok || !strings.Contains(sv, engine.Masked) {
			continue
		}
		old, had := stored[k]
		switch {
		case sv == engine.Masked && IsSecretKey(el, k) && had:
			conf[k] = old
		case had:
			if olds, isStr := old.(string); isStr {
				conf[k] = engine.UnmaskURL(sv, olds)
			}
		}
	}
}

// keepEchoed keeps what a client wrote back as it read it: a value the instance view showed for a
// stored key keeps the stored value (and its JSON type: "15" read back for 15, the poller
// configuration's JSON text for its object), and the element's default written back for a key not
// stored stays unstored, so that it goes on following the definition.
func keepEchoed(el *engine.Element, conf, stored map[string]any) {
	for k, v := range conf {
		old, had := stored[k]
		switch {
		case had && sameValue(v, old):
			conf[k] = old
		case !had && el != nil:
			if d, ok := el.ConfigKey(k); ok && d.Default != "" && sameValue(v, d.Default) {
				delete(conf, k)
			}
		}
	}
}

// sameConfiguration reports whether two configurations hold the same keys with the same values.
func sameConfiguration(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !sameValue(v, w) {
			return false
		}
	}
	return true
}

// sameValue reports whether two configuration values are the same once rendered as the platform
// shows them: scalars as their text ("15" and 15, "true" and true), objects and arrays (or a
// string holding one) as their JSON.
func sameValue(a, b any) bool {
	ta, ja := valueText(a)
	tb, jb := valueText(b)
	if ta == tb {
		return true
	}
	if !ja && !jb {
		return false
	}
	ca, oka := canonicalJSON(ta)
	cb, okb := canonicalJSON(tb)
	return oka && okb && bytes.Equal(ca, cb)
}

// valueText renders a configuration value; json reports an object or array.
func valueText(v any) (text string, isJSON bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, false
	case json.Number:
		return x.String(), false
	case bool:
		return strconv.FormatBool(x), false
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), false
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
}

// canonicalJSON re-encodes JSON text with sorted keys and no spaces, numbers kept as written.
func canonicalJSON(s string) ([]byte, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	switch v.(type) {
	case map[string]any, []any:
	default:
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// bodyConfiguration returns a body's configuration as sent, numbers kept as json.Number so that
// they keep their exact digits.
func bodyConfiguration(data []byte) (map[string]any, error) {
	var body struct {
		Configuration map[string]any `json:"configuration"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, err
	}
	if body.Configuration == nil {
		body.Configuration = map[string]any{}
	}
	return body.Configuration, nil
}

// bodySecrets returns the secret values a body carries, best effort, to scrub from problems.
func bodySecrets(cat *engine.Catalog, data []byte) []string {
	var body struct {
		Element       struct{ Key string }
		Configuration map[string]any
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dec.Decode(&body) != nil {
		return nil
	}
	el, _ := cat.Element(body.Element.Key)
	return SecretValues(el, body.Configuration)
}

// newToken returns an instance token: 32 random bytes, standard base64 (like the platform's
// "ABC/D..." tokens).
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(b[:])
}
