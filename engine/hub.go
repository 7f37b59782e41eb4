package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/vm"
	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/engine/macro"
)

// ErrNoResource is wrapped by the error of a hub call on a resource the element does not have.
var ErrNoResource = errors.New("no such resource")

// ErrVendorBody is wrapped by the error of a hub call whose vendor answer is not what the
// resource definition describes (no array of records, or no JSON object).
var ErrVendorBody = errors.New("unexpected vendor answer")

// HubQuery is a hub API call compiled against an instance:
//
//	GET /hubs/{hub}/{resource}?where=<CEQL>&orderBy=<field> asc|desc&page=N&pageSize=M
//
// It asks the vendor what a poller url with the same where clause asks (the same split of the
// clause into vendor parameters and a residual filter, the resource's fixed query, the instance's
// endpoint and credentials), one vendor page per hub page.
type HubQuery struct {
	Resource *Resource
	Page     int // 1-based
	PageSize int

	in      *Instance
	where   whereSplit
	since   []time.Time // windowed change-cursor conditions: records updated before are dropped
	updated dateField   // the record's updated date, for since
	sort    [][2]string // vendor parameters of orderBy
	last    bool        // Page is the last page the vendor serves of one query
}

// HubQuery compiles a hub call on resource. where is a CEQL clause ("" = none) with no macros;
// orderBy is "FIELD", "FIELD asc" or "FIELD desc" ("" = the vendor's order) on a field the
// resource's definition lets the vendor sort by; page counts from 1; pageSize 0 is the resource's
// page size. An unknown resource is a *FieldError wrapping ErrNoResource; other problems are
// Errors at "/where" (with the clause's line:column), "/orderBy", "/page" and "/pageSize".
func (in *Instance) HubQuery(resource, where, orderBy string, page, pageSize int) (*HubQuery, error) {
	r, err := in.hubResource(resource)
	if err != nil {
		return nil, err
	}
	var c errs
	q := &HubQuery{Resource: r, Page: page, PageSize: pageSize, in: in}
	paging := in.Element.Spec.Paging
	switch maxPages := q.maxPages(); {
	case page < 1:
		c.add("/page", "%d must be 1 or more", page)
	case page > 1 && paging.PageParam == "":
		c.add("/page", "element %s's vendor cannot be asked for a page by number; only page 1", in.Element.Key)
	case maxPages > 0 && page > maxPages:
		c.add("/page", "%d is past the last page the vendor serves of one query (%d); narrow the where clause", page, maxPages)
	default:
		q.last = maxPages > 0 && page == maxPages
	}
	switch max := paging.MaxPageSize; {
	case pageSize == 0:
		q.PageSize = r.pageSize
	case pageSize < 0:
		c.add("/pageSize", "%d must be 1 or more", pageSize)
	case max > 0 && pageSize > max:
		c.add("/pageSize", "%d is more than the vendor's largest page (%d)", pageSize, max)
	}
	q.compileWhere(where, &c)
	q.compileOrderBy(orderBy, &c)
	if len(c.list) > 0 {
		return nil, c.list
	}
	return q, nil
}

// compileWhere compiles the where clause as a poller url's is compiled, without macros.
func (q *HubQuery) compileWhere(where string, c *errs) {
	if strings.TrimSpace(where) == "" {
		return
	}
	if strings.IndexByte(where, 0) >= 0 {
		c.add("/where", "must not contain a NUL character")
		return
	}
	tpl, err := macro.Unmask(where, nil) // no placeholders: an empty macro set
	if err != nil {
		c.wrap("/where", err)
		return
	}
	q.where = compileWhere(q.Resource, where, tpl, "/where", c)
	if len(q.where.windowed) == 0 {
		return
	}
	q.updated = q.Resource.Default.updated
	for _, j := range q.in.Jobs {
		if j.Resource == q.Resource {
			q.updated = j.updated // the instance's own dates configuration of the resource
			break
		}
	}
	for _, w := range q.where.windowed {
		var s string
		if w.value != nil {
			s = w.value.String()
		}
		t, err := parseHubDate(s, q.updated)
		if err != nil {
			c.add("/where", "where %s: %q is not a date such as 2024-01-31T00:00:00Z", w.at, s)
			continue
		}
		q.since = append(q.since, t)
	}
}

// parseHubDate reads the date of a change-cursor condition: RFC 3339, a date, or the format of
// the record's updated date.
func parseHubDate(s string, d dateField) (time.Time, error) {
	if t, err := parseBackfill(s); err == nil {
		return t, nil
	}
	if d.layout != nil {
		return d.layout.Parse(s, d.loc)
	}
	return time.Time{}, fmt.Errorf("not a date")
}

// compileOrderBy maps "FIELD [asc|desc]" onto the vendor's sort parameters.
func (q *HubQuery) compileOrderBy(orderBy string, c *errs) {
	words := strings.Fields(orderBy)
	if len(words) == 0 {
		return
	}
	r := q.Resource
	sortable := "the vendor cannot sort it"
	if names := r.SortFields(); len(names) > 0 {
		sortable = "sortable fields: " + strings.Join(names, ", ")
	}
	field, dir := strings.TrimSuffix(words[0], ","), ""
	if len(words) > 1 {
		dir = strings.ToLower(words[1])
	}
	st, ok := r.Spec.Sort[field]
	switch {
	case len(words) > 2 || strings.Contains(orderBy, ","):
		c.add("/orderBy", "%q: give one field, as FIELD asc or FIELD desc; resource %s: %s", orderBy, r.Name, sortable)
	case !ok:
		c.add("/orderBy", "resource %s cannot be sorted by %q at the vendor; %s", r.Name, field, sortable)
	case dir != "" && dir != "asc" && dir != "desc":
		c.add("/orderBy", "direction %q must be asc or desc", words[1])
	case dir != "" && st.DirectionParam == "":
		c.add("/orderBy", "the vendor sorts %s in one direction only; write orderBy=%s", field, field)
	default:
		q.sort = append(q.sort, [2]string{st.Param, st.Value})
		if st.DirectionParam != "" {
			if dir == "" {
				dir = "asc"
			}
			q.sort = append(q.sort, [2]string{st.DirectionParam, dir})
		}
	}
}

// SortFields returns the fields a hub call's orderBy may name, sorted.
func (r *Resource) SortFields() []string { return sortedKeys(r.Spec.Sort) }

// hubResource returns the instance's resource of that name.
func (in *Instance) hubResource(name string) (*Resource, error) {
	if r, ok := in.Element.Resources[name]; ok {
		return r, nil
	}
	return nil, &FieldError{Pointer: "/resource", Err: ErrNoResource,
		Msg: fmt.Sprintf("element %s has no resource %q; it has %s", in.Element.Key, name, strings.Join(in.Element.ResourceNames(), ", "))}
}

// maxPages is how many pages one query of the resource can reach; 0 = no cap.
func (q *HubQuery) maxPages() int {
	if n := q.Resource.Spec.MaxPages; n > 0 {
		return n
	}
	return q.in.Element.Spec.Paging.MaxPages
}

// Request is the vendor query of the call: the resource's fixed query, the where clause's vendor
// parameters, the sort parameters and the page number (when above 1), as a poll builds its own.
func (q *HubQuery) Request() Request {
	r := q.Resource
	v := make(url.Values, len(r.query)+len(q.where.pushed)+len(q.sort)+1)
	for k, vs := range r.query {
		v[k] = vs
	}
	for _, p := range q.where.pushed {
		v.Set(p.param, p.value.Expand(time.Time{})) // no macros: the literal
	}
	for _, kv := range q.sort {
		v.Set(kv[0], kv[1])
	}
	paging := q.in.Element.Spec.Paging
	if q.Page > 1 {
		v.Set(paging.PageParam, strconv.Itoa(q.Page))
	}
	return Request{
		Endpoint:  q.in.Endpoint,
		Paging:    paging,
		RateLimit: q.in.Element.Spec.RateLimit,
		Path:      r.VendorPath,
		Query:     v,
		PageSize:  q.PageSize,
	}
}

// errHubPage stops a listing after the one page a hub call reads.
var errHubPage = errors.New("hub page read")

// Run reads the call's page from the vendor. records are the page's records that pass the where
// clause's residual conditions, so a page may hold fewer than PageSize; hasNext says the vendor
// has a next page. Vendor errors are returned as src returns them (see VendorStatus).
func (q *HubQuery) Run(ctx context.Context, src Source) (records []json.RawMessage, hasNext bool, err error) {
	var bad error
	read := false
	err = src.List(ctx, q.Request(), func(pg Page) error {
		read = true
		hasNext = pg.HasNext && !q.last
		records, bad = q.page(pg)
		return errHubPage
	})
	if errors.Is(err, errHubPage) {
		err = nil
	}
	switch {
	case err != nil:
		return nil, false, err
	case bad != nil:
		return nil, false, bad
	case !read:
		return []json.RawMessage{}, false, nil
	}
	return records, hasNext, nil
}

// page extracts a vendor page's records and applies the residual conditions.
func (q *HubQuery) page(pg Page) ([]json.RawMessage, error) {
	body := unsafe.String(unsafe.SliceData(pg.Body), len(pg.Body)) // only read during this call
	if !gjson.Valid(body) {
		return nil, fmt.Errorf("%w: %s answered a page that is not valid JSON", ErrVendorBody, q.Resource.VendorPath)
	}
	arr := body
	if p := q.Resource.records; p != "@this" {
		arr = gjson.Get(body, p).Raw
	}
	var (
		view recordView
		env  = recordEnv{Record: &view}
		m    vm.VM
	)
	out := []json.RawMessage{}
	isArray, err := view.forEachRecord(arr, func(rec string) error {
		if !q.keep(&view, &m, &env) {
			return nil
		}
		out = append(out, json.RawMessage(rec)) // a copy
		return nil
	})
	if !isArray {
		return nil, fmt.Errorf("%w: no JSON array of records at %q of %s", ErrVendorBody, q.Resource.records, q.Resource.VendorPath)
	}
	return out, err
}

// keep reports whether the record loaded into view passes the residual conditions. A record
// they cannot be evaluated on (a missing date, a type mismatch) does not.
func (q *HubQuery) keep(view *recordView, m *vm.VM, env *recordEnv) bool {
	if len(q.since) > 0 {
		t, ok, err := q.updated.parse(view)
		if err != nil || !ok {
			return false
		}
		for _, s := range q.since {
			if t.Before(s) {
				return false
			}
		}
	}
	if q.where.residual != nil {
		keep, err := runRecordExpr(m, q.where.residual, env)
		if err != nil || !keep {
			return false
		}
	}
	return true
}

// HubGet reads one record: GET vendorPath/{id} at the instance's vendor. The body must be a JSON
// object. An unknown resource is a *FieldError wrapping ErrNoResource; vendor errors are returned
// as src returns them (a vendor 404 carries VendorStatus 404).
func (in *Instance) HubGet(ctx context.Context, src Source, resource, id string) (json.RawMessage, error) {
	r, err := in.hubResource(resource)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, Errors{{Pointer: "/id", Msg: "is required"}}
	}
	req := Request{
		Endpoint:  in.Endpoint,
		Paging:    PagingSpec{Type: "none"},
		RateLimit: in.Element.Spec.RateLimit,
		Path:      r.VendorPath + "/" + url.PathEscape(id),
		Query:     url.Values{},
	}
	var body []byte
	err = src.List(ctx, req, func(pg Page) error {
		body = bytes.Clone(pg.Body)
		return errHubPage
	})
	if errors.Is(err, errHubPage) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
		return nil, fmt.Errorf("%w: GET %s is not a JSON object", ErrVendorBody, req.Path)
	}
	return body, nil
}
