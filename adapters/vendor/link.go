package vendor

import (
	"bytes"
	"net/http"
	"strings"
)

// nextLink returns the target of the first Link rel="next" in h, or "". See the package doc for
// the forms accepted.
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

// arrayLen returns the number of elements of body when it is a JSON array (whitespace around it
// allowed), and ok false otherwise. It does not validate the elements.
func arrayLen(body []byte) (n int, ok bool) {
	b := bytes.TrimSpace(body)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return 0, false
	}
	depth, inString, seen := 0, false, false
	for i := 1; i < len(b)-1; i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 0 {
				n++
			}
		}
		seen = true
	}
	if seen {
		n++
	}
	return n, true
}

// emptyPage reports whether a page body holds nothing: no bytes, `[]` or `null`.
func emptyPage(body []byte) bool {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || string(b) == "null" {
		return true
	}
	n, ok := arrayLen(b)
	return ok && n == 0
}
