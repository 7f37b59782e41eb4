package definitions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/schemas"
)

// LoadInstanceWithin is LoadInstance within the operator's limits (refresh interval bounds,
// egress policy). Schema and semantic problems are reported together: the values the schema
// refuses are set aside and the rest of the body is compiled, so that one answer lists every
// field at fault. Text that is not valid UTF-8 is refused, with the pointer of the value that
// holds it. event.poller.configuration given as a JSON string is checked exactly like the object
// form.
func LoadInstanceWithin(cat *engine.Catalog, lim engine.Limits, name string, data []byte) (*engine.Instance, []Problem) {
	return loadBody(cat, lim, name, data, false)
}

// LoadStoredInstanceWithin is LoadStoredInstance within the operator's limits.
func LoadStoredInstanceWithin(cat *engine.Catalog, lim engine.Limits, name string, data []byte) (*engine.Instance, []Problem) {
	return loadBody(cat, lim, name, data, true)
}

func loadBody(cat *engine.Catalog, lim engine.Limits, name string, data []byte, stored bool) (*engine.Instance, []Problem) {
	if ps := CheckUTF8(name, data); ps != nil {
		return nil, ps
	}
	if p, bad := SyntaxProblem(name, data); bad {
		return nil, []Problem{p}
	}
	v, err := schemas.Decode(data)
	if err != nil {
		return nil, []Problem{{File: name, Message: "not valid JSON: " + err.Error()}}
	}
	probs, doc := pollerStringForm(name, v)
	vs := schemas.ValidateValue(schemas.Schema(schemas.Instance), doc)
	probs = append(probs, schemaProblemsIn(name, func() any { return doc }, vs)...)
	var bad []string
	for _, p := range probs {
		if p.Pointer == "" { // the body as a whole: nothing can be set aside
			return nil, probs
		}
		bad = append(bad, p.Pointer)
	}
	doc = prune(doc, bad)
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, append(probs, Problem{File: name, Message: err.Error()})
	}
	var spec engine.InstanceSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		if len(probs) > 0 {
			return nil, probs
		}
		return nil, []Problem{{File: name, Message: err.Error()}}
	}
	compile := lim.Compile
	if stored {
		compile = lim.CompileStored
	}
	in, err := compile(cat, spec)
	for _, p := range problems(name, err) {
		if !related(p.Pointer, bad) {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b Problem) int { return strings.Compare(a.Pointer, b.Pointer) })
		return nil, probs
	}
	return in, nil
}

// related reports whether ptr is at, under or above one of the pointers in bad.
func related(ptr string, bad []string) bool {
	for _, b := range bad {
		if ptr == b || strings.HasPrefix(ptr, b+"/") || strings.HasPrefix(b, ptr+"/") {
			return true
		}
	}
	return false
}

// pollerStringForm returns the body with a string event.poller.configuration replaced by the
// object it encodes, so that the schema checks both forms alike; a string that is not a JSON
// object is a problem. An empty string stands for no poller configuration.
func pollerStringForm(name string, v any) ([]Problem, any) {
	body, ok := v.(map[string]any)
	if !ok {
		return nil, v
	}
	conf, ok := body["configuration"].(map[string]any)
	if !ok {
		return nil, v
	}
	s, ok := conf[engine.KeyPollerConfig].(string)
	if !ok {
		return nil, v
	}
	conf = maps.Clone(conf)
	body = maps.Clone(body)
	body["configuration"] = conf
	if strings.TrimSpace(s) == "" {
		delete(conf, engine.KeyPollerConfig)
		return nil, body
	}
	parsed, err := schemas.Decode([]byte(s))
	if obj, isObj := parsed.(map[string]any); err == nil && isObj {
		conf[engine.KeyPollerConfig] = obj
		return nil, body
	}
	msg := "the string form must hold a JSON object keyed by resource name"
	if err != nil {
		msg += ": " + err.Error()
	}
	return []Problem{{File: name, Pointer: engine.Pointer("configuration", engine.KeyPollerConfig), Message: msg}}, body
}

// prune returns v without the values at the given pointers (object members deleted, array
// elements removed). Values are copied where they change; v is not modified.
func prune(v any, ptrs []string) any {
	for _, p := range ptrs {
		v = remove(v, splitPointer(p))
	}
	return compact(v)
}

// compact drops the array elements remove marked.
func compact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = compact(e)
		}
	case []any:
		out := x[:0:0]
		for _, e := range x {
			if _, gone := e.(removed); !gone {
				out = append(out, compact(e))
			}
		}
		return out
	}
	return v
}

func splitPointer(p string) []string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts
}

func remove(v any, path []string) any {
	if len(path) == 0 {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x[path[0]]; !ok {
			return v
		}
		c := maps.Clone(x)
		if len(path) == 1 {
			delete(c, path[0])
		} else {
			c[path[0]] = remove(x[path[0]], path[1:])
		}
		return c
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i >= len(x) {
			return v
		}
		if len(path) == 1 {
			// Marked rather than cut, so that the other pointers' indexes still hold.
			c := slices.Clone(x)
			c[i] = removed{}
			return c
		}
		c := slices.Clone(x)
		c[i] = remove(x[i], path[1:])
		return c
	}
	return v
}

// removed marks an array element prune takes out.
type removed struct{}

// CheckUTF8 refuses a body with bytes that are not UTF-8, naming the value that holds them:
// decoding would replace them silently, changing a secret or a key.
func CheckUTF8(name string, data []byte) []Problem {
	if utf8.Valid(data) {
		return nil
	}
	bad := 0
	for i := 0; i < len(data); {
		r, w := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && w <= 1 {
			bad = i
			break
		}
		i += w
	}
	return []Problem{{File: name, Pointer: pointerAt(data[:bad]),
		Message: fmt.Sprintf("not valid UTF-8 (byte %d); text must be UTF-8", bad)}}
}
