package engine

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/tidwall/gjson"
)

// This file checks a job's definition against vendor pages recorded from it (pollen validate
// --samples): what only real pages can tell, and structure cannot.

// SampleQuery is one vendor query's recorded pages, in the order the vendor served them.
type SampleQuery struct {
	// Query is how the query was asked (path?query, as golden files print requests); "" when
	// the recording does not say. It tells a query sorted newest first (reverseQuery) apart.
	Query string
	Pages []SamplePage
}

// SamplePage is one recorded vendor page.
type SamplePage struct {
	Name string // the page's file, for messages
	Body []byte
}

// Finding is one problem a job's definition shows against recorded pages. Place says which
// document Pointer points into.
type Finding struct {
	Place   FindingPlace
	Pointer string
	Msg     string
}

// FindingPlace is the document a Finding is about.
type FindingPlace string

// Places of findings: the resource definition file, its element's file, or the poller
// configuration (the instance's own, or the resource's default, polling: the caller tells them
// apart).
const (
	PlaceResource FindingPlace = "resource"
	PlaceElement  FindingPlace = "element"
	PlacePoller   FindingPlace = "poller"
)

// sampleRecord is one record of the samples and where it is.
type sampleRecord struct {
	raw   string
	page  string
	index int // 1-based, within its page
}

func (r sampleRecord) where() string { return fmt.Sprintf("%s record %d", r.page, r.index) }

// Lint checks the job against recorded pages of its vendor queries: the records path finds an
// array in every page; the id and date fields are in every record and the dates read with the
// declared formats; the declared updatedOrder is the order of each query's pages; the fields the
// where clause and the filters read are in the records, with the types they are compared with;
// and paging ends on the last recorded page of each query. Each problem is reported once, with
// the first record that shows it.
func (j *JobSpec) Lint(polls [][]SampleQuery) []Finding {
	l := &linter{job: j}
	for _, queries := range polls {
		for _, q := range queries {
			l.query(q)
		}
		l.pollEnds(queries)
	}
	l.identity()
	l.order()
	l.exprs()
	l.deletions()
	return l.out
}

type linter struct {
	job     *JobSpec
	out     []Finding
	records []sampleRecord
	// perQuery holds each query's records, in order, for the order check, and the queries.
	perQuery [][]sampleRecord
	queries  []SampleQuery
	reported map[string]bool
}

func (l *linter) add(place FindingPlace, ptr, format string, args ...any) {
	l.addOnce(string(place)+ptr+format, place, ptr, format, args...)
}

// addOnce adds a finding unless one with the same key was added.
func (l *linter) addOnce(key string, place FindingPlace, ptr, format string, args ...any) {
	if l.reported == nil {
		l.reported = map[string]bool{}
	}
	if l.reported[key] {
		return // one finding per place and kind: the first record that shows it
	}
	l.reported[key] = true
	l.out = append(l.out, Finding{Place: place, Pointer: ptr, Msg: fmt.Sprintf(format, args...)})
}

// query reads one query's pages: their records, and whether paging ends where the recording does.
func (l *linter) query(q SampleQuery) {
	var recs []sampleRecord
	for _, pg := range q.Pages {
		if !gjson.ValidBytes(pg.Body) {
			l.add(PlaceResource, "/records", "%s is not JSON", pg.Name)
			continue
		}
		arr := gjson.ParseBytes(pg.Body)
		path := l.job.Resource.records
		if path != "@this" {
			arr = arr.Get(path)
		}
		if !arr.IsArray() {
			l.add(PlaceResource, "/records", "%q finds no array of records in %s; %s", path, pg.Name, pageShape(pg.Body))
			continue
		}
		n := 0
		arr.ForEach(func(_, v gjson.Result) bool {
			n++
			recs = append(recs, sampleRecord{raw: v.Raw, page: pg.Name, index: n})
			return true
		})
	}
	l.records = append(l.records, recs...)
	l.perQuery = append(l.perQuery, recs)
	l.queries = append(l.queries, q)
	l.paging(q)
}

// pageShape says what a page holds where the records path finds nothing, and which paths would
// find an array.
func pageShape(body []byte) string {
	v := gjson.ParseBytes(body)
	switch {
	case v.IsArray():
		return `the page is itself the array: use "@this"`
	case !v.IsObject():
		return "the page is not a JSON object"
	}
	var keys, arrays []string
	v.ForEach(func(k, val gjson.Result) bool {
		keys = append(keys, k.String())
		if val.IsArray() {
			arrays = append(arrays, strconv.Quote(escapeGJSON(k.String())))
		}
		if val.IsObject() {
			val.ForEach(func(k2, v2 gjson.Result) bool {
				if v2.IsArray() {
					arrays = append(arrays, strconv.Quote(escapeGJSON(k.String())+"."+escapeGJSON(k2.String())))
				}
				return true
			})
		}
		return true
	})
	msg := "the page is an object with keys " + strings.Join(keys, ", ")
	if len(arrays) > 0 {
		msg += "; arrays are at " + strings.Join(arrays, ", ")
	}
	return msg
}

// pagingPlace is where the resource's paging is declared: its own paging, or its element's.
func (l *linter) pagingPlace() FindingPlace {
	if l.job.Resource.Spec.Paging != nil {
		return PlaceResource
	}
	return PlaceElement
}

// paging checks one query's pages against the vendor's paging as the resource declares it: a
// page that ends the list is the last of its query. Link paging lives in headers, which
// recordings do not keep: pollen try sees it.
func (l *linter) paging(q SampleQuery) {
	p := l.job.Resource.pager
	if p.kind == "none" && len(q.Pages) > 1 {
		l.add(l.pagingPlace(), "/paging/type", "is none (one page a query), yet a recorded query has %d pages (%s...)", len(q.Pages), q.Pages[0].Name)
	}
	if p.kind != "body" {
		return
	}
	for i, pg := range q.Pages[:max(len(q.Pages)-1, 0)] {
		if !l.bodyMore(pg) {
			l.add(l.pagingPlace(), "/paging", "paging ends at %s (no next page at %q%s), yet %s follows it in the same query",
				pg.Name, p.nextPath, endNote(p.endPath), q.Pages[i+1].Name)
		}
	}
}

// bodyMore reports whether a page of body paging names a next page.
func (l *linter) bodyMore(pg SamplePage) bool {
	p := l.job.Resource.pager
	if p.endPath != "" && gjson.GetBytes(pg.Body, p.endPath).Bool() {
		return false
	}
	return gjson.GetBytes(pg.Body, p.nextPath).String() != ""
}

// pollEnds checks that paging ends on the last page a poll recorded (a walk may end a query and
// start the next one, restarting from a later date, while its pages still offer more), and that
// body paging does not come back to a page it named before.
func (l *linter) pollEnds(queries []SampleQuery) {
	var pages []SamplePage
	for _, q := range queries {
		pages = append(pages, q.Pages...)
	}
	if len(pages) == 0 {
		return
	}
	p := l.job.Resource.pager
	last := pages[len(pages)-1]
	switch p.kind {
	case "body":
		if l.bodyMore(last) {
			l.add(l.pagingPlace(), "/paging", "%s, the last page its poll recorded, names a next page at %q%s: paging would not end there",
				last.Name, p.nextPath, endNote(p.endPath))
		}
		if rs := l.job.Resource.Spec.Resume; rs != nil && rs.Time {
			return // a time-based export names the same page again while it is stuck in one second
		}
		named := map[string]int{}
		for i, pg := range pages {
			next := gjson.GetBytes(pg.Body, p.nextPath).String()
			if next == "" || !l.bodyMore(pg) {
				continue
			}
			if k, dup := named[next]; dup && k < i-1 {
				l.add(l.pagingPlace(), "/paging/nextPath", "paging loops: %s and %s name the same next page at %q", pages[k].Name, pg.Name, p.nextPath)
			}
			named[next] = i
		}
	case "page":
		size := l.job.pageSize
		arr := gjson.ParseBytes(last.Body)
		if path := l.job.Resource.records; path != "@this" {
			arr = arr.Get(path)
		}
		if n := len(arr.Array()); size > 0 && arr.IsArray() && n >= size {
			l.add(l.pagingPlace(), "/paging", "%s, the last page its poll recorded, is full (%d records of %d): paging by page number would ask for another page",
				last.Name, n, size)
		}
	}
}

func endNote(endPath string) string {
	if endPath == "" {
		return ""
	}
	return fmt.Sprintf(", %q not true", endPath)
}

// identity checks that every record has an id and dates that read.
func (l *linter) identity() {
	j := l.job
	if len(l.records) == 0 {
		return
	}
	var view recordView
	missingID, badID := 0, sampleRecord{}
	for _, r := range l.records {
		view.reset(r.raw)
		id := view.get(j.idPath)
		if (id.Type != gjson.String || id.Str == "") && id.Type != gjson.Number {
			if missingID == 0 {
				badID = r
			}
			missingID++
		}
	}
	if missingID > 0 {
		l.add(PlacePoller, "/idField", "%q is not a string or number in %d of %d records (first: %s, which has %s)",
			j.Poller.IDField, missingID, len(l.records), badID.where(), recordKeys(badID.raw))
	}
	dates := j.Poller.DatesConfiguration
	if dates == nil {
		dates = &DatesSpec{}
	}
	if j.byUpdated {
		l.dates(&j.updated, dates.UpdatedDateField, "updatedDate")
	}
	if j.created.path != nil {
		l.dates(&j.created, dates.CreatedDateField, "createdDate")
	}
}

// dates checks one date field in every record.
func (l *linter) dates(d *dateField, field, name string) {
	if d.path == nil || d.layout == nil {
		return
	}
	var view recordView
	missing, bad := 0, 0
	var firstMissing, firstBad sampleRecord
	var badValue string
	var badErr error
	for _, r := range l.records {
		view.reset(r.raw)
		v := view.get(d.path)
		if v.Type == gjson.Null {
			if missing == 0 {
				firstMissing = r
			}
			missing++
			continue
		}
		s := v.Str
		if s == "" {
			s = v.Raw
		}
		if _, err := d.layout.Parse(s, d.loc); err != nil {
			if bad == 0 {
				firstBad, badValue, badErr = r, s, err
			}
			bad++
		}
	}
	ptr := "/datesConfiguration/" + name
	if missing > 0 {
		l.add(PlacePoller, ptr+"Field", "%q is missing or null in %d of %d records (first: %s, which has %s)",
			field, missing, len(l.records), firstMissing.where(), recordKeys(firstMissing.raw))
	}
	if bad > 0 {
		l.add(PlacePoller, ptr+"Format", "%q does not read %d of %d %s values (first: %s, %q: %v)",
			d.layout.String(), bad, len(l.records), field, firstBad.where(), badValue, badErr)
	}
}

// recordKeys lists a record's top-level keys, for messages.
func recordKeys(raw string) string {
	v := gjson.Parse(raw)
	if !v.IsObject() {
		return "no keys (it is not an object)"
	}
	var keys []string
	v.ForEach(func(k, _ gjson.Result) bool {
		keys = append(keys, k.String())
		return true
	})
	if len(keys) > 12 {
		keys = append(keys[:12], "...")
	}
	return "keys " + strings.Join(keys, ", ")
}

// order checks that each query lists its records in the declared updatedOrder.
func (l *linter) order() {
	j := l.job
	declared := j.Resource.Spec.UpdatedOrder
	if declared == "" || !j.byUpdated || j.updated.path == nil || j.updated.layout == nil {
		return
	}
	var view recordView
	for qi, recs := range l.perQuery {
		want := declared
		if l.hasParams(l.queries[qi].Query, l.job.Resource.reverseQuery) {
			want = map[string]string{"asc": "desc", "desc": "asc"}[declared]
		}
		var prev sampleRecord
		var prevT time.Time
		have := false
		for _, r := range recs {
			view.reset(r.raw)
			t, ok, err := j.updated.parse(&view)
			if !ok || err != nil {
				continue
			}
			if have && (want == "asc" && t.Before(prevT) || want == "desc" && t.After(prevT)) {
				order := map[string]string{"asc": "oldest first", "desc": "newest first"}[want]
				l.add(PlaceResource, "/updatedOrder", "is %q, but the vendor does not list this query %s: %s (updated %s) comes after %s (updated %s)",
					declared, order, r.where(), isoTime(t), prev.where(), isoTime(prevT))
				break
			}
			prev, prevT, have = r, t, true
		}
	}
}

// hasParams reports whether a recorded query sets every one of params (the resource's reverse or
// deleted query); false when the query was not recorded.
func (l *linter) hasParams(query string, params url.Values) bool {
	if query == "" || len(params) == 0 {
		return false
	}
	_, raw, _ := strings.Cut(query, "?")
	got, err := url.ParseQuery(raw)
	if err != nil {
		return false
	}
	for k := range params {
		if got.Get(k) != params.Get(k) {
			return false
		}
	}
	return true
}

// deletions checks that the deleted signal is true for every record of a recorded deleted query.
func (l *linter) deletions() {
	r := l.job.Resource
	if r.deletedWhen == nil || r.deletedQuery == nil {
		return
	}
	var view recordView
	env := recordEnv{Record: &view}
	var m vm.VM
	for qi, recs := range l.perQuery {
		if !l.hasParams(l.queries[qi].Query, r.deletedQuery) {
			continue
		}
		for _, rec := range recs {
			view.reset(rec.raw)
			gone, err := runRecordExpr(&m, r.deletedWhen, &env)
			if err != nil || !gone {
				l.add(PlaceResource, "/deleted/when", "is false for %s, which the deleted query (%s) lists: the deletion would be reported as a change",
					rec.where(), r.deletedQuery.Encode())
				return
			}
		}
	}
}

// exprs checks the where clause's residual conditions and the filters against the records: the
// fields they read are in the records, and what they compare them with has the records' type.
func (l *linter) exprs() {
	if len(l.records) == 0 {
		return
	}
	j := l.job
	if j.residualSrc != "" {
		l.expr(PlacePoller, "/url", "the where clause", j.residualSrc)
	}
	if f := j.Resource.Spec.Filter; f != "" {
		l.expr(PlaceResource, "/filter", "the filter", f)
	}
	// The deleted signal often reads a field only deleted records have: deletions checks it.
	if f := j.Poller.Filter; f != nil && *f != "" {
		l.expr(PlacePoller, "/filter", "the filter", *f)
	}
	l.fieldTypes()
}

// fieldTypes checks the resource's declared record fields against the types the records hold.
func (l *linter) fieldTypes() {
	fields := l.job.Resource.Spec.Fields
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		want := fields[name]
		path := fieldPath(name)
		for _, r := range l.records {
			v := gjson.Get(r.raw, path)
			if !v.Exists() || v.Type == gjson.Null {
				continue
			}
			if got := jsonKind(v); !kindFits(want, got, v) {
				l.add(PlaceResource, Pointer("fields", name), "is declared %s, but %s holds %s %s", want, r.where(), article(got), clip(v.Raw))
				break
			}
		}
	}
}

// kindFits reports whether a value of JSON kind got fits a declared field type.
func kindFits(want, got string, v gjson.Result) bool {
	switch want {
	case "integer":
		return got == "number" && !strings.ContainsAny(v.Raw, ".eE")
	case "date":
		return got == "string" || got == "number"
	}
	return want == got
}

func jsonKind(v gjson.Result) string {
	switch {
	case v.Type == gjson.String:
		return "string"
	case v.Type == gjson.Number:
		return "number"
	case v.Type == gjson.True, v.Type == gjson.False:
		return "boolean"
	case v.IsArray():
		return "array"
	case v.IsObject():
		return "object"
	}
	return "null"
}

func article(kind string) string {
	if strings.IndexByte("aeiou", kind[0]) >= 0 {
		return "an " + kind
	}
	return "a " + kind
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// expr checks one record expression against the records.
func (l *linter) expr(place FindingPlace, ptr, what, src string) {
	tree, err := parser.Parse(src)
	if err != nil {
		return // compiled at load already; nothing more to say
	}
	c := &exprChecker{l: l, place: place, ptr: ptr, what: what, chains: map[string]string{}}
	ast.Walk(&tree.Node, c)
	// Only the longest chains: record.a.b reads record.a, which need not be reported apart.
	paths := slices.Sorted(maps.Keys(c.chains))
	for i, p := range paths {
		if i+1 < len(paths) && strings.HasPrefix(paths[i+1], p+".") {
			continue
		}
		if _, seen := c.kinds(p); !seen {
			l.addOnce(string(place)+ptr+p, place, ptr, "%s reads %s, which is in no record of the samples (%s has %s)",
				what, c.chains[p], l.records[0].where(), recordKeys(l.records[0].raw))
		}
	}
}

type exprChecker struct {
	l      *linter
	place  FindingPlace
	ptr    string
	what   string
	chains map[string]string // gjson path: as written
}

// Visit collects member chains rooted at record, and checks comparisons of such a chain with a
// literal (some record holds that literal's type there).
func (c *exprChecker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if path, show, ok := recordChain(n); ok {
			c.chains[path] = show
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "==", "!=", "<", "<=", ">", ">=", "in", "not in", "matches":
		default:
			return
		}
		c.compare(n.Operator, n.Left, n.Right)
		if n.Operator != "in" && n.Operator != "not in" {
			c.compare(n.Operator, n.Right, n.Left)
		}
	}
}

// compare checks a chain compared with a literal, or tested for membership in a list of them.
func (c *exprChecker) compare(op string, chain, other ast.Node) {
	m, ok := unchain(chain).(*ast.MemberNode)
	if !ok {
		return
	}
	path, show, ok := recordChain(m)
	if !ok {
		return
	}
	kinds, seen := c.kinds(path)
	if !seen || len(kinds) == 0 {
		return // absent (reported) or only ever null
	}
	var lits []string
	switch o := other.(type) {
	case *ast.ArrayNode:
		if op != "in" && op != "not in" {
			return
		}
		for _, e := range o.Nodes {
			if k := literalKind(e); k != "" {
				lits = append(lits, k)
			}
		}
	default:
		if op == "matches" {
			lits = []string{"string"}
		} else if k := literalKind(other); k != "" {
			lits = []string{k}
		}
	}
	if len(lits) == 0 {
		return
	}
	for _, k := range lits {
		if kinds[k] {
			return
		}
	}
	c.l.addOnce(string(c.place)+c.ptr+"compare"+path, c.place, c.ptr, "%s compares %s with %s, but the samples hold %s there: no record can match",
		c.what, show, article(lits[0]), strings.Join(slices.Sorted(maps.Keys(kinds)), " or "))
}

// kinds returns the JSON kinds (null left out) the records hold at a gjson path, and whether any
// record has it at all.
func (c *exprChecker) kinds(path string) (map[string]bool, bool) {
	kinds := map[string]bool{}
	seen := false
	for _, r := range c.l.records {
		v := gjson.Get(r.raw, path)
		if !v.Exists() {
			continue
		}
		seen = true
		if k := jsonKind(v); k != "null" {
			kinds[k] = true
		}
	}
	return kinds, seen
}

func unchain(n ast.Node) ast.Node {
	if ch, ok := n.(*ast.ChainNode); ok {
		return ch.Node
	}
	return n
}

// recordChain returns the gjson path and the source form of a member chain rooted at the
// identifier record (record.a.b, record["a"]), ok false for anything else.
func recordChain(n *ast.MemberNode) (path, show string, ok bool) {
	var segs []string
	var cur ast.Node = n
	for {
		switch x := unchain(cur).(type) {
		case *ast.MemberNode:
			seg, ok := pathSegment(x.Property)
			if !ok {
				return "", "", false
			}
			segs = append(segs, seg)
			cur = x.Node
			continue
		case *ast.IdentifierNode:
			if x.Value != "record" || len(segs) == 0 {
				return "", "", false
			}
			slices.Reverse(segs)
			return strings.Join(segs, "."), "record." + strings.Join(segs, "."), true
		}
		return "", "", false
	}
}

// literalKind is the JSON kind of a literal node; "" for anything else (nil included).
func literalKind(n ast.Node) string {
	switch x := n.(type) {
	case *ast.StringNode:
		return "string"
	case *ast.IntegerNode, *ast.FloatNode:
		return "number"
	case *ast.BoolNode:
		return "boolean"
	case *ast.UnaryNode:
		if x.Operator == "-" {
			return literalKind(x.Node)
		}
	}
	return ""
}
