package definitions

import "github.com/pollen-hq/pollen/engine"

// Assembly is definition files compiled into a catalog, as Compile does, knowing which file
// serves each definition: tools that report on a compiled definition (pollen validate
// --samples) name the file to fix.
type Assembly struct {
	Catalog  *engine.Catalog
	Problems []Problem
	served   map[string]string
	broken   map[string]string
}

// Assemble compiles definition files as Compile does.
func Assemble(files []File) *Assembly {
	c := compileFiles(files)
	return &Assembly{Catalog: c.catalog, Problems: c.problems, served: c.served, broken: c.broken}
}

// File returns the file that serves an element's definition (resource "") or one of its
// resources; "" when none loads.
func (a *Assembly) File(element, resource string) string {
	if resource == "" {
		return a.served[element]
	}
	return a.served[element+"/"+resource]
}

// Broken returns the file of a definition none of whose files loads (resource "": the element);
// "" when it loads or has no file.
func (a *Assembly) Broken(element, resource string) string {
	if resource == "" {
		return a.broken[element]
	}
	return a.broken[element+"/"+resource]
}
