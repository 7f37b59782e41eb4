package fakedesk

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendJSON appends v as encoding/json encodes it without HTML escaping (map keys sorted), for
// the types records are made of; anything else goes through encoding/json. List responses of
// thousands of records are most of a load test's simulator time, and encoding/json spends much
// of it sorting map keys through reflection.
func appendJSON(b []byte, v any) ([]byte, error) {
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
	case []Ticket: // also []Contact, []Company, ...: the same type
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
			if b, err = appendJSON(b, x[k]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	j, err := marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// marshal is encoding/json without HTML escaping: Freshdesk sends descriptions' "<div>" as is.
func marshal(v any) ([]byte, error) {
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
		if b, err = appendJSON(b, e); err != nil {
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
			enc, _ := marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
