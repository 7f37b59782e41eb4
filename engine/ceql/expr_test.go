package ceql

import (
	"strconv"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
)

// recordField reads a field of env["record"]: record.a.b for plain paths,
// record["custom field"] otherwise.
func recordField(name string) string {
	if isExprPath(name) {
		return "record." + name
	}
	src := "record"
	for _, seg := range strings.Split(name, ".") {
		src += "[" + strconv.Quote(seg) + "]"
	}
	return src
}

// eval translates where with LiteralExpr, compiles it as a boolean expr
// program and runs it against record.
func eval(t *testing.T, where string, record map[string]any) bool {
	t.Helper()
	return evalWith(t, where, record, LiteralExpr)
}

func evalWith(t *testing.T, where string, record map[string]any, literal func(Value) string) bool {
	t.Helper()
	n, err := Parse(where)
	if err != nil {
		t.Fatalf("Parse(%q): %v", where, err)
	}
	src := ToExpr(n, recordField, literal)
	env := map[string]any{"record": record}
	prog, err := expr.Compile(src, expr.Env(env), expr.AsBool())
	if err != nil {
		t.Fatalf("compile %q (from %q): %v", src, where, err)
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		t.Fatalf("run %q (from %q): %v", src, where, err)
	}
	return out.(bool)
}

func TestToExprSource(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"a = 1 OR b = 2 AND c = 3", `((record.a == 1) || ((record.b == 2) && (record.c == 3)))`},
		{"NOT (a <> 'x' OR b < -1.5)", `!((record.a != "x") || (record.b < (-1.5)))`},
		{"NOT NOT a >= 1", `!(!(record.a >= 1))`},
		{"a IN (1, 'b', true, null)", `(record.a in [1, "b", true, nil])`},
		{"a NOT IN (1)", `!(record.a in [1])`},
		{"a LIKE 'a.b%'", `(record.a matches "(?s)^a\\.b.*$")`},
		{`a NOT LIKE '_\%'`, `!(record.a matches "(?s)^.%$")`},
		{"a IS NULL AND b IS NOT NULL", `((record.a == nil) && (record.b != nil))`},
		{"`custom field` = 'O''Brien'", `((record["custom field"]) == "O'Brien")`},
		{"x.y = '\x000\x00'", `(record.x.y == "\x000\x00")`},
		{"n = 99999999999999999999", `(record.n == 1e+20)`},
	}
	for _, tt := range tests {
		n, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := ToExpr(n, recordField, LiteralExpr); got != tt.want {
			t.Errorf("ToExpr(%q) =\n  %s\nwant\n  %s", tt.in, got, tt.want)
		}
	}
}

func TestToExprEval(t *testing.T) {
	ticket := map[string]any{
		"status":       2,
		"priority":     1.5,
		"name":         "O'Brien",
		"subject":      "Printer on fire\nurgent",
		"code":         "a.b-42",
		"path":         `C:\tmp (1)+[x]`,
		"assignee":     nil,
		"open":         true,
		"contact":      map[string]any{"city": "Paris", "vip": false},
		"custom field": "yes",
		"letter":       "ü",
	}
	other := map[string]any{
		"status":       5,
		"priority":     3,
		"name":         "OBrien",
		"subject":      "hello",
		"code":         "axb",
		"path":         "C:tmp",
		"assignee":     "ann",
		"open":         false,
		"contact":      map[string]any{"city": "Oslo", "vip": true},
		"custom field": "no",
		"letter":       "ab",
	}
	tests := []struct {
		where      string
		ticket     bool // result for ticket
		otherMatch bool // result for other
	}{
		{"status = 2", true, false},
		{"status = 2.0", true, false},
		{"status <> 2", false, true},
		{"status != 2", false, true},
		{"status < 3", true, false},
		{"status <= 2 AND priority > 1", true, false},
		{"priority >= 3", false, true},
		{"status < 99999999999999999999", true, true},
		{"status > -1e3", true, true},
		{"name = 'O''Brien'", true, false},
		{"open = true", true, false},
		{"contact.vip = false", true, false},
		{"contact.city = 'Paris'", true, false},
		{"`custom field` = 'yes'", true, false},
		{"status IN (1, 2, 3)", true, false},
		{"status NOT IN (1, 2, 3)", false, true},
		{"name IN ('x', 'OBrien')", false, true},
		{"assignee IS NULL", true, false},
		{"assignee IS NOT NULL", false, true},
		{"missing IS NULL", true, true},
		{"assignee = null", true, false},
		{"status = 2 OR status = 5 AND open = true", true, false},
		{"(status = 2 OR status = 5) AND open = false", false, true},
		{"NOT status = 2", false, true},
		{"NOT (status = 2 OR status = 5)", false, false},
		{"NOT NOT status = 5", false, true},
		{"code LIKE 'a.b%'", true, false},
		{"code LIKE 'a_b%'", true, true},
		{"code LIKE 'a.b'", false, false},
		{"code LIKE 'a%'", true, true},
		{"code LIKE '%42'", true, false},
		{"code LIKE '%'", true, true},
		{"code LIKE 'A%'", false, false},
		{"code NOT LIKE 'a.b%'", false, true},
		{"subject LIKE '%urgent'", true, false},
		{"subject LIKE 'Printer_on%'", true, false},
		{"subject LIKE '%on fire_urgent'", true, false},
		{`path LIKE 'C:\\tmp (1)+[x]'`, true, false},
		{`path LIKE 'C:\tmp%'`, false, true},
		{"path LIKE '%(_)+[x]'", true, false},
		{"letter LIKE '_'", true, false},
		{`name LIKE 'O''B\rien'`, true, false},
		{`code LIKE 'a.b-4\%'`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			if got := eval(t, tt.where, ticket); got != tt.ticket {
				t.Errorf("ticket: %q = %v, want %v", tt.where, got, tt.ticket)
			}
			if got := eval(t, tt.where, other); got != tt.otherMatch {
				t.Errorf("other: %q = %v, want %v", tt.where, got, tt.otherMatch)
			}
		})
	}
}

func TestToExprMacroLiteral(t *testing.T) {
	// A caller replaces "\x00N\x00" placeholders with arbitrary expr
	// source; ToExpr must keep it one operand.
	macro := func(v Value) string {
		if v.Kind == String && v.Str == "\x000\x00" {
			return "true ? 3 : 4"
		}
		return LiteralExpr(v)
	}
	tests := []struct {
		where string
		n     int
		want  bool
	}{
		{"n = '\x000\x00'", 3, true},
		{"n = '\x000\x00'", 4, false},
		{"n IN ('\x000\x00', 7)", 7, true},
		{"n < '\x000\x00' OR n = 9", 2, true},
	}
	for _, tt := range tests {
		if got := evalWith(t, tt.where, map[string]any{"n": tt.n}, macro); got != tt.want {
			t.Errorf("%q with n=%d = %v, want %v", tt.where, tt.n, got, tt.want)
		}
	}
}

func TestLikeRegexp(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"", `(?s)^$`},
		{"a.b%", `(?s)^a\.b.*$`},
		{"_x_", `(?s)^.x.$`},
		{`100\%`, `(?s)^100%$`},
		{`a\_b`, `(?s)^a_b$`},
		{`a\\b`, `(?s)^a\\b$`},
		{`a\`, `(?s)^a\\$`},
		{`\ü`, `(?s)^ü$`},
		{"(x)+[y]*?^$|{}", `(?s)^\(x\)\+\[y\]\*\?\^\$\|\{\}$`},
	}
	for _, tt := range tests {
		if got := LikeRegexp(tt.pattern); got != tt.want {
			t.Errorf("LikeRegexp(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestLiteralExpr(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Value{Kind: String, Str: `a"b\` + "\x00"}, `"a\"b\\\x00"`},
		{Value{Kind: Number, Raw: "-1.50", Num: -1.5}, "-1.50"},
		{Value{Kind: Number, Raw: "9223372036854775807", Num: 9223372036854775807}, "9223372036854775807"},
		{Value{Kind: Number, Raw: "-9223372036854775809", Num: -9223372036854775809}, "-9.223372036854776e+18"},
		{Value{Kind: Number, Num: 0.25}, "0.25"},
		{Value{Kind: Bool, Bool: true}, "true"},
		{Value{Kind: Bool}, "false"},
		{Value{Kind: Null}, "nil"},
	}
	for _, tt := range tests {
		if got := LiteralExpr(tt.v); got != tt.want {
			t.Errorf("LiteralExpr(%+v) = %s, want %s", tt.v, got, tt.want)
		}
	}
}
