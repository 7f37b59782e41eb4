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
// problem is returned. It assembles the catalog with the very function the Registry (serve and
// its reloads) uses, so that validate and serve report the same problems.
func Compile(files []File) (*engine.Catalog, []Problem) {
	byElem := map[string]*elementSource{}
	get := func(key string) *elementSource {
		e := byElem[key]
		if e == nil {
			e = &elementSource{key: key, resources: map[string]resourceSource{}}
			byElem[key] = e
		}
		return e
	}
	for i := range files {
		f := &files[i]
		switch f.Kind {
		case KindElement:
			get(f.Element).element = &elementFile{name: f.Name, load: func() (*engine.Element, []Problem) { return LoadElement(*f) }}
		case KindResource:
			get(f.Element).resources[f.Resource] = resourceSource{name: f.Name,
				load: func(el *engine.Element) (*engine.Resource, []Problem) { return LoadResource(el, *f) }}
		}
	}
	srcs := make([]*elementSource, 0, len(byElem))
	for _, e := range byElem {
		srcs = append(srcs, e)
	}
	return assemble(srcs)
}

// elementSource is what assemble needs of one element: how to load its element file (nil when
// there is none) and each of its resource files, with the names problems give.
type elementSource struct {
	key       string
	element   *elementFile
	resources map[string]resourceSource
}

type elementFile struct {
	name string
	load func() (*engine.Element, []Problem)
}

type resourceSource struct {
	name string
	load func(el *engine.Element) (*engine.Resource, []Problem)
}

// assemble builds the catalog of the given elements: each element file loaded, then its
// resources, and the problems of the whole: resources without an element file, resources of an
// element that does not load, defaultResources that name no loaded resource.
func assemble(srcs []*elementSource) (*engine.Catalog, []Problem) {
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].key < srcs[j].key })
	var probs []Problem
	var elements []*engine.Element
	for _, src := range srcs {
		names := make([]string, 0, len(src.resources))
		for n := range src.resources {
			names = append(names, n)
		}
		sort.Strings(names)
		if src.element == nil {
			for _, n := range names {
				probs = append(probs, Problem{File: src.resources[n].name, Message: fmt.Sprintf("no element.json for element %q beside this resources folder", src.key)})
			}
			continue
		}
		el, ps := src.element.load()
		probs = append(probs, ps...)
		if el == nil {
			for _, n := range names {
				probs = append(probs, Problem{File: src.resources[n].name, Message: fmt.Sprintf("not loaded: element %s has errors", src.key)})
			}
			continue
		}
		rs := map[string]*engine.Resource{}
		for _, n := range names {
			r, ps := src.resources[n].load(el)
			probs = append(probs, ps...)
			if r != nil {
				rs[n] = r
			}
		}
		el = el.WithResources(rs)
		for i, name := range el.Spec.Events.DefaultResources {
			if _, ok := rs[name]; !ok {
				probs = append(probs, Problem{File: src.element.name, Pointer: engine.Pointer("events", "defaultResources", fmt.Sprint(i)),
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
// against a catalog, within the default engine.Limits. It is what `pollen validate` runs on every
// body; the instance service runs LoadInstanceWithin, the same path within the operator's limits.
func LoadInstance(cat *engine.Catalog, name string, data []byte) (*engine.Instance, []Problem) {
	return loadBody(cat, engine.Limits{}, name, data, false)
}

// LoadStoredInstance is LoadInstance for a body that was accepted before, compiled against
// definitions that may have changed since: a job whose resource no longer loads is paused
// (engine.Instance.Paused) instead of failing the instance. Startup and reloads use it.
func LoadStoredInstance(cat *engine.Catalog, name string, data []byte) (*engine.Instance, []Problem) {
	return loadBody(cat, engine.Limits{}, name, data, true)
}

// decode checks data against its schema, then decodes it strictly into v.
func decode(f File, k schemas.Kind, v any) []Problem {
	if ps := CheckUTF8(f.Name, f.Data); ps != nil {
		return ps
	}
	if vs := schemas.Validate(k, f.Data); len(vs) > 0 {
		out := make([]Problem, len(vs))
		for i, vi := range vs {
			out[i] = Problem{File: f.Name, Pointer: vi.Pointer, Message: vi.Message}
		}
		return out
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
