package ceql

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // String() of the parsed tree
	}{
		{"simple", "status = 2", "status = 2"},
		{"hub example", "updated_since='2018-01-01T00:00:00Z' AND status = 2", "updated_since = '2018-01-01T00:00:00Z' AND status = 2"},
		{"AND binds tighter than OR", "a = 1 OR b = 2 AND c = 3", "a = 1 OR (b = 2 AND c = 3)"},
		{"AND binds tighter than OR, left", "a = 1 AND b = 2 OR c = 3", "(a = 1 AND b = 2) OR c = 3"},
		{"parens override precedence", "(a = 1 OR b = 2) AND c = 3", "(a = 1 OR b = 2) AND c = 3"},
		{"redundant parens vanish", "((a = 1))", "a = 1"},
		{"nested parens", "(a = 1 AND (b = 2 OR (c = 3 AND d = 4)))", "a = 1 AND (b = 2 OR (c = 3 AND d = 4))"},
		{"flat chain", "a = 1 AND b = 2 AND c = 3", "a = 1 AND b = 2 AND c = 3"},
		{"grouped chain kept", "(a = 1 AND b = 2) AND c = 3", "(a = 1 AND b = 2) AND c = 3"},
		{"NOT binds tighter than AND", "NOT a = 1 AND b = 2", "NOT a = 1 AND b = 2"},
		{"NOT of group", "NOT (a = 1 OR b = 2)", "NOT (a = 1 OR b = 2)"},
		{"double NOT", "not not a = 1", "NOT NOT a = 1"},
		{"NOT( without space", "NOT(a=1)", "NOT a = 1"},
		{"keywords any case", "a = 1 and b = 2 Or c iS nOt NuLl", "(a = 1 AND b = 2) OR c IS NOT NULL"},
		{"doubled quote", "name = 'O''Brien'", "name = 'O''Brien'"},
		{"empty string", "name = ''", "name = ''"},
		{"only a quote", "name = ''''", "name = ''''"},
		{"string with newline and tab", "name = 'a\n\tb'", "name = 'a\n\tb'"},
		{"macro placeholder", "updated > '\x000\x00'", "updated > '\x000\x00'"},
		{"placeholder inside text", "updated > 'since \x001\x00 ago'", "updated > 'since \x001\x00 ago'"},
		{"negative float", "n = -1.50", "n = -1.50"},
		{"exponent", "n >= 2e10", "n >= 2e10"},
		{"negative exponent", "n<-0.5E-3", "n < -0.5E-3"},
		{"leading zeros kept", "n = 007", "n = 007"},
		{"operators", "a<1 AND b>1 AND c<=1 AND d>=1 AND e!=1", "a < 1 AND b > 1 AND c <= 1 AND d >= 1 AND e != 1"},
		{"<> normalised", "a <> 1", "a != 1"},
		{"booleans and null", "a = TRUE OR b = false OR c = Null", "a = true OR b = false OR c = null"},
		{"IN", "status IN (1, 2,3)", "status IN (1, 2, 3)"},
		{"IN mixed", "status in('a', -1, true, null)", "status IN ('a', -1, true, null)"},
		{"NOT IN", "status not in ('closed')", "status NOT IN ('closed')"},
		{"LIKE", "subject LIKE '%urgent%'", "subject LIKE '%urgent%'"},
		{"NOT LIKE with escape", `subject NOT LIKE 'a\_b'`, `subject NOT LIKE 'a\_b'`},
		{"IS NULL", "assignee IS NULL", "assignee IS NULL"},
		{"IS NOT NULL", "assignee is not null", "assignee IS NOT NULL"},
		{"dotted field", "contact.address.city = 'Paris'", "contact.address.city = 'Paris'"},
		{"dollar and dash", "$meta.x-y = true", "$meta.x-y = true"},
		{"keyword as path segment", "a.and = 1", "a.and = 1"},
		{"backtick field", "`custom field` = 1", "`custom field` = 1"},
		{"double-quoted field", `"custom field" = 1`, "`custom field` = 1"},
		{"doubled backtick", "`a``b` = 1", "`a``b` = 1"},
		{"doubled double quote", `"a""b" = 1`, "`a\"b` = 1"},
		{"needless quotes dropped", "`status` = 1", "status = 1"},
		{"quoted dotted field", "`a.b` = 1", "a.b = 1"},
		{"quoted keyword field", "`and` = 1 AND \"NULL\" IS NULL", "`and` = 1 AND `NULL` IS NULL"},
		{"quoted field with dash first", "`-x` = 1", "`-x` = 1"},
		{"whitespace", " \t a = 1\n\tAND\r\n b = 2 \n", "a = 1 AND b = 2"},
		{"no spaces", "a=1 AND b='x'AND c IN(1)", "a = 1 AND b = 'x' AND c IN (1)"},
		{"non-ASCII string", "name = 'Zoë ✓'", "name = 'Zoë ✓'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("Parse(%q).String() =\n  %s\nwant\n  %s", tt.in, got, tt.want)
			}
			n2, err := Parse(n.String())
			if err != nil {
				t.Fatalf("re-parse %q: %v", n.String(), err)
			}
			if !reflect.DeepEqual(stripPos(n), stripPos(n2)) {
				t.Errorf("re-parse of %q gives a different tree", n.String())
			}
		})
	}
}

func TestParseTree(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Node // positions ignored
	}{
		{
			name: "precedence",
			in:   "a = 1 OR b = 2 AND c = 3",
			want: &Or{Operands: []Node{
				&Compare{Field: "a", Op: "=", Value: num("1", 1)},
				&And{Operands: []Node{
					&Compare{Field: "b", Op: "=", Value: num("2", 2)},
					&Compare{Field: "c", Op: "=", Value: num("3", 3)},
				}},
			}},
		},
		{
			name: "predicates",
			in:   `NOT x.y <> 'O''Brien' AND s NOT IN (-1.5e2, true, null) AND p NOT LIKE '%' AND q IS NOT NULL`,
			want: &And{Operands: []Node{
				&Not{X: &Compare{Field: "x.y", Op: "!=", Value: Value{Kind: String, Str: "O'Brien"}}},
				&In{Field: "s", Not: true, Values: []Value{num("-1.5e2", -150), {Kind: Bool, Bool: true}, {Kind: Null}}},
				&Like{Field: "p", Not: true, Pattern: "%"},
				&IsNull{Field: "q", Not: true},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := stripPos(n); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	const anyOp = `comparison operator (=, !=, <>, <, >, <=, >=), IN, NOT IN, LIKE, NOT LIKE or IS`
	tests := []struct {
		name string
		in   string
		pos  string
		msg  string
	}{
		{"empty input", "", "1:1", `expected field, NOT or "(", found end of input`},
		{"blank input", "  \n\t", "2:2", `expected field, NOT or "(", found end of input`},
		{"unterminated string", "status = 'open", "1:10", `unterminated string literal: expected closing ' before end of input`},
		{"unterminated after doubled quote", "a = 'it''s", "1:5", `unterminated string literal: expected closing ' before end of input`},
		{"missing value at end", "status =", "1:9", `expected value after =, found end of input`},
		{"missing value before AND", "status = AND x = 1", "1:10", `expected value after =, found keyword AND`},
		{"identifier as value", "status = open", "1:10", `expected value after =, found identifier "open"`},
		{"unknown operator", "status ~ 1", "1:8", `expected ` + anyOp + `, found unexpected character "~"`},
		{"double equals", "status == 1", "1:8", `expected ` + anyOp + `, found unknown operator "=="`},
		{"missing operator", "status 1", "1:8", `expected ` + anyOp + `, found number 1`},
		{"trailing tokens", "a = 1 b = 2", "1:7", `expected AND, OR or end of input, found identifier "b"`},
		{"trailing string", "a = 1 'x'", "1:7", `expected AND, OR or end of input, found string "x"`},
		{"empty IN list", "a IN ()", "1:7", `expected value in IN list, found ")"`},
		{"trailing comma in IN", "a IN (1,)", "1:9", `expected value in IN list, found ")"`},
		{"missing comma in IN", "a IN (1 2)", "1:9", `expected "," or ")" in IN list, found number 2`},
		{"unclosed IN", "a IN (1", "1:8", `expected "," or ")" in IN list, found end of input`},
		{"IN without parens", "a IN 1", "1:6", `expected "(" after IN, found number 1`},
		{"AND at end", "a = 1 AND", "1:10", `expected field, NOT or "(", found end of input`},
		{"OR at start", "OR a = 1", "1:1", `expected field, NOT or "(", found keyword OR`},
		{"AND AND", "a = 1 AND AND b = 2", "1:11", `expected field, NOT or "(", found keyword AND`},
		{"NOT at end", "NOT", "1:4", `expected field, NOT or "(", found end of input`},
		{"unclosed paren", "(a = 1", "1:7", `expected AND, OR or ")" to close "(" at 1:1, found end of input`},
		{"unclosed inner paren", "(a = 1 AND (b = 2)", "1:19", `expected AND, OR or ")" to close "(" at 1:1, found end of input`},
		{"extra closing paren", "a = 1)", "1:6", `expected AND, OR or end of input, found ")"`},
		{"empty parens", "()", "1:2", `expected field, NOT or "(", found ")"`},
		{"LIKE number", "a LIKE 5", "1:8", `expected string pattern after LIKE, found number 5`},
		{"NOT then operator", "a NOT = 1", "1:7", `expected IN or LIKE after NOT, found "="`},
		{"IS value", "a IS 1", "1:6", `expected NULL or NOT NULL after IS, found number 1`},
		{"IS NOT value", "a IS NOT TRUE", "1:10", `expected NULL after IS NOT, found keyword TRUE`},
		{"keyword as field", "null = 1", "1:1", `expected field, NOT or "(", found keyword NULL`},
		{"number as field", "1 = a", "1:1", `expected field, NOT or "(", found number 1`},
		{"dot without digits", "a = 1.", "1:5", `malformed number "1.": expected digit after "."`},
		{"exponent without digits", "a = 1e+", "1:5", `malformed number "1e+": expected digit after "+"`},
		{"letters after number", "a = 1abc", "1:5", `malformed number "1abc": expected a number followed by space, operator or end of input`},
		{"number out of range", "a = 1e999", "1:5", `number 1e999 is out of range`},
		{"empty path segment", "a. = 1", "1:3", `expected identifier after "." in field name "a.", found ' '`},
		{"trailing dot", "a.", "1:3", `expected identifier after "." in field name "a.", found end of input`},
		{"empty quoted field", "`` = 1", "1:1", "expected field name between ``, found empty name"},
		{"unterminated quoted field", "`abc = 1", "1:1", "unterminated quoted field name: expected closing ` before end of input"},
		{"unterminated double-quoted field", `"abc = 1`, "1:1", `unterminated quoted field name: expected closing " before end of input`},
		{"non-ASCII field", "ü = 1", "1:1", `expected field, NOT or "(", found unexpected character "ü"`},
		{"column counts characters", "x = 'ü' y", "1:9", `expected AND, OR or end of input, found identifier "y"`},
		{"line and column", "a = 1 AND\n  b = ", "2:7", `expected value after =, found end of input`},
		{"string spanning lines", "a = 'x\ny' AND\nb", "3:2", `expected ` + anyOp + `, found end of input`},
		{"NUL in string", "x = '\x00N\x00' y", "1:11", `expected AND, OR or end of input, found identifier "y"`},
		{"first error wins", "a = = 'unterminated", "1:5", `expected value after =, found "="`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tt.in, n)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T, want *Error", tt.in, err)
			}
			if e.Pos.String() != tt.pos || e.Msg != tt.msg {
				t.Errorf("Parse(%q) error\n  %v\nwant\n  %s: %s", tt.in, err, tt.pos, tt.msg)
			}
		})
	}
}

func TestPositions(t *testing.T) {
	n, err := Parse("a = 1 AND\n  NOT `b c` IN (1, 'x')\n\tOR d IS NULL")
	if err != nil {
		t.Fatal(err)
	}
	or := n.(*Or)
	and := or.Operands[0].(*And)
	not := and.Operands[1].(*Not)
	in := not.X.(*In)
	tests := []struct {
		name string
		got  Pos
		want Pos
	}{
		{"or", or.Pos(), Pos{1, 1}},
		{"and", and.Pos(), Pos{1, 1}},
		{"compare value", and.Operands[0].(*Compare).Value.P, Pos{1, 5}},
		{"not", not.Pos(), Pos{2, 3}},
		{"in", in.Pos(), Pos{2, 7}},
		{"in value 1", in.Values[0].P, Pos{2, 17}},
		{"in value 2", in.Values[1].P, Pos{2, 20}},
		{"is null", or.Operands[1].Pos(), Pos{3, 5}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: position %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		in   string
		want []FieldRef
	}{
		{"a = 1", []FieldRef{{"a", Pos{1, 1}}}},
		{
			"a = 1 AND (NOT b.c IN (1) OR `d e` LIKE 'x')\n AND a IS NULL",
			[]FieldRef{{"a", Pos{1, 1}}, {"b.c", Pos{1, 16}}, {"d e", Pos{1, 30}}, {"a", Pos{2, 6}}},
		},
	}
	for _, tt := range tests {
		n, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Fields(n); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Fields(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestConjuncts(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a = 1", []string{"a = 1"}},
		{"a = 1 OR b = 2", []string{"a = 1 OR b = 2"}},
		{"a = 1 AND (b = 2 OR c = 3) AND NOT d = 4", []string{"a = 1", "b = 2 OR c = 3", "NOT d = 4"}},
		{"(a = 1 AND b = 2) AND (c = 3 AND (d = 4))", []string{"a = 1", "b = 2", "c = 3", "d = 4"}},
		{"NOT (a = 1 AND b = 2)", []string{"NOT (a = 1 AND b = 2)"}},
	}
	for _, tt := range tests {
		n, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range Conjuncts(n) {
			got = append(got, c.String())
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Conjuncts(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Conjuncts(nil); got != nil {
		t.Errorf("Conjuncts(nil) = %v, want nil", got)
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"pos", Pos{3, 14}.String(), "3:14"},
		{"error", (&Error{Pos{1, 2}, "boom"}).Error(), "1:2: boom"},
		{"kind", Number.String(), "Number"},
		{"bad kind", ValueKind(9).String(), "ValueKind(9)"},
		{"number without raw", (&Compare{Field: "n", Op: ">", Value: Value{Kind: Number, Num: 1e21}}).String(), "n > 1e+21"},
		{"field needing quotes", (&IsNull{Field: "a b`c"}).String(), "`a b``c` IS NULL"},
		{"empty field", (&IsNull{Field: ""}).String(), "`` IS NULL"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func num(raw string, f float64) Value { return Value{Kind: Number, Raw: raw, Num: f} }

// stripPos returns a deep copy of n with every position zeroed, so trees
// can be compared by shape.
func stripPos(n Node) Node {
	values := func(vs []Value) []Value {
		out := make([]Value, len(vs))
		for i, v := range vs {
			v.P = Pos{}
			out[i] = v
		}
		return out
	}
	nodes := func(ns []Node) []Node {
		out := make([]Node, len(ns))
		for i, n := range ns {
			out[i] = stripPos(n)
		}
		return out
	}
	switch n := n.(type) {
	case *And:
		return &And{Operands: nodes(n.Operands)}
	case *Or:
		return &Or{Operands: nodes(n.Operands)}
	case *Not:
		return &Not{X: stripPos(n.X)}
	case *Compare:
		c := *n
		c.P, c.Value.P = Pos{}, Pos{}
		return &c
	case *In:
		c := *n
		c.P, c.Values = Pos{}, values(n.Values)
		return &c
	case *Like:
		c := *n
		c.P = Pos{}
		return &c
	case *IsNull:
		c := *n
		c.P = Pos{}
		return &c
	}
	panic("unknown node")
}
