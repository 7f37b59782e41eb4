package engine

import (
	"fmt"
	"strings"
)

// configTemplate is a string with {key} references to instance configuration values, such as
// "https://{subdomain}.example.com". It is parsed once when the element is compiled.
type configTemplate struct {
	parts []tplPart
}

type tplPart struct {
	lit string
	key string // non-empty: a configuration reference
}

func parseConfigTemplate(s string, keys map[string]*ConfigKey) (configTemplate, error) {
	var t configTemplate
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t.parts = append(t.parts, tplPart{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("unterminated {reference} in %q", s)
		}
		key := s[i+1 : i+j]
		if _, ok := keys[key]; !ok {
			return t, fmt.Errorf("{%s} is not a configuration key of this element", key)
		}
		t.parts = append(t.parts, tplPart{key: key})
		s = s[i+j+1:]
	}
	return t, nil
}

func (t configTemplate) expand(cfg map[string]string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.key != "" {
			b.WriteString(cfg[p.key])
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}
