// Package ceql parses the `where` clause of the Cloud Elements Query
// Language (CEQL) and translates it into source for
// github.com/expr-lang/expr.
//
// A hub call such as
//
//	GET /hubs/helpdesk/incidents?where=updated_since='2018-01-01T00:00:00Z' AND status = 2
//
// carries a where clause with this grammar (keywords are case-insensitive):
//
//	expr      := or
//	or        := and ( OR and )*
//	and       := unary ( AND unary )*
//	unary     := NOT unary | '(' expr ')' | predicate
//	predicate := field op value
//	           | field [NOT] IN '(' value (',' value)* ')'
//	           | field [NOT] LIKE string
//	           | field IS [NOT] NULL
//	op        := = | != | <> | < | > | <= | >=
//	field     := identifier ( '.' identifier )* | `quoted` | "quoted"
//	value     := string | number | true | false | null
//
// Identifiers match [A-Za-z_$][A-Za-z0-9_$-]*. A field may instead be quoted
// in backticks or double quotes, with the quote character doubled inside;
// quoting only lifts the character restrictions, so a quoted a.b and a bare
// a.b name the same field. Keywords (AND, OR, NOT, IN, LIKE, IS, NULL, TRUE,
// FALSE) are reserved and must be quoted to be used as field names. Strings
// are single-quoted with a quote inside doubled; their contents are opaque
// bytes, NUL included. Numbers match -?digits(.digits)?([eE][+-]?digits)?.
// Whitespace is spaces, tabs, carriage returns and newlines. For example:
//
//	name = 'O''Brien' AND `custom field` IS NOT NULL AND "x""y" IN (1, -2.5e3)
//
// Parsing happens once, at load time; the expr source produced by [ToExpr]
// is what gets evaluated per record.
package ceql

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is a 1-based position in the where clause. Col counts characters
// (UTF-8 runes; an invalid byte counts as one), and a tab counts as one.
type Pos struct{ Line, Col int }

// String formats p as "line:col".
func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// Error is a syntax error at a position in the where clause. Every error
// returned by [Parse] is an *Error.
type Error struct {
	Pos Pos
	Msg string
}

// Error formats e as "line:col: msg".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Node is a node of a parsed where clause: *And, *Or, *Not, *Compare, *In,
// *Like or *IsNull.
type Node interface {
	// Pos returns where the node starts in the source.
	Pos() Pos
	// String returns the node as CEQL that re-parses to an equal tree
	// (positions aside).
	String() string
}

// And is a conjunction of two or more operands. A chain a AND b AND c is
// one And; a parenthesised group that is itself an And stays a nested And.
type And struct {
	P        Pos // position of the first operand
	Operands []Node
}

// Or is a disjunction of two or more operands, nested like [And].
type Or struct {
	P        Pos // position of the first operand
	Operands []Node
}

// Not is a logical negation.
type Not struct {
	P Pos // position of the NOT keyword
	X Node
}

// Compare is a comparison of a field with a literal: Field Op Value.
type Compare struct {
	P     Pos // position of the field
	Field string
	// Op is one of "=", "!=", "<", ">", "<=", ">="; "<>" is normalised to "!=".
	Op    string
	Value Value
}

// In is a membership test: Field [NOT] IN (Values...).
type In struct {
	P      Pos // position of the field
	Field  string
	Not    bool
	Values []Value // at least one
}

// Like is an SQL pattern match: Field [NOT] LIKE 'Pattern'. In Pattern, %
// matches any run of characters, _ matches one character, and a backslash
// makes the next character literal.
type Like struct {
	P       Pos // position of the field
	Field   string
	Not     bool
	Pattern string
}

// IsNull is a null test: Field IS [NOT] NULL.
type IsNull struct {
	P     Pos // position of the field
	Field string
	Not   bool
}

// ValueKind is the type of a literal [Value].
type ValueKind int

// The kinds of literal values.
const (
	String ValueKind = iota // a single-quoted string; see Value.Str
	Number                  // a number; see Value.Num and Value.Raw
	Bool                    // true or false; see Value.Bool
	Null                    // null
)

// String returns the name of the kind.
func (k ValueKind) String() string {
	switch k {
	case String:
		return "String"
	case Number:
		return "Number"
	case Bool:
		return "Bool"
	case Null:
		return "Null"
	}
	return "ValueKind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a literal. Only the fields that belong to Kind are meaningful.
type Value struct {
	Kind ValueKind
	Str  string  // String: the contents, unquoted
	Num  float64 // Number: the parsed value
	Raw  string  // Number: the text as written, e.g. "-1.50"
	Bool bool    // Bool: the value
	P    Pos     // position of the literal
}

// String returns v as a CEQL literal. It panics if v.Kind is not one of
// the declared kinds.
func (v Value) String() string {
	switch v.Kind {
	case String:
		return "'" + strings.ReplaceAll(v.Str, "'", "''") + "'"
	case Number:
		if v.Raw != "" {
			return v.Raw
		}
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case Bool:
		return strconv.FormatBool(v.Bool)
	case Null:
		return "null"
	}
	panic(fmt.Sprintf("ceql: invalid value kind %v", v.Kind))
}

// FieldRef is one reference to a field, as returned by [Fields].
type FieldRef struct {
	Name string
	Pos  Pos
}

// Pos implements Node.
func (n *And) Pos() Pos { return n.P }

// Pos implements Node.
func (n *Or) Pos() Pos { return n.P }

// Pos implements Node.
func (n *Not) Pos() Pos { return n.P }

// Pos implements Node.
func (n *Compare) Pos() Pos { return n.P }

// Pos implements Node.
func (n *In) Pos() Pos { return n.P }

// Pos implements Node.
func (n *Like) Pos() Pos { return n.P }

// Pos implements Node.
func (n *IsNull) Pos() Pos { return n.P }

// String implements Node. Operands that are themselves And or Or are
// parenthesised.
func (n *And) String() string { return joinOperands(n.Operands, " AND ") }

// String implements Node. Operands that are themselves And or Or are
// parenthesised.
func (n *Or) String() string { return joinOperands(n.Operands, " OR ") }

// String implements Node.
func (n *Not) String() string { return "NOT " + operand(n.X) }

// String implements Node.
func (n *Compare) String() string {
	return quoteField(n.Field) + " " + n.Op + " " + n.Value.String()
}

// String implements Node.
func (n *In) String() string {
	var b strings.Builder
	b.WriteString(quoteField(n.Field))
	if n.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, v := range n.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	b.WriteString(")")
	return b.String()
}

// String implements Node.
func (n *Like) String() string {
	s := quoteField(n.Field)
	if n.Not {
		s += " NOT"
	}
	return s + " LIKE " + Value{Kind: String, Str: n.Pattern}.String()
}

// String implements Node.
func (n *IsNull) String() string {
	if n.Not {
		return quoteField(n.Field) + " IS NOT NULL"
	}
	return quoteField(n.Field) + " IS NULL"
}

func joinOperands(ops []Node, sep string) string {
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = operand(op)
	}
	return strings.Join(parts, sep)
}

// operand prints n for use as an operand of AND, OR or NOT: groups are
// always parenthesised, which keeps the printed form unambiguous and the
// tree shape intact on re-parse.
func operand(n Node) string {
	switch n.(type) {
	case *And, *Or:
		return "(" + n.String() + ")"
	}
	return n.String()
}

// quoteField prints a field name bare when it lexes back as the same
// field, and in backticks (doubled inside) otherwise.
func quoteField(name string) string {
	if isFieldPath(name) && !isKeyword(name) {
		return name
	}
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// isFieldPath reports whether s is identifier ( '.' identifier )*.
func isFieldPath(s string) bool {
	for _, seg := range strings.Split(s, ".") {
		if seg == "" || !isIdentStart(seg[0]) {
			return false
		}
		for i := 1; i < len(seg); i++ {
			if !isIdentChar(seg[i]) {
				return false
			}
		}
	}
	return true
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || isDigit(c) || c == '-'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isKeyword reports whether word is a reserved word, ignoring case.
func isKeyword(word string) bool {
	switch strings.ToUpper(word) {
	case "AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "TRUE", "FALSE":
		return true
	}
	return false
}

// Conjuncts returns the top-level AND operands of n: the operands of an
// And, with operands that are themselves And (parenthesised groups)
// flattened recursively, in source order. Any other node returns itself
// alone. A nil node returns nil.
func Conjuncts(n Node) []Node {
	if n == nil {
		return nil
	}
	and, ok := n.(*And)
	if !ok {
		return []Node{n}
	}
	var out []Node
	for _, op := range and.Operands {
		out = append(out, Conjuncts(op)...)
	}
	return out
}

// Fields returns every field reference in n, in source order, duplicates
// included.
func Fields(n Node) []FieldRef {
	var out []FieldRef
	var walk func(Node)
	walk = func(n Node) {
		switch n := n.(type) {
		case *And:
			for _, op := range n.Operands {
				walk(op)
			}
		case *Or:
			for _, op := range n.Operands {
				walk(op)
			}
		case *Not:
			walk(n.X)
		case *Compare:
			out = append(out, FieldRef{n.Field, n.P})
		case *In:
			out = append(out, FieldRef{n.Field, n.P})
		case *Like:
			out = append(out, FieldRef{n.Field, n.P})
		case *IsNull:
			out = append(out, FieldRef{n.Field, n.P})
		}
	}
	walk(n)
	return out
}
