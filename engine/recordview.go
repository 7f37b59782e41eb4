package engine

import (
	"strings"

	"github.com/tidwall/gjson"
)

// recordView reads a record's top level once, so that every field a poll needs (id, dates, the
// fields its expressions name) is found by a short scan of the record's keys instead of a fresh
// gjson parse of the whole record per field. A view is reused from record to record.
type recordView struct {
	raw    string
	parsed bool
	object bool // raw is a well-formed object and members index it
	// Top-level members as offsets into raw (no pointers, so no GC write barriers): the key
	// without its quotes, and the raw value.
	members []member
	// hints remember where each path's key was in the previous record: the records of one page
	// share their key order, so the first look usually finds it.
	hints []hint
}

type hint struct {
	path *recordPath
	at   int
}

type member struct {
	keyStart, keyEnd, valStart, valEnd int32
	escaped                            bool // the key holds a backslash escape
}

func (v *recordView) reset(raw string) {
	v.raw = raw
	v.parsed = false
	v.object = false
	v.members = v.members[:0]
}

// load makes the view the JSON value that starts at s[i], indexing it if it is an object, and
// returns the index after it. Walking a page's array with load reads each byte once.
func (v *recordView) load(s string, i int) int {
	v.reset("")
	end := v.indexAt(s, i)
	v.object = end > i
	if !v.object {
		v.members = v.members[:0]
		end = skipValue(s, i)
	}
	// Offsets were taken in s; make them relative to the record.
	for k := range v.members {
		m := &v.members[k]
		m.keyStart -= int32(i)
		m.keyEnd -= int32(i)
		m.valStart -= int32(i)
		m.valEnd -= int32(i)
	}
	v.raw = s[i:end]
	v.parsed = true
	return end
}

// forEachRecord calls fn with each element of the JSON array arr, loaded into v. It returns
// false when arr is not an array.
func (v *recordView) forEachRecord(arr string, fn func(raw string) error) (bool, error) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return false, nil
	}
	i = skipSpace(arr, i+1)
	for i < len(arr) && arr[i] != ']' {
		end := v.load(arr, i)
		if err := fn(v.raw); err != nil {
			return true, err
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return true, nil
}

// get returns the value at a compiled path.
func (v *recordView) get(p *recordPath) gjson.Result {
	if !v.parsed {
		v.parsed = true
		v.object = v.indexAt(v.raw, 0) > 0
	}
	if !p.plain || !v.object {
		return gjson.Get(v.raw, p.full)
	}
	h := -1
	for i := range v.hints {
		if v.hints[i].path == p {
			h = i
			if at := v.hints[i].at; at < len(v.members) && v.keyIs(at, p.top) {
				return v.value(at, p)
			}
			break
		}
	}
	for i := range v.members {
		if v.keyIs(i, p.top) {
			if h >= 0 {
				v.hints[h].at = i
			} else {
				v.hints = append(v.hints, hint{path: p, at: i})
			}
			return v.value(i, p)
		}
	}
	return gjson.Result{}
}

// keyIs reports whether member i's key is key.
func (v *recordView) keyIs(i int, key string) bool {
	m := v.members[i]
	k := v.raw[m.keyStart:m.keyEnd]
	if m.escaped {
		k = gjson.Parse(v.raw[m.keyStart-1 : m.keyEnd+1]).Str
	}
	return k == key
}

// value returns the value of member i at path p.
func (v *recordView) value(i int, p *recordPath) gjson.Result {
	m := v.members[i]
	val := v.raw[m.valStart:m.valEnd]
	if p.rest == "" {
		return gjson.Parse(val)
	}
	return gjson.Get(val, p.rest)
}

// index records the record's top-level keys and the raw extent of each value, without parsing
// the values: only the ones a poll asks for are parsed, by gjson, when asked for. A record that is
// not a JSON object indexes nothing.
// indexAt indexes the object starting at s[i] and returns the index after it, or i when there
// is no well-formed object there.
func (v *recordView) indexAt(s string, i int) int {
	start := i
	i = skipSpace(s, i)
	if i >= len(s) || s[i] != '{' {
		return start
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1
	}
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] != '"' {
			return start
		}
		kEnd := skipString(s, i)
		m := member{keyStart: int32(i + 1), keyEnd: int32(kEnd - 1)}
		m.escaped = strings.IndexByte(s[i+1:kEnd-1], '\\') >= 0
		i = skipSpace(s, kEnd)
		if i >= len(s) || s[i] != ':' {
			return start
		}
		i = skipSpace(s, i+1)
		vEnd := skipValue(s, i)
		if vEnd <= i {
			return start
		}
		m.valStart, m.valEnd = int32(i), int32(vEnd)
		v.members = append(v.members, m)
		i = skipSpace(s, vEnd)
		if i < len(s) && s[i] == '}' {
			return i + 1
		}
		if i >= len(s) || s[i] != ',' {
			return start
		}
		i++
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at s[i] == '"': the first quote
// not escaped by an odd run of backslashes.
func skipString(s string, i int) int {
	for i++; ; i++ {
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			return len(s)
		}
		i += j
		k := i - 1
		for s[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 {
			return i + 1
		}
	}
}

// skipValue returns the index after the JSON value starting at s[i].
func skipValue(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				i = skipString(s, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(s)
	default:
		for i < len(s) {
			switch s[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// recordPath is a gjson path compiled for recordView: its first component, when that is a plain
// key, and the rest.
type recordPath struct {
	full  string // the whole gjson path
	top   string // first component, unescaped
	rest  string // gjson path below it; "" for a top-level field
	plain bool   // top is a literal key: the view's fast path applies
}

func compileRecordPath(path string) *recordPath {
	p := &recordPath{full: path}
	if path == "" || path == "@this" || strings.HasPrefix(path, "@") || strings.HasPrefix(path, "..") {
		return p
	}
	// Split at the first unescaped dot; the first component must hold no gjson syntax.
	var top strings.Builder
	i := 0
	for ; i < len(path); i++ {
		c := path[i]
		if c == '\\' {
			if i+1 == len(path) {
				return p // a trailing lone backslash: leave it to gjson
			}
			i++
			top.WriteByte(path[i])
			continue
		}
		if c == '.' {
			break
		}
		if strings.IndexByte("*?|#@!=<>%[]{}", c) >= 0 {
			return p
		}
		top.WriteByte(c)
	}
	p.top = top.String()
	if i < len(path) {
		p.rest = path[i+1:]
		if p.rest == "" {
			return p // "a." means something of its own to gjson
		}
	}
	p.plain = p.top != ""
	return p
}
