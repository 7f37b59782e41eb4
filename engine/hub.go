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
	next    *url.URL    // the vendor's next-page link the call continues from (Continue)
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
	case page > 1 && !r.pager.numbered():
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
func (q *HubQuery) maxPages() int { return q.Resource.pager.maxPages }

// Continue sets where the call goes on from: a continuation a previous Run of the same call
// returned. It must be one this resource's pager makes: a page number, or a next-page URL of the
// instance's vendor under the resource's path.
func (q *HubQuery) Continue(next string) error {
	switch {
	case strings.HasPrefix(next, "p"):
		n, err := strconv.Atoi(next[1:])
		if err != nil || n < 2 {
			return Errors{{Pointer: "/nextPage", Msg: "is not a page this call returned"}}
		}
		if max := q.maxPages(); max > 0 && n > max {
			return Errors{{Pointer: "/nextPage", Msg: fmt.Sprintf("%d is past the last page the vendor serves of one query (%d); narrow the where clause", n, max)}}
		}
		q.Page, q.next = n, nil
		q.last = q.maxPages() > 0 && n == q.maxPages()
		return nil
	case strings.HasPrefix(next, "u"):
		base, err := url.Parse(strings.TrimRight(q.in.Endpoint.BaseURL, "/") + q.Resource.VendorPath)
		if err != nil {
			return err
		}
		u, err := base.Parse(next[1:])
		if err != nil || u.Scheme != base.Scheme || u.Host != base.Host || u.Path != base.Path {
			return Errors{{Pointer: "/nextPage", Msg: "is not a page this call returned"}}
		}
		q.next = u
		return nil
	}
	return Errors{{Pointer: "/nextPage", Msg: "is not a page this call returned"}}
}

// url is the vendor URL of the call's page: the resource's fixed query, the where clause's vendor
// parameters and the sort parameters, built as a poll builds its own, or the vendor's next-page
// link the call continues from.
func (q *HubQuery) url() (*url.URL, error) {
	if q.next != nil {
		return q.next, nil
	}
	vq := vendorQuery{res: q.Resource, pushed: q.where.pushed, sort: q.sort}
	return q.Resource.pager.url(q.in.Endpoint.BaseURL, q.Resource.VendorPath, vq.values(), q.PageSize, q.Page)
}

// Run reads the call's page from the vendor. records are the page's records that pass the where
// clause's residual conditions, so a page may hold fewer than PageSize; next is the continuation
// of the following page ("" when the vendor has none), for Continue. Vendor errors are returned as
// src returns them (see VendorStatus).
func (q *HubQuery) Run(ctx context.Context, src Source) (records []json.RawMessage, next string, err error) {
	u, err := q.url()
	if err != nil {
		return nil, "", err
	}
	pg, err := src.Fetch(ctx, q.Resource.request(q.in, u))
	if err != nil {
		return nil, "", err
	}
	records, count, err := q.page(pg)
	if err != nil {
		return nil, "", err
	}
	if q.last {
		return records, "", nil
	}
	nu, more, err := q.Resource.pager.next(u, &pg, q.Page, count, q.PageSize)
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("%w: %v", ErrVendorBody, err)
	case !more:
		return records, "", nil
	case q.Resource.pager.numbered() && q.Resource.pager.kind != "body":
		return records, "p" + strconv.Itoa(q.Page+1), nil
	}
	return records, "u" + nu.RequestURI(), nil
}

// page extracts a vendor page's records and applies the residual conditions. count is how many
// records the vendor sent.
func (q *HubQuery) page(pg Page) (out []json.RawMessage, count int, err error) {
	body := unsafe.String(unsafe.SliceData(pg.Body), len(pg.Body)) // only read during this call
	if !gjson.Valid(body) {
		return nil, 0, fmt.Errorf("%w: %s answered a page that is not valid JSON", ErrVendorBody, q.Resource.VendorPath)
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
	out = []json.RawMessage{}
	isArray, err := view.forEachRecord(arr, func(rec string) error {
		count++
		if !q.keep(&view, &m, &env) {
			return nil
		}
		out = append(out, json.RawMessage(rec)) // a copy
		return nil
	})
	if !isArray {
		return nil, 0, fmt.Errorf("%w: no JSON array of records at %q of %s", ErrVendorBody, q.Resource.records, q.Resource.VendorPath)
	}
	return out, count, err
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
	u, err := (&pager{kind: "none"}).url(in.Endpoint.BaseURL, r.VendorPath+"/"+url.PathEscape(id), nil, 0, 1)
	if err != nil {
		return nil, err
	}
	pg, err := src.Fetch(ctx, Request{Endpoint: in.Endpoint, URL: u.String(), RateLimit: in.Element.Spec.RateLimit, JSON: true})
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(pg.Body)
	if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
		return nil, fmt.Errorf("%w: GET %s is not a JSON object", ErrVendorBody, r.VendorPath+"/"+id)
	}
	return body, nil
}
