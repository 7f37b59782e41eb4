package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Catalog is an immutable set of compiled elements. A reload builds a new Catalog and swaps it
// in whole; nothing ever mutates one that is in use.
type Catalog struct {
	elements map[string]*Element
}

// NewCatalog builds a catalog of the given elements. Keys must be unique.
func NewCatalog(elements ...*Element) (*Catalog, error) {
	c := &Catalog{elements: make(map[string]*Element, len(elements))}
	for _, e := range elements {
		if _, dup := c.elements[e.Key]; dup {
			return nil, fmt.Errorf("element %q defined twice", e.Key)
		}
		c.elements[e.Key] = e
	}
	return c, nil
}

// Element returns the element with the given key.
func (c *Catalog) Element(key string) (*Element, bool) {
	e, ok := c.elements[key]
	return e, ok
}

// ElementByID returns the element with the given numeric id.
func (c *Catalog) ElementByID(id int64) (*Element, bool) {
	for _, e := range c.elements {
		if e.ID == id {
			return e, true
		}
	}
	return nil, false
}

// Elements returns the elements sorted by key.
func (c *Catalog) Elements() []*Element {
	out := make([]*Element, 0, len(c.elements))
	for _, e := range c.elements {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Keys returns the element keys, sorted.
func (c *Catalog) Keys() []string {
	keys := make([]string, 0, len(c.elements))
	for k := range c.elements {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Element is a compiled element definition with its resources.
type Element struct {
	Spec      ElementSpec
	Digest    string // identifies the definition's content: equal digests, same behaviour
	Key       string
	ID        int64
	Name      string
	Hub       string
	Resources map[string]*Resource

	baseURL    configTemplate
	authUser   configTemplate
	authPass   configTemplate
	authHeader map[string]configTemplate
	configKeys map[string]*ConfigKey
}

// CompileElement checks and compiles an element definition, without its resources.
func CompileElement(spec ElementSpec) (*Element, error) {
	var c errs
	e := &Element{Spec: spec, Digest: digest(spec), Key: spec.Key, ID: spec.ID, Name: spec.Name, Hub: spec.Hub,
		Resources: map[string]*Resource{}, configKeys: map[string]*ConfigKey{}}
	for i := range spec.Configuration {
		k := &spec.Configuration[i]
		if _, dup := e.configKeys[k.Key]; dup {
			c.add(Pointer("configuration", fmt.Sprint(i), "key"), "configuration key %q is declared twice", k.Key)
		}
		e.configKeys[k.Key] = k
	}
	compile := func(ptr, s string) configTemplate {
		t, err := parseConfigTemplate(s, e.configKeys)
		if err != nil {
			c.wrap(ptr, err)
		}
		return t
	}
	e.baseURL = compile("/baseUrl", spec.BaseURL)
	if u, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(spec.BaseURL)); err != nil || u.Scheme == "" || u.Host == "" {
		c.add("/baseUrl", "must be an absolute URL such as https://{subdomain}.example.com")
	}
	switch spec.Authentication.Type {
	case "basic":
		e.authUser = compile("/authentication/username", spec.Authentication.Username)
		e.authPass = compile("/authentication/password", spec.Authentication.Password)
	case "header":
		e.authHeader = map[string]configTemplate{}
		for h, v := range spec.Authentication.Headers {
			e.authHeader[h] = compile(Pointer("authentication", "headers", h), v)
		}
	}
	switch spec.Paging.Type {
	case "link", "none":
	case "page":
		if spec.Paging.PageParam == "" {
			c.add("/paging/pageParam", "is required when paging type is \"page\"")
		}
	case "body":
		if spec.Paging.NextPath == "" {
			c.add("/paging/nextPath", "is required when paging type is \"body\"")
		}
	}
	return e, c.list.Err()
}

// WithResources returns a copy of e holding the given resources.
func (e *Element) WithResources(rs map[string]*Resource) *Element {
	cp := *e
	cp.Resources = rs
	return &cp
}

// ResourceNames returns the element's resource names, sorted.
func (e *Element) ResourceNames() []string {
	names := make([]string, 0, len(e.Resources))
	for n := range e.Resources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConfigKey returns the declaration of a configuration key.
func (e *Element) ConfigKey(key string) (*ConfigKey, bool) {
	k, ok := e.configKeys[key]
	return k, ok
}

// Resource is a compiled resource definition.
type Resource struct {
	Name       string
	Spec       ResourceSpec
	Digest     string // identifies the definition and its element's: equal digests, same behaviour
	VendorPath string
	// Default is the resource's default poller configuration, already compiled, so that a bad
	// default is reported against the definition file rather than against every instance.
	Default *JobSpec

	hub          string
	descending   bool // the vendor lists records newest first by updated date
	minAge       time.Duration
	records      string
	pageSize     int
	query        url.Values
	reverseQuery url.Values // replaces query's values to list newest first; nil = cannot
	where        map[string]whereField
	fields       map[string]string
	deletedQuery url.Values
	deletedWhen  *vm.Program
	filter       *vm.Program
	pager        *pager
	limit        *EndpointLimit // the endpoint's own rate limit; nil = none
}

type whereField struct {
	param  string
	cursor bool // the change cursor, applied by the poll's window; nothing is sent
	ops    map[string]bool
}

// CompileResource checks and compiles the resource definition named name of element e.
func CompileResource(e *Element, name string, spec ResourceSpec) (*Resource, error) {
	var c errs
	r := &Resource{Name: name, Spec: spec, Digest: digest(struct {
		Element  string
		Resource ResourceSpec
	}{e.Digest, spec}), VendorPath: spec.VendorPath, hub: e.Hub,
		records: spec.Records, pageSize: spec.PageSize, fields: spec.Fields, descending: spec.UpdatedOrder == "desc",
		query: url.Values{}, where: map[string]whereField{}}
	if r.records == "" {
		r.records = "@this"
	}
	r.minAge = time.Duration(spec.MinAge * float64(time.Second))
	if p := spec.Paging; p != nil && p.Type == "body" && p.NextPath == "" {
		c.add("/paging/nextPath", "is required when paging type is \"body\"")
	}
	if r.pageSize == 0 {
		r.pageSize = e.Spec.Paging.MaxPageSize
	}
	r.pager = compilePager(e, &spec)
	if rl := spec.RateLimit; rl != nil {
		if rl.Requests < 1 || !(rl.Seconds > 0) {
			c.add("/rateLimit", "needs requests of 1 or more per seconds above 0")
		} else {
			r.limit = &EndpointLimit{Key: spec.VendorPath, Requests: rl.Requests, Per: time.Duration(rl.Seconds * float64(time.Second))}
		}
	}
	if rs := spec.Resume; rs != nil && rs.Time && len(spec.Where) > 0 {
		cursor := false
		for _, w := range spec.Where {
			cursor = cursor || (w.Cursor && w.Param != "")
		}
		if !cursor {
			c.add("/resume/time", "needs a where field mapped to the vendor's change cursor (\"cursor\": true with a param)")
		}
	}
	if max := e.Spec.Paging.MaxPageSize; max > 0 && r.pageSize > max {
		c.add("/pageSize", "%d is more than the element's largest page (%d)", r.pageSize, max)
	}
	if !strings.HasPrefix(spec.VendorPath, "/") {
		c.add("/vendorPath", "must start with /")
	}
	for k, v := range spec.Query {
		r.query.Set(k, v)
	}
	if len(spec.ReverseQuery) > 0 {
		r.reverseQuery = url.Values{}
		for k, v := range spec.ReverseQuery {
			r.reverseQuery.Set(k, v)
		}
	}
	for field, w := range spec.Where {
		wf := whereField{param: w.Param, cursor: w.Cursor, ops: map[string]bool{}}
		ops := w.Operators
		if len(ops) == 0 {
			ops = []string{"="}
		}
		for _, op := range ops {
			wf.ops[op] = true
		}
		r.where[field] = wf
	}
	if d := spec.Deleted; d != nil {
		if len(d.Query) > 0 {
			r.deletedQuery = url.Values{}
		}
		for k, v := range d.Query {
			r.deletedQuery.Set(k, v)
		}
		p, err := compileRecordExpr(d.When)
		if err != nil {
			c.wrap("/deleted/when", exprError(err))
		}
		r.deletedWhen = p
	}
	for field, st := range spec.Sort {
		switch {
		case st.Param == "":
			c.add(Pointer("sort", field, "param"), "is required: the vendor query parameter that selects the sort field")
		case st.Value == "":
			c.add(Pointer("sort", field, "value"), "is required: what %s is set to to sort by %s", st.Param, field)
		case st.DirectionParam == st.Param:
			c.add(Pointer("sort", field, "directionParam"), "must differ from param %q", st.Param)
		}
	}
	if spec.Filter != "" {
		p, err := compileRecordExpr(spec.Filter)
		if err != nil {
			c.wrap("/filter", exprError(err))
		}
		r.filter = p
	}
	if len(c.list) > 0 {
		return nil, c.list
	}
	def, err := compileJobSpec(e, r, name, spec.Polling, "/polling")
	if err != nil {
		return nil, err
	}
	if def.Resource != r {
		return nil, Errors{{Pointer: "/polling/url", Msg: fmt.Sprintf("polls resource %q, but this file defines %q: a copied definition must point its url at /hubs/%s/%s", def.Resource.Name, name, e.Hub, name)}}
	}
	r.Default = def
	return r, nil
}

// HasDeletedQuery reports whether the resource lists deleted records with an extra query.
func (r *Resource) HasDeletedQuery() bool { return r.deletedQuery != nil }

// WhereFields returns the where fields the vendor can filter on, sorted.
func (r *Resource) WhereFields() []string {
	out := make([]string, 0, len(r.where))
	for f := range r.where {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// canFilter reports whether a record field can be used in a residual (client-side) filter.
// A resource that declares no fields accepts any; otherwise the field or one of its parents
// must be declared.
func (r *Resource) canFilter(field string) bool {
	if len(r.fields) == 0 {
		return true
	}
	for f := field; ; {
		if _, ok := r.fields[f]; ok {
			return true
		}
		i := strings.LastIndexByte(f, '.')
		if i < 0 {
			return false
		}
		f = f[:i]
	}
}

// digest identifies a decoded definition by its content (encoding/json sorts map keys, so equal
// content gives equal digests).
func digest(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
