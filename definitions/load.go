package definitions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/schemas"
)

// Compile builds a catalog from definition files. A later file with the same element and
// resource replaces an earlier one, so Builtin() followed by a user's folder overrides built-ins.
// A file with problems is left out (and, for an element file, its resources with it); every
// problem is returned.
func Compile(files []File) (*engine.Catalog, []Problem) {
	type elemFiles struct {
		element   *File
		resources map[string]*File
	}
	byElem := map[string]*elemFiles{}
	get := func(key string) *elemFiles {
		e := byElem[key]
		if e == nil {
			e = &elemFiles{resources: map[string]*File{}}
			byElem[key] = e
		}
		return e
	}
	var probs []Problem
	for i := range files {
		f := &files[i]
		switch f.Kind {
		case KindElement:
			get(f.Element).element = f
		case KindResource:
			get(f.Element).resources[f.Resource] = f
		}
	}
	var elements []*engine.Element
	keys := make([]string, 0, len(byElem))
	for k := range byElem {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		ef := byElem[key]
		if ef.element == nil {
			for _, rf := range ef.resources {
				probs = append(probs, Problem{File: rf.Name, Message: fmt.Sprintf("no element.json for element %q beside this resources folder", key)})
			}
			continue
		}
		el, ps := LoadElement(*ef.element)
		probs = append(probs, ps...)
		if el == nil {
			for _, rf := range ef.resources {
				probs = append(probs, Problem{File: rf.Name, Message: fmt.Sprintf("not loaded: element %s has errors", key)})
			}
			continue
		}
		rs := map[string]*engine.Resource{}
		for _, name := range sortedNames(ef.resources) {
			r, ps := LoadResource(el, *ef.resources[name])
			probs = append(probs, ps...)
			if r != nil {
				rs[name] = r
			}
		}
		el = el.WithResources(rs)
		for i, name := range el.Spec.Events.DefaultResources {
			if _, ok := rs[name]; !ok {
				probs = append(probs, Problem{File: ef.element.Name, Pointer: engine.Pointer("events", "defaultResources", fmt.Sprint(i)),
					Message: fmt.Sprintf("resource %q is not defined (no loadable resources/%s.json)", name, name)})
			}
		}
		elements = append(elements, el)
	}
	cat, err := engine.NewCatalog(elements...)
	if err != nil {
		probs = append(probs, Problem{Message: err.Error()})
		cat, _ = engine.NewCatalog()
	}
	return cat, probs
}

func sortedNames(m map[string]*File) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LoadElement decodes, schema-checks and compiles an element file.
func LoadElement(f File) (*engine.Element, []Problem) {
	var spec engine.ElementSpec
	if ps := decode(f, schemas.Element, &spec); ps != nil {
		return nil, ps
	}
	var probs []Problem
	if spec.Key != f.Element {
		probs = append(probs, Problem{File: f.Name, Pointer: "/key", Message: fmt.Sprintf("%q must equal the element's folder name %q", spec.Key, f.Element)})
	}
	el, err := engine.CompileElement(spec)
	probs = append(probs, problems(f.Name, err)...)
	if len(probs) > 0 {
		return nil, probs
	}
	return el, nil
}

// LoadResource decodes, schema-checks and compiles a resource file of element el.
func LoadResource(el *engine.Element, f File) (*engine.Resource, []Problem) {
	if !namePattern.MatchString(f.Resource) {
		return nil, []Problem{{File: f.Name, Message: fmt.Sprintf("resource name %q (the file name) must match %s", f.Resource, namePattern)}}
	}
	var spec engine.ResourceSpec
	if ps := decode(f, schemas.Resource, &spec); ps != nil {
		return nil, ps
	}
	r, err := engine.CompileResource(el, f.Resource, spec)
	if ps := problems(f.Name, err); ps != nil {
		return nil, ps
	}
	return r, nil
}

// LoadInstance decodes, schema-checks and compiles an instance body (the POST /instances body)
// against a catalog. It is what the API server runs on every body it receives.
func LoadInstance(cat *engine.Catalog, name string, data []byte) (*engine.Instance, []Problem) {
	var spec engine.InstanceSpec
	if ps := decode(File{Name: name, Data: data}, schemas.Instance, &spec); ps != nil {
		return nil, ps
	}
	in, err := engine.CompileInstance(cat, spec)
	if ps := problems(name, err); ps != nil {
		return nil, ps
	}
	return in, nil
}

// LoadStoredInstance is LoadInstance for a body that was accepted before, compiled against
// definitions that may have changed since: a job whose resource no longer loads is paused
// (engine.Instance.Paused) instead of failing the instance. Startup and reloads use it.
func LoadStoredInstance(cat *engine.Catalog, name string, data []byte) (*engine.Instance, []Problem) {
	var spec engine.InstanceSpec
	if ps := decode(File{Name: name, Data: data}, schemas.Instance, &spec); ps != nil {
		return nil, ps
	}
	in, err := engine.CompileStoredInstance(cat, spec)
	if ps := problems(name, err); ps != nil {
		return nil, ps
	}
	return in, nil
}

// decode checks that data is JSON and conforms to its schema, then decodes it strictly into v.
func decode(f File, k schemas.Kind, v any) []Problem {
	if p, bad := syntaxProblem(f.Name, f.Data); bad {
		return []Problem{p}
	}
	if vs := schemas.Validate(k, f.Data); len(vs) > 0 {
		return schemaProblems(f, vs)
	}
	dec := json.NewDecoder(bytes.NewReader(f.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return []Problem{{File: f.Name, Message: err.Error()}}
	}
	return nil
}

func problems(file string, err error) []Problem {
	es := engine.AsErrors(err)
	if len(es) == 0 {
		return nil
	}
	out := make([]Problem, len(es))
	for i, e := range es {
		out[i] = Problem{File: file, Pointer: e.Pointer, Message: e.Msg}
	}
	return out
}

// Describe joins problems one per line, for logs and error values.
func Describe(ps []Problem) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Validate loads definition files and instance bodies from paths the way the server would:
// the built-in definitions overridden by the definition files found, then every instance body
// against the resulting catalog. It returns the files read and every problem found.
func Validate(paths ...string) ([]File, []Problem) {
	files, probs := ReadPaths(paths...)
	defs := Builtin()
	var bodies []File
	for _, f := range files {
		if f.Kind == KindInstance {
			bodies = append(bodies, f)
		} else {
			defs = append(defs, f)
		}
	}
	cat, defProbs := Compile(defs)
	probs = append(probs, defProbs...)
	for _, b := range bodies {
		_, ps := LoadInstance(cat, b.Name, b.Data)
		probs = append(probs, ps...)
	}
	return files, probs
}
