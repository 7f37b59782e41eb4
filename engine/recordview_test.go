package engine

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// The record view must read exactly what gjson reads: it is a faster path to the same values.
func checkViewAgainstGJSON(t *testing.T, arr string, paths []string) {
	t.Helper()
	var want []string
	gjson.Parse(arr).ForEach(func(_, rec gjson.Result) bool {
		want = append(want, rec.Raw)
		return true
	})
	var v recordView
	i := 0
	isArray, _ := v.forEachRecord(arr, func(raw string) error {
		if i < len(want) && strings.TrimSpace(raw) != strings.TrimSpace(want[i]) {
			t.Errorf("record %d: view %q, gjson %q", i, raw, want[i])
		}
		for _, p := range paths {
			got, exp := v.get(compileRecordPath(p)), gjson.Get(raw, p)
			if got.Raw != exp.Raw || got.Type != exp.Type {
				t.Errorf("record %q path %q: view %q (%v), gjson %q (%v)", raw, p, got.Raw, got.Type, exp.Raw, exp.Type)
			}
		}
		i++
		return nil
	})
	if isArray && gjson.Valid(arr) && i != len(want) {
		t.Errorf("view read %d records, gjson %d in %q", i, len(want), arr)
	}
}

func TestRecordViewMatchesGJSON(t *testing.T) {
	paths := []string{"id", "a", "a.b", "tags.0", `we\.ird`, "missing", "s", "n"}
	for _, arr := range []string{
		`[]`, `[ ]`, `[{}]`,
		`[{"id":1,"a":{"b":"x"},"tags":["t1","t2"]},{"id":"2","a":null}]`,
		` [ { "id" : 67042965499 , "s" : "quote \" and \\\\ backslash" , "n":-1.5e3 } ] `,
		`[{"we.ird":true,"s":"\\"}, {"s":"}]{["}, {"id":[1,{"x":"]"}],"a":{"b":{"c":1}}}]`,
		`[{"esc\u0061ped":1,"id":2}]`,
		`[1, "two", null, {"id":3}]`,
	} {
		checkViewAgainstGJSON(t, arr, paths)
	}
}

func FuzzRecordView(f *testing.F) {
	f.Add(`[{"id":1,"a":{"b":"x"},"tags":["t1"]}]`, "a.b")
	f.Add(`[{"s":"a\"b\\","id":"x"},{"id":2}]`, "id")
	f.Add(`[{"we.ird":1}]`, `we\.ird`)
	f.Fuzz(func(t *testing.T, arr, path string) {
		if !gjson.Valid(arr) {
			return // pages that are not JSON fail the poll before any record is read
		}
		checkViewAgainstGJSON(t, arr, []string{path, "id"})
	})
}
