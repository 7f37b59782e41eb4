package kernel

import (
	"maps"
	"net/http"

	"github.com/tidwall/gjson"
)

// htmlPage is the body of BodyHTML: what a proxy in front of a vendor sends when the vendor is
// down, with a 200.
const htmlPage = `<!DOCTYPE html>
<html>
<head><title>Service temporarily unavailable</title></head>
<body>
<h1>We'll be back shortly</h1>
<p>Our helpdesk is undergoing scheduled maintenance. Please try again in a few minutes.</p>
</body>
</html>
`

// spoil applies a body fault to a 200 page whose records are at the gjson path records.
func spoil(resp Response, kind BodyKind, records string) Response {
	if kind == BodyOK || resp.Body == nil {
		return resp
	}
	resp.Header = maps.Clone(resp.Header)
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	body := resp.Body
	start, end, elems := locate(body, records)
	switch kind {
	case BodyTruncated:
		cut := len(body) / 2
		if n := len(elems); n > 0 {
			last := elems[n-1]
			cut = last[0] + max((last[1]-last[0])/2, 1)
		}
		resp.Body = body[:max(cut, 1)]
	case BodyNoRecords:
		cut := len(body) / 2
		if start >= 0 {
			cut = start + 1 // just after '['
		}
		resp.Body = body[:max(cut, 1)]
	case BodyHTML:
		resp.Body = []byte(htmlPage)
		resp.Header.Set("Content-Type", "text/html; charset=utf-8")
	case BodyWrongShape:
		if start < 0 {
			resp.Body = []byte(`{"items":` + string(body) + `}`)
			break
		}
		out := make([]byte, 0, len(body)+12)
		out = append(out, body[:start]...)
		out = append(out, `{"items":`...)
		out = append(out, body[start:end]...)
		out = append(out, '}')
		resp.Body = append(out, body[end:]...)
	}
	return resp
}

// locate finds the records array of a page body: its start and end offsets (-1 when there is no
// array at the path) and the [start, end) offsets of each record.
func locate(body []byte, records string) (start, end int, elems [][2]int) {
	var arr gjson.Result
	if records == "" || records == "@this" {
		arr = gjson.ParseBytes(body)
		// Index 0 is "unknown" to gjson: the body's own array starts at its first non-space.
		for arr.Index = 0; arr.Index < len(body) && body[arr.Index] <= ' '; arr.Index++ {
		}
	} else {
		arr = gjson.GetBytes(body, records)
	}
	if !arr.IsArray() || arr.Index <= 0 && (records != "" && records != "@this") {
		return -1, -1, nil
	}
	arr.ForEach(func(_, v gjson.Result) bool {
		elems = append(elems, [2]int{v.Index, v.Index + len(v.Raw)})
		return true
	})
	return arr.Index, arr.Index + len(arr.Raw), elems
}
