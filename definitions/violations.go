package definitions

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/schemas"
)

// schemaProblems turns a document's schema violations into problems that point at the offending
// key: the validator reports an unknown key ("additionalProperties 'x' not allowed") and a
// missing one ("missing properties: 'x'") at the object that holds them, and one violation may
// name several keys. Here each key gets its own problem at its own pointer: an unknown key at
// where it is, a missing key at where it belongs.
func schemaProblems(f File, vs []schemas.Violation) []Problem {
	var doc any
	return schemaProblemsIn(f.Name, func() any {
		if doc == nil {
			doc, _ = schemas.Decode(f.Data)
		}
		return doc
	}, vs)
}

// schemaProblemsIn is schemaProblems of file's document, as document returns it decoded.
func schemaProblemsIn(file string, document func() any, vs []schemas.Violation) []Problem {
	var out []Problem
	for _, v := range vs {
		switch {
		case strings.HasPrefix(v.Message, "missing properties: "):
			names := quotedNames(strings.TrimPrefix(v.Message, "missing properties: "))
			if names == nil {
				break
			}
			for _, name := range names {
				out = append(out, Problem{File: file, Pointer: v.Pointer + engine.Pointer(name), Message: "is required"})
			}
			continue
		case strings.HasPrefix(v.Message, "additionalProperties ") && strings.HasSuffix(v.Message, " not allowed"):
			obj, _ := at(document(), v.Pointer).(map[string]any)
			var keys []string
			for k := range obj {
				if strings.Contains(v.Message, "'"+k+"'") {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				break
			}
			sort.Strings(keys)
			for _, k := range keys {
				out = append(out, Problem{File: file, Pointer: v.Pointer + engine.Pointer(k), Message: "unknown key" + suggestion(k, vs, v.Pointer)})
			}
			continue
		}
		out = append(out, Problem{File: file, Pointer: v.Pointer, Message: v.Message})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return out
}

// quotedNames parses 'a', 'b' into [a b]; nil when s is not such a list.
func quotedNames(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ", ") {
		if len(part) < 2 || part[0] != '\'' || part[len(part)-1] != '\'' {
			return nil
		}
		out = append(out, part[1:len(part)-1])
	}
	return out
}

// suggestion is "; did you mean "x"?" when a key missing from the same object looks like the
// unknown key k (a typo: vendorPth for vendorPath).
func suggestion(k string, vs []schemas.Violation, object string) string {
	for _, v := range vs {
		if v.Pointer != object || !strings.HasPrefix(v.Message, "missing properties: ") {
			continue
		}
		for _, name := range quotedNames(strings.TrimPrefix(v.Message, "missing properties: ")) {
			if strings.EqualFold(name, k) || editDistance(strings.ToLower(name), strings.ToLower(k)) <= 2 {
				return fmt.Sprintf("; did you mean %q?", name)
			}
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// at returns the value at a JSON pointer in a decoded document; nil when there is none.
func at(doc any, pointer string) any {
	if pointer == "" {
		return doc
	}
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := doc.(type) {
		case map[string]any:
			doc = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			doc = v[i]
		default:
			return nil
		}
	}
	return doc
}
