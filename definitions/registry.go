package definitions

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pollen-hq/pollen/engine"
)

// Registry loads the built-in definitions and those of a folder, again on every Reload, and keeps
// what serves: a file in the folder overrides the built-in file of the same element and resource;
// a file that fails to load keeps its last good version serving (or, if it never loaded, the
// built-in one); a file removed from the folder gives way to the built-in one, if any. Compiled
// definitions are cached by content, so a reload compiles only what changed, and a broken file
// is not compiled again until it changes.
type Registry struct {
	dir     string
	log     hclog.Logger
	now     func() time.Time
	builtin []File

	mu      sync.Mutex
	entries map[string]*entry // by identity: "element" or "element/resource"
	cache   map[string]any    // compiled *engine.Element / *engine.Resource by content key
	catalog *engine.Catalog
	others  []Problem // folder files that are neither definitions nor examples
	// structural are the problems of the definitions as a whole (a resource without its
	// element.json, a default resource that is not defined), found by the same assemble as
	// Compile's, so that serve reports what validate reports.
	structural []Problem
}

// entry is one definition identity and what is known of its files.
type entry struct {
	kind     Kind
	element  string
	resource string
	builtin  *File
	disk     *File     // the folder's current version, nil when not in the folder
	diskHash string    // of disk.Data
	good     *File     // the folder's last version that loaded
	problems []Problem // of the folder's current version; nil when it loads
	loadedAt time.Time // when the serving version last loaded
	checked  string    // diskHash when problems were last logged
}

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	Dir    string // "" = built-ins only
	Logger hclog.Logger
	Now    func() time.Time
}

// NewRegistry returns a registry; call Reload to load.
func NewRegistry(o RegistryOptions) *Registry {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Registry{dir: o.Dir, log: o.Logger, now: o.Now, builtin: Builtin(), entries: map[string]*entry{}, cache: map[string]any{}}
}

func identity(f *File) string {
	if f.Kind == KindResource {
		return f.Element + "/" + f.Resource
	}
	return f.Element
}

// Reload reads the folder again and returns the catalog that now serves. The catalog is built
// completely before it is returned; the caller swaps it in. A server uses ReloadInto instead.
func (g *Registry) Reload() *engine.Catalog { return g.ReloadInto(nil) }

// ReloadInto is Reload that hands the new catalog to apply (such as engine.Runtime.Reload) before
// the new state is visible: Status and Catalog wait until apply has returned. So when Status says
// a file is loaded, what apply feeds already serves it: a client that reads "loaded" from
// GET /definitions and at once adds the resource to an instance finds it. apply must not call the
// registry.
func (g *Registry) ReloadInto(apply func(*engine.Catalog)) *engine.Catalog {
	g.mu.Lock()
	defer g.mu.Unlock()
	cat := g.reload()
	if apply != nil {
		apply(cat)
	}
	return cat
}

// reload is Reload's work; g.mu is held.
func (g *Registry) reload() *engine.Catalog {
	now := g.now()
	var disk []File
	g.others = nil
	if g.dir != "" {
		disk, g.others = ReadDir(g.dir)
	}
	for _, p := range g.others {
		g.logProblem(p)
	}
	onDisk := map[string]bool{}
	for i := range g.builtin {
		f := &g.builtin[i]
		g.entryFor(f).builtin = f
	}
	for i := range disk {
		f := &disk[i]
		e := g.entryFor(f)
		onDisk[identity(f)] = true
		h := hashOf(f.Data)
		if h != e.diskHash {
			e.disk, e.diskHash = f, h
		}
	}
	for id, e := range g.entries {
		if e.disk != nil && !onDisk[id] {
			g.log.Info("definition file removed", "file", e.disk.Name)
			e.disk, e.diskHash, e.good, e.problems, e.checked = nil, "", nil, nil, ""
		}
		if e.disk == nil && e.builtin == nil {
			delete(g.entries, id)
		}
	}

	cache := map[string]any{}
	srcs := map[string]*elementSource{}
	get := func(key string) *elementSource {
		src := srcs[key]
		if src == nil {
			src = &elementSource{key: key, resources: map[string][]resourceSource{}}
			srcs[key] = src
		}
		return src
	}
	for _, e := range g.entries {
		e := e
		switch e.kind {
		case KindElement:
			get(e.element).elements = []elementFile{{name: e.name(), load: func() (*engine.Element, []Problem) {
				return g.serveElement(e, cache, now), nil
			}}}
		case KindResource:
			get(e.element).resources[e.resource] = []resourceSource{{name: e.name(), load: func(el *engine.Element) (*engine.Resource, []Problem) {
				return g.serveResource(el, e, cache, now), nil
			}}}
		}
	}
	list := make([]*elementSource, 0, len(srcs))
	for _, src := range srcs {
		list = append(list, src)
	}
	c := assemble(list)
	cat, structural := c.catalog, c.problems
	g.cache = cache
	old := map[string]bool{}
	for _, p := range g.structural {
		old[p.Error()] = true
	}
	for _, p := range structural {
		if !old[p.Error()] {
			g.log.Error("definitions do not fit together", "problem", p.Error())
		}
	}
	g.structural = structural
	g.catalog = cat
	return cat
}

// name is the file an entry stands for in problems: the folder's, else the built-in one.
func (e *entry) name() string {
	if e.disk != nil {
		return e.disk.Name
	}
	if e.builtin != nil {
		return e.builtin.Name
	}
	return e.element + "/" + e.resource
}

func (g *Registry) entryFor(f *File) *entry {
	id := identity(f)
	e := g.entries[id]
	if e == nil {
		e = &entry{kind: f.Kind, element: f.Element, resource: f.Resource}
		g.entries[id] = e
	}
	return e
}

// serveElement picks the element version that serves: the folder's current file if it loads,
// else its last good version, else the built-in one.
func (g *Registry) serveElement(e *entry, cache map[string]any, now time.Time) *engine.Element {
	load := func(f *File) (*engine.Element, []Problem) {
		key := "element\x00" + hashOf(f.Data)
		if v, ok := g.cache[key].(*engine.Element); ok {
			cache[key] = v
			return v, nil
		}
		el, ps := LoadElement(*f)
		if el != nil {
			cache[key] = el
		}
		return el, ps
	}
	return serve(g, e, now, load)
}

// serveResource is serveElement for a resource of el.
func (g *Registry) serveResource(el *engine.Element, e *entry, cache map[string]any, now time.Time) *engine.Resource {
	load := func(f *File) (*engine.Resource, []Problem) {
		key := "resource\x00" + el.Digest + "\x00" + f.Resource + "\x00" + hashOf(f.Data)
		if v, ok := g.cache[key].(*engine.Resource); ok {
			cache[key] = v
			return v, nil
		}
		r, ps := LoadResource(el, *f)
		if r != nil {
			cache[key] = r
		}
		return r, ps
	}
	return serve(g, e, now, load)
}

// serve loads the version of an entry that serves, recording the folder file's problems.
func serve[T any](g *Registry, e *entry, now time.Time, load func(*File) (*T, []Problem)) *T {
	if e.disk != nil {
		v, ps := load(e.disk)
		if v != nil {
			changed := e.good == nil || hashOf(e.good.Data) != e.diskHash
			if changed {
				e.loadedAt = now
			}
			switch {
			case e.problems != nil:
				g.log.Info("definition file loads again; its error is cleared", "file", e.disk.Name)
			case changed:
				g.log.Info("definition file loaded", "file", e.disk.Name)
			}
			e.good, e.problems, e.checked = e.disk, nil, ""
			return v
		}
		e.problems = ps
		if e.checked != e.diskHash {
			e.checked = e.diskHash
			for _, p := range ps {
				g.logProblem(p)
			}
		}
		if e.good != nil {
			if v, _ := load(e.good); v != nil {
				return v
			}
		}
	} else {
		e.problems = nil
	}
	if e.builtin != nil {
		v, ps := load(e.builtin)
		if v == nil {
			for _, p := range ps {
				g.logProblem(p)
			}
		} else if e.disk == nil && e.loadedAt.IsZero() {
			e.loadedAt = now
		}
		return v
	}
	return nil
}

func (g *Registry) logProblem(p Problem) {
	g.log.Error("definition file does not load; its last good version keeps serving", "problem", p.Error())
}

// FileStatus is the state of one definition, as GET /definitions shows it.
type FileStatus struct {
	File     string    `json:"file"`
	Element  string    `json:"element"`
	Resource string    `json:"resource,omitempty"`
	Source   string    `json:"source"` // "directory" or "builtin"
	State    string    `json:"state"`  // "loaded", "failed" or "overridden"
	Serving  string    `json:"serving"`
	Problems []Problem `json:"problems,omitempty"`
	LoadedAt time.Time `json:"loadedAt,omitzero"`
}

// Status returns the state of every definition file, sorted by file.
func (g *Registry) Status() []FileStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []FileStatus
	for _, e := range g.entries {
		if e.disk != nil {
			st := FileStatus{File: e.disk.Name, Element: e.element, Resource: e.resource, Source: "directory", State: "loaded", Serving: "this file", LoadedAt: e.loadedAt}
			if e.problems != nil {
				st.State, st.Problems = "failed", e.problems
				switch {
				case e.good != nil:
					st.Serving = fmt.Sprintf("the last good version, loaded %s", e.loadedAt.UTC().Format(time.RFC3339))
				case e.builtin != nil:
					st.Serving = "the built-in definition"
				default:
					st.Serving, st.LoadedAt = "nothing", time.Time{}
				}
			}
			out = append(out, st)
		}
		if e.builtin != nil {
			st := FileStatus{File: e.builtin.Name, Element: e.element, Resource: e.resource, Source: "builtin", State: "loaded", Serving: "this file", LoadedAt: e.loadedAt}
			if (e.disk != nil && e.problems == nil) || e.good != nil {
				st.State, st.Serving, st.LoadedAt = "overridden", "the folder's file", time.Time{}
			}
			out = append(out, st)
		}
	}
	for _, p := range g.others {
		out = append(out, FileStatus{File: p.File, Source: "directory", State: "failed", Serving: "nothing", Problems: []Problem{p}})
	}
	for _, p := range g.structural {
		found := false
		for i := range out {
			if out[i].File == p.File && (out[i].State == "loaded" || out[i].State == "failed") {
				out[i].State, out[i].Problems, found = "failed", append(out[i].Problems, p), true
				if out[i].Serving == "this file" {
					out[i].Serving = "this file, with the problems listed"
				}
			}
		}
		if !found {
			out = append(out, FileStatus{File: p.File, State: "failed", Serving: "nothing", Problems: []Problem{p}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// Catalog returns the catalog of the last Reload.
func (g *Registry) Catalog() *engine.Catalog {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.catalog
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
