package engine

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/tidwall/gjson"

	"github.com/pollen-hq/pollen/engine/ceql"
	"github.com/pollen-hq/pollen/engine/javadate"
	"github.com/pollen-hq/pollen/engine/macro"
)

// JobSpec is one resource's poller configuration, compiled: what a poll of it asks the vendor and
// how it reads the answer. It is immutable and shared by every poll of the job.
type JobSpec struct {
	ObjectType string
	Resource   *Resource
	Poller     PollerSpec // the effective configuration, defaults filled in

	whereSplit // the url's where clause

	cursor    *pushedParam // the pushed change cursor, if the vendor filters on it
	filter    *vm.Program  // the poller configuration's own filter; nil = none
	idPath    *recordPath
	updated   dateField
	created   dateField // path nil = no created date
	tolerance time.Duration
	pollDelay time.Duration
	lookback  time.Duration
	byUpdated bool
	byCurrent bool
	pageSize  int
}

// whereSplit is a CEQL where clause compiled against a resource (compileWhere): the conditions
// the vendor evaluates, and the rest, evaluated on each record. A poller url and a hub call
// (hub.go) compile their where clauses alike.
type whereSplit struct {
	pushed      []pushedParam     // where conditions the vendor evaluates
	residual    *vm.Program       // where conditions evaluated per record; nil = none
	residualSrc string            // residual's expr source, for linting it against sample records
	tpls        []*macro.Template // string literals of the residual that hold macros
	// windowed holds the change-cursor conditions the vendor cannot evaluate (a cursor where field
	// without param). Nothing is sent for them: a poll's window on the updated date applies them,
	// and a hub call compares each record's updated date with them.
	windowed []windowedCond
}

// windowedCond is the value of a change-cursor condition the vendor cannot evaluate.
type windowedCond struct {
	value *macro.Template
	at    string // line:column of the value in the where clause, for errors
}

type pushedParam struct {
	param  string
	value  *macro.Template
	cursor bool // the change cursor: a walk fills it with its anchor
}

type dateField struct {
	path   *recordPath // nil: no such date
	layout *javadate.Layout
	loc    *time.Location
}

// parse reads the date at the field's path of a record. ok is false when the field is missing
// or null.
func (d *dateField) parse(rec *recordView) (t time.Time, ok bool, err error) {
	r := rec.get(d.path)
	if r.Type == gjson.Null {
		return time.Time{}, false, nil
	}
	s := r.Str
	if s == "" {
		s = r.Raw
	}
	t, err = d.layout.Parse(s, d.loc)
	return t, err == nil, err
}

const defaultDateFormat = "yyyy-MM-dd'T'HH:mm:ssXXX"

// resourceLookup resolves the resource a poller url names, or says why it cannot.
type resourceLookup func(name string) (*Resource, error)

// compileJobSpec compiles a poller configuration whose defaults are already merged in. ptr is
// the JSON pointer of the configuration in its document, for errors.
func compileJobSpec(e *Element, self *Resource, objectType string, ps PollerSpec, ptr string) (*JobSpec, error) {
	lookup := func(name string) (*Resource, error) {
		if self != nil {
			if name == self.Name {
				return self, nil
			}
			return nil, fmt.Errorf("polls resource %q, but this file defines %q: a copied definition must point its url at /hubs/%s/%s", name, self.Name, e.Hub, self.Name)
		}
		if r, ok := e.Resources[name]; ok {
			return r, nil
		}
		return nil, fmt.Errorf("element %s has no resource %q; it has %s", e.Key, name, strings.Join(e.ResourceNames(), ", "))
	}
	var c errs
	j := &JobSpec{ObjectType: objectType, Poller: ps}
	j.compileURL(e, lookup, ps.URL, ptr+"/url", &c)
	if j.Resource == nil {
		return nil, c.list
	}
	if ps.IDField == "" {
		c.add(ptr+"/idField", "is required: the path of the record's id, such as id or customer.id")
	}
	j.idPath = compileRecordPath(fieldPath(ps.IDField))
	j.byUpdated = ps.FilterByUpdatedDate == nil || *ps.FilterByUpdatedDate
	j.byCurrent = ps.FilterByCurrentDate != nil && *ps.FilterByCurrentDate
	dates := ps.DatesConfiguration
	if dates == nil {
		dates = &DatesSpec{}
	}
	dptr := ptr + "/datesConfiguration"
	j.created = compileDateField(dates.CreatedDateField, dates.CreatedDateFormat, dates.CreatedDateTimezone, dptr, "createdDate", &c)
	j.updated = compileDateField(dates.UpdatedDateField, dates.UpdatedDateFormat, dates.UpdatedDateTimezone, dptr, "updatedDate", &c)
	switch {
	case !j.byUpdated && j.created.path == nil:
		c.add(dptr+"/createdDateField", "is required when filterByUpdatedDate is false")
	case !j.byUpdated:
		// The vendor has one date: it is both the change date and the creation date.
		j.updated = j.created
	case j.updated.path == nil:
		c.add(dptr+"/updatedDateField", "is required: the path of the record's last-updated date")
	}
	j.tolerance = seconds(ps.CreatedCheckTolerance, ptr+"/createdCheckTolerance", &c)
	j.pollDelay = seconds(ps.PollDelay, ptr+"/pollDelay", &c)
	j.lookback = seconds(ps.Lookback, ptr+"/lookback", &c)
	if ps.PageSize != nil {
		j.pageSize = *ps.PageSize
	}
	if j.pageSize == 0 {
		j.pageSize = j.Resource.pageSize
	}
	if max := e.Spec.Paging.MaxPageSize; max > 0 && j.pageSize > max {
		c.add(ptr+"/pageSize", "%d is more than the vendor's largest page (%d)", j.pageSize, max)
	}
	if ps.Filter != nil && *ps.Filter != "" {
		p, err := compileRecordExpr(*ps.Filter)
		if err != nil {
			c.wrap(ptr+"/filter", exprError(err))
		}
		j.filter = p
	}
	if len(c.list) > 0 {
		return nil, c.list
	}
	for i := range j.pushed {
		if j.pushed[i].cursor {
			j.cursor = &j.pushed[i]
		}
	}
	return j, nil
}

func seconds(v *float64, ptr string, c *errs) time.Duration {
	if v == nil {
		return 0
	}
	if *v < 0 {
		c.add(ptr, "must not be negative")
		return 0
	}
	return time.Duration(*v * float64(time.Second))
}

func compileDateField(field, format, zone, ptr, name string, c *errs) dateField {
	if field == "" {
		return dateField{}
	}
	d := dateField{path: compileRecordPath(fieldPath(field)), loc: time.UTC}
	if format == "" {
		format = defaultDateFormat
	}
	l, err := javadate.Compile(format)
	if err != nil {
		c.wrap(ptr+"/"+name+"Format", err)
	}
	d.layout = l
	if zone != "" {
		loc, err := javadate.ParseZone(zone)
		if err != nil {
			c.wrap(ptr+"/"+name+"Timezone", err)
		} else {
			d.loc = loc
		}
	}
	return d
}

// compileURL compiles the poller url: a hub URL /hubs/{hub}/{resource}?where=<CEQL>&pageSize=N
// whose string literals may hold macros.
func (j *JobSpec) compileURL(e *Element, lookup resourceLookup, raw, ptr string, c *errs) {
	if raw == "" {
		c.add(ptr, "is required: a hub url such as /hubs/%s/RESOURCE?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'", e.Hub)
		return
	}
	tpl, err := macro.Compile(raw, nil)
	if err != nil {
		c.wrap(ptr, err)
		return
	}
	masked := tpl.Masked()
	path, query, _ := strings.Cut(masked, "?")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 3 || parts[0] != "hubs" {
		c.add(ptr, "path %q must be /hubs/%s/RESOURCE", unmaskText(path, tpl), e.Hub)
		return
	}
	if parts[1] != e.Hub {
		c.add(ptr, "hub %q is not element %s's hub %q", parts[1], e.Key, e.Hub)
		return
	}
	res, err := lookup(parts[2])
	if err != nil {
		c.wrap(ptr, err)
		return
	}
	j.Resource = res
	var where string
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		switch k {
		case "where":
			where = v
		case "pageSize":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				c.add(ptr, "pageSize %q must be a positive whole number", v)
				continue
			}
			j.pageSize = n
		default:
			c.add(ptr, "query parameter %q is not supported in a poller url; use where and pageSize", k)
		}
	}
	if strings.TrimSpace(where) != "" {
		j.whereSplit = compileWhere(res, where, tpl, ptr, c)
	}
}

// compileWhere splits a CEQL where clause: top-level AND conditions on fields the resource maps
// to vendor parameters go to the vendor; everything else becomes one expr program applied to
// each record. tpl holds the macros the clause's placeholders stand for (a hub call's clause has
// none).
func compileWhere(r *Resource, where string, tpl *macro.Template, ptr string, c *errs) (j whereSplit) {
	// at prints a position of the where clause as the user wrote it, macros unmasked.
	at := func(p ceql.Pos) string { return fmt.Sprintf("%d:%d", p.Line, unmaskCol(where, p, tpl)) }
	node, err := ceql.Parse(where)
	if err != nil {
		if pe, ok := err.(*ceql.Error); ok {
			c.add(ptr, "where %s: %s", at(pe.Pos), pe.Msg)
		} else {
			c.wrap(ptr, err)
		}
		return j
	}
	var residual []ceql.Node
	for _, n := range ceql.Conjuncts(node) {
		cmp, ok := n.(*ceql.Compare)
		if ok {
			if wf, mapped := r.where[cmp.Field]; mapped {
				if !wf.ops[cmp.Op] {
					c.add(ptr, "where %s: %s supports only %s", at(cmp.P), cmp.Field, strings.Join(sortedKeys(wf.ops), " "))
					continue
				}
				v, err := literalTemplate(cmp.Value, tpl)
				if wf.cursor && wf.param == "" {
					// The vendor cannot: the poll's window on the updated date does this. value is
					// nil when the literal is no text (null).
					j.windowed = append(j.windowed, windowedCond{value: v, at: at(cmp.Value.P)})
					continue
				}
				if err != nil {
					c.add(ptr, "where %s: %v", at(cmp.Value.P), err)
					continue
				}
				j.pushed = append(j.pushed, pushedParam{param: wf.param, value: v, cursor: wf.cursor})
				continue
			}
		}
		if like, ok := n.(*ceql.Like); ok && strings.ContainsRune(like.Pattern, 0) {
			c.add(ptr, "where %s: a LIKE pattern cannot hold a macro", at(like.P))
		}
		for _, f := range ceql.Fields(n) {
			if _, mapped := r.where[f.Name]; mapped {
				c.add(ptr, "where %s: %s can only be used in a top-level AND condition", at(f.Pos), f.Name)
			} else if !r.canFilter(f.Name) {
				c.add(ptr, "where %s: resource %s cannot filter on %q; vendor filters: %s; record fields: %s",
					at(f.Pos), r.Name, f.Name, strings.Join(r.WhereFields(), ", "), strings.Join(sortedKeys(r.fields), ", "))
			}
		}
		residual = append(residual, n)
	}
	if len(residual) == 0 {
		return j
	}
	var src []string
	for _, n := range residual {
		src = append(src, "("+ceql.ToExpr(n, recordFieldExpr, func(v ceql.Value) string {
			if v.Kind == ceql.String && strings.ContainsRune(v.Str, 0) {
				t, err := literalTemplate(v, tpl)
				if err != nil {
					c.add(ptr, "where %s: %v", at(v.P), err)
					return `""`
				}
				j.tpls = append(j.tpls, t)
				return fmt.Sprintf("tpl[%d]", len(j.tpls)-1)
			}
			return ceql.LiteralExpr(v)
		})+")")
	}
	p, err := compileRecordExpr(strings.Join(src, " && "))
	if err != nil {
		c.add(ptr, "where: %v", exprError(err))
		return j
	}
	j.residual, j.residualSrc = p, strings.Join(src, " && ")
	return j
}

// recordFieldExpr is the expr source reading a dotted record field.
func recordFieldExpr(name string) string {
	var b strings.Builder
	b.WriteString("record")
	for _, p := range strings.Split(name, ".") {
		b.WriteString("[")
		b.WriteString(strconv.Quote(p))
		b.WriteString("]")
	}
	return b.String()
}

func literalTemplate(v ceql.Value, tpl *macro.Template) (*macro.Template, error) {
	var s string
	switch v.Kind {
	case ceql.String:
		s = v.Str
	case ceql.Number:
		s = v.Raw
	case ceql.Bool:
		s = strconv.FormatBool(v.Bool)
	default:
		return nil, fmt.Errorf("null cannot be sent to the vendor")
	}
	return macro.Unmask(s, tpl.Macros())
}

// unmaskCol maps a column of the masked where text back to the column in the text as written:
// every placeholder before it is as long as the macro it stands for. Columns count characters.
func unmaskCol(masked string, pos ceql.Pos, tpl *macro.Template) int {
	lines := strings.Split(masked, "\n")
	if pos.Line < 1 || pos.Line > len(lines) {
		return pos.Col
	}
	line := []rune(lines[pos.Line-1])
	col := pos.Col
	for i, m := range tpl.Macros() {
		ph := macro.Placeholder(i)
		k := strings.Index(string(line), ph)
		if k >= 0 && len([]rune(string(line)[:k])) < pos.Col-1 {
			col += len([]rune(m.String())) - len([]rune(ph))
		}
	}
	return col
}

func unmaskText(s string, tpl *macro.Template) string {
	for i, m := range tpl.Macros() {
		s = strings.ReplaceAll(s, macro.Placeholder(i), m.String())
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mergePoller fills the fields an instance's poller configuration leaves out from the resource
// definition's default.
func mergePoller(over, def PollerSpec) PollerSpec {
	out := over
	if out.URL == "" {
		out.URL = def.URL
	}
	if out.IDField == "" {
		out.IDField = def.IDField
	}
	if def.DatesConfiguration != nil {
		if out.DatesConfiguration == nil {
			d := *def.DatesConfiguration
			out.DatesConfiguration = &d
		}
	}
	if out.CreatedCheckTolerance == nil {
		out.CreatedCheckTolerance = def.CreatedCheckTolerance
	}
	if out.FilterByUpdatedDate == nil {
		out.FilterByUpdatedDate = def.FilterByUpdatedDate
	}
	if out.FilterByCurrentDate == nil {
		out.FilterByCurrentDate = def.FilterByCurrentDate
	}
	if out.PageSize == nil {
		out.PageSize = def.PageSize
	}
	if out.PollDelay == nil {
		out.PollDelay = def.PollDelay
	}
	if out.Lookback == nil {
		out.Lookback = def.Lookback
	}
	if out.Filter == nil {
		out.Filter = def.Filter
	}
	return out
}
