package golden

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// ScrubRule says what a recording replaces in the vendor's pages, beside the instance's
// credentials, which are always replaced (in every form the engine scrubs them): the values of
// record fields whose names match Fields (path.Match patterns over a key, at any depth), and email
// addresses wherever they are. Keep names fields never replaced; the job's id and date fields are
// always kept, so that the recording replays as it was polled. A recorded case holds the rule it
// was scrubbed with in scrub.json.
type ScrubRule struct {
	Fields []string `json:"fields"`
	Emails bool     `json:"emails"`
	Keep   []string `json:"keep,omitempty"`
}

// DefaultScrub is the rule pollen try --record applies without --scrub: people's names, emails,
// phones and addresses, and the free text of records.
var DefaultScrub = ScrubRule{
	Fields: []string{
		"name", "*_name", "email", "*_email", "emails", "*_emails", "phone", "*_phone", "mobile",
		"address", "*_address", "twitter_id", "facebook_id", "unique_external_id", "signature",
		"subject", "raw_subject", "description", "description_text", "notes", "details",
		"domains", "domain_names",
	},
	Emails: true,
}

// ReadScrubRule decodes a rule, strictly.
func ReadScrubRule(data []byte) (ScrubRule, error) {
	var r ScrubRule
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	for _, p := range append(append([]string{}, r.Fields...), r.Keep...) {
		if _, err := path.Match(p, ""); err != nil {
			return r, fmt.Errorf("field pattern %q: %w", p, err)
		}
	}
	return r, nil
}

var emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)

// scrubber applies a rule to a recording's pages, consistently: one original value becomes the
// same stand-in everywhere, so that what refers to it still does.
type scrubber struct {
	rule    ScrubRule
	keep    map[string]bool // dotted record paths never replaced (id, dates)
	secrets func(string) string
	origin  [2]string // the live origin, and the recording's
	names   map[string]string
	counts  map[string]int
}

func newScrubber(rule ScrubRule, secrets func(string) string, keep []string, liveOrigin, recOrigin string) *scrubber {
	s := &scrubber{rule: rule, keep: map[string]bool{}, secrets: secrets, origin: [2]string{liveOrigin, recOrigin},
		names: map[string]string{}, counts: map[string]int{}}
	for _, k := range keep {
		s.keep[k] = true
	}
	return s
}

// value scrubs a decoded JSON value found at key (its own key, or its array's), at path at from
// the page's root (array indexes left out).
func (s *scrubber) value(v any, key, at string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = s.value(e, k, join(at, k))
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = s.value(e, key, at)
		}
		return x
	case string:
		return s.text(x, key, at)
	}
	return v
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// text scrubs one string value at a record key.
func (s *scrubber) text(v, key, at string) string {
	v = s.secrets(v)
	if s.origin[0] != "" && s.origin[0] != s.origin[1] {
		v = strings.ReplaceAll(v, s.origin[0], s.origin[1])
	}
	if s.kept(key, at) {
		return v
	}
	if s.matches(key) && v != "" {
		if emailPattern.MatchString(v) && emailPattern.FindString(v) == v {
			return s.email(v)
		}
		return s.stand(key, v)
	}
	if s.rule.Emails {
		v = emailPattern.ReplaceAllStringFunc(v, s.email)
	}
	return v
}

// kept reports whether a value is never replaced: the rule's Keep, or the job's own fields
// (at is the value's path from the record, or from the page for what is not in a record).
func (s *scrubber) kept(key, at string) bool {
	for k := range s.keep {
		if at == k || strings.HasSuffix(at, "."+k) {
			return true
		}
	}
	for _, p := range s.rule.Keep {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}

func (s *scrubber) matches(key string) bool {
	for _, p := range s.rule.Fields {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}

func (s *scrubber) email(v string) string {
	return s.replace("@", v, func(n int) string { return fmt.Sprintf("person%d@example.com", n) })
}

func (s *scrubber) stand(key, v string) string {
	return s.replace(key, v, func(n int) string { return fmt.Sprintf("%s %d", key, n) })
}

// replace returns the stand-in of v among the values of kind, made by mk on first sight.
func (s *scrubber) replace(kind, v string, mk func(int) string) string {
	k := kind + "\x00" + v
	if out, ok := s.names[k]; ok {
		return out
	}
	s.counts[kind]++
	out := mk(s.counts[kind])
	s.names[k] = out
	return out
}
