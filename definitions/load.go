package definitions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/schemas"
)

// Compile builds a catalog from definition files. A later file with the same element and
// resource overrides an earlier one, so Builtin() followed by a user's folder overrides built-ins;
// while the later file does not load, the earlier one serves, as `pollen serve` keeps serving the
// built-in definition while a folder's file is broken. Every problem is returned once, on the file
// that has it, and nothing that only follows from it: a resource of an element that does not load
// is not compiled, and an element's default resource that has a broken file is not reported again.
func Compile(files []File) (*engine.Catalog, []Problem) {
	c := compile(files)
	return c.catalog, c.problems
}

// compiled is what compile made of definition files.
type compiled struct {
	catalog  *engine.Catalog
	problems []Problem
	// broken maps the identity ("element" or "element/resource") of a definition none of whose
	// files loads to the file reported.
	broken map[string]string
	// notChecked maps a file that could not be compiled, because the element it belongs to does
	// not load, to why.
	notChecked map[string]string
}

func compile(files []File) compiled {
	type elemFiles struct {
		elements  []*File            // in order: the last one overrides
		resources map[string][]*File // by resource name, in order
	}
	byElem := map[string]*elemFiles{}
	get := func(key string) *elemFiles {
		e := byElem[key]
		if e == nil {
			e = &elemFiles{resources: map[string][]*File{}}
			byElem[key] = e
		}
		return e
	}
	c := compiled{broken: map[string]string{}, notChecked: map[string]string{}}
	for i := range files {
		f := &files[i]
		switch f.Kind {
		case KindElement:
			e := get(f.Element)
			e.elements = append(e.elements, f)
		case KindResource:
			e := get(f.Element)
			e.resources[f.Resource] = append(e.resources[f.Resource], f)
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
		if len(ef.elements) == 0 {
			for _, name := range sortedNames(ef.resources) {
				for _, rf := range ef.resources[name] {
					c.problems = append(c.problems, Problem{File: rf.Name, Message: fmt.Sprintf("no element.json for element %q beside this resources folder", key)})
				}
			}
			continue
		}
		el, elFile, ps := loadLast(ef.elements, LoadElement)
		c.problems = append(c.problems, ps...)
		if el == nil {
			c.broken[key] = elFile.Name
			for _, rfs := range ef.resources {
				for _, rf := range rfs {
					c.notChecked[rf.Name] = fmt.Sprintf("element %s does not load (%s)", key, elFile.Name)
				}
			}
			continue
		}
		rs := map[string]*engine.Resource{}
		for _, name := range sortedNames(ef.resources) {
			r, rf, ps := loadLast(ef.resources[name], func(f File) (*engine.Resource, []Problem) { return LoadResource(el, f) })
			c.problems = append(c.problems, ps...)
			if r != nil {
				rs[name] = r
			} else {
				c.broken[key+"/"+name] = rf.Name
			}
		}
		el = el.WithResources(rs)
		for i, name := range el.Spec.Events.DefaultResources {
			if _, ok := rs[name]; !ok && c.broken[key+"/"+name] == "" {
				c.problems = append(c.problems, Problem{File: elFile.Name, Pointer: engine.Pointer("events", "defaultResources", fmt.Sprint(i)),
					Message: fmt.Sprintf("resource %q is not defined (no resources/%s.json)", name, name)})
			}
		}
		elements = append(elements, el)
	}
	cat, err := engine.NewCatalog(elements...)
	if err != nil {
		c.problems = append(c.problems, Problem{Message: err.Error()})
		cat, _ = engine.NewCatalog()
	}
	c.catalog = cat
	return c
}

// loadLast loads the last of a definition's files that loads, from the last one back, and returns
// it, its file (the last one when none loads) and the problems of the files tried.
func loadLast[T any](files []*File, load func(File) (*T, []Problem)) (*T, *File, []Problem) {
	var probs []Problem
	for i := len(files) - 1; i >= 0; i-- {
		v, ps := load(*files[i])
		probs = append(probs, ps...)
		if v != nil {
			return v, files[i], probs
		}
	}
	return nil, files[len(files)-1], probs
}

func sortedNames[T any](m map[string]T) []string {
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
	if p, bad := SyntaxProblem(f.Name, f.Data); bad {
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

// Checked is a file Validate read, and whether it could be checked whole.
type Checked struct {
	File
	// NotChecked says why the file, or part of it, was not checked: it depends on a definition
	// that does not load, whose own problems say why. "" when the file was checked whole.
	NotChecked string
}

// Validate loads definition files and instance bodies from paths the way the server would:
// the built-in definitions overridden by the definition files found, then every instance body
// against the resulting catalog. It returns the files read and every problem found, each once: a
// definition that does not load is reported on its file, and not again on the files that depend
// on it (resource files of its element, instance bodies that poll it), which are marked
// NotChecked instead.
func Validate(paths ...string) ([]Checked, []Problem) {
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
	c := compile(defs)
	probs = append(probs, c.problems...)
	notChecked := c.notChecked
	for _, b := range bodies {
		key := bodyElement(b.Data)
		if file, ok := c.broken[key]; ok {
			notChecked[b.Name] = fmt.Sprintf("element %s does not load (%s)", key, file)
			continue
		}
		_, ps := LoadInstance(c.catalog, b.Name, b.Data)
		var skipped []string
		for _, p := range ps {
			if name, ok := pollerResource(p.Pointer); ok && c.broken[key+"/"+name] != "" {
				if !slices.Contains(skipped, name) {
					skipped = append(skipped, name)
				}
				continue
			}
			probs = append(probs, p)
		}
		if len(skipped) > 0 {
			var why []string
			for _, name := range skipped {
				why = append(why, fmt.Sprintf("resource %s of element %s does not load (%s)", name, key, c.broken[key+"/"+name]))
			}
			notChecked[b.Name] = strings.Join(why, "; ")
		}
	}
	out := make([]Checked, len(files))
	for i, f := range files {
		out[i] = Checked{File: f, NotChecked: notChecked[f.Name]}
	}
	return out, probs
}

// bodyElement returns the element key an instance body names; "" when it names none.
func bodyElement(data []byte) string {
	var b struct {
		Element struct {
			Key string `json:"key"`
		} `json:"element"`
	}
	_ = json.Unmarshal(data, &b)
	return b.Element.Key
}

// pollerResource returns the resource an instance body's problem is about, when its pointer is
// inside the poller configuration of one resource.
func pollerResource(pointer string) (string, bool) {
	rest, ok := strings.CutPrefix(pointer, "/configuration/event.poller.configuration/")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~"), true
}
