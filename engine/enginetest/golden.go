package enginetest

import (
	"os"
	"testing"
)

// Golden compares got with the golden file at path; with update set it rewrites the file
// instead. Review a rewritten file's diff before committing it.
func Golden(t testing.TB, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to rewrite it, then review the diff)\n--- got\n%s--- want\n%s", path, got, want)
	}
}
