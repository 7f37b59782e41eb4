package engine

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// pager pages one resource's vendor list as its definition declares (the resource's paging, else
// its element's). It is compiled once per resource and shared by polls and hub calls: the engine
// builds every URL it sends, and the Source fetches one page per call.
//
//   - link: the next page is the response's Link rel="next" (RFC 8288), same origin only;
//   - page: the next page sets the page parameter to n+1 while pages come full (or a Link rel="next"
//     says there is one);
//   - body: the next page's URL is in the body (nextPath) until endPath is true;
//   - none: one page.
type pager struct {
	kind      string
	pageParam string // page numbers: the query parameter (link and page paging may have one)
	sizeParam string
	maxPages  int    // pages one query can reach; 0 = no cap
	nextPath  string // body paging
	endPath   string // body paging
}

func compilePager(e *Element, r *ResourceSpec) *pager {
	spec := e.Spec.Paging
	if r.Paging != nil {
		spec = *r.Paging
		if spec.SizeParam == "" {
			spec.SizeParam = e.Spec.Paging.SizeParam // the page size is the element's parameter
		}
	}
	p := &pager{kind: strings.ToLower(spec.Type), pageParam: spec.PageParam, sizeParam: spec.SizeParam,
		nextPath: spec.NextPath, endPath: spec.EndPath, maxPages: e.Spec.Paging.MaxPages}
	if spec.MaxPages > 0 {
		p.maxPages = spec.MaxPages
	}
	if r.MaxPages > 0 {
		p.maxPages = r.MaxPages
	}
	if p.kind == "" {
		p.kind = "none"
	}
	if p.kind == "page" && p.pageParam == "" {
		p.pageParam = "page"
	}
	return p
}

// numbered reports whether pages can be asked for by number.
func (p *pager) numbered() bool { return p.pageParam != "" }

// errVendorLink is wrapped by the errors of a next-page link that cannot be followed.
var errVendorLink = errors.New("bad next-page link")

// url builds the URL of page n (1-based; page 1 carries no page parameter unless the paging is by
// page number) of a query at base + path, with size records a page.
func (p *pager) url(base, path string, q url.Values, size, n int) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(base, "/") + path)
	if err != nil {
		return nil, fmt.Errorf("bad vendor URL %q: %w", strings.TrimRight(base, "/")+path, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("bad vendor URL %s: want http(s)://host/...", u.Redacted())
	}
	v := u.Query()
	for k, vs := range q {
		v[k] = append(v[k][:0:0], vs...)
	}
	if p.sizeParam != "" && size > 0 {
		v.Set(p.sizeParam, strconv.Itoa(size))
	}
	if p.numbered() && (n > 1 || p.kind == "page") {
		v.Set(p.pageParam, strconv.Itoa(n))
	}
	u.RawQuery = v.Encode()
	return u, nil
}

// next returns the URL of the page after page n, which answered cur with count records of the
// size asked for, and whether the vendor has one. An error reports a link that cannot be
// followed (another origin, not a URL).
func (p *pager) next(cur *url.URL, pg *Page, n, count, size int) (*url.URL, bool, error) {
	switch p.kind {
	case "link":
		target := nextLink(pg.Header)
		if target == "" {
			return nil, false, nil
		}
		return follow(cur, target, "Link rel=\"next\"")
	case "body":
		if p.endPath != "" && gjson.GetBytes(pg.Body, p.endPath).Bool() {
			return nil, false, nil
		}
		target := gjson.GetBytes(pg.Body, p.nextPath).String()
		if target == "" {
			return nil, false, nil
		}
		next, ok, err := follow(cur, target, "the next page URL")
		if err == nil && next.String() == cur.String() {
			return nil, false, nil // the vendor points at the page it just gave: nothing newer
		}
		return next, ok, err
	case "page":
		if count == 0 || (size > 0 && count < size && nextLink(pg.Header) == "") {
			return nil, false, nil
		}
		next := *cur
		v := next.Query()
		v.Set(p.pageParam, strconv.Itoa(n+1))
		next.RawQuery = v.Encode()
		return &next, true, nil
	}
	return nil, false, nil
}

// follow resolves a next-page link against the page it came from; it must stay on the same
// scheme and host, so that a vendor cannot send Pollen (and the instance's credentials) elsewhere.
func follow(cur *url.URL, target, what string) (*url.URL, bool, error) {
	next, err := cur.Parse(target)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %s %q: %v", errVendorLink, what, target, err)
	}
	if !strings.EqualFold(next.Scheme, cur.Scheme) || !strings.EqualFold(next.Host, cur.Host) {
		return nil, true, fmt.Errorf("%w: %s leaves %s://%s: %s", errVendorLink, what, cur.Scheme, cur.Host, next.Redacted())
	}
	if next.String() == cur.String() && what != "the next page URL" {
		return nil, true, fmt.Errorf("%w: %s points to the same page", errVendorLink, what)
	}
	return next, true, nil
}

// nextLink returns the target of the first Link rel="next" in h, or "". It accepts the forms
// vendors send: several links in one header or in several, extra parameters, quoted commas, and
// rel values with several relation types or without quotes.
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for {
			i := strings.IndexByte(v, '<')
			if i < 0 {
				break
			}
			j := strings.IndexByte(v[i:], '>')
			if j < 0 {
				break
			}
			target := strings.TrimSpace(v[i+1 : i+j])
			rest := v[i+j+1:]
			k := paramsEnd(rest)
			if relNext(rest[:k]) {
				return target
			}
			v = rest[k:]
		}
	}
	return ""
}

// paramsEnd returns where the parameters of one link value end: the first comma outside quotes.
func paramsEnd(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case ',':
			if !quoted {
				return i
			}
		}
	}
	return len(s)
}

// relNext reports whether link parameters such as `; rel="next"` name the next relation.
func relNext(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		for _, r := range strings.Fields(val) {
			if strings.EqualFold(r, "next") {
				return true
			}
		}
	}
	return false
}
