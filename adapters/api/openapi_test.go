package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/schemas"
)

// How the document is kept equal to the routes the server serves (TestOpenAPIRoutes):
//
//   - Registered routes are read from the package's source (sourceRoutes): every string literal
//     that is a whole "METHOD /path" ServeMux pattern, passed to a call (m.Handle, m.HandleFunc,
//     s.handle, any helper) or written in a route table (lifecycleRoutes, eventRoutes). Calls that
//     register a 405 catcher (their handler names methodNotAllowed) are not operations.
//   - A Handle, HandleFunc or handle call whose pattern is not a literal must be a table's
//     (op.pattern), a 405 catcher, or one literal path registered method by method
//     (method + " /path", a dispatcher whose operations are in a table); anything else fails the
//     test, so that no route can be registered where the scan cannot see it.
//   - Each registered route must be served: the ServeMux (mux.Handler) routes a request built from
//     it ({param} replaced by 1) to that very pattern, or, for the routes a dispatcher serves, a
//     real request with good credentials is answered neither 405 nor 404 "No such resource".
//   - Each documented operation is checked the same way, so one documented without a route fails.
//   - Finally the two sets must be equal (wildcard names aside): a route added without documenting
//     it fails, and so does an operation documented without a route. A registered pattern that is
//     not documented passes only as a dispatcher: some documented operation is served through it
//     (GET /instances/{id}/{sub} serves GET /instances/events/{eventId}, which the ServeMux cannot
//     register beside GET /instances/{id}/events).
//
// What the scan cannot see is a new case inside a dispatcher's switch (eventsByPath): those
// routes belong in their table, which is what documents them to this test.

var openAPIBase = "https://pollen.invalid/openapi.json"

// openAPI decodes the embedded document.
func openAPI(t *testing.T) map[string]any {
	t.Helper()
	v, err := schemas.Decode(openAPIDocument)
	if err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatal("openapi.json is not an object")
	}
	return doc
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedOperations returns "METHOD /path" of every operation of the document.
func documentedOperations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	paths, _ := doc["paths"].(map[string]any)
	for p, item := range paths {
		for k, o := range item.(map[string]any) {
			if slices.Contains(httpMethods, k) {
				out[strings.ToUpper(k)+" "+p] = o.(map[string]any)
			}
		}
	}
	return out
}

// resolve follows a local $ref.
func resolve(doc map[string]any, ref string) (any, bool) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestOpenAPIDocument(t *testing.T) {
	doc := openAPI(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Error("info lacks title or version")
	}
	// Every $ref resolves.
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, ok := resolve(doc, ref); !ok {
					t.Errorf("%s: $ref %q does not resolve", at, ref)
				}
			}
			for k, c := range x {
				walk(at+"/"+k, c)
			}
		case []any:
			for i, c := range x {
				walk(at+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("", doc)

	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	for _, name := range []string{"platform", "instanceToken"} {
		s, _ := schemes[name].(map[string]any)
		if s["type"] != "apiKey" || s["in"] != "header" || s["name"] != "Authorization" {
			t.Errorf("security scheme %s: %v", name, s)
		}
	}

	ids := map[string]string{}
	wildcard := regexp.MustCompile(`\{([^}]+)\}`)
	for op, o := range documentedOperations(t, doc) {
		id, _ := o["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", op)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: operationId %s also used by %s", op, id, other)
		}
		ids[id] = op
		resp, _ := o["responses"].(map[string]any)
		if len(resp) == 0 {
			t.Errorf("%s: no responses", op)
		}
		if _, ok := resp["200"]; !ok {
			t.Errorf("%s: no 200 response", op)
		}
		// Every route behind authentication documents 401; the public ones say they are public.
		sec, explicit := o["security"].([]any)
		if public := explicit && len(sec) == 0; public != (op == "GET /healthz" || op == "GET /readyz" || op == "GET /openapi.json" || op == "GET /metrics") {
			t.Errorf("%s: security %v", op, o["security"])
		} else if !public && resp["401"] == nil {
			t.Errorf("%s: no 401 response", op)
		}
		// Path parameters: declared exactly for the template's wildcards.
		_, path, _ := strings.Cut(op, " ")
		var want, got []string
		for _, m := range wildcard.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		params, _ := o["parameters"].([]any)
		for _, p := range params {
			pm := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				r, _ := resolve(doc, ref)
				pm, _ = r.(map[string]any)
			}
			if pm["in"] == "path" {
				got = append(got, pm["name"].(string))
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v not required", op, pm["name"])
				}
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s: path parameters %v, want %v", op, got, want)
		}
	}
	// Every schema compiles (OpenAPI 3.1 schemas are JSON Schema 2020-12).
	compiler := openAPICompiler(t)
	for name := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if _, err := compiler.Compile(openAPIBase + "#/components/schemas/" + name); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
}

func openAPICompiler(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(openAPIBase, bytes.NewReader(openAPIDocument)); err != nil {
		t.Fatal(err)
	}
	return c
}

// conformsTo checks a JSON answer against a schema of the document.
func conformsTo(t *testing.T, c *jsonschema.Compiler, schema string, r response) {
	t.Helper()
	s, err := c.Compile(openAPIBase + "#/components/schemas/" + schema)
	if err != nil {
		t.Fatal(err)
	}
	v, err := schemas.Decode(r.body)
	if err != nil {
		t.Fatalf("%s: answer is not JSON: %v", schema, err)
	}
	if probs := schemas.ValidateValue(s, v); len(probs) > 0 {
		t.Errorf("answer does not conform to %s: %s\n%s", schema, schemas.Describe(probs), r.body)
	}
}

var patternRE = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|TRACE|CONNECT) (/[A-Za-z0-9_.~{}/-]*)$`)

// sourceRoutes returns the "METHOD /path" patterns the package's source registers (see the top
// of this file), each with where it is written.
func sourceRoutes(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		notAllowed := map[*ast.BasicLit]bool{}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				catcher := callsMethodNotAllowed(call)
				if catcher {
					for _, a := range call.Args {
						if lit, ok := a.(*ast.BasicLit); ok {
							notAllowed[lit] = true
						}
					}
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				var pat ast.Expr
				switch {
				case (sel.Sel.Name == "Handle" || sel.Sel.Name == "HandleFunc") && len(call.Args) == 2:
					pat = call.Args[0]
				case sel.Sel.Name == "handle" && len(call.Args) >= 3:
					pat = call.Args[1]
				default:
					return true
				}
				// s.handle's own m.Handle(pattern, ...): its callers are scanned.
				helper := fn.Name.Name == "handle" && isIdent(pat, "pattern")
				if !catcher && !helper && !visiblePattern(pat) {
					t.Errorf("%s: route pattern the scan cannot read: use a literal, a route table, or method + \" /path\"", fset.Position(pat.Pos()))
				}
				return true
			})
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || notAllowed[lit] {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && patternRE.MatchString(s) {
				out[s] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	return out
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// visiblePattern reports whether a pattern expression is one the scan accounts for: a literal, a
// table's field (op.pattern), or method + " /literal/path".
func visiblePattern(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return x.Kind == token.STRING
	case *ast.SelectorExpr:
		return x.Sel.Name == "pattern"
	case *ast.BinaryExpr:
		lit, ok := x.Y.(*ast.BasicLit)
		if !ok || x.Op != token.ADD {
			return false
		}
		s, err := strconv.Unquote(lit.Value)
		return err == nil && strings.HasPrefix(s, " /")
	}
	return false
}

// callsMethodNotAllowed reports whether a call hands a 405 catcher (methodNotAllowed, or any
// function named like it) a request: such a registration is not an operation.
func callsMethodNotAllowed(call *ast.CallExpr) bool {
	found := false
	for _, a := range call.Args {
		ast.Inspect(a, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && strings.Contains(strings.ToLower(id.Name), "methodnotallowed") {
				found = true
			}
			return !found
		})
	}
	return found
}

var wildcardRE = regexp.MustCompile(`\{[^}]*\}`)

// normalize drops wildcard names: "GET /a/{id}" and "GET /a/{x}" are one route.
func normalize(pattern string) string { return wildcardRE.ReplaceAllString(pattern, "{}") }

// served reports whether the server serves a "METHOD /path": the ServeMux routes a request built
// from it (each wildcard replaced by 1) to the same pattern, or, when a dispatcher serves it, a
// real request is answered neither 405 nor 404 "No such resource". It returns the pattern reached.
func served(s *Server, op string) (bool, string) {
	method, path, _ := strings.Cut(op, " ")
	path = wildcardRE.ReplaceAllString(path, "1")
	_, p := s.mux.Handler(httptest.NewRequest(method, path, nil))
	if normalize(p) == normalize(op) {
		return true, p
	}
	if !strings.Contains(p, " ") { // method-less: the 404 catch-all or a 405 catcher
		return false, p
	}
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "User u, Organization o")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var e apiError
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code == 405 || (rec.Code == 404 && strings.HasPrefix(e.Message, "No such resource")) {
		return false, fmt.Sprintf("%s, answered %d %s", p, rec.Code, e.Message)
	}
	return true, p
}

func TestOpenAPIRoutes(t *testing.T) {
	// Every optional route configured, so that the document's routes are all served.
	h := newHarness(t, 0)
	s := h.build(0, func(c *harnessConfig) { c.api.Metrics = http.NotFoundHandler() })
	registered := map[string]string{}
	for op, at := range sourceRoutes(t) {
		if ok, got := served(s, op); !ok {
			t.Errorf("%s (%s) is not served: a request for it reaches %q", op, at, got)
		}
		registered[normalize(op)] = op
	}
	documented := map[string]string{}
	reachedBy := map[string][]string{} // pattern: the documented operations a request for which it serves
	for op := range documentedOperations(t, openAPI(t)) {
		ok, got := served(s, op)
		if !ok {
			t.Errorf("%s is documented but not served: a request for it reaches %q", op, got)
		}
		documented[normalize(op)] = op
		reachedBy[normalize(got)] = append(reachedBy[normalize(got)], op)
	}
	for _, k := range slices.Sorted(maps.Keys(registered)) {
		if _, ok := documented[k]; ok {
			continue
		}
		// A dispatcher: a pattern that serves documented routes the ServeMux cannot register as
		// they are (GET /instances/{id}/{sub} serves GET /instances/events/{eventId}).
		if ops := reachedBy[k]; len(ops) > 0 {
			t.Logf("%s dispatches %v", registered[k], ops)
			continue
		}
		t.Errorf("route %s is not in openapi.json", registered[k])
	}
	for _, k := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := registered[k]; !ok {
			t.Errorf("openapi.json documents %s, which no route registers", documented[k])
		}
	}
	if len(registered) < 10 {
		t.Errorf("only %d routes found in the source: %v", len(registered), slices.Sorted(maps.Keys(registered)))
	}
	t.Logf("%d routes registered, %d documented", len(registered), len(documented))
}

// Without the scan's safety net this test could pass on an empty set: check it sees a route it
// must see, and that the 405 catchers are left out.
func TestSourceRoutesScan(t *testing.T) {
	got := sourceRoutes(t)
	for _, want := range []string{"GET /healthz", "POST /instances", "PATCH /instances/{id}", "DELETE /instances/{id}", "GET /openapi.json", "GET /metrics"} {
		if _, ok := got[want]; !ok {
			t.Errorf("scan misses %s", want)
		}
	}
	for op := range got {
		if !strings.Contains(op, " ") {
			t.Errorf("method-less pattern %q taken for a route", op)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	h := newHarness(t, 0)
	r := h.do("GET", "/openapi.json", nil, map[string]string{})
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || !bytes.Equal(r.body, openAPIDocument) {
		t.Fatalf("GET /openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if r := h.do("HEAD", "/openapi.json", nil, map[string]string{}); r.status != 200 {
		t.Errorf("HEAD: %d", r.status)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		r := h.do(m, "/openapi.json", nil, map[string]string{})
		assertError(t, r, 405)
		if r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", m, r.header.Get("Allow"))
		}
	}
}

// The answers of the server conform to the document's schemas.
func TestOpenAPISchemasMatchAnswers(t *testing.T) {
	c := openAPICompiler(t)
	h := newHarness(t, 0)
	s, err := c.Compile(openAPIBase + "#/components/schemas/InstanceBody")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{"secretBody": secretBody, "seed000": seed000Construct, "seed003": seed003Body, "curl": seed003Curl} {
		body, err := schemas.Decode([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		if probs := schemas.ValidateValue(s, body); len(probs) > 0 {
			t.Errorf("%s does not conform to InstanceBody: %s", name, schemas.Describe(probs))
		}
	}
	conformsTo(t, c, "Instance", h.post(secretBody))
	h.rt.setStatus(1, []engine.JobStatus{
		{ObjectType: "contacts", State: "polling", LastPoll: testNow, LastEvents: 3, LastError: "x"},
		{ObjectType: "incidents", State: "paused", Reason: "y"},
	})
	for _, tc := range []struct {
		method, path, body, schema string
		array                      bool
	}{
		{"GET", "/instances/1", "", "Instance", false},
		{"PATCH", "/instances/1", `{"name": "n"}`, "Instance", false},
		{"GET", "/instances/1/configuration/" + strconv.FormatInt(configID("subdomain"), 10), "", "ConfigurationEntry", false},
		{"PATCH", "/instances/1/configuration/" + strconv.FormatInt(configID("subdomain"), 10), `{"propertyValue": "acme2"}`, "ConfigurationEntry", false},
		{"GET", "/elements/freshdeskv2", "", "Element", false},
		{"GET", "/healthz", "", "Health", false},
		{"GET", "/definitions", "", "DefinitionFiles", false},
		{"GET", "/instances/99", "", "Error", false},
		{"PATCH", "/instances/1", `{"nope": 1}`, "Error", false},
		{"DELETE", "/instances/1", "", "Deleted", false},
	} {
		r := h.send(tc.method, tc.path, tc.body)
		conformsTo(t, c, tc.schema, r)
	}
	// Arrays, item by item.
	h.post(secretBody)
	for path, schema := range map[string]string{"/instances": "Instance", "/instances/2/configuration": "ConfigurationEntry", "/elements": "Element"} {
		r := h.do("GET", path, nil, nil)
		var items []json.RawMessage
		r.json(t, &items)
		if len(items) == 0 {
			t.Errorf("%s: empty", path)
		}
		for _, it := range items {
			conformsTo(t, c, schema, response{body: it})
		}
	}
	h.assertNoSecrets(apiKey, sigKey)
}
