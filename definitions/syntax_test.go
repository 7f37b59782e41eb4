package definitions

import (
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/schemas"
)

// A document that is not JSON is reported once, with the line and column of the offending
// character and the pointer of the value being read there.
func TestSyntaxProblem(t *testing.T) {
	for _, c := range []struct {
		doc, pointer, where string
	}{
		{`{"a": 1,}`, "", "line 1, column 9: invalid character '}' looking for beginning of object key string"},
		{"{\n  \"a\": {\"b\": x}\n}", "/a/b", "line 2, column 14: invalid character 'x' looking for beginning of value"},
		{`{"a": [1, 2 3]}`, "/a/2", "line 1, column 13: invalid character '3' after array element"},
		{`{"a" 1}`, "/a", "line 1, column 6: invalid character '1' after object key"},
		{`{"a": 1 "b": 2}`, "", "line 1, column 9: invalid character '\"' after object key:value pair"},
		{`{"a": [{"b": 1}, {"c/d": tru}]}`, "/a/1/c~1d", "line 1, column 29: invalid character '}' in literal true (expecting 'e')"},
		{"{\"é\": \"ü\", \"x\": ]}", "/x", "line 1, column 17: invalid character ']' looking for beginning of value"},
		{"{\"a\": {\n", "/a", "line 2, column 1: unexpected end of JSON input"},
		{`{"a": 1`, "", "line 1, column 8: unexpected end of JSON input"},
		{``, "", "line 1, column 1: unexpected end of JSON input"},
		{"{}\n{}", "", "line 2, column 1: invalid character '{' after top-level value"},
	} {
		p, bad := SyntaxProblem("f.json", []byte(c.doc))
		if !bad {
			t.Errorf("%q: no problem", c.doc)
			continue
		}
		if want := "not valid JSON at " + c.where; p.Pointer != c.pointer || p.Message != want || p.File != "f.json" {
			t.Errorf("%q:\n got %s %q\nwant %s %q", c.doc, p.Pointer, p.Message, c.pointer, want)
		}
	}
	if p, bad := SyntaxProblem("f.json", []byte(` {"a": [1, {"b": null}]} `)); bad {
		t.Errorf("valid JSON: %v", p)
	}
}

// Unknown and missing keys are reported at their own pointers, each key once.
func TestSchemaProblemsPointAtKeys(t *testing.T) {
	doc := `{"vendorPth": "/x", "polling": {"url": "/hubs/helpdesk/x", "idFeild": "id", "a/b": 1}, "records": "@this"}`
	_, probs := LoadResource(nil, File{Name: "x.json", Resource: "x", Data: []byte(doc)})
	var got []string
	for _, p := range probs {
		got = append(got, p.Pointer+": "+p.Message)
	}
	want := []string{
		`/polling/a~1b: unknown key`,
		`/polling/idFeild: unknown key`,
		`/vendorPath: is required`,
		`/vendorPth: unknown key; did you mean "vendorPath"?`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A message of another shape passes through as it is.
	vs := []schemas.Violation{{Pointer: "/a", Message: "additionalProperties 'zz' not allowed"}, {Pointer: "/b", Message: "expected string"}}
	ps := schemaProblems(File{Name: "f", Data: []byte(`{"a": {}, "b": 1}`)}, vs)
	if len(ps) != 2 || ps[0].Pointer != "/a" || ps[0].Message != vs[0].Message || ps[1].Message != "expected string" {
		t.Errorf("pass-through: %+v", ps)
	}
}
