package instances

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// IsSecretKey reports whether a configuration key holds a secret: the element declares it so,
// it is a signature key, or its name says so.
func IsSecretKey(el *engine.Element, key string) bool {
	if key == engine.KeySignatureKey || key == engine.KeyPreviousSignatureKey || engine.SecretKeyName(key) {
		return true
	}
	if el == nil {
		return false
	}
	k, ok := el.ConfigKey(key)
	return ok && k.Secret
}

// URLKey reports whether a configuration key holds a URL whose credentials are masked.
func URLKey(key string) bool { return key == engine.KeyBaseURL || key == engine.KeyCallbackURL }

// SecretValues returns the non-empty secret values of a configuration (its secret keys' values,
// and the credentials in its URLs), longest first.
func SecretValues(el *engine.Element, conf map[string]any) []string {
	var out []string
	for k, v := range conf {
		s := ""
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			continue
		}
		switch {
		case IsSecretKey(el, k):
			if s != "" {
				out = append(out, s)
			}
		case URLKey(k):
			out = append(out, engine.URLSecrets(s)...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func scrubValues(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, engine.Masked)
		}
	}
	return s
}

func scrubProblems(ps []definitions.Problem, secrets []string) []definitions.Problem {
	out := make([]definitions.Problem, len(ps))
	for i, p := range ps {
		p.Message = scrubValues(p.Message, secrets)
		out[i] = p
	}
	return out
}
