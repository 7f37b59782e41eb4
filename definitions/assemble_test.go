package definitions

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestServeAndValidateAgree: a resource whose element.json is missing and an undefined
// defaultResources entry are problems for validate and for the registry that serve reloads
// alike.
func TestServeAndValidateAgree(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inc, err := os.ReadFile("freshdeskv2/resources/incidents.json")
	if err != nil {
		t.Fatal(err)
	}
	el, _ := os.ReadFile("freshdeskv2/element.json")
	write("orphan/resources/incidents.json", string(inc))
	write("fd2/element.json", strings.Replace(strings.Replace(string(el), `"freshdeskv2"`, `"fd2"`, 1), `"id": 491`, `"id": 4910`, 1))
	_, vprobs := Validate(dir)
	g := NewRegistry(RegistryOptions{Dir: dir})
	g.Reload()
	var sprobs []Problem
	for _, st := range g.Status() {
		if st.Source == "directory" || st.Source == "" {
			sprobs = append(sprobs, st.Problems...)
		}
	}
	describe := func(ps []Problem) string {
		var lines []string
		for _, p := range ps {
			lines = append(lines, p.Error())
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	if len(vprobs) == 0 || describe(vprobs) != describe(sprobs) {
		t.Errorf("validate:\n%s\nserve:\n%s", describe(vprobs), describe(sprobs))
	}
}
