package api

import (
	"encoding/json"

	"github.com/tidwall/gjson"
)

// dropNulls returns a JSON value without its null-valued object members, at every depth
// (filter.response.nulls). Members keep their order and numbers their digits; null elements of
// arrays stay, so that positions keep their meaning.
func dropNulls(raw json.RawMessage) json.RawMessage {
	v := gjson.ParseBytes(raw)
	return appendWithoutNulls(make([]byte, 0, len(raw)), v)
}

func appendWithoutNulls(dst []byte, v gjson.Result) []byte {
	switch {
	case v.IsObject():
		dst = append(dst, '{')
		n := 0
		v.ForEach(func(k, val gjson.Result) bool {
			if val.Type == gjson.Null {
				return true
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, k.Raw...)
			dst = append(dst, ':')
			dst = appendWithoutNulls(dst, val)
			return true
		})
		return append(dst, '}')
	case v.IsArray():
		dst = append(dst, '[')
		n := 0
		v.ForEach(func(_, val gjson.Result) bool {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = appendWithoutNulls(dst, val)
			return true
		})
		return append(dst, ']')
	default:
		return append(dst, v.Raw...)
	}
}
