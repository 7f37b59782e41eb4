package definitions

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

//go:embed */element.json */resources/*.json */examples/*.json
var builtin embed.FS

// Kind is what a definition or body file is.
type Kind int

// File kinds.
const (
	KindElement Kind = iota + 1
	KindResource
	KindInstance
)

// File is one definition file or instance body, read into memory.
type File struct {
	Name     string // as shown to users: a path on disk, or builtin:freshdeskv2/element.json
	Kind     Kind
	Element  string // element key (element and resource files)
	Resource string // resource name (resource files)
	Data     []byte
}

var namePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// Builtin returns the definition files embedded in the binary.
func Builtin() []File {
	var out []File
	_ = fs.WalkDir(builtin, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || isExample(p) {
			return err
		}
		data, err := builtin.ReadFile(p)
		if err != nil {
			return err
		}
		f, ok := classify(p, data)
		if ok {
			f.Name = "builtin:" + p
			out = append(out, f)
		}
		return nil
	})
	return out
}

// ReadPaths reads definition files and instance bodies from files and folders. Folders are walked
// for *.json files; a file's kind comes from where it sits (ELEMENT/element.json,
// ELEMENT/resources/NAME.json) or, elsewhere, from its content (an object with "element" and
// "configuration" is an instance body). A file named by several paths is read once.
func ReadPaths(paths ...string) ([]File, []Problem) {
	var files []File
	var probs []Problem
	seen := map[string]bool{} // absolute paths read, so that overlapping paths read a file once
	add := func(p string) {
		if abs, err := filepath.Abs(p); err == nil {
			if seen[abs] {
				return
			}
			seen[abs] = true
		}
		data, err := os.ReadFile(p)
		if err != nil {
			probs = append(probs, Problem{File: p, Message: err.Error()})
			return
		}
		f, ok := classify(filepath.ToSlash(p), data)
		if !ok {
			probs = append(probs, Problem{File: p, Message: "not a definition (ELEMENT/element.json or ELEMENT/resources/NAME.json) nor an instance body (an object with element and configuration)"})
			return
		}
		f.Name = p
		files = append(files, f)
	}
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			probs = append(probs, Problem{File: root, Message: err.Error()})
			continue
		}
		if !st.IsDir() {
			add(root)
			continue
		}
		var found []string
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".json") && !strings.HasPrefix(d.Name(), ".") {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			probs = append(probs, Problem{File: root, Message: err.Error()})
		}
		sort.Strings(found)
		for _, p := range found {
			add(p)
		}
	}
	return files, probs
}

// Example returns an example instance body an element ships (ELEMENT/examples/NAME.json), such
// as freshdeskv2's "polling": the documentation's example of an instance with polling events.
func Example(element, name string) ([]byte, error) {
	return builtin.ReadFile(element + "/examples/" + name + ".json")
}

// isExample reports whether a slash-separated path is an element's example instance body.
func isExample(p string) bool { return path.Base(path.Dir(p)) == "examples" }

// ReadDir reads the definition files of a definitions folder (element folders with their
// resources). Example instance bodies (ELEMENT/examples/*.json) are passed over; other JSON files
// are reported as problems.
func ReadDir(dir string) ([]File, []Problem) {
	files, probs := ReadPaths(dir)
	var defs []File
	for _, f := range files {
		if f.Kind == KindInstance && isExample(filepath.ToSlash(f.Name)) {
			continue
		}
		if f.Kind == KindInstance {
			probs = append(probs, Problem{File: f.Name, Message: "an instance body does not belong in a definitions folder"})
			continue
		}
		defs = append(defs, f)
	}
	return defs, probs
}

// classify tells a file's kind from its slash-separated path, then from its content.
func classify(p string, data []byte) (File, bool) {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if base == "element.json" && dir != "" {
		return File{Kind: KindElement, Element: path.Base(dir), Data: data}, true
	}
	if path.Base(dir) == "resources" && strings.HasSuffix(base, ".json") {
		elem := path.Base(path.Dir(dir))
		if elem != "." && elem != "/" && elem != "" {
			return File{Kind: KindResource, Element: elem, Resource: strings.TrimSuffix(base, ".json"), Data: data}, true
		}
	}
	if looksLikeInstance(data) {
		return File{Kind: KindInstance, Data: data}, true
	}
	return File{}, false
}

func looksLikeInstance(data []byte) bool {
	s := string(data)
	return strings.Contains(s, `"element"`) && strings.Contains(s, `"configuration"`)
}

// Problem is one thing wrong with one file.
type Problem struct {
	File    string `json:"file"`
	Pointer string `json:"pointer"` // JSON pointer in the file; "" for the whole file
	Message string `json:"message"`
}

func (p Problem) Error() string {
	ptr := p.Pointer
	if ptr == "" {
		ptr = "/"
	}
	return fmt.Sprintf("%s: %s: %s", p.File, ptr, p.Message)
}
