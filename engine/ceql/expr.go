package ceql

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// ToExpr translates n into source for github.com/expr-lang/expr (v1.17).
//
// field(name) returns the expr source that reads a field of the current
// record (for example `record.status`); literal(v) returns the expr source
// for a literal (for example [LiteralExpr], or a translator that
// substitutes macro placeholders). Their results are wrapped in
// parentheses unless they are a plain identifier path, an unsigned number
// or a single double-quoted string, so any expression is safe to return.
//
// The translation is:
//
//	a = v, a != v, a < v, ...  (a == v), (a != v), (a < v), ...
//	x AND y, x OR y, NOT x     (x && y), (x || y), !(x)
//	a IN (v, w)                (a in [v, w])
//	a NOT IN (v, w)            !(a in [v, w])
//	a LIKE 'p'                 (a matches "<regexp>")
//	a NOT LIKE 'p'             !(a matches "<regexp>")
//	a IS NULL, a IS NOT NULL   (a == nil), (a != nil)
//
// A LIKE pattern becomes an anchored Go regexp, (?s)^...$, in which %
// is .*, _ is ., a backslash makes the next character literal (a trailing
// backslash is itself literal) and every other character is quoted with
// regexp.QuoteMeta. The regexp is emitted with strconv.Quote and does not
// go through literal. Every node translates to a fully parenthesised
// expression, so precedence never depends on expr's rules.
//
// ToExpr panics if n holds a node type, operator or value kind that Parse
// never produces.
func ToExpr(n Node, field func(name string) string, literal func(v Value) string) string {
	t := translator{field: field, literal: literal}
	return t.node(n)
}

type translator struct {
	field   func(string) string
	literal func(Value) string
}

func (t translator) node(n Node) string {
	switch n := n.(type) {
	case *And:
		return t.join(n.Operands, " && ")
	case *Or:
		return t.join(n.Operands, " || ")
	case *Not:
		x := t.node(n.X)
		if strings.HasPrefix(x, "(") { // node results are fully enclosed
			return "!" + x
		}
		return "!(" + x + ")"
	case *Compare:
		op := n.Op
		switch op {
		case "=":
			op = "=="
		case "<>":
			op = "!="
		case "!=", "<", ">", "<=", ">=":
		default:
			panic(fmt.Sprintf("ceql: unknown operator %q", n.Op))
		}
		return "(" + t.fieldExpr(n.Field) + " " + op + " " + t.literalExpr(n.Value) + ")"
	case *In:
		vals := make([]string, len(n.Values))
		for i, v := range n.Values {
			vals[i] = t.literalExpr(v)
		}
		return negate(n.Not, "("+t.fieldExpr(n.Field)+" in ["+strings.Join(vals, ", ")+"])")
	case *Like:
		re := strconv.Quote(LikeRegexp(n.Pattern))
		return negate(n.Not, "("+t.fieldExpr(n.Field)+" matches "+re+")")
	case *IsNull:
		op := " == nil)"
		if n.Not {
			op = " != nil)"
		}
		return "(" + t.fieldExpr(n.Field) + op
	}
	panic(fmt.Sprintf("ceql: unknown node type %T", n))
}

func (t translator) join(ops []Node, sep string) string {
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = t.node(op)
	}
	return "(" + strings.Join(parts, sep) + ")"
}

func (t translator) fieldExpr(name string) string { return atom(t.field(name)) }

func (t translator) literalExpr(v Value) string { return atom(t.literal(v)) }

// negate prefixes a parenthesised expression with ! when not is set.
func negate(not bool, paren string) string {
	if not {
		return "!" + paren
	}
	return paren
}

// atom parenthesises src unless it is obviously a single operand: an
// identifier path, an unsigned number or one double-quoted string.
func atom(src string) string {
	if isExprPath(src) || isUnsignedNumber(src) || isQuotedString(src) {
		return src
	}
	return "(" + src + ")"
}

func isExprPath(s string) bool {
	for _, seg := range strings.Split(s, ".") {
		if seg == "" || !isIdentStart(seg[0]) {
			return false
		}
		for i := 1; i < len(seg); i++ {
			if c := seg[i]; !isIdentStart(c) && !isDigit(c) {
				return false
			}
		}
	}
	return true
}

// isUnsignedNumber reports whether s is a complete CEQL number without a
// sign, which is also a single expr number token.
func isUnsignedNumber(s string) bool {
	if s == "" || !isDigit(s[0]) {
		return false
	}
	l := newLexer(s)
	_, err := l.number()
	return err == nil && l.eof()
}

func isQuotedString(s string) bool {
	if len(s) < 2 || s[0] != '"' {
		return false
	}
	_, err := strconv.Unquote(s)
	return err == nil
}

// LiteralExpr is a default literal translator for [ToExpr]: strings via
// strconv.Quote, numbers as written (Raw), true, false and nil.
//
// Two adjustments keep the result valid expr: an integer that does not fit
// in int64 (which expr would reject) is written as a float, and a number
// without Raw is formatted from Num. Note that expr reads a \xNN escape as
// a code point, so a string holding invalid UTF-8 does not survive the
// trip byte for byte.
func LiteralExpr(v Value) string {
	switch v.Kind {
	case String:
		return strconv.Quote(v.Str)
	case Number:
		raw := v.Raw
		if raw == "" {
			raw = strconv.FormatFloat(v.Num, 'g', -1, 64)
		}
		if !strings.ContainsAny(raw, ".eE") {
			if _, err := strconv.ParseInt(strings.TrimPrefix(raw, "-"), 10, 64); err != nil {
				if math.IsInf(v.Num, 0) || math.IsNaN(v.Num) {
					panic(fmt.Sprintf("ceql: number %s cannot be written in expr", raw))
				}
				return strconv.FormatFloat(v.Num, 'e', -1, 64)
			}
		}
		return raw
	case Bool:
		return strconv.FormatBool(v.Bool)
	case Null:
		return "nil"
	}
	panic(fmt.Sprintf("ceql: invalid value kind %v", v.Kind))
}

// LikeRegexp converts an SQL LIKE pattern into an anchored Go regexp: %
// matches any run of characters (newlines included), _ matches exactly one
// character, a backslash makes the next character literal (a trailing
// backslash is literal), and everything else is quoted with
// regexp.QuoteMeta.
func LikeRegexp(pattern string) string {
	var b strings.Builder
	b.WriteString("(?s)^")
	lit := func(s string) { b.WriteString(regexp.QuoteMeta(s)) }
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		case '\\':
			// The next byte is literal; the rest of a multi-byte
			// character passes through QuoteMeta unchanged anyway.
			if i+1 < len(pattern) {
				i++
			}
			lit(pattern[i : i+1])
		default:
			lit(pattern[i : i+1])
		}
	}
	b.WriteString("$")
	return b.String()
}
