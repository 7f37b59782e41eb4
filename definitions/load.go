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
// It assembles the catalog with the very function the Registry (serve and its reloads) uses, so
// that validate and serve report the same problems.
func Compile(files []File) (*engine.Catalog, []Problem) {
	c := compileFiles(files)
	return c.catalog, c.problems
}

// compiled is what assemble made of definitions.
type compiled struct {
	catalog  *engine.Catalog
	problems []Problem
	// broken maps the identity ("element" or "element/resource") of a definition none of whose
	// files loads to the file reported.
	broken map[string]string
	// notChecked maps a file that could not be compiled, because the element it belongs to does
	// not load, to why.
	notChecked map[string]string
	// served maps the identity of each definition in the catalog to the file that serves it.
	served map[string]string
}

// compileFiles assembles definition files: each identity's files, in the order given.
func compileFiles(files []File) compiled {
	byElem := map[string]*elementSource{}
	get := func(key string) *elementSource {
		e := byElem[key]
		if e == nil {
			e = &elementSource{key: key, resources: map[string][]resourceSource{}}
			byElem[key] = e
		}
		return e
	}
	for i := range files {
		f := &files[i]
		switch f.Kind {
		case KindElement:
			e := get(f.Element)
			e.elements = append(e.elements, elementFile{name: f.Name, load: func() (*engine.Element, []Problem) { return LoadElement(*f) }})
		case KindResource:
			e := get(f.Element)
			e.resources[f.Resource] = append(e.resources[f.Resource], resourceSource{name: f.Name,
				load: func(el *engine.Element) (*engine.Resource, []Problem) { return LoadResource(el, *f) }})
		}
	}
	srcs := make([]*elementSource, 0, len(byElem))
	for _, e := range byElem {
		srcs = append(srcs, e)
	}
	return assemble(srcs)
}

// elementSource is what assemble needs of one element: how to load its element file and each of
// its resource files, each with the names problems give, in override order (the last one that
// loads serves).
type elementSource struct {
	key       string
	elements  []elementFile
	resources map[string][]resourceSource
}

type elementFile struct {
	name string
	load func() (*engine.Element, []Problem)
}

type resourceSource struct {
	name string
	load func(el *engine.Element) (*engine.Resource, []Problem)
}

// assemble builds the catalog of the given elements: each element loaded, then its resources,
// and the problems of the whole: resources without an element file, element defaultResources
// that name no resource. Resources of an element that does not load are not compiled (they are
// notChecked), and a default resource whose own file is broken is not reported again.
func assemble(srcs []*elementSource) compiled {
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].key < srcs[j].key })
	c := compiled{broken: map[string]string{}, notChecked: map[string]string{}, served: map[string]string{}}
	var elements []*engine.Element
	for _, src := range srcs {
		key := src.key
		if len(src.elements) == 0 {
			for _, name := range sortedNames(src.resources) {
				for _, rf := range src.resources[name] {
					c.problems = append(c.problems, Problem{File: rf.name, Message: fmt.Sprintf("no element.json for element %q beside this resources folder", key)})
				}
			}
			continue
		}
		el, elName, ps := loadLast(src.elements, func(f elementFile) (*engine.Element, []Problem) { return f.load() }, func(f elementFile) string { return f.name })
		c.problems = append(c.problems, ps...)
		if el != nil {
			c.served[key] = elName
		}
		if el == nil {
			c.broken[key] = elName
			for _, rfs := range src.resources {
				for _, rf := range rfs {
					c.notChecked[rf.name] = fmt.Sprintf("element %s does not load (%s)", key, elName)
				}
			}
			continue
		}
		rs := map[string]*engine.Resource{}
		for _, name := range sortedNames(src.resources) {
			r, rName, ps := loadLast(src.resources[name], func(f resourceSource) (*engine.Resource, []Problem) { return f.load(el) },
				func(f resourceSource) string { return f.name })
			c.problems = append(c.problems, ps...)
			if r != nil {
				rs[name] = r
				c.served[key+"/"+name] = rName
			} else {
				c.broken[key+"/"+name] = rName
			}
		}
		el = el.WithResources(rs)
		for i, name := range el.Spec.Events.DefaultResources {
			if _, ok := rs[name]; !ok && c.broken[key+"/"+name] == "" {
				c.problems = append(c.problems, Problem{File: elName, Pointer: engine.Pointer("events", "defaultResources", fmt.Sprint(i)),
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

// loadLast loads the last of a definition's candidates that loads, from the last one back, and
// returns it, its name (the last one's when none loads) and the problems of the candidates tried.
func loadLast[F, T any](cands []F, load func(F) (*T, []Problem), name func(F) string) (*T, string, []Problem) {
	var probs []Problem
	for i := len(cands) - 1; i >= 0; i-- {
		v, ps := load(cands[i])
		probs = append(probs, ps...)
		if v != nil {
			return v, name(cands[i]), probs
		}
	}
	return nil, name(cands[len(cands)-1]), probs
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

// decode checks that data is JSON and conforms to its schema, then decodes it strictly into v.
func decode(f File, k schemas.Kind, v any) []Problem {
	if ps := CheckUTF8(f.Name, f.Data); ps != nil {
		return ps
	}
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
	c := compileFiles(defs)
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
