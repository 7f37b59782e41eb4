// Package schemas holds Pollen's JSON Schemas (element and resource definitions, the
// POST /instances body, the event notification), embeds them, compiles them once, and reports
// every violation of a document with its JSON pointer.
//
// Each schema has a stable $id under https://pollen-hq.github.io/pollen/schemas/, so a definition
// file can name its schema with a "$schema" key (a relative path works in editors too).
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

//go:embed *.schema.json
var files embed.FS

// BaseURL is the prefix of every schema's $id.
const BaseURL = "https://pollen-hq.github.io/pollen/schemas/"

// Kind names a schema.
type Kind string

// The schemas.
const (
	Element      Kind = "element"
	Resource     Kind = "resource"
	Instance     Kind = "instance"
	Notification Kind = "notification"
)

// Kinds lists every schema kind.
var Kinds = []Kind{Element, Resource, Instance, Notification}

// ID returns the $id of a kind's schema.
func (k Kind) ID() string { return BaseURL + string(k) + ".schema.json" }

// Violation is one way a document breaks its schema.
type Violation struct {
	Pointer string // JSON pointer of the offending value; "" is the document root
	Message string
}

func (v Violation) String() string {
	p := v.Pointer
	if p == "" {
		p = "/"
	}
	return p + ": " + v.Message
}

var compiled = sync.OnceValues(compileAll)

func compileAll() (map[Kind]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	for _, k := range Kinds {
		b, err := files.ReadFile(string(k) + ".schema.json")
		if err != nil {
			return nil, err
		}
		if err := c.AddResource(k.ID(), bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("schema %s: %w", k, err)
		}
	}
	out := map[Kind]*jsonschema.Schema{}
	for _, k := range Kinds {
		s, err := c.Compile(k.ID())
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", k, err)
		}
		out[k] = s
	}
	return out, nil
}

// Source returns the text of a kind's schema.
func Source(k Kind) ([]byte, error) { return files.ReadFile(string(k) + ".schema.json") }

// Validate checks a JSON document against a kind's schema and returns every violation, sorted by
// pointer. A document that is not JSON gives one violation at the root saying so.
func Validate(k Kind, doc []byte) []Violation {
	all, err := compiled()
	if err != nil {
		// The schemas are embedded and tested; failing to compile them is a build defect.
		panic(err)
	}
	v, err := Decode(doc)
	if err != nil {
		return []Violation{{Message: "not valid JSON: " + err.Error()}}
	}
	return ValidateValue(all[k], v)
}

// Decode decodes JSON the way the validator needs it: numbers as json.Number, and nothing after
// the value.
func Decode(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// ValidateValue checks an already decoded value (decoded with Decode) against a compiled schema.
func ValidateValue(s *jsonschema.Schema, v any) []Violation {
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []Violation{{Message: err.Error()}}
	}
	var out []Violation
	seen := map[Violation]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		causes := e.Causes
		if strings.HasSuffix(e.KeywordLocation, "/oneOf") || strings.HasSuffix(e.KeywordLocation, "/anyOf") {
			causes = relevantBranches(e)
		}
		if len(causes) == 0 {
			vi := Violation{Pointer: e.InstanceLocation, Message: e.Message}
			if !seen[vi] {
				seen[vi] = true
				out = append(out, vi)
			}
			return
		}
		for _, c := range causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return out
}

// relevantBranches drops the branches of a failed oneOf/anyOf that failed only because the value
// has another type: for a value that is an object, "expected string" from the string branch is
// noise next to the object branch's real complaints.
func relevantBranches(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	var keep []*jsonschema.ValidationError
	for _, c := range e.Causes {
		if c.InstanceLocation == e.InstanceLocation && len(c.Causes) == 0 && strings.HasSuffix(c.KeywordLocation, "/type") {
			continue
		}
		keep = append(keep, c)
	}
	if len(keep) == 0 {
		return e.Causes
	}
	return keep
}

// Schema returns a kind's compiled schema.
func Schema(k Kind) *jsonschema.Schema {
	all, err := compiled()
	if err != nil {
		panic(err)
	}
	return all[k]
}

// Describe returns a short one-line description of violations, for logs.
func Describe(vs []Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return strings.Join(parts, "; ")
}
