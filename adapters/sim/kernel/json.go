package kernel

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends v as encoding/json encodes it without HTML escaping (map keys sorted), for
// the types records are made of (nil, string, bool, int, int64, []string, []any,
// []map[string]any, map[string]any); anything else goes through encoding/json. List responses of
// thousands of records are most of a load test's simulator time, and encoding/json spends much
// of it sorting map keys through reflection.
func AppendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		return appendList(b, x)
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		return appendList(b, x)
	case []map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		return appendList(b, x)
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendString(b, k), ':')
			var err error
			if b, err = AppendJSON(b, x[k]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	j, err := Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// Marshal is encoding/json without HTML escaping: vendors send descriptions' "<div>" as is.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func appendList[T any](b []byte, list []T) ([]byte, error) {
	b = append(b, '[')
	for i, e := range list {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = AppendJSON(b, e); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// appendString appends s quoted; a string with anything to escape (quotes, backslashes,
// control characters, non-ASCII) is left to encoding/json, which has the exact rules.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			enc, _ := Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// DecodeObject decodes a request body that must be one JSON object, numbers normalised to int64
// or float64 (Normalize).
func DecodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	return Normalize(m).(map[string]any), nil
}

// Normalize turns the json.Numbers of a decoded value into int64 (integers) or float64, in
// place.
func Normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = Normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = Normalize(e)
		}
		return x
	}
	return v
}

// DeepCopy copies maps and slices (map[string]any, []any, []string, []int64), so that callers
// never share state with a store.
func DeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = DeepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = DeepCopy(e)
		}
		return s
	case []string:
		return append([]string{}, x...)
	case []int64:
		return append([]int64{}, x...)
	}
	return v
}
